"""scene_segmentation on synthetic clips whose shots and looks are known by construction."""

from __future__ import annotations

import pytest
from helpers import run_video

from pipeline.analyzer import Context, Partials
from pipeline.analyzers.cuts import FRAMES
from pipeline.analyzers.scenes import SceneSegmentation, SceneSegmentationSegment, SceneSegmentationSummary
from pipeline.engine.decode import Decoder
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status, VideoResult

RED, BLUE, GREEN = (200, 60, 50), (50, 80, 200), (70, 190, 80)


def clip(tmp_path, *shots):
    spec = ClipSpec(shots=shots, width=256, height=144, audio=None)
    return spec, write_clip(str(tmp_path / "clip.mp4"), spec)


def analyse_scenes(path):
    """cut_analysis's and scene_segmentation's results, both of which must succeed and read back
    from the document as they were written."""
    result = run_video(path, "scene_segmentation")
    cuts, scenes = result.analyzers["cut_analysis"], result.analyzers["scene_segmentation"]
    assert cuts.status == Status.ok and scenes.status == Status.ok, (cuts.error, scenes.error)
    again = VideoResult.model_validate_json(result.to_json()).analyzers["scene_segmentation"]
    assert isinstance(again.summary, SceneSegmentationSummary) and again.summary == scenes.summary
    assert all(isinstance(s.data, SceneSegmentationSegment) for s in again.segments) and again.segments == scenes.segments
    return cuts, scenes


def grouping(scenes):
    return [s.data.shot_indices for s in scenes.segments]


def test_shots_that_look_alike_share_a_scene(tmp_path):
    # B is A's palette with another texture (the same seed would give B's first frame A's
    # picture: no cut at all), moving; C is another colour.
    spec, path = clip(
        tmp_path,
        Shot(1.0, RED, "static", seed=1),
        Shot(1.0, RED, "pan", speed=90, seed=5),
        Shot(1.0, BLUE, "static", seed=2),
    )
    cuts, scenes = analyse_scenes(path)
    assert cuts.summary.shot_count == 3  # both cuts seen: the grouping below is the scene step's
    assert grouping(scenes) == [[0, 1], [2]]
    assert [(s.start_s, s.end_s) for s in scenes.segments] == [
        (0.0, pytest.approx(spec.cut_times()[1], abs=1 / 30)),
        (pytest.approx(spec.cut_times()[1], abs=1 / 30), pytest.approx(3.0, abs=1e-3)),
    ]
    assert scenes.summary.scene_count == 2 and scenes.summary.shot_count == 3
    assert scenes.summary.shots_from == "cut_analysis"


@pytest.fixture
def alternating(tmp_path):
    """Shot / reverse-shot: A B A B with two looks, then a third look C."""
    return clip(
        tmp_path,
        Shot(1.0, RED, "static", seed=1),
        Shot(1.0, BLUE, "pan", speed=60, seed=2),
        Shot(1.0, RED, "static", seed=1, text="HELLO"),
        Shot(1.0, BLUE, "pan", speed=60, seed=2),
        Shot(1.5, GREEN, "zoom", speed=20, seed=3),
    )


def test_alternating_looks_stay_one_scene(alternating):
    _, path = alternating
    cuts, scenes = analyse_scenes(path)
    assert cuts.summary.shot_count == 5
    assert grouping(scenes) == [[0, 1, 2, 3], [4]]
    assert scenes.segments[1].start_s == pytest.approx(4.0, abs=1 / 30)


def test_without_cut_analysis_the_video_is_one_scene(alternating):
    spec, path = alternating
    analyzer = SceneSegmentation()
    decoder = Decoder(path, [FRAMES], False)
    partials = Partials(frames=[analyzer.process_frames(batch) for batch in decoder])
    failed = {"cut_analysis": AnalyzerResult.failed("RuntimeError: boom")}
    findings = analyzer.finalize(partials, Context(video=decoder.info, results=failed))
    assert [s.data.shot_indices for s in findings.segments] == [[0]]
    assert (findings.segments[0].start_s, findings.segments[0].end_s) == (0.0, pytest.approx(spec.duration_s))
    assert findings.summary.shots_from == "whole_video"
