"""What the short-form insights (#14) cost, as a share of a video's analysis wall time, side by side
in one run.

    python bench/bench_insights.py [CLIP] [--repeats 5]

Runs the analyzers the insights live in (cut_analysis, camera_analysis, audio_analysis,
text_overlay on rapidocr, temporal_flow, cross_analyzer_intelligence) in process (run_local) on
the clip (default: the embedded sample, a vertical 10 s clip with captions, cuts and a click
track), interleaved so that both ways see the same machine: with the insights, and without them
(their steps replaced by ones that compute nothing: only here, to measure them). The insights:
editing on the beat, the safe zones and the watermark (short_form.py, text_overlay), the hook's
first events, the loop (its per-batch steps on cut_analysis's frames and the sound's ends) and
the stitch (temporal_flow), the split screen (its per-pair seams and half changes in
camera_analysis). The green screen (background_segmentation) needs the YOLO segmentation
weights and is not run here. Prints each median wall time, the difference as a share of the
analysis, and the insights' own time measured directly (the finalize-time ones on the finished
result, called alone many times; the per-frame ones as camera_analysis's and temporal_flow's
process_frames over the clip's batches with and without them), as a share of the fastest
analysis: the difference of two wall times is within the noise of a shared machine.
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

ANALYZERS = [
    "cut_analysis", "camera_analysis", "audio_analysis", "text_overlay", "temporal_flow", "cross_analyzer_intelligence",
]  # fmt: skip


def insight_steps() -> dict[str, tuple[object, str, object]]:
    """Each finalize-time insight's step: (module, attribute, a stand-in that computes nothing)."""
    from pipeline.analyzers import camera, fusion, temporal_flow, text_overlay

    return {
        "beat_sync": (fusion, "beat_sync", lambda facts: None),
        "safe_zones": (fusion, "safe_zones", lambda facts, options: None),
        "watermark": (text_overlay, "watermark", lambda segments: None),
        "hook_firsts": (temporal_flow, "_firsts", lambda boundaries, context: None),
        "stitch": (temporal_flow, "stitch", lambda cuts, faces, duration: None),
        "loop": (temporal_flow.loops, "loop", lambda *args: None),
        "split_screen": (camera, "split_screen", lambda pairs: None),
    }


def per_frame_steps() -> dict[str, tuple[object, str, object]]:
    """The insights' steps on every batch or pair of frames, and on the sound track."""
    from pipeline.analyzers import camera, loops

    return {
        "loop frames": (loops, "frame_partial", lambda batch: None),
        "loop sound": (loops, "audio_partial", lambda audio: None),
        "split seams": (camera, "seam_strengths", lambda grey: (float("nan"), float("nan"))),
        "split halves": (camera, "half_changes", lambda prev, cur: (0.0, 0.0, 0.0, 0.0)),
        "split apart": (camera, "halves_apart", lambda start, residual, size: (0.0, 0.0)),
    }


@contextmanager
def without_insights():
    steps = {**insight_steps(), **per_frame_steps()}
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
    context = Context(video=result.video, results=result.analyzers)
    facts = Facts(context)
    text = [s for s in result.analyzers["text_overlay"].segments if s.label == "text"]
    cuts = result.analyzers["cut_analysis"]
    boundaries = [s.start_s for s in cuts.segments if s.label == "shot" and s.data.index > 0]
    faces = {name: result.analyzers.get(name) for name in ("eye_tracking", "age_estimation")}
    arguments = {
        "beat_sync": (facts,),
        "safe_zones": (facts, settings.safe_zones),
        "watermark": (text,),
        "hook_firsts": (boundaries, context),
        "stitch": (cuts, faces, result.video.duration_s),
    }
    seconds = {}
    for name, (module, attribute, _) in steps.items():
        if name not in arguments:  # their inputs are the frames' partials: in the wall-time difference only
            continue
        step = getattr(module, attribute)
        start = time.perf_counter()
        for _ in range(calls):
            step(*arguments[name])
        seconds[name] = (time.perf_counter() - start) / calls
    return seconds


