"""Shot boundaries: hard cuts, fades through black and dissolves, from every frame at 256 px.

`process_frames` measures each frame (a regular quarter of its pixels) and its change from the
frame before, so any worker can take any batch; `finalize` makes every decision that needs the
sequence:

  cut       a frame whose content score (PySceneDetect's ContentDetector: mean absolute H, S, V
            difference from the previous frame, here with hue compared around its circle) is high
            and at least CUT_RATIO times the mean score of its neighbours (AdaptiveDetector's
            rolling ratio), and MIN_SHOT_S or more after the previous cut.
  fade      a run of black frames (mean brightness under BLACK_LEVEL, as ThresholdDetector) with
            the brightness ramps into and out of it. Between two shots the boundary is the middle of
            the black run; a fade that opens or closes the video starts or ends no shot.
  dissolve  the colour histogram changes as much as at a cut between frames DISSOLVE_LAG_S apart,
            with no cut or fade there, and some frames look like neither shot (a mix). The boundary
            is the middle of the mixed frames. With no mixed frame the change was abrupt: a cut that
            camera motion hid from the content score, placed at the first frame nearer the new shot.

Segments, all times from presentation timestamps:
  "shot"      one per shot, tiling the video from its first frame to the end of its last;
              data {index, transition_in, transition_out}, each "cut" | "fade" | "dissolve" | None,
              and thumbnail_jpeg: the kept frame nearest the shot's middle (THUMB_FPS frames a
              second are kept from the one decode), THUMB_SIZE px on its long side, base64 JPEG.
  transition  one per transition, labelled "cut" (instant: start_s == end_s == the first frame of
              the new shot), "dissolve", "fade" (through black, between two shots), "fade_in"
              (opens the video) or "fade_out" (closes it). It spans the frames that belong to
              neither shot; data {kind, from_shot, to_shot, ...}: a cut says what found it
              ("content": score and ratio; "histogram": change), a fade its fade_out_s, black_s
              and fade_in_s.
Summary: shot_count, hard_cut_count and gradual_count (the shot boundaries that are cuts, and
fades or dissolves), cuts_per_minute (every shot boundary), average_shot_length_s,
opens_with_fade, closes_with_fade.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, FrameBatch, FrameSpec, Findings, Partials, Skip
from pipeline.analyzers.shots import rounded
from pipeline.schema import Segment, SegmentData, Summary

FRAME_SIZE = 256
FRAMES = FrameSpec(fps=None, size=FRAME_SIZE)  # every frame; analyzers that read the same frames import this

CUT_MIN_SCORE = 15.0  # AdaptiveDetector's min_content_val
CUT_RATIO = 3.0  # AdaptiveDetector's adaptive_threshold: score over the mean score of its neighbours
CUT_WINDOW = 2  # neighbours on each side (AdaptiveDetector's window_width)
MIN_SHOT_S = 0.5  # ContentDetector's 15 frames at 30 fps: a flash must not make two cuts
BLACK_LEVEL = 16.0  # mean V (0-255) under which a frame is black; ThresholdDetector uses 12 on mean RGB
FADE_STEP = 0.25  # brightness change per frame that still counts as a fade ramp
DISSOLVE_LAG_S = 0.5  # half the span over which a dissolve must change the picture as much as a cut
DISSOLVE_MIN_CHANGE = 0.5  # histogram distance (0-1) of a transition; pans, zooms, shakes stayed near 0.3
DISSOLVE_MIX = 0.25  # a frame this far from both shots' histograms is a mix of the two
HIST_BINS = (8, 4, 4)  # hue, saturation, value
PIXEL_STEP = 2  # every other row and column: a quarter of the pixels gives the same means and histograms
THUMB_FPS = 4.0  # keyframe candidates a second: a shot of MIN_SHOT_S holds two, at a few KB each
THUMB_SIZE = 160  # a thumbnail's long side (px)
THUMB_QUALITY = 70  # JPEG quality (0-100)


def sampled_hsv(frames: np.ndarray) -> np.ndarray:
    """HSV of a regular quarter of each frame's pixels: what every measure here averages over."""
    return hsv_frames(np.ascontiguousarray(frames[:, ::PIXEL_STEP, ::PIXEL_STEP]))


