"""What the report's timeline shows: one lane per kind of finding (shots, speech, on-screen text,
model descriptions, objects, people and faces, audio classes, pace), each drawn from its
analyzers' own typed segments at their own resolution. A lane whose analyzers did not succeed
(or whose stream the video lacks) carries why, instead of nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pipeline.analyzers.fusion_timeline import camera_move
from pipeline.analyzers.shots import TRANSITIONS
from pipeline.schema import AnalyzerResult, Segment, Status, VideoResult


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    caption: str  # written on the block when it fits
    tip: str  # the tooltip
    index: int | None = None  # a shot's index


@dataclass
class Row:
    name: str  # shown beside the row when the lane has several ("" on a class's further rows)
    spans: list[Span]


@dataclass
class Lane:
    title: str
    kind: Literal["shots", "rows", "pace"]
    finding: str  # what its blocks are: shot, speech, text, description, object, person, audio
    rows: list[Row] | None = None  # None: nothing to draw, see `absent`
    absent: str | None = None  # why there is nothing: the stream or the analyzers missing
    boundaries: list[Span] = field(default_factory=list)  # shots: cuts, dissolves and fades (caption: the kind)
    pace: list[float | None] = field(default_factory=list)  # pace: one value a second


class Lanes:
    """The lanes of one result, in the order the page shows them."""

    def __init__(self, result: VideoResult) -> None:
        self.result = result

    def all(self) -> list[Lane]:
        return [
            self.shots(),
            self.rows_or_absent(
                "Speech", "speech", self.speech_rows(), ("speech_transcription", "speech_flow"), "audio"
            ),
            self.rows_or_absent("On-screen text", "text", self.text_rows(), ("text_overlay",)),
            self.rows_or_absent("Described", "description", self.description_rows(), ("qwen2_vl_temporal",)),
            self.rows_or_absent("Objects", "object", self.object_rows(), ("object_detection",)),
            self.rows_or_absent(
                "People & faces", "person", self.people_rows(), ("body_pose", "eye_tracking", "age_estimation")
            ),
            self.rows_or_absent(
                "Audio classes", "audio", self.audio_rows(), ("audio_environment", "audio_analysis"), "audio"
            ),
            self.pace(),
        ]

    def ok(self, name: str) -> AnalyzerResult | None:
        r = self.result.analyzers.get(name)
        return r if r is not None and r.status == Status.ok else None

    def why(self, sources: tuple[str, ...], stream: str) -> str:
        """Why none of `sources` gave the lane anything: the stream is missing, or they are."""
        video = self.result.video
        if not (video.has_audio if stream == "audio" else video.has_video):
            return f"no {stream} stream"
        reasons = []
        for name in sources:
            r = self.result.analyzers.get(name)
            reasons.append(f"{name}: not run" if r is None else f"{name} {r.status.value}: {r.reason or r.error}")
        return "; ".join(reasons)

    def rows_or_absent(
        self, title: str, finding: str, rows: list[Row] | None, sources: tuple[str, ...], stream: str = "video"
    ) -> Lane:
        if rows is None:
            return Lane(title, "rows", finding, absent=self.why(sources, stream))
        return Lane(title, "rows", finding, rows=rows)

    def shots(self) -> Lane:
        cuts = self.ok("cut_analysis")
        if cuts is None:
            return Lane("Shots", "shots", "shot", absent=self.why(("cut_analysis",), "video"))
        camera = self.ok("camera_analysis")
        moves = {s.data.shot: camera_move(s) for s in camera.segments} if camera else {}
        spans = []
        for s in cuts.segments:
            if s.label != "shot":
                continue
            i, move = s.data.index, moves.get(s.data.index)
            tip = (
                f"shot {i}: {s.start_s:.2f}-{s.end_s:.2f} s"
                + (f", camera {move}" if move else "")
                + f", in: {s.data.transition_in}, out: {s.data.transition_out}"
            )
            spans.append(Span(s.start_s, s.end_s, f"#{i}" + (f" {move}" if move else ""), tip, index=i))
        return Lane(
            "Shots",
            "shots",
            "shot",
            rows=[Row("", spans)],
            boundaries=[
                Span(s.start_s, s.end_s, s.label, f"{s.label} {s.start_s:.2f}-{s.end_s:.2f} s")
                if s.label in TRANSITIONS
                else Span(s.start_s, s.start_s, "cut", f"cut at {s.start_s:.3f} s")
                for s in cuts.segments
                if s.label in TRANSITIONS or s.label == "cut"
            ],
        )

    def pace(self) -> Lane:
        tempo = self.ok("temporal_flow")
        pace = tempo.summary.curves.pace if tempo else None
        if not pace:
            stream = "video" if self.result.video.has_video else "audio"
            return Lane("Pace", "pace", "pace", absent=self.why(("temporal_flow",), stream))
        return Lane("Pace", "pace", "pace", pace=pace)

    def speech_rows(self) -> list[Row] | None:
        """The transcript's segments, else the VAD's speech."""
        words = self.ok("speech_transcription")
        if words is not None:
            spans = [
                Span(s.start_s, s.end_s, s.data.text.strip(), f"{s.start_s:.2f}-{s.end_s:.2f} s: {s.data.text}")
                for s in words.segments
                if s.data.text
            ]
            if spans or self.ok("speech_flow") is None:
                return [Row("speech", spans)]
        flow = self.ok("speech_flow")
        if flow is None:
            return None
        spans = [
            Span(s.start_s, s.end_s, "speech", f"speech {s.start_s:.2f}-{s.end_s:.2f} s")
            for s in flow.segments
            if s.label == "speech"
        ]
        return [Row("speech", spans)]

    def text_rows(self) -> list[Row] | None:
        texts = self.ok("text_overlay")
        if texts is None:
            return None
        spans = _spans(
            texts,
            "text",
            lambda s: s.data.text,
            lambda s: f"'{s.data.text}' {s.start_s:.2f}-{s.end_s:.2f} s, {s.data.position}",
        )
        return [Row("", row) for row in _pack(spans)]

    def description_rows(self) -> list[Row] | None:
        model = self.ok("qwen2_vl_temporal")
        if model is None:
            return None
        windows = _spans(
            model,
            "window",
            lambda s: s.data.description or "",
            lambda s: f"{s.start_s:.2f}-{s.end_s:.2f} s: {s.data.description}",
        )
        return [Row("", windows)]

    def object_rows(self) -> list[Row] | None:
        objects = self.ok("object_detection")
        if objects is None:
            return None
        by_class: dict[str, list[Span]] = {}
        for s in objects.segments:
            if s.label != "shot":
                tip = f"{s.label} (track {s.data.track}) {s.start_s:.2f}-{s.end_s:.2f} s"
                by_class.setdefault(s.label, []).append(Span(s.start_s, s.end_s, s.label, tip))
        ranked = sorted(by_class.items(), key=lambda kv: -_screen_time(kv[1]))
        # Tracks of one class that overlap (two people) go to rows of their own, named once.
        return [Row(name if i == 0 else "", row) for name, spans in ranked for i, row in enumerate(_pack(spans))]

    def people_rows(self) -> list[Row] | None:
        rows: list[Row] = []
        pose = self.ok("body_pose")
        if pose is not None:
            rows += _track_rows(
                "people",
                pose,
                "person",
                lambda s: s.data.activity or "person",
                lambda s: f"person track {s.data.track}, {s.data.activity}",
            )
        eyes, ages = self.ok("eye_tracking"), self.ok("age_estimation")
        faces = eyes or ages
        if faces is not None:
            rows += _track_rows(
                "faces",
                faces,
                "face",
                (lambda s: "face") if eyes is not None else (lambda s: s.data.age_range or "face"),
                lambda s: f"face track {s.data.track} {s.start_s:.2f}-{s.end_s:.2f} s",
            )
        return rows if pose is not None or faces is not None else None

    def audio_rows(self) -> list[Row] | None:
        rows: list[Row] = []
        environment = self.ok("audio_environment")
        if environment is not None:
            by_label: dict[str, list[Span]] = {}
            for s in environment.segments:
                tip = f"{s.label} {s.start_s:.2f}-{s.end_s:.2f} s" + (
                    f" ({s.confidence:.2f})" if s.confidence is not None else ""
                )
                by_label.setdefault(s.label, []).append(Span(s.start_s, s.end_s, s.label, tip))
            rows += [
                Row(label, spans) for label, spans in sorted(by_label.items(), key=lambda kv: -_screen_time(kv[1]))
            ]
        heuristic = self.ok("audio_analysis")
        if heuristic is not None:
            spans = [
                Span(s.start_s, s.end_s, s.label, f"{s.label} {s.start_s:.2f}-{s.end_s:.2f} s, {s.data.mean_dbfs} dBFS")
                for s in heuristic.segments
            ]
            rows.append(Row("heuristic", spans))
        return rows if environment is not None or heuristic is not None else None


def _screen_time(spans: list[Span]) -> float:
    return sum(s.end - s.start for s in spans)


def _pack(spans: list[Span]) -> list[list[Span]]:
    """Spans in as few rows as keep them apart (first fit, in order of start)."""
    rows: list[list[Span]] = []
    for span in sorted(spans, key=lambda s: s.start):
        row = next((r for r in rows if r[-1].end <= span.start), None)
        if row is None:
            rows.append([span])
        else:
            row.append(span)
    return rows


def _spans(
    result: AnalyzerResult, label: str, caption: Callable[[Segment], str], tip: Callable[[Segment], str]
) -> list[Span]:
    """A span for each of the result's `label` segments."""
    return [Span(s.start_s, s.end_s, caption(s), tip(s)) for s in result.segments if s.label == label]


def _track_rows(lane: str, result: AnalyzerResult, label: str, caption, tip) -> list[Row]:
    """One lane's rows of `label` segments, packed so none overlap; an empty row when there are none."""
    return [Row(lane, row) for row in _pack(_spans(result, label, caption, tip))] or [Row(lane, [])]
