"""What the tests of the YOLO family share (test_tracking, test_yolo, test_actors_yolo): tiny
YOLO11 models with random weights that the fixtures generate, the ultralytics runtime set up on
them, and detections and videos built by hand.

Random weights mean random detections: tests on generated models assert structure, times and
sizes, never what was found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_factory import YOLO_YAML, write_yolo

from actors.yolo import YoloRuntime
from pipeline.analyzer import Analyzer, FrameBatch
from pipeline.analyzers.background_segmentation import BackgroundSegmentation
from pipeline.analyzers.body_pose import BodyPose
from pipeline.analyzers.object_detection import ObjectDetection
from pipeline.analyzers.yolo_base import FRAMES
from pipeline.sample import ClipSpec, Shot
from pipeline.schema import AnalyzerResult, Segment, Status, VideoInfo
from pipeline.settings import Settings

ANALYZERS = (ObjectDetection, BodyPose, BackgroundSegmentation)
# The clip the models run on end to end: a static shot, a cut, a pan.
TWO_SHOTS = ClipSpec(
    shots=(Shot(1.6, (200, 80, 40), "static", seed=1), Shot(1.6, (60, 140, 220), "pan", speed=160, seed=2)),
    audio=None,
)
# Class -> share of the anchors that score 0.6 or more on TWO_SHOTS' frames in the firing models.
FIRING = {0: 0.003, 2: 0.001}
LOGIT_SPREAD = 8.0  # standard deviation of the firing classes' logits: few anchors near the threshold


# ---- generated models ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def ultralytics_config(tmp_path_factory) -> Path:
    """Before any test here imports ultralytics: offline, settings in a temporary directory."""
    folder = tmp_path_factory.mktemp("ultralytics-config")
    os.environ["YOLO_CONFIG_DIR"] = str(folder)
    os.environ["YOLO_OFFLINE"] = "1"
    return folder


@pytest.fixture(scope="session")
def yolo_models(ultralytics_config, tmp_path_factory) -> Path:
    """Tiny YOLO11 detect, pose and segment models with random weights that fire (persons and cars
    on TWO_SHOTS), saved where the analyzers look through ultralytics' own save."""
    from pipeline.sample import render_frames

    # Every sample the analyzers will read, at the size they letterbox it to (640 x 480).
    frames = [frame for _, frame in render_frames(TWO_SHOTS)][:: round(TWO_SHOTS.fps / FRAMES.fps)]
    pictures = np.stack([cv2.resize(frame, (640, 480), interpolation=cv2.INTER_LINEAR) for frame in frames])
    folder = tmp_path_factory.mktemp("models")
    for task in YOLO_YAML:
        write_yolo(folder, task, adjust=lambda network: _make_it_fire(network, pictures))
    return folder


@pytest.fixture(scope="session")
def silent_models(ultralytics_config, tmp_path_factory) -> Path:
    """The same models as ultralytics initialises them: random, they detect nothing."""
    folder = tmp_path_factory.mktemp("silent-models")
    for task in YOLO_YAML:
        write_yolo(folder, task)
    return folder


def _make_it_fire(model, pictures: np.ndarray) -> None:
    """Random init shrinks activations layer after layer until every class score is its bias:
    batch norm statistics taken on `pictures` keep them content-dependent. Then the FIRING
    classes' logits get LOGIT_SPREAD and a bias that makes their FIRING share of anchors on
    `pictures` score 0.6; the other classes are silenced."""
    import torch
    from torch import nn

    batch = torch.from_numpy(pictures).permute(0, 3, 1, 2).float() / 255
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # running statistics = this batch's
    model.train()
    with torch.no_grad():
        model(batch)
    model.eval()
    classify = [branch[-1] for branch in model.model[-1].cv3]  # the last conv of each level's class branch
    logits = []

    def keep(conv, inputs, out):
        logits.append(out - conv.bias[:, None, None])

    hooks = [conv.register_forward_hook(keep) for conv in classify]
    with torch.no_grad():
        model(batch)
        for hook in hooks:
            hook.remove()
        by_class = torch.cat([out.flatten(2) for out in logits], 2).transpose(0, 1).flatten(1)  # (classes, anchors)
        for cls in range(len(by_class)):
            gain = LOGIT_SPREAD / by_class[cls].std() if cls in FIRING else 0.0
            bias = np.log(0.6 / 0.4) - torch.quantile(by_class[cls] * gain, 1 - FIRING[cls]) if cls in FIRING else -12.0
            for conv in classify:
                conv.weight[cls] *= gain
                conv.bias[cls] = bias


