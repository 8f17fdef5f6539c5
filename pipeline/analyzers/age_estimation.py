"""age_estimation: apparent age of each face track.

Apparent age, not true age: an image classifier with age buckets (actors.faces.AGE_MODEL,
nateraw/vit-age-classifier: 0-2, 3-9, ..., 60-69, more than 70) reads a square crop around each
face (AGE_MARGIN added on every side) on the first frame of every AGE_STEP_S, faces of
AGE_MIN_FACE_PX or more. Faces are detected and tracked as pipeline/analyzers/faces.py says. A
track's bucket probabilities are averaged over its crops (probabilities, not logits); its
segment says the top bucket and its probability, and the shortest run of neighbouring buckets
holding RANGE_MASS of the probability (age_range, e.g. "20-39", with range_probability): a
range, never a single number of years. Without the classifier's weights the analyzer is skipped
(reporting faces without ages would pass off a detector as an age estimate). The model's biases
(its training data: FairFace-style crops) carry over; make-up, filters, lighting and low
resolution move apparent age.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.faces import AGE_MODEL, YUNET, Detections, FaceReading, Regions
from pipeline.analyzer import Context, Findings, FrameBatch, Partials
from pipeline.analyzers.faces import FaceAnalyzer, FacePartial, face_tracks, gather
from pipeline.analyzers.shots import ShotsFrom, first_in_step, rounded
from pipeline.schema import Segment, SegmentData, Summary

AGE_STEP_S = 0.5
AGE_MARGIN = 0.25
AGE_MIN_FACE_PX = 32
RANGE_MASS = 0.8

AGE_METHOD = (
    "apparent age: an age-bucket image classifier on face crops, probabilities averaged over each face track; "
    f"age_range is the shortest run of buckets holding {RANGE_MASS:.0%} of the probability"
)


class AgeEstimate(BaseModel):
    """What a probability per age bucket says."""

    model_config = ConfigDict(extra="forbid")

    age_bucket: str = Field(..., description="the most probable bucket (the model's label)")
    bucket_probability: float = Field(..., description="its probability (0-1)")
    age_range: str = Field(
        ...,
        description="the shortest run of neighbouring buckets holding range_mass of the probability: "
        '"20-39", "70+" (years), or its labels joined by " / " when they name no ages',
    )
    range_low: int | None = Field(..., description="the range's first year (years); None when the labels name no ages")
    range_high: int | None = Field(..., description="its last year (years); None when open-ended or the labels name no ages")
    range_buckets: list[str] = Field(..., description="the buckets of the range, youngest first")
    range_probability: float = Field(..., description="the probability the range holds (0-1)")
    distribution: dict[str, float] = Field(..., description="probability per bucket, youngest first (0-1)")


class AgeEstimationSegment(AgeEstimate, SegmentData):
    """A face track (labelled "face") and its apparent age."""

    model_config = ConfigDict(extra="forbid")

    track: int = Field(..., description="the face track's number in the video, from 0 in order of appearance")
    box: list[float] = Field(..., description="the track's median box [x1, y1, x2, y2] (fractions of width and height)")
    frames: int = Field(..., description="sampled frames the face was detected on (count)")
    crops: int = Field(..., description="crops of it the classifier read (count)")


class AgeEstimationSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    method: str = Field(..., description="what is measured, in words")
    model: str = Field(..., description="the age classifier that read the crops (hub id)")
    detector: str = Field(..., description="the face detector that ran, and which file or why")
    face_tracks: int = Field(..., description="face tracks in the video (count)")
    estimated_tracks: int = Field(..., description="face tracks with at least one crop read, each a segment (count)")
    range_mass: float = Field(..., description="the probability an age_range must hold (0-1)")
    crop_every_s: float = Field(..., description="a face is read on the first sampled frame of every this many seconds (s)")
    age_distribution: dict[str, float] | None = Field(
        ...,
        description="probability per bucket over every estimated face, each weighted by its time on screen (0-1); "
        "None without one",
    )
    dominant_age_bucket: str | None = Field(..., description="the most probable bucket of age_distribution; None without one")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots tracks stay within came from: cut_analysis, or the whole video as one shot"
    )


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


def age_estimate(probs: np.ndarray, labels: tuple[str, ...]) -> AgeEstimate:
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
    return AgeEstimate(
        age_bucket=labels[order[top]],
        bucket_probability=rounded(p[top], 3),
        age_range=text,
        range_low=low,
        range_high=high,
        range_buckets=[labels[order[i]] for i in range(first, last + 1)],
        range_probability=rounded(-neg_mass, 3),
        distribution={labels[i]: rounded(probs[i], 3) for i in order},
    )


def _squares(faces: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Centres (m, 2) and longer sides (m,) of the faces' boxes, in pixels."""
    w, h = faces.size
    pixels = faces.box * np.array([w, h, w, h], np.float32)
    return (pixels[:, :2] + pixels[:, 2:]) / 2, np.maximum(pixels[:, 2] - pixels[:, 0], pixels[:, 3] - pixels[:, 1])


