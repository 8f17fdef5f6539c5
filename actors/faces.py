"""The faces family: one face detector and the two ViT classifiers that read face crops, loaded
once per worker for age_estimation and eye_tracking.

Detection (the summaries' `detector` says which ran, and which file or why)
    yunet         OpenCV's YuNet when a release of it is in the models directory: the pinned
                  face_detection_yunet_2023mar.onnx, else the newest face_detection_yunet_*.onnx
                  (2026may and 2023mar are known by their SHA-256). A box, a score and five
                  landmarks (eyes, nose tip, mouth corners) per face, frontal or turned. A YuNet
                  file that is there but is no model (a web page, empty, truncated, another
                  digest, a graph OpenCV cannot read) fails both analyzers with one line (path,
                  expected, found, fix): the user put YuNet there to run it, so it never falls back.
    lbp_cascade   only when no YuNet file is there: the LBP frontal-face cascade trained by OpenCV,
                  as scikit-image ships it (OpenCV 5 ships no cascades), run at CASCADE_SIZE px on
                  the long side. Near-frontal, upright faces only (about ±20° of yaw; it misses
                  both tilted heads in yolov5's zidane.jpg), no landmarks, faces of at least
                  CASCADE_MIN_FACE / CASCADE_SIZE of the frame's long side (about 7.5%). It found
                  obama.jpg's one face and nothing in the 24 s of PySceneDetect's testvideo.mp4.
    Both run on the CPU (OpenCV's DNN and scikit-image have no CUDA path in these wheels).

Classifiers: transformers image classifiers from local snapshots, placed by actors.device
(float16 on a GPU): AGE_MODEL (age buckets) for age_estimation, EYE_STATE_MODEL (open / closed
eye, optional: without it eye state is not measured) for eye_tracking. They read RGB crops (the
decoder's frames are RGB; OpenCV's BGR is never in between) through the snapshot's own image
processor: its size, rescale and normaliser mean / std, as its preprocessor_config.json says
(nateraw/vit-age-classifier: 224 x 224, mean and std 0.5); logits become probabilities by a
softmax per crop.

One pass (`predict`): the faces of every frame of the batch are detected once for both
analyzers; each analyzer that has a classifier says which square regions of those faces it
wants read (`FaceAnalyzer.regions`); those are cropped and classified (preprocess -> infer ->
postprocess). Behind Serve, `predict_many` classifies the crops of concurrent requests' batches
in shared forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import cv2
import numpy as np

from actors.base import ModelActor, Runtime, parts
from actors.device import Placement, choose
from pipeline.analyzer import FrameBatch
from pipeline.models import Weights, WeightsError, sha256
from pipeline.schema import ModelUsed
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.analyzers.faces import FaceAnalyzer

YUNET = Weights(
    name="face_detection_yunet_2023mar.onnx",
    source="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    kind="file",
    optional=True,  # without it: scikit-image's LBP cascade
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",  # 232,589 bytes
    known_sha256=(("face_detection_yunet_2026may.onnx", "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"),),
    also_named="face_detection_yunet_*.onnx",
)
AGE_MODEL = Weights(name="vit-age-classifier", source="nateraw/vit-age-classifier")
EYE_STATE_MODEL = Weights(
    name="closed_eyes_image_detection", source="dima806/closed_eyes_image_detection", optional=True
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
CLASSIFY_CHUNK = 64  # crops per forward


@dataclass
class Detections:
    """The faces of one batch (or, gathered, of one video), one row per face in frame order, and
    the times of all its frames."""

    detector: str  # which detector ran (and which file, or why the cascade)
    size: tuple[int, int]  # (width, height) of the frames
    times: np.ndarray  # (n,) every frame, with or without faces
    frame: np.ndarray  # (m,) int: the frame of each face
    box: np.ndarray  # (m, 4) float32 x1, y1, x2, y2 as fractions of the width and height
    landmarks: np.ndarray  # (m, 5, 2) float32 fractions, like box; NaN without landmarks
    score: np.ndarray  # (m,) float32 the detector's confidence (the cascade has none: 1)


@dataclass
class Regions:
    """Square regions of a batch's frames for a classifier to read: region i is side[i] px
    around centre[i] (x, y pixels) of frame[i]."""

    frame: np.ndarray  # (k,) int
    centre: np.ndarray  # (k, 2) float
    side: np.ndarray  # (k,) float


@dataclass
class Classified:
    probabilities: np.ndarray  # (k, labels) float32, one row per region asked for
    labels: tuple[str, ...]  # the classifier's labels, in column order


@dataclass
class FaceReading:
    """What FaceRuntime.predict answers for one batch: the faces, detected once, and for each
    analyzer with a classifier what it read on the regions that analyzer asked for."""

    faces: Detections
    classified: dict[str, Classified]


class YuNet:
    def __init__(self, weights: Weights, analyzer: str) -> None:
        """WeightsError (one line: path, expected, found, fix) when the file is not a model YuNet
        can run: falling back would change every face figure without the user knowing why."""
        path = weights.require(analyzer)
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), YUNET_SCORE, YUNET_NMS, 5000)
        except cv2.error as exc:  # a release name the entry accepts without knowing its digest
            found = (exc.err or str(exc)).strip().splitlines()[0]
            raise WeightsError(
                f"weights {weights.source} at {path}: expected a YuNet ONNX model, OpenCV cannot read it ({found}); "
                f"{weights.fix(analyzer)}"
            ) from None
        self.description = f"yunet ({path.name})"
        self.used = weights.provenance(backend="opencv", device="cpu", dtype="float32")

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (n, 4) x1 y1 x2 y2 and landmarks (n, 5, 2), in pixels of `rgb`, and scores (n,)."""
        h, w = rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, found = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # trained on OpenCV's BGR
        if found is None or not len(found):
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        boxes = np.concatenate([found[:, :2], found[:, :2] + found[:, 2:4]], axis=1)
        return boxes.astype(np.float32), found[:, 4:14].reshape(-1, 5, 2).astype(np.float32), found[:, 14].astype(np.float32)


