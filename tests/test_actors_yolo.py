"""The ultralytics runtime (actors/yolo.py): loading through Weights (wrong-task weights fail
their analyzer in one line), ultralytics kept offline, the predictor steps in the models' own
formats (letterbox, NMS, boxes, keypoints and masks back in frame pixels), one pass per batch for
every analyzer that asked, batching and odd frames, on tiny YOLO11 models with random weights
that the fixtures generate (tests/yolo_cases.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from yolo_cases import (  # noqa: F401 (fixtures)
    ANALYZERS,
    TWO_SHOTS,
    pose,
    set_up,
    silent_models,
    ultralytics_config,
    video,
    yolo_models,
)

from actors import actor_class, yolo
from actors.yolo import IMAGE_SIZE, IOU, MAX_DETECTIONS, Found, YoloActor, YoloRuntime, mask_grid
from pipeline.analyzer import Context, FrameBatch, Partials
from pipeline.analyzers.background_segmentation import BackgroundSegmentation
from pipeline.analyzers.body_pose import BodyPose
from pipeline.analyzers.object_detection import ObjectDetection
from pipeline.analyzers.tracking import KEEP_CONFIDENCE
from pipeline.analyzers.yolo_base import FRAMES
from pipeline.models import WeightsError
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def firing(yolo_models):
    """The runtime with the three firing models loaded once, and the three analyzers."""
    return set_up(yolo_models)


@pytest.fixture(scope="module")
def silent(silent_models):
    return set_up(silent_models)


# ---- loading ---------------------------------------------------------------------------------

# (what the file holds, the analyzer it is placed for): the releases' files under each other's names.
WRONG_PLACES = [("detect", BodyPose), ("pose", ObjectDetection), ("segment", BodyPose), ("detect", BackgroundSegmentation)]


@pytest.mark.parametrize("holds, analyzer", WRONG_PLACES, ids=[f"{t} as {a.name}" for t, a in WRONG_PLACES])
def test_weights_of_the_wrong_task_fail_loading_in_one_line(silent_models, tmp_path, holds, analyzer):
    placed = tmp_path / analyzer.weights[0].name
    placed.symlink_to(silent_models / yolo.TASK_FILES[holds])
    analyzer.weights[0].accept_local(placed)  # past the digest check: the task check is what is tested
    settings = Settings(models_dir=tmp_path)
    with pytest.raises(WeightsError) as failed:
        YoloRuntime(settings).load(analyzer(settings))
    message = str(failed.value)
    assert f"holds a {holds} model; {analyzer.name} needs a {yolo.TASKS[analyzer.name]} model" in message
    assert f"({yolo.TASK_FILES[holds]} saved as {placed.name}?)" in message and str(placed) in message
    assert f"reelscope models download --analyzers {analyzer.name}" in message and "\n" not in message


def test_weights_point_at_the_yolo11_release_assets():
    assert [cls.weights[0].source for cls in ANALYZERS] == [
        f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{name}"
        for name in ("yolo11n.pt", "yolo11n-pose.pt", "yolo11n-seg.pt")
    ]
    assert all(len(cls.weights[0].sha256) == 64 for cls in ANALYZERS)  # pinned
    assert all(actor_class((cls,)) is YoloActor and cls.frames == FRAMES and not cls.in_decoder for cls in ANALYZERS)
    assert YoloActor.family == YoloRuntime.name == "ultralytics" and YoloActor.runtime is YoloRuntime
    assert actor_class(ANALYZERS) is YoloActor  # the three in one pool


def test_loading_keeps_ultralytics_offline_and_out_of_home(yolo_models, tmp_path):
    """In a fresh process with no YOLO_* settings, loading a model points ultralytics' settings
    file at a temporary directory and turns its network use off before importing it."""
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.pop("XDG_CONFIG_HOME", None)
    env.update(HOME=str(home), TMPDIR=str(temp))
    script = (
        "import os, sys; from actors.yolo import YoloRuntime; from pipeline.settings import Settings; "
        "from pipeline.analyzers.object_detection import ObjectDetection; "
        "settings = Settings(models_dir=sys.argv[1]); YoloRuntime(settings).load(ObjectDetection(settings)); "
        "print(os.environ['YOLO_OFFLINE'], os.environ['YOLO_AUTOINSTALL'])"
    )
    repo = Path(yolo.__file__).parents[1]
    done = subprocess.run([sys.executable, "-c", script, str(yolo_models)], env=env, capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 false"
    assert (temp / "reelscope-ultralytics" / "Ultralytics" / "settings.json").is_file()
    assert not any(home.iterdir())


# ---- constructed model outputs, in the models' own format ------------------------------------
# The predictions a YOLO11 head returns at inference: (n, 4 + classes + task channels, anchors),
# boxes as centre x, y, width, height in letterboxed input pixels, class scores after the sigmoid;
# pose adds 17 x (x, y, visibility); segment adds 32 mask coefficients and returns (n, 32, h/4,
# w/4) prototypes. Built here from boxes in frame pixels through the letterbox worked out below,
# and fed to the runtime's own postprocess: a wrong scale-back (no padding removed, axes swapped,
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
    runtime, detector = silent.runtime, silent.analyzers["object_detection"]
    h, w = frame_shape
    rows = [
        ((0.10 * w, 0.20 * h, 0.45 * w, 0.95 * h), {0: 0.9}, None),  # a person
        ((0.50 * w, 0.30 * h, 1.00 * w, 0.70 * h), {5: 0.7, 7: 0.2}, None),  # a bus (that looks a bit like a truck)
        ((0.60 * w, 0.05 * h, 0.70 * w, 0.15 * h), {2: 0.05}, None),  # under KEEP_CONFIDENCE: dropped
    ]
    shape, predictions = head_output(frame_shape, rows, classes=80)
    frames = np.zeros((1, h, w, 3), np.uint8)
    assert tuple(runtime.preprocess(frames).shape[2:]) == shape  # the letterbox worked out here is the runtime's
    [found] = runtime.postprocess("object_detection", (predictions, None), shape, frame_shape)
    np.testing.assert_allclose(found["boxes"], [rows[0][0], rows[1][0]], atol=0.5)
    np.testing.assert_allclose(found["conf"], [0.9, 0.7], atol=1e-6)
    assert found["cls"].tolist() == [0, 5]
    # The analysis on top: one sample, a track per object, named by the model's classes.
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0]), frames=frames)
    partial = detector.process_frames(batch, {"object_detection": Found([found], runtime.models["object_detection"].names)})
    info, results = video(0.2)
    findings = detector.finalize(Partials(frames=[partial]), Context(video=info, results=results))
    tracks = [s for s in findings.segments if s.label != "shot"]
    assert [s.label for s in tracks] == ["person", "bus"]
    assert tracks[0].data.mean_area == pytest.approx(0.35 * 0.75, abs=1e-3)  # a share of the frame, not the input


def test_bus_truth_comes_back_on_the_real_picture(silent, media):
    """bus.jpg's published boxes, put through the letterbox as the model would see them, come back
    at the published pixels of the 810x1080 picture, and as COCO's names."""
    runtime = silent.runtime
    picture = cv2.cvtColor(cv2.imread(str(media / "yolov5" / "bus.jpg")), cv2.COLOR_BGR2RGB)
    assert picture.shape[:2] == PORTRAIT
    truth = np.loadtxt(media / "yolov5" / "uwarg_bounding_box_bus_yolov8s.txt", ndmin=2)  # conf, class, xyxy
    rows = [(box, {int(cls): conf}, None) for conf, cls, *box in truth]
    shape, predictions = head_output(PORTRAIT, rows, classes=80)
    assert tuple(runtime.preprocess(picture[None]).shape[2:]) == shape == (640, 480)
    [found] = runtime.postprocess("object_detection", (predictions, None), shape, PORTRAIT)
    order = np.argsort(-truth[:, 0], kind="stable")
    np.testing.assert_allclose(found["boxes"], truth[order, 2:], atol=0.5)
    assert sorted(runtime.models["object_detection"].names[int(c)] for c in found["cls"]) == ["bus", "person", "person", "person", "person"]


