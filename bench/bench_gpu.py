"""GPU benchmark of the vision analyzers on full-size models with random weights.

    python bench/bench_gpu.py [--models-dir DIR]     on this machine's GPU
    python bench/bench_gpu.py --device cpu --quick   a smoke run on the CPU (small frame counts)

tests/model_factory.py writes the published architectures with random weights into a models
directory (a temporary one unless --models-dir names one; weights already there are reused):
YOLO11n detect / pose / segment, the ViT-B/16 age and eye-state classifiers, EasyOCR's CRAFT and
english_g2, Qwen2-VL-2B. Each analyzer is then set up as a worker sets it up (its model family's
Runtime from actors/ loads what it needs, then the analyzer's setup()) and runs on synthetic
FrameBatches shaped as the decoder makes them (32 frames, portrait 9:16, the long side at the
analyzer's FrameSpec size): the runtime's predict() for it, then its process_frames(). All in
this process, without Ray: the work one of the pipeline's actors does. The analyzers of one
family share one Runtime, as in their worker. Per analyzer: frames/s over the timed batches (after one warm-up batch),
and the GPU memory it adds at its peak (torch.cuda.max_memory_allocated: weights and
activations, not the CUDA context). Then all of them co-resident on the one GPU: every model
loaded, each family's one pass for all of its analyzers once more, the total peak.

Targets, on one H100: the per-frame models at 640 px (YOLO11, faces) >= 500 frames/s each;
Qwen2-VL-2B describes every window (so every shot) of a 60 s clip in <= 3 s; all vision models
together <= 16 GB.

Random weights cost what real ones cost, with these differences, all printed with the results:
the random YOLO models detect nothing (NMS and the masks of real detections are not timed); the
face detector is a stand-in that puts two faces on every frame (OpenCV's cost for it is not
YuNet's; the age and eye-state classifiers run on real crop counts); the EasyOCR detector finds
one box per frame (the whole frame) and every frame differs from the one before, so every frame
is read (on real video only changed frames are); Qwen2-VL generates its max_new_tokens on every
window (a trained model stops at the end of its sentence: sooner).

Imports neither Ray nor PyAV (the GPU box has neither). Needs torch, transformers, numpy, opencv,
pydantic and pydantic-settings; a family whose library is missing (ultralytics, easyocr) is
reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pipeline.analyzer import BATCH_FRAMES as DECODER_BATCH  # noqa: E402

CLIP_S = 60.0  # the clip Qwen2-VL's target is stated for
FACES_PER_FRAME = 2
EYES_APART = 1.5  # cells of the face stand-in: 48 px, so that eye_tracking reads both eyes
PER_FRAME_TARGET = 500.0  # frames/s at 640 px on one H100
QWEN_TARGET_S = 3.0  # seconds to describe a 60 s clip
GPU_BUDGET_GB = 16.0
GB = 1024**3


@dataclass
class Case:
    name: str  # the analyzer
    family: str = ""  # its Runtime's name
    per_frame_target: bool = False  # held to PER_FRAME_TARGET
    analyzer: Any = None
    runtime: Any = None  # its family's Runtime, shared with the family's other analyzers
    spec: Any = None
    setup_s: float = 0.0
    frames: int = 0
    seconds: float = 0.0
    peak_gb: float | None = None  # GPU memory added at its peak
    declared_gb: float = 0.0
    problem: str | None = None  # why it did not run
    batches: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def process(self, batch) -> Any:
        """One batch as its worker runs it: the runtime's pass for this analyzer, then the analysis."""
        return self.analyzer.process_frames(batch, self.runtime.predict(batch, frozenset({self.name})))


def portrait_pictures(long_side: int, count: int = 8) -> list[np.ndarray]:
    """`count` different textured portrait pictures, each with FACES_PER_FRAME white cells on the
    face stand-in's grid."""
    import cv2
    from model_factory import YUNET_CELL

    height, width = long_side, round(long_side * 9 / 16 / 2) * 2
    rng = np.random.default_rng(0)
    pictures = []
    for k in range(count):
        noise = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        picture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        picture = (picture.astype(np.float32) * 0.6 + 20).astype(np.uint8)  # darker than any face cell
        for row, column in [(4, 2), (12, 6)][:FACES_PER_FRAME]:
            y, x = row * YUNET_CELL, column * YUNET_CELL
            picture[y : y + YUNET_CELL, x : x + YUNET_CELL] = 255
        pictures.append(picture)
    return pictures


