"""The ultralytics family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from actors.base import ModelActor


def configure_ultralytics() -> None:
    """Before ultralytics is first imported: it must never reach the network (hub checks, asset
    downloads, pip installs), and it writes a settings file on import, which goes to a directory
    of ours instead of ~/.config unless the user chose one. This configures the library through
    the variables it reads; it reads no reelscope setting."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "reelscope-ultralytics"))


class YoloActor(ModelActor):
    family = "ultralytics"
    serves = ("object_detection", "body_pose", "background_segmentation")
