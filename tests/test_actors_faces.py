"""The faces runtime (actors/faces.py): one face detection per batch serves both analyzers, each
classifier reads the regions its analyzer asks for, and the classifier's input follows the
snapshot's processor config (nateraw/vit-age-classifier's: RGB, 224 px, mean and std 0.5)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_factory import EYE_LABELS, write_age_classifier, write_colour_age_classifier, write_eye_state_classifier

from actors.device import choose
from actors.faces import AGE_MODEL, FaceRuntime, ImageClassifier
from pipeline.analyzer import FrameBatch
from pipeline.analyzers.age_estimation import AgeEstimation
from pipeline.analyzers.eye_tracking import EyeTracking
from pipeline.analyzers.faces import FACES
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def tiny_settings(tmp_path_factory) -> Settings:
    """The tiny age and eye-state classifiers, no YuNet: the cascade detects."""
    root = tmp_path_factory.mktemp("tiny_faces")
    write_age_classifier(root)
    write_eye_state_classifier(root)
    return Settings(models_dir=root)


def loaded(settings: Settings, *analyzers) -> FaceRuntime:
    runtime = FaceRuntime(settings)
    for analyzer in analyzers:
        runtime.load(analyzer)
    return runtime


def test_one_detection_per_batch_serves_both(media, tiny_settings, monkeypatch):
    """Both analyzers of the family read one batch: the detector runs once per frame, both read
    the same faces, and the eye classifier reads two crops (both eyes) per face."""
    obama = cv2.cvtColor(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.COLOR_BGR2RGB)
    age, eyes = AgeEstimation(tiny_settings), EyeTracking(tiny_settings)
    runtime = loaded(tiny_settings, age, eyes)
    calls = []
    detect = runtime.detector.detect
    monkeypatch.setattr(runtime.detector, "detect", lambda rgb: calls.append(1) or detect(rgb))

    frames = np.stack([cv2.resize(obama, (512, 640))] * 2)
    batch = FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0, 0.1]), frames=frames)
    reading = runtime.predict(batch, frozenset({"age_estimation", "eye_tracking"}))
    assert len(calls) == len(frames)  # once per frame, not once per analyzer
    assert len(reading.faces.frame) == 2 and str(tiny_settings.models_dir) in reading.faces.detector
    assert age.process_frames(batch, reading).faces is eyes.process_frames(batch, reading).faces
    eye_read = reading.classified["eye_tracking"]
    assert eye_read.labels == EYE_LABELS and eye_read.probabilities.shape == (2 * len(reading.faces.frame), 2)
    assert reading.classified["age_estimation"].probabilities.shape[0] == 1  # the first frame of the 0.5 s step

    [used] = runtime.models_used["eye_tracking"][:1]
    assert used.backend == "scikit-image"  # the detector first, then the eye-state ViT
    assert runtime.models_used["age_estimation"][0].id == AGE_MODEL.source


def test_concurrent_batches_share_the_classifiers_forward_passes(media, tiny_settings, monkeypatch):
    """Behind Serve, several requests' batches reach the runtime at once (predict_many): each
    classifier reads all their crops in one forward pass, and every batch gets what it would alone."""
    obama = cv2.cvtColor(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.COLOR_BGR2RGB)
    age, eyes = AgeEstimation(tiny_settings), EyeTracking(tiny_settings)
    runtime = loaded(tiny_settings, age, eyes)
    both = frozenset({"age_estimation", "eye_tracking"})
    batches = [
        FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0, 0.1]), frames=np.stack([cv2.resize(obama, (512, 640))] * 2)),
        FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0]), frames=cv2.resize(obama, (480, 600))[None]),
    ]
    alone = [runtime.predict(batch, both) for batch in batches]
    passes = []
    for classifier in runtime.classifiers.values():
        logits = classifier.logits
        monkeypatch.setattr(classifier, "logits", lambda pixels, logits=logits: passes.append(len(pixels)) or logits(pixels))
    together = runtime.predict_many(batches, both)
    # One pass per classifier, holding every batch's crops (age: a face per 0.5 s; eyes: two per face).
    assert passes == [sum(len(r.classified[name].probabilities) for r in alone) for name in sorted(both)]
    assert all(len(r.classified[name].probabilities) for r in alone for name in both)  # each batch had crops of both
    for shared, single in zip(together, alone):
        assert np.array_equal(shared.faces.box, single.faces.box)
        for name in both:
            assert shared.classified[name].labels == single.classified[name].labels
            np.testing.assert_allclose(shared.classified[name].probabilities, single.classified[name].probabilities, atol=1e-5)


def test_odd_sized_raw_frame(tiny_settings):
    """A raw frame of odd size straight into the runtime and process_frames (no decoder in between)."""
    eyes = EyeTracking(Settings(models_dir=tiny_settings.models_dir / "none"))
    runtime = loaded(eyes.settings, eyes)
    odd = np.zeros((1, 3841, 2161, 3), np.uint8)
    batch = FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0]), frames=odd)
    partial = eyes.process_frames(batch, runtime.predict(batch, frozenset({"eye_tracking"})))
    assert partial.faces.box.shape == (0, 4) and partial.values.shape == (0,)
    assert partial.note.startswith("not measured")


def test_pixel_values_follow_the_processor_config(tmp_path):
    """RGB in, channel 0 is red; resized to the config's 224 px; (x / 255 - 0.5) / 0.5."""
    classifier = ImageClassifier(write_colour_age_classifier(tmp_path), choose())
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
