"""object_detection, body_pose, background_segmentation.

The logic the code controls (tracking, gestures, movement, aggregation, background motion) is
tested on detections and keypoints built here; the model path (loading through Weights, the
predictor steps, batching, odd frames) on tiny YOLO11 models with random weights that the
fixtures generate. Random weights mean random detections: those tests assert structure, times and
sizes, never what was found.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_factory import YOLO_YAML, write_yolo

from pipeline.analyzer import Context, FrameBatch, Partials
from pipeline.analyzers import yolo
from pipeline.analyzers.yolo import (
    ACTIVITIES,
    FRAMES,
    IMAGE_SIZE,
    IOU,
    KEEP_CONFIDENCE,
    MAX_DETECTIONS,
    BackgroundSegmentation,
    BodyPose,
    Detections,
    ObjectDetection,
    arm_gestures,
    assign_tracks,
    background_change,
    shot_of_samples,
)
from pipeline.engine import Plan, VideoRequest, run_local
from pipeline.models import MODELS_DIR_ENV, WeightsError
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Segment, Status, VideoInfo

ANALYZERS = (ObjectDetection, BodyPose, BackgroundSegmentation)
# The clip the models run on end to end: a static shot, a cut, a pan.
TWO_SHOTS = ClipSpec(
    shots=(Shot(1.6, (200, 80, 40), "static", seed=1), Shot(1.6, (60, 140, 220), "pan", speed=160, seed=2)),
    audio=None,
)
# Class -> share of the anchors that score 0.6 or more on TWO_SHOTS' frames in the firing models.
FIRING = {0: 0.003, 2: 0.001}
LOGIT_SPREAD = 8.0  # standard deviation of the firing classes' logits: few anchors near the threshold


# ---- generated models ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def ultralytics_config(tmp_path_factory) -> Path:
    """Before any test here imports ultralytics: offline, settings in a temporary directory."""
    folder = tmp_path_factory.mktemp("ultralytics-config")
    os.environ["YOLO_CONFIG_DIR"] = str(folder)
    os.environ["YOLO_OFFLINE"] = "1"
    return folder


@pytest.fixture(scope="session")
def yolo_models(ultralytics_config, tmp_path_factory) -> Path:
    """Tiny YOLO11 detect, pose and segment models with random weights that fire (persons and cars
    on TWO_SHOTS), saved where the analyzers look through ultralytics' own save."""
    from pipeline.sample import render_frames

    # Every sample the analyzers will read, at the size they letterbox it to (640 x 480).
    frames = [frame for _, frame in render_frames(TWO_SHOTS)][:: round(TWO_SHOTS.fps / FRAMES.fps)]
    pictures = np.stack([cv2.resize(frame, (640, 480), interpolation=cv2.INTER_LINEAR) for frame in frames])
    folder = tmp_path_factory.mktemp("models")
    for task in YOLO_YAML:
        write_yolo(folder, task, adjust=lambda network: _make_it_fire(network, pictures))
    return folder


@pytest.fixture(scope="session")
def silent_models(ultralytics_config, tmp_path_factory) -> Path:
    """The same models as ultralytics initialises them: random, they detect nothing."""
    folder = tmp_path_factory.mktemp("silent-models")
    for task in YOLO_YAML:
        write_yolo(folder, task)
    return folder


def _make_it_fire(model, pictures: np.ndarray) -> None:
    """Random init shrinks activations layer after layer until every class score is its bias:
    batch norm statistics taken on `pictures` keep them content-dependent. Then the FIRING
    classes' logits get LOGIT_SPREAD and a bias that makes their FIRING share of anchors on
    `pictures` score 0.6; the other classes are silenced."""
    import torch
    from torch import nn

    batch = torch.from_numpy(pictures).permute(0, 3, 1, 2).float() / 255
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # running statistics = this batch's
    model.train()
    with torch.no_grad():
        model(batch)
    model.eval()
    classify = [branch[-1] for branch in model.model[-1].cv3]  # the last conv of each level's class branch
    logits = []
    def keep(conv, inputs, out):
        logits.append(out - conv.bias[:, None, None])

    hooks = [conv.register_forward_hook(keep) for conv in classify]
    with torch.no_grad():
        model(batch)
        for hook in hooks:
            hook.remove()
        by_class = torch.cat([out.flatten(2) for out in logits], 2).transpose(0, 1).flatten(1)  # (classes, anchors)
        for cls in range(len(by_class)):
            gain = LOGIT_SPREAD / by_class[cls].std() if cls in FIRING else 0.0
            bias = np.log(0.6 / 0.4) - torch.quantile(by_class[cls] * gain, 1 - FIRING[cls]) if cls in FIRING else -12.0
            for conv in classify:
                conv.weight[cls] *= gain
                conv.bias[cls] = bias


