"""Face tracks, shared by the finalize steps of age_estimation and eye_tracking (faces.py).

finalize links detections over time, greedily by IoU with each track's last box (at least
TRACK_IOU), across gaps of up to TRACK_GAP_S, never across a shot boundary (cut_analysis's shots;
the whole video when it did not run). A track seen on fewer than min(MIN_TRACK_FRAMES, frames of
its shot) frames is a detector flicker and is dropped. There is no identity matching: one person
in two shots, or back after TRACK_GAP_S, is two tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.analyzer import Context, Partials, Skip
from pipeline.analyzers.face_detection import FACES, Detections
from pipeline.analyzers.shots import TIME_SLACK_S, shots_and_transitions

TRACK_IOU = 0.3
TRACK_GAP_S = 1.0
MIN_TRACK_FRAMES = 3


@dataclass
class FacePartial:
    faces: Detections
    values: np.ndarray  # per face: age-bucket probabilities (m, K), or open-eye probability (m,); NaN: not read
    labels: tuple[str, ...] = ()  # the classifier's labels, in column order
    note: str = ""  # what read `values` (or why nothing did)


@dataclass
class Track:
    id: int
    rows: np.ndarray  # its detections, in time order
    start_s: float
    end_s: float
    box: list[float]  # median box, fractions of the frame


def shot_of(times: np.ndarray, shots: list[tuple[float, float]]) -> np.ndarray:
    """Index of the shot each time falls in (a time in a dissolve counts in the shot before)."""
    starts = np.array([start for start, _ in shots]) - TIME_SLACK_S
    return np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(shots) - 1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of boxes x1 y1 x2 y2."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def link_tracks(times: np.ndarray, frame: np.ndarray, box: np.ndarray, shot: np.ndarray) -> np.ndarray:
    """Track number of every detection (rows ordered by frame), -1 for flickers.

    times: (n,) every sampled frame; frame: (m,) the frame of each detection; box: (m, 4);
    shot: (n,) the shot of each frame."""
    track = np.full(len(frame), -1, np.int64)
    last_box: list[np.ndarray] = []
    last_time: list[float] = []
    track_shot: list[int] = []
    for f in np.unique(frame):
        rows = np.flatnonzero(frame == f)
        t = float(times[f])
        open_ = [k for k in range(len(last_box)) if track_shot[k] == shot[f] and t - last_time[k] <= TRACK_GAP_S + 1e-9]
        taken: set[int] = set()
        if open_:
            iou = box_iou(box[rows], np.array([last_box[k] for k in open_]))
            for flat in np.argsort(-iou, axis=None):
                r, c = np.unravel_index(flat, iou.shape)
                if iou[r, c] < TRACK_IOU:
                    break
                if track[rows[r]] < 0 and open_[c] not in taken:
                    track[rows[r]] = open_[c]
                    taken.add(open_[c])
        for r in rows:
            if track[r] < 0:
                track[r] = len(last_box)
                last_box.append(box[r])
                last_time.append(t)
                track_shot.append(int(shot[f]))
            else:
                last_box[track[r]], last_time[track[r]] = box[r], t
    if not len(track):
        return track
    frames_in_shot = np.bincount(shot, minlength=int(shot.max()) + 1)
    seen = np.bincount(track, minlength=len(last_box))
    need = np.minimum(MIN_TRACK_FRAMES, frames_in_shot[np.array(track_shot, np.int64)])
    numbers = np.full(len(last_box), -1, np.int64)
    kept = np.flatnonzero(seen >= need)
    numbers[kept] = np.arange(len(kept))  # renumbered in order of first appearance
    return numbers[track]


def gather(partials: Partials) -> tuple[Detections, np.ndarray, FacePartial]:
    """Every batch's faces as one Detections (frame indices into the joined times) and values."""
    if not partials.frames:
        raise Skip("no video frames decoded")
    parts: list[FacePartial] = partials.frames
    offsets = np.cumsum([0] + [len(p.faces.times) for p in parts])
    first = parts[0]
    faces = Detections(
        detector=first.faces.detector,
        size=first.faces.size,
        times=np.concatenate([p.faces.times for p in parts]),
        frame=np.concatenate([p.faces.frame + offset for p, offset in zip(parts, offsets)]).astype(np.int64),
        box=np.concatenate([p.faces.box for p in parts]),
        landmarks=np.concatenate([p.faces.landmarks for p in parts]),
    )
    return faces, np.concatenate([p.values for p in parts]), first


def sample_step(times: np.ndarray) -> float:
    """The time one sampled frame stands for."""
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / FACES.fps


def face_tracks(faces: Detections, context: Context) -> tuple[np.ndarray, list[Track], list[tuple[float, float]], str]:
    """Track number per detection, the tracks, the shots and where the shots came from."""
    cuts = context.ok("cut_analysis")
    duration = max(context.video.duration_s, float(faces.times[-1]) if len(faces.times) else 0.0)
    shots, _ = shots_and_transitions(cuts, (0.0, duration))
    shot = shot_of(faces.times, shots)
    track = link_tracks(faces.times, faces.frame, faces.box, shot)
    step = sample_step(faces.times)
    tracks = []
    for number in range(int(track.max(initial=-1)) + 1):
        rows = np.flatnonzero(track == number)
        times = faces.times[faces.frame[rows]]
        tracks.append(
            Track(
                id=number,
                rows=rows,
                start_s=round(float(times[0]), 4),
                end_s=round(min(float(times[-1]) + step, duration) if duration > times[-1] else float(times[-1]), 4),
                box=[round(float(v), 4) for v in np.median(faces.box[rows], axis=0)],
            )
        )
    return track, tracks, shots, "cut_analysis" if cuts else "whole_video"
