"""The ultralytics family: YOLO11n detect, pose and segment models for object_detection,
body_pose and background_segmentation, loaded once per worker for the analyzers it serves.

`predict` runs the steps of ultralytics' predictor on one FrameBatch for every analyzer that
asked, letterboxing the frames once for all of them: preprocess (letterbox to 640 px on a
multiple of the stride, upscaling small frames as ultralytics does), infer (each asked model's
forward pass: fp16 on a GPU, fp32 on the CPU), postprocess (NMS, boxes, keypoints and masks
mapped back to the frame). Its output is each analyzer's detections per frame (`Found`); the
analysis (tracking, gestures, motion) is the analyzers' (pipeline/analyzers/).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.base import ModelActor, Runtime
from actors.device import choose
from pipeline.analyzer import BATCH_FRAMES, FrameBatch
from pipeline.analyzers.tracking import CONFIDENCE, KEEP_CONFIDENCE
from pipeline.models import Weights, WeightsError

if TYPE_CHECKING:
    from pipeline.analyzer import Analyzer

IMAGE_SIZE = 640  # the models' training size: frames are letterboxed to it
INFER_BATCH = BATCH_FRAMES + 1  # frames per forward pass: a decoder batch and the frame before it
IOU = 0.7  # NMS overlap, ultralytics' predict default
MAX_DETECTIONS = 300
MASK_SIZE = 160  # px, longer side of the grid person masks come back on
ASSETS = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"

TASKS = {"object_detection": "detect", "body_pose": "pose", "background_segmentation": "segment"}
TASK_FILES = {"detect": "yolo11n.pt", "pose": "yolo11n-pose.pt", "segment": "yolo11n-seg.pt"}  # the releases
# SHA-256 of the v8.3.0 release assets, as several public projects pin them (not checked from here).
RELEASE_SHA256 = {
    "yolo11n.pt": "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
    "yolo11n-pose.pt": "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",
    "yolo11n-seg.pt": "55ed65c56c91713d23e8402371c6c49a6fd84f257f7dce452e8d70e41dcbe152",
}
WEIGHTS = {
    task: Weights(file, ASSETS + file, kind="file", sha256=RELEASE_SHA256[file]) for task, file in TASK_FILES.items()
}


def configure_ultralytics() -> None:
    """Before ultralytics is first imported: it must never reach the network (hub checks, asset
    downloads, pip installs), and it writes a settings file on import, which goes to a directory
    of ours instead of ~/.config unless the user chose one. This configures the library through
    the variables it reads; it reads no reelscope setting."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "reelscope-ultralytics"))


def mask_grid(frame_shape: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) of the grid person masks of an (h, w) frame come back on: MASK_SIZE px on the
    longer side, never upscaled."""
    h, w = frame_shape
    scale = min(1.0, MASK_SIZE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass
class Found:
    """One analyzer's detections in a batch. `frames[i]`: boxes (k, 4) xyxy frame pixels, conf
    (k,), cls (k,) as numpy, plus what the task adds: pose `keypoints` (k, 17, 3) x, y in frame
    pixels and visibility; segment `person` (the union of the masks of people of CONFIDENCE or
    more, bool on the `mask_grid`) and `people` (how many). For an analyzer that reads the frame
    before the batch, that frame's detections lead (`frames` has one more entry than the batch)."""

    frames: list[dict[str, Any]]
    names: dict[int, str]  # the model's class names


@dataclass
class _Model:
    network: Any  # ultralytics' AutoBackend around the loaded model
    task: str
    names: dict[int, str]
    keep_classes: list[int] | None  # the classes NMS keeps (None: all)
    frame_before: bool  # whether it also reads the frame before the batch


