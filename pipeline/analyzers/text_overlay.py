"""text_overlay: text burned into the picture (captions, titles, credits, watermarks), read by
OCR and followed over time as text tracks.

Frames are sampled at SAMPLE_FPS, FRAME_SIZE px on the long side. OCR is the expensive step
(about 0.1 s a frame on one core for rapidocr), so `process_frames` reads only the frames whose
picture changed: each frame's grayscale thumbnail (THUMB_SIDE px) is compared with that of the
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

Backends (REELSCOPE_OCR chooses; unset: EasyOCR when its weights are in the models directory,
else rapidocr):
  rapidocr  PP-OCR detection and recognition, ONNX models inside the wheel: the offline default.
            Runs on the CPU (onnxruntime), one thread per worker as `resources` declares.
            Reads Latin script and Chinese (the wheel's "ch" recognizer).
  easyocr   CRAFT detector + english_g2 recognizer (English only) from the models directory;
            detection runs DETECT_CHUNK frames per forward, on the GPU when there is one. It
            stays in float32 on the GPU: EasyOCR post-processes the score maps with OpenCV,
            which has no float16 path. Each file is pinned by its SHA-256 (a wrong file
            fails with the path and both digests); EasyOCR itself also checks the MD5 of its
            published weights and, with downloads disabled, refuses any other file.

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
time with any text / a caption on screen), texts (distinct texts in order of appearance) and
persistent_texts.
"""

from __future__ import annotations

import os
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, FrameSpec, Partials, Resources, Skip
from pipeline.analyzers.text_tracks import BOX_OVERLAP, Box, Line, follow, join_rows, overlap, persistent, stable
from pipeline.models import Weights, sha256
from pipeline.schema import Segment

SAMPLE_FPS = 2.0
# Legibility, measured on testvideo.mp4's copyright line (capitals 26 px high at 720p: 2 % of the
# long side), 11 frames, rapidocr on one core: read exactly in every frame from a detection
# input of 480 px (capitals ~10 px high) up; at 400 px words lose letters, at 320 px they are
# garbled. Detection costs most: per frame 80 ms at 480, 110 ms at 640, 205 ms at 960.
FRAME_SIZE = 960  # recognition reads the detected lines from these frames
DETECT_SIDE = 640  # detection input, long side: a third above the legibility limit
# Frames per EasyOCR detection forward. At 960x544 CRAFT's first VGG block holds about 0.4 GB
# of float32 activations per frame: four keep a worker under its declared GPU memory.
DETECT_CHUNK = 4
MIN_CONFIDENCE = 0.5  # recognition score under which a reading is dropped (rapidocr's default)

THUMB_SIDE = 480  # change detection: half of FRAME_SIZE still sees one letter of a 14 px line change
CHANGE_LEVEL = 12  # grey levels a thumbnail pixel must move for the frame to count as changed
CHANGE_PIXELS = 2  # ... in at least this many pixels (one pixel is compression noise)
BLANK_RANGE = 12  # a thumbnail whose grey levels span less than this shows no text

TOP_BAND = 1 / 3  # a line whose centre is above this fraction of the height is "top"
CAPTION_BAND = 0.6  # ... below this fraction, in the caption band
CAPTION_MIN_S = 1.0
PERSISTENT_SHARE = 0.8
MAX_LISTED_TEXTS = 50

OCR_ENV = "REELSCOPE_OCR"
BACKENDS = ("easyocr", "rapidocr")
EASYOCR_DIR = "easyocr"
# EasyOCR's model hub (easyocr/config.py): each URL is a zip holding the one file named here.
EASYOCR_WEIGHTS = (
    Weights(
        f"{EASYOCR_DIR}/craft_mlt_25k.pth",
        "https://github.com/JaidedAI/EasyOCR/releases/download/pre-v1.1.6/craft_mlt_25k.zip",
        kind="zip",
        optional=True,  # without EasyOCR's weights, rapidocr reads the text
        sha256="4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17",
    ),
    Weights(
        f"{EASYOCR_DIR}/english_g2.pth",
        "https://github.com/JaidedAI/EasyOCR/releases/download/v1.3/english_g2.zip",
        kind="zip",
        optional=True,
        sha256="e2272681d9d67a04e2dff396b6e95077bc19001f8f6d3593c307b9852e1c29e8",
    ),
)

