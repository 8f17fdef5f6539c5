"""cross_analyzer_intelligence: the fused timeline, the score and the written summary, on results
built by hand (every number known) and end to end on the sample clip with some analyzers
skipped or not run."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from pipeline.analyzer import Context
from pipeline.analyzers.fusion import (
    CrossAnalyzerIntelligence,
    CrossAnalyzerIntelligenceSegment,
    CrossAnalyzerIntelligenceSummary,
)
from pipeline.analyzers.fusion_timeline import NAME
from pipeline.engine import Plan, VideoRequest
from pipeline.registry import ALL_NAMES
from pipeline.runners.local import run_local
from pipeline.schema import AnalyzerResult, Segment, SegmentData, Status, VideoInfo, VideoResult, output_types
from pipeline.settings import Settings


def video(duration_s: float = 4.0, has_audio: bool = True, has_video: bool = True) -> VideoInfo:
    return VideoInfo(
        path="constructed.mp4",
        duration_s=duration_s,
        size_bytes=1,
        container="mp4",
        has_video=has_video,
        has_audio=has_audio,
        fps=30.0 if has_video else None,
        width=640 if has_video else None,
        height=360 if has_video else None,
    )


def given(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """An instance of `model` holding only `values`: a result built by hand names the fields under
    test, each checked against the analyzer's own type (a field it does not have fails here, and
    fusion reading one that is not given fails with AttributeError)."""
    fields = model.model_fields
    unknown = sorted(set(values) - set(fields))
    assert not unknown, f"{model.__name__} has no field {unknown}"

    def typed(annotation, value):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            return given(annotation, value)
        return TypeAdapter(annotation).validate_python(value)

    return model.model_construct(**{k: typed(fields[k].annotation, v) for k, v in values.items()})


def ok(name: str, *segments: Segment, **summary) -> AnalyzerResult:
    """`name`'s result built by hand, in its own summary and segment data types."""
    summary_type, data_type = output_types(name)
    return AnalyzerResult(
        status=Status.ok,
        segments=[s.model_copy(update={"data": given(data_type, s.data.model_dump())}) for s in segments],
        summary=given(summary_type, summary),
    )


def seg(start: float, end: float, label: str, confidence: float | None = None, **data) -> Segment:
    return Segment(start_s=start, end_s=end, label=label, confidence=confidence, data=SegmentData(**data))


def shot(i: int, start: float, end: float, into: str | None, out: str | None) -> Segment:
    return seg(start, end, "shot", index=i, transition_in=into, transition_out=out)


def fuse(info: VideoInfo, results: dict[str, AnalyzerResult]):
    return CrossAnalyzerIntelligence().finalize(None, Context(video=info, results=results))


def seconds(findings) -> list[dict]:
    return [{"span": (s.start_s, s.end_s), **s.data.model_dump()} for s in findings.segments if s.label == "second"]


def dumped(models: list[BaseModel]) -> list[dict]:
    return [m.model_dump() for m in models]


NO_FADES = {"opens_with_fade": False, "closes_with_fade": False}
SILENT_HEURISTIC = {  # audio_analysis's summary fields fusion reads, nothing heard
    "music_share": 0.0,
    "speech_share": 0.0,
    "silence_share": 0.0,
    "tempo_bpm": None,
    "beat_strength": 0.0,
    "loudness": {"integrated_lufs_estimate": None, "curve": []},
}
QUIET_VAD = {"speech_share": 0.25, "first_speech_s": 2.5, "last_speech_end_s": 3.5, "pause_count": 0}


