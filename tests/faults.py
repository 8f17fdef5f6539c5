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


def picture(path: Path, frames: int = 1, fmt: str = "image2", codec: str = "png", pix_fmt: str = "rgb24") -> Path:
    """An image file of `frames` pictures (10 a second) written by FFmpeg's own encoders:
    image2 + png or mjpeg for a still, gif, apng or webp (libwebp_anim) for an animation."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 + i * 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def not_media(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """Files that are not video, under video names, and animations FFmpeg reads as video: the
    words each one's refusal names it by (pipeline/sniff.py), None for a correct document."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, str | None]] = {
        "PNG as mp4": (picture(folder / "png.mp4"), "it is a PNG image, not a video"),
        "JPEG as mp4": (picture(folder / "jpeg.mp4", codec="mjpeg", pix_fmt="yuvj420p"), "it is a JPEG image, not a video"),
        "still GIF": (picture(folder / "still.gif", fmt="gif", codec="gif", pix_fmt="rgb8"), "it is a still GIF image, not a video"),
        "still WebP": (picture(folder / "still.webp", fmt="webp", codec="libwebp", pix_fmt="yuv420p"), "it is a WebP image, not a video"),
        "animated GIF": (picture(folder / "animated.gif", 10, fmt="gif", codec="gif", pix_fmt="rgb8"), None),
        "animated PNG": (picture(folder / "animated.png", 10, fmt="apng", codec="apng"), None),
        "animated WebP": (
            picture(folder / "animated.webp", 10, fmt="webp", codec="libwebp_anim", pix_fmt="yuv420p"),
            "it is an animated WebP image, which FFmpeg does not decode",
        ),
    }
    (folder / "doc.mp4").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    cases["PDF as mp4"] = (folder / "doc.mp4", "it is a PDF document, not a video")
    with zipfile.ZipFile(folder / "archive.mp4", "w") as archive:
        archive.writestr("clip.mp4", b"\0" * 1000)
    cases["ZIP as mp4"] = (folder / "archive.mp4", "it is a ZIP archive, not a video")
    (folder / "icon.mp4").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect/></svg>')
    cases["SVG as mp4"] = (folder / "icon.mp4", "it is an SVG image, not a video")
    (folder / "list.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n../sample.mp4\n#EXT-X-ENDLIST\n")
    cases["HLS playlist"] = (folder / "list.m3u8", "it is a playlist (M3U/HLS text), not a video")
    (folder / "data.mp4").write_text('{"not": "a video"}')
    cases["JSON as mp4"] = (folder / "data.mp4", "it is JSON text, not a video")
    return cases


def corpus(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """Fifty-odd inputs and what each must give: None for a document whose status is ok, else
    the words of its one-line error. Every file is made here, in `folder`."""
    from pipeline.sample import SAMPLE, ClipSpec, Shot, write_clip

    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, str | None]] = {}

    def ok(name: str, path: Path) -> None:
        cases[name] = (path, None)

    for layout, codec, ext in [
        ("mono", "aac", "m4a"), ("stereo", "aac", "m4a"), ("2.1", "aac", "m4a"), ("quad", "aac", "m4a"),
        ("5.1", "aac", "m4a"), ("6.1", "aac", "m4a"), ("7.1", "aac", "m4a"), ("hexadecagonal", "pcm_s16le", "wav"),
        ("22.2", "pcm_s16le", "mkv"), ("5.1", "libopus", "ogg"), ("stereo", "flac", "flac"), ("mono", "libmp3lame", "mp3"),
    ]:  # fmt: skip
        ok(f"{layout} {codec}", tone(folder / f"tone-{layout}-{codec}.{ext}", layout, codec=codec))
    for rate in (8_000, 11_025, 22_050, 96_000, 192_000):
        ok(f"{rate} Hz", tone(folder / f"tone-{rate}.wav", "stereo", rate=rate, codec="pcm_s16le"))
    ok("10 min of 8 kHz audio", tone(folder / "ten-minutes.wav", "mono", rate=8_000, codec="pcm_s16le", seconds=600))
    ok("raw h264, no timestamps", video(folder / "raw.h264", frames=25, fmt="h264"))
    for container in ("mkv", "mp4", "ts"):
        ok(f"starts at 100000 s ({container})", video(folder / f"late.{container}", start_s=100_000))
    ok("2x2 px", video(folder / "tiny.mp4", frames=10, size=(2, 2)))
    ok("8K frame", video(folder / "8k.mp4", frames=1, size=(7680, 4320)))
    ok("one frame", video(folder / "one-frame.mp4", frames=1))
    sample = Path(write_clip(str(folder / "sample.mp4"), SAMPLE))
    ok("sample", sample)
    ok("rotated 90", Path(write_clip(str(folder / "rotated.mp4"), ClipSpec(shots=(Shot(1.0),), rotation=90, audio=None))))
    ok("truncated at half", media_cut_at(sample, folder / "half.mp4", 0.5))
    for name in ("name with spaces.mp4", "ünïcödé-名前.mp4", "semi;colon$(rm -rf).mp4", "#hashtag.mp4", "x" * 200 + ".mp4"):
        target = folder / name
        target.write_bytes(sample.read_bytes())
        ok(f"named {name[:24]}", target)
    (folder / "video.mp3").write_bytes(sample.read_bytes())
    ok("a video named .mp3", folder / "video.mp3")  # read by its content, not its extension

    (folder / "empty.mp4").write_bytes(b"")
    cases["empty"] = (folder / "empty.mp4", "empty file (0 bytes)")
    (folder / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    cases["random bytes"] = (folder / "noise.mp4", "not a readable media file")
    cases["index, no media"] = (media_cut_at(sample, folder / "no-media.mp4", 0.0), "no frame or sample could be decoded")
    cases["index missing"] = (_head_of(sample, folder / "no-index.mp4"), "not a readable media file")
    odd = special_files(folder / "odd")
    cases["text"] = (odd["text"], "not a readable media file: it is a text file, not a video")
    cases["html as mp4"] = (odd["html"], "not a readable media file: it is an HTML page, not a video")
    cases["fifo"] = (odd["fifo"], "is a FIFO")
    cases["symlink loop"] = (odd["loop"], "symbolic link loop")
    (folder / "folder.mp4").mkdir()
    cases["directory"] = (folder / "folder.mp4", "is a directory")
    cases["missing"] = (folder / "missing.mp4", "no such file")
    cases.update(not_media(folder / "not-media"))
    return cases


def _head_of(source: Path, target: Path) -> Path:
    """The first half of an MP4 whose index sits at its end: the index is lost."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target
