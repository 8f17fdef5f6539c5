"""Face detection shared by age_estimation and eye_tracking (pipeline/analyzers/faces.py).

yunet         OpenCV's YuNet when a release of it is in the models directory: the pinned
              face_detection_yunet_2023mar.onnx, else the newest face_detection_yunet_*.onnx
              (2026may and 2023mar are known by their SHA-256). A box and five landmarks (eyes,
              nose tip, mouth corners) per face, frontal or turned. A YuNet file that is there but
              is no model (a web page, empty, truncated, another digest, a graph OpenCV cannot
              read) fails both analyzers with one line: the user put YuNet there to run it.
lbp_cascade   when no YuNet file is there: the LBP frontal-face cascade trained by OpenCV, as
              scikit-image ships it (OpenCV 5 ships no cascades), run at CASCADE_SIZE px on the
              long side. Near-frontal, upright faces only (about ±20° of yaw; it misses both
              tilted heads in yolov5's zidane.jpg), no landmarks, faces of at least
              CASCADE_MIN_FACE / CASCADE_SIZE of the frame's long side (about 7.5%). It found
              obama.jpg's one face and nothing in the 24 s of PySceneDetect's testvideo.mp4.

One detector per process and models directory; on a batch both analyzers read, faces are
detected once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.analyzer import Analyzer, FrameBatch, FrameSpec
from pipeline.models import Weights, WeightsError, sha256

FACES = FrameSpec(fps=10.0, size=640)

YUNET = Weights(
    name="face_detection_yunet_2023mar.onnx",
    source="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    kind="file",
    optional=True,  # without it: scikit-image's LBP cascade
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",  # 232,589 bytes
    known_sha256=(("face_detection_yunet_2026may.onnx", "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"),),
    also_named="face_detection_yunet_*.onnx",
)

YUNET_SCORE = 0.8  # opencv_zoo's demo uses 0.9; 0.8 keeps small and turned faces
YUNET_NMS = 0.3
CASCADE_SIZE = 320  # ~30 ms a frame on a 2-core CPU here; the cost grows with the pixel count
CASCADE_MIN_FACE = 24  # px at CASCADE_SIZE: the cascade's own window
CASCADE_SCALE_STEP = 1.25
CASCADE_SLIDE = 1.5  # window step, in cascade pixels per scale
CASCADE_NEIGHBOURS = 4  # overlapping hits a face needs: fewer lets textures through
SAME_FACE_COVER = 0.5  # two hits whose overlap covers this much of the smaller are one face
LBP_MODEL = "scikit-image lbp_frontal_face_cascade"  # what the document names the cascade


@dataclass
class Detections:
    """The faces of one batch, one row per face, and the times of all its frames."""

    detector: str  # which detector ran (and which file, or why the cascade)
    size: tuple[int, int]  # (width, height) of the frames
    times: np.ndarray  # (n,) every frame of the batch, with or without faces
    frame: np.ndarray  # (m,) int: the frame of each face
    box: np.ndarray  # (m, 4) float32 x1, y1, x2, y2 as fractions of the width and height
    landmarks: np.ndarray  # (m, 5, 2) float32 fractions, like box; NaN without landmarks


class _YuNet:
    def __init__(self, path: Path) -> None:
        self.description = f"yunet ({path.name})"
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), YUNET_SCORE, YUNET_NMS, 5000)

    def record(self, analyzer: Analyzer) -> None:
        analyzer.record_model(YUNET, backend="opencv", device="cpu", dtype="float32")

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) x1 y1 x2 y2 and landmarks (n, 5, 2), in pixels of `rgb`."""
        h, w = rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, found = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # trained on OpenCV's BGR
        if found is None or not len(found):
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = np.concatenate([found[:, :2], found[:, :2] + found[:, 2:4]], axis=1)
        return boxes.astype(np.float32), found[:, 4:14].reshape(-1, 5, 2).astype(np.float32)


