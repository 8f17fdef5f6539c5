"""audio_analysis: loudness over time, tempo and beats, onset density, and a heuristic split of
the track into silence, speech and music.

Everything is measured on the decoded 16 kHz mono track (never by re-reading the file):

- Loudness: RMS in dBFS per 0.5 s window (20·log10 of the RMS, full scale = 1.0, so a
  full-scale sine reads -3.01 dBFS), and an integrated loudness computed the ITU-R BS.1770-4
  way (K-weighting, 400 ms blocks, -70 LUFS absolute and -10 LU relative gates). It is an
  estimate of the file's LUFS, not a certified measurement: the decoder has already mixed
  the channels down to mono (correlated channels come out right, wide stereo up to 3 dB low)
  and dropped everything above 8 kHz.
- Tempo and beats: librosa's onset envelope, beat tracker and onset picker. A track without a
  steady pulse (speech, ambience) gets no tempo: the beat tracker would still answer, biased
  toward 120 BPM, and the number would mean nothing.
- Silence / speech / music: silence is energy below a floor. Each sounding stretch is cut into
  ~2 s blocks and a block is called speech when it has many low-energy frames (the gaps
  between syllables) and no strong periodic pulse, otherwise music. This is a HEURISTIC
  with known failures (sparse music without a steady pulse can read as speech, speech over a loud
  beat reads as music; any steady non-speech sound counts as music); the model-based
  "audio_environment" analyzer is meant to replace it.
- Fingerprint: Chromaprint's, from `fpcalc` fed the decoded track as raw PCM (pipeline/fingerprint.py),
  for the corpus view's same-sound groups; None with the reason when fpcalc is not installed or the
  track is too short (about 3 s).
"""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import fingerprint
from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Skip
from pipeline.analyzers.shots import rounded
from pipeline.schema import Segment, SegmentData, Summary

FRAME = 1024  # samples: 64 ms at 16 kHz
HOP = 256  # 16 ms between frames: beat times and silence edges to about a frame
DB_FLOOR = -100.0  # dBFS given to digital silence (log of zero)
CURVE_WINDOW_S = 0.5

# Silence: quieter than an absolute floor, or far below the track's loud passages (noisy
# recordings have no digital silence, only room tone).
SILENCE_DBFS = -60.0
SILENCE_BELOW_LOUD_DB = 40.0
MIN_SILENCE_S = 0.5  # shorter gaps are pauses inside speech or music, not silence
MIN_SOUND_S = 0.2  # shorter sounds inside silence are clicks and breaths

# Speech vs music, per block of sound.
BLOCK_S = 2.0
LOW_ENERGY_OF_MEAN = 0.5  # a frame is low-energy below half its block's mean RMS (Scheirer & Slaney 1997)
MIN_SPEECH_LOW_ENERGY = 0.1  # 2 s blocks of the two reference speeches: 0.15-0.75; steady music ~0
MAX_PULSE_OVER_LOW_ENERGY = 0.25  # speech if pulse - low_energy_ratio stays below this
PULSE_LAGS_S = (0.3, 1.0)  # beat periods searched: 60-200 BPM
MIN_BEAT_STRENGTH = 0.4  # below this the track has no steady beat: no tempo reported


class AudioAnalysisSegment(SegmentData):
    """A span labelled silence, speech or music (heuristic); the spans tile the track."""

    model_config = ConfigDict(extra="forbid")

    mean_dbfs: float = Field(..., description="RMS level of the span (dBFS, -100 for digital silence)")


class Loudness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrated_lufs_estimate: float | None = Field(
        ..., description="BS.1770-4 gated loudness of the mono mix, an estimate (LUFS; None: nothing passes the gates)"
    )
    rms_dbfs: float = Field(..., description="RMS level of the whole track (dBFS)")
    peak_dbfs: float = Field(..., description="highest native |sample| (dBFS)")
    clipped_fraction: float = Field(..., description="share of native samples at full scale (0-1)")
    max_window_dbfs: float = Field(..., description="the loudest window of the curve (dBFS)")
    dynamic_range_db: float = Field(
        ..., description="95th minus 10th percentile of the sounding windows' levels, a crude loudness range (dB)"
    )
    curve_window_s: float = Field(..., description="length of the curve's windows (s)")
    curve: list[tuple[float, float]] = Field(..., description="[window start (s), RMS level (dBFS)] per window")


