"""Generated sounds and clips for the corpus view's tests and benchmark, truth known by
construction: a "song" (a seeded random melody with percussion), a "voice" (seeded speech-like
syllables: a glottal pulse train through vowel formants, with pauses), and clips of
pipeline.sample's shots over any mono track, so that a corpus can reuse one song under different
voices, or one clip re-encoded and cropped.
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from pipeline.sample import ClipSpec, encode_mono, render_frames

RATE = 44100

# (F1, F2, F3) of a few vowels (Hz), Peterson & Barney's averages for adult men.
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


def song(seed: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """A melody of decaying harmonic notes on a seeded tempo and scale, a noise hit on each note."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    track = np.zeros(n)
    beat = 60.0 / rng.uniform(90, 140)
    for k in range(int(seconds / beat) + 1):
        start = int(k * beat * rate)
        if start >= n:
            break
        end = min(n, start + int(beat * rate))
        t = np.arange(end - start) / rate
        pitch = 440 * 2 ** ((int(rng.integers(48, 72)) - 69) / 12)
        envelope = np.exp(-3 * t)
        track[start:end] += sum(envelope * np.sin(2 * np.pi * pitch * h * t) / h for h in (1, 2, 3))
        hit = min(800, end - start)
        track[start : start + hit] += rng.normal(0, 0.5, hit) * np.exp(-np.arange(hit) / 200)
    return (0.3 * track / np.abs(track).max()).astype(np.float32)


def voice(seed: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """Speech-like syllables (~4 a second, pauses between phrases): a pulse train at a gliding
    pitch of 100-200 Hz filtered by the formants of a random vowel per syllable."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    track = np.zeros(n)
    t = 0.1
    while t < seconds:
        length = rng.uniform(0.15, 0.3)
        start, end = int(t * rate), min(n, int((t + length) * rate))
        pitch = rng.uniform(100, 200) * np.linspace(1.0, rng.uniform(0.85, 1.15), end - start)
        phase = np.cumsum(pitch / rate)
        source = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)  # one pulse a period
        for formant, width in zip(VOWELS[int(rng.integers(len(VOWELS)))], (80, 100, 120)):
            r = np.exp(-np.pi * width / rate)
            source = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], source)
        envelope = np.sin(np.linspace(0, np.pi, end - start)) ** 2
        track[start:end] += source * envelope
        t += length + (rng.uniform(0.4, 0.8) if rng.random() < 0.15 else rng.uniform(0.02, 0.08))
    return (0.3 * track / np.abs(track).max()).astype(np.float32)


def write_clip_with_audio(
    path: str, spec: ClipSpec, audio: np.ndarray | None, crop: float = 0.0, size: tuple[int, int] | None = None, crf: int = 18
) -> str:
    """spec's pictures over `audio` (mono float at RATE; None: no audio track) as H.264 + AAC.
    `crop` cuts that share of the width and height off each side, `size` rescales the result:
    how a re-upload changes a clip."""
    rate = Fraction(spec.fps).limit_denominator(1001)
    width, height = size or (spec.width, spec.height)
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": "veryfast"}
        sound = container.add_stream("aac", rate=RATE, layout="mono") if audio is not None else None
        for i, (_, frame) in enumerate(render_frames(spec)):
            if crop:
                dy, dx = int(frame.shape[0] * crop), int(frame.shape[1] * crop)
                frame = frame[dy : frame.shape[0] - dy, dx : frame.shape[1] - dx]
            if frame.shape[:2] != (height, width):
                frame = cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=cv2.INTER_AREA)
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = i
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if sound is not None:
            samples = np.clip(audio[: int(spec.duration_s * RATE)], -1.0, 1.0).astype(np.float32)
            encode_mono(container, sound, samples, RATE)
    return path
