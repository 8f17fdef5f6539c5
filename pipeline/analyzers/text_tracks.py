"""Text tracks: the lines OCR read in each sampled frame, followed over time, with rules that
hold for any reader (text_overlay's docstring says what the tracks become).

Readers split and misread one on-screen line differently from frame to frame (EasyOCR on
testvideo.mp4: "Copyright(" + "2013 Brandon Castellano" in one frame, "Copyright @ 2013 Brandon
Castellano" in the next, "Copyright 0 2013 ..." later). So:

1. In each frame, pieces on one text row with at most ROW_GAP line heights between them are one
   line (`join_rows`): word gaps are under one height, two texts side by side are farther apart.
2. A line continues a live track when it reads the same (`same_text`), or, where its box
   overlaps the track's last box, when it reads nearly the same or is a piece of it
   (`continues`). Numbers decide: a number read as another ("Frame = 1" / "Frame = 6", "2013" /
   "2014") makes another text, while a stray one-digit number ("©" read as "0") does not.
   A track survives MAX_MISSED_SAMPLES samples where OCR missed it.
3. A track's text is its confidence-weighted medoid reading: the one most like all the others.
4. Dropped: fragments (FRAGMENT_CHARS letters or digits or fewer) readable for less than
   FRAGMENT_MIN_S, and tracks whose mean recognition score is under JUNK_CONFIDENCE.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np

from pipeline.analyzers.shots import rounded

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame


@dataclass(frozen=True)
class Line:
    """One line of text read in one frame."""

    text: str
    confidence: float
    box: Box


ROW_OVERLAP = 0.6  # share of the shorter piece's height two pieces of one row share
ROW_GAP = 1.2  # most line heights between two pieces of one row
SAME_TEXT_RATIO = 0.8  # difflib ratio from which two readings are one text wherever they are
NEAR_TEXT_RATIO = 0.65  # ... in overlapping boxes (EasyOCR: "ii bcastell com" for "WWW bcastell com")
PIECE_SHARE = 0.8  # share of a shorter reading found in a longer one, in its box, to be a piece of it
BOX_OVERLAP = 0.5  # intersection over the smaller box from which two boxes show one region
MAX_MISSED_SAMPLES = 1  # a track continues across this many samples where OCR missed it
FRAGMENT_CHARS = 2
FRAGMENT_MIN_S = 1.0
JUNK_CONFIDENCE = 0.6


def join_rows(lines: list[Line], width: int, height: int) -> list[Line]:
    """One frame's pieces joined into lines, left to right along each row, rows top to bottom.
    A joined line's confidence is its pieces' mean weighted by their lengths."""
    rows: list[list[Line]] = []
    for piece in sorted(lines, key=lambda line: line.box[0]):
        row = next((r for r in rows if _next_on_row(r[-1], piece, width, height)), None)
        if row is None:
            rows.append([piece])
        else:
            row.append(piece)
    joined = [_join(row) for row in rows]
    return sorted(joined, key=lambda line: ((line.box[1] + line.box[3]) / 2, line.box[0]))


def _next_on_row(left: Line, right: Line, width: int, height: int) -> bool:
    (_, ly0, lx1, ly1), (rx0, ry0, _, ry1) = left.box, right.box
    lh, rh = (ly1 - ly0) * height, (ry1 - ry0) * height
    shared = (min(ly1, ry1) - max(ly0, ry0)) * height
    if min(lh, rh) <= 0 or shared < ROW_OVERLAP * min(lh, rh):
        return False
    gap = (rx0 - lx1) * width
    return -0.5 * min(lh, rh) <= gap <= ROW_GAP * max(lh, rh)  # touching or slightly overlapping boxes too


def _join(row: list[Line]) -> Line:
    if len(row) == 1:
        return row[0]
    text = " ".join(piece.text.strip() for piece in row)
    weights = [len(piece.text.strip()) for piece in row]
    confidence = float(np.average([piece.confidence for piece in row], weights=weights))
    box = (
        min(p.box[0] for p in row),
        min(p.box[1] for p in row),
        max(p.box[2] for p in row),
        max(p.box[3] for p in row),
    )
    return Line(text, confidence, box)


def _key(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]  # "02013" is 2013: a stray "0" glued to the year


def numbers_agree(a: str, b: str) -> bool:
    """Whether two readings have the same numbers, but for one-digit numbers that one of them
    has and the other lacks (a symbol or a speck read as a digit). A number read as another,
    even a one-digit one ("PTS = 0.0s" / "PTS = 1.0s"), is another text."""
    fewer, more = sorted((_numbers(a), _numbers(b)), key=len)
    extra, i = [], 0
    for n in more:  # `fewer` must be `more` with some numbers left out
        if i < len(fewer) and fewer[i] == n:
            i += 1
        else:
            extra.append(n)
    return i == len(fewer) and all(n <= 9 for n in extra)


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def same_text(a: str, b: str) -> bool:
    """Two readings of one text wherever they are: equal letters ignoring case and spaces, or
    nearly equal letters with the same numbers."""
    ka, kb = _key(a), _key(b)
    return ka == kb or (numbers_agree(a, b) and _ratio(ka, kb) >= SAME_TEXT_RATIO)


def continues(previous: Line, line: Line) -> bool:
    """Whether `line` is the text `previous` showed one or two samples before: it reads the same,
    or in the same region it reads nearly the same or is a piece of it (a word the reader lost,
    a line sliding out of the frame)."""
    if same_text(previous.text, line.text):
        return True
    if overlap(previous.box, line.box) < BOX_OVERLAP or not numbers_agree(previous.text, line.text):
        return False
    ka, kb = _key(previous.text), _key(line.text)
    if _ratio(ka, kb) >= NEAR_TEXT_RATIO:
        return True
    shorter, longer = sorted((ka, kb), key=len)
    found = sum(m.size for m in difflib.SequenceMatcher(None, shorter, longer, autojunk=False).get_matching_blocks())
    return len(shorter) > FRAGMENT_CHARS and found >= PIECE_SHARE * len(shorter)


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box: 1 when one box holds the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


@dataclass
class Track:
    first: int  # index of the first sample showing it
    last: int  # ... and of the last
    readings: list[Line] = field(default_factory=list)
    start_s: float = 0.0  # when the first sample showing it was taken
    end_s: float = 0.0  # when it was last known on screen (see `follow`)

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    @property
    def samples(self) -> int:
        return len(self.readings)

    @property
    def confidence(self) -> float:
        return float(np.mean([r.confidence for r in self.readings]))

    def text(self) -> str:
        """The confidence-weighted medoid reading: the one whose likeness to every reading,
        weighted by their scores, is greatest (the earliest of equals)."""
        texts = [" ".join(r.text.split()) for r in self.readings]
        scores = [sum(other.confidence * _ratio(t, u) for u, other in zip(texts, self.readings)) for t in texts]
        return texts[int(np.argmax(scores))]

    def box(self) -> Box:
        boxes = np.array([r.box for r in self.readings])
        return tuple(rounded(v) for v in np.median(boxes, axis=0))  # type: ignore[return-value]


def follow(per_frame: list[list[Line]], pts: np.ndarray, ends: np.ndarray) -> list[Track]:
    """Tracks over the samples (taken at `pts`; what sample i shows is known on screen until
    ends[i]), in order of appearance. Each frame's lines continue live tracks best pair first
    (most overlapping boxes, then most alike texts), one line per track; the others start
    tracks. A track ends after MAX_MISSED_SAMPLES samples without a line."""
    done: list[Track] = []
    live: list[Track] = []
    for i, lines in enumerate(per_frame):
        done += [t for t in live if i - t.last > MAX_MISSED_SAMPLES + 1]
        live = [t for t in live if i - t.last <= MAX_MISSED_SAMPLES + 1]
        pairs = [
            (overlap(t.readings[-1].box, line.box), _ratio(_key(t.readings[-1].text), _key(line.text)), ti, li)
            for ti, t in enumerate(live)
            for li, line in enumerate(lines)
            if continues(t.readings[-1], line)
        ]
        taken_tracks: set[int] = set()
        taken_lines: set[int] = set()
        for _, _, ti, li in sorted(pairs, reverse=True):
            if ti in taken_tracks or li in taken_lines:
                continue
            taken_tracks.add(ti)
            taken_lines.add(li)
            live[ti].last = i
            live[ti].readings.append(lines[li])
        live += [Track(first=i, last=i, readings=[line]) for li, line in enumerate(lines) if li not in taken_lines]
    tracks = sorted(done + live, key=lambda t: t.first)
    for track in tracks:
        track.start_s, track.end_s = float(pts[track.first]), float(ends[track.last])
    return tracks


def stable(track: Track) -> bool:
    """Not a fragment readable only briefly, nor junk the reader was unsure of throughout."""
    characters = len(re.sub(r"\W|_", "", track.text()))
    if characters <= FRAGMENT_CHARS and track.seconds < FRAGMENT_MIN_S - 1e-6:
        return False
    return track.confidence >= JUNK_CONFIDENCE


def persistent(tracks: list[Track], share_s: float) -> list[bool]:
    """Per track: whether its text, in its region, is on screen for share_s seconds or more,
    adding up the tracks of it that the reader's misses split apart."""
    shown = []
    for track in tracks:
        text, box = track.text(), track.box()
        alike = [t for t in tracks if same_text(t.text(), text) and overlap(t.box(), box) >= BOX_OVERLAP]
        shown.append(sum(t.seconds for t in alike) >= share_s)
    return shown


# Platform marks: what TikTok, Instagram and YouTube burn into a downloaded video (a logo with its
# name, and the creator's @handle). A line is a mark when, without its handle, its letters are
# the name, or nearly (one letter misread), and of about its length ("follow me on TikTok" is a
# caption, not a mark).
PLATFORM_MARKS = {
    "tiktok": ("tiktok",),
    "instagram_reels": ("instagram", "reels", "instagramreels"),
    "youtube_shorts": ("youtube", "shorts", "youtubeshorts"),
}
HANDLE = re.compile(r"@[A-Za-z0-9_.]{2,30}")


def platform_mark(text: str) -> str | None:
    """The platform whose mark this reading is, or None."""
    letters = re.sub(r"[^a-z]", "", HANDLE.sub("", text).casefold())
    for platform, names in PLATFORM_MARKS.items():
        for name in names:
            if letters == name or (abs(len(letters) - len(name)) <= 1 and _ratio(letters, name) >= SAME_TEXT_RATIO):
                return platform
    return None


def handle_in(text: str) -> str | None:
    found = HANDLE.search(text.replace(" ", ""))
    return found.group(0).rstrip(".") if found else None
