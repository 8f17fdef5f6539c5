"""Objects, body poses and person-vs-background, from the ultralytics YOLO11 models.

The three analyzers read the same frames (FRAMES: 5 a second, longer side 640 px, decoded once
for all three) and share one worker per process (family "ultralytics"). Each runs the steps of
ultralytics' predictor on one FrameBatch, one forward pass per batch: preprocess (letterbox to
640 px, a multiple of the stride, upscaling small frames as ultralytics does), infer (fp16 on a
GPU, fp32 on the CPU), postprocess (NMS, boxes and keypoints mapped back to the frame).
`process_frames` keeps only each frame's detections; every decision that needs the sequence
(tracking, gestures, motion, per-shot summaries) is made in `finalize`, without the model.

Tracking: ultralytics' ByteTrack, fed the stored detections of each shot in time order (a new
tracker per shot of cut_analysis: nothing is followed across a cut). A track must be matched in
two samples in a row to count (ByteTrack's confirmation), except on a shot's first sample; a
track lost for more than LOST_TRACK_S ends. Track ids number the tracks of the whole video from
0 in order of appearance.

object_detection (yolo11n, 80 COCO classes)
  Segments: one per track, labelled by its class (the class its detections voted for, weighted by
  confidence), from its first sample to one sample interval after its last (within its shot);
  confidence and data.mean_confidence: mean detection confidence; data {track, class, shot,
  frames_seen, first_seen_s, last_seen_s, mean_confidence, mean_area (share of the frame)}.
  Then one "shot" segment per shot: data {shot, tracks, classes {class: tracks},
  max_simultaneous {class: most tracks of that class in one sample}}.
  Summary: track_count, classes {class: {tracks, max_simultaneous, screen_time_s}},
  max_simultaneous_objects (most tracked objects in one sample), frames_analysed (samples),
  frames_with_objects (samples with a tracked object), sample_fps, shots_from.

body_pose (yolo11n-pose, COCO's 17 keypoints)
  People are tracked as above. Per sample, a person's arms give at most one gesture:
    hands_up     both wrists above their shoulders (by RAISE_MARGIN torso lengths)
    pointing     exactly one arm straight (elbow at least STRAIGHT_ARM_DEG), reaching at least
                 POINT_REACH torso lengths from the shoulder, within POINT_ELEVATION_DEG of the
                 horizontal (both arms out is a T-pose, not pointing)
    hand_raised  exactly one wrist above its shoulder, not pointing
  (keypoints under KEYPOINT_MIN confidence are not seen; a gesture needs the shoulders). A gesture
  held over consecutive samples for GESTURE_MIN_S or more is a segment labelled with it: data
  {track, shot, side} (side: the person's own left or right arm, None for hands_up).
  Movement: limb keypoints (elbows, wrists, knees, ankles) relative to the body centre, in body
  heights (the track's median box height) per second between consecutive samples; the median
  over the track is its movement_energy, and its activity is "still" below STILL_BELOW, "dancing"
  from DANCING_FROM, else "moving" (thresholds set by reasoning about walking and dancing, not fit
  to labelled video). travel_speed is the body centre's speed in the same unit (camera motion
  included). Segments per track, labelled "person": data {track, shot, frames_seen,
  mean_confidence, movement_energy, travel_speed, activity, gestures {gesture: seconds}}.
  Summary: person_tracks, max_people, activity_share (share of person screen time per activity),
  gestures {gesture: {count, seconds}}, mean_movement_energy, frames_analysed, shots_from.

background_segmentation (yolo11n-seg)
  Per sample: the share of pixels covered by the union of the person masks (detections of
  CONFIDENCE or more), and how much of the background changed since the sample before: on a
  small grey copy (ANALYSIS_SIZE px), the share of pixels that are background in both samples
  and changed by more than CHANGE_LEVEL grey levels. Pairs straddling a cut or touching a fade or
  dissolve are left out. One segment per shot, labelled "static" (median change under
  STATIC_BELOW), "moving", or "unknown" (no pair with enough background to measure); data
  {shot, person_share, person_share_max, frames_with_people, background_change, measured_pairs}.
  Summary: person_share (mean over the samples), background_share {static, moving, unknown}
  (share of shot time), frames_analysed, shots_from.

What this cannot tell: anything between the samples (5 a second: a flash of an object, motion
faster than 2.5 Hz); identity across cuts or long occlusions (a person who leaves and comes back
is a new track); "moving" background does not say whether the camera or the scene moved
(camera_analysis does), and a uniform background (a plain wall) looks static however the camera
moves; gestures are geometric rules on 2-D keypoints, blind to depth (an arm pointing at the
camera is foreshortened and reads as bent). Accuracy is the models': the nano models miss small
and occluded objects, and all three see only COCO classes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import cv2
import numpy as np

from pipeline.analyzer import (
    BATCH_FRAMES,
    Analyzer,
    Context,
    FrameBatch,
    FrameSpec,
    Findings,
    Partials,
    Resources,
    Skip,
)
from pipeline.analyzers.shots import TIME_SLACK_S, Span, during, shots_and_transitions
from pipeline.models import Weights, WeightsError
from pipeline.schema import Segment

FRAMES = FrameSpec(fps=5.0, size=640)  # one spec for the three: the decoder makes the frames once
IMAGE_SIZE = 640  # the models' training size: frames are letterboxed to it
INFER_BATCH = BATCH_FRAMES + 1  # frames per forward pass: a decoder batch and the frame before it
IOU = 0.7  # NMS overlap, ultralytics' predict default
MAX_DETECTIONS = 300
KEEP_CONFIDENCE = 0.1  # ByteTrack's low threshold: weak detections can continue a track
CONFIDENCE = 0.25  # what counts as a detection on its own (ultralytics' default)
ASSETS = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"

LOST_TRACK_S = 1.0  # ultralytics' track_buffer: 30 frames at 30 fps
TRACKER = dict(  # ultralytics' bytetrack.yaml
    track_high_thresh=CONFIDENCE,
    track_low_thresh=KEEP_CONFIDENCE,
    new_track_thresh=CONFIDENCE,
    match_thresh=0.8,
    fuse_score=True,
)

# COCO keypoints
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 5, 6, 11, 12
ARMS = {"left": (5, 7, 9), "right": (6, 8, 10)}  # shoulder, elbow, wrist
LIMBS = [7, 8, 9, 10, 13, 14, 15, 16]  # elbows, wrists, knees, ankles
TORSO = [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]
KEYPOINT_MIN = 0.5  # keypoint confidence to count as seen (ultralytics draws from 0.5)
SHOULDERS_TO_TORSO = 1.3  # torso length over shoulder width, for a person seen without hips
RAISE_MARGIN = 0.1  # torso lengths a wrist must be above its shoulder
STRAIGHT_ARM_DEG = 150.0
POINT_REACH = 0.6  # torso lengths from shoulder to wrist
POINT_ELEVATION_DEG = 45.0
GESTURE_MIN_S = 0.3  # two samples at 5 fps: one sample may be a keypoint glitch
STILL_BELOW = 0.1  # limb speed, body heights per second: keypoint jitter of a still person
DANCING_FROM = 0.8  # walking swings the limbs at about 0.5
GESTURES = ("hands_up", "pointing", "hand_raised")
ACTIVITIES = ("still", "moving", "dancing")

ANALYSIS_SIZE = 160  # px, longer side of the grey copy and masks the background is measured on
CHANGE_LEVEL = 12  # grey levels: above compression noise after INTER_AREA averaging
MIN_BACKGROUND = 0.05  # share of the picture that must be background in both samples to measure
STATIC_BELOW = 0.1  # share of the background changed between samples

SAMPLE = np.dtype(  # background_segmentation's partial: one row per sample
    [
        ("t", "f8"),
        ("t_prev", "f8"),  # the sample before (NaN: none), whose background `change` is measured from
        ("person", "f4"),  # share of the picture covered by people
        ("people", "i4"),  # person detections of CONFIDENCE or more
        ("change", "f4"),  # share of the background changed since t_prev (NaN: not measured)
    ]
)


TASK_FILES = {"detect": "yolo11n.pt", "pose": "yolo11n-pose.pt", "segment": "yolo11n-seg.pt"}  # the releases


# SHA-256 of the v8.3.0 release assets, as several public projects pin them (not checked from here).
RELEASE_SHA256 = {
    "yolo11n.pt": "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
    "yolo11n-pose.pt": "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",
    "yolo11n-seg.pt": "55ed65c56c91713d23e8402371c6c49a6fd84f257f7dce452e8d70e41dcbe152",
}


def _asset(name: str) -> Weights:
    return Weights(name, ASSETS + name, kind="file", sha256=RELEASE_SHA256[name])


def _configure_ultralytics() -> None:
    """Before ultralytics is first imported: it must never reach the network (hub checks, asset
    downloads, pip installs), and it writes a settings file on import, which goes to a directory
    of ours instead of ~/.config unless the user chose one."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "reelscope-ultralytics"))