def hsv_frames(frames: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) RGB -> HSV (OpenCV's 8-bit ranges: hue 0-179), in one OpenCV call."""
    n, h, w, _ = frames.shape
    return cv2.cvtColor(frames.reshape(n * h, w, 3), cv2.COLOR_RGB2HSV).reshape(n, h, w, 3)


def colour_histograms(hsv: np.ndarray) -> np.ndarray:
    """(n, 128) float16 HSV histograms, each summing to 1."""
    pixels = hsv.shape[1] * hsv.shape[2]
    hists = [cv2.calcHist([frame], [0, 1, 2], None, HIST_BINS, [0, 180, 0, 256, 0, 256]).ravel() for frame in hsv]
    return (np.stack(hists) / pixels).astype(np.float16)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of pixels whose colour bin differs (total variation), 0-1, along the last axis."""
    return 0.5 * np.abs(a.astype(np.float32) - b).sum(axis=-1)


def content_scores(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """ContentDetector's score per frame: mean |delta| over H, S and V, hue taken the short way
    round its circle (a plain difference puts reds at hue 2 and 178 as far apart as can be)."""
    n, h, w, _ = current.shape
    diff = cv2.absdiff(previous.reshape(n * h, w, 3), current.reshape(n * h, w, 3)).reshape(n, h, w, 3)
    np.minimum(diff[..., 0], 180 - diff[..., 0], out=diff[..., 0])
    return np.array([sum(cv2.mean(frame)[:3]) / 3 for frame in diff], np.float32)


def frame_times(pts: np.ndarray, fps: float | None) -> np.ndarray:
    """times[i]: frame i's presentation time; times[n]: the end of the last frame, one typical
    frame interval after it (the container's rate when there is a single frame)."""
    interval = float(np.median(np.diff(pts))) if len(pts) > 1 else (1.0 / fps if fps else 0.0)
    return np.append(pts, pts[-1] + interval)


def thumbnail_candidates(pts: np.ndarray, prev_pts: float | None) -> np.ndarray:
    """Indices of the frames kept as keyframe candidates: the first frame at or after each tick of
    THUMB_FPS (and the video's first frame). Each frame is judged against the one before it only,
    so every split of the video into batches keeps the same frames."""
    before = np.concatenate([[-np.inf if prev_pts is None else prev_pts], pts[:-1]])
    return np.flatnonzero(np.ceil(pts * THUMB_FPS - 1e-9) > np.ceil(before * THUMB_FPS - 1e-9))


def jpeg_thumbnail(frame: np.ndarray) -> bytes:
    """An RGB frame as a JPEG of THUMB_SIZE px on its long side (never upscaled)."""
    h, w = frame.shape[:2]
    scale = min(1.0, THUMB_SIZE / max(h, w))
    small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY]
    )
    assert ok, "OpenCV could not encode a JPEG"
    return encoded.tobytes()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


Boundary = Literal["cut", "fade", "dissolve"]


