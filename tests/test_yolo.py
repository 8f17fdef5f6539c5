"""object_detection, body_pose, background_segmentation: their analysis.

The logic the code controls (aggregation, gestures, movement, background motion) is tested on
detections and keypoints built here (tracking itself: test_tracking.py); the three analyzers end
to end, through the ultralytics runtime (test_actors_yolo.py), on tiny YOLO11 models with random
weights that the fixtures generate (tests/yolo_cases.py): those tests assert structure, times
and sizes, never what was found.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from yolo_cases import (  # noqa: F401 (fixtures)
    ANALYZERS,
    TWO_SHOTS,
    box,
    detection_partial,
    pose,
    silent_models,
    ultralytics_config,
    video,
    yolo_models,
)

from actors import yolo
from pipeline.analyzer import Context, Partials
from pipeline.analyzers.background_segmentation import (
    BackgroundSegmentationSegment,
    BackgroundSegmentationSummary,
    background_change,
)
from pipeline.analyzers.body_pose import ACTIVITIES, BodyPose, BodyPoseSegment, BodyPoseSummary, arm_gestures
from pipeline.analyzers.object_detection import ObjectDetection, ObjectDetectionSegment, ObjectDetectionSummary
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import write_clip
from pipeline.schema import Status, VideoResult
from pipeline.settings import Settings

TYPES = {
    "object_detection": (ObjectDetectionSummary, ObjectDetectionSegment),
    "body_pose": (BodyPoseSummary, BodyPoseSegment),
    "background_segmentation": (BackgroundSegmentationSummary, BackgroundSegmentationSegment),
}


# ---- object_detection on constructed detections ----------------------------------------------


def test_object_detection_summaries_from_constructed_detections():
    info, results = video(4.0, cuts=[1.9])
    pts = np.arange(20) / 5.0
    per_sample = []
    for i in range(20):
        sample = [(box(100, 100 + i), 0.9, 0)] if i < 10 else [(box(300, 100), 0.6, 2)]
        if 2 <= i < 8:
            sample.append((box(400, 150), 0.8, 0))
        per_sample.append(sample)
    partials = Partials(  # two batches, each naming the classes it found
        frames=[
            detection_partial(pts[:12], per_sample[:12], names={0: "person", 2: "car"}),
            detection_partial(pts[12:], per_sample[12:], names={2: "car"}),
        ]
    )
    findings = ObjectDetection().finalize(partials, Context(video=info, results=results))

    tracks = [s for s in findings.segments if s.label != "shot"]
    assert [(s.label, s.start_s, s.end_s, s.data.frames_seen, s.data.shot) for s in tracks] == [
        ("person", 0.0, 1.9, 10, 0),  # ends at the cut, not one interval past its last sample
        ("person", 0.4, 1.6, 6, 0),
        ("car", 2.0, 4.0, 10, 1),
    ]
    assert tracks[0].confidence == pytest.approx(0.9)
    assert tracks[0].data.mean_area == pytest.approx(60 * 120 / (640 * 360), abs=1e-4)
    shots = [s.data for s in findings.segments if s.label == "shot"]
    assert shots[0].classes == {"person": 2} and shots[0].max_simultaneous == {"person": 2}
    assert shots[1].classes == {"car": 1} and shots[1].max_simultaneous == {"car": 1}
    summary = findings.summary
    assert {c: v.model_dump() for c, v in summary.classes.items()} == {
        "car": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 2.0},
        "person": {"tracks": 2, "max_simultaneous": 2, "screen_time_s": 3.1},
    }
    assert summary.track_count == 3 and summary.max_simultaneous_objects == 2
    assert summary.frames_analysed == 20 and summary.frames_with_objects == 20
    assert summary.shots_from == "cut_analysis"


def test_no_detections_is_an_empty_well_formed_result():
    info, results = video(2.0)
    pts = np.arange(10) / 5.0
    partial = detection_partial(pts, [[] for _ in pts], names={})
    findings = ObjectDetection().finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [s.label for s in findings.segments] == ["shot"]
    assert findings.summary.track_count == 0 and findings.summary.classes == {}
    assert findings.summary.shots_from == "whole_video"
    pose = dict(partial, keypoints=np.zeros((0, 17, 3), np.float32))
    findings = BodyPose().finalize(Partials(frames=[pose]), Context(video=info, results=results))
    assert findings.segments == [] and findings.summary.person_tracks == 0
    assert findings.summary.mean_movement_energy is None


# ---- body_pose's rules on constructed keypoints ----------------------------------------------


def test_arm_gestures():
    people = {
        "arms down": pose(),
        "both wrists up": pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20)),
        "right arm pointing sideways": pose(r_elbow=(120, 100), r_wrist=(70, 98)),
        "left arm pointing up and out": pose(l_elbow=(265, 80), l_wrist=(300, 60)),
        "left hand waving by the head": pose(l_elbow=(260, 120), l_wrist=(250, 70)),
        "T-pose": pose(l_elbow=(280, 100), l_wrist=(330, 100), r_elbow=(120, 100), r_wrist=(70, 100)),
        "bent arm out": pose(r_elbow=(120, 100), r_wrist=(120, 140)),
        "wrists unseen": pose(l_wrist=None, r_wrist=None),
        "hips unseen, wrists up": pose(l_hip=None, r_hip=None, l_wrist=(245, 40), r_wrist=(155, 40)),
        "hips unseen, arms down": pose(l_hip=None, r_hip=None),
    }
    gesture, side = arm_gestures(np.stack(list(people.values())))
    got = {name: (g, s) for name, g, s in zip(people, gesture, side)}
    assert got == {
        "arms down": ("", None),
        "both wrists up": ("hands_up", None),
        "right arm pointing sideways": ("pointing", "right"),
        "left arm pointing up and out": ("pointing", "left"),
        "left hand waving by the head": ("hand_raised", "left"),
        "T-pose": ("", None),
        "bent arm out": ("", None),
        "wrists unseen": ("", None),
        "hips unseen, wrists up": ("hands_up", None),
        "hips unseen, arms down": ("", None),
    }


def test_body_pose_movement_and_gesture_spans():
    """Two people in one shot at 5 fps for 2 s: one still with hands up from 0.4 to 1.2 s; one
    whose limbs swing 60 px (0.2 body heights) every sample: 1 body height a second, dancing."""
    info, results = video(2.0)
    pts = np.arange(10) / 5.0
    up = pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20))
    per_sample, keypoints = [], []
    for i in range(10):
        still = up if 2 <= i <= 5 else pose()
        dancer = pose()
        dancer[:, 0] += 300  # beside the first
        swing = 60.0 if i % 2 else 0.0
        dancer[[7, 8, 9, 10, 13, 14, 15, 16], 1] -= swing
        per_sample.append([([150, 40, 250, 340], 0.9, 0), ([450, 40, 550, 340], 0.85, 0)])
        keypoints += [still, dancer]
    partial = detection_partial(pts, per_sample, keypoints=np.stack(keypoints))
    findings = BodyPose().finalize(Partials(frames=[partial]), Context(video=info, results=results))

    people = [s for s in findings.segments if s.label == "person"]
    assert [(p.data.activity, p.data.frames_seen) for p in people] == [("still", 10), ("dancing", 10)]
    assert people[0].data.movement_energy == pytest.approx(0.0, abs=1e-6)
    assert people[1].data.movement_energy == pytest.approx(1.0, rel=1e-3)
    assert people[0].data.travel_speed == pytest.approx(0.0, abs=1e-6)
    assert people[0].data.gestures == {"hands_up": pytest.approx(0.8)}
    [hands_up] = [s for s in findings.segments if s.label != "person"]
    assert (hands_up.label, hands_up.start_s, hands_up.end_s) == ("hands_up", 0.4, 1.2)
    # side None (both arms), and no field of a person segment
    assert hands_up.data.model_dump(exclude_none=True) == {"track": 0, "shot": 0}
    summary = findings.summary
    assert summary.person_tracks == 2 and summary.max_people == 2
    assert summary.activity_share == {"still": 0.5, "moving": 0.0, "dancing": 0.5}
    assert summary.gestures["hands_up"].model_dump() == {"count": 1, "seconds": 0.8}
    assert summary.gestures["pointing"].model_dump() == {"count": 0, "seconds": 0.0}


def test_a_one_sample_gesture_is_no_gesture():
    info, results = video(1.0)
    pts = np.arange(5) / 5.0
    up = pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20))
    keypoints = [up if i == 2 else pose() for i in range(5)]
    partial = detection_partial(pts, [[([150, 40, 250, 340], 0.9, 0)]] * 5, keypoints=np.stack(keypoints))
    findings = BodyPose().finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [s.label for s in findings.segments] == ["person"]




# ---- the three analyzers end to end, on generated tiny models --------------------------------


def _run(path: str, names: list[str], models: Path):
    [result] = run_local([VideoRequest(Path(path).stem, path)], Plan.build(names, settings=Settings(models_dir=models)))
    return result


@pytest.fixture(scope="module")
def two_shots_clip(tmp_path_factory) -> str:
    return write_clip(str(tmp_path_factory.mktemp("yolo") / "two_shots.mp4"), TWO_SHOTS)


def test_the_three_models_run_end_to_end(two_shots_clip, yolo_models):
    result = _run(two_shots_clip, [cls.name for cls in ANALYZERS], yolo_models)
    duration = result.video.duration_s
    for name in ("object_detection", "body_pose", "background_segmentation"):
        analyzed = result.analyzers[name]
        assert analyzed.status == Status.ok, analyzed.error or analyzed.reason
        assert analyzed.summary.frames_analysed == 16  # 3.2 s at 5 a second
        assert analyzed.summary.shots_from == "cut_analysis"
        for segment in analyzed.segments:
            assert 0.0 <= segment.start_s <= segment.end_s <= duration + 1e-3
    objects = result.analyzers["object_detection"]
    assert [s.data.shot for s in objects.segments if s.label == "shot"] == [0, 1]
    # The generated models fire on these pictures: tracks come out of real model output.
    tracks = [s for s in objects.segments if s.label != "shot"]
    assert tracks and {s.label for s in tracks} <= {"person", "car"}
    assert all(s.data.frames_seen >= 1 and 0.1 <= s.confidence <= 1.0 for s in tracks)
    assert all(s.data.class_ == s.label for s in tracks)
    assert sum(c.tracks for c in objects.summary.classes.values()) == len(tracks)
    people = [s for s in result.analyzers["body_pose"].segments if s.label == "person"]
    assert people and all(p.data.activity in (None, *ACTIVITIES) for p in people)
    background = result.analyzers["background_segmentation"]
    assert 0.0 < background.summary.person_share <= 1.0  # the firing model's masks cover something
    for cls in ANALYZERS:  # the document names the file that ran, by its digest
        [used] = result.analyzers[cls.name].models
        file = yolo_models / cls.weights[0].name
        # generated, so not the pinned release: the document says so
        assert (used.id, used.sha256) == (f"{file.name} (local, not the pinned release)", hashlib.sha256(file.read_bytes()).hexdigest())
        assert (used.backend, used.device, used.dtype) == ("ultralytics", "cpu", "float32")

    # The document read back gives each analyzer its own types, the same figures, and the keys
    # the JSON always had (a track's class under "class").
    text = result.to_json()
    again = VideoResult.model_validate_json(text)
    for name, (summary_type, data_type) in TYPES.items():
        assert type(again.analyzers[name].summary) is summary_type
        assert all(type(s.data) is data_type for s in again.analyzers[name].segments)
        assert again.analyzers[name] == result.analyzers[name]
    assert again.to_json() == text
    assert '"class": "' in text and '"class_"' not in text


def test_background_static_then_moving(two_shots_clip, silent_models):
    """With no person in the way, the static shot's background does not change and the pan's does."""
    background = _run(two_shots_clip, ["background_segmentation"], silent_models).analyzers["background_segmentation"]
    assert [s.label for s in background.segments] == ["static", "moving"]
    static, moving = (s.data for s in background.segments)
    assert static.measured_pairs == moving.measured_pairs == 7  # 8 samples a shot; the pair over the cut left out
    assert static.background_change < 0.02 and moving.background_change > 0.3
    assert background.summary.person_share == 0.0
    assert background.summary.background_share.model_dump() == {"static": 0.5, "moving": 0.5, "unknown": 0.0}


def test_people_are_not_background():
    """Change under a person mask is the person moving, not the background."""
    rng = np.random.default_rng(3)
    before = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    after = before.copy()
    after[20:80, 60:100] = 255 - after[20:80, 60:100]  # someone moves in the middle
    person = np.zeros((90, 160), bool)
    person[20:80, 60:100] = True
    nobody = np.zeros_like(person)
    assert background_change(before, after, nobody, nobody) == pytest.approx(person.mean(), abs=0.02)
    assert background_change(before, after, nobody, person) == 0.0
    assert background_change(before, after, person, nobody) == 0.0
    assert np.isnan(background_change(before, after, ~nobody, nobody))  # no background left to measure


def test_missing_weights_are_a_skip_with_the_fix(tmp_path, sample_clip):
    result = _run(str(sample_clip), ["object_detection", "body_pose"], tmp_path)
    for name, file in (("object_detection", "yolo11n.pt"), ("body_pose", "yolo11n-pose.pt")):
        skipped = result.analyzers[name]
        assert skipped.status == Status.skipped
        assert str(tmp_path / file) in skipped.reason
        assert f"reelscope models download --analyzers {name}" in skipped.reason
    assert result.analyzers["cut_analysis"].status == Status.ok


def test_a_misplaced_model_fails_only_its_analyzer(silent_models, tmp_path, two_shots_clip):
    """Pose weights saved as the detection model: object_detection fails with that line, the
    two others run on their own files."""
    for name in yolo.TASK_FILES.values():
        (tmp_path / name).symlink_to(silent_models / name)
    (tmp_path / "yolo11n.pt").unlink()
    (tmp_path / "yolo11n.pt").symlink_to(silent_models / "yolo11n-pose.pt")
    for cls in ANALYZERS:  # past the digest check: the task check is what is tested
        cls.weights[0].accept_local(tmp_path / cls.weights[0].name)
    result = _run(two_shots_clip, [cls.name for cls in ANALYZERS], tmp_path)
    failed = result.analyzers["object_detection"]
    assert failed.status == Status.failed
    assert failed.error.startswith(f"weights {ObjectDetection.weights[0].source} at {tmp_path / 'yolo11n.pt'}: holds a pose")
    assert "\n" not in failed.error
    assert result.analyzers["body_pose"].status == result.analyzers["background_segmentation"].status == Status.ok
    assert result.analyzers["cut_analysis"].status == Status.ok
