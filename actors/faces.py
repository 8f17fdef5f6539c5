"""The faces family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class FaceActor(ModelActor):
    family = "faces"
    serves = ("age_estimation", "eye_tracking")