def decoded_batches(clip: str):
    """The clip's frames as the decoder gives them to cut_analysis's spec (every frame, 256 px on
    the long side), in FrameBatches of BATCH_FRAMES with the frame before each."""
    import av
    import cv2
    import numpy as np

    from pipeline.analyzer import BATCH_FRAMES, FrameBatch
    from pipeline.analyzers.cuts import FRAMES

    with av.open(clip) as container:
        stream = container.streams.video[0]
        pictures = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    h, w = pictures[0][1].shape[:2]
    scale = FRAMES.size / max(h, w)
    size = (round(w * scale), round(h * scale))
    pts = np.array([t for t, _ in pictures])
    frames = np.stack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for _, p in pictures])
    batches = []
    for k, i in enumerate(range(0, len(frames), BATCH_FRAMES)):
        before = (frames[i - 1], float(pts[i - 1])) if i else (None, None)
        batches.append(FrameBatch(FRAMES, k, pts[i : i + BATCH_FRAMES], frames[i : i + BATCH_FRAMES], *before))
    return batches


def frame_step_seconds(clip: str, repeats: int = 9) -> tuple[float, float]:
    """camera_analysis's and temporal_flow's process_frames over the clip's batches, with the
    insights' per-frame steps and with their stand-ins, alternated (best of `repeats` each, s)."""
    from pipeline.analyzers.camera import CameraAnalysis
    from pipeline.analyzers.temporal_flow import TemporalFlow

    batches = decoded_batches(clip)
    camera, flow = CameraAnalysis(), TemporalFlow()

    def once() -> float:
        start = time.perf_counter()
        for batch in batches:
            camera.process_frames(batch)
            flow.process_frames(batch)
        return time.perf_counter() - start

    with_steps, without_steps = [], []
    for _ in range(repeats):
        with_steps.append(once())
        with without_insights():
            without_steps.append(once())
    return min(with_steps), min(without_steps)


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

    _, result = run(True)  # warm numba, rapidocr and the page cache, both ways
    run(False)
    times: dict[bool, list[float]] = {True: [], False: []}
    for repeat in range(args.repeats):
        for insights in (True, False) if repeat % 2 == 0 else (False, True):  # neither always runs first
            times[insights].append(run(insights)[0])
    with_s, without_s = statistics.median(times[True]), statistics.median(times[False])
    fastest = min(times[False])  # the share below is of the least contended analysis: the larger share
    own = direct_seconds(result, settings)
    print(f"clip: {clip} ({result.video.duration_s:.1f} s); {', '.join(ANALYZERS)} in process")
    print(f"median of {args.repeats} interleaved runs: with the insights {with_s:.3f} s, without {without_s:.3f} s")
    print(f"  fastest: with {min(times[True]):.3f} s, without {min(times[False]):.3f} s")
    print(f"  each run (s): with {', '.join(f'{t:.2f}' for t in times[True])}; without {', '.join(f'{t:.2f}' for t in times[False])}")
    print(f"difference: medians {with_s / without_s - 1:+.2%}, fastest {min(times[True]) / fastest - 1:+.2%} (within the noise when small)")
    for name, seconds in own.items():
        print(f"  {name:<12} {seconds * 1000:8.3f} ms a video ({seconds / fastest:.4%} of the analysis)")
    with_steps, without_steps = frame_step_seconds(clip)
    frame_cost = max(0.0, with_steps - without_steps)
    print(
        f"  per-frame steps (loop thumbnails and steps, split-screen seams and half changes): camera_analysis and "
        f"temporal_flow process_frames {with_steps * 1000:.1f} ms with them, {without_steps * 1000:.1f} ms without"
    )
    total = sum(own.values()) + frame_cost
    print(f"insights measured directly: {total * 1000:.1f} ms, {total / fastest:.3%} of the fastest analysis wall time (target <= 5%)")


if __name__ == "__main__":
    main()
