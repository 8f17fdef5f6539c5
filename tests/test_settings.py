"""The one settings object: where it reads from, what it refuses, and that every worker gets it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.settings import Settings, SettingsError, table


def test_the_defaults_read_no_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path))
    assert Settings().models_dir != tmp_path
    assert Settings.load().models_dir == tmp_path


def test_builder_arguments_over_environment_over_file(monkeypatch, tmp_path):
    file = tmp_path / "reelscope.toml"
    file.write_text('gpu_memory_gb = 40\n[speech_transcription]\nmodel = "distil-large-v3"\n[serve]\nmax_jobs = 3\n')
    monkeypatch.setenv("REELSCOPE_SPEECH_TRANSCRIPTION__MODEL", "tiny.en")
    monkeypatch.setenv("REELSCOPE_SERVE__ANALYZERS", '["cut_analysis", "color_analysis"]')
    settings = Settings.load(file, gpu_memory_gb=24, text_overlay={"reader": "easyocr"})
    assert settings.gpu_memory_gb == 24  # builder over file
    assert settings.speech_transcription.model == "tiny.en"  # environment over file
    assert settings.serve.max_jobs == 3 and settings.serve.analyzers == ["cut_analysis", "color_analysis"]
    assert settings.text_overlay.reader == "easyocr"
    assert settings.qwen2_vl_temporal.quantize == "none"  # untouched: the default
    as_json = tmp_path / "settings.json"
    as_json.write_text(settings.model_dump_json())
    monkeypatch.delenv("REELSCOPE_SPEECH_TRANSCRIPTION__MODEL")
    monkeypatch.delenv("REELSCOPE_SERVE__ANALYZERS")
    assert Settings.load(as_json) == settings  # `reelscope settings` output reads back


@pytest.mark.parametrize(
    "given, words",
    [
        ({"gpu_memory_gb": -1}, "setting gpu_memory_gb (REELSCOPE_GPU_MEMORY_GB) (got -1): Input should be greater than 0"),
        ({"qwen2_vl_temporal": {"frames_per_window": 0}}, "setting qwen2_vl_temporal.frames_per_window"),
        ({"text_overlay": {"reader": "tesseract"}}, "Input should be 'auto', 'rapidocr' or 'easyocr'"),
        ({"speech_emotion": {"window_s": 2, "hop_s": 3}}, "hop_s (3) must not exceed window_s (2)"),
        ({"serve": {"max_jobs": "many"}}, "setting serve.max_jobs (REELSCOPE_SERVE__MAX_JOBS) (got 'many')"),
        ({"whisper_model": "tiny.en"}, "unknown setting whisper_model; known here: models_dir, gpu_memory_gb"),
        ({"text_overlay": {"engine": "x"}}, "unknown setting text_overlay.engine; known here: reader"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_naming_it(given, words):
    with pytest.raises(SettingsError) as refused:
        Settings.load(**given)
    assert words in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "variable, words",
    [
        ("REELSCOPE_WHISPER_MODEL", "REELSCOPE_WHISPER_MODEL is no longer read: set REELSCOPE_SPEECH_TRANSCRIPTION__MODEL"),
        ("REELSCOPE_TEXT_OVERLAY__ENGINE", "unknown setting REELSCOPE_TEXT_OVERLAY__ENGINE; known: REELSCOPE_MODELS_DIR"),
        ("REELSCOPE_SERVE", "unknown setting REELSCOPE_SERVE;"),  # a section needs its field named
    ],
)
def test_an_unknown_variable_is_refused_not_ignored(monkeypatch, variable, words):
    monkeypatch.setenv(variable, "x")
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    assert words in str(refused.value)


def test_a_bad_settings_file_is_refused(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("gpu_memory_gb = = 4\n")
    with pytest.raises(SettingsError, match="settings file .*broken.toml: not TOML"):
        Settings.load(broken)
    with pytest.raises(SettingsError, match="no such file"):
        Settings.load(tmp_path / "absent.toml")


def test_the_cli_refuses_a_bad_setting_before_reading_any_video(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REELSCOPE_QWEN2_VL_TEMPORAL__QUANTIZE": "3bit"}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "analyze", str(tmp_path / "absent.mp4"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "reelscope: setting qwen2_vl_temporal.quantize (REELSCOPE_QWEN2_VL_TEMPORAL__QUANTIZE) (got '3bit'): "
        "Input should be 'none', '8bit' or '4bit'"
    ]
    assert not (tmp_path / "out").exists()  # nothing was started or written


def test_reelscope_settings_prints_what_is_in_effect(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REELSCOPE_GPU_MEMORY_GB": "46"}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "settings"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gpu_memory_gb"] == 46


def test_the_readme_settings_table_is_generated_from_the_model():
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    start, end = "<!-- settings table: generated by pipeline.settings.table() -->\n", "\n<!-- end of settings table -->"
    assert start in readme and end in readme, "the README has no generated settings table"
    current = readme.split(start, 1)[1].split(end, 1)[0]
    assert current == table(), "README settings table is stale: paste pipeline.settings.table() between its markers"