class LbpCascade:
    def __init__(self, why: str) -> None:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        self.description = f"lbp_cascade (scikit-image's OpenCV LBP frontal-face cascade; {why})"
        file = Path(lbp_frontal_face_cascade_filename())
        self.cascade = Cascade(str(file))
        self.used = ModelUsed(id=LBP_MODEL, backend="scikit-image", device="cpu", sha256=sha256(file))

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        return boxes, np.full((len(boxes), 5, 2), np.nan, np.float32), np.ones(len(boxes), np.float32)


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


class ImageClassifier:
    """A transformers image classifier loaded from a local snapshot."""

    def __init__(self, path: Path, placement: Placement) -> None:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        self.placement = placement
        self.processor = AutoImageProcessor.from_pretrained(path)
        model = AutoModelForImageClassification.from_pretrained(path, dtype=placement.torch_dtype())
        self.model = model.to(placement.device).eval()
        config = self.model.config
        self.labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))

    def pixel_values(self, crops: list[np.ndarray]):
        """The model's input for RGB uint8 crops (h, w, 3): resized and normalised as the
        snapshot's processor config says. channels_last: a crop 3 px high is not channels-first."""
        return self.processor(images=crops, return_tensors="pt", input_data_format="channels_last")["pixel_values"]

    def logits(self, pixels):
        return self.model(pixel_values=pixels.to(self.placement.device, self.placement.torch_dtype())).logits

    @staticmethod
    def probabilities(logits) -> np.ndarray:
        """(n, labels) probabilities from the model's logits, in float32 whatever it ran in."""
        return logits.float().softmax(-1).cpu().numpy()


def open_column(labels: tuple[str, ...]) -> int:
    """The column of an eye-state classifier's "open" label; ValueError unless exactly one."""
    opened = [i for i, label in enumerate(labels) if "open" in label.lower()]
    if len(opened) != 1:
        raise ValueError(f"{EYE_STATE_MODEL.source}: no single 'open' label in {labels}")
    return opened[0]


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