class YoloRuntime(Runtime):
    name = "ultralytics"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.placement = choose("float16")
        self.models: dict[str, _Model] = {}  # analyzer -> its model

    def load(self, analyzer: Analyzer) -> None:
        task = TASKS[analyzer.name]
        weights = WEIGHTS[task].at(self.settings.models_dir)
        path = weights.require(analyzer.name)
        configure_ultralytics()
        import torch
        from ultralytics import YOLO
        from ultralytics.nn.autobackend import AutoBackend

        loaded = YOLO(str(path))
        if loaded.task != task:
            # The three releases differ only in their head: a file saved under another's name loads.
            raise WeightsError(
                f"weights {weights.source} at {path}: holds a {loaded.task} model; {analyzer.name} needs a {task}"
                f" model ({TASK_FILES.get(loaded.task, 'another model')} saved as {path.name}?); {weights.fix(analyzer.name)}"
            )
        network = AutoBackend(
            model=loaded.model,
            device=torch.device(self.placement.device),
            fp16=self.placement.dtype == "float16",
            fuse=True,
            verbose=False,
        )
        names = {int(k): str(v) for k, v in network.names.items()}
        keep_classes = None
        if task == "pose" and tuple(network.kpt_shape) != (17, 3):
            raise ValueError(f"{analyzer.name} reads COCO's 17 keypoints with confidences; the model gives {network.kpt_shape}")
        if task == "segment":
            keep_classes = [c for c, n in names.items() if n == "person"]
            if not keep_classes:
                raise ValueError(f"{analyzer.name} needs a model with a person class; this one has {len(names)} others")
        self.models[analyzer.name] = _Model(network, task, names, keep_classes, analyzer.reads_frame_before)
        dtype = "float16" if network.fp16 else "float32"
        self.models_used[analyzer.name] = [weights.provenance(backend="ultralytics", device=self.placement.device, dtype=dtype)]

    def predict(self, batch: FrameBatch, analyzers: frozenset[str]) -> dict[str, Found]:
        """Each named analyzer's detections in `batch`, INFER_BATCH frames per forward pass, the
        frames letterboxed once for every model."""
        return self.predict_many([batch], analyzers)[0]

    def predict_many(self, batches: list[FrameBatch], analyzers: frozenset[str]) -> list[dict[str, Found]]:
        """`predict` for several batches of frames of one size (a Serve replica's concurrent
        requests, pipeline.runners.serve_families.Coalescer) in shared forward passes: INFER_BATCH frames
        per batch in each pass, so that the batches' frames go through each model together."""
        import torch

        parts, rows = [], []  # every batch's frames, and (batch, is its leading frame before) per frame
        for i, batch in enumerate(batches):
            leads = batch.prev_frame is not None and any(self.models[n].frame_before for n in analyzers)
            parts.append(np.concatenate([batch.prev_frame[None], batch.frames]) if leads else batch.frames)
            rows += [(i, leads and j == 0) for j in range(len(parts[-1]))]
        frames = parts[0] if len(parts) == 1 else np.concatenate(parts)
        found = [{name: Found([], self.models[name].names) for name in analyzers} for _ in batches]
        step = INFER_BATCH * len(batches)
        with torch.inference_mode():
            for start in range(0, len(frames), step):
                chunk = frames[start : start + step]
                image = self.preprocess(chunk)
                for name in analyzers:
                    keep = [k for k in range(len(chunk)) if self.models[name].frame_before or not rows[start + k][1]]
                    if not keep:
                        continue
                    preds = self.infer(name, image if len(keep) == len(chunk) else image[keep])
                    for k, detections in zip(keep, self.postprocess(name, preds, tuple(image.shape[2:]), chunk.shape[1:3])):
                        found[rows[start + k][0]][name].frames.append(detections)
        return found

    def preprocess(self, frames: np.ndarray):
        """RGB uint8 frames (all one size) -> the models' input: letterboxed to IMAGE_SIZE on a
        multiple of every loaded model's stride (the least padding), NCHW, RGB, 0-1. ultralytics'
        own predictor takes BGR arrays and flips them; decoded frames are RGB already, so nothing
        is flipped."""
        import torch
        from ultralytics.data.augment import LetterBox

        stride = max(int(model.network.stride) for model in self.models.values())
        letterbox = LetterBox(IMAGE_SIZE, auto=True, stride=stride)
        image = torch.from_numpy(np.stack([letterbox(image=frame) for frame in frames])).to(self.placement.device)
        image = image.permute(0, 3, 1, 2).contiguous()
        return (image.half() if self.placement.dtype == "float16" else image.float()).div_(255)

    def infer(self, name: str, image):
        """`name`'s model's forward pass, as (predictions, prototypes). predictions (n, 4 +
        classes + extra, anchors): boxes as centre x, y, width, height in letterboxed pixels,
        class scores after the sigmoid, then what the task adds per anchor (pose: 17 keypoints as
        x, y in letterboxed pixels and a visibility after the sigmoid; segment: 32 mask
        coefficients). prototypes: segment's (n, 32, h / 4, w / 4) mask prototypes, else None."""
        out = self.models[name].network(image)
        head = out[0] if isinstance(out, (list, tuple)) else out  # eval mode adds the raw head outputs
        return (head[0], head[1]) if isinstance(head, (list, tuple)) else (head, None)

    def postprocess(self, name: str, preds, image_shape: tuple[int, int], frame_shape: tuple[int, int]) -> list[dict[str, Any]]:
        """`infer`'s output for frames of `frame_shape` letterboxed to `image_shape` -> NMS, then
        each frame's detections as `Found.frames` describes them."""
        from ultralytics.utils import nms, ops

        model = self.models[name]
        predictions, prototypes = preds
        kept = nms.non_max_suppression(
            predictions,
            KEEP_CONFIDENCE,
            IOU,
            classes=model.keep_classes,
            max_det=MAX_DETECTIONS,
            nc=0 if model.task == "detect" else len(model.names),
            end2end=getattr(model.network, "end2end", False),
        )
        results = []
        for i, det in enumerate(kept):
            if model.task == "pose":
                result = self._keypoints(model, det, image_shape, frame_shape)
            elif model.task == "segment":
                result = self._people(det, prototypes[i], image_shape, frame_shape)
            else:
                result = {}
            result.update(
                boxes=ops.scale_boxes(image_shape, det[:, :4].clone(), frame_shape).float().cpu().numpy(),
                conf=det[:, 4].float().cpu().numpy(),
                cls=det[:, 5].cpu().numpy().astype(np.int16),
            )
            results.append(result)
        return results

    @staticmethod
    def _keypoints(model: _Model, det, image_shape, frame_shape) -> dict[str, Any]:
        """One frame's kept detections `det` (rows: xyxy in letterboxed pixels, confidence, class,
        then 17 x (x, y, visibility)) -> its keypoints in frame pixels."""
        from ultralytics.utils import ops

        keypoints = det[:, 6:].view(len(det), *model.network.kpt_shape)
        return {"keypoints": ops.scale_coords(image_shape, keypoints, frame_shape).float().cpu().numpy()}

    @staticmethod
    def _people(det, prototypes, image_shape, frame_shape) -> dict[str, Any]:
        """The union of one frame's confident person masks on its mask grid (bool (h, w))."""
        from ultralytics.utils import ops

        det = det[det[:, 4] >= CONFIDENCE]
        # The union is made at the prototypes' resolution and scaled once: the per-instance masks
        # at full size would take hundreds of MB for a crowded frame.
        masks = ops.process_mask(prototypes, det[:, 6:].float(), det[:, :4].float(), image_shape, upsample=False)
        union = masks.amax(0, keepdim=True) if len(masks) else masks.new_zeros((1, *masks.shape[1:]))
        scaled = ops.scale_masks(union[None].float(), mask_grid(frame_shape))[0, 0]
        return {"person": (scaled > 0.5).cpu().numpy(), "people": len(det)}


class YoloActor(ModelActor):
    family = "ultralytics"
    runtime = YoloRuntime
    serves = tuple(TASKS)
