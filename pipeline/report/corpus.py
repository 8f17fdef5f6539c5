"""`reelscope report DIR`: one self-contained page for a whole backfill (DIR/corpus.html), and
each video's own report beside its document (written when missing or older than the document).

The page shows the distribution of every headline figure some video has, a table of the videos
(sortable by any column, each linking its own report; failed and unreadable documents listed
with their reasons), and the groups of videos sharing footage or a sound (pipeline/corpus.py).
A failed or unreadable document never fails the page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import corpus as corpora
from pipeline import fingerprint
from pipeline.report import template, write_report

BINS = 12
HIST_W, HIST_H = 240, 70  # SVG units of one histogram
THUMBS_PER_PAIR = 6  # matched keyframes shown per pair of videos

LABELS = {"duration_s": "duration (s)", "cuts_per_minute": "cuts per minute", "speech_share": "speech share"}


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    tip: str


@dataclass
class Distribution:
    column: str
    label: str
    count: int  # videos with a value
    summary: str  # median and range, or the share that is true
    bars: list[Bar]
    flag: bool = False  # a yes/no figure: one bar, the share that is yes
    low: str | None = None  # the histogram's ends, written under it
    high: str | None = None


@dataclass
class Cell:
    shown: str
    sort: str  # what the table sorts by (numbers as numbers)


@dataclass
class Row:
    id: str
    link: str | None  # the video's report, relative to the corpus page
    status: str
    error: str | None
    cells: list[Cell]
    groups: str  # the footage and sound groups it is in


@dataclass
class Thumb:
    a: str  # data URIs
    b: str
    caption: str


@dataclass
class PairView:
    a: str
    b: str
    link_a: str | None
    link_b: str | None
    what: str
    thumbs: list[Thumb]


@dataclass
class GroupView:
    number: int
    videos: list[tuple[str, str | None]]  # (id, report link)
    pairs: list[PairView]


@dataclass
class CorpusPage:
    directory: str
    counts: str
    distributions: list[Distribution]
    columns: list[str]
    rows: list[Row]
    footage: list[GroupView]
    sound: list[GroupView]
    notes: list[str]


def write_corpus(directory: Path | str, output: Path | str | None = None) -> tuple[Path, int]:
    """Write the corpus page (default DIR/corpus.html) and every stale per-video report; returns
    the page's path and how many per-video reports were written."""
    directory = Path(directory)
    output = Path(output) if output else directory / "corpus.html"
    read = [_entry_and_report(path) for path in corpora.documents(directory)]
    corpus = corpora.assemble(directory, [entry for entry, _ in read])
    output.write_text(template("corpus.html.j2").render(page=page_data(corpus, output.parent)), encoding="utf-8")
    return output, sum(wrote for _, wrote in read)


def _entry_and_report(document: Path) -> tuple[corpora.Entry, bool]:
    """The document's entry, its report written when missing or older than the document (and
    whether it was)."""
    entry, result = corpora.read_entry(document)
    page = document.with_suffix(".html")
    if result is None or (page.exists() and page.stat().st_mtime_ns >= document.stat().st_mtime_ns):
        return entry, False
    write_report(result, page)
    return entry, True


def page_data(corpus: corpora.Corpus, page_dir: Path) -> CorpusPage:
    links = {
        e.id: os.path.relpath(e.path.with_suffix(".html"), page_dir) if e.status != "unreadable" else None
        for e in corpus.entries
    }
    footage, sound = _group_views(corpus, corpus.footage_groups, links), _group_views(corpus, corpus.sound_groups, links)
    member = {}
    for kind, views in (("footage", footage), ("sound", sound)):
        for view in views:
            for vid, _ in view.videos:
                member.setdefault(vid, []).append(f"{kind} #{view.number}")
    status = [e.status for e in corpus.entries]
    counts = f"{len(status)} documents: {status.count('ok')} ok, {status.count('failed')} failed, {status.count('unreadable')} unreadable"
    columns = ["duration (s)" if c == "duration_s" else LABELS.get(c, c.replace("_", " ")) for c, _ in corpus.figures]
    return CorpusPage(
        directory=str(corpus.directory),
        counts=counts,
        distributions=[_distribution(corpus, column, kind) for column, kind in corpus.figures],
        columns=[*columns, "sound fingerprint"],
        rows=[_row(e, corpus.figures, links[e.id], member.get(e.id, [])) for e in corpus.entries],
        footage=footage,
        sound=sound,
        notes=_notes(corpus),
    )


def _value(entry: corpora.Entry, column: str):
    return entry.duration_s if column == "duration_s" else entry.figures.get(column)


