"""Colour per shot: dominant palette, brightness, saturation and warmth.

Frames are cut_analysis's (every frame at 256 px, decoded and resized once for all who read
them); the first frame of each SAMPLE_STEP_S of video time is measured, on a strided sample of
its pixels.

    brightness  mean luma (Rec. 709 weights on the RGB values) / 255, in 0..1
    saturation  mean HSV saturation (max - min) / max, in 0..1; black pixels count as 0
    warmth      mean (R - B) / 255, in -1..1: > 0 leans red/orange/yellow, < 0 leans blue.
                A balance of the picture's colours, not a colour temperature in kelvin:
                a white-balanced grey scene reads 0 whatever light it was shot in.
    palette     k-means (k = 5, in CIE Lab so that distances follow perception) on the pixels
                of up to PALETTE_FRAMES frames spread over the shot; each colour with its hex,
                share of the pixels and a coarse name. Sorted by share; the segment's label is
                the name of the first.

Shots come from cut_analysis (the whole video when it did not succeed); frames inside its fades
and dissolves count for no shot. A shot with no frame of its own (shorter than the sampling
step, or all transition) gets no segment. The summary gives the same measures over every
measured frame outside transitions (palette from up to SUMMARY_PALETTE_FRAMES of them).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, Partials, Skip
from pipeline.analyzers.cuts import FRAMES
from pipeline.analyzers.shots import during, first_in_step, outside, rounded, shots_and_transitions
from pipeline.schema import Segment, SegmentData, Summary

SAMPLE_STEP_S = 0.2

STATS_STRIDE = 4  # every 4th pixel each way: ~2,300 pixels of a 256x144 frame for the means
PALETTE_STRIDE = 8  # ~580 pixels a frame kept for the palette
PALETTE_FRAMES = 8  # frames per shot whose pixels are clustered
PALETTE_SIZE = 5
SUMMARY_PALETTE_FRAMES = 16

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)

# Hue ranges (degrees) of the coarse colour names, checked in order.
HUE_NAMES = (
    (15, "red"),
    (45, "orange"),
    (70, "yellow"),
    (165, "green"),
    (195, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (345, "pink"),
    (360, "red"),
)


class PaletteColour(BaseModel):
    """One colour of a palette."""

    model_config = ConfigDict(extra="forbid")

    hex: str = Field(..., description="the cluster centre as #rrggbb (sRGB)")
    share: float = Field(..., description="share of the clustered pixels nearest it (0-1)")
    name: str = Field(..., description="a coarse English colour name (red, brown, gray …)")


class ColorAnalysisSegment(SegmentData):
    """One shot with a frame of its own; labelled with its first palette colour's name."""

    model_config = ConfigDict(extra="forbid")

    shot: int = Field(..., description="cut_analysis's index of the shot")
    palette: list[PaletteColour] = Field(
        ..., description=f"up to {PALETTE_SIZE} main colours (k-means in CIE Lab) of up to {PALETTE_FRAMES} frames, by share"
    )
    brightness: float = Field(..., description="mean Rec. 709 luma of the RGB values (0-1)")
    saturation: float = Field(..., description="mean HSV saturation (max - min) / max, black as 0 (0-1)")
    warmth: float = Field(..., description="mean (R - B) / 255: > 0 leans red-orange-yellow, < 0 blue (-1..1)")


class ColorAnalysisSummary(Summary):
    """The segments' measures over every measured frame outside fades and dissolves."""

    model_config = ConfigDict(extra="forbid")

    frames: int = Field(..., description="measured frames the figures cover (count)")
    palette: list[PaletteColour] = Field(
        ..., description=f"up to {PALETTE_SIZE} dominant colours of up to {SUMMARY_PALETTE_FRAMES} of them, by share"
    )
    brightness: float = Field(..., description="mean Rec. 709 luma (0-1)")
    saturation: float = Field(..., description="mean HSV saturation (0-1)")
    warmth: float = Field(..., description="mean (R - B) / 255 (-1..1)")


