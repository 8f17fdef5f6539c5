"""A run on a real local Ray shows up on the node's Prometheus endpoint (what the dashboard reads)."""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families
from probe_analyzers import Broken, FrameCounter

from pipeline import metrics
from pipeline.runners import ray_data
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.schema import Status

EXPORT_DEADLINE_S = 30  # workers push their metrics to the node's agent every few seconds


class MeteredCounter(FrameCounter):
    """A frame counter no other test runs, so its counts on the shared session's Ray are this test's."""

    name = "probe_metered"


def scrape() -> dict[str, dict[frozenset, float]]:
    """Every `ray_reelscope_*` sample of every node, summed over the processes that reported it:
    sample name -> {labels that matter: value}."""
    import ray

    samples: dict[str, dict[frozenset, float]] = defaultdict(lambda: defaultdict(float))
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith("ray_reelscope_"):
                    keep = frozenset((k, v) for k, v in s.labels.items() if k in {"analyzer", "where", "runner", "status", "le"})
                    samples[s.name][keep] += s.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    series = samples.get(name, {})
    key = frozenset(labels.items())
    return series.get(key)


def test_a_run_reports_frames_latency_realtime_factor_and_statuses(local_ray, sample_clip, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    plan = Plan(analyzers=(Broken, MeteredCounter), unavailable={})
    requests = [VideoRequest("metered", str(sample_clip)), VideoRequest("metered-bad", str(bad))]
    results = {r.id: r for r in ray_data.run(requests, plan, memory_gb=80)}
    assert results["metered-bad"].status == Status.failed
    frames = results["metered"].analyzers["probe_metered"].summary.frames
    assert frames == 300

    deadline = time.monotonic() + EXPORT_DEADLINE_S
    while True:
        samples = scrape()
        batches = value(samples, "ray_reelscope_analyzer_batch_seconds_count", analyzer="probe_metered", where="model")
        if (
            value(samples, "ray_reelscope_frames_processed_total", analyzer="probe_metered", where="model") == frames
            and batches == 10  # 300 frames in batches of 32
            and value(samples, "ray_reelscope_video_realtime_factor_count", runner="ray_data")
            and value(samples, "ray_reelscope_videos_total", runner="ray_data", status="failed")
            and value(samples, "ray_reelscope_queue_depth", runner="ray_data") == 0  # the run is over
            # The decode task's process reports on its own schedule. The in-decoder analyzer is
            # timed there; the decoder counts the source frames.
            and (value(samples, "ray_reelscope_analyzer_batch_seconds_count", analyzer="probe_broken", where="decode") or 0) >= 10
            and (value(samples, "ray_reelscope_frames_processed_total", analyzer="decoder", where="decode") or 0) >= 300
        ):
            break
        assert time.monotonic() < deadline, f"reelscope metrics not exported within {EXPORT_DEADLINE_S} s: {dict(samples)}"
        time.sleep(0.5)

    assert value(samples, "ray_reelscope_analyzer_batch_seconds_sum", analyzer="probe_metered", where="model") > 0
    assert value(samples, "ray_reelscope_videos_total", runner="ray_data", status="ok") >= 1
    assert value(samples, "ray_reelscope_video_realtime_factor_sum", runner="ray_data") > 0


def test_without_ray_recording_is_a_no_op(sample_clip, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    (result,) = run_local([VideoRequest("a", str(sample_clip))], Plan(analyzers=(MeteredCounter,), unavailable={}))
    metrics.record_video(result, 1.0, "local")
    metrics.set_queue_depth("local", 3)
    metrics.record_stage({}, {"probe_metered": 0.1}, 32, "model")
    assert result.analyzers["probe_metered"].summary.frames == 300