class FaceRuntime(Runtime):
    name = "faces"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.placement = choose("float16")
        self.detector: YuNet | LbpCascade | None = None  # shared: loaded by the first analyzer
        self.classifiers: dict[str, ImageClassifier] = {}  # analyzer -> the classifier it reads
        self.askers: dict[str, FaceAnalyzer] = {}  # analyzer -> itself: it says which regions to read

    def load(self, analyzer: FaceAnalyzer) -> None:
        used: list[ModelUsed] = []
        if analyzer.name == "age_estimation":
            used.append(self._classifier(analyzer, AGE_MODEL))
        used.append(self._detector(analyzer.name).used)
        if analyzer.name == "eye_tracking" and EYE_STATE_MODEL.at(self.settings.models_dir).present():
            used.append(self._classifier(analyzer, EYE_STATE_MODEL))
            open_column(self.classifiers[analyzer.name].labels)
        self.models_used[analyzer.name] = used

    def _detector(self, analyzer: str) -> YuNet | LbpCascade:
        """YuNet when a file of it is there, else the cascade; one for both analyzers. A broken
        YuNet raises again for the next analyzer, so that each fails with its own fix."""
        if self.detector is None:
            yunet = YUNET.at(self.settings.models_dir)
            present = yunet.present()
            self.detector = YuNet(yunet, analyzer) if present else LbpCascade(f"YuNet weights not found at {yunet.path}")
        return self.detector

    def _classifier(self, analyzer: FaceAnalyzer, weights: Weights) -> ModelUsed:
        local = weights.at(self.settings.models_dir)
        self.classifiers[analyzer.name] = ImageClassifier(local.require(analyzer.name), self.placement)
        self.askers[analyzer.name] = analyzer
        return local.provenance(backend="transformers", device=self.placement.device, dtype=self.placement.dtype)

    def predict(self, batch: FrameBatch, analyzers: frozenset[str]) -> FaceReading:
        return self.predict_many([batch], analyzers)[0]

    def predict_many(self, batches: list[FrameBatch], analyzers: frozenset[str]) -> list[FaceReading]:
        """`predict` for several batches (a Serve replica's concurrent requests,
        pipeline.runners.serve_families.Coalescer): faces found frame by frame, once for every analyzer of
        the family, then each classifier's crops of all the batches in shared forward passes."""
        readings = [FaceReading(self.detect(batch), {}) for batch in batches]
        for name in sorted(analyzers & self.classifiers.keys()):
            crops = [self.crops(name, batch, reading.faces) for batch, reading in zip(batches, readings)]
            labels = self.classifiers[name].labels
            every = [crop for batch_crops in crops for crop in batch_crops]
            scored = [self.postprocess(self.infer(name, pixels)) for pixels in self.preprocess(name, every)]
            probabilities = np.concatenate(scored) if scored else np.zeros((0, len(labels)), np.float32)
            for reading, part in zip(readings, parts(len(c) for c in crops)):
                reading.classified[name] = Classified(probabilities[part], labels)
        return readings

    def detect(self, batch: FrameBatch) -> Detections:
        """The faces on every frame of `batch`, in fractions of its frames."""
        h, w = batch.frames.shape[1:3]
        scale = np.array([w, h], np.float32)
        frame_of, boxes, landmarks, scores = [], [], [], []
        for i, rgb in enumerate(batch.frames):
            found, points, score = self.detector.detect(rgb)
            frame_of += [i] * len(found)
            boxes.append(np.clip(found.reshape(-1, 2, 2) / scale, 0.0, 1.0).reshape(-1, 4))
            landmarks.append(points / scale)
            scores.append(score)
        return Detections(
            detector=self.detector.description,
            size=(int(w), int(h)),
            times=np.asarray(batch.pts_s, np.float64),
            frame=np.asarray(frame_of, np.int64),
            box=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
            landmarks=np.concatenate(landmarks).astype(np.float32) if landmarks else np.zeros((0, 5, 2), np.float32),
            score=np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32),
        )

    def crops(self, name: str, batch: FrameBatch, faces: Detections) -> list[np.ndarray]:
        """The regions `name` asks for, cropped square from the batch's RGB frames."""
        regions = self.askers[name].regions(batch, faces)
        return [square_crop(batch.frames[f], tuple(c), s) for f, c, s in zip(regions.frame, regions.centre, regions.side)]

    def preprocess(self, name: str, crops: list[np.ndarray]) -> list[Any]:
        """Crops as `name`'s classifier's pixel values, CLASSIFY_CHUNK crops per tensor."""
        classifier = self.classifiers[name]
        return [classifier.pixel_values(crops[i : i + CLASSIFY_CHUNK]) for i in range(0, len(crops), CLASSIFY_CHUNK)]

    def infer(self, name: str, pixels):
        import torch

        with torch.inference_mode():
            return self.classifiers[name].logits(pixels)

    @staticmethod
    def postprocess(logits) -> np.ndarray:
        return ImageClassifier.probabilities(logits)


class FaceActor(ModelActor):
    family = "faces"
    runtime: ClassVar[type[Runtime]] = FaceRuntime
    serves = ("age_estimation", "eye_tracking")