class CutAnalysisSegment(SegmentData):
    """A "shot" or a transition ("cut", "dissolve", "fade", "fade_in", "fade_out"): the fields of
    the other kind are None, and a transition has only the fields of what found it."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, description="shot: its position among the shots, from 0")
    transition_in: Boundary | None = Field(None, description="shot: how it begins (None: it opens the video, no fade)")
    transition_out: Boundary | None = Field(None, description="shot: how it ends (None: it closes the video, no fade)")
    kind: Boundary | None = Field(None, description="transition: cut, dissolve or fade (fade_in, fade_out: fade)")
    from_shot: int | None = Field(None, description="transition: the shot it leaves (None: it opens the video)")
    to_shot: int | None = Field(None, description="transition: the shot it enters (None: it closes the video)")
    detected_by: Literal["content", "histogram"] | None = Field(
        None, description="cut: the content score found it, or the histogram change across a hidden cut"
    )
    score: float | None = Field(None, description="content cut: mean |H, S, V| change from the frame before (0-255)")
    ratio: float | None = Field(None, description="content cut: the score over its neighbours' mean (x, at most 255)")
    change: float | None = Field(None, description="histogram cut: share of pixels whose colour bin changed (0-1)")
    fade_out_s: float | None = Field(None, description="fade: the darkening into the black (s)")
    black_s: float | None = Field(None, description="fade: the black frames (s)")
    fade_in_s: float | None = Field(None, description="fade: the brightening out of the black (s)")
    thumbnail_jpeg: str | None = Field(
        None,
        description=f"shot: its keyframe, the decoded frame nearest its middle among {THUMB_FPS:g} a second, "
        f"as a JPEG of at most {THUMB_SIZE} px on its long side, base64 (standard alphabet, padded)",
        json_schema_extra={"contentMediaType": "image/jpeg", "contentEncoding": "base64"},
    )


class CutAnalysisSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    shot_count: int = Field(..., description="shots, tiling the video (count)")
    hard_cut_count: int = Field(..., description="shot boundaries that are cuts (count)")
    gradual_count: int = Field(..., description="shot boundaries that are fades or dissolves (count)")
    cuts_per_minute: float = Field(..., description="every shot boundary, per minute of video (1/min)")
    average_shot_length_s: float = Field(..., description="the video's span over its shots (s)")
    opens_with_fade: bool = Field(..., description="the video fades in from black")
    closes_with_fade: bool = Field(..., description="the video fades out to black")


@dataclass
class _Transition:
    kind: str  # cut | fade | fade_in | fade_out | dissolve
    first: int  # first frame of the transition (a cut: the new shot's first frame)
    end: int  # first frame after it: the incoming shot's first clean frame, or n
    boundary: int | None  # first frame of the incoming shot; None where no shot starts (fade_in, fade_out)
    data: dict[str, Any] = field(default_factory=dict)  # CutAnalysisSegment's fields of what found it


class CutAnalysis(Analyzer):
    name = "cut_analysis"
    frames = FRAMES
    in_decoder = True
    summary_type = CutAnalysisSummary
    segment_type = CutAnalysisSegment

    def process_frames(self, batch: FrameBatch) -> dict[str, np.ndarray]:
        hsv = sampled_hsv(batch.frames)
        before = sampled_hsv(batch.prev_frame[None]) if batch.prev_frame is not None else hsv[:1]
        return {
            "pts": batch.pts_s,
            "content": content_scores(np.concatenate([before, hsv[:-1]]), hsv),
            "brightness": np.array([cv2.mean(frame)[2] for frame in hsv], np.float32),  # mean V
            "hist": colour_histograms(hsv),
            **self._thumbnails(batch),
        }

    @staticmethod
    def _thumbnails(batch: FrameBatch) -> dict[str, Any]:
        kept = thumbnail_candidates(batch.pts_s, batch.prev_pts_s)
        return {"thumb_pts": batch.pts_s[kept], "thumbs": [jpeg_thumbnail(batch.frames[i]) for i in kept]}

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        pts, content, brightness, hist = (
            np.concatenate([p[key] for p in partials.frames]) for key in ("pts", "content", "brightness", "hist")
        )
        times = frame_times(pts, context.video.fps)
        interval = times[-1] - times[-2]

        fades = _fades(brightness, times)
        cuts = _cuts(content, pts, fades)
        lag = max(1, round(DISSOLVE_LAG_S / interval)) if interval > 0 else 1
        transitions = sorted(fades + cuts + _dissolves(hist, lag, fades + cuts), key=lambda t: t.first)
        thumb_pts = np.concatenate([p["thumb_pts"] for p in partials.frames])
        thumbs = [jpeg for p in partials.frames for jpeg in p["thumbs"]]
        return _findings(transitions, times, thumb_pts, thumbs)


def _cuts(content: np.ndarray, pts: np.ndarray, fades: list[_Transition]) -> list[_Transition]:
    """AdaptiveDetector's test on every frame at once, then the minimum shot length in order."""
    if len(content) < 2:
        return []
    padded = np.pad(content.astype(np.float64), CUT_WINDOW, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * CUT_WINDOW + 1).copy()
    windows[:, CUT_WINDOW] = np.nan
    neighbours = np.nanmean(windows, axis=1)
    ratio = content / np.maximum(neighbours, 1e-6)
    in_fade = np.zeros(len(content), bool)
    for fade in fades:
        in_fade[fade.first : fade.end + 1] = True
    cuts: list[_Transition] = []
    last = -np.inf
    for i in np.flatnonzero((content >= CUT_MIN_SCORE) & (ratio >= CUT_RATIO) & ~in_fade):
        if pts[i] - last >= MIN_SHOT_S:
            score, rise = rounded(content[i], 2), rounded(min(ratio[i], 255.0), 2)
            data = {"detected_by": "content", "score": score, "ratio": rise}
            cuts.append(_Transition("cut", int(i), int(i), int(i), data))
            last = pts[i]
    return cuts


