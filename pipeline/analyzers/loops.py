"""Loops: whether the end of a video leads back into its start, so that a player repeating it
shows no seam. temporal_flow runs these steps on cut_analysis's frames and on the audio track.

Picture: process_frames keeps, per batch, its first and last frame as THUMB_SIDE x THUMB_SIDE RGB
thumbnails (the video's first and last frames are among them), and for the first frame of every
1 / STEP_FPS s the step: the mean absolute difference between the thumbnail of that frame and
of the frame just before it (0-1 of full scale). The wrap is the same difference between the
video's last frame and its first: what a player shows when it jumps back. It looks like an
ordinary step when it is at most max(NOISE, STEP_FACTOR x the median step): a seamless wrap.
A video that fades to or from black (cut_analysis) ends on purpose: never seamless.

Sound: the first and last AUDIO_WINDOW_S of the track, their RMS level (dBFS) and their spectra
in log-spaced bands (BAND_EDGES_HZ); the spectral similarity is 1 minus the total variation
between the two band-energy distributions (0-1). The sound continues when both windows are
silent (under SILENT_DBFS), or their levels lie within LEVEL_MAX_DB and the spectra are at least
SPECTRUM_MIN alike.

What it can tell: that the last frame looks like the frame before the first (the picture
continues) and the sound does not jump in level or timbre. What it cannot: motion direction (a
wave that ends where it started looks seamless whichever way it moves), rhythm or melody across
the wrap, and a still video loops seamlessly by this measure. Shorter than MIN_S: skipped.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import AudioTrack, FrameBatch
from pipeline.analyzers.shots import first_in_step, rounded
from pipeline.schema import AnalyzerResult

THUMB_SIDE = 24  # px: enough for what the frame shows, small enough to keep one a second
STEP_FPS = 5.0  # steps measured per second of video
NOISE = 0.02  # mean difference (0-1) that compression alone reaches between two alike frames
STEP_FACTOR = 2.0
MIN_S = 2.0  # the first and the last second must not overlap
AUDIO_WINDOW_S = 0.25
SILENT_DBFS = -60.0
LEVEL_MAX_DB = 6.0
SPECTRUM_MIN = 0.7
BAND_EDGES_HZ = np.geomspace(100.0, 8000.0, 17)  # 16 bands up to the 16 kHz decode's Nyquist

BASIS = (
    "picture: the last frame against the first, as a step between consecutive frames "
    f"(seamless when the difference is at most max({NOISE}, {STEP_FACTOR:g} x the median step), "
    f"{THUMB_SIDE} px thumbnails; a fade to or from black is never seamless); sound: the last "
    f"{AUDIO_WINDOW_S:g} s against the first, level within {LEVEL_MAX_DB:g} dB and band spectra "
    f"{SPECTRUM_MIN:g} alike, or both silent. It cannot see direction of motion, rhythm or melody "
    "across the wrap; a still video counts as seamless"
)


class LoopSound(BaseModel):
    """The first and last AUDIO_WINDOW_S of the sound track."""

    model_config = ConfigDict(extra="forbid")

    first_dbfs: float | None = Field(..., description="RMS level of the track's first 0.25 s (dBFS; None: digital silence)")
    last_dbfs: float | None = Field(..., description="RMS level of its last 0.25 s (dBFS; None: digital silence)")
    spectrum_similarity: float | None = Field(
        ..., description="1 - total variation between the two windows' band energies (0-1; None: a window is silent)"
    )
    continuous: bool = Field(..., description="both silent, or levels within 6 dB and spectra at least 0.7 alike")


class Loop(BaseModel):
    """Whether the last second leads back into the first. `skipped` says why nothing was measured."""

    model_config = ConfigDict(extra="forbid")

    seamless: bool | None = Field(
        ..., description="the wrap is a continuous picture and, with sound, continuous sound (None: skipped)"
    )
    wrap_difference: float | None = Field(
        ..., description="mean |last frame - first frame| at 24 px, RGB (0-1 of full scale)"
    )
    end_start_similarity: float | None = Field(..., description="1 - wrap_difference (0-1)")
    median_step: float | None = Field(
        ..., description="the median difference between a frame and the one before it, over the video (0-1)"
    )
    picture_continuous: bool | None = Field(
        ..., description="wrap_difference at most max(0.02, 2 x median_step), and no fade to or from black"
    )
    sound: LoopSound | None = Field(..., description="sound continuity across the wrap (None: no sound track)")
    basis: str = Field(BASIS, description="what the measure rests on and what it cannot tell")
    skipped: str | None = Field(None, description="why the loop was not measured (None: measured)")


def frame_partial(batch: FrameBatch) -> dict[str, Any]:
    """The batch's first and last frames as thumbnails, and its steps."""
    stepped = np.flatnonzero(first_in_step(batch.pts_s, batch.prev_pts_s, 1.0 / STEP_FPS))
    steps = []
    for i in stepped:
        before = batch.frames[i - 1] if i else batch.prev_frame
        if before is not None:
            steps.append(_difference(_thumb(before), _thumb(batch.frames[i])))
    last = len(batch.frames) - 1
    return {
        "edges": [(float(batch.pts_s[0]), _thumb(batch.frames[0])), (float(batch.pts_s[last]), _thumb(batch.frames[last]))],
        "steps": np.array(steps, np.float32),
    }


