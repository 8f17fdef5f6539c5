"""Time rules shared by the analyzers that read cut_analysis's shots or give curves per second.

    shots_and_transitions  the shots cut_analysis found and its fades and dissolves (whose
                           frames belong to no single shot); the whole video as one shot
                           when it did not succeed
    during, outside        which times fall in a span, or in none of some spans, allowing for
                           the rounding of cut_analysis's times
    first_in_step          subsampling: the first frame of each step of video time
    whole_seconds,         the per-second curves' length and bins: second k is [k, k+1) s,
    second_of              a sliver of a last second counting in the one before
    rounded                how every analyzer rounds the figures it writes (None and NaN stay None)
    ShotsFrom              what a per-shot analyzer's summary says its shots came from
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from pipeline.schema import AnalyzerResult

Span = tuple[float, float]  # (start_s, end_s)
ShotsFrom = Literal["cut_analysis", "whole_video"]  # where a per-shot analyzer's shots came from

TIME_SLACK_S = 1e-3  # cut_analysis rounds its times to 0.1 ms
TRANSITIONS = ("dissolve", "fade", "fade_in", "fade_out")  # cut_analysis's spans that belong to no shot
TAIL_S = 0.25  # a last partial second shorter than this counts in the one before


def shots_and_transitions(cuts: AnalyzerResult | None, whole_video: Span) -> tuple[list[Span], list[Span]]:
    """The spans of every shot in the cut_analysis result `cuts`, in order, and of its fades and
    dissolves. Without a result (cut_analysis failed, was skipped or not asked for) or a shot in
    it, `whole_video` is the one shot and there is no transition."""
    if cuts is None:
        return [whole_video], []
    shots = sorted((s.start_s, s.end_s) for s in cuts.segments if s.label == "shot")
    transitions = [(s.start_s, s.end_s) for s in cuts.segments if s.label in TRANSITIONS]
    return shots or [whole_video], transitions


def during(times: np.ndarray, span: Span) -> np.ndarray:
    """Mask of the times in [start, end) of `span`, both ends moved TIME_SLACK_S earlier: a frame
    at a rounded boundary belongs to the shot it opens."""
    start, end = span
    return (times >= start - TIME_SLACK_S) & (times < end - TIME_SLACK_S)


def outside(times: np.ndarray, spans: list[Span]) -> np.ndarray:
    """Mask of the times in none of `spans` (as `during` reads them)."""
    clear = np.ones(len(times), bool)
    for span in spans:
        clear &= ~during(times, span)
    return clear


def first_in_step(times: np.ndarray, previous: float | None, step: float) -> np.ndarray:
    """Mask of the frames that open a new `step` of video time (the first frame of each step):
    about 1/step frames a second whatever the frame rate, decided per batch from the time of
    the frame before it."""
    slots = np.floor(np.concatenate([[-np.inf if previous is None else previous], times]) / step + 1e-6)
    return slots[1:] > slots[:-1]


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A figure as the document writes it: `digits` decimals (seconds: 0.1 ms), None for a missing
    or non-finite value (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def whole_seconds(duration_s: float) -> int:
    """How many seconds a per-second curve of the video has: a last partial second counts unless
    it is a sliver under TAIL_S (an audio track a few ms longer than the pictures)."""
    return max(1, math.ceil(duration_s - TAIL_S))


def second_of(times: np.ndarray | list[float], seconds: int) -> np.ndarray:
    """Index of the second each time counts in, on a curve of `seconds` seconds: its whole
    second, the last one for a sliver past the end."""
    return np.clip(np.asarray(times, np.float64).astype(np.int64), 0, seconds - 1)


def mean_db(values: list[float | None]) -> float | None:
    """Levels averaged as powers, back in dB."""
    powers = [10 ** (db / 10) for db in values if db is not None]
    return 10 * math.log10(max(sum(powers) / len(powers), 1e-10)) if powers else None


def loudness_per_second(curve: list[tuple[float, float]], seconds: int) -> list[float | None]:
    """Mean power, in dBFS, of audio_analysis's loudness windows starting in each second."""
    levels: list[list[float]] = [[] for _ in range(seconds)]
    for second, (_, db) in zip(second_of([start for start, _ in curve], seconds), curve):
        levels[second].append(db)
    return [mean_db(dbs) for dbs in levels]