def frame_batches(spec, sizes: list[int], pictures: list[np.ndarray]) -> list:
    """Consecutive FrameBatches of `sizes` frames, times at the spec's rate, each carrying the
    frame before it as the decoder's do."""
    from pipeline.analyzer import FrameBatch

    batches, first = [], 0
    for index, size in enumerate(sizes):
        numbers = np.arange(first, first + size)
        frames = np.stack([pictures[n % len(pictures)] for n in numbers])
        before = pictures[(first - 1) % len(pictures)] if first else None
        batches.append(FrameBatch(spec, index, numbers / spec.fps, frames, before, (first - 1) / spec.fps if first else None))
        first += size
    return batches


def write_weights(name: str, settings, cls) -> None:
    """The analyzer's weights at full size, unless they are in the models directory already."""
    import model_factory as factory

    from actors import yolo
    from pipeline.analyzers.faces import FaceAnalyzer

    models = settings.models_dir
    if all(w.at(models).present() for w in cls.weights_for(settings)):
        return
    if name in yolo.TASKS:
        factory.write_yolo(models, yolo.TASKS[name], "full")
    elif name == "age_estimation":
        factory.write_age_classifier(models, "full")
    elif name == "eye_tracking":
        factory.write_eye_state_classifier(models, "full")
    elif name == "text_overlay":
        factory.write_easyocr(models, "full")
    elif name == "qwen2_vl_temporal":
        factory.write_qwen2_vl(models, "full")
    if issubclass(cls, FaceAnalyzer):
        factory.write_yunet_stand_in(models, eyes_apart=EYES_APART)


def trust_generated_easyocr(models: Path) -> None:
    """Our Weights entries and EasyOCR (its MD5 table) both refuse files that are not the published
    weights: point both (in this process only) at the generated files, as the tests do."""
    from dataclasses import replace

    from easyocr.config import detection_models, recognition_models
    from model_factory import easyocr_md5s

    from actors import ocr
    from pipeline.models import sha256

    ocr.EASYOCR_WEIGHTS = tuple(replace(w, sha256=sha256(models / w.name)) for w in ocr.EASYOCR_WEIGHTS)
    md5s = easyocr_md5s(models)
    detection_models["craft"]["md5sum"] = md5s["craft"]
    recognition_models["gen2"]["english_g2"]["md5sum"] = md5s["english_g2"]


class Gpu:
    """GPU memory readings; all None on the CPU."""

    def __init__(self, torch) -> None:
        self.torch = torch
        self.on = torch.cuda.is_available()

    def mark(self) -> int:
        if not self.on:
            return 0
        self.torch.cuda.synchronize()
        self.torch.cuda.reset_peak_memory_stats()
        return self.torch.cuda.memory_allocated()

    def peak_since(self, mark: int) -> float | None:
        if not self.on:
            return None
        self.torch.cuda.synchronize()
        return (self.torch.cuda.max_memory_allocated() - mark) / GB


def batch_sizes(name: str, quick: bool) -> tuple[list[int], list[int]]:
    """(warm-up, timed) batch sizes."""
    if quick:  # 6 frames at 10 a second reach past 0.5 s: age_estimation reads a crop
        return [1], {"text_overlay": [2], "qwen2_vl_temporal": [4]}.get(name, [6])
    if name == "qwen2_vl_temporal":  # the whole 60 s clip at 2 frames a second
        total = int(CLIP_S * 2)
        return [DECODER_BATCH], [min(DECODER_BATCH, total - i) for i in range(0, total, DECODER_BATCH)]
    return [DECODER_BATCH], [DECODER_BATCH] * (4 if name == "text_overlay" else 8)