class _Yolo(Analyzer):
    """Loading and ultralytics' predictor steps, shared by the three analyzers."""

    frames = FRAMES
    after = ("cut_analysis",)
    in_decoder = False
    # Estimate for yolo11n at 32 x 640x384 in fp16: ~0.3 GB of activations, the rest CUDA context
    # and cuDNN workspace.
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)
    task: ClassVar[str]  # what the weights must be: detect | pose | segment

    def setup(self) -> None:
        weights = self.weights[0]
        path = weights.require(self.name)
        _configure_ultralytics()
        import torch
        from ultralytics import YOLO
        from ultralytics.nn.autobackend import AutoBackend

        loaded = YOLO(str(path))
        if loaded.task != self.task:
            # The three releases differ only in their head: a file saved under another's name loads.
            raise WeightsError(
                f"weights {weights.source} at {path}: holds a {loaded.task} model; {self.name} needs a {self.task}"
                f" model ({TASK_FILES.get(loaded.task, 'another model')} saved as {path.name}?); {weights.fix(self.name)}"
            )
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoBackend(
            model=loaded.model, device=self.device, fp16=self.device.type == "cuda", fuse=True, verbose=False
        )
        self.names = {int(k): str(v) for k, v in self.model.names.items()}
        self.keep_classes: list[int] | None = None  # the classes NMS keeps (None: all)
        self.record_model(
            weights, backend="ultralytics", device=str(self.device), dtype="float16" if self.model.fp16 else "float32"
        )

    def detect(self, frames: np.ndarray) -> list[dict[str, Any]]:
        """Each frame's detections, INFER_BATCH frames per forward pass."""
        import torch

        found: list[dict[str, Any]] = []
        with torch.inference_mode():
            for start in range(0, len(frames), INFER_BATCH):
                chunk = frames[start : start + INFER_BATCH]
                image = self.preprocess(chunk)
                found.extend(self.postprocess(self.infer(image), tuple(image.shape[2:]), chunk.shape[1:3]))
        return found

    def preprocess(self, frames: np.ndarray):
        """RGB uint8 frames (all one size) -> the model's input: letterboxed to IMAGE_SIZE on a
        multiple of the stride (the least padding), NCHW, RGB, 0-1. ultralytics' own predictor
        takes BGR arrays and flips them; decoded frames are RGB already, so nothing is flipped."""
        import torch
        from ultralytics.data.augment import LetterBox

        letterbox = LetterBox(IMAGE_SIZE, auto=True, stride=int(self.model.stride))
        image = torch.from_numpy(np.stack([letterbox(image=frame) for frame in frames])).to(self.device)
        image = image.permute(0, 3, 1, 2).contiguous()
        return (image.half() if self.model.fp16 else image.float()).div_(255)

    def infer(self, image):
        """The forward pass, as (predictions, prototypes). predictions (n, 4 + classes + extra,
        anchors): boxes as centre x, y, width, height in letterboxed pixels, class scores after
        the sigmoid, then what the task adds per anchor (pose: 17 keypoints as x, y in
        letterboxed pixels and a visibility after the sigmoid; segment: 32 mask coefficients).
        prototypes: segment's (n, 32, h / 4, w / 4) mask prototypes, else None."""
        out = self.model(image)
        head = out[0] if isinstance(out, (list, tuple)) else out  # eval mode adds the raw head outputs
        return (head[0], head[1]) if isinstance(head, (list, tuple)) else (head, None)

    def postprocess(self, preds, image_shape: tuple[int, int], frame_shape: tuple[int, int]) -> list[dict[str, Any]]:
        """`infer`'s output for frames of `frame_shape` letterboxed to `image_shape` -> NMS, then
        each frame's boxes (xyxy frame pixels), confidences and classes as numpy, plus what the
        task adds (`extras`)."""
        from ultralytics.utils import nms, ops

        predictions, prototypes = preds
        kept = nms.non_max_suppression(
            predictions,
            KEEP_CONFIDENCE,
            IOU,
            classes=self.keep_classes,
            max_det=MAX_DETECTIONS,
            nc=0 if self.task == "detect" else len(self.names),
            end2end=getattr(self.model, "end2end", False),
        )
        results = []
        for i, det in enumerate(kept):
            result = self.extras(det, None if prototypes is None else prototypes[i], image_shape, frame_shape)
            result.update(
                boxes=ops.scale_boxes(image_shape, det[:, :4].clone(), frame_shape).float().cpu().numpy(),
                conf=det[:, 4].float().cpu().numpy(),
                cls=det[:, 5].cpu().numpy().astype(np.int16),
            )
            results.append(result)
        return results

    def extras(self, det, prototypes, image_shape, frame_shape) -> dict[str, Any]:
        """What this task reads besides boxes from one frame's kept detections `det` (rows: xyxy
        in letterboxed pixels, confidence, class, then the task's channels)."""
        return {}

    def process_frames(self, batch: FrameBatch) -> Any:
        return self.partial(batch, self.detect(self.model_frames(batch)))

    def model_frames(self, batch: FrameBatch) -> np.ndarray:
        """The frames of a batch the model reads."""
        return batch.frames

    def partial(self, batch: FrameBatch, found: list[dict[str, Any]]) -> Any:
        """What process_frames keeps of `found`, the postprocessed detections of model_frames(batch)."""
        raise NotImplementedError