def test_keypoints_come_back_in_frame_pixels_and_read_as_gestures(silent):
    """A person with both hands up in a 1080x810 portrait frame, for three samples."""
    runtime, estimator = silent.runtime, silent.analyzers["body_pose"]
    up = pose(l_elbow=(250, 70), l_wrist=(245, 20), r_elbow=(150, 70), r_wrist=(155, 20))
    up[:, :2] = up[:, :2] * 2.5 + [150, 100]  # 750 px tall, in the middle of the frame
    up[[1, 2], 2] = 0.3  # eyes barely seen: their visibility must come through as it is
    person = (up[:, 0].min() - 20, up[:, 1].min() - 20, up[:, 0].max() + 20, up[:, 1].max() + 20)
    shape, predictions = head_output(PORTRAIT, [(person, {0: 0.8}, keypoints_in_input(up, PORTRAIT))], 1, 51)
    [found] = runtime.postprocess("body_pose", (predictions, None), shape, PORTRAIT)
    np.testing.assert_allclose(found["boxes"], [person], atol=0.5)
    np.testing.assert_allclose(found["keypoints"][0, :, :2], up[:, :2], atol=0.5)
    np.testing.assert_allclose(found["keypoints"][0, :, 2], up[:, 2], atol=1e-6)
    frames = np.zeros((3, *PORTRAIT, 3), np.uint8)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(3) / 5.0, frames=frames)
    partial = estimator.process_frames(batch, {"body_pose": Found([found] * 3, {0: "person"})})
    info, results = video(0.6)
    findings = estimator.finalize(Partials(frames=[partial]), Context(video=info, results=results))
    assert [(s.label, s.start_s, s.end_s) for s in findings.segments if s.label != "person"] == [("hands_up", 0.0, 0.6)]