class AudioFingerprint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["chromaprint-2"] = Field(..., description="Chromaprint's algorithm (fpcalc's default, 2)")
    item_s: float = Field(..., description="time between two items of the fingerprint (s)")
    item_count: int = Field(..., description="items in the fingerprint (count)")
    raw_b64: str = Field(
        ..., description="the raw fingerprint: its 32-bit items as little-endian uint32, base64 (standard alphabet, padded)"
    )


class AudioAnalysisSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    duration_s: float = Field(..., description="length of the decoded track (s)")
    tempo_bpm: float | None = Field(..., description="librosa's beat tracker's tempo (BPM; None: no steady beat)")
    beat_strength: float = Field(..., description="highest autocorrelation of the onset envelope at 60-200 BPM (0-1)")
    beat_count: int = Field(..., description="beats tracked (count; 0 without a steady beat)")
    beat_times_s: list[float] = Field(..., description="the beats' times (s)")
    onset_count: int = Field(..., description="onsets picked (count)")
    onset_rate_per_s: float = Field(..., description="onsets per second of track (1/s)")
    loudness: Loudness = Field(..., description="levels of the track")
    silence_share: float = Field(..., description="share of the track labelled silence (0-1)")
    speech_share: float = Field(..., description="share of the track labelled speech (0-1)")
    music_share: float = Field(..., description="share of the track labelled music (0-1)")
    classification: Literal["heuristic"] = Field(..., description="how silence, speech and music were told apart")
    fingerprint: AudioFingerprint | None = Field(
        None, description=f"Chromaprint fingerprint of the track's first {fingerprint.MAX_S} s (None: see fingerprint_absent)"
    )
    fingerprint_absent: str | None = Field(
        None, description="why there is no fingerprint (None when there is one, or in a document written before it)"
    )


