"""cross_analyzer_intelligence's reconstruction score: how much of the video the document
accounts for, well enough to rebuild it in words.

Five dimensions, each with its weight and the depth each source gives it:
    visual_structure 0.20  cut_analysis: 1.0 over the time its shots span
    visual_content   0.30  qwen2_vl_temporal: 1.0 over the time its windows span (what is shown
                           and happening, in words); else object_detection: 0.5 over the whole
                           video (which of 80 kinds of objects are there, not what happens)
    speech           0.20  speech_transcription: 1.0 over the whole video (the words, and
                           silence where there are none); else speech_flow: 1.0 where the VAD
                           heard no speech (nothing to transcribe), 0.5 where it heard speech
                           (that someone speaks, not what is said)
    on_screen_text   0.10  text_overlay: 1.0 over the whole video
    audio            0.20  audio_environment: 1.0 over the whole video (model-labelled sounds);
                           else audio_analysis: 0.5 (loudness and a heuristic speech / music /
                           silence split)
A second's coverage of a dimension is the largest depth among its sources weighted by the
share of the second each covers (speech_flow: 1.0 on its non-speech share plus 0.5 on its
speech share). A dimension's coverage is the mean over the timeline's seconds (0..1), and

    score = 100 * sum(weight_d * coverage_d) / sum(weight_d),

the sums over the dimensions that apply: speech and audio do not apply to a video without an
audio stream, nor the visual dimensions to one without a video stream (nothing to rebuild
there, so they neither raise nor lower the score).

The score measures completeness of the record, not the quality of the video or of the
analyzers' models (a wrong transcript or description counts as full coverage); the weights and
depths are choices, not fitted to anything.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzers.fusion_timeline import Facts, Span, share
from pipeline.analyzers.shots import TAIL_S, rounded

WEIGHTS = {"visual_structure": 0.2, "visual_content": 0.3, "speech": 0.2, "on_screen_text": 0.1, "audio": 0.2}
SOURCES = {
    "visual_structure": ("cut_analysis",),
    "visual_content": ("qwen2_vl_temporal", "object_detection"),
    "speech": ("speech_transcription", "speech_flow"),
    "on_screen_text": ("text_overlay",),
    "audio": ("audio_environment", "audio_analysis"),
}
DETECTOR_DEPTH = 0.5  # object_detection: what kinds of things are there, not what happens
VAD_SPEECH_DEPTH = 0.5  # speech_flow over speech: someone speaks, not what is said
HEURISTIC_AUDIO_DEPTH = 0.5  # audio_analysis: loudness and a three-way heuristic class


class Coverage(BaseModel):
    """One second's coverage of each dimension (0-1; None: the dimension does not apply)."""

    model_config = ConfigDict(extra="forbid")

    visual_structure: float | None = Field(..., description="share of the second inside cut_analysis's shots (0-1)")
    visual_content: float | None = Field(
        ..., description="described by qwen2_vl_temporal's windows (1 each), or object_detection (0.5) (0-1)"
    )
    speech: float | None = Field(
        ..., description="speech_transcription (1), else speech_flow (1 off speech, 0.5 on it) (0-1)"
    )
    on_screen_text: float | None = Field(..., description="text_overlay read the second (0-1)")
    audio: float | None = Field(..., description="audio_environment (1), else audio_analysis (0.5) (0-1)")


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coverage: float | None = Field(..., description="mean of the seconds' coverage (0-1; None: does not apply)")
    weight: float = Field(..., description="its weight in the score")
    sources: list[str] = Field(..., description="the analyzers read for it, in order of depth")
    missing: dict[str, str] = Field(..., description="each of its sources not read, and why")
    not_applicable: str | None = Field(..., description="why it does not apply (None: it applies)")


class Dimensions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visual_structure: Dimension = Field(..., description="where the shots and their boundaries are")
    visual_content: Dimension = Field(..., description="what is shown and happening")
    speech: Dimension = Field(..., description="what is said")
    on_screen_text: Dimension = Field(..., description="what is written on screen")
    audio: Dimension = Field(..., description="what is heard besides speech")


class Reconstruction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(
        ..., description="100 x the weighted mean coverage of the dimensions that apply (0-100; None: none applies)"
    )
    dimensions: Dimensions = Field(..., description="each dimension's coverage, weight and sources")


def applies(facts: Facts, dimension: str) -> bool:
    if dimension in ("speech", "audio"):
        return facts.video.has_audio
    return facts.video.has_video


def coverage(facts: Facts, span: Span) -> dict[str, float | None]:
    """Each dimension's coverage of the span, 0..1; None where it does not apply."""
    shots = facts.segments("cut_analysis", "shot")
    windows = facts.segments("qwen2_vl_temporal", "window")
    speech = facts.segments("speech_flow", "speech")

    def spans(segments) -> list[Span]:
        # A span ending within TAIL_S of the end reaches it: the audio track may run a few
        # milliseconds past the last frame, which no frame-based analyzer can cover.
        end = facts.whole[1]
        return [(s.start_s, end if s.end_s >= end - TAIL_S else s.end_s) for s in segments or []]

    def whole_if(name: str, depth: float = 1.0) -> float:
        return depth * share(span, [facts.whole]) if name in facts.ok else 0.0

    if "speech_transcription" in facts.ok:
        heard = whole_if("speech_transcription")
    elif speech is not None:
        voiced = share(span, spans(speech))
        heard = share(span, [facts.whole]) * (1.0 - voiced) + VAD_SPEECH_DEPTH * voiced
    else:
        heard = 0.0
    value = {
        "visual_structure": share(span, spans(shots)),
        "visual_content": max(share(span, spans(windows)), whole_if("object_detection", DETECTOR_DEPTH)),
        "speech": heard,
        "on_screen_text": whole_if("text_overlay"),
        "audio": max(whole_if("audio_environment"), whole_if("audio_analysis", HEURISTIC_AUDIO_DEPTH)),
    }
    return {d: rounded(v) if applies(facts, d) else None for d, v in value.items()}


def reconstruction(facts: Facts, per_second: list[dict[str, float | None]]) -> Reconstruction:
    """The score and, per dimension, its coverage (mean over the seconds), weight and sources."""
    dimensions: dict[str, Dimension] = {}
    for dimension, weight in WEIGHTS.items():
        counts = applies(facts, dimension)
        values = [second[dimension] for second in per_second]
        dimensions[dimension] = Dimension(
            coverage=rounded(sum(values) / len(values)) if counts and values else None,
            weight=weight,
            sources=[n for n in SOURCES[dimension] if n in facts.ok] if counts else [],
            missing={n: facts.why_not(n) for n in SOURCES[dimension] if n not in facts.ok} if counts else {},
            not_applicable=None
            if counts
            else ("no audio stream" if dimension in ("speech", "audio") else "no video stream"),
        )
    counted = [d for d in dimensions.values() if d.coverage is not None]
    total = sum(d.weight for d in counted)
    score = 100.0 * sum(d.weight * d.coverage for d in counted) / total if total else None
    return Reconstruction(score=None if score is None else round(score, 1), dimensions=Dimensions(**dimensions))
