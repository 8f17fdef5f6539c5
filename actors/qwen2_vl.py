"""The vision_language family: Qwen2-VL (or Qwen2.5-VL) describing windows of frames, loaded once
per worker, for qwen2_vl_temporal.

One pass (`predict`): qwen2_vl_temporal says which frames of the batch make each window
(`Qwen2VLTemporal.windows`) and what to ask (`prompt`). The frames are resized to the model's
patch grid here, with OpenCV (the processor's own resize is slow and the preprocessing is what
bounds a VLM's throughput), each window goes to the processor as one video, and the windows of
the batch (behind Serve, of concurrent requests' batches: `predict_many`) go through `generate`
together, windows_per_generate at a time (left padding), greedy,
at most max_new_tokens tokens: preprocess -> infer -> postprocess per generate call.

Settings (settings.qwen2_vl_temporal): max_pixels, windows_per_generate, max_new_tokens, and
quantize ("8bit" / "4bit": bitsandbytes weights; a GPU path: on CPU it is ignored and the model
stays in float32). On a GPU the model runs in bfloat16, with flash_attention_2 when flash_attn
is installed (else PyTorch's SDPA); on CPU in float32 with SDPA.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from actors.base import ModelActor, Runtime, parts
from actors.device import Placement, choose
from pipeline.analyzer import FrameBatch
from pipeline.models import Weights

if TYPE_CHECKING:
    from pipeline.analyzers.qwen2_vl import Qwen2VLTemporal

QWEN2_VL_WEIGHTS = Weights(
    name="Qwen2-VL-2B-Instruct",
    source="Qwen/Qwen2-VL-2B-Instruct",
    revision="895c3a49bc3fa70a340399125c650a463535e71c",  # as public projects pin it (not checked from here)
    # The image processor's settings (patch size, mean and std) and the tokenizer.
    files=("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"),
)
MIN_PIXELS = 56 * 56  # Qwen2-VL's smallest input: tinier frames are upscaled to this


@dataclass
class Descriptions:
    """The model's answer for one batch: one sentence per asked window."""

    windows: list[tuple[int, int]]  # [start, stop) frame indices of each window in the batch
    texts: list[str]
    generate_calls: int
    seconds: float  # resizing, the processor and generate, for the whole batch
    frame_size: tuple[int, int]  # (width, height) the model saw