def _set_up(folder: Path) -> dict[str, object]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODELS_DIR_ENV, str(folder))
        analyzers = {cls.name: cls() for cls in ANALYZERS}
        for analyzer in analyzers.values():
            analyzer.setup()
    return analyzers


@pytest.fixture(scope="module")
def firing(yolo_models) -> dict[str, object]:
    """The three analyzers set up once on the firing models (through Weights.require)."""
    return _set_up(yolo_models)


@pytest.fixture(scope="module")
def silent(silent_models) -> dict[str, object]:
    return _set_up(silent_models)


# ---- helpers -----------------------------------------------------------------------------


def video(duration: float, cuts: list[float] = ()) -> tuple[VideoInfo, dict[str, AnalyzerResult]]:
    """A VideoInfo and, when `cuts` are given, a cut_analysis result with those shots."""
    info = VideoInfo(path="x.mp4", duration_s=duration, size_bytes=1, container="mp4", has_video=True, has_audio=False)
    if not cuts:
        return info, {}
    bounds = [0.0, *cuts, duration]
    shots = [Segment(start_s=a, end_s=b, label="shot") for a, b in zip(bounds, bounds[1:])]
    return info, {"cut_analysis": AnalyzerResult(status=Status.ok, segments=shots)}


def detection_partial(pts, per_sample, size=(360, 640), names=None, keypoints=None) -> dict:
    """A process_frames partial from per-sample lists of (box, confidence, class)."""
    counts = np.array([len(s) for s in per_sample], np.int32)
    rows = [d for s in per_sample for d in s]
    partial = {
        "pts": np.asarray(pts, np.float64),
        "size": size,
        "counts": counts,
        "boxes": np.array([r[0] for r in rows], np.float32).reshape(-1, 4),
        "conf": np.array([r[1] for r in rows], np.float32),
        "cls": np.array([r[2] for r in rows], np.int16),
    }
    if names is not None:
        partial["names"] = names
    if keypoints is not None:
        partial["keypoints"] = np.asarray(keypoints, np.float32).reshape(-1, 17, 3)
    return partial


def box(x: float, y: float, w: float = 60, h: float = 120) -> list[float]:
    return [x, y, x + w, y + h]


# ---- tracking on constructed detections ------------------------------------------------------


def test_tracker_follows_objects_and_keeps_what_continues_them():
    pts = np.arange(12) / 5.0
    per_sample = []
    for i in range(12):
        sample = [(box(40 + 8 * i, 50), 0.9, 0), (box(400 - 8 * i, 200), 0.8, 2)]
        if i == 5:  # the person's detection is weak here: ByteTrack's second stage keeps it
            sample[0] = (box(40 + 8 * i, 50), 0.15, 0)
        if i >= 3:  # a second person walks in at sample 3
            sample.append((box(250, 20 + 4 * i), 0.7, 0))
        if i == 7:  # a one-sample false alarm: never confirmed
            sample.append((box(560, 260, 30, 30), 0.6, 0))
        per_sample.append(sample)
    found = Detections.gather([detection_partial(pts, per_sample)])
    track_of = assign_tracks(found, np.zeros(12, int), interval=0.2)

    samples_of = {t: sorted(found.frame[track_of == t]) for t in np.unique(track_of[track_of >= 0])}
    assert samples_of == {0: list(range(12)), 1: list(range(12)), 2: list(range(3, 12))}
    # Each track keeps one class and its detections, the weak one included.
    assert set(found.cls[track_of == 0]) == {0} and set(found.cls[track_of == 1]) == {2}
    assert found.conf[(track_of == 0) & (found.frame == 5)] == pytest.approx([0.15])
    assert np.all(track_of[found.conf == np.float32(0.6)] == -1)