def _distribution(corpus: corpora.Corpus, column: str, kind: str) -> Distribution:
    values = [v for e in corpus.entries if (v := _value(e, column)) is not None]
    label = LABELS.get(column, column.replace("_", " "))
    if kind == "flag":
        true = sum(bool(v) for v in values)
        share = true / len(values) if values else 0.0
        bars = [Bar(0, 0, HIST_W * share, HIST_H / 2, f"{true} of {len(values)} videos")]
        return Distribution(column, label, len(values), f"{share:.0%} yes ({true} of {len(values)})", bars, flag=True)
    if not values:
        return Distribution(column, label, 0, "no video has it", [])
    data = np.asarray(values, dtype=float)
    counts, edges = np.histogram(data, bins=BINS if np.ptp(data) > 0 else 1)
    width = HIST_W / len(counts)
    tallest = counts.max()
    bars = [
        Bar(k * width + 1, HIST_H - HIST_H * c / tallest, width - 2, HIST_H * c / tallest, f"{edges[k]:.3g}-{edges[k + 1]:.3g}: {c} videos")
        for k, c in enumerate(counts.tolist())
    ]
    summary = f"median {np.median(data):.3g}, {data.min():.3g}-{data.max():.3g}"
    return Distribution(column, label, len(values), summary, bars, low=f"{edges[0]:.3g}", high=f"{edges[-1]:.3g}")


def _cell(value) -> Cell:
    if value is None:
        return Cell("-", "")
    if isinstance(value, bool):
        return Cell("yes" if value else "no", str(int(value)))
    if isinstance(value, float):
        return Cell(f"{value:.3g}", repr(value))
    return Cell(str(value), str(value))


def _row(entry: corpora.Entry, figures: list[tuple[str, str]], link: str | None, groups: list[str]) -> Row:
    cells = [_cell(_value(entry, column)) for column, _ in figures]
    heard = entry.fingerprint is not None
    cells.append(Cell("yes" if heard else (entry.fingerprint_absent or "-"), "1" if heard else "0"))
    return Row(entry.id, link, entry.status, entry.error, cells, ", ".join(groups))


def _uri(b64: str) -> str:
    return f"data:image/jpeg;base64,{b64}"


def _group_views(corpus: corpora.Corpus, groups: list[corpora.Group], links: dict) -> list[GroupView]:
    views = []
    for number, group in enumerate(groups, start=1):
        pairs = []
        for p in group.footage:
            frames_a = {k.shot: k for k in corpus.entry(p.a).keyframes}
            frames_b = {k.shot: k for k in corpus.entry(p.b).keyframes}
            shots = {(m.shot_a, m.shot_b): m.distance for m in p.shots}
            what = "re-upload: " if p.reupload else ""
            what += f"{len({a for a, _ in shots})} of {len(frames_a)} shots of {p.a} in {p.b}"
            thumbs = [
                Thumb(_uri(frames_a[a].thumbnail), _uri(frames_b[b].thumbnail), f"shot {a} / shot {b}: {d} bits apart")
                for (a, b), d in sorted(shots.items())[:THUMBS_PER_PAIR]
            ]
            pairs.append(PairView(p.a, p.b, links[p.a], links[p.b], what, thumbs))
        for p in group.sound:
            al = p.alignment
            if al.offset == 0:
                lead = "both from the same point of the sound"
            else:
                later, earlier = (p.b, p.a) if al.offset > 0 else (p.a, p.b)
                lead = f"the sound comes {abs(al.offset_s):.1f} s later in {later} than in {earlier}"
            what = (
                f"{al.matched_share:.0%} of the {al.overlap} fingerprint items in common ({al.overlap_s:.0f} s) match,"
                f" bit error rate {al.bit_error_rate:.2f}; {lead}"
            )
            pairs.append(PairView(p.a, p.b, links[p.a], links[p.b], what, []))
        views.append(GroupView(number, [(v, links[v]) for v in group.videos], pairs))
    return views


def _notes(corpus: corpora.Corpus) -> list[str]:
    heard = sum(e.fingerprint is not None for e in corpus.entries)
    readable = [e for e in corpus.entries if e.status != "unreadable"]
    absent: dict[str, int] = {}
    for e in readable:
        if e.fingerprint is None:
            absent[e.fingerprint_absent or "unknown"] = absent.get(e.fingerprint_absent or "unknown", 0) + 1
    hashed = sum(len(e.keyframes) for e in corpus.entries)
    shots = sum(e.shots for e in corpus.entries)
    notes = [
        f"Footage: {hashed} of {shots} shot keyframes hashed (pHash; flat frames are not); two shots of different videos"
        f" match within {corpora.FOOTAGE_MAX_BITS} of 64 bits, whole or cropped to {', '.join(f'{s:.0%}' for s in corpora.CROP_SCALES[1:])}."
        " Mirrored, heavily cropped (over about 10% a side), rotated or overlaid copies are not found.",
        f"Sound: {heard} of {len(readable)} videos fingerprinted (Chromaprint); two match when {fingerprint.MATCHED_SHARE:.0%} of"
        f" their fingerprints' items over at least {fingerprint.MIN_OVERLAP_S:g} s in common differ in at most"
        f" {fingerprint.ITEM_MAX_BITS} of 32 bits at the best offset. Speech over the sound still matches; a sound sped up,"
        " pitch-shifted or under louder speech than music may not.",
    ]
    notes += [f"No fingerprint for {n} video(s): {why}." for why, n in sorted(absent.items())]
    return notes
