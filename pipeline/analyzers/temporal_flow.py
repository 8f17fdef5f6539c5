"""Pacing over time, the hook, loops and stitches: how much happens each second, in the first
seconds, and whether the end leads back into the start.

Pacing reads other analyzers' results: cut_analysis's shots, camera_analysis's per-second motion
curve and audio_analysis's loudness curve. Any of them may be missing (failed, skipped, not
requested); the pace then has no term from it, and the summary's `inputs` says which were used.

Per second k of the video ([k, k+1) s; a sliver of a last second counts in the one before):
    cuts        shot boundaries (cuts, fades, dissolves) in that second
    motion      camera_analysis's motion energy (frame widths per second; None where unmeasured)
    audio_dbfs  mean power of audio_analysis's loudness windows starting in that second, in dBFS
    pace        mean of the terms available that second, each 0..1:
                  cuts   min(1, boundaries per second over the CUT_WINDOW_S window around it / CUT_RATE_FULL)
                  motion min(1, motion / MOTION_FULL)
                  audio  (audio_dbfs - AUDIO_QUIET_DB) / (AUDIO_LOUD_DB - AUDIO_QUIET_DB), clipped to 0..1

The hook segment spans the first HOOK_S seconds (the whole video when shorter: `shorter_than_hook`
says so). Its data, each measure None when its input is missing: cuts and cut_times_s (boundaries
inside the hook), cuts_first_1s, time_to_first_cut_s (the video's first boundary, wherever it
is; None without any); `firsts`: when the first cut, on-screen text (text_overlay's tracks, at
its 2 fps sampling), spoken word (speech_transcription's word times) and face (eye_tracking's
face tracks, else age_estimation's) appear, whether within 1 s and 3 s, or why it was not
measured; motion and pace, with motion_rest and pace_rest over the seconds after the hook;
audio_dbfs and audio_vs_rest_db (the hook's loudness against the rest).

Summary: seconds, curves {cuts, motion, audio_dbfs, pace} (null for a missing input),
mean_pace, peak_pace_second, inputs; loop (pipeline/analyzers/loops.py: its own steps on
cut_analysis's frames, decoded for it anyway, and on the sound track); stitch
(pipeline/analyzers/formats.py, from the shots and face tracks).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, FrameBatch, Partials, Skip
from pipeline.analyzers import loops
from pipeline.analyzers.cuts import FRAMES
from pipeline.analyzers.formats import Stitch, face_spans, stitch
from pipeline.analyzers.shots import loudness_per_second, mean_db, rounded, second_of, whole_seconds
from pipeline.schema import Segment, SegmentData, Summary, VideoInfo

HOOK_S = 3.0
FIRST_S = 1.0  # the hook's first, shorter window
CUT_WINDOW_S = 3  # seconds, centred on the second: one cut makes a pace bump, not a spike
CUT_RATE_FULL = 1.0  # boundaries per second at which the cut term is full
MOTION_FULL = 0.5  # frame widths per second
AUDIO_QUIET_DB, AUDIO_LOUD_DB = -50.0, -10.0


class HookEvent(BaseModel):
    """When something first appears in the video, and whether within the hook's windows."""

    model_config = ConfigDict(extra="forbid")

    time_s: float | None = Field(
        ..., description="when it first appears (s; None: never in the video, or not measured: see reason)"
    )
    in_first_1s: bool | None = Field(..., description="it appears before 1 s (None: not measured)")
    in_first_3s: bool | None = Field(..., description="it appears before 3 s (None: not measured)")
    source: str | None = Field(..., description="the analyzer it was read from (None: not measured)")
    reason: str | None = Field(None, description="why it was not measured (None: measured)")


class HookFirsts(BaseModel):
    """The first cut, on-screen text, spoken word and face."""

    model_config = ConfigDict(extra="forbid")

    cut: HookEvent = Field(..., description="the first shot boundary (cut_analysis)")
    text: HookEvent = Field(
        ..., description="the first on-screen text track, watermarks included (text_overlay; up to 0.5 s late at 2 fps)"
    )
    word: HookEvent = Field(..., description="the first spoken word's start (speech_transcription)")
    face: HookEvent = Field(
        ..., description="the first face track (eye_tracking, else age_estimation: its tracks with an age read)"
    )


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
    cuts_first_1s: int | None = Field(None, description="shot boundaries before 1 s (count)")
    firsts: HookFirsts | None = Field(None, description="when the first cut, text, word and face appear")
    shorter_than_hook: str | None = Field(
        None, description="the video is shorter than the 3 s hook: the hook is all of it and has no rest (None: longer)"
    )


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
    loop: loops.Loop | None = Field(None, description="whether the last second leads back into the first (see its basis)")
    stitch: Stitch | None = Field(
        None, description="whether the video opens like a stitch: a borrowed clip, then a cut to a face (see its basis)"
    )


