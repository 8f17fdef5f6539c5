"""What the report plays beside its timeline: the clip itself (a <video>, or an <audio> for a file
without pictures), each shot's keyframe with the on-screen text and objects seen in it, and the
transcript's words with their times, which the page's script highlights as the clip plays.

The keyframes are cut_analysis's (taken in the one decode, kept in the document); nothing here
reads the media file but to embed it when asked.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from pipeline.schema import AnalyzerResult, Status, VideoResult

EMBED_MAX_BYTES = 50 * 1024 * 1024  # a clip larger than this stays beside the page: base64 adds a third


@dataclass
class Media:
    element: str  # "video" or "audio"
    src: str | None  # a URL relative to the page, a data URI or the source's http(s) URL; None: not reachable
    note: str = ""  # why there is no player, or how the clip is reached


@dataclass
class ShotCard:
    index: int
    start: float
    end: float
    thumbnail: str | None  # a data URI of the keyframe JPEG
    texts: list[str] = field(default_factory=list)  # on-screen text shown during the shot
    objects: list[str] = field(default_factory=list)  # object classes seen during it


@dataclass
class Word:
    text: str
    start: float
    end: float


@dataclass
class Line:
    """One sentence of the transcript, with its speaker when the channels told them apart."""

    start: float
    end: float
    speaker: str | None
    words: list[Word]


def media(result: VideoResult, page_dir: Path, embed: bool) -> Media:
    """The player's source: the file relative to the page's folder, or the file itself as a data URI."""
    element = "video" if result.video.has_video else "audio"
    if result.source.startswith(("http://", "https://")):
        return Media(element, result.source, "streamed from its URL")
    path = Path(result.video.path or result.source)
    if not path.is_file():
        return Media(element, None, f"no player: {path} is not reachable from this page")
    if embed:
        size = path.stat().st_size
        if size <= EMBED_MAX_BYTES:
            kind = mimetypes.guess_type(path.name)[0] or f"{element}/mp4"
            return Media(
                element, f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}", "embedded"
            )
        note = f"too large to embed ({size / 2**20:.0f} MiB > {EMBED_MAX_BYTES / 2**20:.0f} MiB): played from beside the page"
    else:
        note = "played from beside the page"
    relative = Path(os.path.relpath(path.resolve(), page_dir.resolve())).as_posix()
    return Media(element, quote(relative), note)


def shot_cards(result: VideoResult) -> list[ShotCard]:
    """A card per shot of cut_analysis, with what text_overlay and object_detection saw in it."""
    cuts = _ok(result, "cut_analysis")
    if cuts is None or not result.video.has_video:
        return []
    texts, objects = _ok(result, "text_overlay"), _ok(result, "object_detection")
    cards = []
    for s in cuts.segments:
        if s.label != "shot":
            continue
        jpeg = s.data.thumbnail_jpeg
        card = ShotCard(s.data.index, s.start_s, s.end_s, f"data:image/jpeg;base64,{jpeg}" if jpeg else None)
        if texts is not None:
            card.texts = _unique(t.data.text for t in texts.segments if t.label == "text" and _overlaps(t, s))
        if objects is not None:
            card.objects = _unique(o.label for o in objects.segments if o.label != "shot" and _overlaps(o, s))
        cards.append(card)
    return cards


def transcript(result: VideoResult) -> list[Line]:
    """speech_transcription's sentences, word by word (a sentence without word times is one word)."""
    speech = _ok(result, "speech_transcription")
    if speech is None:
        return []
    lines = []
    for s in speech.segments:
        words = [Word(w.word, w.start_s, w.end_s) for w in s.data.words] or [
            Word(s.data.text.strip(), s.start_s, s.end_s)
        ]
        lines.append(Line(s.start_s, s.end_s, s.data.speaker, [w for w in words if w.text]))
    return [line for line in lines if line.words]


def _ok(result: VideoResult, name: str) -> AnalyzerResult | None:
    r = result.analyzers.get(name)
    return r if r is not None and r.status == Status.ok else None


def _overlaps(a, b) -> bool:
    return a.start_s < b.end_s and b.start_s < a.end_s


def _unique(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
