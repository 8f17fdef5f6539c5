"""Synthetic clips whose truth is known by construction: the embedded sample for a first run,
and the fixtures of the test suite.

A clip is a list of shots. Each shot is a textured picture (so optical flow has something to
track) moving as asked, optionally with a caption burned in and with a sign painted into the
scene (moving with the camera, as text in the world does); shots meet with a hard cut or a
dissolve. Captions timed on their own (`ClipSpec.captions`) are burned in over everything, cuts
included. The audio track is a click track at a known tempo over a tone, with optional silence.
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
    scene_text: str | None = None  # a sign painted into the scene: it moves with the camera
    scene_text_at: tuple[float, float] = (0.5, 0.35)  # its centre, as fractions of the shot's first view


@dataclass(frozen=True)
class Caption:
    """A caption burned in from start_s (inclusive) to end_s (exclusive), whatever the shots do."""

    start_s: float
    end_s: float
    text: str


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
    captions: tuple[Caption, ...] = ()

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


def _paint_sign(canvas: np.ndarray, shot: Shot, width: int, height: int) -> np.ndarray:
    """The shot's texture with its sign (dark text on a pale plate) where its first view shows
    it at scene_text_at. Sized by the frame's width, as a sign filling a fifth of a portrait view."""
    canvas = canvas.copy()
    view_x = canvas.shape[1] - width - SHAKE_PX if shot.motion == "pan" and shot.speed < 0 else SHAKE_PX
    view_y = canvas.shape[0] - height - SHAKE_PX if shot.motion == "tilt" and shot.speed < 0 else SHAKE_PX
    scale = width / 360
    (tw, th), _ = cv2.getTextSize(shot.scene_text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    cx, cy = view_x + int(shot.scene_text_at[0] * width), view_y + int(shot.scene_text_at[1] * height)
    x, y = cx - tw // 2, cy + th // 2
    pad = int(10 * scale)
    cv2.rectangle(canvas, (x - pad, y - th - pad), (x + tw + pad, y + pad), (225, 220, 205), -1)
    cv2.putText(canvas, shot.scene_text, (x, y), cv2.FONT_HERSHEY_DUPLEX, scale, (30, 30, 40), 2, cv2.LINE_AA)
    return canvas


def _burn_caption(frame: np.ndarray, text: str) -> None:
    """White on a black box, centred at 78 % of the height (above a phone app's buttons), sized by
    the width so that a portrait frame fits a short line."""
    height, width = frame.shape[:2]
    scale = 0.9 * width / 360
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x, y = (width - tw) // 2, int(height * 0.78)
    cv2.rectangle(frame, (x - 8, y - th - 8), (x + tw + 8, y + 10), (0, 0, 0), -1)
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


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
    canvases = [_paint_sign(c, s, spec.width, spec.height) if s.scene_text else c for c, s in zip(canvases, spec.shots)]
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
        for caption in spec.captions:
            if caption.start_s <= t < caption.end_s:
                _burn_caption(frame, caption.text)
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


def encode_mono(container, stream, samples: np.ndarray, rate: int = 44100) -> None:
    """Mux float32 mono `samples` into `stream` (an AAC stream of `container`) and flush it."""
    for i in range(0, len(samples), 1024):
        chunk = av.AudioFrame.from_ndarray(samples[None, i : i + 1024], format="flt", layout="mono")
        chunk.sample_rate, chunk.pts = rate, i
        container.mux(stream.encode(chunk))
    container.mux(stream.encode())


def write_audio_clip(path: str, audio: AudioSpec, seconds: float) -> str:
    """An AAC-in-MP4 file of `audio` over `seconds`: sound, no pictures."""
    with av.open(path, "w", format="mp4") as container:
        encode_mono(container, container.add_stream("aac", rate=44100, layout="mono"), render_audio(audio, seconds))
    return path


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
            encode_mono(container, audio_stream, render_audio(spec.audio, spec.duration_s))
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


def portrait_captions(width: int = 540, height: int = 960) -> ClipSpec:
    """A phone-shaped clip (6.5 s) with three captions at known times over signs that move:
    a pan past "OPEN 7 DAYS", a hard cut at 3.0 s (inside the second caption), a tilt past
    "ROUTE 66". Captions start and end on the half second, where 2 fps sampling sees them."""
    return ClipSpec(
        shots=(
            Shot(3.0, (70, 120, 90), "pan", speed=80, seed=5, scene_text="OPEN 7 DAYS", scene_text_at=(0.55, 0.3)),
            Shot(3.5, (150, 110, 70), "tilt", speed=60, seed=6, scene_text="ROUTE 66", scene_text_at=(0.5, 0.45)),
        ),
        width=width,
        height=height,
        audio=None,
        captions=(
            Caption(0.5, 2.0, "WAIT FOR IT"),
            Caption(2.5, 4.0, "LINK IN BIO"),
            Caption(4.5, 6.0, "FOLLOW FOR MORE"),
        ),
    )


def beat_cut_clip(
    bpm: float = 120.0, beats_per_shot: tuple[int, ...] = (3, 2, 4, 2, 3, 2, 4), shift_beats: float = 0.0, fps: float = 24.0
) -> ClipSpec:
    """Shots of whole numbers of beats over a click track at `bpm`: every cut on a beat, or
    `shift_beats` of a beat later (0.5: each cut halfway between two beats). Static shots of
    far-apart colours, so that each boundary is a hard cut. The defaults put every beat and half
    beat on a frame (12 and 6 frames at 24 fps) at times a float holds exactly."""
    period = 60.0 / bpm
    colours = ((210, 90, 50), (60, 140, 220), (90, 200, 90), (230, 220, 80), (150, 60, 170))
    shots = tuple(
        Shot((n + (shift_beats if i == 0 else 0.0)) * period, colours[i % len(colours)], seed=i + 1)
        for i, n in enumerate(beats_per_shot)
    )
    return ClipSpec(shots=shots, fps=fps, width=320, height=240, audio=AudioSpec(bpm=bpm))


@dataclass(frozen=True)
class PlacedText:
    """A line burned in at a known place from start_s (inclusive) to end_s (exclusive): its centre
    at `at` (fractions of the width and height), moving in a straight line to `to` if given."""

    start_s: float
    end_s: float
    text: str
    at: tuple[float, float]
    to: tuple[float, float] | None = None
    scale: float = 1.0  # of the caption's size (0.9 x width / 360)


PLACED_FONT = cv2.FONT_HERSHEY_SIMPLEX


def placed_box(placed: PlacedText, t: float, width: int, height: int) -> tuple[float, float, float, float]:
    """The box [x0, y0, x1, y1] (fractions of the frame) of the text's letters at time t."""
    scale = 0.9 * width / 360 * placed.scale
    (tw, th), baseline = cv2.getTextSize(placed.text, PLACED_FONT, scale, 2)
    if placed.to is None or placed.end_s <= placed.start_s:
        cx, cy = placed.at
    else:
        k = min(max((t - placed.start_s) / (placed.end_s - placed.start_s), 0.0), 1.0)
        cx, cy = (a + k * (b - a) for a, b in zip(placed.at, placed.to))
    x, y = int(cx * width - tw / 2), int(cy * height - th / 2)
    return (x / width, y / height, (x + tw) / width, (y + th + baseline) / height)


def placed_text_frames(texts: tuple[PlacedText, ...], seconds: float, width: int = 540, height: int = 960, fps: float = 30.0):
    """Yield (time_s, RGB frame) of a still textured picture with each line white on a black box
    where and when `texts` says: captions inside and outside an app's overlays, a watermark that
    moves. Encode with write_frames."""
    view = _texture(Shot(seconds, (70, 120, 90), seed=7), width, height)[SHAKE_PX : SHAKE_PX + height, SHAKE_PX : SHAKE_PX + width]
    for i in range(int(round(seconds * fps))):
        t = i / fps
        frame = view.copy()
        for placed in texts:
            if placed.start_s <= t < placed.end_s:
                x0, y0, x1, y1 = placed_box(placed, t, width, height)
                left, top, right, bottom = int(x0 * width), int(y0 * height), int(x1 * width), int(y1 * height)
                scale = 0.9 * width / 360 * placed.scale
                baseline = cv2.getTextSize(placed.text, PLACED_FONT, scale, 2)[1]
                cv2.rectangle(frame, (left - 8, top - 8), (right + 8, bottom + 8), (0, 0, 0), -1)
                cv2.putText(frame, placed.text, (left, bottom - baseline), PLACED_FONT, scale, (255, 255, 255), 2, cv2.LINE_AA)
        yield t, frame


def write_placed_text_clip(
    path: str, texts: tuple[PlacedText, ...], seconds: float, width: int = 540, height: int = 960, fps: float = 30.0
) -> str:
    """placed_text_frames encoded (no audio) at `path`."""
    return write_frames(path, placed_text_frames(texts, seconds, width, height, fps), fps)


def write_frames(path: str, frames, fps: float, audio: AudioSpec | None = None, seconds: float = 0.0) -> str:
    """Encode (time_s, RGB frame) pairs as H.264 (+ AAC of `audio` over `seconds` when given) in
    an MP4 at `path`: clips that a ClipSpec cannot describe (split screens, painted faces)."""
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as container:
        video = None
        audio_stream = container.add_stream("aac", rate=44100, layout="mono") if audio is not None else None
        for i, (_, frame) in enumerate(frames):
            if video is None:
                video = container.add_stream("libx264", rate=rate)
                video.width, video.height, video.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
                video.options = {"crf": "18", "preset": "veryfast"}
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = i
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if audio_stream is not None:
            encode_mono(container, audio_stream, render_audio(audio, seconds))
    return path


def split_screen_frames(first: ClipSpec, second: ClipSpec, layout: str = "side_by_side"):
    """Yield (time_s, RGB frame) of two clips shown at once, `first` on the left (side_by_side)
    or on top (top_bottom), each at its own size: a duet or a reaction whose seam sits on the
    centre line when both halves are the same size. As long as the shorter clip."""
    joined = np.hstack if layout == "side_by_side" else np.vstack
    for (t, a), (_, b) in zip(render_frames(first), render_frames(second)):
        yield t, joined([a, b])
