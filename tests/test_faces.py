"""age_estimation and eye_tracking through the pipeline: the offline detector against real truth
(obama.jpg), the tiny random classifiers and a YuNet stand-in (tests/model_factory.py); face
tracks (pipeline/analyzers/faces.py) on constructed detections."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from model_factory import AGE_LABELS, YUNET_STAND_IN, write_age_classifier, write_eye_state_classifier, write_yunet_stand_in

from actors.faces import AGE_MODEL, EYE_STATE_MODEL, Detections
from pipeline.analyzers.age_estimation import AgeEstimationSegment, AgeEstimationSummary
from pipeline.analyzers.eye_tracking import EyeTrackingSegment, EyeTrackingSummary
from pipeline.analyzers.faces import link_tracks
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult
from pipeline.settings import Settings

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
def face_settings(tmp_path_factory) -> dict[str, Settings]:
    """empty: no weights at all; tiny: the age and eye-state classifiers; yunet: those and the
    YuNet stand-in."""
    root = tmp_path_factory.mktemp("face_models")
    empty, tiny, yunet = root / "empty", root / "tiny", root / "yunet"
    for folder in (empty, tiny, yunet):
        folder.mkdir()
    for folder in (tiny, yunet):
        write_age_classifier(folder)
        write_eye_state_classifier(folder)
    write_yunet_stand_in(yunet)
    return {name: Settings(models_dir=folder) for name, folder in (("empty", empty), ("tiny", tiny), ("yunet", yunet))}


def run(path: Path, names: list[str], settings: Settings) -> VideoResult:
    [result] = run_local([VideoRequest(path.stem, str(path))], Plan.build(names, settings=settings))
    assert result.status == Status.ok, result.error
    return result


def labelled(result, label: str):
    return [s for s in result.segments if s.label == label]


def assert_well_formed(result, duration: float) -> None:
    for segment in result.segments:
        assert 0.0 <= segment.start_s <= segment.end_s <= duration + 1e-3, segment


# ---------------------------------------------------------------------------------------------
# Through the pipeline


def test_obama_one_face_both_analyzers(videos, face_settings):
    """The offline detector finds exactly the one face of obama.jpg on every frame; both analyzers
    share its detections; the tiny age model yields a well-formed range, the tiny eye model a
    measured eye state. The document read back from JSON has both analyzers' types."""
    video = run(videos["obama"], BOTH, face_settings["tiny"])
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == Status.ok, age.reason or age.error
    assert eyes.status == Status.ok, eyes.reason or eyes.error
    assert eyes.summary.detector.startswith("lbp_cascade") and "YuNet weights not found" in eyes.summary.detector

    [track] = labelled(eyes, "face")
    assert track.data.frames == 10
    assert iou(in_pixels(track.data.box, 910, 1136), OBAMA_BOX) >= 0.5
    assert (track.start_s, track.end_s) == pytest.approx((0.0, 1.0), abs=0.02)
    assert eyes.summary.face_share == eyes.summary.facing_share == 1.0  # the cascade finds frontal faces only
    assert eyes.summary.eye_state == EYE_STATE_MODEL.source
    assert 0.0 <= track.data.eyes_closed_share <= 1.0 and track.data.blinks >= 0
    assert_well_formed(eyes, video.video.duration_s)

    [aged] = labelled(age, "face")
    assert aged.data.box == track.data.box  # one detection pass for both
    assert aged.data.crops == 2  # first frame of each 0.5 s
    assert aged.data.age_bucket in AGE_LABELS
    assert aged.data.range_probability >= 0.8 - 1e-3
    positions = [AGE_LABELS.index(label) for label in aged.data.range_buckets]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # neighbouring buckets
    low, high = aged.data.range_low, aged.data.range_high
    assert aged.data.age_range == (f"{low}-{high}" if high is not None else f"{low}+")
    assert sum(aged.data.distribution.values()) == pytest.approx(1.0, abs=0.01)
    assert age.summary.face_tracks == age.summary.estimated_tracks == 1
    assert age.summary.model == AGE_MODEL.source
    assert_well_formed(age, video.video.duration_s)

    again = VideoResult.model_validate_json(video.to_json())
    assert again == video
    age, eyes = again.analyzers["age_estimation"], again.analyzers["eye_tracking"]
    assert isinstance(age.summary, AgeEstimationSummary) and isinstance(age.segments[0].data, AgeEstimationSegment)
    assert isinstance(eyes.summary, EyeTrackingSummary)
    assert all(isinstance(s.data, EyeTrackingSegment) for s in eyes.segments)


def test_clip_without_faces_is_empty(tmp_path, face_settings):
    clip = ClipSpec(shots=(Shot(1.0, seed=1), Shot(1.0, (60, 140, 220), "pan", seed=2)), fps=10, audio=None)
    video = run(Path(write_clip(str(tmp_path / "no_faces.mp4"), clip)), BOTH, face_settings["tiny"])
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == eyes.status == Status.ok
    assert age.segments == [] and age.summary.face_tracks == 0 and age.summary.age_distribution is None
    shots = labelled(eyes, "shot")
    assert len(shots) == 2 and eyes.summary.shots_from == "cut_analysis"
    assert all(s.data.face_share == s.data.eye_contact_share == 0.0 and s.data.frames == 10 for s in shots)
    assert labelled(eyes, "face") == labelled(eyes, "stare") == []
    assert eyes.summary.face_tracks == eyes.summary.stare_count == 0 and eyes.summary.longest_stare_s is None


