"""age_estimation's conversions around the age ViT, in the real model's formats: the crops it is fed
(RGB order, nateraw/vit-age-classifier's processor config: 224 px, mean and std 0.5) and the
logits it returns over the real label set (softmax per crop, probabilities averaged per track,
age_range by RANGE_MASS). A BGR crop, a missing normalisation or averaged logits fail here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import link_models
from model_factory import AGE_LABELS, COLOUR_BUCKETS, write_colour_age_classifier, write_yunet_stand_in
from test_faces import write_video

from pipeline.analyzer import Context, Partials
from pipeline.analyzers.face_age import AGE_MODEL, AgeEstimation, ImageClassifier
from pipeline.analyzers.face_detection import Detections
from pipeline.analyzers.face_tracks import FacePartial
from pipeline.engine import Plan, VideoRequest, run_local
from pipeline.models import MODELS_DIR_ENV
from pipeline.schema import Status, VideoInfo

CELL = (slice(128, 160), slice(320, 352))  # where the YuNet stand-in finds a face: cell (10, 4) at stride 32


@pytest.fixture(scope="module")
def colour_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("colour_age")
    write_colour_age_classifier(root)
    write_yunet_stand_in(root)
    return root


def test_pixel_values_follow_the_processor_config(colour_models):
    """RGB in, channel 0 is red; resized to the config's 224 px; (x / 255 - 0.5) / 0.5."""
    classifier = ImageClassifier(colour_models / AGE_MODEL.name)
    crop = np.zeros((96, 96, 3), np.uint8)
    crop[:, :48] = (255, 0, 0)
    crop[:, 48:] = (0, 0, 128)
    pixels = classifier.pixel_values([crop])
    assert tuple(pixels.shape) == (1, 3, 224, 224)
    assert pixels[0, :, 100, 10].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=1e-4)
    assert pixels[0, :, 100, 210].tolist() == pytest.approx([-1.0, -1.0, 128 / 255 * 2 - 1], abs=1e-4)
    tiny = np.zeros((3, 3, 3), np.uint8)  # 3 px high: still height x width x channels
    tiny[..., 0] = 255
    assert classifier.pixel_values([tiny])[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=1e-4)


@pytest.mark.parametrize(
    ("background", "cell", "quadrant"),
    [
        ((150, 20, 20), (255, 160, 160), (1, -1)),  # dark red: red > blue, darker than mid-grey
        ((20, 20, 150), (160, 160, 255), (-1, -1)),  # its BGR twin: dark blue
    ],
)
def test_face_crops_reach_the_model_as_rgb_normalised(background, cell, quadrant, colour_models, tmp_path, monkeypatch):
    """Through the pipeline: a face (the stand-in's bright cell) on a coloured background; the
    colour-reading ViT's bucket says which colours and levels reached it. Red and blue swapped
    would give the other row's bucket; unnormalised input, a bright-quadrant bucket."""
    monkeypatch.setenv(MODELS_DIR_ENV, str(colour_models))
    frame = np.full((384, 640, 3), background, np.uint8)
    frame[CELL] = cell
    video = write_video(tmp_path / "colour.mp4", [frame] * 10)
    [result] = run_local([VideoRequest("colour", str(video))], Plan.build(["age_estimation"]))
    age = result.analyzers["age_estimation"]
    assert age.status == Status.ok, age.error or age.reason
    [face] = age.segments
    assert face.data["age_bucket"] == COLOUR_BUCKETS[quadrant] and face.data["bucket_probability"] >= 0.95
    low, high = (int(v) for v in COLOUR_BUCKETS[quadrant].split("-"))
    assert (face.data["age_range"], face.data["range_low"], face.data["range_high"]) == (f"{low}-{high}", low, high)


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
    faces = Detections("test", (640, 384), np.array([0.0, 0.1]), np.array([0, 1]), box, np.full((2, 5, 2), np.nan, np.float32))
    info = VideoInfo(path="x.mp4", duration_s=0.2, size_bytes=1, container="mp4", has_video=True, has_audio=False)
    findings = AgeEstimation().finalize(Partials(frames=[FacePartial(faces, probs, AGE_LABELS)]), Context(info, {}))
    [face] = findings.segments
    assert face.data["age_bucket"] == "30-39" and face.data["bucket_probability"] == pytest.approx(0.5, abs=1e-3)
    assert face.data["age_range"] == "20-39" and face.data["range_probability"] == pytest.approx(0.85, abs=1e-3)
    assert face.data["crops"] == 2
    assert findings.summary["dominant_age_bucket"] == "30-39"
