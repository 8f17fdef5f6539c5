"""`reelscope check` on a machine with some weights right, one wrong and the rest missing; and the
provenance every document carries."""

from __future__ import annotations

import importlib.metadata

from conftest import link_models
from helpers import run_video

from pipeline.cli import main
from pipeline.schema import Status
from pipeline.settings import Settings

YUNET_2026 = "face_detection_yunet_2026may.onnx"
YUNET_2026_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"  # ../shared/models/README.md


def test_check_reports_versions_weights_and_a_run_of_every_analyzer(tmp_path, monkeypatch, shared_models, capsys):
    models = link_models(tmp_path / "models", {YUNET_2026: shared_models / "yunet" / YUNET_2026})
    (models / "yolo11n.pt").write_text("<!DOCTYPE html><html><body>404</body></html>")  # a download gone wrong
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(models))
    monkeypatch.setenv("REELSCOPE_TEXT_OVERLAY__READER", "rapidocr")

    assert main(["check"]) == 1  # a wrong weight is worth a non-zero exit
    out = capsys.readouterr().out
    sections = out.split("\nweights\n")[0], out.split("\nweights\n")[1].split("\na run of every analyzer")[0]
    environment, weights = sections
    assert f"ray                {importlib.metadata.version('ray')}" in environment
    assert "cuda (torch)" in environment and "ctranslate2 cuda" in environment and "flash-attn" in environment
    assert f"models directory   {models}" in environment
    line = {row.split()[0]: row for row in weights.splitlines() if row.strip()}
    assert f"ok ({models / YUNET_2026})" in line["age_estimation,eye_tracking"]
    assert "WRONG: is an HTML page" in line["object_detection"]
    assert "MISSING at" in line["body_pose"]

    run = {row.split()[1]: row.split(None, 2) for row in out.split("on the built-in sample clip, in this process\n")[1].splitlines()}
    assert len(run) == 20
    assert run["object_detection"][0] == "failed" and "an HTML page" in run["object_detection"][2]
    assert run["body_pose"][0] == "skipped"
    for name in ("cut_analysis", "speech_flow", "text_overlay", "eye_tracking", "cross_analyzer_intelligence"):
        assert run[name][0] == "ok", run[name]
    assert f"{YUNET_2026} [opencv, cpu" in run["eye_tracking"][2]  # which model spoke
    assert "rapidocr" in run["text_overlay"][2]


def test_a_document_records_the_models_that_made_it(tmp_path, monkeypatch, shared_models, sample_clip):
    models = link_models(tmp_path / "models", {YUNET_2026: shared_models / "yunet" / YUNET_2026})
    result = run_video(sample_clip, "eye_tracking", Settings(models_dir=models))
    assert result.reelscope_version == importlib.metadata.version("reelscope")
    eyes = result.analyzers["eye_tracking"]
    assert eyes.status == Status.ok
    [yunet] = [m for m in eyes.models if m.backend == "opencv"]
    assert (yunet.id, yunet.sha256, yunet.device) == (YUNET_2026, YUNET_2026_SHA256, "cpu")
    assert result.analyzers["cut_analysis"].models == []  # no model: nothing to record