def test_tracker_bridges_short_gaps_and_ends_at_cuts_and_long_losses():
    pts = np.arange(30) / 5.0
    visible = set(range(30)) - {4, 5} - set(range(12, 20))  # lost 0.4 s, then 1.6 s (> LOST_TRACK_S)
    per_sample = [[(box(100 + 2 * i, 100), 0.9, 0)] if i in visible else [] for i in range(30)]
    found = Detections.gather([detection_partial(pts, per_sample)])
    shots = [(0.0, 5.0), (5.0, 6.0)]  # a cut at 5 s, in the middle of the third stretch
    track_of = assign_tracks(found, shot_of_samples(pts, shots), interval=0.2)
    spans = [(found.frame[track_of == t].min(), found.frame[track_of == t].max()) for t in range(track_of.max() + 1)]
    assert spans == [(0, 11), (20, 24), (25, 29)]


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
    assert [(s.label, s.start_s, s.end_s, s.data["frames_seen"], s.data["shot"]) for s in tracks] == [
        ("person", 0.0, 1.9, 10, 0),  # ends at the cut, not one interval past its last sample
        ("person", 0.4, 1.6, 6, 0),
        ("car", 2.0, 4.0, 10, 1),
    ]
    assert tracks[0].confidence == pytest.approx(0.9)
    assert tracks[0].data["mean_area"] == pytest.approx(60 * 120 / (640 * 360), abs=1e-4)
    shots = [s.data for s in findings.segments if s.label == "shot"]
    assert shots[0]["classes"] == {"person": 2} and shots[0]["max_simultaneous"] == {"person": 2}
    assert shots[1]["classes"] == {"car": 1} and shots[1]["max_simultaneous"] == {"car": 1}
    summary = findings.summary
    assert summary["classes"] == {
        "car": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 2.0},
        "person": {"tracks": 2, "max_simultaneous": 2, "screen_time_s": 3.1},
    }
    assert summary["track_count"] == 3 and summary["max_simultaneous_objects"] == 2
    assert summary["frames_analysed"] == 20 and summary["frames_with_objects"] == 20
    assert summary["shots_from"] == "cut_analysis"


def test_no_detections_is_an_empty_well_formed_result():
    info, results = video(2.0)
    pts = np.arange(10) / 5.0
    partial = detection_partial(pts, [[] for _ in pts], names={})
    findings = ObjectDetection().finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [s.label for s in findings.segments] == ["shot"]
    assert findings.summary["track_count"] == 0 and findings.summary["classes"] == {}
    assert findings.summary["shots_from"] == "whole_video"
    pose = dict(partial, keypoints=np.zeros((0, 17, 3), np.float32))
    findings = BodyPose().finalize(Partials(frames=[pose]), Context(video=info, results=results))
    assert findings.segments == [] and findings.summary["person_tracks"] == 0
    assert findings.summary["mean_movement_energy"] is None


# ---- pose rules on constructed keypoints -----------------------------------------------------

# A person facing the camera, about 300 px tall; their left is the picture's right.
STANDING = {
    0: (200, 60), 1: (205, 55), 2: (195, 55), 3: (212, 58), 4: (188, 58),
    5: (230, 100), 6: (170, 100),  # shoulders
    7: (235, 150), 8: (165, 150),  # elbows
    9: (238, 195), 10: (162, 195),  # wrists
    11: (220, 200), 12: (180, 200),  # hips
    13: (222, 260), 14: (178, 260), 15: (224, 320), 16: (176, 320),
}


def pose(**moved: tuple[float, float]) -> np.ndarray:
    """(17, 3) keypoints of STANDING with some moved (name=xy) or hidden (name=None)."""
    index = {"l_elbow": 7, "r_elbow": 8, "l_wrist": 9, "r_wrist": 10, "l_hip": 11, "r_hip": 12}
    points = {k: (*xy, 0.9) for k, xy in STANDING.items()}
    for name, xy in moved.items():
        points[index[name]] = (0.0, 0.0, 0.1) if xy is None else (*xy, 0.9)
    return np.array([points[k] for k in range(17)], np.float32)


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
    assert [(p.data["activity"], p.data["frames_seen"]) for p in people] == [("still", 10), ("dancing", 10)]
    assert people[0].data["movement_energy"] == pytest.approx(0.0, abs=1e-6)
    assert people[1].data["movement_energy"] == pytest.approx(1.0, rel=1e-3)
    assert people[0].data["travel_speed"] == pytest.approx(0.0, abs=1e-6)
    assert people[0].data["gestures"] == {"hands_up": pytest.approx(0.8)}
    [hands_up] = [s for s in findings.segments if s.label != "person"]
    assert (hands_up.label, hands_up.start_s, hands_up.end_s, hands_up.data) == (
        "hands_up", 0.4, 1.2, {"track": 0, "shot": 0, "side": None}
    )
    summary = findings.summary
    assert summary["person_tracks"] == 2 and summary["max_people"] == 2
    assert summary["activity_share"] == {"still": 0.5, "moving": 0.0, "dancing": 0.5}
    assert summary["gestures"]["hands_up"] == {"count": 1, "seconds": 0.8}
    assert summary["gestures"]["pointing"] == {"count": 0, "seconds": 0.0}