def constructed() -> dict[str, AnalyzerResult]:
    """Two shots (a cut at 1.5 s), a caption, one utterance of two words, a heuristic music/speech
    split; object detection failed, the VLM skipped, everything else not run."""
    return {
        "cut_analysis": ok(
            "cut_analysis",
            shot(0, 0.0, 1.5, None, "cut"),
            shot(1, 1.5, 4.0, "cut", None),
            seg(1.5, 1.5, "cut", kind="cut", from_shot=0, to_shot=1),
            shot_count=2,
            hard_cut_count=1,
            gradual_count=0,
            cuts_per_minute=15.0,
            average_shot_length_s=2.0,
            opens_with_fade=False,
            closes_with_fade=False,
        ),
        "camera_analysis": ok(
            "camera_analysis",
            seg(0.0, 1.5, "static", 1.0, shot=0, direction=None),
            seg(1.5, 4.0, "pan", 0.8, shot=1, direction="left"),
            motion_curve=[0.0, 0.1, 0.3, None],
        ),
        "text_overlay": ok(
            "text_overlay", seg(0.0, 2.0, "text", 0.9, text="HELLO", position="caption_band"), texts=["HELLO"]
        ),
        "speech_flow": ok(
            "speech_flow",
            seg(2.5, 3.5, "speech", 0.9),
            segment_count=1,
            speech_share=0.25,
            first_speech_s=2.5,
            last_speech_end_s=3.5,
            pause_count=0,
        ),
        "speech_transcription": ok(
            "speech_transcription",
            seg(
                2.6,
                3.4,
                "speech",
                0.8,
                text="hi there",
                words=[
                    {"word": "hi", "start_s": 2.6, "end_s": 2.9, "probability": 0.9},
                    {"word": "there", "start_s": 3.0, "end_s": 3.4, "probability": 0.8},
                ],
            ),
            text="hi there",
            language="en",
        ),
        "audio_analysis": ok(
            "audio_analysis",
            seg(0.0, 2.0, "music", mean_dbfs=-20.0),
            seg(2.0, 4.0, "speech", mean_dbfs=-30.0),
            music_share=0.5,
            speech_share=0.5,
            silence_share=0.0,
            tempo_bpm=None,
            beat_strength=0.1,
            loudness={
                "integrated_lufs_estimate": -22.0,
                "curve": [[0.0, -20.0], [0.5, -20.0], [1.0, -10.0], [1.5, -30.0], [2.0, -30.0], [3.0, -40.0]],
            },
        ),
        "object_detection": AnalyzerResult.failed("RuntimeError: boom (at yolo.py:1)"),
        "qwen2_vl_temporal": AnalyzerResult.skipped("weights Qwen/Qwen2-VL-2B-Instruct not found"),
    }


def test_timeline_fuses_every_analyzer_second_by_second():
    findings = fuse(video(), constructed())
    timeline = seconds(findings)
    common = {
        "first_cut_s": None,  # the hook's fields
        "first_text_s": None,
        "first_word_s": None,
        "first_speech_s": None,
        "sentence": None,
        "objects": None,
        "people": None,
        "faces": None,
        "descriptions": None,
        "emotions": None,
        "sounds": None,
        "pace": None,
    }
    full_text_speech = {
        "visual_structure": 1.0,
        "visual_content": 0.0,
        "speech": 1.0,
        "on_screen_text": 1.0,
        "audio": 0.5,
    }
    assert timeline == [
        {
            "span": (0.0, 1.0),
            "second": 0,
            "shots": [0],
            "transitions": [],
            "camera": ["static"],
            "speech": 0.0,
            "words": [],
            "text": ["HELLO"],
            "audio": ["music"],
            "motion": 0.0,
            "loudness_dbfs": -20.0,
            "coverage": full_text_speech,
            **common,
        },
        {
            "span": (1.0, 2.0),
            "second": 1,
            "shots": [0, 1],
            "transitions": [{"kind": "cut", "at_s": 1.5}],
            "camera": ["static", "pan left"],
            "speech": 0.0,
            "words": [],
            "text": ["HELLO"],
            "audio": ["music"],
            "motion": 0.1,
            "loudness_dbfs": round(10 * math.log10((10**-1 + 10**-3) / 2), 4),  # mean power of -10 and -30 dBFS
            "coverage": full_text_speech,
            **common,
        },
        {
            "span": (2.0, 3.0),
            "second": 2,
            "shots": [1],
            "transitions": [],
            "camera": ["pan left"],
            "speech": 0.5,
            "words": ["hi"],
            "text": [],
            "audio": ["speech"],
            "motion": 0.3,
            "loudness_dbfs": -30.0,
            "coverage": full_text_speech,
            **common,
        },
        {
            "span": (3.0, 4.0),
            "second": 3,
            "shots": [1],
            "transitions": [],
            "camera": ["pan left"],
            "speech": 0.5,
            "words": ["there"],
            "text": [],
            "audio": ["speech"],
            "motion": None,
            "loudness_dbfs": -40.0,
            "coverage": full_text_speech,
            **common,
        },
    ]
    [hook] = [s for s in findings.segments if s.label == "hook"]
    assert (hook.start_s, hook.end_s) == (0.0, 3.0)
    assert hook.data.second is None and hook.data.coverage is None
    assert hook.data.shots == [0, 1] and hook.data.text == ["HELLO"] and hook.data.words == ["hi"]
    assert hook.data.first_cut_s == 1.5 and hook.data.first_text_s == 0.0
    assert hook.data.first_word_s == 2.6 and hook.data.first_speech_s == 2.5
    assert hook.data.motion == pytest.approx(0.1333, abs=1e-4)  # mean of the curve's first three seconds
    assert hook.data.sentence == (
        "First 3 s: 2 shots (1 boundary); camera static, then pan left; on-screen text 'HELLO'; said 'hi'; audio: music, speech."
    )
    inputs = findings.summary.inputs
    assert inputs.used == [
        "cut_analysis",
        "camera_analysis",
        "audio_analysis",
        "speech_flow",
        "text_overlay",
        "speech_transcription",
    ]
    assert inputs.not_used["object_detection"] == "failed: RuntimeError: boom (at yolo.py:1)"
    assert inputs.not_used["qwen2_vl_temporal"] == "skipped: weights Qwen/Qwen2-VL-2B-Instruct not found"
    assert inputs.not_used["body_pose"] == "not run"
    assert set(inputs.used) | set(inputs.not_used) == set(ALL_NAMES) - {NAME}
    # The short-form insights say why they are not measured here (tests/test_short_form.py measures them).
    assert findings.summary.beat_sync.reason == "no steady beat (beat strength 0.1, audio_analysis)"
    assert findings.summary.safe_zones.reason == "not applicable: landscape"