def run_case(case: Case, settings, runtimes: dict[type, Any], gpu: Gpu, quick: bool,
             pictures: dict[int, list[np.ndarray]]) -> None:  # fmt: skip
    """Set the analyzer up on its family's runtime (`runtimes`: one per family, built here when
    first needed), then time its batches."""
    from actors import runtime_of
    from pipeline.registry import load

    cls = load(case.name)
    runtime_cls = runtime_of(cls)
    if runtime_cls is None:
        raise TypeError(f"{case.name} has no model runtime in actors/: not a model this bench measures")
    case.family, case.spec = runtime_cls.name, cls.frames
    case.declared_gb = cls.resources_for(settings).gpu_memory_gb
    case.per_frame_target = cls.frames.size == 640
    warm_up, timed = batch_sizes(case.name, quick)
    if cls.frames.size not in pictures:
        pictures[cls.frames.size] = portrait_pictures(cls.frames.size)
    batches = frame_batches(cls.frames, warm_up + timed, pictures[cls.frames.size])
    mark = gpu.mark()
    start = time.perf_counter()
    if runtime_cls not in runtimes:
        runtimes[runtime_cls] = runtime_cls(settings)
    case.runtime, case.analyzer = runtimes[runtime_cls], cls(settings)
    case.runtime.load(case.analyzer)
    case.analyzer.setup()
    case.setup_s = time.perf_counter() - start
    for batch in batches[: len(warm_up)]:  # cuDNN and cuBLAS choose their kernels, lazy parts load
        case.process(batch)
    start = time.perf_counter()
    for batch in batches[len(warm_up) :]:
        case.process(batch)  # partials are numpy: the GPU work is done when it returns
    case.seconds = time.perf_counter() - start
    case.frames = sum(timed)
    case.peak_gb = gpu.peak_since(mark)
    case.batches = batches[len(warm_up) :]


def verdict(ok: bool, gpu: Gpu) -> str:
    return ("PASS" if ok else "FAIL") if gpu.on else "(CPU: not compared)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--quick", action="store_true", help="a few frames per model: a smoke run")
    parser.add_argument("--models-dir", help="where the full-size random weights go (default: a temporary directory)")
    parser.add_argument("--analyzers", default="object_detection,body_pose,background_segmentation,age_estimation,"
                        "eye_tracking,text_overlay,qwen2_vl_temporal")  # fmt: skip
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: actors.device chooses by it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch

    from pipeline.settings import Settings

    gpu = Gpu(torch)
    if gpu.on:
        props = torch.cuda.get_device_properties(0)
        print(f"device: {props.name} ({props.total_memory / GB:.1f} GB), torch {torch.__version__}")
    else:
        print(f"no GPU: CPU smoke run, not the GPU figures (torch {torch.__version__}, {os.cpu_count()} cores)")
    if args.quick:
        print("quick: a few frames per model and 4 new tokens per Qwen2-VL window: not the figures the targets are for")

    scratch = None if args.models_dir else tempfile.TemporaryDirectory(prefix="reelscope-bench-models-")
    models = Path(args.models_dir or scratch.name).resolve()
    qwen = {"max_new_tokens": 4} if args.quick else {}
    # EasyOCR: the GPU reader (rapidocr runs on the CPU).
    settings = Settings(models_dir=models, text_overlay={"reader": "easyocr"}, qwen2_vl_temporal=qwen)
    cases = [Case(name) for name in args.analyzers.split(",")]
    try:
        from pipeline.registry import load

        start = time.perf_counter()
        for case in cases:
            try:
                write_weights(case.name, settings, load(case.name))
            except Exception as exc:  # a library this machine lacks: that analyzer is skipped
                case.problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:150]
        print(f"full-size random weights in {models} ({time.perf_counter() - start:.1f} s to write)")
        if any(case.name == "text_overlay" and not case.problem for case in cases):
            trust_generated_easyocr(models)

        pictures: dict[int, list[np.ndarray]] = {}
        runtimes: dict[type, Any] = {}
        for case in cases:
            if case.problem:
                continue
            try:
                run_case(case, settings, runtimes, gpu, args.quick, pictures)
            except Exception as exc:
                case.problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:150]
                traceback.print_exc(limit=3)
        report(cases, gpu, args.quick, settings.qwen2_vl_temporal.max_new_tokens)
        co_resident(cases, gpu, torch)
    finally:
        if scratch is not None:
            scratch.cleanup()