@dataclass
class Loaded:
    """The runtime with the three analyzers' models loaded (through Weights.require), and the analyzers."""

    runtime: YoloRuntime
    analyzers: dict[str, Analyzer]

    def process(self, name: str, batch: FrameBatch):
        """`name`'s partial of `batch`: the runtime's pass for it, then its process_frames."""
        return self.analyzers[name].process_frames(batch, self.runtime.predict(batch, frozenset({name})))


def set_up(folder: Path) -> Loaded:
    settings = Settings(models_dir=folder)
    runtime = YoloRuntime(settings)
    analyzers = {cls.name: cls(settings) for cls in ANALYZERS}
    for analyzer in analyzers.values():
        runtime.load(analyzer)
        analyzer.setup()
    return Loaded(runtime, analyzers)


# ---- detections and videos built by hand ---------------------------------------------------


def video(duration: float, cuts: list[float] = ()) -> tuple[VideoInfo, dict[str, AnalyzerResult]]:
    """A VideoInfo and, when `cuts` are given, a cut_analysis result with those shots."""
    info = VideoInfo(path="x.mp4", duration_s=duration, size_bytes=1, container="mp4", has_video=True, has_audio=False)
    if not cuts:
        return info, {}
    bounds = [0.0, *cuts, duration]
    shots = [Segment(start_s=a, end_s=b, label="shot") for a, b in zip(bounds, bounds[1:])]
    return info, {"cut_analysis": AnalyzerResult(status=Status.ok, segments=shots)}


def detection_partial(pts, per_sample, size=(360, 640), names=None, keypoints=None) -> dict:
    """A process_frames partial from per-sample lists of (box, confidence, class)."""
    counts = np.array([len(s) for s in per_sample], np.int32)
    rows = [d for s in per_sample for d in s]
    partial = {
        "pts": np.asarray(pts, np.float64),
        "size": size,
        "counts": counts,
        "boxes": np.array([r[0] for r in rows], np.float32).reshape(-1, 4),
        "conf": np.array([r[1] for r in rows], np.float32),
        "cls": np.array([r[2] for r in rows], np.int16),
    }
    if names is not None:
        partial["names"] = names
    if keypoints is not None:
        partial["keypoints"] = np.asarray(keypoints, np.float32).reshape(-1, 17, 3)
    return partial


def box(x: float, y: float, w: float = 60, h: float = 120) -> list[float]:
    return [x, y, x + w, y + h]


# A person facing the camera, about 300 px tall; their left is the picture's right.
STANDING = {
    0: (200, 60), 1: (205, 55), 2: (195, 55), 3: (212, 58), 4: (188, 58),
    5: (230, 100), 6: (170, 100),  # shoulders
    7: (235, 150), 8: (165, 150),  # elbows
    9: (238, 195), 10: (162, 195),  # wrists
    11: (220, 200), 12: (180, 200),  # hips
    13: (222, 260), 14: (178, 260), 15: (224, 320), 16: (176, 320),
}


def pose(**moved: tuple[float, float]) -> np.ndarray:
    """(17, 3) keypoints of STANDING with some moved (name=xy) or hidden (name=None)."""
    index = {"l_elbow": 7, "r_elbow": 8, "l_wrist": 9, "r_wrist": 10, "l_hip": 11, "r_hip": 12}
    points = {k: (*xy, 0.9) for k, xy in STANDING.items()}
    for name, xy in moved.items():
        points[index[name]] = (0.0, 0.0, 0.1) if xy is None else (*xy, 0.9)
    return np.array([points[k] for k in range(17)], np.float32)