def test_person_masks_come_back_on_the_frame_grid(silent):
    """The confident person's mask (the top half of its box) lands where it is in a 708x1280
    frame (15 px of padding above and below in the input); a weak person and a car are not
    people in the picture."""
    import torch

    runtime, segmenter = silent.runtime, silent.analyzers["background_segmentation"]
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
    [found] = runtime.postprocess("background_segmentation", (predictions, prototypes), shape, frame_shape)
    assert found["people"] == 1 and found["cls"].tolist() == [0, 0]  # the car is not kept; the weak person is no one
    mask = found["person"]
    grid = 160 / 1280  # the mask grid: 160 px wide
    assert mask.shape == (round(708 * grid), 160) == mask_grid(frame_shape)
    ys, xs = np.nonzero(mask)
    assert ys.min() == pytest.approx(100 * grid, abs=1) and ys.max() + 1 == pytest.approx(380 * grid, abs=1)
    assert xs.min() == pytest.approx(400 * grid, abs=1) and xs.max() + 1 == pytest.approx(700 * grid, abs=1)
    assert mask.sum() == pytest.approx((380 - 100) * (700 - 400) * grid**2, rel=0.1)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0]), frames=np.zeros((1, *frame_shape, 3), np.uint8))
    [row] = segmenter.process_frames(batch, {"background_segmentation": Found([found], {0: "person"})})
    assert row["person"] == pytest.approx(mask.mean()) and row["people"] == 1


