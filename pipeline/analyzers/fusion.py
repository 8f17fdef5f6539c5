"""cross_analyzer_intelligence: every other analyzer's result fused into one per-second timeline,
a fused view of the hook, a written summary and a reconstruction score.

It consumes no frames or audio: `finalize` reads the typed results of the analyzers that ran
before it (`uses`: all the others; none is pulled in) and runs where results are assembled. Any
input may be missing (not requested, skipped, failed): the fields it would fill are null (not
measured), never empty (measured, nothing found), and `summary.inputs` says which analyzers were
read and why each other one was not.

    fusion_timeline.py   the seconds, what each analyzer found during a span (Facts)
    fusion_score.py      the reconstruction score and each second's coverage
    fusion_sentences.py  the written summary's templates (short_form_sentences.py: the #14 insights')
    short_form.py        editing on the beat and the platforms' safe zones (summary.beat_sync,
                         summary.safe_zones)

Segments: one "second" per second k of the video ([k, k+1) s; the last one runs to the end of
the video, and a sliver under shots.TAIL_S counts in the second before, as every per-second
curve here does), and one "hook" ([0, HOOK_S), the whole video when shorter) with the same
fields over that span (camera motion, pace and loudness as means over its seconds), the times
of the first cut, text, word and speech, and a sentence built from them.

What it can tell: where each analyzer's findings sit against the others, second by second; what
the document leaves unknown (null fields, low coverage) and why. What it cannot: anything the
analyzers did not measure, and whether they are right.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, Findings, Partials
from pipeline.analyzers.fusion_score import Coverage, Reconstruction, coverage, reconstruction
from pipeline.analyzers.fusion_sentences import Sentence, hook_sentence, summary_sentences
from pipeline.analyzers.fusion_timeline import NAME, OTHERS, Facts, Inputs, Transition, timeline_seconds
from pipeline.analyzers.short_form import BeatSync, SafeZones, beat_sync, safe_zones
from pipeline.analyzers.short_form_sentences import short_form_sentences
from pipeline.analyzers.shots import rounded
from pipeline.analyzers.temporal_flow import HOOK_S
from pipeline.schema import Segment, SegmentData, Summary


class CrossAnalyzerIntelligenceSegment(SegmentData):
    """A "second" or the "hook": the fields of one label are None on the other. A field is None
    when the analyzer that fills it is missing (see summary.inputs)."""

    model_config = ConfigDict(extra="forbid")

    second: int | None = Field(None, description="second: its index k, from 0 (None on the hook)")
    shots: list[int] | None = Field(..., description="cut_analysis: indices of the shots overlapping the span")
    transitions: list[Transition] | None = Field(
        ..., description="cut_analysis: shot boundaries in the span, at the first frame of the shot they open"
    )
    camera: list[str] | None = Field(
        ..., description="camera_analysis: the movements of the shots overlapping it ('pan right', 'static')"
    )
    objects: dict[str, int] | None = Field(..., description="object_detection: tracks per class overlapping it (count)")
    people: int | None = Field(..., description="body_pose: person tracks overlapping it (count)")
    faces: int | None = Field(
        ..., description="eye_tracking's face tracks overlapping it, else age_estimation's (count)"
    )
    descriptions: list[str | None] | None = Field(
        ..., description="qwen2_vl_temporal: descriptions of the windows overlapping it"
    )
    speech: float | None = Field(..., description="speech_flow: share of the span inside VAD speech (0-1)")
    words: list[str] | None = Field(..., description="speech_transcription: the words that start in the span")
    emotions: list[str] | None = Field(..., description="speech_emotion: labels overlapping it")
    text: list[str] | None = Field(..., description="text_overlay: texts on screen during the span")
    audio: list[str] | None = Field(
        ..., description="audio_analysis: heuristic classes overlapping it (speech, music, silence)"
    )
    sounds: list[str] | None = Field(..., description="audio_environment: sound classes overlapping it")
    motion: float | None = Field(
        ..., description="camera_analysis: mean motion energy over its seconds (frame widths per second)"
    )
    loudness_dbfs: float | None = Field(
        ..., description="audio_analysis: mean power of the loudness windows starting in its seconds (dBFS)"
    )
    pace: float | None = Field(..., description="temporal_flow: mean pace over its seconds (0-1)")
    coverage: Coverage | None = Field(
        None, description="second: its coverage of each dimension of the reconstruction score (None on the hook)"
    )
    first_cut_s: float | None = Field(
        None, description="hook: the first shot boundary of the video (s; None: none, or shots is None)"
    )
    first_text_s: float | None = Field(
        None, description="hook: when on-screen text first appears (s; None: never, or text is None)"
    )
    first_word_s: float | None = Field(
        None, description="hook: start of the first transcribed word (s; None: none, or words is None)"
    )
    first_speech_s: float | None = Field(
        None, description="hook: start of the first VAD speech (s; None: none, or speech is None)"
    )
    sentence: str | None = Field(None, description="hook: the hook in words, from the fields present")


class CrossAnalyzerIntelligenceSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(..., description="length of the timeline: 'second' segments (count)")
    text: str = Field(..., description="the written summary: its sentences joined")
    sentences: list[Sentence] = Field(..., description="the written summary, sentence by sentence, with sources")
    reconstruction: Reconstruction = Field(
        ..., description="how much of the video the document accounts for (fusion_score.py)"
    )
    inputs: Inputs = Field(..., description="which analyzers were read, and why each other one was not")
    beat_sync: BeatSync | None = Field(
        None, description="whether the hard cuts fall on audio_analysis's beats (short_form.py; None: not computed)"
    )
    safe_zones: SafeZones | None = Field(
        None, description="on-screen text and face time under each platform's interface (short_form.py; None: not computed)"
    )


class CrossAnalyzerIntelligence(Analyzer):
    """Every other analyzer's result fused: a per-second timeline, the hook, a written summary and a
    reconstruction score."""

    name = NAME
    uses = OTHERS
    summary_type = CrossAnalyzerIntelligenceSummary
    segment_type = CrossAnalyzerIntelligenceSegment

    def finalize(self, partials: Partials, context: Context) -> Findings:
        facts = Facts(context)
        seconds = timeline_seconds(context.video.duration_s)
        per_second = {k.index: coverage(facts, k.span) for k in seconds}
        segments = [
            Segment(
                start_s=k.start_s,
                end_s=k.end_s,
                label="second",
                data=CrossAnalyzerIntelligenceSegment(
                    second=k.index,
                    **facts.moment(k.span),
                    **facts.curves_at([k.index]),
                    coverage=Coverage(**per_second[k.index]),
                ),
            )
            for k in seconds
        ]
        hook_span = (0.0, rounded(min(HOOK_S, context.video.duration_s)))
        hook_seconds = [k.index for k in seconds if k.start_s < hook_span[1] or k.index == 0]
        hook = CrossAnalyzerIntelligenceSegment(
            **facts.moment(hook_span), **facts.curves_at(hook_seconds), **facts.firsts()
        )
        hook = hook.model_copy(update={"sentence": hook_sentence(hook, hook_span)})
        segments.append(Segment(start_s=hook_span[0], end_s=hook_span[1], label="hook", data=hook))
        beats, zones = beat_sync(facts), safe_zones(facts, self.settings.safe_zones)
        sentences = summary_sentences(facts, hook, short_form_sentences(facts, beats, zones))
        return Findings(
            segments=segments,
            summary=CrossAnalyzerIntelligenceSummary(
                seconds=len(seconds),
                text=" ".join(s.text for s in sentences),
                sentences=sentences,
                reconstruction=reconstruction(facts, list(per_second.values())),
                inputs=facts.inputs(),
                beat_sync=beats,
                safe_zones=zones,
            ),
        )
