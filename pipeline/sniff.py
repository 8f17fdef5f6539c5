"""What a file is, from its content, before FFmpeg reads it.

FFmpeg picks a demuxer by probing the bytes and the extension together, and reads far more than
video: a PNG or JPEG becomes a one-frame video, a text file a video of its text, an HLS playlist
a list of other files to open. `not_media` names the files this project does not analyse, the
same way whichever runner (CLI, backfill, Serve by path or upload) passes them, so the refusal
is one line saying what the file is rather than an analysis of the wrong thing.

Images: a still image is not a video. An animated GIF or APNG is one FFmpeg reads as a video
(two frames or more), and is analysed as one; an animated WebP is refused, as FFmpeg (8.x) does
not decode those. Binary signatures come from `filetype`; text (HTML, SVG, XML, JSON, playlists,
plain text) is recognised here, as `filetype` does not look at text.
"""

from __future__ import annotations

import itertools

import av
import filetype

HEAD_BYTES = 8192  # what filetype's signatures look at
READABLE = {"swf"}  # not audio or video to filetype, yet FFmpeg demuxes its video
NAMES = {
    "jpg": "a JPEG image",
    "png": "a PNG image",
    "apng": "an APNG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "tif": "a TIFF image",
    "bmp": "a BMP image",
    "ico": "an icon image",
    "psd": "a Photoshop image",
    "heic": "a HEIC image",
    "avif": "an AVIF image",
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "gz": "a gzip archive",
    "tar": "a tar archive",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "exe": "a Windows executable",
    "elf": "an ELF executable",
    "sqlite": "an SQLite database",
    "docx": "a Word document",
    "xlsx": "an Excel spreadsheet",
    "pptx": "a PowerPoint presentation",
}
CATEGORIES = [  # (filetype's matchers, what a kind of them is called when NAMES has no name for it)
    (filetype.image_matchers, "image"),
    (filetype.archive_matchers, "file"),
    (filetype.document_matchers, "document"),
    (filetype.font_matchers, "font"),
    (filetype.application_matchers, "file"),
]
ANIMATABLE = {"gif", "apng"}  # FFmpeg's gif and apng demuxers give a frame per picture


def not_media(path: str) -> str | None:
    """What the file at `path` (a local regular file) is, as in "a PNG image, not a video", when
    its content shows it is not audio or video this project analyses; None when it may be media
    (FFmpeg then decides)."""
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
    kind = filetype.guess(head)
    if kind is not None and kind.extension == "webp" and _animated_webp(head):
        return "an animated WebP image, which FFmpeg does not decode"
    what = _binary(path, kind) if kind is not None else _text(head)
    return f"{what}, not a video" if what else None


def _binary(path: str, kind) -> str | None:
    if kind.extension in READABLE:
        return None
    for matchers, noun in CATEGORIES:
        if any(kind.extension == m.extension for m in matchers):
            break
    else:
        return None  # audio or video
    name = NAMES.get(kind.extension, f"a {kind.extension.upper()} {noun} ({kind.mime})")
    if kind.extension in ANIMATABLE and _frames(path) >= 2:
        return None  # an animation FFmpeg reads as a video
    return name.replace("a ", "a still ", 1).replace("an ", "a still ", 1) if kind.extension in ANIMATABLE else name


def _frames(path: str) -> int:
    """Pictures FFmpeg demuxes from the file, counted up to two."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            packets = container.demux(container.streams.video[0]) if container.streams.video else ()
            return sum(1 for _ in itertools.islice((p for p in packets if p.size), 2))
    except (av.FFmpegError, UnicodeDecodeError):
        return 0


def _animated_webp(head: bytes) -> bool:
    """The extended header (VP8X) with its animation flag set."""
    return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)


def _text(head: bytes) -> str | None:
    """What the text is, when `head` is text: UTF-8 (or UTF-16 with its byte order mark) with no
    control characters but whitespace and escapes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not a character cut off by the head's end
                return None
            text = head[: exc.start].decode("utf-8")
    if not text or any(ord(c) < 32 and c not in "\t\n\r\f\v\x1b" for c in text):
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html")) or "<html" in start[:1024]:
        return "an HTML page"
    if "<svg" in start[:4096]:
        return "an SVG image"
    if start.startswith("<?xml") or start.startswith("<"):
        return "an XML document"
    if start.startswith("#extm3u"):
        return "a playlist (M3U/HLS text)"
    if start.startswith(("{", "[")):
        return "JSON text"
    return "a text file"
