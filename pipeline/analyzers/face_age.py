"""age_estimation: apparent age of each face track (see faces.py for the method), and the image
classifier both face analyzers load (the age ViT; eye_tracking's eye-state ViT).

A classifier reads RGB crops (the decoder's frames are RGB; OpenCV's BGR is never in between)
through the snapshot's own image processor: its size, rescale and normaliser mean / std, as its
preprocessor_config.json says (nateraw/vit-age-classifier: 224 x 224, mean and std 0.5). Its
logits become probabilities by a softmax per crop; a track averages probabilities, not logits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, Partials, Resources
from pipeline.analyzers.face_detection import FACES, YUNET, detect_faces, face_detector, square_crop
from pipeline.analyzers.face_tracks import FacePartial, face_tracks, gather
from pipeline.analyzers.shots import first_in_step
from pipeline.models import Weights
from pipeline.schema import Segment

AGE_MODEL = Weights(name="vit-age-classifier", source="nateraw/vit-age-classifier")

AGE_STEP_S = 0.5
AGE_MARGIN = 0.25
AGE_MIN_FACE_PX = 32
RANGE_MASS = 0.8
CLASSIFY_CHUNK = 64  # crops per forward

AGE_METHOD = (
    "apparent age: an age-bucket image classifier on face crops, probabilities averaged over each face track; "
    f"age_range is the shortest run of buckets holding {RANGE_MASS:.0%} of the probability"
)


class ImageClassifier:
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

    def record(self, analyzer: Analyzer, weights: Weights) -> None:
        analyzer.record_model(weights, backend="transformers", device=self.device, dtype=str(self.dtype).removeprefix("torch."))

    def pixel_values(self, crops: list[np.ndarray]):
        """The model's input for RGB uint8 crops (h, w, 3): resized and normalised as the
        snapshot's processor config says. channels_last: a crop 3 px high is not channels-first."""
        return self.processor(images=crops, return_tensors="pt", input_data_format="channels_last")["pixel_values"]

    @staticmethod
    def probabilities(logits) -> np.ndarray:
        """(n, labels) probabilities from the model's logits, in float32 whatever it ran in."""
        return logits.float().softmax(-1).cpu().numpy()

    def __call__(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(crops), CLASSIFY_CHUNK):
                pixels = self.pixel_values(crops[start : start + CLASSIFY_CHUNK])
                out.append(self.probabilities(self.model(pixel_values=pixels.to(self.device, self.dtype)).logits))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)


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
    in_decoder = False
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)  # ViT-B/16 in fp16 and 64 crops, plus the CUDA context
    weights = (AGE_MODEL, YUNET)

    def setup(self) -> None:
        self.classifier = ImageClassifier(AGE_MODEL.require(self.name))
        self.classifier.record(self, AGE_MODEL)
        self.detector = face_detector(self.name)
        self.detector.record(self)

    def process_frames(self, batch: FrameBatch) -> FacePartial:
        faces = detect_faces(batch, self.detector)
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
        faces, probs, first = gather(partials)
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
