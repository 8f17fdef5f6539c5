"""What the short-form insights (#14) cost, as a share of a video's analysis wall time, side by side
in one run.

    python bench/bench_insights.py [CLIP] [--repeats 5]

Runs the analyzers the insights read (cut_analysis, audio_analysis, text_overlay on rapidocr,
temporal_flow, cross_analyzer_intelligence) in process (run_local) on the clip (default: the
embedded sample, a vertical 10 s clip with captions, cuts and a click track), interleaved so that
both ways see the same machine: with the insights, and without them (their steps replaced by
ones that compute nothing: only here, to measure them). Prints each median wall time, the
difference as a share of the analysis, and the insights' own time measured directly on the
finished result (their steps called alone, many times: the difference of two wall times is
within the noise of a shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

ANALYZERS = ["cut_analysis", "audio_analysis", "text_overlay", "temporal_flow", "cross_analyzer_intelligence"]


def insight_steps() -> dict[str, tuple[object, str, object]]:
    """Each insight's step: (module, attribute, a stand-in that computes nothing)."""
    from pipeline.analyzers import fusion, text_overlay

    return {
        "beat_sync": (fusion, "beat_sync", lambda facts: None),
        "safe_zones": (fusion, "safe_zones", lambda facts, options: None),
        "watermark": (text_overlay, "watermark", lambda segments: None),
    }


@contextmanager
def without_insights():
    steps = insight_steps()
    kept = {name: getattr(module, attribute) for name, (module, attribute, _) in steps.items()}
    for module, attribute, stand_in in steps.values():
        setattr(module, attribute, stand_in)
    try:
        yield
    finally:
        for name, (module, attribute, _) in steps.items():
            setattr(module, attribute, kept[name])


def direct_seconds(result, settings, calls: int = 200) -> dict[str, float]:
    """Each insight's own time on the finished result (mean of `calls` calls, s)."""
    from pipeline.analyzer import Context
    from pipeline.analyzers.fusion_timeline import Facts

    steps = insight_steps()
    facts = Facts(Context(video=result.video, results=result.analyzers))
    text = [s for s in result.analyzers["text_overlay"].segments if s.label == "text"]
    arguments = {"beat_sync": (facts,), "safe_zones": (facts, settings.safe_zones), "watermark": (text,)}
    seconds = {}
    for name, (module, attribute, _) in steps.items():
        step = getattr(module, attribute)
        start = time.perf_counter()
        for _ in range(calls):
            step(*arguments[name])
        seconds[name] = (time.perf_counter() - start) / calls
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", default=None, help="default: the embedded sample, written to a temporary file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local
    from pipeline.sample import SAMPLE, write_clip
    from pipeline.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bench-insights-"))
    clip = args.clip or write_clip(str(folder / "sample.mp4"), SAMPLE)
    settings = Settings(models_dir=folder / "no_models", text_overlay={"reader": "rapidocr"})
    request = [VideoRequest("bench", str(Path(clip).resolve()))]
    plan = Plan.build(ANALYZERS, settings=settings)

    def run(insights: bool):
        start = time.perf_counter()
        if insights:
            [result] = run_local(request, plan)
        else:
            with without_insights():
                [result] = run_local(request, plan)
        return time.perf_counter() - start, result

    _, result = run(True)  # warms numba, rapidocr and the page cache
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for insights in (True, False):
            times[insights].append(run(insights)[0])
    with_s, without_s = statistics.median(times[True]), statistics.median(times[False])
    own = direct_seconds(result, settings)
    print(f"clip: {clip} ({result.video.duration_s:.1f} s); {', '.join(ANALYZERS)} in process")
    print(f"median of {args.repeats} interleaved runs: with the insights {with_s:.3f} s, without {without_s:.3f} s")
    print(f"difference: {with_s / without_s - 1:+.2%} of the analysis wall time (within the noise when small)")
    for name, seconds in own.items():
        print(f"  {name:<12} {seconds * 1000:8.3f} ms a video ({seconds / without_s:.4%} of the analysis)")
    print(f"insights measured directly: {sum(own.values()) / without_s:.4%} of the analysis wall time (target <= 5%)")


if __name__ == "__main__":
    main()
