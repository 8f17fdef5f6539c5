"""background_segmentation: people versus background, and whether the background moves
(yolo11n-seg).

The ultralytics runtime (actors/yolo.py) gives, per sample and for the frame before each batch,
the union of the person masks (detections of tracking.CONFIDENCE or more) on a small grid
(actors.yolo.MASK_SIZE px on the longer side). Per sample: the share of pixels those masks
cover, and how much of the background changed since the sample before: on a grey copy of the
same grid, the share of pixels that are background in both samples and changed by more than
CHANGE_LEVEL grey levels. Pairs straddling a cut or touching a fade or dissolve are left out
(the shots of pipeline/analyzers/tracking.py). One segment per shot, labelled "static" (median
change under STATIC_BELOW), "moving", or "unknown" (no pair with enough background to measure);
data {shot, person_share, person_share_max, frames_with_people, background_change,
measured_pairs}.
Summary: person_share (mean over the samples), background_share {static, moving, unknown}
(share of shot time), frames_analysed, shots_from.

"moving" background does not say whether the camera or the scene moved (camera_analysis does),
and a uniform background (a plain wall) looks static however the camera moves.

green_screen (pipeline/analyzers/formats.py): the shots whose background stays still (under
formats.STILL_BELOW changed) behind a person who covers formats.PERSON_MIN of the picture and
moves (person_change per sample: the share of the person mask's pixels changed by CHANGE_LEVEL).
"""

from __future__ import annotations


import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.yolo import WEIGHTS, Found, mask_grid
from pipeline.analyzer import Context, Findings, FrameBatch, Partials, Skip
from pipeline.analyzers.formats import GreenScreen, green_screen
from pipeline.analyzers.shots import ShotsFrom, TIME_SLACK_S, rounded
from pipeline.analyzers.tracking import shot_of_samples, video_shots
from pipeline.analyzers.yolo_base import YoloAnalyzer
from pipeline.schema import Segment, SegmentData, Summary

CHANGE_LEVEL = 12  # grey levels: above compression noise after INTER_AREA averaging
MIN_BACKGROUND = 0.05  # share of the picture that must be background in both samples to measure
STATIC_BELOW = 0.1  # share of the background changed between samples

SAMPLE = np.dtype(  # the partial: one row per sample
    [
        ("t", "f8"),
        ("t_prev", "f8"),  # the sample before (NaN: none), whose background `change` is measured from
        ("person", "f4"),  # share of the picture covered by people
        ("people", "i4"),  # person detections of CONFIDENCE or more
        ("change", "f4"),  # share of the background changed since t_prev (NaN: not measured)
        ("person_change", "f4"),  # share of the people's pixels changed since t_prev (NaN: no person, or no t_prev)
    ]
)


class BackgroundSegmentationSegment(SegmentData):
    """One shot, labelled static, moving or unknown by how much its background changed."""

    model_config = ConfigDict(extra="forbid")

    shot: int = Field(..., description="index of the shot (from 0)")
    person_share: float | None = Field(..., description="mean share of the picture covered by people (0-1); None without a sample")
    person_share_max: float | None = Field(..., description="the largest such share in one sample (0-1); None without a sample")
    frames_with_people: int = Field(..., description="samples with a confident person (count)")
    background_change: float | None = Field(
        ..., description="median share of the background changed between consecutive samples (0-1); None unmeasured"
    )
    measured_pairs: int = Field(..., description="pairs of consecutive samples with enough background to measure (count)")


class BackgroundShare(BaseModel):
    """How the shots' time divides by what their background did."""

    model_config = ConfigDict(extra="forbid")

    static: float = Field(..., description="share of shot time with a static background (0-1)")
    moving: float = Field(..., description="share of shot time with a moving background (0-1)")
    unknown: float = Field(..., description="share of shot time whose background could not be measured (0-1)")


class BackgroundSegmentationSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    person_share: float | None = Field(..., description="share of the picture covered by people, mean over the samples (0-1)")
    background_share: BackgroundShare = Field(..., description="share of shot time per background kind")
    frames_analysed: int = Field(..., description="samples the model read (count)")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots came from: cut_analysis, or the whole video as one shot"
    )
    green_screen: GreenScreen | None = Field(
        None, description="a green-screen-style explainer: a moving person over a still background (see its basis)"
    )