def test_a_one_sample_gesture_is_no_gesture():
    info, results = video(1.0)
    pts = np.arange(5) / 5.0
    up = pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20))
    keypoints = [up if i == 2 else pose() for i in range(5)]
    partial = detection_partial(pts, [[([150, 40, 250, 340], 0.9, 0)]] * 5, keypoints=np.stack(keypoints))
    findings = BodyPose().finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [s.label for s in findings.segments] == ["person"]


# ---- the model path, on generated tiny models ------------------------------------------------


def _run(path: str, names: list[str], models: Path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODELS_DIR_ENV, str(models))
        [result] = run_local([VideoRequest(Path(path).stem, path)], Plan.build(names))
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
        assert analyzed.summary["frames_analysed"] == 16  # 3.2 s at 5 a second
        assert analyzed.summary["shots_from"] == "cut_analysis"
        for segment in analyzed.segments:
            assert 0.0 <= segment.start_s <= segment.end_s <= duration + 1e-3
    objects = result.analyzers["object_detection"]
    assert [s.data["shot"] for s in objects.segments if s.label == "shot"] == [0, 1]
    # The generated models fire on these pictures: tracks come out of real model output.
    tracks = [s for s in objects.segments if s.label != "shot"]
    assert tracks and {s.label for s in tracks} <= {"person", "car"}
    assert all(s.data["frames_seen"] >= 1 and 0.1 <= s.confidence <= 1.0 for s in tracks)
    assert sum(c["tracks"] for c in objects.summary["classes"].values()) == len(tracks)
    people = [s for s in result.analyzers["body_pose"].segments if s.label == "person"]
    assert people and all(p.data["activity"] in (None, *ACTIVITIES) for p in people)
    background = result.analyzers["background_segmentation"]
    assert 0.0 < background.summary["person_share"] <= 1.0  # the firing model's masks cover something
    for cls in ANALYZERS:  # the document names the file that ran, by its digest
        [used] = result.analyzers[cls.name].models
        file = yolo_models / cls.weights[0].name
        # generated, so not the pinned release: the document says so
        assert (used.id, used.sha256) == (f"{file.name} (local, not the pinned release)", hashlib.sha256(file.read_bytes()).hexdigest())
        assert (used.backend, used.device, used.dtype) == ("ultralytics", "cpu", "float32")


def test_background_static_then_moving(two_shots_clip, silent_models):
    """With no person in the way, the static shot's background does not change and the pan's does."""
    background = _run(two_shots_clip, ["background_segmentation"], silent_models).analyzers["background_segmentation"]
    assert [s.label for s in background.segments] == ["static", "moving"]
    static, moving = (s.data for s in background.segments)
    assert static["measured_pairs"] == moving["measured_pairs"] == 7  # 8 samples a shot; the pair over the cut left out
    assert static["background_change"] < 0.02 and moving["background_change"] > 0.3
    assert background.summary["person_share"] == 0.0
    assert background.summary["background_share"] == {"static": 0.5, "moving": 0.5, "unknown": 0.0}


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


@pytest.mark.parametrize(
    "shape", [(1, 240, 320), (3, 7, 641), (2, 3840, 2160)], ids=["one frame", "odd sizes", "4K portrait"]
)
def test_odd_frames_give_sized_results(firing, shape):
    n, h, w = shape
    frames = np.random.default_rng(1).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(n) / 5.0, frames=frames)
    info, results = video(n / 5.0)
    for name, analyzer in firing.items():
        partial = analyzer.process_frames(batch)
        if name == "background_segmentation":
            assert len(partial) == n and np.all((partial["person"] >= 0) & (partial["person"] <= 1))
        else:
            boxes = partial["boxes"]
            assert len(partial["counts"]) == n and len(boxes) == len(partial["conf"]) == partial["counts"].sum()
            assert np.all(boxes >= 0) and np.all(boxes[:, [0, 2]] <= w) and np.all(boxes[:, [1, 3]] <= h)
            if name == "body_pose":
                assert partial["keypoints"].shape == (partial["counts"].sum(), 17, 3)
                assert np.all(partial["keypoints"][..., 0] <= w) and np.all(partial["keypoints"][..., 1] <= h)
        findings = analyzer.finalize(Partials(frames=[partial]), Context(video=info, results=results))
        assert findings.summary["frames_analysed"] == n