def test_a_word_starting_past_the_last_frame_counts_in_the_last_second():
    results = {
        "speech_transcription": ok(
            "speech_transcription",
            seg(
                3.5,
                4.2,
                "speech",
                text="bye",
                words=[{"word": "bye", "start_s": 4.05, "end_s": 4.2, "probability": 0.9}],
            ),
            text="bye",
            language=None,
        )
    }
    timeline = seconds(fuse(video(duration_s=4.0), results))
    assert [s["words"] for s in timeline] == [[], [], [], ["bye"]]


def test_score_is_the_weighted_mean_of_dimension_coverage():
    results = {
        "cut_analysis": ok("cut_analysis", shot(0, 0.0, 4.0, None, None), **NO_FADES),
        "qwen2_vl_temporal": ok(
            "qwen2_vl_temporal", seg(0.0, 2.0, "window", index=0, description="a dog runs")
        ),  # describes only the first half
        "object_detection": ok("object_detection", classes={}),
        "speech_flow": ok("speech_flow", seg(2.5, 3.5, "speech"), segment_count=1, **QUIET_VAD),
        "audio_analysis": ok("audio_analysis", **SILENT_HEURISTIC),
        "text_overlay": AnalyzerResult.skipped("no frames"),
    }
    findings = fuse(video(), results)
    per_second = [s["coverage"] for s in seconds(findings)]
    # visual content: the description covers seconds 0-1 fully; object detection gives 0.5 everywhere.
    assert [c["visual_content"] for c in per_second] == [1.0, 1.0, 0.5, 0.5]
    # speech from the VAD only: 1.0 where silent, 0.5 where it heard speech (half of seconds 2 and 3).
    assert [c["speech"] for c in per_second] == [1.0, 1.0, 0.75, 0.75]
    reconstruction = findings.summary.reconstruction
    coverage = {d: v.coverage for d, v in reconstruction.dimensions}
    assert coverage == {
        "visual_structure": 1.0,
        "visual_content": 0.75,
        "speech": 0.875,
        "on_screen_text": 0.0,
        "audio": 0.5,
    }
    assert (
        reconstruction.score == round(100 * (0.2 * 1.0 + 0.3 * 0.75 + 0.2 * 0.875 + 0.1 * 0.0 + 0.2 * 0.5), 1) == 70.0
    )
    text = reconstruction.dimensions.on_screen_text
    assert text.sources == [] and text.missing == {"text_overlay": "skipped: no frames"}
    assert text.not_applicable is None
    assert reconstruction.dimensions.visual_content.sources == ["qwen2_vl_temporal", "object_detection"]

    # Without an audio stream, speech and audio do not apply: the other weights are renormalised.
    silent = fuse(
        video(has_audio=False), {n: r for n, r in results.items() if n not in ("speech_flow", "audio_analysis")}
    )
    reconstruction = silent.summary.reconstruction
    assert reconstruction.dimensions.speech.coverage is None
    assert reconstruction.dimensions.audio.not_applicable == "no audio stream"
    assert reconstruction.score == round(100 * (0.2 * 1.0 + 0.3 * 0.75 + 0.1 * 0.0) / 0.6, 1) == 70.8

    # A transcript covers speech fully; the model classifier covers audio fully.
    better = fuse(
        video(),
        {
            **results,
            "speech_transcription": ok("speech_transcription", text=""),
            "audio_environment": ok("audio_environment", class_shares={}),
        },
    )
    dimensions = better.summary.reconstruction.dimensions
    assert dimensions.speech.coverage == 1.0 and dimensions.audio.coverage == 1.0
    assert better.summary.reconstruction.score == 82.5


