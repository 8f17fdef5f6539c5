"""Camera movement per shot: static, pan, tilt, zoom or shake, from sparse optical flow.

Frames are cut_analysis's (every frame at 256 px, decoded and resized once for all who read
them); about ten a second are measured: the first frame of each SAMPLE_STEP_S of video time. Between each measured
frame and the one before it (within a batch: the previous measured frame; for the batch's first,
the frame before the batch), corners spread over the picture are tracked with pyramidal
Lucas-Kanade, checked by tracking them back, and a similarity transform (translation, scale,
rotation) is fitted to the tracks with RANSAC. That transform is the camera's motion; tracks it
does not explain are subjects moving on their own.

Units: translations are in frame widths (a pan reads the same at any resolution), per second
for a shot. `dx`/`dy` say how the picture content moves (+ right, + down); the camera moves the
other way, which `direction` names: content sliding left is the camera panning right. Zoom is
the log of the scale change per second (+ in).

A shot's label is the movement whose measure most exceeds its threshold:
    pan   |median dx| / PAN_MIN        tilt  |median dy| / PAN_MIN
    zoom  |median zoom| / ZOOM_MIN     shake jitter / SHAKE_MIN
and "static" when none reaches 1. Jitter is the median distance between each pair's displacement
and the displacement the running median velocity (over about a second) predicts for it: a
steady pan has none, a shaking camera has a lot while going nowhere. "unknown" marks a shot with
no measurable pair (black or flat frames). Pairs that straddle a cut or lie in a fade or
dissolve are left out of everything. The confidence is how clearly the winning score beats the
runner-up (static counting as 1): 1 - runner_up / best, or 1 - best for static.

Segment data: shot, measured_pairs, direction, dx_per_s, dy_per_s, zoom_per_s,
rotation_deg_per_s, shake (the jitter), motion_energy, subject_motion (mean share of tracks the
camera motion does not explain).

motion_energy is the mean speed of all the verified tracks (frame widths per second): camera and
subject motion together. The summary's motion_curve gives it per second of video (None where
nothing was measured), for temporal_flow.

Split screen (summary.split_screen, pipeline/analyzers/formats.py): on the same pairs, the seam
strength across the centre lines of the later frame, each half's grey change, and how far apart
the left and right (top and bottom) halves' tracks move once the fitted camera motion is taken
out: a duet's halves are two cameras, one picture's halves share one.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, Partials, Skip
from pipeline.analyzers.cuts import FRAMES
from pipeline.analyzers.formats import SplitScreen, half_changes, halves_apart, seam_strengths, split_screen
from pipeline.analyzers.shots import (
    TIME_SLACK_S,
    ShotsFrom,
    first_in_step,
    rounded,
    second_of,
    shots_and_transitions,
    whole_seconds,
)
from pipeline.schema import Segment, SegmentData, Summary

SAMPLE_STEP_S = 0.1

PAN_MIN = 0.05  # frame widths per second: a pan across the whole picture in 20 s
ZOOM_MIN = 0.05  # log scale per second: 5 % closer each second
SHAKE_MIN = 0.004  # frame widths of jitter per pair: about 1 px at 256
JITTER_WINDOW_S = 1.0

# Corners are spread over a grid (at most CORNERS_PER_CELL in each cell) so that a burned-in
# caption or logo, full of strong corners and still on screen, cannot outvote the background.
GRID = (4, 3)  # columns, rows of a landscape frame; turned for a portrait one
CORNERS_PER_CELL = 5
# Two pyramid levels follow moves up to about 20 px between samples (0.8 frame widths a second);
# a third level let periodic textures (siding, fences) lock onto the wrong period.
LK_WINDOW = (11, 11)
LK_LEVELS = 2
ROUND_TRIP_PX = 1.0  # a track that does not come back to within this when tracked back is dropped
MIN_TRACKS = 12  # fewer verified tracks than this and the fit is a guess
MIN_CONTRAST = 4.0  # grey-level std below which a frame has nothing to track (black, fades)

# One row per frame pair. dx, dy in frame widths over the pair.
PAIR = np.dtype(
    [
        ("t0", "f8"),
        ("t1", "f8"),
        ("valid", "?"),
        ("dx", "f4"),
        ("dy", "f4"),
        ("log_scale", "f4"),
        ("rotation", "f4"),  # radians over the pair, + clockwise on screen
        ("outliers", "f4"),  # share of tracks the camera motion does not explain
        ("energy", "f4"),  # mean track speed in widths per second: camera and subject motion together
        ("apart_x", "f4"),  # left and right halves' residual motion apart, in widths (NaN: too few tracks)
        ("apart_y", "f4"),  # the same for the top and bottom halves
        # The later frame's seam strengths and each half's mean grey change over the pair, for
        # formats.split_screen: measured on every pair, trackable or not.
        ("seam_x", "f4"),
        ("seam_y", "f4"),
        ("change_l", "f4"),
        ("change_r", "f4"),
        ("change_t", "f4"),
        ("change_b", "f4"),
    ]
)

UNMEASURED = (False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan, np.nan)

DIRECTIONS = {  # (label, sign of the measure) -> where the camera goes
    ("pan", -1): "right",
    ("pan", 1): "left",
    ("tilt", -1): "down",
    ("tilt", 1): "up",
    ("zoom", 1): "in",
    ("zoom", -1): "out",
}


class CameraAnalysisSegment(SegmentData):
    """One shot. Its label is static, pan, tilt, zoom, shake, or unknown: no measurable pair, and
    then every measure is None."""

    model_config = ConfigDict(extra="forbid")

    shot: int = Field(..., description="cut_analysis's index of the shot")
    measured_pairs: int = Field(..., description="frame pairs whose camera motion was fitted (count)")
    direction: Literal["left", "right", "up", "down", "in", "out"] | None = Field(
        None, description="where the camera goes for a pan, tilt or zoom (None for the other labels)"
    )
    dx_per_s: float | None = Field(None, description="median horizontal motion of the content, + right (widths/s)")
    dy_per_s: float | None = Field(None, description="median vertical motion of the content, + down (widths/s)")
    zoom_per_s: float | None = Field(None, description="median log of the scale change, + in (1/s)")
    rotation_deg_per_s: float | None = Field(None, description="median rotation, + clockwise on screen (degrees/s)")
    shake: float | None = Field(None, description="median jitter off the running median velocity (widths a pair)")
    motion_energy: float | None = Field(None, description="mean speed of verified tracks, camera and subjects (widths/s)")
    subject_motion: float | None = Field(None, description="mean share of tracks the camera motion does not explain (0-1)")


class CameraAnalysisSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    movement_share: dict[str, float] = Field(..., description="share of the shots' time per label (0-1 each)")
    mean_motion_energy: float | None = Field(
        ..., description="mean speed of the verified tracks of every measured pair (widths/s; None: none measured)"
    )
    motion_curve: list[float | None] = Field(
        ..., description="motion energy of the pairs ending in each second of the video (widths/s; None: unmeasured)"
    )
    shots_from: ShotsFrom = Field(..., description="where the shots came from: cut_analysis, or the whole video")
    split_screen: SplitScreen | None = Field(
        None, description="a split-screen layout from a persistent centre seam and independent halves (see its basis)"
    )


class CameraAnalysis(Analyzer):
    name = "camera_analysis"
    frames = FRAMES
    after = ("cut_analysis",)
    in_decoder = True
    summary_type = CameraAnalysisSummary
    segment_type = CameraAnalysisSegment

    def process_frames(self, batch: FrameBatch) -> np.ndarray:
        chosen = np.flatnonzero(first_in_step(batch.pts_s, batch.prev_pts_s, SAMPLE_STEP_S))
        frames = [batch.frames[i] for i in chosen]
        times = [float(batch.pts_s[i]) for i in chosen]
        # The frame before the batch pairs with its first measured frame: batches stay independent.
        if batch.prev_frame is not None:
            frames.insert(0, batch.prev_frame)
            times.insert(0, batch.prev_pts_s)
        grays = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
        trackable = [cv2.meanStdDev(gray)[1][0, 0] >= MIN_CONTRAST for gray in grays]
        pairs = np.zeros(max(0, len(grays) - 1), PAIR)
        for i in range(len(pairs)):
            motion = _pair_motion(grays[i], grays[i + 1]) if trackable[i] and trackable[i + 1] else None
            layout = (*seam_strengths(grays[i + 1]), *half_changes(grays[i], grays[i + 1]))
            pairs[i] = (times[i], times[i + 1], *(motion or UNMEASURED), *layout)
        pairs["energy"] /= np.maximum(pairs["t1"] - pairs["t0"], 1e-3)
        return pairs

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        pairs = np.concatenate(partials.frames)
        shots, transitions = shots_and_transitions(context.ok("cut_analysis"), (0.0, context.video.duration_s))
        # A pair overlapping a fade or dissolve measures a mix of pictures: no camera motion.
        clean = np.ones(len(pairs), bool)
        for start, end in transitions:
            clean &= (pairs["t1"] <= start + TIME_SLACK_S) | (pairs["t0"] >= end - TIME_SLACK_S)
        starts, ends = pairs["t0"], pairs["t1"]
        in_shot = [pairs[clean & (starts >= a - TIME_SLACK_S) & (ends < b - TIME_SLACK_S)] for a, b in shots]
        segments = [_shot_segment(i, start, end, in_shot[i]) for i, (start, end) in enumerate(shots)]

        kept = np.concatenate(in_shot)
        kept = kept[kept["valid"]]
        shares: dict[str, float] = {}
        total = sum(end - start for start, end in shots) or 1.0
        for segment in segments:
            shares[segment.label] = shares.get(segment.label, 0.0) + (segment.end_s - segment.start_s) / total
        return Findings(
            segments=segments,
            summary=CameraAnalysisSummary(
                movement_share={label: rounded(share, 3) for label, share in sorted(shares.items())},
                mean_motion_energy=rounded(kept["energy"].mean()) if len(kept) else None,
                motion_curve=_per_second(kept, context.video.duration_s),
                shots_from="cut_analysis" if context.ok("cut_analysis") else "whole_video",
                split_screen=split_screen(pairs),
            ),
        )


def _pair_motion(prev: np.ndarray, cur: np.ndarray) -> tuple | None:
    """(valid, dx, dy, log_scale, rotation, outliers, energy, apart_x, apart_y) of the camera
    between two grey frames, or None when too few corners can be followed."""
    corners = _spread_corners(prev)
    if len(corners) < MIN_TRACKS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, winSize=LK_WINDOW, maxLevel=LK_LEVELS)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(cur, prev, moved, None, winSize=LK_WINDOW, maxLevel=LK_LEVELS)
    round_trip = np.linalg.norm((back - corners).reshape(-1, 2), axis=1)
    kept = (status.ravel() == 1) & (back_status.ravel() == 1) & (round_trip < ROUND_TRIP_PX)
    start, end = corners[kept].reshape(-1, 2), moved[kept].reshape(-1, 2)
    if len(start) < MIN_TRACKS:
        return None
    fit, inliers = cv2.estimateAffinePartial2D(start, end, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if fit is None:
        return None
    width = prev.shape[1]
    # Translation of the frame centre, not of the origin: a zoom about the centre moves the
    # corner at (0, 0) but is no pan.
    centre = np.array([prev.shape[1] / 2, prev.shape[0] / 2, 1.0])
    shift = fit @ centre - centre[:2]
    scale = math.hypot(fit[0, 0], fit[1, 0])
    return (
        True,
        shift[0] / width,
        shift[1] / width,
        math.log(scale),
        math.atan2(fit[1, 0], fit[0, 0]),
        1.0 - float(inliers.mean()),
        float(np.linalg.norm(end - start, axis=1).mean()) / width,
        # What the camera's motion leaves of each track: halves of one picture leave the same.
        *halves_apart(start, end - (start @ fit[:, :2].T + fit[:, 2]), (width, prev.shape[0])),
    )


def _spread_corners(gray: np.ndarray) -> np.ndarray:
    """The strongest corners, at most CORNERS_PER_CELL per grid cell, as an (n, 1, 2) float32 array."""
    found = cv2.goodFeaturesToTrack(gray, maxCorners=300, qualityLevel=0.01, minDistance=5, blockSize=7)
    if found is None:
        return np.zeros((0, 1, 2), np.float32)
    height, width = gray.shape
    columns, rows = GRID if width >= height else GRID[::-1]
    xy = found.reshape(-1, 2)
    cells = (xy[:, 0] * columns // width).astype(int) * rows + (xy[:, 1] * rows // height).astype(int)
    # goodFeaturesToTrack returns corners strongest first: keep the first few of each cell.
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_cells, sorted_cells)
    return found[np.sort(order[rank < CORNERS_PER_CELL])]


def _shot_segment(index: int, start: float, end: float, pairs: np.ndarray) -> Segment:
    pairs = pairs[pairs["valid"]]
    if len(pairs) == 0:
        data = CameraAnalysisSegment(shot=index, measured_pairs=0)
        return Segment(start_s=start, end_s=end, label="unknown", confidence=0.0, data=data)
    dt = np.maximum(pairs["t1"] - pairs["t0"], 1e-3)
    dx, dy = float(np.median(pairs["dx"] / dt)), float(np.median(pairs["dy"] / dt))
    zoom = float(np.median(pairs["log_scale"] / dt))
    shake = _jitter(pairs, dt)
    measures = {"pan": dx, "tilt": dy, "zoom": zoom, "shake": shake}
    scores = {
        "pan": abs(dx) / PAN_MIN,
        "tilt": abs(dy) / PAN_MIN,
        "zoom": abs(zoom) / ZOOM_MIN,
        "shake": shake / SHAKE_MIN,
    }
    ranked = sorted(scores, key=scores.get, reverse=True)
    best, runner_up = scores[ranked[0]], max(scores[ranked[1]], 1.0)
    if best < 1.0:
        label, confidence = "static", 1.0 - best
    else:
        # How clearly the winner beats the next candidate, "static" (score 1) included.
        label, confidence = ranked[0], 1.0 - runner_up / best
    data = CameraAnalysisSegment(
        shot=index,
        measured_pairs=len(pairs),
        direction=DIRECTIONS.get((label, int(np.sign(measures[label])))) if label in ("pan", "tilt", "zoom") else None,
        dx_per_s=rounded(dx),
        dy_per_s=rounded(dy),
        zoom_per_s=rounded(zoom),
        rotation_deg_per_s=rounded(math.degrees(float(np.median(pairs["rotation"] / dt)))),
        shake=rounded(shake),
        motion_energy=rounded(pairs["energy"].mean()),
        subject_motion=rounded(pairs["outliers"].mean()),
    )
    return Segment(start_s=start, end_s=end, label=label, confidence=rounded(confidence, 3), data=data)


def _jitter(pairs: np.ndarray, dt: np.ndarray) -> float:
    """Median distance (frame widths) between each pair's displacement and the one the running
    median velocity predicts for its duration. The median, not the mean: one wild pair (a
    missed cut, a flash) is no shake."""
    if len(pairs) < 3:
        return 0.0
    steps = np.stack([pairs["dx"], pairs["dy"]], axis=1).astype(np.float64)
    velocity = steps / dt[:, None]
    half = max(1, int(round(JITTER_WINDOW_S / float(np.median(dt)) / 2)))
    padded = np.pad(velocity, ((half, half), (0, 0)), mode="edge")
    trend = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0), axis=2)
    return float(np.median(np.linalg.norm(steps - trend * dt[:, None], axis=1)))


def _per_second(pairs: np.ndarray, duration_s: float) -> list[float | None]:
    """Mean motion energy of the pairs ending in each second of the video (a sliver of a last
    second counts in the one before); None where none was measured."""
    seconds = whole_seconds(duration_s)
    which = second_of(pairs["t1"], seconds)
    curve: list[float | None] = []
    for second in range(seconds):
        energy = pairs["energy"][which == second]
        curve.append(rounded(energy.mean()) if len(energy) else None)
    return curve