def test_nothing_detected_gives_empty_results(silent):
    frames = np.stack([np.zeros((360, 640, 3), np.uint8), np.full((360, 640, 3), 200, np.uint8)])
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0, 0.2]), frames=frames)
    info, results = video(0.4)
    for name, analyzer in silent.items():
        partial = analyzer.process_frames(batch)
        findings = analyzer.finalize(Partials(frames=[partial]), Context(video=info, results=results))
        if name == "background_segmentation":
            assert list(partial["people"]) == [0, 0] and list(partial["person"]) == [0.0, 0.0]
            assert findings.summary["person_share"] == 0.0
        else:
            assert list(partial["counts"]) == [0, 0]
            assert [s.label for s in findings.segments] == (["shot"] if name == "object_detection" else [])


def test_batches_are_pure_and_pair_with_the_frame_before(firing):
    """A batch split in two gives the same partials as the whole, the second half pairing with
    the frame before it."""
    frames = np.random.default_rng(2).integers(0, 256, (4, 120, 160, 3), dtype=np.uint8)
    pts = np.arange(4) / 5.0
    whole = FrameBatch(FRAMES, 0, pts, frames)
    halves = [FrameBatch(FRAMES, 0, pts[:2], frames[:2]), FrameBatch(FRAMES, 1, pts[2:], frames[2:], frames[1], pts[1])]
    background = firing["background_segmentation"]
    joined = np.concatenate([background.process_frames(b) for b in halves])
    one = background.process_frames(whole)
    np.testing.assert_array_equal(joined["t_prev"][1:], pts[:-1])
    np.testing.assert_allclose(joined["person"], one["person"], atol=1e-6)
    np.testing.assert_allclose(joined["change"], one["change"], atol=1e-6, equal_nan=True)
    detector = firing["object_detection"]
    split = [detector.process_frames(b) for b in halves]
    one = detector.process_frames(whole)
    np.testing.assert_array_equal(np.concatenate([p["counts"] for p in split]), one["counts"])
    np.testing.assert_allclose(np.concatenate([p["boxes"] for p in split]), one["boxes"], atol=1e-3)


def test_missing_weights_are_a_skip_with_the_fix(tmp_path, monkeypatch, sample_clip):
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    [result] = run_local([VideoRequest("sample", str(sample_clip))], Plan.build(["object_detection", "body_pose"]))
    for name, file in (("object_detection", "yolo11n.pt"), ("body_pose", "yolo11n-pose.pt")):
        skipped = result.analyzers[name]
        assert skipped.status == Status.skipped
        assert str(tmp_path / file) in skipped.reason
        assert f"reelscope models download --analyzers {name}" in skipped.reason
    assert result.analyzers["cut_analysis"].status == Status.ok


# (what the file holds, the analyzer it is placed for): the releases' files under each other's names.
WRONG_PLACES = [("detect", BodyPose), ("pose", ObjectDetection), ("segment", BodyPose), ("detect", BackgroundSegmentation)]


@pytest.mark.parametrize("holds, analyzer", WRONG_PLACES, ids=[f"{t} as {a.name}" for t, a in WRONG_PLACES])
def test_weights_of_the_wrong_task_fail_setup_in_one_line(silent_models, tmp_path, monkeypatch, holds, analyzer):
    placed = tmp_path / analyzer.weights[0].name
    placed.symlink_to(silent_models / yolo.TASK_FILES[holds])
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    analyzer.weights[0].accept_local()  # past the digest check: the task check is what is tested
    with pytest.raises(WeightsError) as failed:
        analyzer().setup()
    message = str(failed.value)
    assert f"holds a {holds} model; {analyzer.name} needs a {analyzer.task} model" in message
    assert f"({yolo.TASK_FILES[holds]} saved as {placed.name}?)" in message and str(placed) in message
    assert f"reelscope models download --analyzers {analyzer.name}" in message and "\n" not in message


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
    assert result.analyzers["body_pose"].status == result.analyzers["background_segmentation"].status == Status.ok
    assert result.analyzers["cut_analysis"].status == Status.ok