def _ragged(batch: FrameBatch, found: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """A batch's per-frame detections as flat arrays: `counts[i]` rows belong to frame i."""
    partial = {
        "pts": batch.pts_s.astype(np.float64),
        "size": batch.frames.shape[1:3],  # (h, w): boxes are in these pixels
        "counts": np.array([len(f["conf"]) for f in found], np.int32),
    }
    for key in keys:
        partial[key] = np.concatenate([f[key] for f in found])
    return partial


@dataclass
class Detections:
    """Every stored detection of one video, in time order."""

    pts: np.ndarray  # (n,) sample times
    size: tuple[int, int]  # (h, w) of the frames, in pixels
    frame: np.ndarray  # (m,) the sample each detection belongs to
    boxes: np.ndarray  # (m, 4) xyxy pixels
    conf: np.ndarray  # (m,)
    cls: np.ndarray  # (m,)
    extra: dict[str, np.ndarray]

    @classmethod
    def gather(cls, partials: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> Detections:
        if not partials:
            raise Skip("no video frames decoded")
        counts = np.concatenate([p["counts"] for p in partials])
        return cls(
            pts=np.concatenate([p["pts"] for p in partials]),
            size=tuple(partials[0]["size"]),
            frame=np.repeat(np.arange(len(counts)), counts),
            boxes=np.concatenate([p["boxes"] for p in partials]).reshape(-1, 4),
            conf=np.concatenate([p["conf"] for p in partials]),
            cls=np.concatenate([p["cls"] for p in partials]),
            extra={key: np.concatenate([p[key] for p in partials]) for key in extra},
        )


class _TrackerInput:
    """One frame's detections as ultralytics' trackers read them (the interface of its Boxes)."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        centre, size = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2, self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([centre, size], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _TrackerInput:
        return _TrackerInput(self.xyxy[index], self.conf[index], self.cls[index])


def assign_tracks(found: Detections, shot_of: np.ndarray, interval: float) -> np.ndarray:
    """The track of every detection (-1: in none), ByteTrack run over each shot's samples in
    time order. Tracks are numbered over the video in order of their first detection."""
    _configure_ultralytics()
    from ultralytics.trackers.byte_tracker import BYTETracker

    track_of = np.full(len(found.conf), -1, np.int64)
    starts = np.searchsorted(found.frame, np.arange(len(found.pts) + 1))
    lost_frames = max(1, round(LOST_TRACK_S / interval)) if interval > 0 else 1
    next_track = 0
    for shot in np.unique(shot_of[shot_of >= 0]):
        tracker = BYTETracker(SimpleNamespace(**TRACKER, track_buffer=lost_frames))
        rows_of: dict[int, list[int]] = {}  # tracker id -> its detections
        confirmed: set[int] = set()
        for sample in np.flatnonzero(shot_of == shot):
            rows = np.arange(starts[sample], starts[sample + 1])
            tracker.update(_TrackerInput(found.boxes[rows], found.conf[rows], found.cls[rows]))
            # After an update, tracked_stracks holds exactly the tracks that took a detection of this
            # sample, a new unconfirmed one included: its first detection belongs to it if it is
            # confirmed later.
            for track in tracker.tracked_stracks:
                rows_of.setdefault(track.track_id, []).append(int(rows[int(track.idx)]))
                if track.is_activated:
                    confirmed.add(track.track_id)
        for tracker_id in sorted(confirmed, key=lambda t: rows_of[t][0]):
            track_of[rows_of[tracker_id]] = next_track
            next_track += 1
    return track_of


@dataclass
class Track:
    index: int
    rows: np.ndarray  # its detections, in time order
    shot: int
    first_s: float
    last_s: float
    end_s: float  # one sample interval after the last sample, within the shot


def tracks_of(
    found: Detections, track_of: np.ndarray, shot_of: np.ndarray, shots: list[Span], interval: float
) -> list[Track]:
    tracks = []
    for index in range(int(track_of.max(initial=-1)) + 1):
        rows = np.flatnonzero(track_of == index)
        shot = int(shot_of[found.frame[rows[0]]])
        first, last = float(found.pts[found.frame[rows[0]]]), float(found.pts[found.frame[rows[-1]]])
        end = max(last, min(last + interval, shots[shot][1]))
        tracks.append(Track(index, rows, shot, first, last, end))
    return tracks


def shot_of_samples(pts: np.ndarray, shots: list[Span]) -> np.ndarray:
    """The shot of every sample (-1: in none)."""
    shot_of = np.full(len(pts), -1, np.int64)
    for i, span in enumerate(shots):
        shot_of[during(pts, span)] = i
    return shot_of


def sample_interval(pts: np.ndarray) -> float:
    return float(np.median(np.diff(pts))) if len(pts) > 1 else 1.0 / FRAMES.fps


def _shots(context: Context) -> tuple[list[Span], list[Span], str]:
    cuts = context.ok("cut_analysis")
    shots, transitions = shots_and_transitions(cuts, (0.0, context.video.duration_s))
    return shots, transitions, "cut_analysis" if cuts else "whole_video"


def _max_per_sample(samples: np.ndarray, labels: np.ndarray) -> dict[Any, int]:
    """For each label, the most detections of it in one sample."""
    most: dict[Any, int] = {}
    for label in np.unique(labels):
        most[label.item()] = int(np.bincount(samples[labels == label]).max())
    return most


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


class ObjectDetection(_Yolo):
    name = "object_detection"
    task = "detect"
    weights = (_asset(TASK_FILES[task]),)

    def partial(self, batch: FrameBatch, found: list[dict[str, Any]]) -> dict[str, Any]:
        partial = _ragged(batch, found, ("boxes", "conf", "cls"))
        partial["names"] = {int(c): self.names[int(c)] for c in np.unique(partial["cls"])}
        return partial

    def finalize(self, partials: Partials, context: Context) -> Findings:
        found = Detections.gather(partials.frames)
        names = {c: n for p in partials.frames for c, n in p["names"].items()}
        shots, _, shots_from = _shots(context)
        shot_of = shot_of_samples(found.pts, shots)
        interval = sample_interval(found.pts)
        track_of = assign_tracks(found, shot_of, interval)
        tracks = tracks_of(found, track_of, shot_of, shots, interval)
        h, w = found.size
        segments, label_of = [], np.empty(len(tracks), object)
        for track in tracks:
            conf = found.conf[track.rows]
            # The class the track's detections vote for, each weighted by its confidence.
            classes = found.cls[track.rows]
            votes = {int(c): float(conf[classes == c].sum()) for c in np.unique(classes)}
            label_of[track.index] = names[max(votes, key=votes.get)]
            box = found.boxes[track.rows]
            area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) / (w * h)
            segments.append(
                Segment(
                    start_s=_round(track.first_s),
                    end_s=_round(track.end_s),
                    label=label_of[track.index],
                    confidence=_round(conf.mean(), 3),
                    data={
                        "track": track.index,
                        "class": label_of[track.index],
                        "shot": track.shot,
                        "frames_seen": len(track.rows),
                        "first_seen_s": _round(track.first_s),
                        "last_seen_s": _round(track.last_s),
                        "mean_confidence": _round(conf.mean(), 3),
                        "mean_area": _round(area.mean()),
                    },
                )
            )
        tracked = track_of >= 0
        samples, labels = found.frame[tracked], label_of[track_of[tracked]].astype(str)
        for i, (start, end) in enumerate(shots):
            in_shot = [t for t in tracks if t.shot == i]
            here = shot_of[samples] == i
            classes: dict[str, int] = {}
            for t in in_shot:
                classes[label_of[t.index]] = classes.get(label_of[t.index], 0) + 1
            data = {
                "shot": i,
                "tracks": len(in_shot),
                "classes": dict(sorted(classes.items())),
                "max_simultaneous": _max_per_sample(samples[here], labels[here]),
            }
            segments.append(Segment(start_s=_round(start), end_s=_round(end), label="shot", data=data))

        most = _max_per_sample(samples, labels)
        summary_classes = {
            label: {
                "tracks": sum(1 for t in tracks if label_of[t.index] == label),
                "max_simultaneous": most[label],
                "screen_time_s": _round(sum(t.end_s - t.first_s for t in tracks if label_of[t.index] == label), 3),
            }
            for label in sorted(most)
        }
        return Findings(
            segments=segments,
            summary={
                "track_count": len(tracks),
                "classes": summary_classes,
                "max_simultaneous_objects": int(np.bincount(samples).max(initial=0)),
                "frames_analysed": len(found.pts),
                "frames_with_objects": len(np.unique(samples)),
                "sample_fps": FRAMES.fps,
                "shots_from": shots_from,
            },
        )


class BodyPose(_Yolo):
    name = "body_pose"
    task = "pose"
    weights = (_asset(TASK_FILES[task]),)

    def setup(self) -> None:
        super().setup()
        if tuple(self.model.kpt_shape) != (17, 3):
            raise ValueError(
                f"{self.name} reads COCO's 17 keypoints with confidences; the model gives {self.model.kpt_shape}"
            )

    def extras(self, det, prototypes, image_shape, frame_shape) -> dict[str, Any]:
        from ultralytics.utils import ops

        keypoints = det[:, 6:].view(len(det), *self.model.kpt_shape)
        return {"keypoints": ops.scale_coords(image_shape, keypoints, frame_shape).float().cpu().numpy()}

    def partial(self, batch: FrameBatch, found: list[dict[str, Any]]) -> dict[str, Any]:
        return _ragged(batch, found, ("boxes", "conf", "keypoints"))

    def finalize(self, partials: Partials, context: Context) -> Findings:
        people_only = [{**p, "cls": np.zeros(len(p["conf"]), np.int16)} for p in partials.frames]  # its one class
        found = Detections.gather(people_only, extra=("keypoints",))
        keypoints = found.extra["keypoints"].reshape(-1, 17, 3)
        shots, _, shots_from = _shots(context)
        shot_of = shot_of_samples(found.pts, shots)
        interval = sample_interval(found.pts)
        track_of = assign_tracks(found, shot_of, interval)
        tracks = tracks_of(found, track_of, shot_of, shots, interval)
        gesture, side = arm_gestures(keypoints)

        people, gesture_segments = [], []
        activity_time = dict.fromkeys(ACTIVITIES, 0.0)
        weighted_energy = screen_time = 0.0
        for track in tracks:
            times = found.pts[found.frame[track.rows]]
            boxes = found.boxes[track.rows]
            height = float(np.median(boxes[:, 3] - boxes[:, 1]))
            energy, travel = movement(times, keypoints[track.rows], boxes, height, interval)
            activity = _activity(energy)
            held: dict[str, float] = {}
            for name, first, last, arm in gesture_runs(times, gesture[track.rows], side[track.rows], interval):
                end = min(last + interval, shots[track.shot][1])
                held[name] = held.get(name, 0.0) + end - first
                data = {"track": track.index, "shot": track.shot, "side": arm}
                gesture_segments.append(Segment(start_s=_round(first), end_s=_round(end), label=name, data=data))
            duration = track.end_s - track.first_s
            if activity is not None:
                activity_time[activity] += duration
                weighted_energy += energy * duration
                screen_time += duration
            people.append(
                Segment(
                    start_s=_round(track.first_s),
                    end_s=_round(track.end_s),
                    label="person",
                    confidence=_round(found.conf[track.rows].mean(), 3),
                    data={
                        "track": track.index,
                        "shot": track.shot,
                        "frames_seen": len(track.rows),
                        "mean_confidence": _round(found.conf[track.rows].mean(), 3),
                        "movement_energy": _round(energy),
                        "travel_speed": _round(travel),
                        "activity": activity,
                        "gestures": {name: _round(seconds, 3) for name, seconds in held.items()},
                    },
                )
            )
        gestures = {
            name: {
                "count": sum(1 for s in gesture_segments if s.label == name),
                "seconds": _round(sum(s.end_s - s.start_s for s in gesture_segments if s.label == name), 3),
            }
            for name in GESTURES
        }
        tracked = track_of >= 0
        return Findings(
            segments=people + sorted(gesture_segments, key=lambda s: s.start_s),
            summary={
                "person_tracks": len(tracks),
                "max_people": int(np.bincount(found.frame[tracked]).max(initial=0)),
                "activity_share": {
                    a: _round(t / screen_time, 3) if screen_time else 0.0 for a, t in activity_time.items()
                },
                "gestures": gestures,
                "mean_movement_energy": _round(weighted_energy / screen_time) if screen_time else None,
                "frames_analysed": len(found.pts),
                "shots_from": shots_from,
            },
        )


def _activity(energy: float | None) -> str | None:
    if energy is None:
        return None
    return "still" if energy < STILL_BELOW else "dancing" if energy >= DANCING_FROM else "moving"


def arm_gestures(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (m, 17, 3) COCO keypoints (x, y in pixels, y down; confidence), each person's gesture
    ("" for none) and the arm that makes it ("left" / "right" / None), by the rules of the
    module docstring."""
    xy, seen = keypoints[..., :2].astype(np.float64), keypoints[..., 2] >= KEYPOINT_MIN
    scale = _torso_length(xy, seen)
    raised, pointing = {}, {}
    for arm, (s, e, w) in ARMS.items():
        upper, fore, reach = xy[:, s] - xy[:, e], xy[:, w] - xy[:, e], xy[:, w] - xy[:, s]
        lengths = np.linalg.norm(upper, axis=1) * np.linalg.norm(fore, axis=1)
        cosine = (upper * fore).sum(1) / np.maximum(lengths, 1e-9)
        elbow = np.degrees(np.arccos(np.clip(cosine, -1, 1)))
        elevation = np.degrees(np.arctan2(-reach[:, 1], np.abs(reach[:, 0])))
        with np.errstate(invalid="ignore"):  # no scale: no gesture
            raised[arm] = seen[:, s] & seen[:, w] & (xy[:, w, 1] < xy[:, s, 1] - RAISE_MARGIN * scale)
            pointing[arm] = (
                seen[:, s] & seen[:, e] & seen[:, w]
                & (elbow >= STRAIGHT_ARM_DEG)
                & (np.linalg.norm(reach, axis=1) >= POINT_REACH * scale)
                & (np.abs(elevation) <= POINT_ELEVATION_DEG)
            )
    gesture = np.full(len(keypoints), "", dtype=object)
    side = np.full(len(keypoints), None, dtype=object)
    # Later rules take precedence: hands_up over pointing over hand_raised.
    for rule in (raised, pointing):
        for arm, other in (("left", "right"), ("right", "left")):
            alone = rule[arm] & ~rule[other]
            gesture[alone], side[alone] = "hand_raised" if rule is raised else "pointing", arm
    both = raised["left"] & raised["right"]
    gesture[both], side[both] = "hands_up", None
    return gesture, side


def _torso_length(xy: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Shoulders' middle to hips' middle; SHOULDERS_TO_TORSO shoulder widths when the hips are not
    seen (a person framed from the waist up); NaN without both."""

    def middle(a: int, b: int) -> np.ndarray:
        count = seen[:, a].astype(float) + seen[:, b]
        total = xy[:, a] * seen[:, a, None] + xy[:, b] * seen[:, b, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count[:, None]

    torso = np.linalg.norm(middle(LEFT_SHOULDER, RIGHT_SHOULDER) - middle(LEFT_HIP, RIGHT_HIP), axis=1)
    shoulders = np.where(
        seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER],
        SHOULDERS_TO_TORSO * np.linalg.norm(xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER], axis=1),
        np.nan,
    )
    return np.where(np.isfinite(torso) & (torso > 0), torso, shoulders)


def gesture_runs(times: np.ndarray, gesture: np.ndarray, side: np.ndarray, interval: float):
    """(gesture, first_s, last_s, side) of each run of one gesture (same arm) over consecutive
    samples of a track that lasts GESTURE_MIN_S or more (from its first sample to one interval
    after its last)."""
    start = 0
    for i in range(1, len(times) + 1):
        ends = i == len(times) or (
            gesture[i] != gesture[start] or side[i] != side[start] or times[i] - times[i - 1] > 1.5 * interval
        )
        if not ends:
            continue
        if gesture[start] and times[i - 1] - times[start] + interval >= GESTURE_MIN_S - TIME_SLACK_S:
            yield str(gesture[start]), float(times[start]), float(times[i - 1]), side[start]
        start = i


def movement(
    times: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray, height: float, interval: float
) -> tuple[float | None, float | None]:
    """(movement energy, travel speed) of one track, in body heights per second: the medians over
    its pairs of consecutive samples of the mean limb-keypoint speed relative to the body centre,
    and of the centre's speed. None without a pair (or a body height)."""
    if len(times) < 2 or height <= 0:
        return None, None
    seen = keypoints[..., 2] >= KEYPOINT_MIN
    xy = keypoints[..., :2].astype(np.float64)
    torso_seen = seen[:, TORSO]
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    # The middle of the seen torso keypoints; the box centre when fewer than two are seen.
    torso_centre = (xy[:, TORSO] * torso_seen[..., None]).sum(1) / np.maximum(torso_seen.sum(1), 1)[:, None]
    centre = np.where((torso_seen.sum(1) >= 2)[:, None], torso_centre, box_centre)
    relative = xy[:, LIMBS] - centre[:, None]
    energies, travels = [], []
    for a in range(len(times) - 1):
        dt = times[a + 1] - times[a]
        if dt <= 0 or dt > 1.5 * interval:
            continue
        travels.append(np.linalg.norm(centre[a + 1] - centre[a]) / height / dt)
        both = seen[a, LIMBS] & seen[a + 1, LIMBS]
        if both.any():
            step = np.linalg.norm(relative[a + 1, both] - relative[a, both], axis=1)
            energies.append(step.mean() / height / dt)
    energy = float(np.median(energies)) if energies else None
    return energy, float(np.median(travels)) if travels else None


class BackgroundSegmentation(_Yolo):
    name = "background_segmentation"
    task = "segment"
    weights = (_asset(TASK_FILES[task]),)

    def setup(self) -> None:
        super().setup()
        person = [c for c, n in self.names.items() if n == "person"]
        if not person:
            raise ValueError(f"{self.name} needs a model with a person class; this one has {len(self.names)} others")
        self.keep_classes = person

    def extras(self, det, prototypes, image_shape, frame_shape) -> dict[str, Any]:
        """The union of the confident person masks on the analysis grid (bool (h, w))."""
        from ultralytics.utils import ops

        grid = _analysis_shape(frame_shape)
        det = det[det[:, 4] >= CONFIDENCE]
        # The union is made at the prototypes' resolution and scaled once: the per-instance masks
        # at full size would take hundreds of MB for a crowded frame.
        masks = ops.process_mask(prototypes, det[:, 6:].float(), det[:, :4].float(), image_shape, upsample=False)
        union = masks.amax(0, keepdim=True) if len(masks) else masks.new_zeros((1, *masks.shape[1:]))
        scaled = ops.scale_masks(union[None].float(), grid)[0, 0]
        return {"person": (scaled > 0.5).cpu().numpy(), "people": len(det)}

    def model_frames(self, batch: FrameBatch) -> np.ndarray:
        """The frame before the batch leads, when there is one: the first sample's change is measured from it."""
        return batch.frames if batch.prev_frame is None else np.concatenate([batch.prev_frame[None], batch.frames])

    def partial(self, batch: FrameBatch, found: list[dict[str, Any]]) -> np.ndarray:
        frames = self.model_frames(batch)
        greys = [_grey(frame) for frame in frames]
        times = np.concatenate([[np.nan if batch.prev_pts_s is None else batch.prev_pts_s], batch.pts_s])
        offset = len(frames) - len(batch.frames)  # 1 when the frame before the batch leads
        rows = np.zeros(len(batch.frames), SAMPLE)
        for i in range(len(batch.frames)):
            k = i + offset
            change = (
                background_change(greys[k - 1], greys[k], found[k - 1]["person"], found[k]["person"]) if k else np.nan
            )
            rows[i] = (batch.pts_s[i], times[i], found[k]["person"].mean(), found[k]["people"], change)
        return rows

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        samples = np.concatenate(partials.frames)
        shots, transitions, shots_from = _shots(context)
        shot_of = shot_of_samples(samples["t"], shots)
        prev_shot = shot_of_samples(samples["t_prev"], shots)
        # A pair measures the background only inside one shot, away from fades and dissolves.
        clean = (shot_of == prev_shot) & np.isfinite(samples["change"])
        for start, end in transitions:
            clean &= (samples["t"] <= start + TIME_SLACK_S) | (samples["t_prev"] >= end - TIME_SLACK_S)
        segments = []
        kind_time = dict.fromkeys(("static", "moving", "unknown"), 0.0)
        for i, (start, end) in enumerate(shots):
            here = samples[shot_of == i]
            pairs = samples["change"][clean & (shot_of == i)]
            change = float(np.median(pairs)) if len(pairs) else None
            kind = "unknown" if change is None else "static" if change < STATIC_BELOW else "moving"
            kind_time[kind] += end - start
            data = {
                "shot": i,
                "person_share": _round(here["person"].mean()) if len(here) else None,
                "person_share_max": _round(here["person"].max()) if len(here) else None,
                "frames_with_people": int((here["people"] > 0).sum()),
                "background_change": _round(change),
                "measured_pairs": len(pairs),
            }
            segments.append(Segment(start_s=_round(start), end_s=_round(end), label=kind, data=data))
        total = sum(kind_time.values())
        return Findings(
            segments=segments,
            summary={
                "person_share": _round(samples["person"].mean()),
                "background_share": {k: _round(t / total, 3) if total else 0.0 for k, t in kind_time.items()},
                "frames_analysed": len(samples),
                "shots_from": shots_from,
            },
        )


def background_change(
    grey_before: np.ndarray, grey: np.ndarray, people_before: np.ndarray, people: np.ndarray
) -> float:
    """Share of the pixels that are background in both pictures (no person mask on them) whose
    grey level changed by more than CHANGE_LEVEL; NaN when under MIN_BACKGROUND of the picture is
    background in both."""
    background = ~people_before & ~people
    if background.mean() < MIN_BACKGROUND:
        return np.nan
    return float((cv2.absdiff(grey, grey_before)[background] > CHANGE_LEVEL).mean())


def _analysis_shape(frame_shape: tuple[int, int]) -> tuple[int, int]:
    h, w = frame_shape
    scale = min(1.0, ANALYSIS_SIZE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _grey(frame: np.ndarray) -> np.ndarray:
    h, w = _analysis_shape(frame.shape[:2])
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA)