class AudioAnalysis(Analyzer):
    name = "audio_analysis"
    audio = True
    in_decoder = True  # a few hundred ms of CPU per minute of audio: not worth shipping the track
    summary_type = AudioAnalysisSummary
    segment_type = AudioAnalysisSegment

    def setup(self) -> None:
        # librosa compiles (or loads from numba's cache) its kernels on first use: seconds,
        # which belong here rather than in the first video's timing. A click every 0.5 s, so
        # that the beat tracker's kernels are loaded too. numba's cache is not safe for processes
        # that write and read it at once (workers starting together segfaulted loading a kernel
        # another was writing): one process at a time, machine-wide.
        rate = 16_000
        clicks = np.zeros(3 * rate, np.float32)
        clicks[:: rate // 2] = 0.5
        with open(Path(tempfile.gettempdir()) / "reelscope-numba-warmup.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.process_audio(AudioTrack(clicks, rate, 0.0, 0.0, 0.5))

    def process_audio(self, audio: AudioTrack) -> Findings:
        import librosa  # heavy: only in workers that run this analyzer

        y, sr = audio.samples, audio.sample_rate
        if len(y) < FRAME:
            raise Skip("audio stream too short to analyse (under 64 ms)")
        duration = len(y) / sr
        frame_s = HOP / sr

        rms = librosa.feature.rms(y=y, frame_length=FRAME, hop_length=HOP)[0]
        frame_db = _to_db(rms)
        envelope = librosa.onset.onset_strength(y=y, sr=sr, n_fft=FRAME, hop_length=HOP)
        sounding = _sounding_frames(frame_db, frame_s)

        beat_strength = _pulse(envelope[sounding], frame_s)
        tempo_bpm, beat_times = None, np.zeros(0)
        if beat_strength >= MIN_BEAT_STRENGTH:
            tempo, beat_times = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=HOP, units="time")
            tempo_bpm = float(np.atleast_1d(tempo)[0])
        onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=HOP, units="time")

        segments = _label_spans(sounding, rms, envelope, frame_s, duration, audio.start_s)
        shares = {label: 0.0 for label in ("silence", "speech", "music")}
        for segment in segments:
            shares[segment.label] += (segment.end_s - segment.start_s) / duration

        curve = _loudness_curve(y, sr)
        sounding_windows = [db for _, db in curve if db > SILENCE_DBFS]
        loudness = Loudness(
            integrated_lufs_estimate=_integrated_loudness(y, sr),
            rms_dbfs=rounded(_to_db(np.sqrt(np.mean(np.square(y, dtype=np.float64)))), 2),
            peak_dbfs=rounded(_to_db(audio.peak), 2),
            clipped_fraction=float(audio.clipped_fraction),
            max_window_dbfs=max(db for _, db in curve),
            dynamic_range_db=rounded(np.ptp(np.percentile(sounding_windows, [10, 95])), 2) if sounding_windows else 0.0,
            curve_window_s=CURVE_WINDOW_S,
            curve=[(rounded(t + audio.start_s, 3), db) for t, db in curve],
        )
        fingerprinted, absent = _fingerprint(audio)
        summary = AudioAnalysisSummary(
            duration_s=rounded(duration, 3),
            tempo_bpm=rounded(tempo_bpm, 1) if tempo_bpm else None,
            beat_strength=rounded(beat_strength, 3),
            beat_count=len(beat_times),
            beat_times_s=[rounded(t + audio.start_s, 3) for t in beat_times],
            onset_count=len(onsets),
            onset_rate_per_s=rounded(len(onsets) / duration, 3),
            loudness=loudness,
            silence_share=rounded(shares["silence"]),
            speech_share=rounded(shares["speech"]),
            music_share=rounded(shares["music"]),
            classification="heuristic",
            fingerprint=fingerprinted,
            fingerprint_absent=absent,
        )
        return Findings(segments=segments, summary=summary)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if partials.audio is None:
            raise Skip("no audio track was decoded")
        return partials.audio


def _fingerprint(audio: AudioTrack) -> tuple[AudioFingerprint | None, str | None]:
    try:
        items = fingerprint.chromaprint(audio.samples, audio.sample_rate)
    except fingerprint.FingerprintUnavailable as exc:
        return None, str(exc)
    raw = fingerprint.encode(items)
    return AudioFingerprint(algorithm="chromaprint-2", item_s=fingerprint.ITEM_S, item_count=len(items), raw_b64=raw), None


