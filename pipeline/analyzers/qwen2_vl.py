"""What happens on screen, in words: a vision-language model (Qwen2-VL / Qwen2.5-VL) describes
each fixed window of the video in one sentence; the shots cut_analysis found get the
description of the window that covers most of them.

Frames are taken at SAMPLE_FPS and grouped into windows on a fixed grid of video time (window k:
[k * window_s, (k + 1) * window_s), window_s = frames_per_window / SAMPLE_FPS), read from the
frames' presentation times (`windows`). The vision_language family's runtime (actors/qwen2_vl.py)
describes the windows of each batch, all through few `generate` calls, and `process_frames`
keeps what it said. A grid window that straddles two batches (only when the frame times are
irregular: at SAMPLE_FPS a decoder batch of 32 frames is 16 s, a whole number of windows) is
described as two windows, one per batch, each from the frames it holds.

Segments, times from presentation timestamps:
  "window"  one per described window, tiling the video from its first sampled frame: it ends where
            the next begins, the last one a sampling step after its last frame (at most at the
            end of the video); data {index, frames, description}.
  "shot"    one per cut_analysis shot (the whole video when cut_analysis did not succeed); data
            {index, description (of the window overlapping the shot the longest, the first on a
            tie; None when no window reaches it), windows (the indices of every window
            overlapping it)}.
Summary: model, window_s, frames_per_window, frame_size ([width, height] the model saw),
window_count, shot_count, shots_from ("cut_analysis" or "whole_video"), generate_calls,
seconds_per_window (the resizing, processor and generate time per window, in the worker).

What it can tell: a caption per window of what is visible and, across the window's frames, what
changes (an action, a camera move); per shot, the caption of the window that sits most in it.
What it cannot: anything shorter than the sampling step (0.5 s), anything inside the shot but
outside its best window, anything heard, and exact on-screen text (small frames, one sentence).
The model can be wrong or make things up; windows across a cut mix two shots. Random or
untrained weights give well-formed nonsense.

Settings: settings.qwen2_vl_temporal (frames_per_window here; the model's own in actors/qwen2_vl.py).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field

from actors.qwen2_vl import QWEN2_VL_WEIGHTS, Descriptions
from pipeline.analyzer import Analyzer, Context, Findings, FrameBatch, FrameSpec, Partials, Resources, Skip
from pipeline.analyzers.shots import ShotsFrom, TIME_SLACK_S, rounded, shots_and_transitions
from pipeline.schema import Segment, SegmentData, Summary
from pipeline.settings import Settings

SAMPLE_FPS = 2.0  # the rate Qwen2-VL was trained to read video at
FRAME_SIZE = 448  # the decoder's long side; settings.qwen2_vl_temporal.max_pixels decides what the model gets
PROMPT = "Describe in one sentence what happens in this video clip."

# GPU memory per worker, by weights. Qwen2-VL-2B holds 2.2 B parameters: the vision tower (0.68 B)
# and the token embeddings (0.23 B, tied to the output head) stay in bfloat16 whatever `quantize`
# says; only the language model's linear layers (1.31 B) are quantised. In bfloat16 the weights
# take 4.4 GB, and the vision encoder's activations, the KV cache of 8 windows of about 300 tokens
# and the CUDA context bring the worker to about 5 GB; 8 GB declared leaves room for the encoder's
# peaks. Those other costs do not shrink with the weights, so a quantised worker declares 8 GB
# less what its linear layers save, rounded up to half a GB: 8bit stores them in 1.31 GB instead
# of 2.62 (7 GB), 4bit (nf4 with its scales) in about 0.74 GB (6.5 GB).
GPU_MEMORY_GB = {"none": 8.0, "8bit": 7.0, "4bit": 6.5}


class Qwen2VLSegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(..., description="the window's or the shot's position among its kind, from 0")
    frames: int | None = Field(None, description="window: frames described (count); None on a shot")
    description: str | None = Field(
        ..., description="the model's sentence (shot: its best window's; None when no window reaches it)"
    )
    windows: list[int] | None = Field(None, description="shot: indices of the windows overlapping it; None on a window")


class Qwen2VLSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="the model's hub id")
    window_s: float = Field(..., description="length of a grid window (s)")
    frames_per_window: int = Field(..., description="frames a full window holds (count)")
    frame_size: list[int] = Field(..., description="[width, height] of the frames the model saw (px)")
    window_count: int = Field(..., description="windows described (count)")
    shot_count: int = Field(..., description="shot segments (count)")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots come from: cut_analysis, or the whole video as one shot"
    )
    generate_calls: int = Field(..., description="generate calls over the video (count)")
    seconds_per_window: float = Field(
        ..., description="resizing, processor and generate time per window, in the worker (s)"
    )


class Qwen2VLTemporal(Analyzer):
    name = "qwen2_vl_temporal"
    frames = FrameSpec(fps=SAMPLE_FPS, size=FRAME_SIZE)
    after = ("cut_analysis",)
    in_decoder = False
    resources = Resources(cpus=1, gpu_memory_gb=GPU_MEMORY_GB["none"])
    summary_type = Qwen2VLSummary
    segment_type = Qwen2VLSegment
    weights = (QWEN2_VL_WEIGHTS,)
    prompt = PROMPT  # what the runtime asks of every window

    @classmethod
    def resources_for(cls, settings: Settings) -> Resources:
        return Resources(cpus=cls.resources.cpus, gpu_memory_gb=GPU_MEMORY_GB[settings.qwen2_vl_temporal.quantize])

    @property
    def window_s(self) -> float:
        return self.options.frames_per_window / SAMPLE_FPS

    def windows(self, batch: FrameBatch) -> list[tuple[int, int]]:
        """What the runtime describes: [start, stop) of each grid window's frames in the batch."""
        return grid_windows(batch.pts_s, self.window_s)

    def process_frames(self, batch: FrameBatch, predicted: Descriptions) -> dict[str, Any]:
        return {
            "windows": [
                {"start_s": float(batch.pts_s[a]), "last_s": float(batch.pts_s[b - 1]), "frames": b - a, "text": text}
                for (a, b), text in zip(predicted.windows, predicted.texts)
            ],
            "generate_calls": predicted.generate_calls,
            "describe_s": predicted.seconds,
            "frame_size": list(predicted.frame_size),
            "window_s": self.window_s,
            "frames_per_window": self.options.frames_per_window,
        }

    def finalize(self, partials: Partials, context: Context) -> Findings:
        described = [w for p in partials.frames for w in p["windows"]]
        if not described:
            raise Skip("no video frames decoded")
        described.sort(key=lambda w: w["start_s"])
        spans = _window_spans(described, context.video.duration_s)
        windows = [
            Segment(
                start_s=start,
                end_s=end,
                label="window",
                data=Qwen2VLSegment(index=i, frames=w["frames"], description=w["text"]),
            )
            for i, (w, (start, end)) in enumerate(zip(described, spans))
        ]
        cuts = context.ok("cut_analysis")
        shot_spans, _ = shots_and_transitions(cuts, (spans[0][0], spans[-1][1]))
        shots = [_shot(i, span, windows) for i, span in enumerate(shot_spans)]
        first = partials.frames[0]
        return Findings(
            segments=windows + shots,
            summary=Qwen2VLSummary(
                model=QWEN2_VL_WEIGHTS.source,
                window_s=first["window_s"],
                frames_per_window=first["frames_per_window"],
                frame_size=first["frame_size"],
                window_count=len(windows),
                shot_count=len(shots),
                shots_from="cut_analysis" if cuts else "whole_video",
                generate_calls=sum(p["generate_calls"] for p in partials.frames),
                seconds_per_window=rounded(sum(p["describe_s"] for p in partials.frames) / len(windows)),
            ),
        )


