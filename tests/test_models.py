"""Weights: resolved from the models directory, checked against what each entry pins, fetched by
`reelscope models download`, copied in by `models add`, checked by `models verify`."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
from conftest import link_models

from pipeline.analyzer import Skip
from pipeline.cli import main
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.models import Weights, WeightsError
from pipeline.schema import Status
from pipeline.settings import Settings


@pytest.fixture
def models(tmp_path, monkeypatch):
    """The models directory: given to the library as a setting, to the CLI by its environment variable."""
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def checkpoint(path, payload: bytes = b"tensors") -> bytes:
    """A file in torch.save's format (a zip archive), as a checkpoint's first check sees it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload * 200)
    return path.read_bytes()


def test_missing_weights_say_where_and_how(models):
    weights = Weights("detector.pt", "https://example.invalid/detector.pt", kind="file").at(models)
    with pytest.raises(Skip) as skipped:
        weights.require("object_detection")
    assert str(models / "detector.pt") in str(skipped.value)
    assert "reelscope models download --analyzers object_detection" in str(skipped.value)


def test_download_of_a_file_and_of_a_file_inside_a_zip(models, tmp_path):
    plain = tmp_path / "detector.pt"
    content = checkpoint(plain)
    archive = tmp_path / "recognizer.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("recognizer.pth", content)
    for weights in [
        Weights("detector.pt", plain.as_uri(), kind="file", sha256=hashlib.sha256(content).hexdigest()).at(models),
        Weights("ocr/recognizer.pth", archive.as_uri(), kind="zip").at(models),
    ]:
        assert not weights.present()
        assert weights.download().read_bytes() == content
        assert weights.present() and weights.require("text_overlay") == weights.path
    assert sorted(p.name for p in models.rglob("*")) == ["detector.pt", "ocr", "recognizer.pth"]  # no partial files


