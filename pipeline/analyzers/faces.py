"""Faces: who is on screen, how old they look, and whether they face the camera.

Both analyzers read the same frames (FACES: 10 a second at 640 px), run in one worker pool
(family "faces") and share one face detector per process; on a batch both read, faces are
detected once.

Detection (the summary's `detector` says which ran, and why)
    yunet         OpenCV's YuNet (opencv_zoo face_detection_yunet_2023mar.onnx) when its weights
                  are in the models directory: a box and five landmarks (eyes, nose tip, mouth
                  corners) per face, frontal or turned.
    lbp_cascade   otherwise: the LBP frontal-face cascade trained by OpenCV, as scikit-image ships
                  it (OpenCV 5 ships no cascades), run at CASCADE_SIZE px on the long side. Near-
                  frontal, upright faces only (about ±20° of yaw; it misses both tilted heads
                  in yolov5's zidane.jpg), no landmarks, faces of at least CASCADE_MIN_FACE /
                  CASCADE_SIZE of the frame's long side (about 7.5%). It found obama.jpg's one
                  face and nothing in the 24 s of PySceneDetect's testvideo.mp4.

Tracks
    finalize links detections over time, greedily by IoU with each track's last box (at least
    TRACK_IOU), across gaps of up to TRACK_GAP_S, never across a shot boundary (cut_analysis's
    shots; the whole video when it did not run). A track seen on fewer than
    min(MIN_TRACK_FRAMES, frames of its shot) frames is a detector flicker and is dropped.
    There is no identity matching: one person in two shots, or back after TRACK_GAP_S, is two
    tracks. A "face" segment spans a track; data.box is its median box as fractions
    [x1, y1, x2, y2] of the frame's width and height.

age_estimation
    Apparent age, not true age: an image classifier with age buckets (AGE_MODEL, by default
    nateraw/vit-age-classifier: 0-2, 3-9, ..., 60-69, more than 70) reads a square crop around
    each face (AGE_MARGIN added on every side) on the first frame of every AGE_STEP_S, faces of
    AGE_MIN_FACE_PX or more; one forward per chunk of crops. A track's bucket probabilities are
    averaged over its crops; its segment says the top bucket and its probability, and the
    shortest run of neighbouring buckets holding RANGE_MASS of the probability (age_range, e.g.
    "20-39", with range_probability): a range, never a single number of years. Without the
    classifier's weights the analyzer is skipped (reporting faces without ages would pass off a
    detector as an age estimate). The model's biases (its training data: FairFace-style crops)
    carry over; make-up, filters, lighting and low resolution move apparent age.

eye_tracking
    Facing the camera, not gaze. A face faces the camera when its head points at the lens:
    yunet: the nose tip lies within YAW_MAX inter-ocular distances of the eyes' midpoint along
    the eye line (about ±20° of yaw); lbp_cascade: every detection (the cascade only finds near-
    frontal faces). Head pitch (looking down at a phone) and where the eyes point inside the head
    are NOT measured. When EYE_STATE_MODEL's weights are present, an open/closed-eye classifier
    reads both eyes of each face (crops from the landmarks, or from the cascade box's usual eye
    positions); without them eye state is not measured and the summary says so. That model was
    trained on close-ups of single eyes, not on eyes cropped from video frames: check it on your
    footage before trusting blink counts. Eye contact = facing with the eyes not seen closed.
    Segments: "shot" per shot (face_share, facing_share, eye_contact_share: shares of its sampled
    frames with a face / a facing face / a face in eye contact), "face" per track (its facing and
    eye-contact shares), "stare" per run of STARE_MIN_S or more of one track in eye contact on
    consecutive sampled frames (no frame missed or seen with closed eyes: "blink-free" only as
    far as the 0.1 s sampling and the eye classifier see). The summary counts blinks (eyes seen
    closed for at most BLINK_MAX_S between open frames of a facing track) when eye state is measured.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.analyzer import Analyzer, Context, FrameBatch, FrameSpec, Findings, Partials, Resources, Skip
from pipeline.analyzers.shots import TIME_SLACK_S, first_in_step, shots_and_transitions
from pipeline.models import Weights
from pipeline.schema import Segment

FACES = FrameSpec(fps=10.0, size=640)

YUNET = Weights(
    name="face_detection_yunet_2023mar.onnx",
    source="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    kind="file",
    optional=True,  # without it: scikit-image's LBP cascade
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

TRACK_IOU = 0.3
TRACK_GAP_S = 1.0
MIN_TRACK_FRAMES = 3

AGE_STEP_S = 0.5
AGE_MARGIN = 0.25
AGE_MIN_FACE_PX = 32
RANGE_MASS = 0.8
CLASSIFY_CHUNK = 64  # crops per forward

YAW_MAX = 0.18  # nose offset / inter-ocular distance; ~0.5 * tan(yaw) for an average face
EYE_CROP = 0.6  # side of an eye crop, in inter-ocular distances
CASCADE_EYES = ((0.3, 0.38), (0.7, 0.38))  # where the eyes sit in a cascade box, as fractions of it
EYE_MIN_PX = 12
EYES_OPEN = 0.5  # open-eye probability (mean of both eyes) under which the eyes count as closed
STARE_MIN_S = 2.0
BLINK_MAX_S = 0.5

EYE_METHOD = (
    "facing the camera, not gaze: a face counts as facing when the head points at the lens "
    f"(yunet: yaw proxy from the landmarks within {YAW_MAX}; lbp_cascade: any detection, it finds near-frontal "
    "faces only); head pitch and where the eyes point within the head are not measured. Eye contact = facing "
    "with the eyes not seen closed by the eye-state classifier. Blinks shorter than the sampling step can be missed."
)
AGE_METHOD = (
    "apparent age: an age-bucket image classifier on face crops, probabilities averaged over each face track; "
    f"age_range is the shortest run of buckets holding {RANGE_MASS:.0%} of the probability"
)


# ---------------------------------------------------------------------------------------------
# Detection, shared by both analyzers


@dataclass
class Detections:
    """The faces of one batch, one row per face, and the times of all its frames."""

    detector: str  # which detector ran, and why (see the module docstring)
    size: tuple[int, int]  # (width, height) of the frames
    times: np.ndarray  # (n,) every frame of the batch, with or without faces
    frame: np.ndarray  # (m,) int: the frame of each face
    box: np.ndarray  # (m, 4) float32 x1, y1, x2, y2 as fractions of the width and height
    landmarks: np.ndarray  # (m, 5, 2) float32 fractions, like box; NaN without landmarks


@dataclass
class FacePartial:
    faces: Detections
    values: np.ndarray  # per face: age-bucket probabilities (m, K), or open-eye probability (m,); NaN: not read
    labels: tuple[str, ...] = ()  # the classifier's labels, in column order
    note: str = ""  # what read `values` (or why nothing did)


class _YuNet:
    def __init__(self, path: Path) -> None:
        self.description = f"yunet ({path.name})"
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), YUNET_SCORE, YUNET_NMS, 5000)

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) x1 y1 x2 y2 and landmarks (n, 5, 2), in pixels of `rgb`."""
        h, w = rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, found = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if found is None or not len(found):
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = np.concatenate([found[:, :2], found[:, :2] + found[:, 2:4]], axis=1)
        return boxes.astype(np.float32), found[:, 4:14].reshape(-1, 5, 2).astype(np.float32)