def audio_partial(audio: AudioTrack) -> dict[str, Any] | None:
    """Level and band spectrum of the track's first and last AUDIO_WINDOW_S (None: shorter than two)."""
    n = int(AUDIO_WINDOW_S * audio.sample_rate)
    if len(audio.samples) < 2 * n:
        return None
    return {"first": _window(audio.samples[:n], audio.sample_rate), "last": _window(audio.samples[-n:], audio.sample_rate)}


def loop(frames: list[dict], sound: dict | None, has_audio: bool, duration_s: float, cuts: AnalyzerResult | None) -> Loop:
    if duration_s < MIN_S:
        return _skipped(f"the video ({duration_s:.2f} s) is shorter than {MIN_S:g} s: its first and last second overlap")
    if not frames:
        return _skipped("no video frames decoded")
    edges = sorted((edge for part in frames for edge in part["edges"]), key=lambda edge: edge[0])
    wrap = _difference(edges[-1][1], edges[0][1])
    steps = np.concatenate([part["steps"] for part in frames])
    median_step = float(np.median(steps)) if len(steps) else 0.0
    faded = cuts is not None and (cuts.summary.opens_with_fade or cuts.summary.closes_with_fade)
    picture = wrap <= max(NOISE, STEP_FACTOR * median_step) and not faded
    heard = _sound(sound) if has_audio and sound is not None else None
    return Loop(
        seamless=picture and (heard is None or heard.continuous),
        wrap_difference=rounded(wrap),
        end_start_similarity=rounded(1.0 - wrap),
        median_step=rounded(median_step),
        picture_continuous=picture,
        sound=heard,
    )


def _skipped(reason: str) -> Loop:
    return Loop(
        seamless=None, wrap_difference=None, end_start_similarity=None, median_step=None, picture_continuous=None,
        sound=None, skipped=reason,
    )


def _thumb(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.absdiff(a, b).mean()) / 255.0


def _window(samples: np.ndarray, rate: int) -> tuple[float | None, np.ndarray]:
    """RMS dBFS (None: digital silence) and the share of spectral energy in each band."""
    power = float(np.mean(samples.astype(np.float64) ** 2))
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1.0 / rate)
    bands = np.array([spectrum[(frequencies >= lo) & (frequencies < hi)].sum() for lo, hi in zip(BAND_EDGES_HZ, BAND_EDGES_HZ[1:])])
    total = bands.sum()
    return (10 * np.log10(power) if power > 0 else None), (bands / total if total > 0 else bands)


def _sound(sound: dict) -> LoopSound:
    (first_db, first_bands), (last_db, last_bands) = sound["first"], sound["last"]
    silent = [db is None or db < SILENT_DBFS for db in (first_db, last_db)]
    if any(silent):
        similarity = None
        continuous = all(silent)
    else:
        similarity = 1.0 - 0.5 * float(np.abs(first_bands - last_bands).sum())
        continuous = abs(first_db - last_db) <= LEVEL_MAX_DB and similarity >= SPECTRUM_MIN
    return LoopSound(
        first_dbfs=rounded(first_db, 2),
        last_dbfs=rounded(last_db, 2),
        spectrum_similarity=rounded(similarity, 3),
        continuous=continuous,
    )