def _to_db(rms: np.ndarray | float) -> np.ndarray:
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), DB_FLOOR)


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, end, value) of each run of equal values, end exclusive."""
    if len(mask) == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    return [(a, b, bool(mask[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def _sounding_frames(frame_db: np.ndarray, frame_s: float) -> np.ndarray:
    """Frames that are not silence, after filling short pauses and dropping short blips."""
    floor = max(SILENCE_DBFS, float(np.percentile(frame_db, 95)) - SILENCE_BELOW_LOUD_DB)
    sounding = frame_db >= floor
    for start, end, value in _runs(sounding):
        if not value and (end - start) * frame_s < MIN_SILENCE_S:
            sounding[start:end] = True
    for start, end, value in _runs(sounding):
        if value and (end - start) * frame_s < MIN_SOUND_S:
            sounding[start:end] = False
    return sounding


def _pulse(envelope: np.ndarray, frame_s: float) -> float:
    """How periodic the onset envelope is: the highest normalised autocorrelation at a beat
    period of 60-200 BPM (1.0: a metronome; speech measures 0.1-0.35)."""
    lo, hi = (round(lag / frame_s) for lag in PULSE_LAGS_S)
    if len(envelope) < 2 * lo:
        return 0.0
    centred = envelope - envelope.mean()
    spectrum = np.fft.rfft(centred, 2 * len(centred))  # zero-padded: linear, not circular
    ac = np.fft.irfft(spectrum * spectrum.conj())[: hi + 1]
    if ac[0] <= 1e-12:
        return 0.0
    return float(max(0.0, ac[lo : hi + 1].max() / ac[0]))


def _label_spans(
    sounding: np.ndarray,
    rms: np.ndarray,
    envelope: np.ndarray,
    frame_s: float,
    duration: float,
    start_s: float,
) -> list[Segment]:
    """Silence runs, and each sounding run cut into blocks called speech or music; adjacent
    spans with the same label merged."""
    spans: list[tuple[int, int, str]] = []
    for start, end, value in _runs(sounding):
        if not value:
            spans.append((start, end, "silence"))
            continue
        blocks = max(1, round((end - start) * frame_s / BLOCK_S))
        for block in np.array_split(np.arange(start, end), blocks):
            a, b = int(block[0]), int(block[-1]) + 1
            level = rms[a:b]
            low_energy = float(np.mean(level < LOW_ENERGY_OF_MEAN * level.mean())) if level.mean() > 0 else 0.0
            pulse = _pulse(envelope[a:b], frame_s)
            speech = low_energy >= MIN_SPEECH_LOW_ENERGY and pulse - low_energy < MAX_PULSE_OVER_LOW_ENERGY
            spans.append((a, b, "speech" if speech else "music"))
    merged: list[tuple[int, int, str]] = []
    for a, b, label in spans:
        if merged and merged[-1][2] == label:
            merged[-1] = (merged[-1][0], b, label)
        else:
            merged.append((a, b, label))
    segments = []
    for a, b, label in merged:
        # Frames are centred on hop multiples: frame i covers about [i, i+1) hops.
        t0, t1 = a * frame_s, min(b * frame_s, duration)
        mean_db = _to_db(np.sqrt(np.mean(np.square(rms[a:b]))))
        segments.append(
            Segment(
                start_s=rounded(t0 + start_s, 3),
                end_s=rounded(t1 + start_s, 3),
                label=label,
                data=AudioAnalysisSegment(mean_dbfs=rounded(mean_db, 2)),
            )
        )
    return segments


def _loudness_curve(y: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """(window start, RMS dBFS) per CURVE_WINDOW_S window; the last window may be shorter."""
    step = int(CURVE_WINDOW_S * sr)
    curve = []
    for i in range(0, len(y), step):
        window = y[i : i + step].astype(np.float64)
        curve.append((i / sr, rounded(_to_db(np.sqrt(np.mean(window * window))), 2)))
    return curve


def _k_weighting(sr: int) -> np.ndarray:
    """BS.1770 K-weighting (high shelf + high pass) as second-order sections for any rate,
    from the analog prototypes libebur128 derives; exact to the standard's table at 48 kHz."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    shelf += [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, high_pass])


def _integrated_loudness(y: np.ndarray, sr: int) -> float | None:
    """Gated BS.1770-4 loudness of a mono signal in LUFS; None when no block passes the gates
    (silence, or under 400 ms of audio)."""
    from scipy.signal import sosfilt

    weighted = sosfilt(_k_weighting(sr), y.astype(np.float64))
    block, step = int(0.4 * sr), int(0.1 * sr)  # 400 ms blocks, 75% overlap
    if len(weighted) < block:
        return None
    # Mean square of every block from a cumulative sum: O(n) however many blocks.
    energy = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
    starts = np.arange(0, len(weighted) - block + 1, step)
    power = (energy[starts + block] - energy[starts]) / block
    power = power[-0.691 + 10 * np.log10(np.maximum(power, 1e-20)) > -70.0]
    if len(power) == 0:
        return None
    relative_gate = -0.691 + 10 * np.log10(power.mean()) - 10.0
    power = power[-0.691 + 10 * np.log10(power) > relative_gate]
    return rounded(-0.691 + 10 * np.log10(power.mean()), 2)
