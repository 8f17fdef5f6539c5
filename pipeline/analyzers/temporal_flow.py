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
measure present when its input is: cuts and cut_times_s (boundaries inside the hook),
time_to_first_cut_s (the video's first boundary, wherever it is; None without any); motion and
pace, with motion_rest and pace_rest over the seconds after the hook; audio_dbfs and
audio_vs_rest_db (the hook's loudness against the rest). On-screen text is not read
(text_overlay is not built yet).

Summary: seconds, curves {cuts, motion, audio_dbfs, pace} (null for a missing input),
mean_pace, peak_pace_second, inputs.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.analyzer import Analyzer, Context, Findings, Partials, Skip
from pipeline.analyzers.shots import loudness_per_second, mean_db, second_of, whole_seconds
from pipeline.schema import Segment

HOOK_S = 3.0
CUT_WINDOW_S = 3  # seconds, centred on the second: one cut makes a pace bump, not a spike
CUT_RATE_FULL = 1.0  # boundaries per second at which the cut term is full
MOTION_FULL = 0.5  # frame widths per second
AUDIO_QUIET_DB, AUDIO_LOUD_DB = -50.0, -10.0


class TemporalFlow(Analyzer):
    name = "temporal_flow"
    after = ("cut_analysis", "camera_analysis", "audio_analysis")
    # Consumes nothing: running in the decoding worker costs no stage of its own.
    in_decoder = True

    def finalize(self, partials: Partials, context: Context) -> Findings:
        duration = context.video.duration_s
        seconds = whole_seconds(duration)
        cuts, motion, audio = context.ok("cut_analysis"), context.ok("camera_analysis"), context.ok("audio_analysis")
        loudness = audio.summary.get("loudness", {}).get("curve") if audio else None
        inputs = {
            "cuts": "cut_analysis" if cuts else _absent(context, "cut_analysis"),
            "motion": "camera_analysis" if motion else _absent(context, "camera_analysis"),
            "audio": "audio_analysis" if loudness else _absent(context, "audio_analysis"),
        }
        if not (cuts or motion or loudness):
            raise Skip("nothing to pace: " + "; ".join(f"{term} {why}" for term, why in inputs.items()))

        boundaries = sorted(s.start_s for s in cuts.segments if s.label == "shot" and s.start_s > 0) if cuts else []
        curves: dict[str, list] = {
            "cuts": _count_per_second(boundaries, seconds) if cuts else None,
            "motion": _fit(motion.summary.get("motion_curve", []), seconds) if motion else None,
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
        hook = Segment(start_s=0.0, end_s=round(hook_end, 4), label="hook", data=hook_data)
        pace = curves["pace"]
        measured = [k for k in range(seconds) if pace[k] is not None]
        return Findings(
            segments=[hook],
            summary={
                "seconds": seconds,
                "curves": {name: _rounded(curve) for name, curve in curves.items()},
                "mean_pace": _round(_mean(pace)),
                "peak_pace_second": max(measured, key=pace.__getitem__) if measured else None,
                "inputs": inputs,
            },
        )


def _hook(boundaries: list[float] | None, curves: dict[str, list], hook_end: float) -> dict:
    """What the first seconds hold, each measure beside the same for the rest of the video."""
    first = math.ceil(hook_end - 1e-6)  # the seconds the hook covers, a partial one included
    data: dict = {}
    if boundaries is not None:
        in_hook = [t for t in boundaries if t < hook_end]
        data.update(
            cuts=len(in_hook),
            cut_times_s=in_hook,
            time_to_first_cut_s=boundaries[0] if boundaries else None,
        )
    for name in ("motion", "pace"):
        if curves[name] is not None:
            data[name] = _round(_mean(curves[name][:first]))
            data[f"{name}_rest"] = _round(_mean(curves[name][first:]))
    if curves["audio_dbfs"] is not None:
        hook_db, rest_db = mean_db(curves["audio_dbfs"][:first]), mean_db(curves["audio_dbfs"][first:])
        data["audio_dbfs"] = _round(hook_db)
        data["audio_vs_rest_db"] = _round(hook_db - rest_db) if hook_db is not None and rest_db is not None else None
    return data


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


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _rounded(curve: list | None) -> list | None:
    return None if curve is None else [_round(v) if isinstance(v, float) else v for v in curve]
