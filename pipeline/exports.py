"""A result document as the files research tools open: subtitles (WebVTT, SRT), one table of
every segment (CSV, for pandas / DuckDB / R), and an ELAN annotation file (EAF).

    vtt, srt  <stem>.<fmt>: the transcript, one cue per sentence, the speaker when known;
              <stem>.captions.<fmt>: the captions burned into the picture (text_overlay tracks
              with is_caption; a two-line caption is one cue of two lines).
    csv       one row per segment of every analyzer: id, analyzer, start_s, end_s, label,
              confidence, then the segment's typed data flattened (nested records as dotted
              columns, lists and dicts as JSON, booleans true/false, None empty); embedded
              media (shot thumbnails) stays in the document.
    eaf       one tier per analyzer, times in ms; the transcript's words on a tier of their own.
              An ELAN tier cannot hold overlapping annotations, so an analyzer whose segments
              overlap gets a tier per label ("cut_analysis shot", "cut_analysis cut"), and
              labels whose segments overlap among themselves (two objects at once) spill into
              numbered tiers ("object_detection person 2"). An annotation shorter than 1 ms (a
              cut is an instant) is given 1 ms, which ELAN needs.

What a document does not hold (the video failed, an analyzer skipped, no video track) makes a
valid file with less or nothing in it, and `notes` says why in one line each (a NOTE block in
WebVTT, a "reelscope note" header property in EAF; SRT and CSV have no comments: the command
prints them). A file that is not a reelscope document, or of a schema version this code does not
read, raises DocumentError: one line.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import mimetypes
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from pipeline.analyzers.whisper import SENTENCE_END
from pipeline.schema import SCHEMA_MAJOR, SCHEMA_VERSION, AnalyzerResult, Segment, Status, VideoResult, readable

FORMATS = ("vtt", "srt", "csv", "eaf")
SUBTITLES = ("vtt", "srt")
SPEECH = "speech_transcription"
CAPTIONS = "text_overlay"
BASE_COLUMNS = ("id", "analyzer", "start_s", "end_s", "label", "confidence")
NOTHING_SHOWN = {SPEECH: "no speech was transcribed", CAPTIONS: "no caption was on screen"}
TEXT_FIELDS = ("text", "description", "word")  # a segment's value in ELAN: the first it has, else its label


class DocumentError(ValueError):
    """The input is not a document this code can export; the message is one line."""


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str  # lines joined by "\n"
    speaker: str | None = None


# ---- reading ----


def read_document(path: Path) -> VideoResult:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{path} is not a reelscope document: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("schema_version"), str) or "id" not in raw:
        raise DocumentError(f"{path} is not a reelscope document: no schema_version and id at its top level")
    if not readable(raw["schema_version"]):
        raise DocumentError(
            f"{path} has schema version {raw['schema_version']}; this reelscope reads {SCHEMA_MAJOR}.x documents"
        )
    try:
        return VideoResult.model_validate(raw)
    except ValidationError as exc:  # a later 2.x may add fields this one does not know: it says which
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise DocumentError(
            f"{path} (schema {raw['schema_version']}) is not a valid reelscope {SCHEMA_VERSION} document:"
            f" {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None


def notes(result: VideoResult, names: list[str] | None = None) -> list[str]:
    """One line for each of `names` (default: every analyzer in the document) that gave nothing
    to export, and why; one line only when the video itself was not analysed."""
    if result.status != Status.ok:
        return [f"{result.id}: the video was not analysed ({result.error or result.status.value}); nothing to export"]
    lines = []
    for name in result.analyzers if names is None else names:
        analyzer = result.analyzers.get(name)
        if analyzer is None:
            lines.append(f"{result.id}: {name} was not run")
        elif analyzer.status != Status.ok:
            lines.append(f"{result.id}: {name} {analyzer.status.value}: {analyzer.reason or analyzer.error}")
    return [" ".join(line.split()) for line in lines]


def _ok(result: VideoResult, name: str) -> AnalyzerResult | None:
    analyzer = result.analyzers.get(name)
    return analyzer if analyzer is not None and analyzer.status == Status.ok else None


# ---- subtitles ----


def transcript_cues(result: VideoResult) -> list[Cue]:
    """One cue per sentence of the transcript; a segment holding several sentences is cut after
    each word that ends one, at that word's time."""
    speech = _ok(result, SPEECH)
    if speech is None:
        return []
    cues = [cue for segment in speech.segments for cue in _sentences(segment)]
    return sorted(cues, key=lambda cue: (cue.start_s, cue.end_s))