class TemporalFlow(Analyzer):
    name = "temporal_flow"
    # cut_analysis's frames, decoded for it anyway; the loop's few numpy steps run in the decoding
    # worker on frames still in memory.
    frames = FRAMES
    audio = True
    after = ("cut_analysis", "camera_analysis", "audio_analysis")
    uses = ("text_overlay", "speech_transcription", "eye_tracking", "age_estimation")
    in_decoder = True
    summary_type = TemporalFlowSummary
    segment_type = TemporalFlowSegment

    @classmethod
    def missing_input(cls, info: VideoInfo) -> str | None:
        return None  # paces a sound track alone, or a picture alone

    def process_frames(self, batch: FrameBatch) -> dict:
        return loops.frame_partial(batch)

    def process_audio(self, audio: AudioTrack) -> dict | None:
        return loops.audio_partial(audio)

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
        hook_data = TemporalFlowSegment(
            **_hook(boundaries if cuts else None, curves, hook_end),
            firsts=_firsts(boundaries if cuts else None, context),
            shorter_than_hook=f"the video ({duration:.2f} s) is shorter than the {HOOK_S:g} s hook" if duration < HOOK_S else None,
        )
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
                loop=loops.loop(partials.frames, partials.audio, context.video.has_audio, duration, cuts),
                stitch=stitch(cuts, {name: context.results.get(name) for name in FACES_FROM}, duration),
            ),
        )


def _hook(boundaries: list[float] | None, curves: dict[str, list | None], hook_end: float) -> dict[str, Any]:
    """What the first seconds hold, each measure beside the same for the rest of the video."""
    first = math.ceil(hook_end - 1e-6)  # the seconds the hook covers, a partial one included
    data: dict[str, Any] = {}
    if boundaries is not None:
        in_hook = [t for t in boundaries if t < hook_end]
        data.update(
            cuts=len(in_hook),
            cut_times_s=in_hook,
            time_to_first_cut_s=boundaries[0] if boundaries else None,
            cuts_first_1s=sum(1 for t in in_hook if t < FIRST_S),
        )
    for name in ("motion", "pace"):
        if curves[name] is not None:
            data[name] = rounded(_mean(curves[name][:first]))
            data[f"{name}_rest"] = rounded(_mean(curves[name][first:]))
    if curves["audio_dbfs"] is not None:
        hook_db, rest_db = mean_db(curves["audio_dbfs"][:first]), mean_db(curves["audio_dbfs"][first:])
        data["audio_dbfs"] = rounded(hook_db)
        data["audio_vs_rest_db"] = rounded(hook_db - rest_db) if hook_db is not None and rest_db is not None else None
    return data


FACES_FROM = ("eye_tracking", "age_estimation")


def _firsts(boundaries: list[float] | None, context: Context) -> HookFirsts:
    """The first cut, text, word and face, each from its analyzer or why not."""
    text = context.ok("text_overlay")
    speech = context.ok("speech_transcription")
    source, faces, no_faces = face_spans({name: context.results.get(name) for name in FACES_FROM})
    return HookFirsts(
        cut=_event(boundaries, "cut_analysis", context),
        text=_event([s.start_s for s in text.segments if s.label == "text"] if text else None, "text_overlay", context),
        word=_event(
            [w.start_s for s in speech.segments for w in s.data.words] if speech else None, "speech_transcription", context
        ),
        face=_event([a for a, _ in faces], source, context) if faces is not None else _unmeasured(no_faces),
    )


def _event(times: list[float] | None, source: str, context: Context) -> HookEvent:
    if times is None:
        return _unmeasured(_absent(context, source).removeprefix("absent: "))
    first = min(times, default=None)
    return HookEvent(
        time_s=rounded(first),
        in_first_1s=first is not None and first < FIRST_S,
        in_first_3s=first is not None and first < HOOK_S,
        source=source,
    )


def _unmeasured(reason: str) -> HookEvent:
    return HookEvent(time_s=None, in_first_1s=None, in_first_3s=None, source=None, reason=reason)


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
