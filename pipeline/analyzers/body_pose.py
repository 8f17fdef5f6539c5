"""body_pose: people's gestures and movement from COCO's 17 keypoints (yolo11n-pose).

Detections come from the ultralytics runtime (actors/yolo.py); people are tracked as objects are
(pipeline/analyzers/tracking.py: ByteTrack per shot of cut_analysis).

Per sample, a person's arms give at most one gesture:
  hands_up     both wrists above their shoulders (by RAISE_MARGIN torso lengths)
  pointing     exactly one arm straight (elbow at least STRAIGHT_ARM_DEG), reaching at least
               POINT_REACH torso lengths from the shoulder, within POINT_ELEVATION_DEG of the
               horizontal (both arms out is a T-pose, not pointing)
  hand_raised  exactly one wrist above its shoulder, not pointing
(keypoints under KEYPOINT_MIN confidence are not seen; a gesture needs the shoulders). A gesture
held over consecutive samples for GESTURE_MIN_S or more is a segment labelled with it: data
{track, shot, side} (side: the person's own left or right arm, None for hands_up).

Movement: limb keypoints (elbows, wrists, knees, ankles) relative to the body centre, in body
heights (the track's median box height) per second between consecutive samples; the median over
the track is its movement_energy, and its activity is "still" below STILL_BELOW, "dancing" from
DANCING_FROM, else "moving" (thresholds set by reasoning about walking and dancing, not fit to
labelled video). travel_speed is the body centre's speed in the same unit (camera motion
included). Segments per track, labelled "person": data {track, shot, frames_seen,
mean_confidence, movement_energy, travel_speed, activity, gestures {gesture: seconds}}; a field
of the other kind of segment is None.
Summary: person_tracks, max_people, activity_share (share of person screen time per activity),
gestures {gesture: {count, seconds}}, mean_movement_energy, frames_analysed, shots_from.

Gestures are geometric rules on 2-D keypoints, blind to depth: an arm pointing at the camera is
foreshortened and reads as bent.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.yolo import WEIGHTS, Found
from pipeline.analyzer import Context, Findings, FrameBatch, Partials
from pipeline.analyzers.shots import ShotsFrom, TIME_SLACK_S, rounded
from pipeline.analyzers.tracking import (
    Detections,
    assign_tracks,
    ragged,
    sample_interval,
    shot_of_samples,
    tracks_of,
    video_shots,
)
from pipeline.analyzers.yolo_base import FRAMES, YoloAnalyzer
from pipeline.schema import Segment, SegmentData, Summary

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

Activity = Literal["still", "moving", "dancing"]


class BodyPoseSegment(SegmentData):
    """A person track (labelled "person") or a gesture (labelled hands_up, pointing or hand_raised)."""

    model_config = ConfigDict(extra="forbid")

    track: int = Field(..., description="the person track's number in the video, from 0 in order of appearance")
    shot: int = Field(..., description="index of the shot (from 0) the track is in")
    frames_seen: int | None = Field(None, description="person: samples with a detection of them (count)")
    mean_confidence: float | None = Field(None, description="person: mean detection confidence (0-1)")
    movement_energy: float | None = Field(
        None, description="person: median limb speed relative to the body centre (body heights per second); None without a pair of samples"
    )
    travel_speed: float | None = Field(
        None, description="person: median speed of the body centre, camera motion included (body heights per second)"
    )
    activity: Activity | None = Field(None, description="person: still, moving or dancing by movement_energy; None unmeasured")
    gestures: dict[str, float] | None = Field(None, description="person: seconds held per gesture (s)")
    side: Literal["left", "right"] | None = Field(
        None, description="gesture: the person's own arm that makes it; None for hands_up (and on person segments)"
    )


class GestureFigures(BaseModel):
    """One gesture over the video."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(..., description="gesture segments (count)")
    seconds: float = Field(..., description="their summed duration (s)")


class BodyPoseSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    person_tracks: int = Field(..., description="person tracks in the video (count)")
    max_people: int = Field(..., description="the most tracked people in one sample (count)")
    activity_share: dict[str, float] = Field(
        ..., description="per activity (still, moving, dancing), its share of measured person screen time (0-1)"
    )
    gestures: dict[str, GestureFigures] = Field(..., description="per gesture (hands_up, pointing, hand_raised)")
    mean_movement_energy: float | None = Field(
        ..., description="movement energy averaged over measured tracks, weighted by duration (body heights per second)"
    )
    frames_analysed: int = Field(..., description="samples the model read (count)")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots came from: cut_analysis, or the whole video as one shot"
    )


class BodyPose(YoloAnalyzer):
    """People's gestures and movement (YOLO11n-pose keypoints), tracked within each shot."""

    name = "body_pose"
    weights = (WEIGHTS["pose"],)
    summary_type = BodyPoseSummary
    segment_type = BodyPoseSegment

    def process_frames(self, batch: FrameBatch, predicted: dict[str, Found]) -> dict[str, Any]:
        return ragged(batch.pts_s, batch.frames.shape[1:3], predicted[self.name].frames, ("boxes", "conf", "keypoints"))

    def finalize(self, partials: Partials, context: Context) -> Findings:
        people_only = [{**p, "cls": np.zeros(len(p["conf"]), np.int16)} for p in partials.frames]  # its one class
        found = Detections.gather(people_only, extra=("keypoints",))
        keypoints = found.extra["keypoints"].reshape(-1, 17, 3)
        shots = video_shots(context)
        shot_of = shot_of_samples(found.pts, shots.shots)
        interval = sample_interval(found.pts, FRAMES.fps)
        track_of = assign_tracks(found, shot_of, interval)
        tracks = tracks_of(found, track_of, shot_of, shots.shots, interval)
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
                end = min(last + interval, shots.shots[track.shot][1])
                held[name] = held.get(name, 0.0) + end - first
                data = BodyPoseSegment(track=track.index, shot=track.shot, side=arm)
                gesture_segments.append(Segment(start_s=rounded(first), end_s=rounded(end), label=name, data=data))
            duration = track.end_s - track.first_s
            if activity is not None:
                activity_time[activity] += duration
                weighted_energy += energy * duration
                screen_time += duration
            data = BodyPoseSegment(
                track=track.index,
                shot=track.shot,
                frames_seen=len(track.rows),
                mean_confidence=rounded(found.conf[track.rows].mean(), 3),
                movement_energy=rounded(energy),
                travel_speed=rounded(travel),
                activity=activity,
                gestures={name: rounded(seconds, 3) for name, seconds in held.items()},
            )
            people.append(
                Segment(
                    start_s=rounded(track.first_s),
                    end_s=rounded(track.end_s),
                    label="person",
                    confidence=rounded(found.conf[track.rows].mean(), 3),
                    data=data,
                )
            )
        gestures = {
            name: GestureFigures(
                count=sum(1 for s in gesture_segments if s.label == name),
                seconds=rounded(sum(s.end_s - s.start_s for s in gesture_segments if s.label == name), 3),
            )
            for name in GESTURES
        }
        tracked = track_of >= 0
        return Findings(
            segments=people + sorted(gesture_segments, key=lambda s: s.start_s),
            summary=BodyPoseSummary(
                person_tracks=len(tracks),
                max_people=int(np.bincount(found.frame[tracked]).max(initial=0)),
                activity_share={a: rounded(t / screen_time, 3) if screen_time else 0.0 for a, t in activity_time.items()},
                gestures=gestures,
                mean_movement_energy=rounded(weighted_energy / screen_time) if screen_time else None,
                frames_analysed=len(found.pts),
                shots_from=shots.shots_from,
            ),
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