def _sentences(segment: Segment) -> list[Cue]:
    data = segment.data
    text, words, speaker = getattr(data, "text", ""), getattr(data, "words", None) or [], getattr(data, "speaker", None)
    ends = [i for i, word in enumerate(words) if word.word.endswith(SENTENCE_END)]
    if not ends or ends == [len(words) - 1]:
        return [Cue(segment.start_s, segment.end_s, _one_line(text), speaker)] if text.strip() else []
    if ends[-1] != len(words) - 1:
        ends.append(len(words) - 1)
    cues, first, cut = [], 0, 0
    spans = _word_spans(text, [word.word for word in words])
    for last in ends:
        # The sentence's own characters of the text when every word is found in it, else its words.
        piece = text[cut : spans[last][1]] if spans else " ".join(w.word for w in words[first : last + 1])
        cues.append(Cue(words[first].start_s, words[last].end_s, _one_line(piece), speaker))
        first, cut = last + 1, spans[last][1] if spans else 0
    return cues


def _word_spans(text: str, words: list[str]) -> list[tuple[int, int]] | None:
    spans, cursor = [], 0
    for word in words:
        at = text.find(word, cursor)
        if at < 0:
            return None
        cursor = at + len(word)
        spans.append((at, cursor))
    return spans


def caption_cues(result: VideoResult) -> list[Cue]:
    """The caption tracks; tracks on screen over the same span (the lines of one caption) make one
    cue, top line first."""
    overlay = _ok(result, CAPTIONS)
    if overlay is None:
        return []
    lines: dict[tuple[float, float], list[tuple[float, str]]] = {}
    for segment in overlay.segments:
        if getattr(segment.data, "is_caption", False):
            top = (getattr(segment.data, "box", None) or [0.0, 0.0])[1]
            lines.setdefault((segment.start_s, segment.end_s), []).append((top, _one_line(segment.data.text)))
    return [Cue(start, end, "\n".join(text for _, text in sorted(rows))) for (start, end), rows in sorted(lines.items())]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def milliseconds(start_s: float, end_s: float) -> tuple[int, int]:
    """A span in whole ms, at least 1 ms long: a cue or an ELAN annotation must end after it
    starts (WebVTT drops one that does not), and a cut or a word can be an instant."""
    start = round(start_s * 1000)
    return start, max(round(end_s * 1000), start + 1)


def _timings(cue: Cue, separator: str) -> str:
    def stamp(ms: int) -> str:
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"

    start, end = milliseconds(cue.start_s, cue.end_s)
    return f"{stamp(start)} --> {stamp(end)}"


def vtt(cues: list[Cue], comments: list[str]) -> str:
    blocks = ["WEBVTT"]
    blocks += [f"NOTE {_plain(line)}" for line in comments]
    for number, cue in enumerate(cues, 1):
        text = html.escape(_plain(cue.text), quote=False)
        voice = f"<v {cue.speaker}>" if cue.speaker else ""
        blocks.append(f"{number}\n{_timings(cue, '.')}\n{voice}{text}")
    return "\n\n".join(blocks) + "\n"


def srt(cues: list[Cue]) -> str:
    blocks = [
        f"{number}\n{_timings(cue, ',')}\n{f'[{cue.speaker}] ' if cue.speaker else ''}{_plain(cue.text)}"
        for number, cue in enumerate(cues, 1)
    ]
    return "".join(block + "\n\n" for block in blocks)


def _plain(text: str) -> str:
    """Text that cannot end a block or read as a timing line."""
    return "\n".join(line for line in text.replace("-->", "->").splitlines() if line.strip())


# ---- csv ----