class _LbpCascade:
    def __init__(self, why: str) -> None:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        self.description = f"lbp_cascade (scikit-image's OpenCV LBP frontal-face cascade; {why})"
        self.cascade = Cascade(lbp_frontal_face_cascade_filename())

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
def _detector(yunet_path: str, yunet_present: bool) -> _YuNet | _LbpCascade:
    if yunet_present:
        return _YuNet(Path(yunet_path))
    return _LbpCascade(f"YuNet weights not found at {yunet_path}")


def face_detector() -> _YuNet | _LbpCascade:
    """The detector for the current models directory, loaded once per process."""
    return _detector(str(YUNET.path), YUNET.present())


_last_batch: tuple[np.ndarray, object, Detections] | None = None  # both analyzers read the same batch


def detect_faces(batch: FrameBatch) -> Detections:
    """Faces on every frame of `batch`; a second call on the same batch reuses the first's."""
    global _last_batch
    detector = face_detector()
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


class _ImageClassifier:
    """A transformers image classifier loaded from a local snapshot; probabilities per crop."""

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.processor = AutoImageProcessor.from_pretrained(path)
        self.model = AutoModelForImageClassification.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
        config = self.model.config
        self.labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))

    def __call__(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(crops), CLASSIFY_CHUNK):
                pixels = self.processor(images=crops[start : start + CLASSIFY_CHUNK], return_tensors="pt")["pixel_values"]
                logits = self.model(pixel_values=pixels.to(self.device, self.dtype)).logits
                out.append(logits.float().softmax(-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)


# ---------------------------------------------------------------------------------------------
# Tracks, shared by both finalize steps


@dataclass
class Track:
    id: int
    rows: np.ndarray  # its detections, in time order
    start_s: float
    end_s: float
    box: list[float]  # median box, fractions of the frame


def shot_of(times: np.ndarray, shots: list[tuple[float, float]]) -> np.ndarray:
    """Index of the shot each time falls in (a time in a dissolve counts in the shot before)."""
    starts = np.array([start for start, _ in shots]) - TIME_SLACK_S
    return np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(shots) - 1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of boxes x1 y1 x2 y2."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def link_tracks(times: np.ndarray, frame: np.ndarray, box: np.ndarray, shot: np.ndarray) -> np.ndarray:
    """Track number of every detection (rows ordered by frame), -1 for flickers.

    times: (n,) every sampled frame; frame: (m,) the frame of each detection; box: (m, 4);
    shot: (n,) the shot of each frame."""
    track = np.full(len(frame), -1, np.int64)
    last_box: list[np.ndarray] = []
    last_time: list[float] = []
    track_shot: list[int] = []
    for f in np.unique(frame):
        rows = np.flatnonzero(frame == f)
        t = float(times[f])
        open_ = [k for k in range(len(last_box)) if track_shot[k] == shot[f] and t - last_time[k] <= TRACK_GAP_S + 1e-9]
        taken: set[int] = set()
        if open_:
            iou = box_iou(box[rows], np.array([last_box[k] for k in open_]))
            for flat in np.argsort(-iou, axis=None):
                r, c = np.unravel_index(flat, iou.shape)
                if iou[r, c] < TRACK_IOU:
                    break
                if track[rows[r]] < 0 and open_[c] not in taken:
                    track[rows[r]] = open_[c]
                    taken.add(open_[c])
        for r in rows:
            if track[r] < 0:
                track[r] = len(last_box)
                last_box.append(box[r])
                last_time.append(t)
                track_shot.append(int(shot[f]))
            else:
                last_box[track[r]], last_time[track[r]] = box[r], t
    if not len(track):
        return track
    frames_in_shot = np.bincount(shot, minlength=int(shot.max()) + 1)
    seen = np.bincount(track, minlength=len(last_box))
    need = np.minimum(MIN_TRACK_FRAMES, frames_in_shot[np.array(track_shot, np.int64)])
    numbers = np.full(len(last_box), -1, np.int64)
    kept = np.flatnonzero(seen >= need)
    numbers[kept] = np.arange(len(kept))  # renumbered in order of first appearance
    return numbers[track]


def _gather(partials: Partials) -> tuple[Detections, np.ndarray, FacePartial]:
    """Every batch's faces as one Detections (frame indices into the joined times) and values."""
    if not partials.frames:
        raise Skip("no video frames decoded")
    parts: list[FacePartial] = partials.frames
    offsets = np.cumsum([0] + [len(p.faces.times) for p in parts])
    first = parts[0]
    faces = Detections(
        detector=first.faces.detector,
        size=first.faces.size,
        times=np.concatenate([p.faces.times for p in parts]),
        frame=np.concatenate([p.faces.frame + offset for p, offset in zip(parts, offsets)]).astype(np.int64),
        box=np.concatenate([p.faces.box for p in parts]),
        landmarks=np.concatenate([p.faces.landmarks for p in parts]),
    )
    return faces, np.concatenate([p.values for p in parts]), first


def sample_step(times: np.ndarray) -> float:
    """The time one sampled frame stands for."""
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / FACES.fps


def face_tracks(faces: Detections, context: Context) -> tuple[np.ndarray, list[Track], list[tuple[float, float]], str]:
    """Track number per detection, the tracks, the shots and where the shots came from."""
    cuts = context.ok("cut_analysis")
    duration = max(context.video.duration_s, float(faces.times[-1]) if len(faces.times) else 0.0)
    shots, _ = shots_and_transitions(cuts, (0.0, duration))
    shot = shot_of(faces.times, shots)
    track = link_tracks(faces.times, faces.frame, faces.box, shot)
    step = sample_step(faces.times)
    tracks = []
    for number in range(int(track.max(initial=-1)) + 1):
        rows = np.flatnonzero(track == number)
        times = faces.times[faces.frame[rows]]
        tracks.append(
            Track(
                id=number,
                rows=rows,
                start_s=round(float(times[0]), 4),
                end_s=round(min(float(times[-1]) + step, duration) if duration > times[-1] else float(times[-1]), 4),
                box=[round(float(v), 4) for v in np.median(faces.box[rows], axis=0)],
            )
        )
    return track, tracks, shots, "cut_analysis" if cuts else "whole_video"


# ---------------------------------------------------------------------------------------------
# Age


def bucket_bounds(label: str) -> tuple[int, int | None] | None:
    """(low, high) years of an age-bucket label: "20-29" -> (20, 29), "more than 70" / "70+" ->
    (70, None), "under 5" -> (0, 5); None when the label names no age."""
    numbers = [int(n) for n in re.findall(r"\d+", label)]
    if len(numbers) >= 2:
        return numbers[0], numbers[1]
    if len(numbers) == 1:
        if re.search(r"under|below|less|<", label, re.IGNORECASE):
            return 0, numbers[0]
        return numbers[0], None
    return None


def age_estimate(probs: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    """The top bucket and the shortest run of neighbouring buckets that holds RANGE_MASS of `probs`
    (one probability per label). Buckets are ordered by age when every label names one, else
    kept in the model's order (the range then lists labels, with no years)."""
    bounds = [bucket_bounds(label) for label in labels]
    by_age = all(b is not None for b in bounds)
    order = sorted(range(len(labels)), key=lambda i: bounds[i][0]) if by_age else list(range(len(labels)))
    p = np.asarray(probs, np.float64)[order]
    best: tuple[int, float, int, int] | None = None  # (length, -mass, first, last)
    for first in range(len(p)):
        mass = np.cumsum(p[first:])
        reach = np.flatnonzero(mass >= RANGE_MASS - 1e-6)
        if len(reach):
            candidate = (int(reach[0]), -float(mass[reach[0]]), first, first + int(reach[0]))
            best = candidate if best is None or candidate < best else best
    if best is None:  # the probabilities sum to less than RANGE_MASS (a broken model): all of them
        best = (len(p) - 1, -float(p.sum()), 0, len(p) - 1)
    _, neg_mass, first, last = best
    top = int(np.argmax(p))
    if by_age:
        low, high = bounds[order[first]][0], bounds[order[last]][1]
        text = f"{low}-{high}" if high is not None else f"{low}+"
    else:
        low = high = None
        text = " / ".join(labels[order[i]] for i in range(first, last + 1))
    return {
        "age_bucket": labels[order[top]],
        "bucket_probability": round(float(p[top]), 3),
        "age_range": text,
        "range_low": low,
        "range_high": high,
        "range_buckets": [labels[order[i]] for i in range(first, last + 1)],
        "range_probability": round(-neg_mass, 3),
        "distribution": {labels[i]: round(float(probs[i]), 3) for i in order},
    }


class AgeEstimation(Analyzer):
    name = "age_estimation"
    frames = FACES
    after = ("cut_analysis",)  # tracks never cross a shot boundary
    family = "faces"
    in_decoder = False
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)  # ViT-B/16 in fp16 and 64 crops, plus the CUDA context
    weights = (AGE_MODEL, YUNET)

    def setup(self) -> None:
        self.classifier = _ImageClassifier(AGE_MODEL.require(self.name))
        face_detector()

    def process_frames(self, batch: FrameBatch) -> FacePartial:
        faces = detect_faces(batch)
        chosen = first_in_step(batch.pts_s, batch.prev_pts_s, AGE_STEP_S)
        w, h = faces.size
        pixels = faces.box * np.array([w, h, w, h], np.float32)
        sides = np.maximum(pixels[:, 2] - pixels[:, 0], pixels[:, 3] - pixels[:, 1])
        rows = [i for i in range(len(faces.frame)) if chosen[faces.frame[i]] and sides[i] >= AGE_MIN_FACE_PX]
        centres = (pixels[:, :2] + pixels[:, 2:]) / 2
        crops = [square_crop(batch.frames[faces.frame[i]], tuple(centres[i]), sides[i] * (1 + 2 * AGE_MARGIN)) for i in rows]
        probs = np.full((len(faces.frame), len(self.classifier.labels)), np.nan, np.float32)
        if crops:
            probs[rows] = self.classifier(crops)
        return FacePartial(faces, probs, self.classifier.labels, AGE_MODEL.source)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        faces, probs, first = _gather(partials)
        _, tracks, _, shots_from = face_tracks(faces, context)
        labels = first.labels
        segments = []
        weighted = np.zeros(len(labels))
        for track in tracks:
            read = probs[track.rows]
            read = read[~np.isnan(read).any(axis=1)]
            if not len(read):
                continue
            mean = read.mean(axis=0)
            weighted += mean * (track.end_s - track.start_s)
            estimate = age_estimate(mean, labels)
            segments.append(
                Segment(
                    start_s=track.start_s,
                    end_s=track.end_s,
                    label="face",
                    confidence=estimate["bucket_probability"],
                    data={"track": track.id, "box": track.box, "frames": len(track.rows), "crops": len(read), **estimate},
                )
            )
        distribution = weighted / weighted.sum() if weighted.sum() > 0 else None
        return Findings(
            segments=segments,
            summary={
                "method": AGE_METHOD,
                "model": first.note,
                "detector": faces.detector,
                "face_tracks": len(tracks),
                "estimated_tracks": len(segments),
                "range_mass": RANGE_MASS,
                "crop_every_s": AGE_STEP_S,
                # Over all estimated faces, each weighted by how long it is on screen.
                "age_distribution": None
                if distribution is None
                else {label: round(float(p), 3) for label, p in zip(labels, distribution)},
                "dominant_age_bucket": None if distribution is None else labels[int(np.argmax(distribution))],
                "shots_from": shots_from,
            },
        )


# ---------------------------------------------------------------------------------------------
# Eyes


def yaw_proxy(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(m,) signed offset of the nose tip from the eyes' midpoint along the eye line, in inter-
    ocular distances: about 0.5 * tan(yaw) for an average face; NaN without landmarks."""
    points = landmarks * np.array(size, np.float32)
    right_eye, left_eye, nose = points[:, 0], points[:, 1], points[:, 2]
    axis = left_eye - right_eye
    distance = np.linalg.norm(axis, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.sum((nose - (right_eye + left_eye) / 2) * axis, axis=1) / np.maximum(distance, 1e-6) ** 2
    return np.where(distance > 0, offset, np.nan)


def facing_camera(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(m,) whether each face points at the lens: within YAW_MAX by its landmarks; a face found
    without landmarks (the frontal cascade) faces the camera by construction."""
    yaw = yaw_proxy(landmarks, size)
    return np.where(np.isnan(yaw), True, np.abs(yaw) <= YAW_MAX)


def eye_regions(faces: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Centres (m, 2, 2) of both eyes and the side (m,) of their crops, in pixels."""
    w, h = faces.size
    scale = np.array([w, h], np.float32)
    centres = faces.landmarks[:, :2] * scale
    box = faces.box.reshape(-1, 2, 2) * scale
    guessed = box[:, None, 0] + np.array(CASCADE_EYES, np.float32)[None] * (box[:, None, 1] - box[:, None, 0])
    centres = np.where(np.isnan(centres), guessed, centres)
    return centres, EYE_CROP * np.linalg.norm(centres[:, 1] - centres[:, 0], axis=1)


def runs(flags: np.ndarray, joined: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of every run of True in `flags` whose neighbours are `joined`
    (joined[i]: element i and i + 1 are consecutive)."""
    out, start = [], None
    for i, flag in enumerate(flags):
        if flag and start is not None and not joined[i - 1]:
            out.append((start, i - 1))
            start = None
        if flag and start is None:
            start = i
        if not flag and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def stares_and_blinks(
    times: np.ndarray, facing: np.ndarray, closed: np.ndarray, step: float
) -> tuple[list[tuple[float, float]], int]:
    """One track's detections (in time order): the spans of eye contact (facing, eyes not seen
    closed) on consecutive sampled frames lasting STARE_MIN_S or more, and the blinks (eyes seen
    closed for at most BLINK_MAX_S between open frames of one facing run)."""
    joined = np.diff(times) <= 1.5 * step
    stares = []
    for first, last in runs(facing & ~closed, joined):
        if times[last] + step - times[first] >= STARE_MIN_S - 1e-9:
            stares.append((float(times[first]), float(times[last] + step)))
    blinks = 0
    for first, last in runs(facing, joined):
        for a, b in runs(closed[first : last + 1], joined[first:last]):
            inside = first + a > first and first + b < last  # open frames on both sides
            if inside and (b - a + 1) * step <= BLINK_MAX_S + 1e-9:
                blinks += 1
    return stares, blinks


class EyeTracking(Analyzer):
    name = "eye_tracking"
    frames = FACES
    after = ("cut_analysis",)
    family = "faces"
    in_decoder = False
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)  # the ViT-B/16 eye-state classifier in fp16
    weights = (YUNET, EYE_STATE_MODEL)

    def setup(self) -> None:
        face_detector()
        self.eye_state: _ImageClassifier | None = None
        self.note = f"not measured: weights {EYE_STATE_MODEL.source} not found at {EYE_STATE_MODEL.path}"
        if EYE_STATE_MODEL.present():
            self.eye_state = _ImageClassifier(EYE_STATE_MODEL.path)
            opened = [i for i, label in enumerate(self.eye_state.labels) if "open" in label.lower()]
            if len(opened) != 1:
                raise ValueError(f"{EYE_STATE_MODEL.path}: no single 'open' label in {self.eye_state.labels}")
            self.open_column = opened[0]
            self.note = EYE_STATE_MODEL.source

    def process_frames(self, batch: FrameBatch) -> FacePartial:
        faces = detect_faces(batch)
        opened = np.full(len(faces.frame), np.nan, np.float32)
        if self.eye_state is not None and len(faces.frame):
            centres, sides = eye_regions(faces)
            rows = np.flatnonzero(sides >= EYE_MIN_PX)
            crops = [
                square_crop(batch.frames[faces.frame[i]], tuple(centres[i, eye]), sides[i]) for i in rows for eye in (0, 1)
            ]
            if crops:
                both = self.eye_state(crops)[:, self.open_column].reshape(-1, 2)
                opened[rows] = both.mean(axis=1)
        return FacePartial(faces, opened, self.eye_state.labels if self.eye_state else (), self.note)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        faces, opened, first = _gather(partials)
        track, tracks, shots, shots_from = face_tracks(faces, context)
        measured = bool(first.labels)
        facing = facing_camera(faces.landmarks, faces.size)
        closed = opened < EYES_OPEN  # NaN (not read) compares False: not seen closed
        contact = facing & ~closed
        kept = track >= 0
        n = len(faces.times)
        # Per sampled frame: some tracked face / a facing one / one in eye contact.
        with_any = [np.bincount(faces.frame[kept & mask], minlength=n) > 0 for mask in (kept, facing, contact)]
        step = sample_step(faces.times)

        segments = []
        frame_shot = shot_of(faces.times, shots)
        for index, (start, end) in enumerate(shots):
            inside = frame_shot == index
            segments.append(
                Segment(
                    start_s=start,
                    end_s=end,
                    label="shot",
                    data={"index": index, "frames": int(inside.sum()), **_shares(inside, *with_any)},
                )
            )
        blinks = 0
        stare_spans = []
        for t in tracks:
            times = faces.times[faces.frame[t.rows]]
            spans, track_blinks = stares_and_blinks(times, facing[t.rows], closed[t.rows], step)
            blinks += track_blinks
            stare_spans += [(a, b, t.id) for a, b in spans]
            segments.append(
                Segment(
                    start_s=t.start_s,
                    end_s=t.end_s,
                    label="face",
                    data={
                        "track": t.id,
                        "box": t.box,
                        "frames": len(t.rows),
                        "facing_share": round(float(facing[t.rows].mean()), 3),
                        "eye_contact_share": round(float(contact[t.rows].mean()), 3),
                        "eyes_closed_share": round(float(closed[t.rows].mean()), 3) if measured else None,
                        "blinks": track_blinks if measured else None,
                    },
                )
            )
        end_of_video = max(context.video.duration_s, float(faces.times[-1]))
        stare_lengths = []
        for start, end, number in sorted(stare_spans):
            end = min(end, end_of_video)
            stare_lengths.append(end - start)
            data = {"track": number, "seconds": round(end - start, 3)}
            segments.append(Segment(start_s=round(start, 4), end_s=round(end, 4), label="stare", data=data))
        facing_minutes = float(np.count_nonzero(kept & facing & ~np.isnan(opened))) * step / 60.0
        return Findings(
            segments=segments,
            summary={
                "method": EYE_METHOD,
                "detector": faces.detector,
                "eye_state": first.note,
                "sample_fps": FACES.fps,
                "shots_from": shots_from,
                "face_tracks": len(tracks),
                **_shares(np.ones(n, bool), *with_any),
                "stare_count": len(stare_spans),
                "stare_min_s": STARE_MIN_S,
                "longest_stare_s": round(max(stare_lengths), 3) if stare_lengths else None,
                "blinks": blinks if measured else None,
                "blinks_per_minute": round(blinks / facing_minutes, 2) if measured and facing_minutes > 0 else None,
            },
        )


def _shares(inside: np.ndarray, with_face: np.ndarray, with_facing: np.ndarray, with_contact: np.ndarray) -> dict:
    frames = max(int(inside.sum()), 1)
    return {
        "face_share": round(float(np.count_nonzero(inside & with_face)) / frames, 3),
        "facing_share": round(float(np.count_nonzero(inside & with_facing)) / frames, 3),
        "eye_contact_share": round(float(np.count_nonzero(inside & with_contact)) / frames, 3),
    }