class BackgroundSegmentation(YoloAnalyzer):
    """People versus background (YOLO11n-seg masks), and whether each shot's background moves."""

    name = "background_segmentation"
    weights = (WEIGHTS["segment"],)
    summary_type = BackgroundSegmentationSummary
    segment_type = BackgroundSegmentationSegment
    reads_frame_before = True  # the first sample's change is measured from the frame before the batch

    def process_frames(self, batch: FrameBatch, predicted: dict[str, Found]) -> np.ndarray:
        found = predicted[self.name].frames
        offset = len(found) - len(batch.frames)  # 1 when the frame before the batch leads
        frames = [batch.prev_frame] * offset + list(batch.frames)
        greys = [_grey(frame) for frame in frames]
        times = np.concatenate([[np.nan if batch.prev_pts_s is None else batch.prev_pts_s], batch.pts_s])
        rows = np.zeros(len(batch.frames), SAMPLE)
        for i in range(len(batch.frames)):
            k = i + offset
            before, now = found[k - 1]["person"], found[k]["person"]
            change = background_change(greys[k - 1], greys[k], before, now) if k else np.nan
            moved = person_change(greys[k - 1], greys[k], now) if k else np.nan
            rows[i] = (batch.pts_s[i], times[i], now.mean(), found[k]["people"], change, moved)
        return rows

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        samples = np.concatenate(partials.frames)
        shots = video_shots(context)
        shot_of = shot_of_samples(samples["t"], shots.shots)
        prev_shot = shot_of_samples(samples["t_prev"], shots.shots)
        # A pair measures the background only inside one shot, away from fades and dissolves.
        clean = (shot_of == prev_shot) & np.isfinite(samples["change"])
        for start, end in shots.transitions:
            clean &= (samples["t"] <= start + TIME_SLACK_S) | (samples["t_prev"] >= end - TIME_SLACK_S)
        segments, shot_rows, shot_pairs = [], [], []
        kind_time = dict.fromkeys(("static", "moving", "unknown"), 0.0)
        for i, (start, end) in enumerate(shots.shots):
            here = samples[shot_of == i]
            pairs = samples["change"][clean & (shot_of == i)]
            shot_rows.append(samples[clean & (shot_of == i)])
            shot_pairs.append(pairs)
            change = float(np.median(pairs)) if len(pairs) else None
            kind = "unknown" if change is None else "static" if change < STATIC_BELOW else "moving"
            kind_time[kind] += end - start
            data = BackgroundSegmentationSegment(
                shot=i,
                person_share=rounded(here["person"].mean()) if len(here) else None,
                person_share_max=rounded(here["person"].max()) if len(here) else None,
                frames_with_people=int((here["people"] > 0).sum()),
                background_change=rounded(change),
                measured_pairs=len(pairs),
            )
            segments.append(Segment(start_s=rounded(start), end_s=rounded(end), label=kind, data=data))
        total = sum(kind_time.values())
        return Findings(
            segments=segments,
            summary=BackgroundSegmentationSummary(
                person_share=rounded(samples["person"].mean()),
                background_share=BackgroundShare(**{k: rounded(t / total, 3) if total else 0.0 for k, t in kind_time.items()}),
                frames_analysed=len(samples),
                shots_from=shots.shots_from,
                green_screen=green_screen(shot_rows, shots.shots, shot_pairs),
            ),
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


def person_change(grey_before: np.ndarray, grey: np.ndarray, people: np.ndarray) -> float:
    """Share of the pixels under the person mask whose grey level changed by more than
    CHANGE_LEVEL (NaN: no person): a person who talks and gestures changes, a photo does not."""
    if not people.any():
        return np.nan
    return float((cv2.absdiff(grey, grey_before)[people] > CHANGE_LEVEL).mean())


def _grey(frame: np.ndarray) -> np.ndarray:
    """The frame in grey on its mask grid (the masks' pixels)."""
    h, w = mask_grid(frame.shape[:2])
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA)
