"""What the report page shows, computed from the typed document: the header, the reconstruction
score, the written summary and the hook, the short-form panel (short_form.py), the
second-by-second table (and the data the page's script shows under the pointer), the
timeline's lanes, and each analyzer's status.

The score, the summary, the hook and the seconds are cross_analyzer_intelligence's, read from
the document; when it did not run (or did not succeed) the page says why and shows the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.analyzers.fusion import CrossAnalyzerIntelligenceSegment
from pipeline.analyzers.fusion_sentences import Sentence
from pipeline.analyzers.fusion_timeline import NAME as FUSION
from pipeline.analyzers.fusion_timeline import Transition
from pipeline.report.lanes import Lanes
from pipeline.report.layout import Timeline, place
from pipeline.report.short_form import ShortFormPanel, short_form_panel
from pipeline.report.watch import Line, Media, ShotCard, media, shot_cards, transcript
from pipeline.schema import SCHEMA_MAJOR, AnalyzerResult, Status, VideoInfo, VideoResult, readable

# The fields of a fused second the page's script describes under the pointer.
HOVER_FIELDS = (
    "shots", "camera", "objects", "people", "faces", "descriptions", "words", "speech", "text", "sounds", "audio",
    "loudness_dbfs", "pace",
)  # fmt: skip


@dataclass
class ScoreRow:
    dimension: str
    weight: float
    coverage: float | None  # None: it does not apply, see not_applicable
    not_applicable: str | None
    sources: str
    missing: dict[str, str]


@dataclass
class SecondRow:
    """One fused second in words; a cell is None where its analyzer is missing."""

    second: int
    shots: str | None
    transitions: list[Transition]
    camera: str | None
    seen: str
    said: str
    text: str | None
    heard: str
    loudness_dbfs: float | None
    pace: float | None


@dataclass
class AnalyzerRow:
    name: str
    status: str
    elapsed_s: float
    reason: str


@dataclass
class Report:
    id: str
    source: str
    unreadable: str | None = None  # why the video could not be read (then nothing else is shown)
    unknown_schema: str | None = None  # a document of a schema this reelscope does not read (likewise)
    failed: str | None = None  # why the analysis of a readable video failed as a whole
    facts: list[str] = field(default_factory=list)  # duration, size, codecs
    elapsed_s: float = 0.0
    fusion_absent: str | None = None  # why there is no score, summary or seconds
    score: float | None = None
    dimensions: list[ScoreRow] = field(default_factory=list)
    hook: str | None = None
    sentences: list[Sentence] = field(default_factory=list)
    seconds: list[SecondRow] = field(default_factory=list)
    hover: list[dict[str, Any]] = field(default_factory=list)  # the page script's data, one entry a second
    timeline: Timeline | None = None
    analyzers: list[AnalyzerRow] = field(default_factory=list)
    media: Media | None = None  # the player's source
    shots: list[ShotCard] = field(default_factory=list)  # keyframes, none for a file without pictures
    transcript: list[Line] = field(default_factory=list)
    transcript_absent: str = ""  # why there is no transcript
    shots_absent: str = ""  # why there are no keyframes
    short_form: ShortFormPanel | None = None  # the short-form insights (None: no readable video)

    @property
    def title(self) -> str:
        return f"reelscope: {self.id}"


def report_data(result: VideoResult, page_dir: Path = Path("."), embed_video: bool = False) -> Report:
    """The page's content; `page_dir` is the folder the page is written to (the player's source is
    relative to it), `embed_video` puts the clip itself in the page."""
    if not readable(result.schema_version):
        why = f"schema version {result.schema_version} (written by reelscope {result.reelscope_version})"
        return Report(id=result.id, source=result.source, unknown_schema=f"{why}; this reelscope reads {SCHEMA_MAJOR}.x")
    if result.video is None:
        return Report(id=result.id, source=result.source, unreadable=result.error)
    lanes = Lanes(result)
    report = Report(
        id=result.id,
        source=result.source,
        failed=result.error if result.status == Status.failed else None,
        facts=_facts(result.video),
        elapsed_s=result.elapsed_s,
        timeline=place(lanes.all(), result.video.duration_s),
        analyzers=[
            AnalyzerRow(name, r.status.value, r.elapsed_s, r.reason or r.error or "")
            for name, r in result.analyzers.items()
        ],
        media=media(result, page_dir, embed_video),
        shots=shot_cards(result),
        transcript=transcript(result),
        short_form=short_form_panel(result),
    )
    heard = lanes.ok("speech_transcription") is not None
    report.transcript_absent = "no speech heard" if heard else lanes.why(("speech_transcription",), "audio")
    report.shots_absent = lanes.why(("cut_analysis",), "video")
    fusion = result.analyzers.get(FUSION)
    if fusion is None or fusion.status != Status.ok:
        report.fusion_absent = (
            f"{FUSION} not run"
            if fusion is None
            else f"{FUSION} {fusion.status.value}: {fusion.reason or fusion.error}"
        )
        return report
    _fused(report, fusion)
    return report


def _fused(report: Report, fusion: AnalyzerResult) -> None:
    """The score, the summary, the hook and the seconds of cross_analyzer_intelligence's result."""
    reconstruction = fusion.summary.reconstruction
    report.score = reconstruction.score
    report.dimensions = [
        ScoreRow(
            dimension=name.replace("_", " "),
            weight=d.weight,
            coverage=d.coverage,
            not_applicable=d.not_applicable,
            sources=", ".join(d.sources) or "none",
            missing=d.missing,
        )
        for name, d in reconstruction.dimensions
    ]
    hook = next((s for s in fusion.segments if s.label == "hook"), None)
    report.hook = hook.data.sentence if hook else None
    report.sentences = [s for s in fusion.summary.sentences if s.text != report.hook]  # the hook has its own line
    seconds = [s for s in fusion.segments if s.label == "second"]
    report.seconds = [_second_row(s.data) for s in seconds]
    report.hover = [
        {"start": s.start_s, "end": s.end_s, **s.data.model_dump(mode="json", include=set(HOVER_FIELDS))}
        for s in seconds
    ]


