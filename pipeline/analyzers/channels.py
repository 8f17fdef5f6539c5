"""Two channels, two microphones: whether a stereo track's channels carry different speakers,
and which words on one channel are the other speaker leaking into its microphone. The rules are
in speech_transcription's docstring ("Channels"); the transcripts here are what Whisper heard
on each channel (actors.whisper.Heard: `segments` of windows holding `words` as (text, start,
end, probability))."""

from __future__ import annotations

import math

import numpy as np

from pipeline.analyzers.audio import SILENCE_DBFS

# Two channels, two microphones (module docstring, "Channels").
SPEAKERS = ("left", "right")
BALANCE_FRAME_S = 0.1
SOUNDING_DB = 25.0  # frames this far under the loudest 1% still sound (speech_rate's threshold)
# One voice panned, or a spaced pair, keeps its balance within a few dB; two lapel mics with
# -20 dB crosstalk swing by 40 dB, with -6 dB (mics a metre apart) by 12.
SWING_DB = 10.0
SAME_CORRELATION = 0.5  # one sound on both channels correlates near 1; two voices near 0
# A leak is the other mic's sound, delayed (LEAK_LAG_S: 7 m of path) and quieter: its word
# correlates with the other channel at some lag (a pure copy at 0.99; two voices talking at
# once, 0.0-0.35 word by word, measured on stereo_diarization.wav).
CROSSTALK_DB = 3.0
LEAK_CORRELATION = 0.6
LEAK_LAG_S = 0.02


def channel_measures(channels: np.ndarray, rate: int) -> tuple[float | None, float]:
    """(swing of the left-right balance in dB over the sounding frames, correlation of the two
    channels) of a (2, n) track; swing None when no frame sounds."""
    frame = round(BALANCE_FRAME_S * rate)
    count = channels.shape[1] // frame
    frames = channels[:, : count * frame].reshape(2, count, frame)
    power = np.einsum("cij,cij->ci", frames, frames, dtype=np.float64)  # per frame, without a float64 copy
    level = 10 * np.log10(np.maximum(power / frame, 1e-12))
    loudest = level.max(axis=0)
    swing = None
    if loudest.size:
        sounding = loudest >= max(float(np.percentile(loudest, 99)) - SOUNDING_DB, SILENCE_DBFS)
        balance = (level[0] - level[1])[sounding]
        swing = float(np.percentile(balance, 90) - np.percentile(balance, 10)) if balance.size else None
    cross = float(np.einsum("ij,ij->", frames[0], frames[1], dtype=np.float64))
    energy = math.sqrt(float(power[0].sum()) * float(power[1].sum()))
    return swing, cross / energy if energy > 0 else 1.0  # silence: nothing tells the channels apart


def drop_crosstalk(heard: list, channels: np.ndarray, start_s: float, rate: int) -> int:
    """Drops, from each channel's windows, the words that are the other channel's speaker leaking
    into this microphone (module docstring, "Channels"). Returns how many were dropped."""
    lag = round(LEAK_LAG_S * rate)

    def samples(start: float, end: float) -> np.ndarray:
        # At least two lags long: a word timed to zero length still gets a span to compare.
        middle, half = (start + end) / 2 - start_s, max(end - start, 4 * LEAK_LAG_S) / 2
        return channels[:, max(0, round((middle - half) * rate)) : max(0, round((middle + half) * rate))]

    # Each channel's word spans, sorted, with the latest end so far: "a word at that time" by bisection.
    spans = []
    for transcript in heard:
        timed = sorted((w[1], w[2]) for s in transcript.segments for w in s["words"])
        spans.append((np.array([t[0] for t in timed]), np.maximum.accumulate([t[1] for t in timed] or [0.0])))

    def leaked(own: int, start: float, end: float) -> bool:
        starts, latest_end = spans[1 - own]
        before = int(np.searchsorted(starts, end))
        if before == 0 or latest_end[before - 1] <= start:
            return False  # the other channel says nothing then: keep the words, wherever they came from
        here, there = samples(start, end)[[own, 1 - own]].astype(np.float64)
        if here.size <= 2 * lag:
            return False  # a word timed past the track's end: nothing to compare
        levels = [10 * math.log10(max(float(np.mean(x * x)), 1e-12)) for x in (here, there)]
        return levels[1] - levels[0] >= CROSSTALK_DB and _peak_correlation(here, there, lag) >= LEAK_CORRELATION

    dropped = 0
    for own, transcript in enumerate(heard):
        windows = []
        for window in transcript.segments:
            words = [w for w in window["words"] if not leaked(own, w[1], w[2])]
            dropped += len(window["words"]) - len(words)
            if words or not window["words"]:
                text = "".join(w[0] for w in words).strip() if words else window["text"]
                windows.append({**window, "words": words, "text": text})
        transcript.segments = windows
    return dropped


def _peak_correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """The highest |normalised cross-correlation| of two equal-length signals within +-lag samples."""
    a, b = a - a.mean(), b - b.mean()
    size = 1 << (2 * len(a)).bit_length()
    full = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    near = np.concatenate([full[-lag:], full[: lag + 1]])
    norm = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.abs(near).max()) / norm if norm > 0 else 0.0


def union(stretches: list[tuple[float, float]]) -> list[tuple[float, float]]:
    joined: list[tuple[float, float]] = []
    for start, end in sorted(stretches):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined
