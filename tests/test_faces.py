"""age_estimation and eye_tracking: the offline detector against real truth (obama.jpg), the model
loaders on tiny random models and a YuNet stand-in (tests/model_factory.py), and the tracking /
aggregation rules on constructed inputs."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from model_factory import AGE_LABELS, YUNET_STAND_IN

from pipeline.analyzer import FrameBatch
from pipeline.analyzers import face_detection
from pipeline.analyzers.face_age import AGE_MODEL, age_estimate
from pipeline.analyzers.face_detection import FACES, face_detector
from pipeline.analyzers.face_tracks import link_tracks
from pipeline.analyzers.faces import EYE_STATE_MODEL, EyeTracking, facing_camera, stares_and_blinks
from pipeline.engine import Plan, VideoRequest, run_local
from pipeline.models import MODELS_DIR_ENV
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status

OBAMA_BOX = (349, 142, 617, 409)  # x1, y1, x2, y2 from face_recognition's (top, right, bottom, left)
BOTH = ["age_estimation", "eye_tracking"]


# ---------------------------------------------------------------------------------------------
# Fixtures: videos and tiny models


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """RGB frames (even sizes) as an H.264 MP4."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def in_pixels(box: list[float], width: int, height: int) -> tuple[float, ...]:
    return box[0] * width, box[1] * height, box[2] * width, box[3] * height


@pytest.fixture(scope="module")
def obama(media) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.COLOR_BGR2RGB)
    return rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # 910 x 1136: H.264 wants even sizes


@pytest.fixture(scope="module")
def videos(tmp_path_factory, obama) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("face_videos")
    portrait = np.full((3840, 2160, 3), 40, np.uint8)  # 4K portrait, the face in its upper middle
    face = cv2.resize(obama, (1820, 2272), interpolation=cv2.INTER_LINEAR)
    portrait[400:2672, 170:1990] = face
    return {
        "obama": write_video(folder / "obama.mp4", [obama] * 10),
        "obama_one_frame": write_video(folder / "obama_one_frame.mp4", [obama]),
        "portrait_4k": write_video(folder / "portrait_4k.mp4", [portrait]),
    }


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, vision_models_dir) -> dict[str, Path]:
    """empty: no weights at all; tiny: the age and eye-state classifiers; yunet: those and the
    YuNet stand-in (all of them from the session's vision models)."""
    root = tmp_path_factory.mktemp("face_models")
    empty, tiny = root / "empty", root / "tiny"
    for folder in (empty, tiny):
        folder.mkdir()
    for name in (AGE_MODEL.name, EYE_STATE_MODEL.name):
        (tiny / name).symlink_to(vision_models_dir / name)
    return {"empty": empty, "tiny": tiny, "yunet": vision_models_dir}


def run(path: Path, names: list[str]):
    [result] = run_local([VideoRequest(path.stem, str(path))], Plan.build(names))
    assert result.status == Status.ok, result.error
    return result


def labelled(result, label: str):
    return [s for s in result.segments if s.label == label]


def assert_well_formed(result, duration: float) -> None:
    for segment in result.segments:
        assert 0.0 <= segment.start_s <= segment.end_s <= duration + 1e-3, segment


# ---------------------------------------------------------------------------------------------
# Through the pipeline


def test_obama_one_face_both_analyzers(videos, model_dirs, monkeypatch):
    """The offline detector finds exactly the one face of obama.jpg on every frame; both analyzers
    share its detections; the tiny age model yields a well-formed range, the tiny eye model a
    measured eye state."""
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["tiny"]))
    video = run(videos["obama"], BOTH)
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == Status.ok, age.reason or age.error
    assert eyes.status == Status.ok, eyes.reason or eyes.error
    assert eyes.summary["detector"].startswith("lbp_cascade") and "YuNet weights not found" in eyes.summary["detector"]

    [track] = labelled(eyes, "face")
    assert track.data["frames"] == 10
    assert iou(in_pixels(track.data["box"], 910, 1136), OBAMA_BOX) >= 0.5
    assert (track.start_s, track.end_s) == pytest.approx((0.0, 1.0), abs=0.02)
    assert eyes.summary["face_share"] == eyes.summary["facing_share"] == 1.0  # the cascade finds frontal faces only
    assert eyes.summary["eye_state"] == EYE_STATE_MODEL.source
    assert 0.0 <= track.data["eyes_closed_share"] <= 1.0 and track.data["blinks"] >= 0
    assert_well_formed(eyes, video.video.duration_s)

    [aged] = labelled(age, "face")
    assert aged.data["box"] == track.data["box"]  # one detection pass for both
    assert aged.data["crops"] == 2  # first frame of each 0.5 s
    assert aged.data["age_bucket"] in AGE_LABELS
    assert aged.data["range_probability"] >= 0.8 - 1e-3
    positions = [AGE_LABELS.index(label) for label in aged.data["range_buckets"]]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # neighbouring buckets
    low, high = aged.data["range_low"], aged.data["range_high"]
    assert aged.data["age_range"] == (f"{low}-{high}" if high is not None else f"{low}+")
    assert sum(aged.data["distribution"].values()) == pytest.approx(1.0, abs=0.01)
    assert age.summary["face_tracks"] == age.summary["estimated_tracks"] == 1
    assert age.summary["model"] == AGE_MODEL.source
    assert_well_formed(age, video.video.duration_s)


def test_clip_without_faces_is_empty(tmp_path, model_dirs, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["tiny"]))
    clip = ClipSpec(shots=(Shot(1.0, seed=1), Shot(1.0, (60, 140, 220), "pan", seed=2)), fps=10, audio=None)
    video = run(Path(write_clip(str(tmp_path / "no_faces.mp4"), clip)), BOTH)
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == eyes.status == Status.ok
    assert age.segments == [] and age.summary["face_tracks"] == 0 and age.summary["age_distribution"] is None
    shots = labelled(eyes, "shot")
    assert len(shots) == 2 and eyes.summary["shots_from"] == "cut_analysis"
    assert all(s.data["face_share"] == s.data["eye_contact_share"] == 0.0 and s.data["frames"] == 10 for s in shots)
    assert labelled(eyes, "face") == labelled(eyes, "stare") == []
    assert eyes.summary["face_tracks"] == eyes.summary["stare_count"] == 0 and eyes.summary["longest_stare_s"] is None


def test_one_frame_video_and_missing_weights(videos, model_dirs, monkeypatch):
    """One frame is enough for a track; without weights age is skipped naming the path, and eye
    tracking runs on the offline detector, saying eye state was not measured and why."""
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["empty"]))
    video = run(videos["obama_one_frame"], BOTH)
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == Status.skipped
    assert str(model_dirs["empty"] / AGE_MODEL.name) in age.reason and "reelscope models download" in age.reason
    assert eyes.status == Status.ok, eyes.error
    [track] = labelled(eyes, "face")
    assert iou(in_pixels(track.data["box"], 910, 1136), OBAMA_BOX) >= 0.5
    assert eyes.summary["eye_state"].startswith("not measured")
    assert str(model_dirs["empty"] / EYE_STATE_MODEL.name) in eyes.summary["eye_state"]
    assert track.data["eyes_closed_share"] is None and eyes.summary["blinks"] is None
    assert eyes.summary["stare_count"] == 0  # one frame is no stare
    assert_well_formed(eyes, video.video.duration_s)


def test_4k_portrait_frame(videos, model_dirs, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["empty"]))
    eyes = run(videos["portrait_4k"], ["eye_tracking"]).analyzers["eye_tracking"]
    [track] = labelled(eyes, "face")
    face = (170 + 349 * 2, 400 + 142 * 2, 170 + 617 * 2, 400 + 409 * 2)  # the truth box scaled 2x and moved
    assert iou(in_pixels(track.data["box"], 2160, 3840), face) >= 0.5

    # A raw frame of odd size straight into process_frames (no decoder in between).
    analyzer = EyeTracking()
    analyzer.setup()
    odd = np.zeros((1, 3841, 2161, 3), np.uint8)
    partial = analyzer.process_frames(FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0]), frames=odd))
    assert partial.faces.box.shape == (0, 4) and partial.values.shape == (0,)


def test_yunet_loads_and_decodes(tmp_path, model_dirs, monkeypatch):
    """With YuNet's file present it is the detector; a generated YuNet-shaped model that fires on
    one white cell puts one frontal face there, in the video's coordinates."""
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["yunet"]))
    frame = np.zeros((384, 640, 3), np.uint8)
    frame[128:160, 320:352] = 255  # cell (column 10, row 4) at stride 32
    video = run(write_video(tmp_path / "cell.mp4", [frame] * 10), ["eye_tracking"])
    eyes = video.analyzers["eye_tracking"]
    assert eyes.summary["detector"] == f"yunet ({YUNET_STAND_IN})"
    [track] = labelled(eyes, "face")
    box = in_pixels(track.data["box"], 640, 384)
    assert box == pytest.approx((304, 112, 368, 176), abs=2)  # 64 px centred on the cell
    assert track.data["facing_share"] == 1.0 and track.data["frames"] == 10


# ---------------------------------------------------------------------------------------------
# Rules on constructed inputs


def test_tracks_follow_faces_within_a_shot():
    times = np.arange(8) * 0.1
    shot = np.zeros(8, np.int64)
    frame, boxes = [], []
    for f in range(8):  # two faces drifting right, listed in alternating order
        pair = [(0.1 + 0.01 * f, 0.1, 0.3 + 0.01 * f, 0.4), (0.6 + 0.01 * f, 0.5, 0.8 + 0.01 * f, 0.8)]
        for box in pair if f % 2 else pair[::-1]:
            frame.append(f)
            boxes.append(box)
    track = link_tracks(times, np.array(frame), np.array(boxes, np.float32), shot)
    left = track[np.array(boxes)[:, 0] < 0.5]
    right = track[np.array(boxes)[:, 0] >= 0.5]
    assert len(set(left)) == len(set(right)) == 1 and set(left) != set(right)
    assert track[0] == 0 and track[1] == 1  # numbered by first appearance: frame 0 lists the right face first