def grid_windows(pts: np.ndarray, window_s: float) -> list[tuple[int, int]]:
    """[start, stop) of each run of frames in one grid window of `window_s` seconds."""
    slots = np.floor(np.asarray(pts, np.float64) / window_s + 1e-6)
    edges = np.flatnonzero(np.diff(slots)) + 1
    bounds = [0, *edges.tolist(), len(slots)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _window_spans(windows: list[dict[str, Any]], duration_s: float) -> list[tuple[float, float]]:
    """Each window from its first frame to the next window's first frame; the last one a sampling
    step past its last frame, cut at the end of the video."""
    starts = [rounded(w["start_s"]) for w in windows]
    last = windows[-1]["last_s"]
    end = last + 1.0 / SAMPLE_FPS
    if duration_s > last:
        end = min(end, duration_s)
    return list(zip(starts, [*starts[1:], rounded(end)]))


def _shot(index: int, span: tuple[float, float], windows: list[Segment]) -> Segment:
    start, end = span
    overlaps = [min(end, w.end_s) - max(start, w.start_s) for w in windows]
    inside = [i for i, overlap in enumerate(overlaps) if overlap > TIME_SLACK_S]
    best = max(inside, key=lambda i: overlaps[i], default=None)  # max keeps the first on a tie
    return Segment(
        start_s=start,
        end_s=end,
        label="shot",
        data=Qwen2VLSegment(
            index=index,
            description=windows[best].data.description if best is not None else None,
            windows=inside,
        ),
    )
