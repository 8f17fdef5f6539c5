"""age_estimation's analysis around the age ViT, in the real model's formats: the crops reach it as
RGB normalised by nateraw/vit-age-classifier's processor config (through the pipeline), and the
logits it returns over the real label set become a track's age range (softmax per crop,
probabilities averaged per track, age_range by RANGE_MASS). A BGR crop, a missing normalisation
or averaged logits fail here. The classifier's own input conversion: tests/test_actors_faces.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_factory import AGE_LABELS, COLOUR_BUCKETS, write_colour_age_classifier, write_yunet_stand_in
from test_faces import write_video

from actors.faces import Detections, ImageClassifier
from pipeline.analyzer import Context, Partials
from pipeline.analyzers.age_estimation import AgeEstimation, age_estimate
from pipeline.analyzers.faces import FacePartial
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.schema import Status, VideoInfo
from pipeline.settings import Settings

CELL = (slice(128, 160), slice(320, 352))  # where the YuNet stand-in finds a face: cell (10, 4) at stride 32


@pytest.fixture(scope="module")
def colour_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("colour_age")
    write_colour_age_classifier(root)
    write_yunet_stand_in(root)
    return root


@pytest.mark.parametrize(
    ("background", "cell", "quadrant"),
    [
        ((150, 20, 20), (255, 160, 160), (1, -1)),  # dark red: red > blue, darker than mid-grey
        ((20, 20, 150), (160, 160, 255), (-1, -1)),  # its BGR twin: dark blue
    ],
)
def test_face_crops_reach_the_model_as_rgb_normalised(background, cell, quadrant, colour_models, tmp_path):
    """Through the pipeline: a face (the stand-in's bright cell) on a coloured background; the
    colour-reading ViT's bucket says which colours and levels reached it. Red and blue swapped
    would give the other row's bucket; unnormalised input, a bright-quadrant bucket."""
    frame = np.full((384, 640, 3), background, np.uint8)
    frame[CELL] = cell
    video = write_video(tmp_path / "colour.mp4", [frame] * 10)
    plan = Plan.build(["age_estimation"], settings=Settings(models_dir=colour_models))
    [result] = run_local([VideoRequest("colour", str(video))], plan)
    age = result.analyzers["age_estimation"]
    assert age.status == Status.ok, age.error or age.reason
    [face] = age.segments
    assert face.data.age_bucket == COLOUR_BUCKETS[quadrant] and face.data.bucket_probability >= 0.95
    low, high = (int(v) for v in COLOUR_BUCKETS[quadrant].split("-"))
    assert (face.data.age_range, face.data.range_low, face.data.range_high) == (f"{low}-{high}", low, high)


def probs_logits(*rows: dict[str, float]) -> torch.Tensor:
    """Logits (n, 9) in the model's label order whose softmax is each row's probabilities."""
    table = np.full((len(rows), len(AGE_LABELS)), 1e-6)
    for i, row in enumerate(rows):
        for label, p in row.items():
            table[i, AGE_LABELS.index(label)] = p
    return torch.tensor(np.log(table / table.sum(axis=1, keepdims=True)) + 3.0)  # logits shift freely


def test_logits_to_a_track_age_range():
    """Two crops of one track: logits -> softmax per crop -> mean of probabilities -> the top
    bucket and the shortest run holding 80%. Averaging logits instead would say 30-39 only."""
    logits = probs_logits({"20-29": 0.7, "30-39": 0.3}, {"30-39": 0.7, "40-49": 0.3})
    probs = ImageClassifier.probabilities(logits)
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0]) and probs[0, AGE_LABELS.index("20-29")] == pytest.approx(0.7, abs=1e-4)

    box = np.array([[0.4, 0.3, 0.5, 0.5]] * 2, np.float32)
    marks = np.full((2, 5, 2), np.nan, np.float32)
    faces = Detections("test", (640, 384), np.array([0.0, 0.1]), np.array([0, 1]), box, marks, np.ones(2, np.float32))
    info = VideoInfo(path="x.mp4", duration_s=0.2, size_bytes=1, container="mp4", has_video=True, has_audio=False)
    findings = AgeEstimation().finalize(Partials(frames=[FacePartial(faces, probs, AGE_LABELS)]), Context(info, {}))
    [face] = findings.segments
    assert face.data.age_bucket == "30-39" and face.data.bucket_probability == pytest.approx(0.5, abs=1e-3)
    assert face.data.age_range == "20-39" and face.data.range_probability == pytest.approx(0.85, abs=1e-3)
    assert face.data.crops == 2
    assert findings.summary.dominant_age_bucket == "30-39"


def test_age_estimate_ranges():
    labels = ("20-29", "0-2", "more than 70", "30-39", "3-9", "10-19", "40-49", "50-59", "60-69")  # out of order
    probs = dict.fromkeys(labels, 0.0) | {"20-29": 0.35, "30-39": 0.3, "40-49": 0.2, "10-19": 0.1, "0-2": 0.05}
    estimate = age_estimate(np.array([probs[label] for label in labels]), labels)
    assert estimate.age_bucket == "20-29" and estimate.bucket_probability == 0.35
    assert estimate.age_range == "20-49" and estimate.range_probability == pytest.approx(0.85)
    assert estimate.range_buckets == ["20-29", "30-39", "40-49"]
    assert list(estimate.distribution)[:3] == ["0-2", "3-9", "10-19"]  # by age

    old = age_estimate(np.array([0.0] * 7 + [0.15, 0.85]), AGE_LABELS)
    assert (old.age_range, old.range_low, old.range_high) == ("70+", 70, None)

    unnamed = age_estimate(np.array([0.5, 0.4, 0.1]), ("young", "adult", "senior"))
    assert unnamed.age_range == "young / adult" and unnamed.range_low is None
