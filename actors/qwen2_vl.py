"""The vision_language family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class VisionLanguageActor(ModelActor):
    family = "vision_language"
    serves = ("qwen2_vl_temporal",)
