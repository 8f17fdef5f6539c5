"""The bulk backfill on the test session's local Ray: every manifest video exactly once, resumable."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from http_files import serving

from pipeline.backfill import backfill, video_id


def test_backfill_isolates_bad_videos_and_resumes(local_ray, sample_clip, media, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    sources = [str(sample_clip), str(broken), str(tmp_path / "missing.mp4"), str(media / "faster-whisper" / "jfk.flac")]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path\n" + "\n".join(sources + [str(sample_clip)]) + "\n")  # a duplicate line counts once
    out = tmp_path / "out"

    assert backfill(manifest, out, ["cut_analysis", "audio_analysis"], weights_here=True) == 0
    videos = pq.read_table(out / "videos.parquet").to_pylist()
    assert sorted(v["source"] for v in videos) == sorted(sources)
    status = {v["source"]: v for v in videos}
    assert status[str(sample_clip)]["status"] == "ok" and status[str(sample_clip)]["analyzers_ok"] == 2
    assert json.loads(status[str(sample_clip)]["summaries"])["cut_analysis"]["shot_count"] == 4
    # The headline figures as typed columns: those of analyzers that did not run (or were skipped) are null.
    clip = status[str(sample_clip)]
    assert (clip["shot_count"], clip["cuts_per_minute"]) == (4, 18.0)  # 3 boundaries in 10 s
    assert clip["tempo_bpm"] == pytest.approx(120, abs=3) and clip["text_coverage"] is None
    assert status[sources[3]]["shot_count"] is None and status[str(broken)]["cuts_per_minute"] is None
    assert "not a readable media file" in status[str(broken)]["error"]
    assert "no such file" in status[str(tmp_path / "missing.mp4")]["error"]
    assert json.loads(status[sources[3]]["analyzer_status"]) == {"cut_analysis": "skipped", "audio_analysis": "ok"}
    segments = pq.read_table(out / "segments.parquet").to_pylist()
    shots = [s for s in segments if s["id"] == video_id(str(sample_clip)) and s["label"] == "shot"]
    assert len(shots) == 4 and shots[0]["start_s"] == 0.0

    # A re-run skips what is done; a result cut off mid-write is not done and is analysed again.
    done = out / "results" / f"{video_id(str(sample_clip))}.json"
    kept = out / "results" / f"{video_id(sources[3])}.json"
    kept_mtime = kept.stat().st_mtime_ns
    done.rename(out / "results" / f".{done.name}.partial")
    capsys.readouterr()
    backfill(manifest, out, ["cut_analysis", "audio_analysis"], weights_here=True)
    printed = capsys.readouterr().out
    assert "4 videos in the manifest, 3 already done, 1 to analyse" in printed
    assert done.exists() and kept.stat().st_mtime_ns == kept_mtime
    assert len(pq.read_table(out / "videos.parquet")) == 4


def test_backfill_reads_urls_from_the_manifest(local_ray, sample_clip, tmp_path):
    manifest = tmp_path / "urls.txt"
    with serving(sample_clip.parent) as base:
        manifest.write_text(f"{base}/{sample_clip.name}\n{base}/gone.mp4\n")
        backfill(manifest, tmp_path / "out", ["cut_analysis"], weights_here=True)
    rows = {v["source"]: v for v in pq.read_table(tmp_path / "out" / "videos.parquet").to_pylist()}
    streamed = rows[f"{base}/{sample_clip.name}"]
    assert streamed["status"] == "ok" and json.loads(streamed["summaries"])["cut_analysis"]["shot_count"] == 4
    assert streamed["duration_s"] == 10.0
    gone = rows[f"{base}/gone.mp4"]
    assert gone["status"] == "failed" and "cannot open the URL (Server returned 404 Not Found)" in gone["error"]


def test_a_text_manifest_line_is_a_path_exactly_as_written(local_ray, sample_clip, tmp_path):
    """"#hashtag.mp4" is a file, not a comment; " padded .mp4" keeps its spaces; a line naming no
    file is an error row. Only empty lines name nothing."""
    import shutil

    shutil.copy(sample_clip, tmp_path / "#hashtag.mp4")
    shutil.copy(sample_clip, tmp_path / " padded .mp4")
    names = ["#hashtag.mp4", " padded .mp4", "padded.mp4", "# not a comment either"]
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("\n".join(str(tmp_path) + "/" + name for name in names[:2]) + "\n\n" + "\n".join(names[2:]) + "\n")
    backfill(manifest, tmp_path / "out", ["cut_analysis"], weights_here=True)
    rows = {v["source"]: v for v in pq.read_table(tmp_path / "out" / "videos.parquet").to_pylist()}
    assert len(rows) == 4
    for name in names[:2]:
        assert rows[f"{tmp_path}/{name}"]["status"] == "ok", rows
    for name in names[2:]:
        assert rows[name]["status"] == "failed" and "no such file" in rows[name]["error"]
