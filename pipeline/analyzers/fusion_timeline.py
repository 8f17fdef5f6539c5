"""cross_analyzer_intelligence's reading of the other results: the seconds of the timeline, what
each analyzer found during a span of time, when things first happen, and which analyzers were
read (and why each other one was not).

Every read is of an analyzer's typed result (`result.summary.<field>`, `segment.data.<field>`).
A field it would fill is None when its analyzer is missing (not run, skipped, failed): not
measured, never empty (measured, nothing found).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import Context
from pipeline.analyzers.shots import loudness_per_second, mean_db, rounded, whole_seconds
from pipeline.registry import ALL_NAMES
from pipeline.schema import AnalyzerResult, Segment, VideoInfo

NAME = "cross_analyzer_intelligence"
OTHERS = tuple(n for n in ALL_NAMES if n != NAME)

Span = tuple[float, float]


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., description="cut_analysis's kind of boundary: cut, dissolve or fade")
    at_s: float = Field(..., description="time of the first frame of the shot it opens (s)")


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    used: list[str] = Field(..., description="the analyzers whose results were read, in registry order")
    not_used: dict[str, str] = Field(
        ..., description="each other analyzer and why it was not read: 'not run', or its status and reason"
    )


@dataclass(frozen=True)
class Second:
    index: int
    start_s: float
    end_s: float

    @property
    def span(self) -> Span:
        return (self.start_s, self.end_s)


def timeline_seconds(duration_s: float) -> list[Second]:
    """The seconds of the timeline: [k, k+1), the last one to the end of the video."""
    n = whole_seconds(duration_s)
    return [Second(k, float(k), float(k + 1) if k < n - 1 else rounded(max(duration_s, k))) for k in range(n)]


def overlap(a: Span, b: Span) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def touches(segment: Span, span: Span) -> bool:
    """The segment shows during the span: they overlap, or an instant segment lies inside it."""
    if segment[1] <= segment[0] or span[1] <= span[0]:
        return span[0] <= segment[0] <= span[1] if span[1] <= span[0] else span[0] <= segment[0] < span[1]
    return overlap(segment, span) > 0


def share(span: Span, spans: Iterable[Span]) -> float:
    """Share of `span` inside the union of `spans` (which may overlap each other)."""
    length = span[1] - span[0]
    if length <= 0:
        return 1.0 if any(a <= span[0] <= b for a, b in spans) else 0.0
    clipped = sorted((max(a, span[0]), min(b, span[1])) for a, b in spans if min(b, span[1]) > max(a, span[0]))
    covered, reach = 0.0, span[0]
    for a, b in clipped:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    return covered / length


def camera_move(segment: Segment) -> str:
    """A camera_analysis segment in words: 'pan right', 'static'."""
    direction = segment.data.direction
    return f"{segment.label} {direction}" if direction and segment.label in ("pan", "tilt", "zoom") else segment.label


class Facts:
    """The results of one video, read the way the timeline, the score and the summary need them."""

    def __init__(self, context: Context) -> None:
        self.video: VideoInfo = context.video
        self.results = context.results
        self.ok: dict[str, AnalyzerResult] = {
            name: result for name in OTHERS if (result := context.ok(name)) is not None
        }
        self.whole: Span = (0.0, max(context.video.duration_s, 0.0))

    def get(self, name: str) -> AnalyzerResult | None:
        return self.ok.get(name)

    def segments(self, name: str, *labels: str, exclude: tuple[str, ...] = ()) -> list[Segment] | None:
        """`name`'s segments (those labelled `labels`, or all but `exclude`), None when it did not succeed."""
        result = self.ok.get(name)
        if result is None:
            return None
        return [s for s in result.segments if (s.label in labels if labels else s.label not in exclude)]

    def faces(self) -> list[Segment] | None:
        """Face tracks: eye_tracking's, else age_estimation's."""
        found = self.segments("eye_tracking", "face")
        return found if found is not None else self.segments("age_estimation", "face")

    # --- what happens during a span -------------------------------------------------------

    def moment(self, span: Span) -> dict[str, Any]:
        """The timeline's fields for the span, by field name (None: its analyzer is missing)."""
        shots = self.segments("cut_analysis", "shot")
        objects = self.segments("object_detection", exclude=("shot",))
        people = self.segments("body_pose", "person")
        faces = self.faces()
        speech = self.segments("speech_flow", "speech")
        words = self.words()

        def inside(segments: list[Segment] | None, what: Callable[[Segment], Any]) -> list | None:
            if segments is None:
                return None
            return list(dict.fromkeys(what(s) for s in segments if touches((s.start_s, s.end_s), span)))

        def count(segments: list[Segment] | None) -> int | None:
            return None if segments is None else sum(touches((s.start_s, s.end_s), span) for s in segments)

        return {
            "shots": inside(shots, lambda s: s.data.index),
            "transitions": None if shots is None else self.transitions(span),
            "camera": inside(self.segments("camera_analysis"), camera_move),
            "objects": None
            if objects is None
            else dict(Counter(s.label for s in objects if touches((s.start_s, s.end_s), span))),
            "people": count(people),
            "faces": count(faces),
            "descriptions": inside(self.segments("qwen2_vl_temporal", "window"), lambda s: s.data.description),
            "speech": None if speech is None else rounded(share(span, [(s.start_s, s.end_s) for s in speech])),
            # A word counts in the span it starts in; one starting past the end (audio a little
            # longer than the pictures) in the span that closes the video.
            "words": None
            if words is None
            else [w for t, _, w in words if span[0] <= t < span[1] or t >= span[1] >= self.whole[1]],
            "emotions": inside(self.segments("speech_emotion"), lambda s: s.label),
            "text": inside(self.segments("text_overlay", "text"), lambda s: s.data.text),
            "audio": inside(self.segments("audio_analysis", "speech", "music", "silence"), lambda s: s.label),
            "sounds": inside(self.segments("audio_environment"), lambda s: s.label),
        }

    def transitions(self, span: Span) -> list[Transition]:
        """Shot boundaries in [start, end) of the span, named by the shot they open."""
        return [
            Transition(kind=s.data.transition_in, at_s=s.start_s)
            for s in self.segments("cut_analysis", "shot") or []
            if s.data.index > 0 and span[0] <= s.start_s < span[1]
        ]

    def curves_at(self, seconds: list[int]) -> dict[str, float | None]:
        """Camera motion, loudness and pace over these seconds of the per-second curves."""
        camera, tempo = self.get("camera_analysis"), self.get("temporal_flow")
        loudness = self.loudness_per_second()
        return {
            "motion": _mean_at(camera.summary.motion_curve if camera else None, seconds),
            "loudness_dbfs": rounded(mean_db([loudness[k] for k in seconds if k < len(loudness)]))
            if loudness is not None
            else None,
            "pace": _mean_at(tempo.summary.curves.pace if tempo else None, seconds),
        }

    def loudness_per_second(self) -> list[float | None] | None:
        audio = self.get("audio_analysis")
        curve = audio.summary.loudness.curve if audio else None
        if not curve:
            return None
        return [rounded(db) for db in loudness_per_second(curve, whole_seconds(self.video.duration_s))]

    def firsts(self) -> dict[str, float | None]:
        """When the first cut, on-screen text, word and speech come (None: never, or not measured:
        then the field its analyzer fills, shots, text, words or speech, is None too)."""
        shots, texts = self.segments("cut_analysis", "shot"), self.segments("text_overlay", "text")
        words, speech = self.words(), self.segments("speech_flow", "speech")
        return {
            "first_cut_s": min((s.start_s for s in shots or [] if s.data.index > 0), default=None),
            "first_text_s": min((s.start_s for s in texts or []), default=None),
            "first_word_s": words[0][0] if words else None,
            "first_speech_s": min((s.start_s for s in speech or []), default=None),
        }

    # --- speech_transcription ------------------------------------------------------------------

    def words(self) -> list[tuple[float, float, str]] | None:
        """speech_transcription's words (start_s, end_s, word) in time order."""
        result = self.get("speech_transcription")
        if result is None:
            return None
        return sorted((w.start_s, w.end_s, w.word.strip()) for s in result.segments for w in s.data.words)

    def transcript(self) -> str | None:
        result = self.get("speech_transcription")
        if result is None:
            return None
        return (result.summary.text or " ".join(w for _, _, w in self.words() or [])).strip()

    # --- inputs --------------------------------------------------------------------------------

    def why_not(self, name: str) -> str | None:
        """Why `name`'s result is not read: None when it is."""
        if name in self.ok:
            return None
        result = self.results.get(name)
        if result is None:
            return "not run"
        return f"{result.status.value}: {result.reason or result.error}"

    def inputs(self) -> Inputs:
        return Inputs(
            used=[n for n in OTHERS if n in self.ok],
            not_used={n: self.why_not(n) for n in OTHERS if n not in self.ok},
        )


def _mean_at(curve: list[float | None] | None, seconds: list[int]) -> float | None:
    if curve is None:
        return None
    values = [curve[k] for k in seconds if k < len(curve) and curve[k] is not None]
    return rounded(sum(values) / len(values)) if values else None