class Reader(Protocol):
    name: str

    def read(self, frames: list[np.ndarray]) -> list[list[Line]]:
        """The lines in each RGB frame, in reading order."""


class RapidOcrReader:
    name = "rapidocr"

    def __init__(self, threads: int) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(
            params={
                "Global.log_level": "error",  # "no text found" is a warning there: an ordinary answer here
                "Global.use_cls": False,  # overlays are upright: the 180-degree classifier only costs time
                "Global.text_score": MIN_CONFIDENCE,
                # Its default ("min", 736) enlarges every frame to 736 px on the short side.
                "Det.limit_type": "max",
                "Det.limit_side_len": DETECT_SIDE,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def model_files(self) -> list[Path]:
        """The detection and recognition ONNX files its sessions loaded (once it has read text:
        rapidocr loads them on first use)."""
        # onnxruntime keeps the path it loaded on the session; rapidocr does not expose it otherwise.
        return [Path(stage.session.session._model_path) for stage in (self.engine.text_det, self.engine.text_rec)]

    def read(self, frames: list[np.ndarray]) -> list[list[Line]]:
        # One call per frame: rapidocr's detector takes one image; its recognizer batches the lines.
        return [self._read_one(frame) for frame in frames]

    def _read_one(self, frame: np.ndarray) -> list[Line]:
        height, width = frame.shape[:2]
        result = self.engine(np.ascontiguousarray(frame[..., ::-1]))  # it reads arrays as BGR
        if result.boxes is None or result.txts is None:
            return []
        return [
            Line(text, float(score), _box(points, width, height))
            for points, text, score in zip(result.boxes, result.txts, result.scores)
            if text.strip()
        ]


class EasyOcrReader:
    name = "easyocr"

    def __init__(self, folder: str) -> None:
        import easyocr
        import torch

        self.gpu = torch.cuda.is_available()
        self.reader = easyocr.Reader(
            ["en"],
            gpu=self.gpu,
            model_storage_directory=folder,
            user_network_directory=folder,  # an existing folder: nothing is created outside the models dir
            download_enabled=False,
            verbose=False,
        )

    def read(self, frames: list[np.ndarray]) -> list[list[Line]]:
        lines: list[list[Line]] = []
        for start in range(0, len(frames), DETECT_CHUNK):
            chunk = frames[start : start + DETECT_CHUNK]
            height, width = chunk[0].shape[:2]
            found = self.reader.readtext_batched(
                list(chunk),
                batch_size=32 if self.gpu else 1,  # recognition batch; on the CPU EasyOCR reads box by box
                canvas_size=FRAME_SIZE,  # caps detection's input; the decoder's frames are this size already
            )
            lines += [
                [
                    Line(text, float(score), _box(np.asarray(points, np.float32), width, height))
                    for points, text, score in frame_found
                    if text.strip() and score >= MIN_CONFIDENCE
                ]
                for frame_found in found
            ]
        return lines


def _box(points: np.ndarray, width: int, height: int) -> Box:
    """The axis-aligned box around a quadrilateral, as fractions of the frame."""
    xs = np.clip(points[:, 0] / width, 0.0, 1.0)
    ys = np.clip(points[:, 1] / height, 0.0, 1.0)
    return (round(float(xs.min()), 4), round(float(ys.min()), 4), round(float(xs.max()), 4), round(float(ys.max()), 4))


def chosen_backend() -> str:
    """REELSCOPE_OCR when set, else EasyOCR if its weights are here, else rapidocr."""
    configured = os.environ.get(OCR_ENV, "").strip().lower()
    if configured:
        if configured not in BACKENDS:
            raise ValueError(f"{OCR_ENV}={configured!r}: expected one of {', '.join(BACKENDS)}")
        return configured
    return "easyocr" if all(w.present() for w in EASYOCR_WEIGHTS) else "rapidocr"


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
    # GPU memory: EasyOCR's CRAFT on DETECT_CHUNK frames (an estimate from the activation sizes,
    # not measured on a GPU), its 0.1 GB of weights and the CUDA context; rapidocr runs on the CPU.
    resources = Resources(cpus=1.0, gpu_memory_gb=2.0)
    weights = EASYOCR_WEIGHTS

    def setup(self) -> None:
        backend = chosen_backend()
        if backend == "easyocr":
            # Before the digest check: the hub's archive saved as the model has a fix of its own.
            for path in (w.path for w in EASYOCR_WEIGHTS if w.present()):
                if _hub_archive(path):
                    raise Skip(
                        f"{path} is the zip archive from EasyOCR's model hub, not the model: "
                        f"`mv {path} {path}.zip && unzip -o {path}.zip -d {path.parent}`"
                    )
            paths = [w.require(self.name) for w in EASYOCR_WEIGHTS]
            easy = EasyOcrReader(str(paths[0].parent))
            self.reader: Reader = easy
            for weights in EASYOCR_WEIGHTS:
                self.record_model(weights, backend="easyocr", device="cuda" if easy.gpu else "cpu", dtype="float32")
        else:
            try:
                self.reader = RapidOcrReader(threads=max(1, int(self.resources.cpus)))
            except ImportError as exc:
                raise Skip(f"rapidocr is not installed ({exc}); `pip install rapidocr onnxruntime`") from exc
        # Both load their models lazily or compile on first use: pay that here, not on the first video.
        self.reader.read([_warm_up_picture()])
        if isinstance(self.reader, RapidOcrReader):
            for onnx in self.reader.model_files():
                self.record_model(
                    f"rapidocr {version('rapidocr')} {onnx.stem} (wheel)",
                    backend="rapidocr",
                    device="cpu",
                    dtype="float32",
                    sha256=sha256(onnx),
                )

    def process_frames(self, batch: FrameBatch) -> dict[str, Any]:
        """Per frame: its lines, or None for "the same as the frame before" (only the first frame,
        when it matches `batch.prev_frame`); and whether OCR read it."""
        thumbs = [thumbnail(frame) for frame in batch.frames]
        reference = thumbnail(batch.prev_frame) if batch.prev_frame is not None else None
        source: list[int | None] = []  # per frame: the index of the frame whose text it shows; None: prev_frame
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
        height, width = batch.frames.shape[1:3]
        found = self.reader.read([batch.frames[i] for i in to_read]) if to_read else []
        read = {i: join_rows(lines, width, height) for i, lines in zip(to_read, found)}
        lines = [None if k is None else read.get(k, []) for k in source]
        return {
            "backend": self.reader.name,
            "pts": batch.pts_s.copy(),
            "lines": lines,
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
        video_span = max(round(float(ends[-1]), 4) - round(float(pts[0]), 4), 1e-4)  # as the segments round
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
            segments.append(
                Segment(
                    start_s=round(start, 4),
                    end_s=round(end, 4),
                    label="text",
                    confidence=round(track.confidence, 4),
                    data={
                        "text": track.text(),
                        "position": position,
                        "is_caption": is_caption,
                        "persistent": is_persistent,
                        "box": list(box),
                        "samples": track.samples,
                    },
                )
            )
        segments.sort(key=lambda s: (s.start_s, s.data["box"][1], s.data["box"][0]))
        captions = [s for s in segments if s.data["is_caption"]]
        texts = list(dict.fromkeys(s.data["text"] for s in segments))
        return Findings(
            segments=segments,
            summary={
                "backend": partials.frames[0]["backend"],
                "sample_fps": SAMPLE_FPS,
                "frames_sampled": len(pts),
                "frames_read": int(sum(sum(p["read"]) for p in partials.frames)),
                "text_track_count": len(segments),
                "caption_track_count": len(captions),
                "has_captions": bool(captions),
                "text_coverage": _coverage(segments, video_span),
                "caption_coverage": _coverage(captions, video_span),
                "texts": texts[:MAX_LISTED_TEXTS],
                "persistent_texts": list(dict.fromkeys(s.data["text"] for s in segments if s.data["persistent"])),
            },
        )


def _hub_archive(path: Path) -> bool:
    """Whether `path` is EasyOCR's download (a zip holding a file of the same name) rather than
    the model. torch.save writes zips too, but of data.pkl and tensors."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return path.name in archive.namelist()


def _warm_up_picture() -> np.ndarray:
    picture = np.full((120, 480, 3), 255, np.uint8)
    cv2.putText(picture, "Warm up 123", (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 4)
    return picture


def _sample_ends(pts: np.ndarray, duration_s: float) -> np.ndarray:
    """ends[i]: when what sample i shows is last known to be on screen: the next sample's time,
    the end of the video for the last one."""
    last_end = max(float(duration_s), float(pts[-1]))
    return np.append(pts[1:], last_end)


def _position(box: Box) -> str:
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
    return round(min(1.0, covered / span), 4)