def _fades(brightness: np.ndarray, times: np.ndarray) -> list[_Transition]:
    """Each run of black frames, widened by the frames that darken into it and brighten out of it."""
    black = brightness < BLACK_LEVEL
    if black.all():  # nothing to fade from or to
        return []
    n = len(brightness)
    fades = []
    for start, stop in _runs(black):
        first = start
        while first >= 2 and brightness[first - 1] < brightness[first - 2] - FADE_STEP:
            first -= 1
        end = stop
        while end + 1 < n and brightness[end] < brightness[end + 1] - FADE_STEP:
            end += 1
        kind = "fade_in" if start == 0 else "fade_out" if stop == n else "fade"
        data = {
            "fade_out_s": rounded(times[start] - times[first]),
            "black_s": rounded(times[stop] - times[start]),
            "fade_in_s": rounded(times[end] - times[stop]),
        }
        fades.append(_Transition(kind, first, end, (start + stop) // 2 if kind == "fade" else None, data))
    return fades


def _dissolves(hist: np.ndarray, lag: int, taken: list[_Transition]) -> list[_Transition]:
    """Where frames `lag` apart differ like two shots, between the cuts and fades already found."""
    n = len(hist)
    index = np.arange(n)
    across = histogram_distance(hist[np.minimum(index + lag, n - 1)], hist[np.maximum(index - lag, 0)])
    changing = across >= DISSOLVE_MIN_CHANGE
    for t in taken:  # split the changing runs there, so that each piece holds at most one more transition
        changing[t.first : t.end + 1] = False
    found = []
    for r0, r1 in _runs(changing):
        # The piece's edges sit on the outgoing and the incoming shot: compare every frame to both.
        to_before = histogram_distance(hist[r0:r1], hist[r0])
        to_after = histogram_distance(hist[r0:r1], hist[r1 - 1])
        if to_before[-1] < DISSOLVE_MIN_CHANGE:  # one shot on both sides: its neighbours' change reached in
            continue
        mixed = np.flatnonzero(np.minimum(to_before, to_after) >= DISSOLVE_MIX)
        if mixed.size:
            first, end = r0 + int(mixed[0]), r0 + int(mixed[-1]) + 1
            found.append(_Transition("dissolve", first, end, (first + end) // 2))
        else:
            cut = r0 + int(np.argmax(to_after < to_before))
            data = {"detected_by": "histogram", "change": rounded(to_before[-1], 3)}
            found.append(_Transition("cut", cut, cut, cut, data))
    return found


def _keyframe(start_s: float, end_s: float, thumb_pts: np.ndarray, thumbs: list[bytes]) -> str | None:
    """The kept frame nearest the middle of [start_s, end_s), one inside it when there is one."""
    if not thumbs:
        return None
    inside = (thumb_pts >= start_s) & (thumb_pts < end_s)
    distance = np.abs(thumb_pts - (start_s + end_s) / 2) + np.where(inside, 0.0, np.inf if inside.any() else 0.0)
    return base64.b64encode(thumbs[int(np.argmin(distance))]).decode("ascii")


def _findings(
    transitions: list[_Transition], times: np.ndarray, thumb_pts: np.ndarray, thumbs: list[bytes]
) -> Findings:
    """Shots between the boundaries, then the transitions, each naming the shots it joins."""
    n = len(times) - 1
    kind_of = {"cut": "cut", "dissolve": "dissolve", "fade": "fade", "fade_in": "fade", "fade_out": "fade"}
    starts = [0]
    entering: list[str | None] = [None]
    leaving: list[str | None] = []
    transition_segments = []
    for t in transitions:
        shot = len(starts) - 1
        if t.kind == "fade_in":
            joins = {"from_shot": None, "to_shot": 0}
            entering[0] = "fade"
        elif t.kind == "fade_out":
            joins = {"from_shot": shot, "to_shot": None}
        else:
            joins = {"from_shot": shot, "to_shot": shot + 1}
            starts.append(t.boundary)
            leaving.append(kind_of[t.kind])
            entering.append(kind_of[t.kind])
        data = CutAnalysisSegment(kind=kind_of[t.kind], **joins, **t.data)
        span = {"start_s": rounded(times[t.first]), "end_s": rounded(times[t.end])}
        transition_segments.append(Segment(**span, label=t.kind, data=data))
    leaving.append("fade" if any(t.kind == "fade_out" for t in transitions) else None)

    ends = starts[1:] + [n]
    shots = [
        Segment(
            start_s=rounded(times[start]),
            end_s=rounded(times[end]),
            label="shot",
            data=CutAnalysisSegment(
                index=i,
                transition_in=entering[i],
                transition_out=leaving[i],
                thumbnail_jpeg=_keyframe(times[start], times[end], thumb_pts, thumbs),
            ),
        )
        for i, (start, end) in enumerate(zip(starts, ends))
    ]
    duration = float(times[-1] - times[0])
    hard = sum(1 for t in transitions if t.kind == "cut")
    return Findings(
        segments=shots + transition_segments,
        summary=CutAnalysisSummary(
            shot_count=len(shots),
            hard_cut_count=hard,
            gradual_count=len(shots) - 1 - hard,
            cuts_per_minute=rounded((len(shots) - 1) / (duration / 60.0), 2) if duration > 0 else 0.0,
            average_shot_length_s=rounded(duration / len(shots), 3),
            opens_with_fade=entering[0] == "fade",
            closes_with_fade=leaving[-1] == "fade",
        ),
    )
