"""The ultralytics family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class YoloActor(ModelActor):
    family = "ultralytics"
    serves = ("object_detection", "body_pose", "background_segmentation")
