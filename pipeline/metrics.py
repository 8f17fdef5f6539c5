"""Profiling metrics through `ray.util.metrics`, on each node's Prometheus endpoint (and so on the
dashboard's Metrics page): Ray prefixes every name with `ray_`, and adds `_total` to counters.

    reelscope_frames_processed{analyzer, where}   counter: frames read; analyzer="decoder" counts
                                                  the source frames decoded (where="decode")
    reelscope_analyzer_batch_seconds{analyzer, where}   histogram: an analyzer's seconds per WorkItem
    reelscope_queue_depth{runner}                 gauge: WorkItems decoded, not yet assembled
    reelscope_video_realtime_factor{runner}       histogram: video seconds per wall second, per video
    reelscope_videos{runner, status}              counter: videos finished, by status

where: "decode" (the decode task, in-decoder analyzers) or "model" (a model stage's actor).
Every function here is a no-op in a process without Ray (`engine.run_local`).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from pipeline.schema import Status, VideoResult

PREFIX = "reelscope_"
LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
REALTIME_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128]


@functools.cache
def _created() -> dict[str, Any]:
    from ray.util.metrics import Counter, Gauge, Histogram

    where = ("analyzer", "where")
    return {
        "frames": Counter(f"{PREFIX}frames_processed", "Frames read, by analyzer (or the decoder) and stage", where),
        "latency": Histogram(f"{PREFIX}analyzer_batch_seconds", "Analyzer seconds per WorkItem", LATENCY_BUCKETS_S, where),
        "queue": Gauge(f"{PREFIX}queue_depth", "WorkItems decoded and not yet assembled", ("runner",)),
        "realtime": Histogram(
            f"{PREFIX}video_realtime_factor", "Video duration / wall seconds, per video", REALTIME_BUCKETS, ("runner",)
        ),
        "videos": Counter(f"{PREFIX}videos", "Videos finished, by status", ("runner", "status")),
    }


def _metrics() -> dict[str, Any] | None:
    ray = sys.modules.get("ray")  # a process that never imported Ray (bench_gpu) reports nothing
    return _created() if ray is not None and ray.is_initialized() else None


def record_stage(before: dict[str, float], after: dict[str, float], frames: int, where: str) -> None:
    """One WorkItem through a stage: `before`/`after` are its WorkItem.seconds around the stage, so
    the analyzers that ran on it are those whose seconds moved; `frames` in its payload (0: audio)."""
    if (m := _metrics()) is None:
        return
    for name, seconds in after.items():
        if name in before and seconds == before[name]:
            continue
        tags = {"analyzer": name, "where": where}
        m["latency"].observe(max(seconds - before.get(name, 0.0), 0.0), tags=tags)
        if frames:
            m["frames"].inc(frames, tags=tags)


def record_decoded(frames: int) -> None:
    if frames and (m := _metrics()) is not None:
        m["frames"].inc(frames, tags={"analyzer": "decoder", "where": "decode"})


def set_queue_depth(runner: str, depth: int) -> None:
    if (m := _metrics()) is not None:
        m["queue"].set(max(depth, 0), tags={"runner": runner})


def record_video(result: VideoResult, wall_s: float, runner: str) -> None:
    """A finished video: counted by status; an analysed one's realtime factor observed."""
    if (m := _metrics()) is None:
        return
    m["videos"].inc(tags={"runner": runner, "status": result.status.value})
    if result.status == Status.ok and result.video is not None and result.video.duration_s > 0 and wall_s > 0:
        m["realtime"].observe(result.video.duration_s / wall_s, tags={"runner": runner})
