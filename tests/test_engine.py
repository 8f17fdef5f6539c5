"""The Analyzer contract through the engine's units, in this process."""

from __future__ import annotations

import random

import pytest
from probe_analyzers import Broken, CounterSummary, FrameCounter, Reader, ReaderSummary, WeightsMissing

from pipeline.engine import AnalyzerStage, Assembler, DecodeStage, Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.registry import ALL_NAMES, load
from pipeline.schema import Status

PROBES = Plan(analyzers=(Broken, FrameCounter, WeightsMissing, Reader), unavailable={})


def test_each_analyzer_gets_its_own_status(sample_clip):
    (result,) = run_local([VideoRequest("clip", str(sample_clip))], PROBES)
    assert result.status == Status.ok and result.video.frame_count == 300
    counter = result.analyzers["probe_counter"]
    assert counter.status == Status.ok and counter.summary == CounterSummary(frames=300)
    assert counter.segments[0].start_s == 0.0 and counter.segments[0].end_s == pytest.approx(299 / 30)
    broken = result.analyzers["probe_broken"]
    assert broken.status == Status.failed and broken.error.startswith("ValueError: model produced NaN")
    missing = result.analyzers["probe_weights_missing"]
    assert missing.status == Status.skipped and "reelscope models download" in missing.reason
    assert result.analyzers["probe_reader"].summary == ReaderSummary(seen_frames=300)


def test_assembly_does_not_depend_on_arrival_order(sample_clip):
    decode = DecodeStage(PROBES)
    stage = AnalyzerStage((FrameCounter, WeightsMissing))
    items = [stage(item) for item in decode(VideoRequest("clip", str(sample_clip)))]
    in_order = Assembler(PROBES)
    shuffled = Assembler(PROBES)
    expected = [r for r in map(in_order.add, items) if r][0]
    random.Random(7).shuffle(items)
    got = [r for r in map(shuffled.add, items) if r][0]
    assert got.analyzers["probe_counter"] == expected.analyzers["probe_counter"].model_copy(
        update={"elapsed_s": got.analyzers["probe_counter"].elapsed_s}
    )


def test_unreadable_video_fails_alone(sample_clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    results = list(run_local([VideoRequest("bad", str(bad)), VideoRequest("good", str(sample_clip))], PROBES))
    assert [r.id for r in results] == ["bad", "good"]
    assert results[0].status == Status.failed and "not a readable media file" in results[0].error
    assert results[0].analyzers == {}
    assert results[1].status == Status.ok


def test_analyzers_without_input_are_skipped_with_reason(media):
    (result,) = run_local([VideoRequest("jfk", str(media / "faster-whisper" / "jfk.flac"))], PROBES)
    assert result.analyzers["probe_counter"].status == Status.skipped
    assert result.analyzers["probe_counter"].reason == "no video stream"


def test_plan_pulls_in_and_orders_dependencies():
    plan = Plan.build(["temporal_flow"])
    names = [a.name for a in plan.analyzers]
    assert set(load("temporal_flow").after) < set(names)
    for dependency in load("temporal_flow").after:
        assert names.index(dependency) < names.index("temporal_flow")
    with pytest.raises(ValueError, match="unknown analyzer"):
        Plan.build(["cut_analysis", "no_such_thing"])


def test_registry_names_are_the_output_contract():
    assert set(ALL_NAMES) == {
        "object_detection", "body_pose", "background_segmentation", "age_estimation", "eye_tracking",
        "text_overlay", "qwen2_vl_temporal", "speech_transcription", "speech_flow", "speech_rate",
        "speech_emotion", "audio_environment", "audio_analysis", "cut_analysis", "scene_segmentation",
        "camera_analysis", "color_analysis", "content_quality", "temporal_flow", "cross_analyzer_intelligence",
    }  # fmt: skip


class UntypedCounter(FrameCounter):
    """Returns a plain dict where its declared summary type is due."""

    name = "probe_untyped"

    def finalize(self, partials, context):
        findings = super().finalize(partials, context)
        findings.summary = {"frames": findings.summary.frames}
        return findings


def test_a_summary_of_another_type_than_declared_fails_that_analyzer(sample_clip):
    (result,) = run_local([VideoRequest("clip", str(sample_clip))], Plan((UntypedCounter, FrameCounter), {}))
    untyped = result.analyzers["probe_untyped"]
    assert untyped.status == Status.failed and "not its declared CounterSummary" in untyped.error
    assert result.analyzers["probe_counter"].status == Status.ok


def test_a_document_read_back_has_each_analyzers_own_types(sample_clip):
    from pipeline.analyzers.cuts import CutAnalysis
    from pipeline.schema import VideoResult

    (result,) = run_local([VideoRequest("clip", str(sample_clip))], Plan.build(["cut_analysis"]))
    again = VideoResult.model_validate_json(result.to_json())
    assert again == result
    cuts = again.analyzers["cut_analysis"]
    assert type(cuts.summary) is CutAnalysis.summary_type and cuts.summary.shot_count == 4
    assert all(type(s.data) is CutAnalysis.segment_type for s in cuts.segments)


def test_analyzers_of_one_family_share_one_pass_per_batch(sample_clip, monkeypatch):
    import actors
    from probe_analyzers import FamilyMember, OtherFamilyMember, ProbeFamilyActor

    monkeypatch.setattr(actors, "ACTORS", (*actors.ACTORS, ProbeFamilyActor))
    plan = Plan((FamilyMember, OtherFamilyMember), {})
    assert plan.stages == [(FamilyMember, OtherFamilyMember)]  # one stage: one pool, one runtime
    (result,) = run_local([VideoRequest("clip", str(sample_clip))], plan)
    a, b = result.analyzers["probe_member_a"], result.analyzers["probe_member_b"]
    batches = -(-300 // 32)
    assert a.summary.passes == b.summary.passes == list(range(1, batches + 1))
    assert a.summary.asked_with == ["probe_member_a", "probe_member_b"]
    assert [m.id for m in a.models] == ["probe-model"]


def test_an_actor_refuses_analyzers_it_does_not_serve():
    from probe_analyzers import ProbeFamilyActor

    from actors import reference

    with pytest.raises(TypeError, match="serves probe_member_a, probe_member_b, not probe_counter"):
        ProbeFamilyActor((reference(FrameCounter),))


def test_stages_reading_the_most_bytes_come_first_and_one_payloads_readers_side_by_side():
    """A chain of pools carries each payload through every stage before its last reader."""
    plan = Plan.build(["speech_transcription", "qwen2_vl_temporal", "text_overlay", "object_detection", "eye_tracking", "speech_emotion"])
    # 10 fps at 640 px, 5 fps at 640, 2 fps at 960, 2 fps at 448, then the two that read the audio.
    assert [[a.name for a in stage] for stage in plan.stages] == [
        ["eye_tracking"], ["object_detection"], ["text_overlay"], ["qwen2_vl_temporal"], ["speech_transcription"], ["speech_emotion"]
    ]