def test_weights_point_at_the_yolo11_release_assets():
    assert [cls.weights[0].source for cls in ANALYZERS] == [
        f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{name}"
        for name in ("yolo11n.pt", "yolo11n-pose.pt", "yolo11n-seg.pt")
    ]
    assert all(len(cls.weights[0].sha256) == 64 for cls in ANALYZERS)  # pinned
    assert all(cls.family == "ultralytics" and cls.frames == FRAMES and not cls.in_decoder for cls in ANALYZERS)


def test_setup_keeps_ultralytics_offline_and_out_of_home(yolo_models, tmp_path):
    """In a fresh process with no YOLO_* settings, setup() points ultralytics' settings file at a
    temporary directory and turns its network use off before importing it."""
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.pop("XDG_CONFIG_HOME", None)
    env.update(HOME=str(home), TMPDIR=str(temp), **{MODELS_DIR_ENV: str(yolo_models)})
    script = (
        "import os; from pipeline.analyzers.yolo import ObjectDetection; ObjectDetection().setup(); "
        "print(os.environ['YOLO_OFFLINE'], os.environ['YOLO_AUTOINSTALL'])"
    )
    repo = Path(yolo.__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 false"
    assert (temp / "reelscope-ultralytics" / "Ultralytics" / "settings.json").is_file()
    assert not any(home.iterdir())


# ---- constructed model outputs, in the models' own format ------------------------------------
# The predictions a YOLO11 head returns at inference: (n, 4 + classes + task channels, anchors),
# boxes as centre x, y, width, height in letterboxed input pixels, class scores after the sigmoid;
# pose adds 17 x (x, y, visibility); segment adds 32 mask coefficients and returns (n, 32, h/4,
# w/4) prototypes. Built here from boxes in frame pixels through the letterbox worked out below,
# and fed to the analyzers' own postprocess: a wrong scale-back (no padding removed, axes swapped,
# left in letterbox pixels) puts them elsewhere.


def letterbox_of(frame_shape: tuple[int, int]) -> tuple[tuple[int, int], float, tuple[int, int]]:
    """Where ultralytics' LetterBox (auto, stride 32) puts an (h, w) frame in a 640 px input:
    the input's (h, w), the scale, and the (left, top) padding."""
    h, w = frame_shape
    scale = min(640 / h, 640 / w)
    new_h, new_w = round(h * scale), round(w * scale)
    pad_h, pad_w = -new_h % 32, -new_w % 32
    return (new_h + pad_h, new_w + pad_w), scale, (round(pad_w / 2 - 0.1), round(pad_h / 2 - 0.1))


def head_output(frame_shape, rows, classes: int, extra: int = 0):
    """(letterboxed input shape, predictions) for one frame. rows: (xyxy box in frame pixels,
    {class: score}, extra channels (keypoints in frame pixels are mapped too))."""
    import torch

    shape, scale, (left, top) = letterbox_of(frame_shape)
    anchors = sum((shape[0] // s) * (shape[1] // s) for s in (8, 16, 32))
    predictions = torch.zeros(1, 4 + classes + extra, anchors)
    for k, (xyxy, scores, channels) in enumerate(rows):
        x1, y1, x2, y2 = np.array(xyxy) * scale + [left, top, left, top]
        predictions[0, :4, 3 * k] = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        for cls, score in scores.items():
            predictions[0, 4 + cls, 3 * k] = score
        if extra:
            predictions[0, 4 + classes :, 3 * k] = torch.as_tensor(channels, dtype=torch.float32)
    return shape, predictions


def keypoints_in_input(keypoints: np.ndarray, frame_shape) -> np.ndarray:
    _, scale, (left, top) = letterbox_of(frame_shape)
    mapped = keypoints.astype(np.float64).copy()
    mapped[:, :2] = mapped[:, :2] * scale + [left, top]
    return mapped.ravel()


PORTRAIT = (1080, 810)  # bus.jpg's shape: scaled to 640 x 480, no padding
SHAPES = {"portrait 1080x810": PORTRAIT, "landscape 720x1280": (720, 1280), "padded 1080x606": (1080, 606)}


@pytest.mark.parametrize("frame_shape", SHAPES.values(), ids=SHAPES.keys())
def test_detections_come_back_in_frame_pixels(silent, frame_shape):
    detector = silent["object_detection"]
    h, w = frame_shape
    rows = [
        ((0.10 * w, 0.20 * h, 0.45 * w, 0.95 * h), {0: 0.9}, None),  # a person
        ((0.50 * w, 0.30 * h, 1.00 * w, 0.70 * h), {5: 0.7, 7: 0.2}, None),  # a bus (that looks a bit like a truck)
        ((0.60 * w, 0.05 * h, 0.70 * w, 0.15 * h), {2: 0.05}, None),  # under KEEP_CONFIDENCE: dropped
    ]
    shape, predictions = head_output(frame_shape, rows, classes=80)
    frames = np.zeros((1, h, w, 3), np.uint8)
    assert tuple(detector.preprocess(frames).shape[2:]) == shape  # the letterbox worked out here is the analyzer's
    [found] = detector.postprocess((predictions, None), shape, frame_shape)
    np.testing.assert_allclose(found["boxes"], [rows[0][0], rows[1][0]], atol=0.5)
    np.testing.assert_allclose(found["conf"], [0.9, 0.7], atol=1e-6)
    assert found["cls"].tolist() == [0, 5]
    # The analysis on top: one sample, a track per object, named by the model's classes.
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0]), frames=frames)
    partial = detector.partial(batch, [found])
    info, results = video(0.2)
    findings = detector.finalize(Partials(frames=[partial]), Context(video=info, results=results))
    tracks = [s for s in findings.segments if s.label != "shot"]
    assert [s.label for s in tracks] == ["person", "bus"]
    assert tracks[0].data["mean_area"] == pytest.approx(0.35 * 0.75, abs=1e-3)  # a share of the frame, not the input