def test_summary_says_only_what_a_present_analyzer_measured():
    bare = fuse(video(), {"cut_analysis": AnalyzerResult.failed("ValueError: x")})
    never_ran = ", ".join(n for n in ALL_NAMES if n not in (NAME, "cut_analysis"))
    assert dumped(bare.summary.sentences) == [
        {"text": "A 4 s horizontal video (640x360, 30 fps).", "sources": []},
        {
            "text": f"Built from 0 analyzers; not available: cut_analysis (failed: ValueError: x); {never_ran} (not run).",
            "sources": [],
        },
    ]

    results = constructed()
    full = fuse(video(), results)
    texts = [s.text for s in full.summary.sentences]
    used = set(full.summary.inputs.used)
    for sentence in full.summary.sentences:
        assert set(sentence.sources) <= used, sentence
    never_ran_here = ", ".join(n for n in ALL_NAMES if n != NAME and n not in results)
    # Object detection failed, the VLM was skipped, faces, colour and pace never ran: not a word on them.
    assert texts == [
        "A 4 s horizontal video (640x360, 30 fps) in 2 shots (1 hard cut).",
        "Average shot 2 s, 15 shot changes a minute.",
        "Camera: static (0-1.5 s), pan left (1.5-4 s).",
        "On-screen text: 'HELLO' (0-2 s).",
        "Speech in 25% of the audio, from 2.5 s to 3.5 s, in 1 utterance with 0 pauses.",
        "Transcript (en): 'hi there'.",
        "Audio (heuristic): music 50%, speech 50%, loudness about -22 LUFS.",
        "First 3 s: 2 shots (1 boundary); camera static, then pan left; on-screen text 'HELLO'; said 'hi'; audio: music, speech.",
        f"Built from 6 analyzers; not available: {never_ran_here} (not run); object_detection (failed); qwen2_vl_temporal (skipped).",
    ]
    assert full.summary.text == " ".join(texts)


def test_what_is_seen_and_heard_by_the_model_analyzers():
    results = {
        "object_detection": ok(
            "object_detection",
            seg(0.0, 2.0, "person", 0.9, track=0),
            seg(0.5, 1.2, "dog", 0.7, track=1),
            seg(0.0, 2.0, "shot", shot=0),
            classes={
                "person": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 2.0},
                "dog": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 0.7},
            },
        ),
        "body_pose": ok(
            "body_pose",
            seg(0.0, 2.0, "person", track=0, activity="dancing"),
            seg(1.0, 1.5, "hands_up", track=0),
            person_tracks=1,
            max_people=1,
            activity_share={"dancing": 1.0},
        ),
        "eye_tracking": ok(
            "eye_tracking",
            seg(0.2, 0.9, "face", track=0),
            seg(0.0, 2.0, "shot", index=0),
            face_tracks=1,
            face_share=0.35,
            facing_share=0.3,
        ),
        "qwen2_vl_temporal": ok(
            "qwen2_vl_temporal",
            seg(0.0, 2.0, "window", index=0, description="A person dances with a dog."),
            seg(0.0, 2.0, "shot", index=0, description="A person dances with a dog."),
        ),
        "audio_environment": ok(
            "audio_environment",
            seg(0.0, 1.0, "music", 0.8),
            seg(1.0, 2.0, "speech", 0.6),
            class_shares={"music": 0.5, "speech": 0.5, "animal": 0.0},
        ),
        "speech_emotion": ok(
            "speech_emotion",
            seg(1.0, 2.0, "happy", 0.7),
            dominant_emotion="happy",
            emotion_shares={"happy": 1.0, "sad": 0.0},
        ),
        "speech_rate": ok("speech_rate", method="syllables", syllables_per_second=4.27, words_per_minute=None),
    }
    findings = fuse(video(duration_s=2.0), results)
    timeline = seconds(findings)
    assert [(s["objects"], s["people"], s["faces"]) for s in timeline] == [
        ({"person": 1, "dog": 1}, 1, 1),
        ({"person": 1, "dog": 1}, 1, 0),
    ]
    assert [s["descriptions"] for s in timeline] == [["A person dances with a dog."]] * 2
    assert [(s["sounds"], s["emotions"]) for s in timeline] == [(["music"], []), (["speech"], ["happy"])]
    assert [s["coverage"]["visual_content"] for s in timeline] == [1.0, 1.0]
    assert [s["coverage"]["audio"] for s in timeline] == [1.0, 1.0]
    texts = [s.text for s in findings.summary.sentences]
    assert "Objects seen: person (1 track, 2 s on screen), dog (1 track, 0.7 s on screen)." in texts
    assert "Up to 1 person at once, mostly dancing." in texts
    assert "1 face track; a face is on screen in 35% of sampled frames and faces the camera in 30%." in texts
    assert "Shown (model descriptions per shot): 0-2 s: 'A person dances with a dog.'." in texts
    assert "Sounds (model): music 50%, speech 50%." in texts
    assert "Tone of voice (model, a weak cue): mostly happy (happy 100%)." in texts
    assert "Speaking rate about 4.3 syllables a second (counted on the sound)." in texts