def test_tracks_break_at_gaps_and_shots_and_drop_flickers():
    box = np.array([0.2, 0.2, 0.5, 0.6], np.float32)
    times = np.arange(30) * 0.1
    shot = (times >= 2.0).astype(np.int64)  # a cut at 2.0 s
    frames = [0, 1, 2, 3, 15, 16, 17, 19, 20, 21, 25]  # gap 0.3 -> 1.5 s is over TRACK_GAP_S; cut between 19 and 20
    track = link_tracks(times, np.array(frames), np.tile(box, (len(frames), 1)), shot)
    assert list(track) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    other = [0.7, 0.7, 0.9, 0.9]
    flicker = link_tracks(times, np.array([0, 1, 2, 12]), np.array([box, box, box, other], np.float32), shot)
    assert list(flicker) == [0, 0, 0, -1]  # seen once in a 20-frame shot
    single = link_tracks(np.array([0.0]), np.array([0]), box[None], np.array([0]))
    assert list(single) == [0]  # a one-frame video: its one frame is enough


def test_age_estimate_ranges():
    labels = ("20-29", "0-2", "more than 70", "30-39", "3-9", "10-19", "40-49", "50-59", "60-69")  # out of order
    probs = dict.fromkeys(labels, 0.0) | {"20-29": 0.35, "30-39": 0.3, "40-49": 0.2, "10-19": 0.1, "0-2": 0.05}
    estimate = age_estimate(np.array([probs[label] for label in labels]), labels)
    assert estimate["age_bucket"] == "20-29" and estimate["bucket_probability"] == 0.35
    assert estimate["age_range"] == "20-49" and estimate["range_probability"] == pytest.approx(0.85)
    assert estimate["range_buckets"] == ["20-29", "30-39", "40-49"]
    assert list(estimate["distribution"])[:3] == ["0-2", "3-9", "10-19"]  # by age

    old = age_estimate(np.array([0.0] * 7 + [0.15, 0.85]), AGE_LABELS)
    assert (old["age_range"], old["range_low"], old["range_high"]) == ("70+", 70, None)

    unnamed = age_estimate(np.array([0.5, 0.4, 0.1]), ("young", "adult", "senior"))
    assert unnamed["age_range"] == "young / adult" and unnamed["range_low"] is None


def test_stares_and_blinks():
    times = np.round(np.arange(41) * 0.1, 3)  # 0.0 .. 4.0 s at 10 fps
    facing = np.ones(41, bool)
    closed = np.zeros(41, bool)
    closed[20:22] = True  # a 0.2 s blink
    stares, blinks = stares_and_blinks(times, facing, closed, 0.1)
    assert blinks == 1
    assert stares == [(0.0, pytest.approx(2.0))]  # 2.2 .. 4.1 s is 1.9 s: not a stare

    closed[:] = False
    closed[20:27] = True  # 0.7 s closed: longer than a blink
    assert stares_and_blinks(times, facing, closed, 0.1)[1] == 0

    closed[:] = False
    closed[:2] = closed[-2:] = True  # closed as the face turns in or out: no open frame on one side
    assert stares_and_blinks(times, facing, closed, 0.1)[1] == 0

    closed[:] = False
    dropped = np.delete(np.arange(41), 10)  # one frame without the face breaks the run
    stares, blinks = stares_and_blinks(times[dropped], facing[dropped], closed[dropped], 0.1)
    assert stares == [(pytest.approx(1.1), pytest.approx(4.1))] and blinks == 0


def test_facing_from_landmarks():
    size = (640, 360)
    eyes = [(0.4, 0.4), (0.5, 0.4)]
    frontal = eyes + [(0.45, 0.5), (0.42, 0.6), (0.48, 0.6)]
    turned = eyes + [(0.48, 0.5), (0.42, 0.6), (0.48, 0.6)]  # nose 0.3 inter-ocular distances off centre
    unknown = [(np.nan, np.nan)] * 5
    marks = np.array([frontal, turned, unknown], np.float32)
    assert list(facing_camera(marks, size)) == [True, False, True]


def test_detection_runs_once_per_batch(obama, model_dirs, monkeypatch):
    """Both analyzers of the family read the same batch: the second reuses the first's faces."""
    monkeypatch.setenv(MODELS_DIR_ENV, str(model_dirs["empty"]))
    frames = np.stack([cv2.resize(obama, (512, 640))] * 2)
    batch = FrameBatch(spec=FACES, index=0, pts_s=np.array([0.0, 0.1]), frames=frames)
    detector = face_detector("eye_tracking")
    first = face_detection.detect_faces(batch, detector)
    assert face_detection.detect_faces(batch, detector) is first
    copy = FrameBatch(spec=FACES, index=0, pts_s=batch.pts_s, frames=frames.copy())
    assert face_detection.detect_faces(copy, detector) is not first
    assert len(first.frame) == 2 and os.environ[MODELS_DIR_ENV] in first.detector