def test_bus_truth_comes_back_on_the_real_picture(silent, media):
    """bus.jpg's published boxes, put through the letterbox as the model would see them, come back
    at the published pixels of the 810x1080 picture, and as COCO's names."""
    detector = silent["object_detection"]
    picture = cv2.cvtColor(cv2.imread(str(media / "yolov5" / "bus.jpg")), cv2.COLOR_BGR2RGB)
    assert picture.shape[:2] == PORTRAIT
    truth = np.loadtxt(media / "yolov5" / "uwarg_bounding_box_bus_yolov8s.txt", ndmin=2)  # conf, class, xyxy
    rows = [(box, {int(cls): conf}, None) for conf, cls, *box in truth]
    shape, predictions = head_output(PORTRAIT, rows, classes=80)
    assert tuple(detector.preprocess(picture[None]).shape[2:]) == shape == (640, 480)
    [found] = detector.postprocess((predictions, None), shape, PORTRAIT)
    order = np.argsort(-truth[:, 0], kind="stable")
    np.testing.assert_allclose(found["boxes"], truth[order, 2:], atol=0.5)
    assert sorted(detector.names[int(c)] for c in found["cls"]) == ["bus", "person", "person", "person", "person"]


def test_keypoints_come_back_in_frame_pixels_and_read_as_gestures(silent):
    """A person with both hands up in a 1080x810 portrait frame, for three samples."""
    estimator = silent["body_pose"]
    up = pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20))
    up[:, :2] = up[:, :2] * 2.5 + [150, 100]  # 750 px tall, in the middle of the frame
    up[[1, 2], 2] = 0.3  # eyes barely seen: their visibility must come through as it is
    person = (up[:, 0].min() - 20, up[:, 1].min() - 20, up[:, 0].max() + 20, up[:, 1].max() + 20)
    shape, predictions = head_output(PORTRAIT, [(person, {0: 0.8}, keypoints_in_input(up, PORTRAIT))], 1, 51)
    [found] = estimator.postprocess((predictions, None), shape, PORTRAIT)
    np.testing.assert_allclose(found["boxes"], [person], atol=0.5)
    np.testing.assert_allclose(found["keypoints"][0, :, :2], up[:, :2], atol=0.5)
    np.testing.assert_allclose(found["keypoints"][0, :, 2], up[:, 2], atol=1e-6)
    frames = np.zeros((3, *PORTRAIT, 3), np.uint8)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(3) / 5.0, frames=frames)
    partial = estimator.partial(batch, [found] * 3)
    info, results = video(0.6)
    findings = estimator.finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [(s.label, s.start_s, s.end_s) for s in findings.segments if s.label != "person"] == [("hands_up", 0.0, 0.6)]