def _facts(video: VideoInfo) -> list[str]:
    facts = [f"{video.duration_s:.2f} s"]
    if video.has_video:
        facts.append(f"{video.width}x{video.height}" + (f" at {video.fps:.4g} fps" if video.fps else ""))
        facts.append(video.video_codec or "")
    channels = f"{video.audio_channels} ch" if video.audio_channels else None
    audio = ", ".join(str(x) for x in (video.audio_codec, channels) if x)
    facts.append(f"audio {audio}".strip() if video.has_audio else "no audio")
    return [f for f in facts if f]


def _listed(value: list | dict | None) -> str | None:
    """A field in words: None stays None (not measured), a dict of counts as 'class xN'."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = [f"{k} x{n}" for k, n in value.items()]
    return ", ".join(str(v) for v in value)


def _second_row(d: CrossAnalyzerIntelligenceSegment) -> SecondRow:
    seen = [
        _listed(d.objects),
        f"{d.people} people" if d.people else "",
        f"{d.faces} faces" if d.faces else "",
        _listed(d.descriptions),
    ]
    heard = [_listed(d.sounds), _listed(d.audio)]
    said = _listed(d.words) if d.words is not None else (f"speech {d.speech:.0%}" if d.speech else "")
    return SecondRow(
        second=d.second,
        shots=_listed(d.shots),
        transitions=d.transitions or [],
        camera=_listed(d.camera),
        seen="; ".join(x for x in seen if x),
        said=said,
        text=_listed(d.text),
        heard="; ".join(x for x in heard if x),
        loudness_dbfs=d.loudness_dbfs,
        pace=d.pace,
    )