def _read_rows(batch: FrameBatch, faces: Detections) -> np.ndarray:
    """The faces the classifier reads: AGE_MIN_FACE_PX or more, on the first frame of each AGE_STEP_S."""
    chosen = first_in_step(batch.pts_s, batch.prev_pts_s, AGE_STEP_S)
    return np.flatnonzero(chosen[faces.frame] & (_squares(faces)[1] >= AGE_MIN_FACE_PX))


class AgeEstimation(FaceAnalyzer):
    """Apparent age of each face track: an age-bucket classifier's probabilities over its crops, as a range."""

    name = "age_estimation"
    weights = (AGE_MODEL, YUNET)
    summary_type = AgeEstimationSummary
    segment_type = AgeEstimationSegment

    def regions(self, batch: FrameBatch, faces: Detections) -> Regions:
        """A square of the face's longer side plus AGE_MARGIN on every side, for faces of
        AGE_MIN_FACE_PX or more on the first frame of each AGE_STEP_S."""
        centres, sides = _squares(faces)
        rows = _read_rows(batch, faces)
        return Regions(faces.frame[rows], centres[rows], sides[rows] * (1 + 2 * AGE_MARGIN))

    def process_frames(self, batch: FrameBatch, predicted: FaceReading) -> FacePartial:
        faces, read = predicted.faces, predicted.classified[self.name]
        probs = np.full((len(faces.frame), len(read.labels)), np.nan, np.float32)
        probs[_read_rows(batch, faces)] = read.probabilities
        return FacePartial(faces, probs, read.labels, AGE_MODEL.source)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        faces, probs, first = gather(partials)
        found = face_tracks(faces, context)
        labels = first.labels
        segments = []
        weighted = np.zeros(len(labels))
        for track in found.tracks:
            read = probs[track.rows]
            read = read[~np.isnan(read).any(axis=1)]
            if not len(read):
                continue
            mean = read.mean(axis=0)
            weighted += mean * (track.end_s - track.start_s)
            estimate = age_estimate(mean, labels)
            data = AgeEstimationSegment(
                track=track.id, box=track.box, frames=len(track.rows), crops=len(read), **estimate.model_dump()
            )
            segments.append(
                Segment(
                    start_s=track.start_s,
                    end_s=track.end_s,
                    label="face",
                    confidence=estimate.bucket_probability,
                    data=data,
                )
            )
        distribution = weighted / weighted.sum() if weighted.sum() > 0 else None
        return Findings(
            segments=segments,
            summary=AgeEstimationSummary(
                method=AGE_METHOD,
                model=first.note,
                detector=faces.detector,
                face_tracks=len(found.tracks),
                estimated_tracks=len(segments),
                range_mass=RANGE_MASS,
                crop_every_s=AGE_STEP_S,
                age_distribution=None
                if distribution is None
                else {label: rounded(p, 3) for label, p in zip(labels, distribution)},
                dominant_age_bucket=None if distribution is None else labels[int(np.argmax(distribution))],
                shots_from=found.shots.shots_from,
            ),
        )