def test_person_masks_come_back_on_the_frame_grid(silent):
    """The confident person's mask (the top half of its box) lands where it is in a 708x1280
    frame (15 px of padding above and below in the input); a weak person and a car are not
    people in the picture."""
    import torch

    segmenter = silent["background_segmentation"]
    frame_shape = (708, 1280)
    shape, scale, (left, top) = letterbox_of(frame_shape)
    assert top == 15
    person = (400.0, 100.0, 700.0, 660.0)
    weak = (900.0, 100.0, 1000.0, 400.0)
    car = (50.0, 400.0, 350.0, 600.0)
    coefficients = np.eye(32)  # detection k draws prototype k
    rows = [(person, {0: 0.9}, coefficients[0]), (weak, {0: 0.2}, coefficients[1]), (car, {2: 0.9}, coefficients[2])]
    _, predictions = head_output(frame_shape, rows, classes=80, extra=32)
    prototypes = torch.full((1, 32, shape[0] // 4, shape[1] // 4), -10.0)
    for k, (x1, y1, x2, y2) in enumerate((person[:2] + (person[2], 380.0), weak, car)):  # the person's top half
        rows_, cols = (np.array([y1, y2]) * scale + top) / 4, (np.array([x1, x2]) * scale + left) / 4
        prototypes[0, k, round(rows_[0]) : round(rows_[1]), round(cols[0]) : round(cols[1])] = 10.0
    [found] = segmenter.postprocess((predictions, prototypes), shape, frame_shape)
    assert found["people"] == 1 and found["cls"].tolist() == [0, 0]  # the car is not kept; the weak person is no one
    mask = found["person"]
    grid = 160 / 1280  # the analysis grid: 160 px wide
    assert mask.shape == (round(708 * grid), 160)
    ys, xs = np.nonzero(mask)
    assert ys.min() == pytest.approx(100 * grid, abs=1) and ys.max() + 1 == pytest.approx(380 * grid, abs=1)
    assert xs.min() == pytest.approx(400 * grid, abs=1) and xs.max() + 1 == pytest.approx(700 * grid, abs=1)
    assert mask.sum() == pytest.approx((380 - 100) * (700 - 400) * grid**2, rel=0.1)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0]), frames=np.zeros((1, *frame_shape, 3), np.uint8))
    [row] = segmenter.partial(batch, [found])
    assert row["person"] == pytest.approx(mask.mean()) and row["people"] == 1


def test_the_analyzers_see_what_ultralytics_sees_in_the_same_picture_as_bgr(firing, yolo_models):
    """ultralytics' predictor takes BGR arrays (OpenCV's order) and flips them; the decoder's
    frames are RGB. The analyzers' input tensor for an RGB frame is the predictor's for the same
    picture in BGR, to the bit, and what they find is what it finds."""
    from ultralytics import YOLO

    from pipeline.sample import render_frames

    samples = [frame for _, frame in render_frames(TWO_SHOTS)][:: round(TWO_SHOTS.fps / FRAMES.fps)]
    rgb = np.stack([cv2.resize(frame, (1280, 960), interpolation=cv2.INTER_LINEAR) for frame in samples])  # halved
    bgr = [np.ascontiguousarray(frame[..., ::-1]) for frame in rgb]
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(len(rgb)) / FRAMES.fps, frames=rgb)
    for name in ("object_detection", "body_pose"):
        analyzer = firing[name]
        reference = YOLO(str(yolo_models / analyzer.weights[0].name))
        expected = reference.predict(
            bgr, imgsz=IMAGE_SIZE, conf=KEEP_CONFIDENCE, iou=IOU, max_det=MAX_DETECTIONS, device="cpu", verbose=False
        )
        assert torch_equal(analyzer.preprocess(rgb[:2]), reference.predictor.preprocess(bgr[:2])), name
        partial = analyzer.process_frames(batch)
        assert partial["counts"].tolist() == [len(r.boxes) for r in expected] and partial["counts"].sum() > 0, name
        np.testing.assert_allclose(partial["boxes"], np.concatenate([r.boxes.xyxy for r in expected]), atol=1e-2)
        np.testing.assert_allclose(partial["conf"], np.concatenate([r.boxes.conf for r in expected]), atol=1e-4)
        if name == "body_pose":
            keypoints = np.concatenate([r.keypoints.data for r in expected])
            np.testing.assert_allclose(partial["keypoints"], keypoints, atol=1e-2)


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))