def wrong_copies(tmp_path) -> dict[str, tuple[bytes, str]]:
    """What a download goes wrong into, and the words that name it."""
    good = checkpoint(tmp_path / "good.pt")
    return {
        "empty": (b"", "an empty file (0 bytes)"),
        "truncated": (good[: len(good) // 2], "not a PyTorch checkpoint"),
        "html": (b"<!DOCTYPE html>\n<html><head><title>Not Found</title></head></html>\n", "an HTML page"),
        "other release": (checkpoint(tmp_path / "other.pt", b"other"), "expected sha256"),
    }


def test_each_wrong_file_is_one_line_naming_the_path_what_was_expected_and_the_fix(models, tmp_path):
    good = checkpoint(tmp_path / "good.pt")
    pinned = hashlib.sha256(good).hexdigest()
    weights = Weights("detector.pt", "https://example.invalid/detector.pt", kind="file", sha256=pinned).at(models)
    models.mkdir()
    for case, (content, words) in wrong_copies(tmp_path).items():
        weights.path.write_bytes(content)
        with pytest.raises(WeightsError) as wrong:
            weights.require("object_detection")
        line = str(wrong.value)
        assert "\n" not in line, case
        assert words in line and str(weights.path) in line, (case, line)
        assert "reelscope models download --analyzers object_detection" in line, case
        if case == "other release":
            assert pinned in line and hashlib.sha256(content).hexdigest() in line
    weights.path.write_bytes(good)
    assert weights.require("object_detection") == weights.path


def test_a_file_that_is_not_the_pinned_release_loads_once_accepted_and_says_so(models, tmp_path):
    weights = Weights("detector.pt", "https://example.invalid/detector.pt", kind="file", sha256="0" * 64).at(models)
    models.mkdir()
    own = checkpoint(weights.path, b"fine-tuned")
    with pytest.raises(WeightsError):
        weights.require("object_detection")
    weights.accept_local()
    assert weights.require("object_detection") == weights.path
    used = weights.provenance(backend="ultralytics", device="cpu", dtype="float32")
    assert used.sha256 == hashlib.sha256(own).hexdigest() and "local" in used.id
    weights.path.write_bytes(checkpoint(tmp_path / "changed.pt", b"changed after"))  # acceptance is per digest
    with pytest.raises(WeightsError):
        weights.require("object_detection")


def hub_folder(path, files=("config.json", "tokenizer.json", "model.bin")):
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text(json.dumps({"name": name}) * 50)
    return path


def test_a_hub_folder_without_its_tokenizer_or_with_a_truncated_file(models):
    weights = Weights("speech", "org/speech-model", files=("tokenizer.json", "model.bin")).at(models)
    folder = hub_folder(models / "speech", files=("config.json", "model.bin"))
    with pytest.raises(WeightsError) as wrong:
        weights.require("speech_transcription")
    assert f"{folder}: has no tokenizer.json" in str(wrong.value)
    (folder / "tokenizer.json").write_text("<html><body>rate limited</body></html>")
    with pytest.raises(WeightsError, match="tokenizer.json is an HTML page"):
        weights.require("speech_transcription")
    (folder / "tokenizer.json").write_text("{}")
    weights.accept_local()  # its manifest: every file's size and digest
    assert weights.require("speech_transcription") == folder
    with open(folder / "model.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(WeightsError, match=r"model.bin is 10 bytes, its manifest says [\d,]+ bytes \(truncated\?\)"):
        weights.require("speech_transcription")


def test_download_refuses_a_mismatch_and_leaves_nothing_under_the_name(models, tmp_path):
    served = tmp_path / "served.pt"
    checkpoint(served, b"not what was pinned")
    weights = Weights("detector.pt", served.as_uri(), kind="file", sha256="1" * 64).at(models)
    with pytest.raises(WeightsError, match="expected sha256 1111"):
        weights.download()
    assert not weights.path.exists() and list(models.iterdir()) == []  # no staging left either


def test_a_plan_knows_missing_from_wrong_weights_and_the_others_still_run(models, sample_clip):
    """An HTML page saved as the YOLO weights: object_detection fails with its one line, body_pose
    (missing weights) is skipped, cut_analysis runs."""
    models.mkdir()
    (models / "yolo11n.pt").write_text("<!doctype html><html><body>Sign in to GitHub</body></html>")
    plan = Plan.build(["object_detection", "body_pose", "cut_analysis"], settings=Settings(models_dir=models), weights_here=True)
    assert [a.name for a in plan.analyzers] == ["cut_analysis"]  # no worker starts for either model
    [result] = run_local([VideoRequest("clip", str(sample_clip))], plan)
    detection, pose = result.analyzers["object_detection"], result.analyzers["body_pose"]
    assert detection.status == Status.failed and "an HTML page" in detection.error
    assert str(models / "yolo11n.pt") in detection.error and "\n" not in detection.error
    assert pose.status == Status.skipped and "not found" in pose.reason
    assert result.analyzers["cut_analysis"].status == Status.ok


def test_models_list_reports_missing_and_wrong_weights(models, capsys):
    from pipeline.analyzers.qwen2_vl import Qwen2VLTemporal

    assert main(["models", "list", "--analyzers", "qwen2_vl_temporal"]) == 1
    out = capsys.readouterr().out
    assert f"models directory: {models}" in out
    assert "MISSING" in out and "Qwen/Qwen2-VL-2B-Instruct" in out
    [weights] = Qwen2VLTemporal.weights
    folder = hub_folder(weights.at(models).path, ("config.json", *weights.files))
    assert main(["models", "list", "--analyzers", "qwen2_vl_temporal"]) == 0
    (folder / "config.json").write_bytes(b"")
    assert main(["models", "list", "--analyzers", "qwen2_vl_temporal"]) == 1
    assert "WRONG (config.json is an empty file (0 bytes))" in capsys.readouterr().out


def test_a_plan_for_this_machine_skips_models_whose_weights_are_missing(models):
    plan = Plan.build(["qwen2_vl_temporal", "text_overlay"], settings=Settings(models_dir=models), weights_here=True)
    assert [a.name for a in plan.analyzers] == ["cut_analysis", "text_overlay"]  # EasyOCR's weights are optional
    assert str(models / "Qwen2-VL-2B-Instruct") in plan.unavailable["qwen2_vl_temporal"]
    assert "qwen2_vl_temporal" in [a.name for a in Plan.build(["qwen2_vl_temporal"]).analyzers]  # a cluster decides in its workers


# --- real weights from ../shared/models --------------------------------------------------------


def test_models_add_copies_a_weights_folder_in_and_verify_reads_it_back(models, shared_models, capsys):
    """An air-gapped user's folder (here ../shared/models): EasyOCR's two files and YuNet's 2026
    release are taken, each checked against its pin; verify then reads every byte."""
    assert main(["models", "add", str(shared_models), "--analyzers", "text_overlay,eye_tracking"]) == 0
    out = capsys.readouterr().out
    assert "added    text_overlay" in out and "added    eye_tracking" in out
    assert (models / "easyocr" / "craft_mlt_25k.pth").is_file()
    assert (models / "face_detection_yunet_2026may.onnx").is_file()
    assert main(["models", "verify", "--analyzers", "text_overlay,eye_tracking"]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == 3, out  # craft, english_g2, YuNet
    assert "optional, not here" in out  # the eye-state classifier


def test_models_add_refuses_a_wrong_copy_and_writes_nothing(models, shared_models, tmp_path, capsys):
    usb = link_models(tmp_path / "usb", {"easyocr/craft_mlt_25k.pth": shared_models / "easyocr" / "english_g2.pth"})
    assert main(["models", "add", str(usb), "--analyzers", "text_overlay"]) == 1
    out = capsys.readouterr().out
    assert "REFUSED  text_overlay" in out and "expected sha256 4a5efbfb" in out
    assert not (models / "easyocr" / "craft_mlt_25k.pth").exists()


def test_verify_finds_a_file_changed_after_it_was_added(models, shared_models, capsys):
    link_models(models, {"face_detection_yunet_2026may.onnx": shared_models / "yunet" / "face_detection_yunet_2026may.onnx"})
    assert main(["models", "verify", "--analyzers", "eye_tracking"]) == 0
    (models / "face_detection_yunet_2026may.onnx").unlink()
    (models / "face_detection_yunet_2026may.onnx").write_bytes(b"\x08" + b"\0" * 1000)
    capsys.readouterr()
    assert main(["models", "verify", "--analyzers", "eye_tracking"]) == 1
    assert "WRONG: expected sha256 ebafce4e" in capsys.readouterr().out


def test_a_plan_checks_the_weights_of_the_chosen_model(models):
    chosen = Settings(models_dir=models, speech_transcription={"model": "tiny.en"})
    plan = Plan.build(["speech_transcription"], settings=chosen, weights_here=True)
    assert "faster-whisper-tiny.en" in plan.unavailable["speech_transcription"]
    assert "large-v3" not in plan.unavailable["speech_transcription"]
