"""What age_estimation and eye_tracking share: the frames they read, the face analyzer base, and
face tracks.

Both read the same frames (FACES: 10 a second at 640 px) and are served by the faces family
(actors/faces.py): on every batch the faces are detected once for both, and each analyzer's
classifier reads the regions it asks for (`FaceAnalyzer.regions`).

Tracks: the shots and the tracker objects and poses use (pipeline/analyzers/tracking.py):
cut_analysis's shots (the whole video when it did not run), a sample in a fade or dissolve in
no shot, ByteTrack per shot on the detections' pixel boxes and scores (the cascade's are 1). On
top of ByteTrack's confirmation a track seen on fewer than min(MIN_TRACK_FRAMES, samples of its
shot) frames is a detector flicker and is dropped: face detectors at 10 fps flicker more than
ByteTrack's two samples in a row allow for. There is no identity matching: one person in two
shots, or back after tracking.LOST_TRACK_S, is two tracks. A track's box is its median box as
fractions [x1, y1, x2, y2] of the frame's width and height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.faces import Detections, Regions
from pipeline.analyzer import Analyzer, Context, FrameBatch, FrameSpec, Partials, Resources, Skip
from pipeline.analyzers import tracking
from pipeline.analyzers.shots import rounded

FACES = FrameSpec(fps=10.0, size=640)
MIN_TRACK_FRAMES = 3


class FaceAnalyzer(Analyzer):
    """An analyzer of the faces family: the runtime detects faces on its frames and classifies
    the regions of them it asks for."""

    frames = FACES
    after = ("cut_analysis",)  # tracks never cross a shot boundary
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)  # a ViT-B/16 in fp16 and 64 crops, plus the CUDA context

    def regions(self, batch: FrameBatch, faces: Detections) -> Regions:
        """Which squares of `batch`'s frames this analyzer's classifier reads, given the faces."""
        raise NotImplementedError


@dataclass
class FacePartial:
    faces: Detections
    values: np.ndarray  # per face: age-bucket probabilities (m, K), or open-eye probability (m,); NaN: not read
    labels: tuple[str, ...] = ()  # the classifier's labels, in column order
    note: str = ""  # what read `values` (or why nothing did)


@dataclass
class FaceTrack:
    id: int
    rows: np.ndarray  # its detections, in time order
    start_s: float
    end_s: float  # one sample interval after its last sample, within its shot
    box: list[float]  # median box, fractions of the frame


@dataclass
class FaceTracks:
    track_of: np.ndarray  # (m,) the track of each detection, -1: none
    tracks: list[FaceTrack]
    shots: tracking.VideoShots
    shot_of: np.ndarray  # (n,) the shot of each sampled frame, -1: in a transition
    interval: float  # the time one sampled frame stands for


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
        score=np.concatenate([p.faces.score for p in parts]),
    )
    return faces, np.concatenate([p.values for p in parts]), first


def _in_pixels(faces: Detections) -> tracking.Detections:
    """The faces as the tracker reads detections: pixel boxes, scores, one class."""
    w, h = faces.size
    return tracking.Detections(
        pts=faces.times,
        size=(h, w),
        frame=faces.frame,
        boxes=faces.box * np.array([w, h, w, h], np.float32),
        conf=faces.score,
        cls=np.zeros(len(faces.frame), np.int16),
        extra={},
    )


def link_tracks(faces: Detections, shot_of: np.ndarray, interval: float) -> np.ndarray:
    """The track of every detection (-1: none, a flicker, or in no shot), numbered from 0 in order
    of first appearance."""
    track_of = tracking.assign_tracks(_in_pixels(faces), shot_of, interval)
    if not len(track_of) or track_of.max(initial=-1) < 0:
        return track_of
    tracked = np.flatnonzero(track_of >= 0)
    count = int(track_of.max()) + 1
    seen = np.bincount(track_of[tracked], minlength=count)
    shot_samples = np.bincount(shot_of[shot_of >= 0], minlength=int(shot_of.max()) + 1)
    track_shot = np.zeros(count, np.int64)
    track_shot[track_of[tracked]] = shot_of[faces.frame[tracked]]
    kept = np.flatnonzero(seen >= np.minimum(MIN_TRACK_FRAMES, shot_samples[track_shot]))
    numbers = np.full(count + 1, -1, np.int64)  # the last slot: what -1 maps to
    numbers[kept] = np.arange(len(kept))  # renumbered, still in order of first appearance
    return numbers[track_of]


def face_tracks(faces: Detections, context: Context) -> FaceTracks:
    shots = tracking.video_shots(context)
    shot_of = tracking.shot_of_samples(faces.times, shots.shots)
    interval = tracking.sample_interval(faces.times, FACES.fps)
    track_of = link_tracks(faces, shot_of, interval)
    tracks = [
        FaceTrack(
            id=track.index,
            rows=track.rows,
            start_s=rounded(track.first_s),
            end_s=rounded(track.end_s),
            box=[rounded(v) for v in np.median(faces.box[track.rows], axis=0)],
        )
        for track in tracking.tracks_of(_in_pixels(faces), track_of, shot_of, shots.shots, interval)
    ]
    return FaceTracks(track_of, tracks, shots, shot_of, interval)
