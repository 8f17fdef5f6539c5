"""The ocr family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class OcrActor(ModelActor):
    family = "ocr"
    serves = ("text_overlay",)
