"""The ocr family: the OCR reader text_overlay asks to read frames, loaded once per worker.

Readers (settings.text_overlay.reader; auto: EasyOCR when its weights are in the models
directory, else rapidocr):
  rapidocr  PP-OCR detection and recognition, ONNX models inside the wheel: the offline default.
            Runs on the CPU (onnxruntime), one thread per worker as text_overlay's resources
            declare. Reads Latin script and Chinese (the wheel's "ch" recognizer).
  easyocr   CRAFT detector + english_g2 recognizer (English only) from the models directory;
            detection runs DETECT_CHUNK frames per forward, on the GPU when there is one. It
            stays in float32 on the GPU: EasyOCR post-processes the score maps with OpenCV,
            which has no float16 path. Each file is pinned by its SHA-256 (a wrong file
            fails with the path and both digests); EasyOCR itself also checks the MD5 of its
            published weights and, with downloads disabled, refuses any other file.

One pass (`predict`): text_overlay's change detection says which frames of the batch to read
(`TextOverlay.frames_to_read`), the reader reads those, and text_overlay makes lines and tracks
of what it found. Behind Serve, concurrent requests' frames go to the reader together
(`predict_many`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from actors.base import ModelActor, Runtime, parts
from actors.device import Placement, choose
from pipeline.analyzer import FrameBatch, Skip
from pipeline.analyzers.shots import rounded
from pipeline.analyzers.text_tracks import Box, Line
from pipeline.models import Weights, sha256
from pipeline.schema import ModelUsed
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.analyzers.text_overlay import TextOverlay

# Legibility, measured on testvideo.mp4's copyright line (capitals 26 px high at 720p: 2 % of the
# long side), 11 frames, rapidocr on one core: read exactly in every frame from a detection
# input of 480 px (capitals ~10 px high) up; at 400 px words lose letters, at 320 px they are
# garbled. Detection costs most: per frame 80 ms at 480, 110 ms at 640, 205 ms at 960.
DETECT_SIDE = 640  # detection input, long side: a third above the legibility limit
EASYOCR_CANVAS = 960  # EasyOCR's detection input cap: text_overlay's frame size, so frames go in as decoded
# Frames per EasyOCR detection forward. At 960x544 CRAFT's first VGG block holds about 0.4 GB
# of float32 activations per frame: four keep a worker under its declared GPU memory.
DETECT_CHUNK = 4
MIN_CONFIDENCE = 0.5  # recognition score under which a reading is dropped (rapidocr's default)

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


def chosen_reader(settings: Settings) -> str:
    """settings.text_overlay.reader, auto resolved: EasyOCR if its weights are in the models
    directory, else rapidocr."""
    reader = settings.text_overlay.reader
    if reader != "auto":
        return reader
    return "easyocr" if all(w.at(settings.models_dir).present() for w in EASYOCR_WEIGHTS) else "rapidocr"


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

    def __init__(self, folder: str, placement: Placement) -> None:
        import easyocr

        self.gpu = placement.cuda
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
                canvas_size=EASYOCR_CANVAS,
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
    return (rounded(xs.min()), rounded(ys.min()), rounded(xs.max()), rounded(ys.max()))  # type: ignore[return-value]


@dataclass(frozen=True)
class ReadPlan:
    """What text_overlay's change detection asks of one batch."""

    source: list[int | None]  # per frame: the frame whose text it shows; None: the batch's prev_frame
    to_read: list[int]  # the frames to read


@dataclass
class Read:
    """The reader's answer for one batch: each read frame's lines."""

    reader: str
    plan: ReadPlan
    lines: dict[int, list[Line]]  # frame index in the batch -> its lines, as the reader split them


class OcrRuntime(Runtime):
    name = "ocr"

    def load(self, analyzer: TextOverlay) -> None:
        self.analyzer = analyzer  # its change detection decides which frames are read
        used = self.models_used.setdefault(analyzer.name, [])
        if chosen_reader(self.settings) == "easyocr":
            weights = [analyzer.local(w) for w in EASYOCR_WEIGHTS]
            # Before the digest check: the hub's archive saved as the model has a fix of its own.
            for path in (w.path for w in weights if w.present()):
                if _hub_archive(path):
                    raise Skip(
                        f"{path} is the zip archive from EasyOCR's model hub, not the model: "
                        f"`mv {path} {path}.zip && unzip -o {path}.zip -d {path.parent}`"
                    )
            paths = [w.require(analyzer.name) for w in weights]
            placement = choose(gpu_dtype="float32")  # OpenCV reads CRAFT's score maps: no float16
            self.reader: Reader = EasyOcrReader(str(paths[0].parent), placement)
            used += [w.provenance(backend="easyocr", device=placement.device, dtype="float32") for w in weights]
        else:
            try:
                self.reader = RapidOcrReader(threads=max(1, int(type(analyzer).resources_for(self.settings).cpus)))
            except ImportError as exc:
                raise Skip(f"rapidocr is not installed ({exc}); `pip install rapidocr onnxruntime`") from exc
        # Both load their models lazily or compile on first use: pay that here, not on the first video.
        self.reader.read([_warm_up_picture()])
        if isinstance(self.reader, RapidOcrReader):
            for onnx in self.reader.model_files():
                used.append(
                    ModelUsed(
                        id=f"rapidocr {version('rapidocr')} {onnx.stem} (wheel)",
                        backend="rapidocr",
                        device="cpu",
                        dtype="float32",
                        sha256=sha256(onnx),
                    )
                )

    def predict(self, payload: FrameBatch, analyzers: frozenset[str]) -> Read:
        return self.predict_many([payload], analyzers)[0]

    def predict_many(self, batches: list[FrameBatch], analyzers: frozenset[str]) -> list[Read]:
        """`predict` for several batches of frames of one size (a Serve replica's concurrent
        requests, pipeline.runners.serve_families.Coalescer): the frames every batch asks to read
        go to the reader together, so EasyOCR detects them DETECT_CHUNK at a time across the
        batches (it reads a chunk's frames at one size)."""
        plans = [self.analyzer.frames_to_read(batch) for batch in batches]
        found = self.infer([frame for batch, plan in zip(batches, plans) for frame in self.preprocess(batch, plan)])
        return [self.postprocess(plan, found[part]) for plan, part in zip(plans, parts(len(p.to_read) for p in plans))]

    def preprocess(self, batch: FrameBatch, plan: ReadPlan) -> list[np.ndarray]:
        """The frames to read, RGB as decoded (each reader converts what it needs itself)."""
        return [batch.frames[i] for i in plan.to_read]

    def infer(self, frames: list[np.ndarray]) -> list[list[Line]]:
        return self.reader.read(frames) if frames else []

    def postprocess(self, plan: ReadPlan, found: list[list[Line]]) -> Read:
        return Read(self.reader.name, plan, dict(zip(plan.to_read, found)))


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


class OcrActor(ModelActor):
    family = "ocr"
    runtime = OcrRuntime
    serves = ("text_overlay",)
