"""object_detection: the objects of COCO's 80 classes (yolo11n), tracked within each shot.

Detections come from the ultralytics runtime (actors/yolo.py); tracks and shots are
pipeline/analyzers/tracking.py's (ByteTrack per shot of cut_analysis).

Segments: one per track, labelled by its class (the class its detections voted for, weighted by
confidence), from its first sample to one sample interval after its last (within its shot);
confidence and data.mean_confidence: mean detection confidence; data {track, class, shot,
frames_seen, first_seen_s, last_seen_s, mean_confidence, mean_area (share of the frame)}. Then
one "shot" segment per shot: data {shot, tracks, classes {class: tracks}, max_simultaneous
{class: most tracks of that class in one sample}}. A field of the other kind of segment is None.
Summary: track_count, classes {class: {tracks, max_simultaneous, screen_time_s}},
max_simultaneous_objects (most tracked objects in one sample), frames_analysed (samples),
frames_with_objects (samples with a tracked object), sample_fps, shots_from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.yolo import WEIGHTS, Found
from pipeline.analyzer import Context, Findings, FrameBatch, Partials
from pipeline.analyzers.shots import ShotsFrom, rounded
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


class ObjectDetectionSegment(SegmentData):
    """A track (labelled by its class) or a shot (labelled "shot")."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    track: int | None = Field(None, description="track: its number in the video, from 0 in order of appearance")
    class_: str | None = Field(None, alias="class", description="track: its COCO class (the confidence-weighted vote)")
    shot: int = Field(..., description="index of the shot (from 0) the track or shot segment is in")
    frames_seen: int | None = Field(None, description="track: samples with a detection of it (count)")
    first_seen_s: float | None = Field(None, description="track: time of its first sample (s)")
    last_seen_s: float | None = Field(None, description="track: time of its last sample (s)")
    mean_confidence: float | None = Field(None, description="track: mean detection confidence (0-1)")
    mean_area: float | None = Field(None, description="track: mean box area (share of the frame, 0-1)")
    tracks: int | None = Field(None, description="shot: tracks in the shot (count)")
    classes: dict[str, int] | None = Field(None, description="shot: tracks per class (count)")
    max_simultaneous: dict[str, int] | None = Field(
        None, description="shot: per class, the most tracks of it in one sample (count)"
    )


class ObjectClassFigures(BaseModel):
    """One COCO class over the video."""

    model_config = ConfigDict(extra="forbid")

    tracks: int = Field(..., description="tracks of the class (count)")
    max_simultaneous: int = Field(..., description="the most tracks of the class in one sample (count)")
    screen_time_s: float = Field(..., description="summed duration of its tracks (s)")


class ObjectDetectionSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    track_count: int = Field(..., description="object tracks in the video (count)")
    classes: dict[str, ObjectClassFigures] = Field(..., description="per COCO class seen, its tracks and screen time")
    max_simultaneous_objects: int = Field(..., description="the most tracked objects in one sample (count)")
    frames_analysed: int = Field(..., description="samples the model read (count)")
    frames_with_objects: int = Field(..., description="samples with a tracked object (count)")
    sample_fps: float = Field(..., description="samples per second of video (Hz)")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots came from: cut_analysis, or the whole video as one shot"
    )


class ObjectDetection(YoloAnalyzer):
    """Objects of COCO's 80 classes (YOLO11n), tracked within each shot, and per-shot counts."""

    name = "object_detection"
    weights = (WEIGHTS["detect"],)
    summary_type = ObjectDetectionSummary
    segment_type = ObjectDetectionSegment

    def process_frames(self, batch: FrameBatch, predicted: dict[str, Found]) -> dict[str, Any]:
        found = predicted[self.name]
        partial = ragged(batch.pts_s, batch.frames.shape[1:3], found.frames, ("boxes", "conf", "cls"))
        partial["names"] = {int(c): found.names[int(c)] for c in np.unique(partial["cls"])}
        return partial

    def finalize(self, partials: Partials, context: Context) -> Findings:
        found = Detections.gather(partials.frames)
        names = {c: n for p in partials.frames for c, n in p["names"].items()}
        shots = video_shots(context)
        shot_of = shot_of_samples(found.pts, shots.shots)
        interval = sample_interval(found.pts, FRAMES.fps)
        track_of = assign_tracks(found, shot_of, interval)
        tracks = tracks_of(found, track_of, shot_of, shots.shots, interval)
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
            data = ObjectDetectionSegment(
                track=track.index,
                class_=label_of[track.index],
                shot=track.shot,
                frames_seen=len(track.rows),
                first_seen_s=rounded(track.first_s),
                last_seen_s=rounded(track.last_s),
                mean_confidence=rounded(conf.mean(), 3),
                mean_area=rounded(area.mean()),
            )
            segments.append(
                Segment(
                    start_s=rounded(track.first_s),
                    end_s=rounded(track.end_s),
                    label=label_of[track.index],
                    confidence=rounded(conf.mean(), 3),
                    data=data,
                )
            )
        tracked = track_of >= 0
        samples, labels = found.frame[tracked], label_of[track_of[tracked]].astype(str)
        for i, (start, end) in enumerate(shots.shots):
            in_shot = [t for t in tracks if t.shot == i]
            here = shot_of[samples] == i
            classes: dict[str, int] = {}
            for t in in_shot:
                classes[label_of[t.index]] = classes.get(label_of[t.index], 0) + 1
            data = ObjectDetectionSegment(
                shot=i,
                tracks=len(in_shot),
                classes=dict(sorted(classes.items())),
                max_simultaneous=_max_per_sample(samples[here], labels[here]),
            )
            segments.append(Segment(start_s=rounded(start), end_s=rounded(end), label="shot", data=data))

        most = _max_per_sample(samples, labels)
        summary_classes = {
            label: ObjectClassFigures(
                tracks=sum(1 for t in tracks if label_of[t.index] == label),
                max_simultaneous=most[label],
                screen_time_s=rounded(sum(t.end_s - t.first_s for t in tracks if label_of[t.index] == label), 3),
            )
            for label in sorted(most)
        }
        return Findings(
            segments=segments,
            summary=ObjectDetectionSummary(
                track_count=len(tracks),
                classes=summary_classes,
                max_simultaneous_objects=int(np.bincount(samples).max(initial=0)),
                frames_analysed=len(found.pts),
                frames_with_objects=len(np.unique(samples)),
                sample_fps=FRAMES.fps,
                shots_from=shots.shots_from,
            ),
        )


def _max_per_sample(samples: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """For each label, the most detections of it in one sample."""
    most: dict[str, int] = {}
    for label in np.unique(labels):
        most[label.item()] = int(np.bincount(samples[labels == label]).max())
    return most