def test_the_runtime_sees_what_ultralytics_sees_in_the_same_picture_as_bgr(firing, yolo_models):
    """ultralytics' predictor takes BGR arrays (OpenCV's order) and flips them; the decoder's
    frames are RGB. The runtime's input tensor for an RGB frame is the predictor's for the same
    picture in BGR, to the bit, and what the analyzers keep is what it finds."""
    from ultralytics import YOLO

    from pipeline.sample import render_frames

    samples = [frame for _, frame in render_frames(TWO_SHOTS)][:: round(TWO_SHOTS.fps / FRAMES.fps)]
    rgb = np.stack([cv2.resize(frame, (1280, 960), interpolation=cv2.INTER_LINEAR) for frame in samples])  # halved
    bgr = [np.ascontiguousarray(frame[..., ::-1]) for frame in rgb]
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(len(rgb)) / FRAMES.fps, frames=rgb)
    for name in ("object_detection", "body_pose"):
        reference = YOLO(str(yolo_models / firing.analyzers[name].weights[0].name))
        expected = reference.predict(
            bgr, imgsz=IMAGE_SIZE, conf=KEEP_CONFIDENCE, iou=IOU, max_det=MAX_DETECTIONS, device="cpu", verbose=False
        )
        assert torch_equal(firing.runtime.preprocess(rgb[:2]), reference.predictor.preprocess(bgr[:2])), name
        partial = firing.process(name, batch)
        assert partial["counts"].tolist() == [len(r.boxes) for r in expected] and partial["counts"].sum() > 0, name
        np.testing.assert_allclose(partial["boxes"], np.concatenate([r.boxes.xyxy for r in expected]), atol=1e-2)
        np.testing.assert_allclose(partial["conf"], np.concatenate([r.boxes.conf for r in expected]), atol=1e-4)
        if name == "body_pose":
            keypoints = np.concatenate([r.keypoints.data for r in expected])
            np.testing.assert_allclose(partial["keypoints"], keypoints, atol=1e-2)


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_one_pass_answers_every_analyzer_that_asked(firing):
    """One predict for the three gives each what a predict for it alone gives; the frame before
    the batch is read for background_segmentation only."""
    frames = np.random.default_rng(4).integers(0, 256, (3, 120, 160, 3), dtype=np.uint8)
    before = np.random.default_rng(5).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    batch = FrameBatch(FRAMES, 1, np.arange(1, 4) / 5.0, frames, before, 0.0)
    together = firing.runtime.predict(batch, frozenset(firing.analyzers))
    assert set(together) == set(firing.analyzers)
    assert [len(together[name].frames) for name in ("object_detection", "body_pose", "background_segmentation")] == [3, 3, 4]
    for name in firing.analyzers:
        alone = firing.runtime.predict(batch, frozenset({name}))[name]
        assert together[name].names == alone.names
        for mine, its in zip(together[name].frames, alone.frames, strict=True):
            assert mine.keys() == its.keys()
            for key in mine:
                np.testing.assert_allclose(mine[key], its[key], atol=1e-4, err_msg=f"{name} {key}")


@pytest.mark.parametrize(
    "shape", [(1, 240, 320), (3, 7, 641), (2, 3840, 2160)], ids=["one frame", "odd sizes", "4K portrait"]
)
def test_odd_frames_give_sized_results(firing, shape):
    n, h, w = shape
    frames = np.random.default_rng(1).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.arange(n) / 5.0, frames=frames)
    info, results = video(n / 5.0)
    for name, analyzer in firing.analyzers.items():
        partial = firing.process(name, batch)
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
        assert findings.summary.frames_analysed == n


def test_nothing_detected_gives_empty_results(silent):
    frames = np.stack([np.zeros((360, 640, 3), np.uint8), np.full((360, 640, 3), 200, np.uint8)])
    batch = FrameBatch(spec=FRAMES, index=0, pts_s=np.array([0.0, 0.2]), frames=frames)
    info, results = video(0.4)
    for name, analyzer in silent.analyzers.items():
        partial = silent.process(name, batch)
        findings = analyzer.finalize(Partials(frames=[partial]), Context(video=info, results=results))
        if name == "background_segmentation":
            assert list(partial["people"]) == [0, 0] and list(partial["person"]) == [0.0, 0.0]
            assert findings.summary.person_share == 0.0
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
    joined = np.concatenate([firing.process("background_segmentation", b) for b in halves])
    one = firing.process("background_segmentation", whole)
    np.testing.assert_array_equal(joined["t_prev"][1:], pts[:-1])
    np.testing.assert_allclose(joined["person"], one["person"], atol=1e-6)
    np.testing.assert_allclose(joined["change"], one["change"], atol=1e-6, equal_nan=True)
    split = [firing.process("object_detection", b) for b in halves]
    one = firing.process("object_detection", whole)
    np.testing.assert_array_equal(np.concatenate([p["counts"] for p in split]), one["counts"])
    np.testing.assert_allclose(np.concatenate([p["boxes"] for p in split]), one["boxes"], atol=1e-3)
