"""Weights: resolved from the models directory, fetched by `reelscope models download`."""

from __future__ import annotations

import zipfile

import pytest

from pipeline.analyzer import Skip
from pipeline.cli import main
from pipeline.models import Weights


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_missing_weights_say_where_and_how(models):
    weights = Weights("detector.pt", "https://example.invalid/detector.pt", kind="file")
    with pytest.raises(Skip) as skipped:
        weights.require("object_detection")
    assert str(models / "detector.pt") in str(skipped.value)
    assert "reelscope models download --analyzers object_detection" in str(skipped.value)


def test_download_of_a_file_and_of_a_file_inside_a_zip(models, tmp_path):
    plain = tmp_path / "detector.pt"
    plain.write_bytes(b"detector weights")
    archive = tmp_path / "recognizer.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("recognizer.pth", b"recognizer weights")
    for weights, content in [
        (Weights("detector.pt", plain.as_uri(), kind="file"), b"detector weights"),
        (Weights("ocr/recognizer.pth", archive.as_uri(), kind="zip"), b"recognizer weights"),
    ]:
        assert not weights.present()
        assert weights.download().read_bytes() == content
        assert weights.present() and weights.require("text_overlay") == weights.path
    assert sorted(p.name for p in models.rglob("*")) == ["detector.pt", "ocr", "recognizer.pth"]  # no partial files


def test_models_list_reports_missing_required_weights(models, capsys):
    assert main(["models", "list", "--analyzers", "qwen2_vl_temporal"]) == 1
    out = capsys.readouterr().out
    assert f"models directory: {models}" in out
    assert "MISSING" in out and "Qwen/Qwen2-VL-2B-Instruct" in out
    (models / "Qwen2-VL-2B-Instruct").mkdir(parents=True)
    (models / "Qwen2-VL-2B-Instruct" / "config.json").write_text("{}")
    assert main(["models", "list", "--analyzers", "qwen2_vl_temporal"]) == 0


def test_a_plan_for_this_machine_skips_models_whose_weights_are_missing(models):
    from pipeline.engine import Plan

    plan = Plan.build(["qwen2_vl_temporal", "text_overlay"], weights_here=True)
    assert [a.name for a in plan.analyzers] == ["cut_analysis", "text_overlay"]  # EasyOCR's weights are optional
    assert str(models / "Qwen2-VL-2B-Instruct") in plan.unavailable["qwen2_vl_temporal"]
    assert "qwen2_vl_temporal" in [a.name for a in Plan.build(["qwen2_vl_temporal"]).analyzers]  # a cluster decides in its workers
