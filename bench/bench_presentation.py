"""What the progress display and the keyframe thumbnails cost, side by side in one run.

    python bench/bench_presentation.py [CLIP] [--repeats 5]

Runs the foundation analyzers in process (run_local) on the clip four ways, interleaved so that
all see the same machine: plain; with the progress display fed every item (rich, drawing to a
memory terminal); without cut_analysis's thumbnails (their step replaced by one that keeps none:
only here, to measure it); with both. Prints each median wall time and the ratios to plain.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

from bench_cpu import FOUNDATION  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", default=str(REPO.parent / "shared/media/pyscenedetect/testvideo.mp4"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from pipeline.analyzers.cuts import CutAnalysis
    from pipeline.engine import Plan, VideoRequest
    from pipeline.progress import RunProgress
    from pipeline.runners.local import run_local

    request = [VideoRequest("bench", str(Path(args.clip).resolve()))]
    plan = Plan.build(FOUNDATION)
    with_thumbnails = CutAnalysis._thumbnails

    def no_thumbnails(batch):
        return {"thumb_pts": np.zeros(0), "thumbs": []}

    def run(progress: bool, thumbnails: bool) -> float:
        CutAnalysis._thumbnails = staticmethod(with_thumbnails if thumbnails else no_thumbnails)
        start = time.perf_counter()
        if progress:
            with RunProgress(1, stream=io.StringIO(), live=True) as shown:
                for result in run_local(request, plan, on_item=shown.feed(plan, {r.video_id: "bench" for r in request}, {r.video_id: 24.0 for r in request})):
                    shown.finished(result.id, "done", result.video.duration_s)
        else:
            list(run_local(request, plan))
        return time.perf_counter() - start

    run(False, True)  # warms numba, silero and the page cache
    cases = {"plain (thumbnails on, no progress)": (False, True), "with progress": (True, True),
             "without thumbnails": (False, False), "without thumbnails, with progress": (True, False)}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, (progress, thumbnails) in cases.items():
            times[name].append(run(progress, thumbnails))
    CutAnalysis._thumbnails = with_thumbnails
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"clip: {args.clip}; foundation analyzers in process; median of {args.repeats} interleaved runs")
    for name, seconds in median.items():
        print(f"  {name:<40} {seconds:7.3f} s")
    plain, bare = median["plain (thumbnails on, no progress)"], median["without thumbnails"]
    print(f"progress display: {median['with progress'] / plain - 1:+.1%} of the analysis wall time")
    print(f"keyframe thumbnails: {plain / bare - 1:+.1%} of the analysis wall time")


if __name__ == "__main__":
    main()