def test_one_frame_video_and_missing_weights(videos, face_settings):
    """One frame is enough for a track; without weights age is skipped naming the path, and eye
    tracking runs on the offline detector, saying eye state was not measured and why."""
    empty = face_settings["empty"].models_dir
    video = run(videos["obama_one_frame"], BOTH, face_settings["empty"])
    age, eyes = video.analyzers["age_estimation"], video.analyzers["eye_tracking"]
    assert age.status == Status.skipped
    assert str(empty / AGE_MODEL.name) in age.reason and "reelscope models download" in age.reason
    assert eyes.status == Status.ok, eyes.error
    [track] = labelled(eyes, "face")
    assert iou(in_pixels(track.data.box, 910, 1136), OBAMA_BOX) >= 0.5
    assert eyes.summary.eye_state.startswith("not measured")
    assert str(empty / EYE_STATE_MODEL.name) in eyes.summary.eye_state
    assert track.data.eyes_closed_share is None and eyes.summary.blinks is None
    assert eyes.summary.stare_count == 0  # one frame is no stare
    assert_well_formed(eyes, video.video.duration_s)


def test_4k_portrait_frame(videos, face_settings):
    eyes = run(videos["portrait_4k"], ["eye_tracking"], face_settings["empty"]).analyzers["eye_tracking"]
    [track] = labelled(eyes, "face")
    face = (170 + 349 * 2, 400 + 142 * 2, 170 + 617 * 2, 400 + 409 * 2)  # the truth box scaled 2x and moved
    assert iou(in_pixels(track.data.box, 2160, 3840), face) >= 0.5


def test_yunet_loads_and_decodes(tmp_path, face_settings):
    """With YuNet's file present it is the detector; a generated YuNet-shaped model that fires on
    one white cell puts one frontal face there, in the video's coordinates."""
    frame = np.zeros((384, 640, 3), np.uint8)
    frame[128:160, 320:352] = 255  # cell (column 10, row 4) at stride 32
    video = run(write_video(tmp_path / "cell.mp4", [frame] * 10), ["eye_tracking"], face_settings["yunet"])
    eyes = video.analyzers["eye_tracking"]
    assert eyes.summary.detector == f"yunet ({YUNET_STAND_IN})"
    [track] = labelled(eyes, "face")
    box = in_pixels(track.data.box, 640, 384)
    assert box == pytest.approx((304, 112, 368, 176), abs=2)  # 64 px centred on the cell
    assert track.data.facing_share == 1.0 and track.data.frames == 10


# ---------------------------------------------------------------------------------------------
# Tracks on constructed detections


def detections(times: np.ndarray, frame: list[int], boxes) -> Detections:
    """Faces at `boxes` (fractions) on frames of 1000 x 1000 px, scored 1 as the cascade's are."""
    m = len(frame)
    box = np.array(boxes, np.float32).reshape(-1, 4)
    marks = np.full((m, 5, 2), np.nan, np.float32)
    return Detections("test", (1000, 1000), times, np.array(frame, np.int64), box, marks, np.ones(m, np.float32))


def test_tracks_follow_faces_within_a_shot():
    times = np.arange(8) * 0.1
    shot = np.zeros(8, np.int64)
    frame, boxes = [], []
    for f in range(8):  # two faces drifting right, listed in alternating order
        pair = [(0.1 + 0.01 * f, 0.1, 0.3 + 0.01 * f, 0.4), (0.6 + 0.01 * f, 0.5, 0.8 + 0.01 * f, 0.8)]
        for box in pair if f % 2 else pair[::-1]:
            frame.append(f)
            boxes.append(box)
    track = link_tracks(detections(times, frame, boxes), shot, 0.1)
    left = track[np.array(boxes)[:, 0] < 0.5]
    right = track[np.array(boxes)[:, 0] >= 0.5]
    assert len(set(left)) == len(set(right)) == 1 and set(left) != set(right)
    assert track[0] == 0 and track[1] == 1  # numbered by first appearance: frame 0 lists the right face first


def test_tracks_break_at_gaps_and_shots_and_drop_flickers():
    box = [0.2, 0.2, 0.5, 0.6]
    times = np.arange(30) * 0.1
    shot = (times >= 2.0).astype(np.int64)  # a cut at 2.0 s
    frames = [0, 1, 2, 3, 15, 16, 17, 19, 20, 21, 25]  # gap 0.3 -> 1.5 s is over LOST_TRACK_S; cut between 19 and 20
    track = link_tracks(detections(times, frames, [box] * len(frames)), shot, 0.1)
    assert list(track) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    other = [0.7, 0.7, 0.9, 0.9]
    flicker = link_tracks(detections(times, [0, 1, 2, 12], [box, box, box, other]), shot, 0.1)
    assert list(flicker) == [0, 0, 0, -1]  # seen once in a 20-frame shot
    twice = link_tracks(detections(times, [0, 1, 2, 12, 13], [box, box, box, other, other]), shot, 0.1)
    assert list(twice) == [0, 0, 0, -1, -1]  # ByteTrack confirms it; under MIN_TRACK_FRAMES it is a flicker
    single = link_tracks(detections(np.array([0.0]), [0], [box]), np.array([0]), 0.1)
    assert list(single) == [0]  # a one-frame video: its one frame is enough


def test_no_track_in_a_transition():
    """A sample in a dissolve is in no shot (tracking.shot_of_samples): its face is in no track,
    as objects there are in none."""
    box = [0.2, 0.2, 0.5, 0.6]
    times = np.arange(10) * 0.1
    shot = np.array([0, 0, 0, 0, -1, -1, 1, 1, 1, 1])
    track = link_tracks(detections(times, list(range(10)), [box] * 10), shot, 0.1)
    assert list(track) == [0, 0, 0, 0, -1, -1, 1, 1, 1, 1]