def report(cases: list[Case], gpu: Gpu, quick: bool, tokens: int) -> None:
    print()
    print(f"{'analyzer':<25} {'frames':>8} {'px':>4} {'setup s':>8} {'frames/s':>9} {'video s/s':>9} "
          f"{'peak GB':>8} {'declared':>8}  target")  # fmt: skip
    for case in cases:
        if case.problem:
            print(f"{case.name:<25} skipped: {case.problem}")
            continue
        peak = "-" if case.peak_gb is None else f"{case.peak_gb:.2f}"
        target = ""
        if case.per_frame_target:
            target = f">= {PER_FRAME_TARGET:g} frames/s {verdict(case.fps >= PER_FRAME_TARGET, gpu)}"
        print(
            f"{case.name:<25} {case.frames:>8} {case.spec.size:>4} {case.setup_s:>8.1f} {case.fps:>9.1f} "
            f"{case.fps / case.spec.fps:>9.1f} {peak:>8} {case.declared_gb:>8g}  {target}"
        )
        if case.peak_gb is not None and case.peak_gb > case.declared_gb:
            print(f"{'':<25} peak over its declared {case.declared_gb:g} GB")
    qwen = next((c for c in cases if c.name == "qwen2_vl_temporal" and not c.problem), None)
    if qwen is not None:
        windows = sum(len(grid) for grid in _windows(qwen))
        if quick:
            print(f"qwen2_vl_temporal: {qwen.frames} frames, {windows} window(s), in {qwen.seconds:.2f} s "
                  f"({tokens} new tokens each); the 60 s figure needs a full run")  # fmt: skip
        else:
            print(f"qwen2_vl_temporal: a {CLIP_S:g} s clip ({qwen.frames} frames, {windows} windows, up to {tokens} "
                  f"new tokens each) in {qwen.seconds:.2f} s; target <= {QWEN_TARGET_S:g} s "
                  f"{verdict(qwen.seconds <= QWEN_TARGET_S, gpu)}")  # fmt: skip
    print("random weights: YOLO detects nothing; faces: stand-in detector, "
          f"{FACES_PER_FRAME} faces a frame; EasyOCR: one box a frame, every frame read; "
          "Qwen2-VL: max_new_tokens every window")  # fmt: skip


def _windows(case: Case) -> list:
    from pipeline.analyzers.qwen2_vl import grid_windows

    return [grid_windows(batch.pts_s, case.analyzer.window_s) for batch in case.batches]


def co_resident(cases: list[Case], gpu: Gpu, torch) -> None:
    """Every set-up analyzer once more on one batch, all models loaded: the total peak. The
    analyzers of one family read the same batch in one pass of their runtime, as in their worker."""
    running = [c for c in cases if not c.problem]
    if not running:
        return
    families: dict[str, list[Case]] = {}  # one runtime per family
    for case in running:
        families.setdefault(case.family, []).append(case)
    gpu.mark()  # the peak from here on counts every model loaded, not only what this pass adds
    start = time.perf_counter()
    for family in families.values():
        batch = family[0].batches[0]
        predicted = family[0].runtime.predict(batch, frozenset(c.name for c in family))
        for case in family:
            case.analyzer.process_frames(batch, predicted)
    seconds = time.perf_counter() - start
    print()
    print(f"all {len(running)} analyzers co-resident, one batch each: {seconds:.1f} s")
    if not gpu.on:
        import resource

        print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.1f} GB (CPU run)")
        return
    total = gpu.peak_since(0)
    reserved = torch.cuda.max_memory_reserved() / GB
    free, whole = torch.cuda.mem_get_info()
    in_use = (whole - free) / GB
    context = in_use - torch.cuda.memory_reserved() / GB  # this process's memory outside PyTorch's allocator
    print(f"  one process: peak allocated {total:.2f} GB (peak reserved {reserved:.2f} GB, device in use now "
          f"{in_use:.2f} GB)  target <= {GPU_BUDGET_GB:g} GB {verdict(total <= GPU_BUDGET_GB, gpu)}")  # fmt: skip
    worst = sum(c.peak_gb or 0.0 for c in running) + len(families) * context
    print(f"  as {len(families)} worker processes (one per family, all at their peak at once): sum of the "
          f"analyzers' peaks + {len(families)} x {context:.2f} GB outside the allocator = {worst:.2f} GB "
          f"{verdict(worst <= GPU_BUDGET_GB, gpu)}")  # fmt: skip
    print(f"  declared: {sum(c.declared_gb for c in running):g} GB")


if __name__ == "__main__":
    main()
