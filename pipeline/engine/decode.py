"""Decode once: one pass of PyAV over the file feeds every analyzer.

The container is demuxed once. Each video frame is decoded once (threaded) and, for every
FrameSpec some analyzer asked for, resized straight from YUV to RGB at that spec's size when
the spec's sampling grid selects it: nothing converts full-resolution frames to RGB. Audio is
resampled on the fly to 16 kHz mono float32 (FFmpeg's downmix) and, for a two-channel source,
to its left and right channels at 16 kHz as well (speech_transcription tells two microphones
apart). Frames stream out in batches; only the audio track (about 3.8 MB a minute mono, three
times that for stereo) is held whole.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from pipeline.analyzer import BATCH_FRAMES, AudioTrack, FrameBatch, FrameSpec
from pipeline.schema import VideoInfo
from pipeline.sniff import not_media

AUDIO_RATE = 16_000
# A sample this close to full scale (-0.09 dBFS) counts as clipped. Not 1.0: lossy codecs ring
# around a clipped plateau, so a clipped source decodes to values just under and over full scale.
CLIP_LEVEL = 0.99


class MediaError(Exception):
    """The file cannot be read as media. The message is one line meant for the user."""


TEXT_DEMUXERS = ("tty",)  # FFmpeg's pick for .txt / .ans files: it draws their text as video
TRUNCATED_S, TRUNCATED_SHARE = 1.0, 0.05  # decoded this much short of the stated duration: truncated
REMOTE_SCHEMES = ("http://", "https://")  # FFmpeg streams these itself (a backfill manifest may list URLs)
NETWORK_TIMEOUT_S = 30.0  # a stalled server fails its video instead of holding a worker forever


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_SCHEMES)


def check_readable(path: str) -> None:
    if is_remote(path):
        return  # FFmpeg's own error says what went wrong (404, refused, timed out)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        why = {errno.ENOENT: "no such file", errno.ELOOP: "a symbolic link loop", errno.ENAMETOOLONG: "a path too long"}
        raise MediaError(f"{why.get(exc.errno, f'cannot read it ({exc.strerror})')}: {path}") from None
    if stat.S_ISDIR(mode):
        raise MediaError(f"is a directory, not a media file: {path}")
    if not stat.S_ISREG(mode):  # FFmpeg would block on a FIFO until a writer came
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise MediaError(f"is {kind}, not a media file: {path}")
    if os.path.getsize(path) == 0:
        raise MediaError(f"empty file (0 bytes): {path}")
    if (what := not_media(path)) is not None:  # by its content, whatever its name says (pipeline/sniff.py)
        raise MediaError(f"not a readable media file: it is {what}: {path}")


def _open(path: str) -> av.container.InputContainer:
    check_readable(path)
    try:
        container = av.open(path, metadata_errors="ignore", timeout=NETWORK_TIMEOUT_S if is_remote(path) else None)
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        what = "cannot open the URL" if is_remote(path) else "not a readable media file"
        raise MediaError(f"{what} ({_ffmpeg_reason(exc)}): {path}") from None
    if container.format.name in TEXT_DEMUXERS:  # FFmpeg renders a .txt file as a video of its text
        container.close()
        raise MediaError(f"not a readable media file (text, read by FFmpeg's {container.format.name} demuxer): {path}")
    return container


def _stream_end(path: str, origin: float) -> float | None:
    """Seconds from `origin` to the end of the last packet, from a seek to the file's end; None
    when that cannot be read. For containers whose stated duration is ambiguous."""
    try:
        with av.open(path, metadata_errors="ignore", timeout=NETWORK_TIMEOUT_S if is_remote(path) else None) as c:
            c.seek((c.start_time or 0) + (c.duration or 0), backward=True)  # the keyframe before the end
            ends = [
                float((p.pts + (p.duration or 0)) * p.time_base)
                for p in itertools.islice(c.demux(), 256)
                if p.pts is not None and p.time_base is not None
            ]
    except av.FFmpegError:
        return None
    return max(ends) - origin if ends else None


def _ffmpeg_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _display_size(width: int, height: int, sar: float, rotation_ccw: int) -> tuple[int, int]:
    width = round(width * sar)
    return (height, width) if rotation_ccw % 180 else (width, height)


def _fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


class _Planes:
    """One decoded frame, resized per spec. For 4:2:0 YUV (nearly all H.264/HEVC/VP9), each plane
    is area-averaged by OpenCV and only the small result is converted to RGB: about 4x cheaper
    than swscale's RGB conversion at full size. Other pixel formats go through swscale."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self.frame = frame
        fast = frame.format.name in ("yuv420p", "yuvj420p") and frame.width % 2 == 0 and frame.height % 2 == 0
        self.yuv = frame.to_ndarray() if fast else None

    def rgb(self, width: int, height: int) -> np.ndarray:
        if self.yuv is None or width % 2 or height % 2:
            return self.frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
        h, w = self.frame.height, self.frame.width
        if (width, height) == (w, h):
            i420 = self.yuv
        else:
            chroma = self.yuv[h:].reshape(2, h // 2, w // 2)
            i420 = np.concatenate(
                [
                    cv2.resize(self.yuv[:h], (width, height), interpolation=cv2.INTER_AREA).ravel(),
                    cv2.resize(chroma[0], (width // 2, height // 2), interpolation=cv2.INTER_AREA).ravel(),
                    cv2.resize(chroma[1], (width // 2, height // 2), interpolation=cv2.INTER_AREA).ravel(),
                ]
            ).reshape(height * 3 // 2, width)
        return cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)


@dataclass
class _SpecState:
    """Sampling and batching for one FrameSpec."""

    spec: FrameSpec
    next_sample_s: float = -math.inf
    index: int = 0
    pts: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    prev_frame: np.ndarray | None = None
    prev_pts_s: float | None = None

    def wants(self, t: float) -> bool:
        if self.spec.fps is None:
            return True
        if t + 1e-6 < self.next_sample_s:
            return False
        # Stay on the grid k/fps so that rate never drifts with irregular (VFR) timestamps.
        step = 1.0 / self.spec.fps
        self.next_sample_s = (math.floor(t / step + 1e-6) + 1) * step
        return True

    def take(self) -> FrameBatch:
        batch = FrameBatch(
            spec=self.spec,
            index=self.index,
            pts_s=np.asarray(self.pts, dtype=np.float64),
            frames=np.stack(self.frames),
            prev_frame=self.prev_frame,
            prev_pts_s=self.prev_pts_s,
        )
        self.prev_frame, self.prev_pts_s = self.frames[-1], self.pts[-1]
        self.index += 1
        self.pts, self.frames = [], []
        return batch


def _aligned(chunks: list[np.ndarray], length: int) -> np.ndarray:
    """(2, length) float32 from the stereo resampler's chunks. Both resamplers share FFmpeg's filter
    and rate, so the lengths agree; trimmed or zero-padded all the same, so that times match."""
    channels = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
    if channels.shape[1] < length:
        channels = np.pad(channels, ((0, 0), (0, length - channels.shape[1])))
    return np.ascontiguousarray(channels[:, :length], dtype=np.float32)


def probe(path: str) -> VideoInfo:
    """What the container says of a file (duration, streams, size), without decoding a frame."""
    decoder = Decoder(path, [], audio=False)
    decoder.container.close()
    return decoder.info


class Decoder:
    """Iterate over a file's FrameBatches (per requested spec) and, last, its AudioTrack.

    `info` is filled from the container on open and completed (frame count, duration,
    rotation, decode errors) as the pass goes on; it is final once iteration ends.
    """

    def __init__(
        self,
        path: str,
        specs: list[FrameSpec],
        audio: bool,
        batch_frames: int = BATCH_FRAMES,
    ) -> None:
        self.path = path
        self.specs = list(dict.fromkeys(specs))
        self.want_audio = audio
        self.batch_frames = batch_frames
        self.container = _open(path)
        self.video_stream = self.container.streams.video[0] if self.container.streams.video else None
        self.audio_stream = self.container.streams.audio[0] if self.container.streams.audio else None
        if self.video_stream is None and self.audio_stream is None:
            self.container.close()
            raise MediaError(f"no video or audio stream in file: {path}")
        self.info = self._probe()
        self._rotation_ccw = 0
        self._sar = self.info.pixel_aspect_ratio
        self._repack: av.AudioResampler | None = None  # see _native_samples
        self._repack_key: tuple | None = None

    def _probe(self) -> VideoInfo:
        c, v, a = self.container, self.video_stream, self.audio_stream
        if c.start_time is not None:
            origin = c.start_time / av.time_base
        else:
            starts = [float(s.start_time * s.time_base) for s in (v, a) if s is not None and s.start_time is not None]
            origin = min(starts, default=0.0)
        duration = (c.duration / av.time_base) if c.duration else 0.0
        if 0 < origin < duration:
            # Demuxers disagree on whether the stated duration counts the start time (Matroska
            # does): a 3 s clip starting at 100,000 s would read as 100,003 s. The packets decide.
            end = _stream_end(self.path, origin)
            if end is not None and abs(end - (duration - origin)) < abs(end - duration):
                duration -= origin
        info = VideoInfo(
            path=self.path,
            duration_s=duration,
            container_duration_s=duration or None,
            size_bytes=c.size if is_remote(self.path) else os.path.getsize(self.path),
            container=c.format.name,
            has_video=v is not None,
            has_audio=a is not None,
            start_offset_s=origin,
            bit_rate=c.bit_rate or None,
        )
        if v is not None:
            sar = v.sample_aspect_ratio
            info.pixel_aspect_ratio = float(sar) if sar else 1.0
            info.fps = float(v.average_rate) if v.average_rate else None
            info.coded_width, info.coded_height = v.codec_context.width, v.codec_context.height
            info.width, info.height = _display_size(info.coded_width, info.coded_height, info.pixel_aspect_ratio, 0)
            info.video_codec = v.codec_context.name
            v.thread_type = "AUTO"  # frame + slice threads: several times faster (PyAV#1980)
        if a is not None:
            info.audio_codec = a.codec_context.name
            info.audio_sample_rate = a.codec_context.sample_rate
            info.audio_channels = a.codec_context.channels
        return info

    def __iter__(self) -> Iterator[FrameBatch | AudioTrack]:
        states = [_SpecState(spec) for spec in self.specs] if self.video_stream is not None else []
        streams = [s for s in (self.video_stream if states else None, self.audio_stream if self.want_audio else None) if s]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE) if self.want_audio and self.audio_stream else None
        # A second resampler, so that the mono track stays FFmpeg's downmix, sample for sample.
        stereo = None
        if resampler is not None and self.info.audio_channels == 2:
            stereo = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        audio_chunks: list[np.ndarray] = []
        stereo_chunks: list[np.ndarray] = []
        audio_start: float | None = None
        clipped = native_samples = 0
        peak = 0.0
        frame_times: list[float] = []
        origin = self.info.start_offset_s
        try:
            for packet in self.container.demux(streams) if streams else ():
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    self.info.decode_errors += 1
                    continue
                for frame in frames:
                    if isinstance(frame, av.AudioFrame):
                        if audio_start is None and frame.pts is not None:
                            audio_start = max(0.0, float(frame.pts * frame.time_base) - origin)
                        native = self._native_samples(frame)
                        if native.dtype.kind == "f":
                            level = np.abs(native)
                        else:
                            level = np.abs(native.astype(np.float32)) / float(np.iinfo(native.dtype).max)
                        peak = max(peak, float(level.max(initial=0.0)))
                        clipped += int(np.count_nonzero(level >= CLIP_LEVEL))
                        native_samples += level.size
                        for out in resampler.resample(frame):
                            audio_chunks.append(out.to_ndarray()[0])
                        if stereo is not None:
                            stereo_chunks += [out.to_ndarray() for out in stereo.resample(frame)]
                        continue
                    t = self._time(frame, origin, len(frame_times))
                    if not frame_times:
                        self._on_first_frame(frame)
                    frame_times.append(t)
                    planes = None
                    for state in states:
                        if state.wants(t):
                            if planes is None:
                                planes = _Planes(frame)
                            state.pts.append(t)
                            state.frames.append(self._to_rgb(planes, state.spec))
                            if len(state.frames) >= self.batch_frames:
                                yield state.take()
        except av.FFmpegError as exc:
            # A truncated or damaged file: keep what was decoded, count the failure.
            self.info.decode_errors += 1
            if not frame_times and not audio_chunks:
                raise MediaError(f"could not decode any frame ({_ffmpeg_reason(exc)}): {self.path}") from None
        finally:
            self.container.close()
        for state in states:
            if state.frames:
                yield state.take()
        self._complete_info(frame_times, audio_chunks, audio_start, demuxed=bool(streams))
        if resampler is not None:
            for out in resampler.resample(None):
                audio_chunks.append(out.to_ndarray()[0])
            samples = np.concatenate(audio_chunks) if audio_chunks else np.zeros(0, np.float32)
            channels = None
            if stereo is not None:
                stereo_chunks += [out.to_ndarray() for out in stereo.resample(None)]
                channels = _aligned(stereo_chunks, len(samples))
            yield AudioTrack(
                samples=samples.astype(np.float32, copy=False),
                sample_rate=AUDIO_RATE,
                start_s=audio_start or 0.0,
                clipped_fraction=clipped / native_samples if native_samples else 0.0,
                peak=peak,
                channels=channels,
            )

    def _native_samples(self, frame: av.AudioFrame) -> np.ndarray:
        """The frame's samples at their own rate, format and channels, packed into one plane.
        PyAV's own conversion miscounts the planes of planar audio past two channels (7.1 AAC:
        nine planes for eight channels) and crashes the process; FFmpeg repacks any layout."""
        if frame.format.is_planar and len(frame.layout.channels) > 2:
            key = (frame.format.packed.name, frame.layout.name, frame.sample_rate)
            if self._repack_key != key:
                self._repack_key = key
                self._repack = av.AudioResampler(format=key[0], layout=key[1], rate=key[2])
            return np.concatenate([out.to_ndarray().ravel() for out in self._repack.resample(frame)] or [np.zeros(0, np.float32)])
        return frame.to_ndarray()

    def _time(self, frame: av.VideoFrame, origin: float, index: int) -> float:
        if frame.pts is None:  # some raw streams carry no timestamps: frames count at the stream's rate
            rate = self.video_stream.average_rate or Fraction(25)
            return index / float(rate)
        return max(0.0, float(frame.pts * frame.time_base) - origin)

    def _on_first_frame(self, frame: av.VideoFrame) -> None:
        self._rotation_ccw = int(frame.rotation or 0) % 360
        self.info.rotation = (-self._rotation_ccw) % 360
        self.info.width, self.info.height = _display_size(frame.width, frame.height, self._sar, self._rotation_ccw)

    def _to_rgb(self, planes: _Planes, spec: FrameSpec) -> np.ndarray:
        width, height = _fit(self.info.width, self.info.height, spec.size)
        if self._rotation_ccw % 180:
            width, height = height, width
        rgb = planes.rgb(width, height)
        if self._rotation_ccw:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=self._rotation_ccw // 90))
        return rgb

    def _complete_info(
        self, frame_times: list[float], audio_chunks: list[np.ndarray], audio_start: float | None, demuxed: bool
    ) -> None:
        info = self.info
        ends = []
        if frame_times:
            info.frame_count = len(frame_times)
            deltas = np.diff(np.asarray(frame_times))
            frame_duration = float(np.median(deltas)) if len(deltas) else (1.0 / info.fps if info.fps else 0.0)
            ends.append(frame_times[-1] + frame_duration)
            if len(deltas) > 2 and frame_duration > 0:
                info.variable_frame_rate = bool(np.ptp(deltas) > 0.5 * frame_duration)
            if len(frame_times) == 1 and not info.fps:
                info.fps = None
        elif info.has_video and self.specs:
            info.frame_count = 0
        if audio_chunks:
            ends.append((audio_start or 0.0) + sum(len(c) for c in audio_chunks) / AUDIO_RATE)
        if ends:
            info.duration_s = max(ends)
        elif demuxed:
            raise MediaError(f"no frame or sample could be decoded (truncated or damaged): {self.path}")
        stated = info.container_duration_s
        # Decoded well short of what the container states: analysed as far as it goes, and said so.
        info.truncated = bool(stated and stated - info.duration_s > max(TRUNCATED_S, TRUNCATED_SHARE * stated))
