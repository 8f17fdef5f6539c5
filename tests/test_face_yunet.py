"""The real YuNet (../shared/models/yunet, a 2026 release) against truth: obama.jpg's published box,
and a clip built here from it (a pan, a hard cut, a zoom on the mirrored picture) whose boxes are
known by construction. age_estimation (the generated tiny ViT: its real weights are not here) and
eye_tracking then run on those real detections. Skipped with a reason when ../shared is absent."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import link_models
from model_factory import AGE_LABELS, write_age_classifier
from test_faces import OBAMA_BOX, in_pixels, iou, labelled, write_video

from actors.faces import AGE_MODEL, YUNET, FaceRuntime
from pipeline.analyzer import FrameBatch
from pipeline.analyzers.eye_tracking import EyeTracking
from pipeline.analyzers.faces import FACES
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.schema import Status
from pipeline.settings import Settings

RELEASE = "face_detection_yunet_2026may.onnx"
RELEASE_SHA256 = dict(YUNET.known_sha256)[RELEASE]
SIZE = (640, 480)  # the clip's width and height: FACES reads it unscaled
SHOT_FRAMES = 20  # 2 s a shot at 10 fps, FACES' rate: every frame is sampled
PAN_SCALE = 0.4  # obama.jpg at 364 x 455, its face about 107 px wide
ZOOM = (0.25, 0.4)


@pytest.fixture(scope="module")
def obama_rgb(media) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def real_settings(tmp_path_factory, shared_models) -> Settings:
    """The real YuNet under its release name (no 2023mar file: found by YUNET.also_named) and the
    tiny age ViT; no eye-state model, so facing comes from YuNet's landmarks alone."""
    root = link_models(tmp_path_factory.mktemp("real_yunet"), {RELEASE: shared_models / "yunet" / RELEASE})
    write_age_classifier(root)
    return Settings(models_dir=root)


def eye_runtime(settings: Settings) -> FaceRuntime:
    runtime = FaceRuntime(settings)
    runtime.load(EyeTracking(settings))
    return runtime


def place(canvas: np.ndarray, picture: np.ndarray, box: tuple, scale: float, x: float, y: float) -> tuple[float, ...]:
    """Paste `picture` scaled by `scale` with its top-left corner at (x, y); where `box` (x1, y1,
    x2, y2 in the picture) lands on the canvas."""
    small = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    x, y = int(x), int(y)
    canvas[y : y + h, x : x + w] = small
    fx, fy = w / picture.shape[1], h / picture.shape[0]  # the scale cv2 rounded to
    return box[0] * fx + x, box[1] * fy + y, box[2] * fx + x, box[3] * fy + y


def face_clip(obama: np.ndarray) -> tuple[list[np.ndarray], list[tuple[float, ...]]]:
    """Shot 1: obama.jpg panning left to right on grey. A hard cut. Shot 2: the picture mirrored,
    zooming in on pale green. Every frame and the true box of its one face."""
    frames, boxes = [], []
    width, height = SIZE
    for i in range(SHOT_FRAMES):
        canvas = np.full((height, width, 3), 60, np.uint8)
        span = width - round(obama.shape[1] * PAN_SCALE)
        boxes.append(place(canvas, obama, OBAMA_BOX, PAN_SCALE, span * i / (SHOT_FRAMES - 1), 12))
        frames.append(canvas)
    mirrored = obama[:, ::-1].copy()
    x1, y1, x2, y2 = OBAMA_BOX
    mirrored_box = (obama.shape[1] - x2, y1, obama.shape[1] - x1, y2)
    for i in range(SHOT_FRAMES):
        canvas = np.full((height, width, 3), (170, 200, 150), np.uint8)
        scale = ZOOM[0] + (ZOOM[1] - ZOOM[0]) * i / (SHOT_FRAMES - 1)
        w, h = obama.shape[1] * scale, obama.shape[0] * scale
        boxes.append(place(canvas, mirrored, mirrored_box, scale, width / 2 - w / 2, height / 2 - h / 2))
        frames.append(canvas)
    return frames, boxes


