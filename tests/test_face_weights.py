"""What the face analyzers do with the YuNet file they find: a broken one (a web page saved under its
name, empty, truncated, another model under a pinned name) fails both with the one-line message
of pipeline.models (path, expected, found, fix) and never falls back to the cascade; the other
analyzers of the run are unaffected. No YuNet file: the cascade, and the document says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import link_models
from model_factory import YUNET_STAND_IN, write_age_classifier, write_yunet_stand_in

from actors.faces import AGE_MODEL, LBP_MODEL, YUNET
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status
from pipeline.settings import Settings

FACE_ANALYZERS = ["age_estimation", "eye_tracking"]
OTHERS = ["cut_analysis", "color_analysis"]
PAGE = b"<!DOCTYPE html>\n<html><head><title>face_detection_yunet_2023mar.onnx at main</title></head><body>GitHub</body></html>\n"
FIX = "reelscope models download --analyzers"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    spec = ClipSpec(shots=(Shot(1.0, seed=1), Shot(1.0, (60, 140, 220), "pan", seed=2)), fps=10, audio=None)
    return Path(write_clip(str(tmp_path_factory.mktemp("clip") / "clip.mp4"), spec))


@pytest.fixture(scope="module")
def age_model(tmp_path_factory) -> Path:
    return write_age_classifier(tmp_path_factory.mktemp("age"))


def models_with(folder: Path, age_model: Path, name: str, content: bytes) -> Path:
    """A models directory: the tiny age ViT and `content` as the YuNet file `name`."""
    link_models(folder, {AGE_MODEL.name: age_model})
    (folder / name).write_bytes(content)
    return folder


def run_all(clip: Path, models: Path):
    plan = Plan.build(FACE_ANALYZERS + OTHERS, settings=Settings(models_dir=models))
    [result] = run_local([VideoRequest(clip.stem, str(clip))], plan)
    assert result.status == Status.ok, result.error
    return result.analyzers


def assert_fails_with_one_line(results, path: Path, *found: str) -> None:
    for name in FACE_ANALYZERS:
        result = results[name]
        assert result.status == Status.failed, (name, result.status, result.summary)
        assert "\n" not in result.error
        assert result.error.startswith(f"weights {YUNET.source} at {path}: "), result.error
        assert all(part in result.error for part in found), result.error
        assert f"{FIX} {name}" in result.error
    for name in OTHERS:
        assert results[name].status == Status.ok, (name, results[name].error)


@pytest.mark.parametrize(
    ("kind", "content", "found"),
    [
        ("html", PAGE, ["is an HTML page", f"{len(PAGE):,} bytes"]),
        ("empty", b"", ["is an empty file (0 bytes)"]),
    ],
)
def test_yunet_file_that_is_no_model_fails_both(kind, content, found, clip, age_model, tmp_path):
    models = models_with(tmp_path / kind, age_model, YUNET.name, content)
    assert_fails_with_one_line(run_all(clip, models), models / YUNET.name, *found)


def test_other_model_under_the_pinned_name_fails_on_its_digest(clip, age_model, tmp_path):
    """An ONNX graph that is not the 2023mar release, under that release's name."""
    stand_in = write_yunet_stand_in(tmp_path / "made").read_bytes()
    models = models_with(tmp_path / "models", age_model, YUNET.name, stand_in)
    assert_fails_with_one_line(run_all(clip, models), models / YUNET.name, f"expected sha256 {YUNET.sha256}, found ")


def test_truncated_known_release_fails_on_its_digest(clip, age_model, shared_models, tmp_path):
    """Half of the real 2026may file under its own name: an interrupted copy."""
    name = "face_detection_yunet_2026may.onnx"
    real = (shared_models / "yunet" / name).read_bytes()
    models = models_with(tmp_path / "models", age_model, name, real[: len(real) // 2])
    assert_fails_with_one_line(run_all(clip, models), models / name, f"expected sha256 {dict(YUNET.known_sha256)[name]}, found ")


def test_truncated_unknown_release_fails_as_unreadable(clip, age_model, tmp_path):
    """A release name with no known digest is accepted by name; cut short, OpenCV cannot parse it,
    and that too is the one line, not a fallback."""
    stand_in = write_yunet_stand_in(tmp_path / "made").read_bytes()
    name = "face_detection_yunet_2099jan.onnx"
    models = models_with(tmp_path / "models", age_model, name, stand_in[: len(stand_in) // 2])
    assert_fails_with_one_line(run_all(clip, models), models / name, "OpenCV cannot read it", "Failed to parse ONNX model")


def test_without_yunet_the_cascade_runs_and_is_recorded(clip, age_model, tmp_path):
    results = run_all(clip, link_models(tmp_path / "models", {AGE_MODEL.name: age_model}))
    for name in FACE_ANALYZERS:
        assert results[name].status == Status.ok, results[name].error
        assert "YuNet weights not found at" in results[name].summary.detector
        [cascade] = [m for m in results[name].models if m.id == LBP_MODEL]
        assert cascade.backend == "scikit-image" and len(cascade.sha256) == 64
    [age_vit] = [m for m in results["age_estimation"].models if m.id == AGE_MODEL.source]
    assert (age_vit.backend, age_vit.device, age_vit.dtype) == ("transformers", "cpu", "float32")


def test_stand_in_name_is_an_accepted_release(tmp_path):
    """The generated YuNet's name is one YUNET finds and accepts (its tests run through require())."""
    write_yunet_stand_in(tmp_path)
    yunet = YUNET.at(tmp_path)
    assert yunet.path.name == YUNET_STAND_IN and yunet.problem(full=False) is None
