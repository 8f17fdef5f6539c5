"""The fault corpus (tests/faults.py, 44 generated inputs) through the CLI and the backfill: each
gives its exact expected outcome, a correct document or its one-line error, and the good videos
beside the bad ones are unaffected. (Serve: tests/test_serve_app.py::test_the_fault_corpus_over_http.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from faults import corpus

from pipeline.backfill import backfill, video_id
from pipeline.engine import VideoRequest
from pipeline.schema import Status, VideoResult

ANALYZERS = "cut_analysis,audio_analysis,color_analysis"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("corpus"))


def check(name: str, want: str | None, status: str, error: str | None) -> None:
    if want is None:
        assert status == "ok", (name, error)
    else:
        assert status == "failed" and want in (error or ""), (name, status, error)


def test_the_corpus_through_the_cli(cases, tmp_path):
    paths = [str(path) for path, _ in cases.values()]
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "analyze", *paths, "--analyzers", ANALYZERS, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-3000:]  # some inputs failed; every one was analysed
    assert "Traceback" not in run.stdout + run.stderr and "Segmentation fault" not in run.stderr
    assert sum(line.startswith("[") for line in run.stdout.splitlines()) == len(cases)
    for (name, (_, want)), vid in zip(cases.items(), (r.video_id for r in VideoRequest.for_paths(paths))):
        result = VideoResult.model_validate_json((tmp_path / "out" / f"{vid}.json").read_text())
        check(name, want, result.status.value, result.error)
        if want is None and result.video.has_video:
            assert result.analyzers["cut_analysis"].status == Status.ok, (name, result.analyzers["cut_analysis"])
            assert result.analyzers["color_analysis"].status == Status.ok, (name, result.analyzers["color_analysis"])
    sample = VideoResult.model_validate_json((tmp_path / "out" / "sample.json").read_text())
    assert sample.analyzers["cut_analysis"].summary.shot_count == 4  # the good video beside the bad
    late = VideoResult.model_validate_json((tmp_path / "out" / "late.json").read_text())
    assert late.video.duration_s == pytest.approx(3.0, abs=0.05)
    half = VideoResult.model_validate_json((tmp_path / "out" / "half.json").read_text())
    assert half.video.truncated and half.video.duration_s < half.video.container_duration_s


def test_the_corpus_through_the_backfill(local_ray, cases, tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join(f"{path}\n" for path, _ in cases.values()))
    backfill(manifest, tmp_path / "out", ANALYZERS.split(","), weights_here=True)
    rows = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "videos.parquet").to_pylist()}
    assert len(rows) == len(cases)
    for name, (path, want) in cases.items():
        row = rows[video_id(str(path))]
        check(name, want, row["status"], row["error"])
    sample = rows[video_id(str(cases["sample"][0]))]
    assert json.loads(sample["summaries"])["cut_analysis"]["shot_count"] == 4
