"""CPU benchmark of the foundation analyzers, measured side by side in one run.

    python bench/bench_cpu.py [CLIP]      (default: ../shared/media/pyscenedetect/testvideo.mp4)

(a) pure PyAV decode of every frame, threaded, no conversion: the floor
(b) PySceneDetect's own detect() with ContentDetector on the file
(c) our cut_analysis alone, in process and through the Ray graph (warm)
(d) every analyzer of the foundation, through the Ray graph: cold (ray.init included) and warm
Prints (c)/(b), (d)/(a) and the realtime factor (clip duration / wall time).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

FOUNDATION = [
    "cut_analysis",
    "scene_segmentation",
    "camera_analysis",
    "color_analysis",
    "content_quality",
    "audio_analysis",
    "speech_flow",
    "temporal_flow",
]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if repeats < 3 else statistics.median(times)


def pure_decode(path: str) -> None:
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def scenedetect_detect(path: str) -> None:
    from scenedetect import ContentDetector, detect

    detect(path, ContentDetector())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", default=str(REPO.parent / "shared/media/pyscenedetect/testvideo.mp4"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip = str(Path(args.clip).resolve())

    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local

    request = [VideoRequest("bench", clip)]
    cuts_only = Plan.build(["cut_analysis"])
    foundation = Plan.build(FOUNDATION)
    (result,) = run_local(request, foundation)  # warms numba, silero and the page cache
    duration = result.video.duration_s

    decode_s = best_of(lambda: pure_decode(clip), args.repeats)
    detect_s = best_of(lambda: scenedetect_detect(clip), args.repeats)
    cuts_local_s = best_of(lambda: list(run_local(request, cuts_only)), args.repeats)
    all_local_s = best_of(lambda: list(run_local(request, foundation)), args.repeats)

    # Cold: a new process that starts its own Ray, as a user's first `reelscope analyze` does.
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "analyze", clip, "--analyzers", ",".join(FOUNDATION), "--out", "/tmp/reelscope-bench"],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    cold_s = time.perf_counter() - start

    from pipeline.runners import ray_data
    from pipeline.runners.ray_data import connect

    connect(None)
    list(ray_data.run(request, foundation))  # the first run on a new Ray warms its workers
    cuts_ray_s = best_of(lambda: list(ray_data.run(request, cuts_only)), args.repeats)
    all_ray_s = best_of(lambda: list(ray_data.run(request, foundation)), args.repeats)

    print(f"clip: {clip} ({duration:.1f} s, {result.video.width}x{result.video.height}, {result.video.frame_count} frames)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = [
        ("(a) pure PyAV decode, threaded", decode_s),
        ("(b) PySceneDetect detect(ContentDetector)", detect_s),
        ("(c) cut_analysis, in process", cuts_local_s),
        ("(c) cut_analysis, Ray graph, warm", cuts_ray_s),
        ("(d) foundation analyzers, in process", all_local_s),
        ("(d) foundation analyzers, Ray graph, warm", all_ray_s),
        ("(d) foundation analyzers, CLI cold (ray.init included)", cold_s),
    ]
    for label, seconds in rows:
        print(f"  {label:<55} {seconds:7.2f} s  {duration / seconds:6.1f}x realtime")
    print(f"(c)/(b)  cut_analysis vs PySceneDetect:        in process {cuts_local_s / detect_s:.2f}   Ray warm {cuts_ray_s / detect_s:.2f}")
    print(f"(d)/(a)  all foundation analyzers vs decode:   in process {all_local_s / decode_s:.2f}   Ray warm {all_ray_s / decode_s:.2f}")


if __name__ == "__main__":
    main()