def csv_rows(result: VideoResult) -> list[dict[str, str]]:
    rows = []
    for name, analyzer in result.analyzers.items():
        for segment in analyzer.segments:
            base = (result.id, name, segment.start_s, segment.end_s, segment.label, segment.confidence)
            row = dict(zip(BASE_COLUMNS, map(_cell, base), strict=True))
            for column, value in flatten(segment.data).items():
                row["data." + column if column in BASE_COLUMNS else column] = value
            rows.append(row)
    return rows


def flatten(model: BaseModel, prefix: str = "") -> dict[str, str]:
    """A model's fields under their JSON names; nested models as dotted names. Embedded media
    (a field the schema marks with a contentMediaType, e.g. a shot's JPEG thumbnail) is left out:
    kilobytes of base64 per row are no figure a table is read for."""
    values = {
        field.alias or name: getattr(model, name)
        for name, field in type(model).model_fields.items()
        if not _is_media(field)
    }
    values.update(model.model_extra or {})
    flat: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, BaseModel):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = _cell(value)
    return flat


def _is_media(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and "contentMediaType" in extra


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(to_jsonable_python(value), ensure_ascii=False, separators=(",", ":"))


def write_csv(result: VideoResult, path: Path) -> None:
    rows = csv_rows(result)
    columns = list(dict.fromkeys([*BASE_COLUMNS, *(column for row in rows for column in row)]))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


# ---- eaf ----

Annotation = tuple[int, int, str]  # start ms, end ms, value


def eaf_tiers(result: VideoResult) -> dict[str, list[Annotation]]:
    tiers: dict[str, list[Annotation]] = {}
    for name, analyzer in result.analyzers.items():
        if analyzer.status != Status.ok or not analyzer.segments:
            continue
        if name == SPEECH:
            groups = _speech_groups(analyzer.segments)
        else:
            groups = {name: [_annotation(s) for s in analyzer.segments]}
            if len(_lanes(groups[name])) > 1:
                groups = {}
                for segment in analyzer.segments:
                    groups.setdefault(f"{name} {segment.label}", []).append(_annotation(segment))
        for tier, spans in groups.items():
            for number, lane in enumerate(_lanes(spans), 1):
                tiers[tier if number == 1 else f"{tier} {number}"] = lane
    return tiers


def _speech_groups(segments: list[Segment]) -> dict[str, list[Annotation]]:
    groups: dict[str, list[Annotation]] = {}
    for segment in segments:
        speaker = getattr(segment.data, "speaker", None)
        tier = SPEECH + (f" {speaker}" if speaker else "")
        groups.setdefault(tier, []).append(_annotation(segment))
        for word in getattr(segment.data, "words", None) or []:
            groups.setdefault(f"{tier} words", []).append((*milliseconds(word.start_s, word.end_s), word.word))
    return groups


def _annotation(segment: Segment) -> Annotation:
    value = next((v for f in TEXT_FIELDS if isinstance(v := getattr(segment.data, f, None), str) and v), segment.label)
    return (*milliseconds(segment.start_s, segment.end_s), value)


def _lanes(annotations: list[Annotation]) -> list[list[Annotation]]:
    """Each annotation in the first lane whose last one has ended by its start."""
    lanes: list[list[Annotation]] = []
    for annotation in sorted(annotations):
        lane = next((lane for lane in lanes if lane[-1][1] <= annotation[0]), None)
        if lane is None:
            lanes.append(lane := [])
        lane.append(annotation)
    return lanes


def eaf(result: VideoResult, path: Path, comments: list[str]) -> bytes:
    tiers = eaf_tiers(result)
    root = ElementTree.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "reelscope",
            "DATE": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ElementTree.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if result.video is not None:
        ElementTree.SubElement(header, "MEDIA_DESCRIPTOR", _media(result, path))
    annotation_count = sum(len(annotations) for annotations in tiers.values())
    properties = [("lastUsedAnnotationId", str(annotation_count)), *(("reelscope note", line) for line in comments)]
    for name, text in properties:
        ElementTree.SubElement(header, "PROPERTY", {"NAME": name}).text = text
    times = sorted({t for annotations in tiers.values() for start, end, _ in annotations for t in (start, end)})
    slot = {t: f"ts{i}" for i, t in enumerate(times, 1)}
    order = ElementTree.SubElement(root, "TIME_ORDER")
    for t in times:
        ElementTree.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": slot[t], "TIME_VALUE": str(t)})
    number = 0
    for tier_id, spans in tiers.items():
        tier = ElementTree.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": tier_id})
        for start, end, value in spans:
            number += 1
            span = {"ANNOTATION_ID": f"a{number}", "TIME_SLOT_REF1": slot[start], "TIME_SLOT_REF2": slot[end]}
            aligned = ElementTree.SubElement(ElementTree.SubElement(tier, "ANNOTATION"), "ALIGNABLE_ANNOTATION", span)
            ElementTree.SubElement(aligned, "ANNOTATION_VALUE").text = value
    kind = {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"}
    ElementTree.SubElement(root, "LINGUISTIC_TYPE", kind)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _media(result: VideoResult, path: Path) -> dict[str, str]:
    """Where ELAN finds the media: the file analysed, also relative to the EAF for a moved folder."""
    media = result.video.path
    if media.startswith(("http://", "https://")):
        return {"MEDIA_URL": media, "MIME_TYPE": _mime(result)}
    absolute = Path(media).resolve()
    descriptor = {"MEDIA_URL": absolute.as_uri(), "MIME_TYPE": _mime(result)}
    try:
        descriptor["RELATIVE_MEDIA_URL"] = "./" + absolute.relative_to(path.resolve().parent).as_posix()
    except ValueError:  # not below the EAF's folder: the absolute URL alone
        pass
    return descriptor


def _mime(result: VideoResult) -> str:
    guessed, _ = mimetypes.guess_type(result.video.path)
    return guessed or ("video/*" if result.video.has_video else "audio/*")


# ---- the command ----


def export(document: Path, fmt: str, output: Path | None) -> list[Path]:
    """Write `document` as `fmt` to `output` (default: beside the document, its suffix replaced;
    a folder, or a path without a suffix: <document's stem>.<fmt> in it); the subtitle formats
    also write <stem>.captions.<fmt> beside it.
    Returns the paths written. Raises DocumentError (one line) for what cannot be exported."""
    return _export(Path(document), fmt, output)[0]


def _export(document: Path, fmt: str, output: Path | None) -> tuple[list[Path], list[str]]:
    if fmt not in FORMATS:
        raise DocumentError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    result = read_document(document)
    target = Path(output) if output is not None else document.with_suffix(f".{fmt}")
    if target.is_dir() or not target.suffix:  # a folder: made if need be
        target.mkdir(parents=True, exist_ok=True)
        target = target / f"{document.stem}.{fmt}"
    if fmt in SUBTITLES:
        captions = target.with_name(f"{target.stem}.captions.{fmt}")
        comments: list[str] = []
        for path, name, cues in ((target, SPEECH, transcript_cues(result)), (captions, CAPTIONS, caption_cues(result))):
            said = notes(result, [name]) or ([] if cues else [f"{result.id}: {NOTHING_SHOWN[name]}"])
            path.write_text(vtt(cues, said) if fmt == "vtt" else srt(cues), encoding="utf-8")
            comments += said
        return [target, captions], list(dict.fromkeys(comments))  # a failed video's one line, once
    comments = notes(result)
    if fmt == "csv":
        write_csv(result, target)
    else:
        target.write_bytes(eaf(result, target, comments))
    return [target], comments


def command(args: argparse.Namespace) -> int:
    """`reelscope export DOC.json --format F [-o PATH]`: 0 when written (each note on stderr),
    2 with one line when not."""
    try:
        written, comments = _export(Path(args.document), args.format, Path(args.output) if args.output else None)
    except (DocumentError, OSError) as exc:
        print(f"reelscope export: {exc}", file=sys.stderr)
        return 2
    for line in comments:
        print(f"note: {line}", file=sys.stderr)
    for path in written:
        print(f"{args.format} written to {path}")
    return 0
