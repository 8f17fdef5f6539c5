"""camera_analysis: each synthetic shot's known movement, per shot from the real cut analyzer."""

from __future__ import annotations

import pytest
from helpers import run_video, shots

from pipeline.analyzers.camera import CameraAnalysis, CameraAnalysisSegment, CameraAnalysisSummary
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult

SPEED = 60.0  # px/s on a 320 px wide frame: 0.1875 frame widths a second
# Distinct colours so that every boundary is a hard cut the cut analyzer finds.
MOVES = ClipSpec(
    shots=(
        Shot(1.5, (200, 80, 40), "static", seed=1),
        Shot(1.5, (60, 140, 220), "pan", speed=SPEED, seed=2),
        Shot(1.5, (90, 200, 90), "zoom", speed=30, seed=3),
        Shot(1.5, (230, 220, 80), "shake", seed=4),
        Shot(1.5, (120, 120, 220), "tilt", speed=-SPEED, seed=5),
        Shot(1.5, (220, 60, 160), "pan", speed=-SPEED, seed=6),
    ),
    audio=None,
)


@pytest.fixture(scope="module")
def moves(tmp_path_factory):
    return run_video(write_clip(str(tmp_path_factory.mktemp("camera") / "moves.mp4"), MOVES), "camera_analysis")


def test_each_shot_gets_its_movement_and_direction(moves):
    camera = moves.analyzers["camera_analysis"]
    assert moves.analyzers["cut_analysis"].status == Status.ok and camera.status == Status.ok
    assert camera.summary.shots_from == "cut_analysis"
    got = [(s.label, s.data.direction) for s in camera.segments]
    assert got == [("static", None), ("pan", "right"), ("zoom", "in"), ("shake", None), ("tilt", "up"), ("pan", "left")]
    # One segment per shot, on the cuts (within a frame).
    starts = [s.start_s for s in camera.segments]
    assert starts == pytest.approx([0.0, *MOVES.cut_times()], abs=1 / 30 + 1e-3)


def test_speeds_are_in_frame_widths_per_second(moves):
    static, pan_right, zoom, shake, tilt_up, pan_left = moves.analyzers["camera_analysis"].segments
    width_speed = SPEED / MOVES.width
    # Content slides the opposite way to the camera.
    assert pan_right.data.dx_per_s == pytest.approx(-width_speed, rel=0.05)
    assert pan_left.data.dx_per_s == pytest.approx(width_speed, rel=0.05)
    assert tilt_up.data.dy_per_s == pytest.approx(width_speed, rel=0.05)
    assert abs(pan_right.data.dy_per_s) < 0.01 and abs(tilt_up.data.dx_per_s) < 0.01
    # sample.py zooms 0.3x a second from 1x: log-scale rate falls from 0.3 to 0.26 over the shot.
    assert 0.2 < zoom.data.zoom_per_s < 0.32
    assert static.data.motion_energy < 0.005 and static.data.shake < 0.001
    assert shake.data.shake > 5 * max(pan_right.data.shake, static.data.shake, 0.001)


def test_summary_shares_and_per_second_motion(moves):
    summary = moves.analyzers["camera_analysis"].summary
    sixth = 1 / 6
    assert summary.movement_share == pytest.approx(
        {"static": sixth, "pan": 2 * sixth, "zoom": sixth, "shake": sixth, "tilt": sixth}, abs=0.02
    )
    curve = summary.motion_curve
    assert len(curve) == 9  # one value per second of the 9 s clip
    assert curve[0] < 0.01  # the static shot fills the first second
    assert curve[2] == pytest.approx(SPEED / MOVES.width, rel=0.1)  # the right pan fills the third


def test_document_reads_back_typed(moves):
    camera = moves.analyzers["camera_analysis"]
    again = VideoResult.model_validate_json(moves.to_json()).analyzers["camera_analysis"]
    assert isinstance(again.summary, CameraAnalysisSummary) and again.summary == camera.summary
    assert all(isinstance(s.data, CameraAnalysisSegment) for s in again.segments)
    assert again.segments == camera.segments


def test_whole_video_is_one_shot_without_cut_analysis(tmp_path):
    clip = ClipSpec((Shot(2.0, motion="pan", speed=SPEED, seed=2),), audio=None)
    path = write_clip(str(tmp_path / "pan.mp4"), clip)
    (result,) = run_local([VideoRequest("pan", path)], Plan((CameraAnalysis,), {}))
    camera = result.analyzers["camera_analysis"]
    assert camera.summary.shots_from == "whole_video"
    assert [(s.label, s.data.direction) for s in camera.segments] == [("pan", "right")]
    assert (camera.segments[0].start_s, camera.segments[0].end_s) == (0.0, pytest.approx(result.video.duration_s))


def test_testvideo(media):
    """Real footage shot from a tripod: four still shots joined by fades."""
    result = run_video(media / "pyscenedetect" / "testvideo.mp4", "camera_analysis")
    camera = result.analyzers["camera_analysis"]
    assert camera.status == Status.ok and len(camera.segments) == len(shots(result.analyzers["cut_analysis"])) >= 3
    assert all(s.label == "static" and s.data.measured_pairs >= 20 for s in camera.segments)
    assert len(camera.summary.motion_curve) == 24  # 24.02 s: the last 24 ms count in second 23
    assert 0 <= camera.summary.mean_motion_energy < 0.02


def test_a_shot_without_a_measurable_pair_is_unknown(tmp_path):
    """A black clip: nothing to track, so no measure (None rather than a made-up 0)."""
    clip = ClipSpec((Shot(1.0, (0, 0, 0), seed=1),), audio=None)
    camera = run_video(write_clip(str(tmp_path / "black.mp4"), clip), "camera_analysis").analyzers["camera_analysis"]
    (shot,) = camera.segments
    assert (shot.label, shot.confidence, shot.data.measured_pairs) == ("unknown", 0.0, 0)
    assert shot.data.direction is None and shot.data.dx_per_s is None and shot.data.motion_energy is None
    assert camera.summary.mean_motion_energy is None and camera.summary.motion_curve == [None]