class ColorAnalysis(Analyzer):
    name = "color_analysis"
    frames = FRAMES
    after = ("cut_analysis",)
    in_decoder = True
    summary_type = ColorAnalysisSummary
    segment_type = ColorAnalysisSegment

    def process_frames(self, batch: FrameBatch) -> dict[str, np.ndarray]:
        chosen = first_in_step(batch.pts_s, batch.prev_pts_s, SAMPLE_STEP_S)
        frames = batch.frames[chosen]
        sample = frames[:, ::STATS_STRIDE, ::STATS_STRIDE].astype(np.float32) / 255.0
        high, low = sample.max(axis=3), sample.min(axis=3)
        saturation = np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)
        pixels = np.ascontiguousarray(frames[:, ::PALETTE_STRIDE, ::PALETTE_STRIDE])
        return {
            "t": batch.pts_s[chosen],
            "brightness": (sample @ LUMA).mean(axis=(1, 2)),
            "saturation": saturation.mean(axis=(1, 2)),
            "warmth": (sample[..., 0] - sample[..., 2]).mean(axis=(1, 2)),
            # Shape spelled out: a batch with no new sample (all inside the step) has zero frames.
            "pixels": pixels.reshape(len(frames), pixels.shape[1] * pixels.shape[2], 3),
        }

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        frames = {key: np.concatenate([p[key] for p in partials.frames]) for key in partials.frames[0]}
        segments = []
        shots, transitions = shots_and_transitions(context.ok("cut_analysis"), (0.0, context.video.duration_s))
        clean = outside(frames["t"], transitions)  # frames of a fade or dissolve are a mix: no shot's colours
        for index, (start, end) in enumerate(shots):
            inside = np.flatnonzero(clean & during(frames["t"], (start, end)))
            if len(inside) == 0:
                continue
            data = ColorAnalysisSegment(shot=index, **_looks(frames, inside, PALETTE_FRAMES))
            segments.append(Segment(start_s=start, end_s=end, label=data.palette[0].name, data=data))
        own = np.flatnonzero(clean) if clean.any() else np.arange(len(frames["t"]))
        summary = ColorAnalysisSummary(frames=len(own), **_looks(frames, own, SUMMARY_PALETTE_FRAMES))
        return Findings(segments=segments, summary=summary)


def _looks(frames: dict[str, np.ndarray], which: np.ndarray, palette_frames: int) -> dict[str, Any]:
    """Palette and mean brightness, saturation, warmth of the frames at positions `which`: the
    fields a segment and the summary share."""
    spread = which[np.linspace(0, len(which) - 1, min(palette_frames, len(which))).round().astype(int)]
    return {
        "palette": _palette(frames["pixels"][spread].reshape(-1, 3)),
        "brightness": rounded(frames["brightness"][which].mean(), 3),
        "saturation": rounded(frames["saturation"][which].mean(), 3),
        "warmth": rounded(frames["warmth"][which].mean(), 3),
    }


def _palette(pixels: np.ndarray) -> list[PaletteColour]:
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float32)
    k = min(PALETTE_SIZE, len(lab))
    cv2.setRNGSeed(0)  # k-means++ seeding draws from OpenCV's RNG: the same frames give the same palette
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centres = cv2.kmeans(lab, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    lab_centres = centres.round().clip(0, 255).astype(np.uint8).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(lab_centres, cv2.COLOR_Lab2RGB).reshape(-1, 3)
    # A picture with fewer distinct colours than k gets repeated centres: one entry per colour.
    shares: dict[tuple[int, ...], float] = {}
    for colour, count in zip(map(tuple, rgb.tolist()), counts / counts.sum()):
        shares[colour] = shares.get(colour, 0.0) + float(count)
    return [
        PaletteColour(hex="#{:02x}{:02x}{:02x}".format(*colour), share=rounded(share, 3), name=color_name(colour))
        for colour, share in sorted(shares.items(), key=lambda item: -item[1])
        if share > 0
    ]


def color_name(rgb: np.ndarray) -> str:
    """A coarse English name for an RGB colour, from its HSV hue, saturation and value."""
    hsv = cv2.cvtColor(np.asarray(rgb, np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2HSV_FULL)[0, 0]
    hue, saturation, value = hsv / [255 / 360, 255, 255]
    hue %= 360  # OpenCV's full-range hue reaches 255, which is 360 degrees: red again
    if value < 0.2:
        return "black"
    if saturation < 0.25:
        return "white" if value > 0.8 else "gray"
    name = next(name for limit, name in HUE_NAMES if hue < limit)
    if name == "orange" and value < 0.6:
        return "brown"
    return name
