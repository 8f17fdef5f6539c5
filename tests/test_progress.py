"""Progress about videos: a line per video in flight and one for the run, plain lines in a log."""

from __future__ import annotations

import io
import subprocess
import sys

from pipeline.progress import RunProgress


def test_in_a_log_progress_is_plain_lines_about_videos(capsys):
    log = io.StringIO()
    with RunProgress(2, stream=log, every_s=0, live=False) as progress:
        progress.advanced("a", "a.mp4", 4.0, 10.0)
        progress.advanced("b", "b.mp4", 2.0, None)
        progress.finished("a", "[1/2] ok     a.mp4", 10.0)
        progress.advanced("b", "b.mp4", 6.0, None)
    lines = log.getvalue().splitlines()
    assert lines[0] == "progress: 0/2 videos, 0.00 video-hours/hour; in flight: a.mp4 4.0 / 10.0 s"
    assert lines[-1].startswith("progress: 1/2 videos, ") and lines[-1].endswith("in flight: b.mp4 6.0 s")
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()
    assert capsys.readouterr().out == "[1/2] ok     a.mp4\n"  # results on stdout, progress apart


def test_on_a_terminal_the_bars_show_each_video_and_the_run():
    screen = io.StringIO()
    with RunProgress(1, stream=screen, live=True) as progress:
        progress.advanced("a", "clip.mp4", 2.5, 10.0)
        progress.bars.refresh()
        progress.finished("a", "[1/1] ok     clip.mp4", 10.0)
        progress.bars.refresh()
    shown = screen.getvalue()
    assert "clip.mp4" in shown and "2.5 / 10.0 s" in shown and "1/1 videos" in shown
    assert "[1/1] ok     clip.mp4" in shown


def test_a_cli_run_in_a_log_shows_videos_not_ray_data_rows(tmp_path, sample_clip):
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "analyze", str(sample_clip), "--analyzers", "cut_analysis,speech_flow",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith("[1/1] ok     ")
    for line in run.stderr.splitlines():  # a healthy run: reelscope's progress only
        assert line.startswith("progress: "), line
    assert "MapBatches" not in run.stderr and "\x1b" not in run.stderr


def test_each_video_line_counts_the_analyzers_that_have_read_all_of_it(sample_clip):
    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local

    names = ["cut_analysis", "speech_flow", "audio_analysis", "cross_analyzer_intelligence"]
    plan = Plan.build(names)
    assert plan.done_reading(set()) == 0 and plan.done_reading({"frames"}) == 0
    assert plan.done_reading({"frames", "audio"}) == 2  # the audio is one item: its readers are done
    assert plan.done_reading({"frames", "audio", "end"}) == 3  # fusion reads nothing: it only finalizes
    log = io.StringIO()
    with RunProgress(1, stream=log, every_s=0, live=False) as progress:
        requests = [VideoRequest("clip", str(sample_clip))]
        feed = progress.feed(plan, {"clip": "clip.mp4"}, {"clip": 10.0})
        [result] = run_local(requests, plan, on_item=feed)
        progress.finished(result.id, "done", 10.0)
    counts = [line.split("s, ")[-1].split(" (eta")[0] for line in log.getvalue().splitlines() if "clip.mp4" in line]
    assert counts[0] == "0/3 analyzers done" and counts[-1] == "3/3 analyzers done"
    assert "2/3 analyzers done" in counts and counts == sorted(counts)
