"""Synthetic clips whose truth is known by construction: the embedded sample for a first run,
and the fixtures of the test suite.

A clip is a list of shots. Each shot is a textured picture (so optical flow has something to
track) moving as asked, optionally with a caption burned in; shots meet with a hard cut or a
dissolve. The audio track is a click track at a known tempo over a tone, with optional silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np


@dataclass(frozen=True)
class Shot:
    seconds: float
    color: tuple[int, int, int] = (200, 80, 40)  # base RGB of the texture
    motion: str = "static"  # static | pan | tilt | zoom | shake
    # pan/tilt: pixels per second the view moves right/down (negative: left/up); zoom: % per second
    speed: float = 120.0
    text: str | None = None  # burned into the lower third
    dissolve_in_s: float = 0.0  # cross-fade from the previous shot over this many seconds
    seed: int = 0


@dataclass(frozen=True)
class AudioSpec:
    bpm: float = 120.0  # clicks per minute
    tone_hz: float = 220.0
    level: float = 0.3
    silence: tuple[tuple[float, float], ...] = ()  # (start_s, end_s) spans of digital silence


@dataclass(frozen=True)
class ClipSpec:
    shots: tuple[Shot, ...]
    fps: float = 30.0
    width: int = 320
    height: int = 240
    audio: AudioSpec | None = field(default_factory=AudioSpec)
    rotation: int = 0  # display rotation (degrees clockwise, as phones tag it)

    @property
    def duration_s(self) -> float:
        return sum(s.seconds for s in self.shots)

    def cut_times(self) -> list[float]:
        """Start time of every shot after the first (the middle of a dissolve)."""
        times, t = [], 0.0
        for shot in self.shots[:-1]:
            t += shot.seconds
            times.append(t)
        return times


SHAKE_PX = 6  # largest shake offset


def _texture(shot: Shot, width: int, height: int) -> np.ndarray:
    """Blurred noise tinted with the shot's colour, large enough for the whole move: a view that
    wrapped around would jump mid-shot and look like a cut."""
    travel = int(np.ceil(abs(shot.speed) * shot.seconds)) + 1
    canvas_w = width + (travel if shot.motion == "pan" else 0) + 2 * SHAKE_PX
    canvas_h = height + (travel if shot.motion == "tilt" else 0) + 2 * SHAKE_PX
    rng = np.random.default_rng(shot.seed)
    noise = rng.integers(0, 256, (canvas_h // 8 + 1, canvas_w // 8 + 1), dtype=np.uint8)
    noise = cv2.resize(noise, (canvas_w, canvas_h), interpolation=cv2.INTER_CUBIC)
    shade = noise.astype(np.float32)[..., None] / 255.0
    canvas = np.clip(shade * np.array(shot.color, np.float32) * 1.4 + 20, 0, 255)
    return canvas.astype(np.uint8)


def _shot_frame(shot: Shot, canvas: np.ndarray, t: float, width: int, height: int) -> np.ndarray:
    x, y = SHAKE_PX, SHAKE_PX  # top-left of the view inside the canvas
    t = min(max(t, 0.0), shot.seconds)  # a dissolve shows a shot past its end: hold its last view
    travel = int(round(abs(shot.speed) * t))
    if shot.motion == "pan":
        x += travel if shot.speed >= 0 else canvas.shape[1] - width - 2 * SHAKE_PX - travel
    elif shot.motion == "tilt":
        y += travel if shot.speed >= 0 else canvas.shape[0] - height - 2 * SHAKE_PX - travel
    elif shot.motion == "shake":
        rng = np.random.default_rng(int(t * 1000) + shot.seed)
        x, y = x + int(rng.integers(-SHAKE_PX, SHAKE_PX + 1)), y + int(rng.integers(-SHAKE_PX, SHAKE_PX + 1))
    if shot.motion == "zoom":
        scale = 1.0 + shot.speed / 100.0 * t
        w, h = int(width / scale), int(height / scale)
        x0, y0 = x + (width - w) // 2, y + (height - h) // 2
        frame = cv2.resize(canvas[y0 : y0 + h, x0 : x0 + w], (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        frame = canvas[y : y + height, x : x + width].copy()
    if shot.text:
        scale = height / 240
        (tw, th), _ = cv2.getTextSize(shot.text, cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, 2)
        x, y = (width - tw) // 2, int(height * 0.85)
        cv2.rectangle(frame, (x - 6, y - th - 6), (x + tw + 6, y + 8), (0, 0, 0), -1)
        cv2.putText(frame, shot.text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), 2, cv2.LINE_AA)
    return frame


def render_frames(spec: ClipSpec):
    """Yield (time_s, RGB frame) for the whole clip."""
    canvases = [_texture(s, spec.width, spec.height) for s in spec.shots]
    starts = np.cumsum([0.0] + [s.seconds for s in spec.shots])
    n = int(round(spec.duration_s * spec.fps))
    for i in range(n):
        t = i / spec.fps
        k = min(int(np.searchsorted(starts, t, side="right")) - 1, len(spec.shots) - 1)
        shot = spec.shots[k]
        frame = _shot_frame(shot, canvases[k], t - starts[k], spec.width, spec.height)
        half = shot.dissolve_in_s / 2
        if k > 0 and half > 0 and t - starts[k] < half:
            # The dissolve is centred on the shot boundary: blend with the previous shot.
            prev = spec.shots[k - 1]
            alpha = 0.5 + (t - starts[k]) / (2 * half)
            other = _shot_frame(prev, canvases[k - 1], t - starts[k - 1], spec.width, spec.height)
            frame = cv2.addWeighted(frame, alpha, other, 1 - alpha, 0)
        elif k + 1 < len(spec.shots) and spec.shots[k + 1].dissolve_in_s > 0 and starts[k + 1] - t <= spec.shots[k + 1].dissolve_in_s / 2:
            nxt = spec.shots[k + 1]
            alpha = 0.5 - (starts[k + 1] - t) / nxt.dissolve_in_s
            other = _shot_frame(nxt, canvases[k + 1], 0.0, spec.width, spec.height)
            frame = cv2.addWeighted(other, alpha, frame, 1 - alpha, 0)
        yield t, frame


def render_audio(audio: AudioSpec, seconds: float, rate: int = 44100) -> np.ndarray:
    """Mono float32: a tone with a short decaying click on every beat, silent where asked."""
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * audio.tone_hz * t)
    period = 60.0 / audio.bpm
    since_beat = np.mod(t, period)
    signal += np.exp(-since_beat * 60.0) * np.sin(2 * np.pi * 1500 * t)
    signal *= audio.level
    for start, end in audio.silence:
        signal[int(start * rate) : int(end * rate)] = 0.0
    # Full scale is the ceiling of any real recording chain: a level past it clips.
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def write_clip(path: str, spec: ClipSpec) -> str:
    """Encode the clip as H.264 (+ AAC when it has audio) in an MP4 at `path`."""
    rate = Fraction(spec.fps).limit_denominator(1001)
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast"}
        if spec.rotation:
            video.set_display_rotation(-spec.rotation)
        audio_stream = None
        if spec.audio is not None:
            audio_stream = container.add_stream("aac", rate=44100, layout="mono")
        for i, (_, frame) in enumerate(render_frames(spec)):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            container.mux(video.encode(vf))
        container.mux(video.encode())
        if audio_stream is not None:
            samples = render_audio(spec.audio, spec.duration_s)
            step = 1024
            for i in range(0, len(samples), step):
                chunk = samples[i : i + step][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate, af.pts = 44100, i
                container.mux(audio_stream.encode(af))
            container.mux(audio_stream.encode())
    return path


SAMPLE = ClipSpec(
    shots=(
        Shot(3.0, (210, 90, 50), "static", text="WAIT FOR IT", seed=1),
        Shot(2.5, (60, 140, 220), "pan", speed=90, seed=2),
        Shot(2.5, (90, 200, 90), "zoom", speed=20, dissolve_in_s=1.0, seed=3),
        Shot(2.0, (230, 220, 80), "shake", text="LINK IN BIO", seed=4),
    ),
    fps=30,
    width=360,
    height=640,
    audio=AudioSpec(bpm=120, silence=((8.5, 10.0),)),
)
