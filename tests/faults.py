"""Odd inputs, generated with PyAV (no binary fixtures): channel layouts, sample rates, streams
without timestamps, late and negative starts, truncations, text posing as video, special files.
Each writer returns the path; `truth` says what a correct decode reports."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def tone(path: Path, layout: str, rate: int = 48_000, codec: str = "aac", seconds: float = 1.0, fmt: str | None = None) -> Path:
    """A 440 Hz tone at 0.2 on every channel of `layout`. Frames are given packed: PyAV miscounts
    the planes of planar audio past two channels."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        size = stream.codec_context.frame_size or 1024
        channels = len(av.AudioLayout(layout).channels)
        for start in range(0, int(seconds * rate), size):
            wave = (0.2 * np.sin(2 * np.pi * 440 * (np.arange(size) + start) / rate)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.repeat(wave, channels)[None, :], format="flt", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def video(path: Path, frames: int = 75, fps: int = 25, start_s: float = 0.0, fmt: str | None = None, size=(64, 48)) -> Path:
    """Grey frames getting brighter, `fps` a second, the first at `start_s` (container time)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), (i * 3) % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(start_s * fps) + i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """The top-level MP4 boxes: (kind, offset, size)."""
    found, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        found.append((data[at + 4 : at + 8], at, size))
        if size < 8:
            break
        at += size
    return found


def index_first(source: Path, target: Path) -> Path:
    """`source`'s video remuxed with its index (moov) before the media (faststart)."""
    with av.open(str(source)) as inp, av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target


def cut(path: Path, keep_bytes: int) -> Path:
    with open(path, "r+b") as f:
        f.truncate(keep_bytes)
    return path


def media_cut_at(source: Path, target: Path, share: float) -> Path:
    """An index-first MP4 whose media data stops `share` of the way through: the index promises
    the whole duration."""
    index_first(source, target)
    data = target.read_bytes()
    [(_, offset, size)] = [b for b in boxes(data) if b[0] == b"mdat"]
    return cut(target, offset + 8 + int((size - 8) * share))


def special_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "pipe.mp4"
    os.mkfifo(fifo)
    (folder / "loop-a.mp4").symlink_to(folder / "loop-b.mp4")
    (folder / "loop-b.mp4").symlink_to(folder / "loop-a.mp4")
    (folder / "notes.txt").write_text("Dear diary,\nthis is not a video.\n")
    (folder / "page.mp4").write_text("<!DOCTYPE html><html><body>Not Found</body></html>\n")
    return {"fifo": fifo, "loop": folder / "loop-a.mp4", "text": folder / "notes.txt", "html": folder / "page.mp4"}
