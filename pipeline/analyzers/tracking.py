"""One tracker and one shot-membership rule for every analyzer that follows boxes over time
(object_detection, body_pose, background_segmentation; faces may use them too).

Shots: cut_analysis's shots, the whole video as one when it did not succeed. A sample belongs to
the shot whose [start, end) holds its time, a time at a rounded boundary to the shot it opens
(`pipeline.analyzers.shots.during`); a sample in a fade or dissolve between shots is in none.

Tracking: ultralytics' ByteTrack, fed the stored detections of each shot in time order (a new
tracker per shot: nothing is followed across a cut). A track must be matched in two samples in a
row to count (ByteTrack's confirmation), except on a shot's first sample; a track lost for more
than LOST_TRACK_S ends. Track ids number the tracks of the whole video from 0 in order of
appearance. Detections of CONFIDENCE or more start and continue tracks; weaker ones down to
KEEP_CONFIDENCE only continue them (ByteTrack's second stage): a detector feeding the tracker
should keep detections down to KEEP_CONFIDENCE.

API
    video_shots(context) -> VideoShots          shots, transitions, shots_from ("cut_analysis" |
                                                "whole_video")
    shot_of_samples(pts, shots) -> (n,) int64   the shot of every sample time, -1: in none
    sample_interval(pts, fps) -> float          the median step between samples (1 / fps for
                                                fewer than two)
    ragged(pts, size, found, keys) -> dict      a batch's per-frame detections as flat arrays (a
                                                picklable partial); Detections.gather reads a
                                                video's partials back in time order
    Detections                                  every detection of one video: pts (n,), size
                                                (h, w), frame (m,) its sample, boxes (m, 4) xyxy
                                                pixels, conf (m,), cls (m,), extra {key: (m, ...)}
    assign_tracks(found, shot_of, interval)     (m,) the track of every detection, -1: in none
    tracks_of(found, track_of, shot_of, shots, interval) -> list[Track]
    Track                                       index, rows (its detections in time order), shot,
                                                first_s, last_s, end_s (one sample interval after
                                                the last sample, within the shot)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from pipeline.analyzer import Context, Skip
from pipeline.analyzers.shots import Span, during, shots_and_transitions

CONFIDENCE = 0.25  # what counts as a detection on its own (ultralytics' default)
KEEP_CONFIDENCE = 0.1  # ByteTrack's low threshold: weak detections can continue a track
LOST_TRACK_S = 1.0  # ultralytics' track_buffer: 30 frames at 30 fps
TRACKER = dict(  # ultralytics' bytetrack.yaml
    track_high_thresh=CONFIDENCE,
    track_low_thresh=KEEP_CONFIDENCE,
    new_track_thresh=CONFIDENCE,
    match_thresh=0.8,
    fuse_score=True,
)


@dataclass(frozen=True)
class VideoShots:
    shots: list[Span]
    transitions: list[Span]  # fades and dissolves: their samples are in no shot
    shots_from: str  # "cut_analysis", or "whole_video" when it did not succeed


def video_shots(context: Context) -> VideoShots:
    cuts = context.ok("cut_analysis")
    shots, transitions = shots_and_transitions(cuts, (0.0, context.video.duration_s))
    return VideoShots(shots, transitions, "cut_analysis" if cuts else "whole_video")


def shot_of_samples(pts: np.ndarray, shots: list[Span]) -> np.ndarray:
    """The shot of every sample (-1: in none)."""
    shot_of = np.full(len(pts), -1, np.int64)
    for i, span in enumerate(shots):
        shot_of[during(pts, span)] = i
    return shot_of


def sample_interval(pts: np.ndarray, fps: float) -> float:
    return float(np.median(np.diff(pts))) if len(pts) > 1 else 1.0 / fps


def ragged(pts: np.ndarray, size: tuple[int, int], found: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """Per-frame detections (`found[i]`: arrays under `keys` with one row per detection, "conf"
    among them) as flat arrays: `counts[i]` rows belong to frame i, in pixels of `size` (h, w)."""
    partial = {
        "pts": np.asarray(pts, np.float64),
        "size": tuple(size),
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
        """The `ragged` partials of one video, in time order, as one set of detections."""
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
    from actors.yolo import configure_ultralytics

    configure_ultralytics()
    from ultralytics.trackers.basetrack import TrackState
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
            # ultralytics 8.4 keeps a track it removed in this update in its lost list one update
            # longer, where it can be re-found after a gap past the track buffer: drop it now.
            tracker.lost_stracks = [t for t in tracker.lost_stracks if t.state != TrackState.Removed]
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
