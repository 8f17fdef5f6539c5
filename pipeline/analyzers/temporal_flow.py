"""Pacing over time and the hook: how much happens each second, and in the first seconds.

Reads other analyzers' results only (it consumes no frames or audio of its own):
cut_analysis's shots, camera_analysis's per-second motion curve and audio_analysis's loudness
curve. Any of them may be missing (failed, skipped, not requested); the pace then has no
term from it, and the summary's `inputs` says which were used.

Per second k of the video ([k, k+1) s; a sliver of a last second counts in the one before):
    cuts        shot boundaries (cuts, fades, dissolves) in that second
    motion      camera_analysis's motion energy (frame widths per second; None where unmeasured)
    audio_dbfs  mean power of audio_analysis's loudness windows starting in that second, in dBFS
    pace        mean of the terms available that second, each 0..1:
                  cuts   min(1, boundaries per second over the CUT_WINDOW_S window around it / CUT_RATE_FULL)
                  motion min(1, motion / MOTION_FULL)
                  audio  (audio_dbfs - AUDIO_QUIET_DB) / (AUDIO_LOUD_DB - AUDIO_QUIET_DB), clipped to 0..1

The hook segment spans the first HOOK_S seconds (the whole video when shorter). Its data, each
measure None when its input is missing: cuts and cut_times_s (boundaries inside the hook),
time_to_first_cut_s (the video's first boundary, wherever it is; None without any); motion and
pace, with motion_rest and pace_rest over the seconds after the hook; audio_dbfs and
audio_vs_rest_db (the hook's loudness against the rest). On-screen text is not read
(text_overlay is not built yet).

Summary: seconds, curves {cuts, motion, audio_dbfs, pace} (null for a missing input),
mean_pace, peak_pace_second, inputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, Findings, Partials, Skip
from pipeline.analyzers.shots import loudness_per_second, mean_db, rounded, second_of, whole_seconds
from pipeline.schema import Segment, SegmentData, Summary

HOOK_S = 3.0
CUT_WINDOW_S = 3  # seconds, centred on the second: one cut makes a pace bump, not a spike
CUT_RATE_FULL = 1.0  # boundaries per second at which the cut term is full
MOTION_FULL = 0.5  # frame widths per second
AUDIO_QUIET_DB, AUDIO_LOUD_DB = -50.0, -10.0


class TemporalFlowSegment(SegmentData):
    """The hook: each measure None when its input is missing (cuts: cut_analysis, motion:
    camera_analysis, audio: audio_analysis)."""

    model_config = ConfigDict(extra="forbid")

    cuts: int | None = Field(None, description="shot boundaries inside the hook (count)")
    cut_times_s: list[float] | None = Field(None, description="their times (s)")
    time_to_first_cut_s: float | None = Field(
        None, description="the video's first shot boundary, wherever it is (s; None: none, or no cut_analysis)"
    )
    motion: float | None = Field(None, description="mean camera motion energy over the hook's seconds (frame widths/s)")
    motion_rest: float | None = Field(None, description="the same over the seconds after the hook (frame widths/s)")
    pace: float | None = Field(None, description="mean pace over the hook's seconds (0-1)")
    pace_rest: float | None = Field(None, description="mean pace over the seconds after the hook (0-1)")
    audio_dbfs: float | None = Field(None, description="mean power of the hook's seconds (dBFS)")
    audio_vs_rest_db: float | None = Field(None, description="the hook's loudness minus the rest's (dB)")


class FlowCurves(BaseModel):
    """One value per second of the video; a curve is None when its input is missing."""

    model_config = ConfigDict(extra="forbid")

    cuts: list[int] | None = Field(..., description="shot boundaries in each second (count)")
    motion: list[float | None] | None = Field(
        ..., description="camera_analysis's motion energy (frame widths/s; None: unmeasured second)"
    )
    audio_dbfs: list[float | None] | None = Field(
        ..., description="mean power of the loudness windows starting in each second (dBFS)"
    )
    pace: list[float | None] = Field(..., description="mean of the available terms that second (0-1; None: no term)")


class FlowInputs(BaseModel):
    """Which analyzer gave each term, or why it is absent ("absent: …")."""

    model_config = ConfigDict(extra="forbid")

    cuts: str = Field(..., description="cut_analysis, or why its term is absent")
    motion: str = Field(..., description="camera_analysis, or why its term is absent")
    audio: str = Field(..., description="audio_analysis, or why its term is absent")


class TemporalFlowSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(..., description="length of every curve (seconds of video)")
    curves: FlowCurves = Field(..., description="the per-second curves")
    mean_pace: float | None = Field(..., description="mean of the pace curve (0-1; None: no second paced)")
    peak_pace_second: int | None = Field(..., description="index of the second of highest pace (None: no second paced)")
    inputs: FlowInputs = Field(..., description="what each term came from")


class TemporalFlow(Analyzer):
    name = "temporal_flow"
    after = ("cut_analysis", "camera_analysis", "audio_analysis")
    # Consumes nothing: running in the decoding worker costs no stage of its own.
    in_decoder = True
    summary_type = TemporalFlowSummary
    segment_type = TemporalFlowSegment

    def finalize(self, partials: Partials, context: Context) -> Findings:
        duration = context.video.duration_s
        seconds = whole_seconds(duration)
        cuts, motion, audio = context.ok("cut_analysis"), context.ok("camera_analysis"), context.ok("audio_analysis")
        loudness = audio.summary.loudness.curve if audio else None
        inputs = {
            "cuts": "cut_analysis" if cuts else _absent(context, "cut_analysis"),
            "motion": "camera_analysis" if motion else _absent(context, "camera_analysis"),
            "audio": "audio_analysis" if loudness else _absent(context, "audio_analysis"),
        }
        if not (cuts or motion or loudness):
            raise Skip("nothing to pace: " + "; ".join(f"{term} {why}" for term, why in inputs.items()))

        boundaries = sorted(s.start_s for s in cuts.segments if s.label == "shot" and s.start_s > 0) if cuts else []
        curves: dict[str, list | None] = {
            "cuts": _count_per_second(boundaries, seconds) if cuts else None,
            "motion": _fit(motion.summary.motion_curve, seconds) if motion else None,
            "audio_dbfs": loudness_per_second(loudness, seconds) if loudness else None,
        }
        terms = []
        if cuts:
            terms.append([min(1.0, rate / CUT_RATE_FULL) for rate in _windowed_rate(curves["cuts"])])
        if motion:
            terms.append([None if m is None else min(1.0, m / MOTION_FULL) for m in curves["motion"]])
        if loudness:
            terms.append([None if db is None else _audio_term(db) for db in curves["audio_dbfs"]])
        curves["pace"] = [_mean([term[k] for term in terms]) for k in range(seconds)]

        hook_end = min(HOOK_S, duration)
        hook_data = _hook(boundaries if cuts else None, curves, hook_end)
        hook = Segment(start_s=0.0, end_s=rounded(hook_end), label="hook", data=hook_data)
        pace = curves["pace"]
        measured = [k for k in range(seconds) if pace[k] is not None]
        return Findings(
            segments=[hook],
            summary=TemporalFlowSummary(
                seconds=seconds,
                curves=FlowCurves(**{name: _rounded(curve) for name, curve in curves.items()}),
                mean_pace=rounded(_mean(pace)),
                peak_pace_second=max(measured, key=pace.__getitem__) if measured else None,
                inputs=FlowInputs(**inputs),
            ),
        )


def _hook(boundaries: list[float] | None, curves: dict[str, list | None], hook_end: float) -> TemporalFlowSegment:
    """What the first seconds hold, each measure beside the same for the rest of the video."""
    first = math.ceil(hook_end - 1e-6)  # the seconds the hook covers, a partial one included
    data: dict[str, Any] = {}
    if boundaries is not None:
        in_hook = [t for t in boundaries if t < hook_end]
        data.update(
            cuts=len(in_hook),
            cut_times_s=in_hook,
            time_to_first_cut_s=boundaries[0] if boundaries else None,
        )
    for name in ("motion", "pace"):
        if curves[name] is not None:
            data[name] = rounded(_mean(curves[name][:first]))
            data[f"{name}_rest"] = rounded(_mean(curves[name][first:]))
    if curves["audio_dbfs"] is not None:
        hook_db, rest_db = mean_db(curves["audio_dbfs"][:first]), mean_db(curves["audio_dbfs"][first:])
        data["audio_dbfs"] = rounded(hook_db)
        data["audio_vs_rest_db"] = rounded(hook_db - rest_db) if hook_db is not None and rest_db is not None else None
    return TemporalFlowSegment(**data)


def _audio_term(dbfs: float) -> float:
    return min(1.0, max(0.0, (dbfs - AUDIO_QUIET_DB) / (AUDIO_LOUD_DB - AUDIO_QUIET_DB)))


def _absent(context: Context, name: str) -> str:
    result = context.results.get(name)
    if result is None:
        return f"absent: {name} did not run"
    if result.status == "ok":
        return f"absent: {name} gave no curve"
    return f"absent: {name} {result.status.value}: {result.reason or result.error}"


def _count_per_second(times: list[float], seconds: int) -> list[int]:
    return np.bincount(second_of(times, seconds), minlength=seconds).tolist()


def _windowed_rate(counts: list[int]) -> list[float]:
    """Boundaries per second over the CUT_WINDOW_S seconds centred on each second (fewer at the ends)."""
    half = CUT_WINDOW_S // 2
    windows = [counts[max(0, k - half) : k + half + 1] for k in range(len(counts))]
    return [sum(window) / len(window) for window in windows]


def _fit(curve: list, seconds: int) -> list:
    """A per-second curve cut or padded (with None) to `seconds` entries."""
    return (list(curve) + [None] * seconds)[:seconds]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _rounded(curve: list | None) -> list | None:
    """A curve's floats rounded; counts stay integers."""
    return None if curve is None else [rounded(v) if isinstance(v, float) else v for v in curve]