@pytest.mark.parametrize("duration_s", [0.0, 0.1, 1.2, 2.26])
def test_any_length_gives_a_timeline_that_tiles_the_video(duration_s):
    findings = fuse(
        video(duration_s=duration_s),
        {"cut_analysis": ok("cut_analysis", shot(0, 0.0, duration_s, None, None), **NO_FADES)},
    )
    spans = [s["span"] for s in seconds(findings)]
    assert spans[0][0] == 0.0 and spans[-1][1] == duration_s
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert findings.summary.reconstruction.dimensions.visual_structure.coverage == 1.0


@pytest.fixture(scope="module")
def sample_result(sample_clip, tmp_path_factory):
    """The sample through run_local: cut_analysis, speech_flow and text_overlay run, object_detection
    is skipped for want of weights (an empty models directory), everything else is not run."""
    settings = Settings(models_dir=tmp_path_factory.mktemp("no_models"))
    names = [NAME, "cut_analysis", "speech_flow", "text_overlay", "object_detection"]
    [result] = run_local([VideoRequest("sample", str(sample_clip))], Plan.build(names, settings=settings))
    assert result.status == Status.ok, result.error
    return result


def test_end_to_end_on_the_sample_with_analyzers_skipped_and_absent(sample_result):
    assert set(sample_result.analyzers) == {
        NAME,
        "cut_analysis",
        "speech_flow",
        "text_overlay",
        "object_detection",
    }  # `uses` pulls nothing in
    fusion = sample_result.analyzers[NAME]
    assert fusion.status == Status.ok
    timeline = [s.data for s in fusion.segments if s.label == "second"]
    assert len(timeline) == fusion.summary.seconds == 10
    assert [s.shots for s in timeline] == [[0], [0], [0], [1], [1], [1, 2], [2], [2], [3], [3]]
    boundaries = [(t.kind, round(t.at_s, 1)) for s in timeline for t in s.transitions]
    assert boundaries == [("cut", 3.0), ("dissolve", 5.6), ("cut", 8.0)]
    assert [s.text for s in timeline] == [["WAIT FOR IT"]] * 3 + [[]] * 5 + [["LINK IN BIO"]] * 2
    assert all(s.speech == 0.0 and s.objects is None and s.words is None for s in timeline)

    inputs = fusion.summary.inputs
    assert inputs.used == ["cut_analysis", "speech_flow", "text_overlay"]
    assert (
        inputs.not_used["object_detection"].startswith("skipped: weights")
        and "yolo11n.pt" in inputs.not_used["object_detection"]
    )
    assert inputs.not_used["audio_analysis"] == "not run"

    texts = [s.text for s in fusion.summary.sentences]
    assert texts[0] == "A 10 s vertical video (360x640, 30 fps) in 4 shots (2 hard cuts, 1 dissolve)."
    assert "On-screen text: 'WAIT FOR IT' (0-3 s), 'LINK IN BIO' (8-10 s)." in texts
    assert "No speech detected." in texts
    assert not any(t.startswith(("Objects", "Audio", "Camera", "Transcript")) for t in texts)

    dimensions = fusion.summary.reconstruction.dimensions
    assert {d: v.coverage for d, v in dimensions} == {
        "visual_structure": 1.0,
        "visual_content": 0.0,
        "speech": 1.0,
        "on_screen_text": 1.0,
        "audio": 0.0,
    }
    assert fusion.summary.reconstruction.score == 50.0


def test_the_document_read_back_gives_fusion_its_own_types(sample_result):
    fusion = sample_result.analyzers[NAME]
    assert isinstance(fusion.summary, CrossAnalyzerIntelligenceSummary)
    read = VideoResult.model_validate_json(sample_result.to_json()).analyzers[NAME]
    assert isinstance(read.summary, CrossAnalyzerIntelligenceSummary)
    assert all(isinstance(s.data, CrossAnalyzerIntelligenceSegment) for s in read.segments)
    assert read == fusion
