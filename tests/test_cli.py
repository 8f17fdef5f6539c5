"""`reelscope analyze` as a user runs it: a new process, an embedded local Ray, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.schema import Status, VideoResult


def reelscope(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "analyze", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_the_embedded_ray_is_a_new_one_even_where_another_clusters_address_is_on_record(tmp_path, sample_clip):
    """`ray start` anywhere on the machine records its address; a run without --address must not
    try to join it (a dead one here). A short temp root: Ray's socket paths must fit in 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        (root / "ray").mkdir()
        (root / "ray" / "ray_current_cluster").write_text("127.0.0.1:1\n")
        run = reelscope(str(sample_clip), "--analyzers", "cut_analysis", "--out", "out", cwd=tmp_path, env={**os.environ, "RAY_TMPDIR": str(root)})
        assert run.returncode == 0, run.stdout + run.stderr
        assert VideoResult.model_validate_json((tmp_path / "out" / "sample.json").read_text()).analyzers["cut_analysis"].summary.shot_count == 4
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_bad_inputs_fail_alone_and_good_ones_finish(tmp_path, sample_clip, media):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("this is text\n")
    (tmp_path / "folder").mkdir()
    shutil.copy(sample_clip, tmp_path / "-leading-dash.mp4")  # a file name, not an option
    videos = [str(sample_clip), "empty.mp4", "notes.mp4", "folder", "missing.mp4", str(media / "faster-whisper" / "jfk.flac"), "-leading-dash.mp4"]
    run = reelscope(*videos, "--analyzers", "cut_analysis,audio_analysis,object_detection", "--out", "out", cwd=tmp_path)

    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(videos)
    for bad, reason in [("empty.mp4", "empty file"), ("notes.mp4", "not a readable media file"), ("folder", "is a directory"), ("missing.mp4", "no such file")]:
        (line,) = [line for line in lines if f" {bad}:" in line]
        assert "FAILED" in line and reason in line
    assert "3 of 7 videos analysed" in run.stdout

    results = {p.stem: VideoResult.model_validate(json.loads(p.read_text())) for p in (tmp_path / "out").glob("*.json")}
    assert set(results) == {"sample", "empty", "notes", "folder", "missing", "jfk", "-leading-dash"}
    assert results["-leading-dash"].analyzers["cut_analysis"].summary.shot_count == 4
    clip = results["sample"]
    assert clip.status == Status.ok and clip.analyzers["cut_analysis"].summary.shot_count == 4
    detection = clip.analyzers["object_detection"]  # its weights are not on this machine
    assert detection.status == Status.skipped and "reelscope models download" in detection.reason
    speech = results["jfk"]
    assert speech.analyzers["cut_analysis"].status == Status.skipped
    assert speech.analyzers["cut_analysis"].reason == "no video stream"
    assert speech.analyzers["audio_analysis"].status == Status.ok


def test_no_arguments_analyses_the_built_in_sample(tmp_path):
    run = reelscope("--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    result = VideoResult.model_validate(json.loads((tmp_path / "out" / "sample.json").read_text()))
    assert abs(result.video.duration_s - 10.0) < 0.05
    # Every analyzer ran, or says it is not built yet, or says which weights are missing where.
    for name, r in result.analyzers.items():
        assert r.status == Status.ok or (
            r.status == Status.skipped and ("not available in this build" in r.reason or "models download" in r.reason)
        ), (name, r.status, r.reason, r.error)
    assert result.analyzers["text_overlay"].status == Status.ok  # the offline OCR default
    texts = {s.data.text for s in result.analyzers["text_overlay"].segments}
    assert {"WAIT FOR IT", "LINK IN BIO"} <= texts, texts


def test_folders_globs_and_urls_become_videos_in_a_stable_order(tmp_path, sample_clip):
    from pipeline.cli import expand_inputs

    for name in ("b/clip.mp4", "a/clip.mp4", "a/deeper/talk.flac", "a/notes.txt", "c.mov"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_clip, tmp_path / name)
    (tmp_path / "empty").mkdir()
    got = expand_inputs([str(tmp_path / "a"), str(tmp_path / "*.mov"), "https://example.com/v/clip.mp4", str(tmp_path / "empty"), str(tmp_path / "b" / "clip.mp4")])
    assert got == [
        str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "a" / "deeper" / "talk.flac"),  # media only, sorted
        str(tmp_path / "c.mov"), "https://example.com/v/clip.mp4",
        str(tmp_path / "empty"),  # nothing inside: kept, to fail with its reason
        str(tmp_path / "b" / "clip.mp4"),
    ]  # fmt: skip
    from pipeline.engine import VideoRequest

    assert [r.video_id for r in VideoRequest.for_paths(got)] == ["clip", "talk", "c", "clip-2", "empty", "clip-3"]


def test_in_process_runs_without_ray_and_gives_the_same_document(tmp_path, sample_clip):
    names = "cut_analysis,color_analysis"
    local = reelscope(str(sample_clip), "--analyzers", names, "--out", "local", "--in-process", cwd=tmp_path)
    on_ray = reelscope(str(sample_clip), "--analyzers", names, "--out", "ray", cwd=tmp_path)
    assert local.returncode == on_ray.returncode == 0, local.stderr + on_ray.stderr
    documents = [VideoResult.model_validate_json((tmp_path / d / "sample.json").read_text()) for d in ("local", "ray")]
    for name in names.split(","):
        assert documents[0].analyzers[name].segments == documents[1].analyzers[name].segments
        assert documents[0].analyzers[name].summary == documents[1].analyzers[name].summary
