"""text_overlay: text burned into the picture (captions, titles, credits, watermarks), read by
OCR and followed over time as text tracks.

Frames are sampled at SAMPLE_FPS, FRAME_SIZE px on the long side. OCR is the expensive step
(about 0.1 s a frame on one core for rapidocr), so only the frames whose picture changed are
read (`frames_to_read`, which the ocr runtime asks before it reads): each frame's grayscale thumbnail (THUMB_SIDE px) is compared with that of the
last frame read, and a frame where fewer than CHANGE_PIXELS thumbnail pixels moved by
CHANGE_LEVEL grey levels keeps that frame's text without being read. A changed frame with no
contrast at all (black, a flat colour) has no text and is not read either. The comparison stays
inside a batch (the first frame of a batch is compared with `batch.prev_frame`, and when alike
inherits whatever text that frame turns out to have), so any worker may take any batch. Still
shots cost one read each; camera motion, fades and dissolves change every pixel, so each of
their samples is read (testvideo.mp4: 17 of 48 samples). A text change on a still picture is
seen when it moves CHANGE_PIXELS thumbnail pixels: one letter changed in a line of capitals 8 px
high at FRAME_SIZE (smaller than OCR reads) moved 2 to 6 of them, at 14 px 4 to 17.

Each frame's pieces on one text row are joined into lines (readers split a line differently
from frame to frame), and `finalize` follows the lines across the samples as text tracks with
rules that hold for any reader (pipeline/analyzers/text_tracks.py): a line continues a track when
it reads the same, or nearly the same or a piece of it in the same region, with the same
numbers ("Frame = 1" and "Frame = 6" are two texts; a stray "0" for a "©" is not another);
a track survives one sample where OCR missed it; its text is the confidence-weighted medoid of
its readings; fragments of one or two characters readable for under a second and tracks read
with a mean score under 0.6 are dropped.

The reader (settings.text_overlay.reader; by default EasyOCR when its weights are here, else
rapidocr on the CPU) is the ocr family's runtime (actors/ocr.py): `process_frames` gets what it
read and joins the rows.

Segments, one per text track, label "text", times from presentation timestamps at the
sampling's resolution: start_s is the first sample showing the text, end_s the first sample
no longer showing it (the end of the video if none), so a text shown between two samples is
missed and an end is late by up to one sample interval (0.5 s).
data: text (the confidence-weighted medoid reading), position ("top",
"centre" or "caption_band", from the line's vertical centre), is_caption, persistent, box
[x0, y0, x1, y1] as fractions of the frame (median over the samples), samples (how many
samples showed it). confidence: the mean recognition score.

is_caption is a heuristic on position and time only: a line in the caption band that stays at
least CAPTION_MIN_S and is not `persistent` (its text, in its region, on screen for
PERSISTENT_SHARE of the video or more, counting every track of it when OCR lost it for a while:
a credit, handle or watermark rather than a caption) nor inside a persistent track's box (a
misreading of the watermark). It cannot tell a caption from a
lower-third name tag, does not check sync with speech, and word-by-word captions that change
every sample are too short to count. Lines are tracked one by one: a two-line caption is two
tracks. Text moving across the frame stays one track only while it reads the same.

Summary: backend, sample_fps, frames_sampled, frames_read (OCR ran), text_track_count,
caption_track_count, has_captions, text_coverage and caption_coverage (share of the video's
time with any text / a caption on screen), texts (distinct texts in order of appearance),
persistent_texts, and watermark: a platform's mark (a track reading "TikTok", "Reels",
"YouTube Shorts" and little else: text_tracks.platform_mark) with the @handle read alongside it
(in the mark's line, else the handle track on screen longest with it) and the spans it shows;
the platform with the most time on screen when there are several. Only what OCR reads counts: a
logo without its name, or a name in a font OCR cannot read, is not seen, and any text that
reads just "TikTok" counts as its mark.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.ocr import EASYOCR_WEIGHTS, Read, ReadPlan, chosen_reader
from pipeline.analyzer import Analyzer, Context, Findings, FrameBatch, FrameSpec, Partials, Resources, Skip
from pipeline.analyzers.shots import rounded
from pipeline.analyzers.text_tracks import (
    BOX_OVERLAP,
    Box,
    Line,
    follow,
    handle_in,
    join_rows,
    overlap,
    persistent,
    platform_mark,
    stable,
)
from pipeline.schema import Segment, SegmentData, Summary
from pipeline.settings import Settings

SAMPLE_FPS = 2.0
FRAME_SIZE = 960  # recognition reads the detected lines from these frames (actors/ocr.py: legibility)

THUMB_SIDE = 480  # change detection: half of FRAME_SIZE still sees one letter of a 14 px line change
CHANGE_LEVEL = 12  # grey levels a thumbnail pixel must move for the frame to count as changed
CHANGE_PIXELS = 2  # ... in at least this many pixels (one pixel is compression noise)
BLANK_RANGE = 12  # a thumbnail whose grey levels span less than this shows no text

TOP_BAND = 1 / 3  # a line whose centre is above this fraction of the height is "top"
CAPTION_BAND = 0.6  # ... below this fraction, in the caption band
CAPTION_MIN_S = 1.0
PERSISTENT_SHARE = 0.8
MAX_LISTED_TEXTS = 50

# EasyOCR's CRAFT on DETECT_CHUNK frames (an estimate from the activation sizes, not measured on a
# GPU), its 0.1 GB of weights and the CUDA context. rapidocr runs on the CPU: no GPU memory.
EASYOCR_GPU_GB = 2.0

Position = Literal["top", "centre", "caption_band"]


class TextOverlaySegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="the track's confidence-weighted medoid reading")
    position: Position = Field(..., description="where the line's vertical centre is: top third, centre, caption band")
    is_caption: bool = Field(
        ..., description="in the caption band for at least 1 s, and neither persistent nor inside a persistent box"
    )
    persistent: bool = Field(..., description="its text, in its region, on screen for 80 % of the video or more")
    box: list[float] = Field(..., description="[x0, y0, x1, y1] as fractions of the frame, median over the samples")
    samples: int = Field(..., description="how many samples showed it (count)")


class Watermark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["tiktok", "instagram_reels", "youtube_shorts"] = Field(..., description="whose mark it is")
    mark: str = Field(..., description="the mark's text as read")
    handle: str | None = Field(..., description="the @handle read with it (None: none read)")
    times: list[list[float]] = Field(..., description="[start, end] of each span the mark is on screen (s)")


class TextOverlaySummary(Summary):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., description="the OCR reader: rapidocr or easyocr")
    sample_fps: float = Field(..., description="frames sampled per second of video (Hz)")
    frames_sampled: int = Field(..., description="frames sampled (count)")
    frames_read: int = Field(..., description="sampled frames OCR read; the others showed the frame before (count)")
    text_track_count: int = Field(..., description="text tracks: the segments (count)")
    caption_track_count: int = Field(..., description="text tracks that are captions (count)")
    has_captions: bool = Field(..., description="whether any track is a caption")
    text_coverage: float = Field(..., description="share of the video's time with any text on screen (0-1)")
    caption_coverage: float = Field(..., description="share of the video's time with a caption on screen (0-1)")
    texts: list[str] = Field(..., description="distinct texts in order of appearance (the first 50)")
    persistent_texts: list[str] = Field(..., description="distinct texts of the persistent tracks, in order")
    watermark: Watermark | None = Field(
        None, description="a platform's mark and @handle burned in: a cross-post (None: none read)"
    )


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """Grayscale, THUMB_SIDE px on the long side, int16 so that differences do not wrap."""
    height, width = frame.shape[:2]
    scale = min(1.0, THUMB_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def changed(thumb: np.ndarray, reference: np.ndarray) -> bool:
    return int(np.count_nonzero(np.abs(thumb - reference) >= CHANGE_LEVEL)) >= CHANGE_PIXELS


def blank(thumb: np.ndarray) -> bool:
    return int(thumb.max()) - int(thumb.min()) < BLANK_RANGE


class TextOverlay(Analyzer):
    name = "text_overlay"
    frames = FrameSpec(fps=SAMPLE_FPS, size=FRAME_SIZE)
    in_decoder = False
    # One core: on the CPU, throughput comes from more workers rather than more threads each.
    resources = Resources(cpus=1.0)
    summary_type = TextOverlaySummary
    segment_type = TextOverlaySegment
    weights = EASYOCR_WEIGHTS

    @classmethod
    def resources_for(cls, settings: Settings) -> Resources:
        """GPU memory only for EasyOCR, the reader that runs on a GPU."""
        if chosen_reader(settings) == "easyocr":
            return Resources(cpus=cls.resources.cpus, gpu_memory_gb=EASYOCR_GPU_GB)
        return cls.resources

    def frames_to_read(self, batch: FrameBatch) -> ReadPlan:
        """Change detection: per frame, the frame whose text it shows (None: `batch.prev_frame`),
        and the changed, non-blank frames the reader must read."""
        thumbs = [thumbnail(frame) for frame in batch.frames]
        reference = thumbnail(batch.prev_frame) if batch.prev_frame is not None else None
        source: list[int | None] = []
        to_read: list[int] = []
        reference_index: int | None = None
        for i, thumb in enumerate(thumbs):
            if reference is not None and reference.shape == thumb.shape and not changed(thumb, reference):
                source.append(reference_index)
                continue
            reference, reference_index = thumb, i
            source.append(i)
            if not blank(thumb):
                to_read.append(i)
        return ReadPlan(source, to_read)

    def process_frames(self, batch: FrameBatch, predicted: Read) -> dict[str, Any]:
        """Per frame: its lines, or None for "the same as the frame before" (only the first frame,
        when it matches `batch.prev_frame`); and whether OCR read it."""
        height, width = batch.frames.shape[1:3]
        read = {i: join_rows(lines, width, height) for i, lines in predicted.lines.items()}
        source = predicted.plan.source
        return {
            "backend": predicted.reader,
            "pts": batch.pts_s.copy(),
            "lines": [None if k is None else read.get(k, []) for k in source],
            "read": [i in read for i in range(len(source))],
        }

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        pts = np.concatenate([p["pts"] for p in partials.frames])
        per_frame: list[list[Line]] = []
        for p in partials.frames:
            for lines in p["lines"]:
                per_frame.append(lines if lines is not None else (per_frame[-1] if per_frame else []))
        ends = _sample_ends(pts, context.video.duration_s)
        video_span = max(rounded(ends[-1]) - rounded(pts[0]), 1e-4)  # as the segments round
        tracks = [t for t in follow(per_frame, pts, ends) if stable(t)]
        flags = persistent(tracks, PERSISTENT_SHARE * video_span)
        watermarks = [t.box() for t, p in zip(tracks, flags) if p]

        segments = []
        for track, is_persistent in zip(tracks, flags):
            start, end = track.start_s, track.end_s
            box = track.box()
            position = _position(box)
            is_caption = (
                position == "caption_band"
                and end - start >= CAPTION_MIN_S - 1e-6
                and not is_persistent
                and all(overlap(box, w) < BOX_OVERLAP for w in watermarks)
            )
            data = TextOverlaySegment(
                text=track.text(),
                position=position,
                is_caption=is_caption,
                persistent=is_persistent,
                box=list(box),
                samples=track.samples,
            )
            segments.append(
                Segment(
                    start_s=rounded(start),
                    end_s=rounded(end),
                    label="text",
                    confidence=rounded(track.confidence),
                    data=data,
                )
            )
        segments.sort(key=lambda s: (s.start_s, s.data.box[1], s.data.box[0]))
        captions = [s for s in segments if s.data.is_caption]
        texts = list(dict.fromkeys(s.data.text for s in segments))
        return Findings(
            segments=segments,
            summary=TextOverlaySummary(
                backend=partials.frames[0]["backend"],
                sample_fps=SAMPLE_FPS,
                frames_sampled=len(pts),
                frames_read=int(sum(sum(p["read"]) for p in partials.frames)),
                text_track_count=len(segments),
                caption_track_count=len(captions),
                has_captions=bool(captions),
                text_coverage=_coverage(segments, video_span),
                caption_coverage=_coverage(captions, video_span),
                texts=texts[:MAX_LISTED_TEXTS],
                persistent_texts=list(dict.fromkeys(s.data.text for s in segments if s.data.persistent)),
                watermark=watermark(segments),
            ),
        )


def watermark(segments: list[Segment]) -> Watermark | None:
    """The platform mark with the most time on screen, its handle and its spans."""
    marks: dict[str, list[Segment]] = {}
    for s in segments:
        if (platform := platform_mark(s.data.text)) is not None:
            marks.setdefault(platform, []).append(s)
    if not marks:
        return None
    platform, tracks = max(marks.items(), key=lambda kv: sum(s.end_s - s.start_s for s in kv[1]))
    spans: list[list[float]] = []
    for s in sorted(tracks, key=lambda s: s.start_s):
        if spans and s.start_s <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], s.end_s)
        else:
            spans.append([s.start_s, s.end_s])
    handle = next((h for s in tracks if (h := handle_in(s.data.text))), None)
    if handle is None:  # the handle on its own line: the one on screen longest with the mark
        together: dict[str, float] = {}
        for s in segments:
            shared = sum(max(0.0, min(b, s.end_s) - max(a, s.start_s)) for a, b in spans)
            if shared > 0 and (h := handle_in(s.data.text)):
                together[h] = together.get(h, 0.0) + shared
        handle = max(together, key=together.get) if together else None
    return Watermark(platform=platform, mark=tracks[0].data.text, handle=handle, times=spans)


def _sample_ends(pts: np.ndarray, duration_s: float) -> np.ndarray:
    """ends[i]: when what sample i shows is last known to be on screen: the next sample's time,
    the end of the video for the last one."""
    last_end = max(float(duration_s), float(pts[-1]))
    return np.append(pts[1:], last_end)


def _position(box: Box) -> Position:
    centre = (box[1] + box[3]) / 2
    if centre < TOP_BAND:
        return "top"
    return "caption_band" if centre >= CAPTION_BAND else "centre"


def _coverage(segments: list[Segment], span: float) -> float:
    """Share of the video's time covered by the union of the segments."""
    covered, reach = 0.0, -np.inf
    for s in sorted(segments, key=lambda s: s.start_s):
        start = max(s.start_s, reach)
        if s.end_s > start:
            covered += s.end_s - start
        reach = max(reach, s.end_s)
    return rounded(min(1.0, covered / span))