def test_obama_one_face_at_the_published_box(obama_rgb, real_settings, tmp_path):
    """Real YuNet, found under its 2026 release name: exactly one face on obama.jpg at full size and
    through the pipeline (640 px frames), IoU >= 0.6 with face_recognition's HOG box (0.73 measured);
    the document names the file and its SHA-256."""
    detector = eye_runtime(real_settings).detector
    assert detector.description == f"yunet ({RELEASE})"
    boxes, _, _ = detector.detect(obama_rgb)
    assert len(boxes) == 1 and iou(boxes[0], OBAMA_BOX) >= 0.6

    even = obama_rgb[:1136]  # H.264 wants even sizes
    video = write_video(tmp_path / "obama.mp4", [even] * 10)
    [result] = run_local([VideoRequest("obama", str(video))], Plan.build(["eye_tracking"], settings=real_settings))
    eyes = result.analyzers["eye_tracking"]
    assert eyes.status == Status.ok, eyes.error
    assert eyes.summary.detector == f"yunet ({RELEASE})"
    [track] = labelled(eyes, "face")
    assert track.data.frames == 10
    assert iou(in_pixels(track.data.box, 910, 1136), OBAMA_BOX) >= 0.6
    assert track.data.facing_share == 1.0  # a frontal portrait
    [used] = eyes.models
    assert (used.id, used.sha256, used.backend, used.device) == (RELEASE, RELEASE_SHA256, "opencv", "cpu")


def test_every_frame_of_the_clip_has_its_face(obama_rgb, real_settings):
    """Frame by frame, before encoding: exactly one face per frame, at its constructed box."""
    frames, truth = face_clip(obama_rgb)
    batch = FrameBatch(spec=FACES, index=0, pts_s=np.arange(len(frames)) / 10.0, frames=np.stack(frames))
    faces = eye_runtime(real_settings).predict(batch, frozenset({"eye_tracking"})).faces
    assert list(faces.frame) == list(range(len(frames)))  # one face on each frame, none elsewhere
    overlaps = [iou(in_pixels(list(box), *SIZE), want) for box, want in zip(faces.box, truth)]
    assert min(overlaps) >= 0.6, [round(o, 3) for o in overlaps]


def test_clip_one_track_per_shot_with_ages_and_facing(obama_rgb, real_settings, tmp_path):
    """Through the pipeline: cut_analysis finds the cut; each shot has its face on every sampled
    frame and exactly one face track, which age_estimation (tiny ViT) gives an age range and
    eye_tracking finds facing the camera."""
    frames, truth = face_clip(obama_rgb)
    video = write_video(tmp_path / "faces.mp4", frames)
    plan = Plan.build(["age_estimation", "eye_tracking"], settings=real_settings)
    [result] = run_local([VideoRequest("faces", str(video))], plan)
    age, eyes = result.analyzers["age_estimation"], result.analyzers["eye_tracking"]
    assert age.status == Status.ok, age.error or age.reason
    assert eyes.status == Status.ok, eyes.error or eyes.reason

    shots = labelled(eyes, "shot")
    assert eyes.summary.shots_from == "cut_analysis" and len(shots) == 2
    assert shots[1].start_s == pytest.approx(2.0, abs=0.1)
    for shot in shots:
        assert shot.data.frames == SHOT_FRAMES and shot.data.face_share == 1.0
        assert shot.data.facing_share >= 0.9  # frontal, mirrored or not

    tracks = labelled(eyes, "face")
    assert len(tracks) == 2 and eyes.summary.face_tracks == 2
    for shot, track, middle in zip(shots, tracks, (SHOT_FRAMES // 2, SHOT_FRAMES + SHOT_FRAMES // 2)):
        assert shot.start_s - 0.05 <= track.start_s and track.end_s <= shot.end_s + 0.05
        assert track.data.frames == SHOT_FRAMES
        assert iou(in_pixels(track.data.box, *SIZE), truth[middle]) >= 0.5  # the median box: mid-pan, mid-zoom

    aged = labelled(age, "face")
    assert [a.data.box for a in aged] == [t.data.box for t in tracks]  # the same detections
    for segment in aged:
        assert segment.data.crops == 4  # first frame of each 0.5 s of a 2 s shot
        assert segment.data.age_bucket in AGE_LABELS and segment.data.age_range
        assert segment.data.range_probability >= 0.8 - 1e-3
    assert age.summary.face_tracks == age.summary.estimated_tracks == 2
    assert age.summary.detector == f"yunet ({RELEASE})"
    assert [(m.id, m.backend) for m in age.models] == [(AGE_MODEL.source, "transformers"), (RELEASE, "opencv")]