class QwenRuntime(Runtime):
    name = "vision_language"

    def load(self, analyzer: Qwen2VLTemporal) -> None:
        self.analyzer = analyzer  # it says which frames make a window, and what to ask
        self.options = self.settings.qwen2_vl_temporal
        path = analyzer.local(QWEN2_VL_WEIGHTS).require(analyzer.name)
        placement = choose(gpu_dtype="bfloat16")
        self.processor, self.model = _load(path, placement, self.options.quantize)
        quantized = self.options.quantize if self.options.quantize != "none" and placement.cuda else None
        self.models_used.setdefault(analyzer.name, []).append(
            analyzer.local(QWEN2_VL_WEIGHTS).provenance(
                backend="transformers",
                device=str(self.model.device),
                dtype=quantized or str(self.model.dtype).removeprefix("torch."),
            )
        )
        self.processor.tokenizer.padding_side = "left"  # batched generation appends after the prompt
        # We resize (do_resize=False below): silence the processor's note about its own resize cap.
        if hasattr(self.processor.video_processor, "cap_pixels_per_frame"):
            self.processor.video_processor.cap_pixels_per_frame = False
        self.factor = self.processor.video_processor.patch_size * self.processor.video_processor.merge_size
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": analyzer.prompt}]}]
        self.prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        self.fps = analyzer.frames.fps

    @property
    def max_pixels(self) -> int:
        return self.options.max_pixels

    def predict(self, payload: FrameBatch, analyzers: frozenset[str]) -> Descriptions:
        return self.predict_many([payload], analyzers)[0]

    def predict_many(self, batches: list[FrameBatch], analyzers: frozenset[str]) -> list[Descriptions]:
        """`predict` for several batches (a Serve replica's concurrent requests,
        pipeline.runners.serve_families.Coalescer): the windows of every batch go through
        `generate` together, windows_per_generate at a time. A batch's generate_calls counts the
        calls its windows were in; its seconds are its windows' share of the time."""
        start = time.perf_counter()
        sizes, windows, clips, owners = [], [], [], []  # owners: the batch of each clip
        for i, batch in enumerate(batches):
            height, width = batch.frames.shape[1:3]
            sizes.append(vision_size(height, width, self.factor, MIN_PIXELS, self.max_pixels))
            frames = resized(batch.frames, sizes[-1])
            windows.append(self.analyzer.windows(batch))
            clips += [frames[a:b] for a, b in windows[-1]]
            owners += [i] * len(windows[-1])
        texts: list[str] = []
        calls = [set() for _ in batches]  # per batch, the generate calls its windows were in
        step = self.options.windows_per_generate
        for call, first in enumerate(range(0, len(clips), step)):
            inputs = self.preprocess(clips[first : first + step])
            texts += self.postprocess(self.infer(inputs), inputs)
            for owner in owners[first : first + step]:
                calls[owner].add(call)
        elapsed = time.perf_counter() - start
        described = []
        for i, ((height, width), part) in enumerate(zip(sizes, parts(len(w) for w in windows))):
            mine = texts[part]
            share = elapsed * len(mine) / len(clips) if clips else elapsed / len(batches)
            described.append(Descriptions(windows[i], mine, len(calls[i]), share, (width, height)))
        return described

    def preprocess(self, windows: list[np.ndarray]):
        """Windows of RGB uint8 frames, already on the patch grid -> the processor's tensors: the
        prompt per window (left padded), and each window as one video: rescaled to 0-1,
        normalised with the processor's image mean and std (RGB order), cut into patches of
        temporal_patch_size frames."""
        return self.processor(
            text=[self.prompt] * len(windows),
            videos=windows,
            # The frames' rate: Qwen2.5-VL places video tokens in time with it.
            video_metadata=[
                {"total_num_frames": len(w), "fps": self.fps, "frames_indices": list(range(len(w)))} for w in windows
            ],
            do_resize=False,
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)

    def infer(self, inputs):
        """Greedy generation: (windows, prompt length + new tokens) token ids."""
        import torch

        with torch.inference_mode():
            return self.model.generate(**inputs, max_new_tokens=self.options.max_new_tokens, do_sample=False)

    def postprocess(self, output, inputs) -> list[str]:
        """The tokens after each prompt, decoded without special tokens, whitespace collapsed."""
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [" ".join(text.split()) for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


def vision_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) near the frame's aspect, each a multiple of `factor` (the model's merged
    patch) and at least one, with an area between min_pixels and max_pixels where the shape
    allows. Qwen2-VL's smart_resize, except that extreme shapes are clamped instead of refused."""
    h, w = max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        scale = math.sqrt(max_pixels / (height * width))
        h = max(factor, math.floor(height * scale / factor) * factor)
        w = max(factor, math.floor(width * scale / factor) * factor)
    elif h * w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * scale / factor) * factor, math.ceil(width * scale / factor) * factor
    cap = max(factor, max_pixels // factor // factor * factor)  # a side that stays within max_pixels beside `factor`
    if h * w > max_pixels:  # one side was clamped up to `factor`: shorten the other
        h, w = (min(h, cap), w) if h > w else (h, min(w, cap))
    return h, w


def resized(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    shrinking = height * width < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.stack([cv2.resize(frame, (width, height), interpolation=interpolation) for frame in frames])


def _load(path: Path, placement: Placement, quantize: str):
    """The processor and the model from the snapshot at `path`, where `placement` says."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    options: dict[str, Any] = {"local_files_only": True, "dtype": placement.torch_dtype()}
    if placement.cuda:
        options["device_map"] = placement.device
        options["attn_implementation"] = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
        if quantize != "none":
            options["quantization_config"] = _quantization(quantize, placement)
    else:
        options["attn_implementation"] = "sdpa"
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(path, **options).eval()
    # Greedy decoding: drop the sampling settings a checkpoint's generation config may carry.
    generation = model.generation_config
    generation.do_sample = False
    generation.temperature = generation.top_p = generation.top_k = None
    return processor, model


def _quantization(quantize: str, placement: Placement):
    """bitsandbytes weights for the language model; bitsandbytes is needed only here."""
    from transformers import BitsAndBytesConfig

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"quantize={quantize} needs bitsandbytes: `pip install bitsandbytes`")
    # The vision tower and the output head stay in bfloat16: quantising them costs the most quality.
    keep = ["model.visual", "lm_head"]  # matched from the start of a module's name
    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=placement.torch_dtype(),
        llm_int8_skip_modules=keep,
    )


class VisionLanguageActor(ModelActor):
    family = "vision_language"
    runtime = QwenRuntime
    serves = ("qwen2_vl_temporal",)