class _LbpCascade:
    def __init__(self, why: str) -> None:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        self.description = f"lbp_cascade (scikit-image's OpenCV LBP frontal-face cascade; {why})"
        self.file = Path(lbp_frontal_face_cascade_filename())
        self.cascade = Cascade(str(self.file))

    def record(self, analyzer: Analyzer) -> None:
        analyzer.record_model(LBP_MODEL, backend="scikit-image", device="cpu", sha256=sha256(self.file))

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = rgb.shape[:2]
        scale = min(1.0, CASCADE_SIZE / max(h, w))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        side = min(grey.shape)
        boxes = np.zeros((0, 4), np.float32)
        if side >= CASCADE_MIN_FACE:
            hits = self.cascade.detect_multi_scale(
                img=grey,
                scale_factor=CASCADE_SCALE_STEP,
                step_ratio=CASCADE_SLIDE,
                min_size=(CASCADE_MIN_FACE, CASCADE_MIN_FACE),
                max_size=(side, side),
                min_neighbor_number=CASCADE_NEIGHBOURS,
                intersection_score_threshold=0.5,
            )
            if hits:
                found = np.array([(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in hits], np.float32)
                boxes = _one_box_per_face(found / scale)
        return boxes, np.full((len(boxes), 5, 2), np.nan, np.float32)


def _one_box_per_face(boxes: np.ndarray) -> np.ndarray:
    """The cascade's grouping leaves nested hits on one face: keep the largest of each cluster."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    for i in np.argsort(-area):
        if all(_intersection(boxes[i], boxes[k]) < SAME_FACE_COVER * area[i] for k in kept):
            kept.append(int(i))
    return boxes[kept]


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@functools.cache
def _yunet(path: str, digest: str) -> _YuNet:  # digest: a file replaced in place is loaded again
    return _YuNet(Path(path))


@functools.cache
def _lbp_cascade(why: str) -> _LbpCascade:
    return _LbpCascade(why)


def face_detector(analyzer: str) -> _YuNet | _LbpCascade:
    """The detector for the current models directory, loaded once per process: YuNet when a file
    of it is there, else the cascade. WeightsError (one line: path, expected, found, fix) when
    the YuNet file is not a model YuNet can run: falling back would change every face figure
    without the user knowing why."""
    if not YUNET.present():
        return _lbp_cascade(f"YuNet weights not found at {YUNET.path}")
    path = YUNET.require(analyzer)
    try:
        return _yunet(str(path), sha256(path))
    except cv2.error as exc:  # a release name the entry accepts without knowing its digest
        found = (exc.err or str(exc)).strip().splitlines()[0]
        raise WeightsError(
            f"weights {YUNET.source} at {path}: expected a YuNet ONNX model, OpenCV cannot read it ({found}); "
            f"{YUNET.fix(analyzer)}"
        ) from None


_last_batch: tuple[np.ndarray, object, Detections] | None = None  # both analyzers read the same batch


def detect_faces(batch: FrameBatch, detector: _YuNet | _LbpCascade) -> Detections:
    """Faces on every frame of `batch`; a second call on the same batch reuses the first's."""
    global _last_batch
    if _last_batch is not None and _last_batch[0] is batch.frames and _last_batch[1] is detector:
        return _last_batch[2]
    h, w = batch.frames.shape[1:3]
    scale = np.array([w, h], np.float32)
    frame_of, boxes, landmarks = [], [], []
    for i, rgb in enumerate(batch.frames):
        found, points = detector.detect(rgb)
        frame_of += [i] * len(found)
        boxes.append(np.clip(found.reshape(-1, 2, 2) / scale, 0.0, 1.0).reshape(-1, 4))
        landmarks.append(points / scale)
    found = Detections(
        detector=detector.description,
        size=(int(w), int(h)),
        times=np.asarray(batch.pts_s, np.float64),
        frame=np.asarray(frame_of, np.int64),
        box=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        landmarks=np.concatenate(landmarks).astype(np.float32) if landmarks else np.zeros((0, 5, 2), np.float32),
    )
    _last_batch = (batch.frames, detector, found)
    return found


def square_crop(rgb: np.ndarray, center: tuple[float, float], side: float) -> np.ndarray:
    """A side x side crop around `center` (pixels); what lies outside the frame is black."""
    side = max(1, int(round(side)))
    x0, y0 = int(round(center[0] - side / 2)), int(round(center[1] - side / 2))
    h, w = rgb.shape[:2]
    crop = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return crop
