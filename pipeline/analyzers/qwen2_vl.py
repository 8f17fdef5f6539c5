"""What happens on screen, in words: a vision-language model (Qwen2-VL / Qwen2.5-VL) describes
each fixed window of the video in one sentence; the shots cut_analysis found get the
description of the window that covers most of them.

`process_frames` takes frames at SAMPLE_FPS and groups them into windows on a fixed grid of
video time (window k: [k * window_s, (k + 1) * window_s), window_s = frames_per_window /
SAMPLE_FPS), read from the frames' presentation times. A batch describes the windows it holds:
the frames are resized to the model's patch grid here, with OpenCV (the processor's own resize
is slow and the preprocessing is what bounds a VLM's throughput), each window goes to the
processor as one video, and the windows of the batch go through `generate` together,
windows_per_generate at a time (left padding), greedy, at most max_new_tokens tokens. A grid
window that straddles two batches (only when the frame times are irregular: at SAMPLE_FPS a
decoder batch of 32 frames is 16 s, a whole number of windows) is described as two windows, one
per batch, each from the frames it holds.

Segments, times from presentation timestamps:
  "window"  one per described window, tiling the video from its first sampled frame: it ends where
            the next begins, the last one a sampling step after its last frame (at most at the
            end of the video); data {index, frames, description}.
  "shot"    one per cut_analysis shot (the whole video when cut_analysis did not succeed); data
            {index, description (of the window overlapping the shot the longest, the first on a
            tie; None when no window reaches it), windows (the indices of every window
            overlapping it)}.
Summary: model, window_s, frames_per_window, frame_size ([width, height] the model saw),
window_count, shot_count, shots_from ("cut_analysis" or "whole_video"), generate_calls,
seconds_per_window (the processor and generate time per window, in the worker).

What it can tell: a caption per window of what is visible and, across the window's frames, what
changes (an action, a camera move); per shot, the caption of the window that sits most in it.
What it cannot: anything shorter than the sampling step (0.5 s), anything inside the shot but
outside its best window, anything heard, and exact on-screen text (small frames, one sentence).
The model can be wrong or make things up; windows across a cut mix two shots. Random or
untrained weights give well-formed nonsense.

Settings, read in the worker at setup (environment variables, else the class attributes below):
    REELSCOPE_QWEN2_VL_FRAMES_PER_WINDOW   frames per window (4: 2 s windows)
    REELSCOPE_QWEN2_VL_MAX_PIXELS          pixels per frame at most, after resizing
    REELSCOPE_QWEN2_VL_WINDOWS_PER_GENERATE how many windows one generate call may take
    REELSCOPE_QWEN2_VL_MAX_NEW_TOKENS      length limit of a description
    REELSCOPE_QWEN2_VL_QUANTIZE            "8bit" or "4bit": bitsandbytes weights. A GPU path: on
                                           CPU it is ignored and the model stays in float32.
On a GPU the model runs in bfloat16, with flash_attention_2 when flash_attn is installed (else
PyTorch's SDPA); on CPU in float32 with SDPA.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from typing import Any

import cv2
import numpy as np

from pipeline.analyzer import Analyzer, Context, FrameBatch, FrameSpec, Findings, Partials, Resources, Skip
from pipeline.analyzers.shots import TIME_SLACK_S, shots_and_transitions
from pipeline.models import Weights
from pipeline.schema import Segment

SAMPLE_FPS = 2.0  # the rate Qwen2-VL was trained to read video at
FRAME_SIZE = 448  # the decoder's long side; MAX_PIXELS decides what the model gets
PROMPT = "Describe in one sentence what happens in this video clip."
ENV_PREFIX = "REELSCOPE_QWEN2_VL_"
QUANTIZE_CHOICES = ("", "8bit", "4bit")


class Qwen2VLTemporal(Analyzer):
    name = "qwen2_vl_temporal"
    frames = FrameSpec(fps=SAMPLE_FPS, size=FRAME_SIZE)
    after = ("cut_analysis",)
    in_decoder = False
    # 2.2 B parameters in bfloat16 (4.4 GB) plus the vision encoder's activations and the KV cache
    # of 8 windows of about 300 tokens each.
    resources = Resources(cpus=1, gpu_memory_gb=8)
    weights = (
        Weights(
            name="Qwen2-VL-2B-Instruct",
            source="Qwen/Qwen2-VL-2B-Instruct",
            revision="895c3a49bc3fa70a340399125c650a463535e71c",  # as public projects pin it (not checked from here)
            # The image processor's settings (patch size, mean and std) and the tokenizer.
            files=("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"),
        ),
    )

    FRAMES_PER_WINDOW = 4
    # 144 merged 28x28 patches: a 448x252 frame (16:9 either way) as it is, about 300 tokens a window.
    MAX_PIXELS = 144 * 28 * 28
    MIN_PIXELS = 56 * 56  # Qwen2-VL's smallest input: tinier frames are upscaled to this
    WINDOWS_PER_GENERATE = 8  # one decoder batch of 32 frames: one generate call
    MAX_NEW_TOKENS = 48
    QUANTIZE = ""

    def setup(self) -> None:
        path = self.weights[0].require(self.name)
        self.frames_per_window = max(1, _setting("FRAMES_PER_WINDOW", self.FRAMES_PER_WINDOW))
        self.max_pixels = _setting("MAX_PIXELS", self.MAX_PIXELS)
        self.windows_per_generate = max(1, _setting("WINDOWS_PER_GENERATE", self.WINDOWS_PER_GENERATE))
        self.max_new_tokens = max(1, _setting("MAX_NEW_TOKENS", self.MAX_NEW_TOKENS))
        quantize = os.environ.get(ENV_PREFIX + "QUANTIZE", self.QUANTIZE).strip().lower()
        if quantize not in QUANTIZE_CHOICES:
            raise ValueError(f"{ENV_PREFIX}QUANTIZE must be one of {QUANTIZE_CHOICES}, not {quantize!r}")
        self.processor, self.model = _load(path, quantize)
        quantized = quantize if quantize and self.model.device.type == "cuda" else None
        self.record_model(
            self.weights[0],
            backend="transformers",
            device=str(self.model.device),
            dtype=quantized or str(self.model.dtype).removeprefix("torch."),
        )
        self.processor.tokenizer.padding_side = "left"  # batched generation appends after the prompt
        # We resize (do_resize=False below): silence the processor's note about its own resize cap.
        if hasattr(self.processor.video_processor, "cap_pixels_per_frame"):
            self.processor.video_processor.cap_pixels_per_frame = False
        self.factor = self.processor.video_processor.patch_size * self.processor.video_processor.merge_size
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": PROMPT}]}]
        self.prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    @property
    def window_s(self) -> float:
        return self.frames_per_window / SAMPLE_FPS

    def process_frames(self, batch: FrameBatch) -> dict[str, Any]:
        start = time.perf_counter()
        height, width = batch.frames.shape[1:3]
        size = vision_size(height, width, self.factor, self.MIN_PIXELS, self.max_pixels)
        frames = _resized(batch.frames, size)
        windows = grid_windows(batch.pts_s, self.window_s)
        texts: list[str] = []
        calls = 0
        for first in range(0, len(windows), self.windows_per_generate):
            chunk = windows[first : first + self.windows_per_generate]
            texts += self._describe([frames[a:b] for a, b in chunk])
            calls += 1
        return {
            "windows": [
                {"start_s": float(batch.pts_s[a]), "last_s": float(batch.pts_s[b - 1]), "frames": b - a, "text": text}
                for (a, b), text in zip(windows, texts)
            ],
            "generate_calls": calls,
            "describe_s": time.perf_counter() - start,
            "frame_size": [size[1], size[0]],
            "window_s": self.window_s,
            "frames_per_window": self.frames_per_window,
        }

    def _describe(self, windows: list[np.ndarray]) -> list[str]:
        """One sentence per window, all windows in one generate call."""
        inputs = self.preprocess(windows)
        return self.postprocess(self.infer(inputs), inputs)

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
                {"total_num_frames": len(w), "fps": SAMPLE_FPS, "frames_indices": list(range(len(w)))} for w in windows
            ],
            do_resize=False,
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)

    def infer(self, inputs):
        """Greedy generation: (windows, prompt length + new tokens) token ids."""
        import torch

        with torch.inference_mode():
            return self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)

    def postprocess(self, output, inputs) -> list[str]:
        """The tokens after each prompt, decoded without special tokens, whitespace collapsed."""
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [" ".join(text.split()) for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]

    def finalize(self, partials: Partials, context: Context) -> Findings:
        described = [w for p in partials.frames for w in p["windows"]]
        if not described:
            raise Skip("no video frames decoded")
        described.sort(key=lambda w: w["start_s"])
        spans = _window_spans(described, context.video.duration_s)
        windows = [
            Segment(
                start_s=start,
                end_s=end,
                label="window",
                data={"index": i, "frames": w["frames"], "description": w["text"]},
            )
            for i, (w, (start, end)) in enumerate(zip(described, spans))
        ]
        cuts = context.ok("cut_analysis")
        shot_spans, _ = shots_and_transitions(cuts, (spans[0][0], spans[-1][1]))
        shots = [_shot(i, span, windows) for i, span in enumerate(shot_spans)]
        first = partials.frames[0]
        return Findings(
            segments=windows + shots,
            summary={
                "model": self.weights[0].source,
                "window_s": first["window_s"],
                "frames_per_window": first["frames_per_window"],
                "frame_size": first["frame_size"],
                "window_count": len(windows),
                "shot_count": len(shots),
                "shots_from": "cut_analysis" if cuts else "whole_video",
                "generate_calls": sum(p["generate_calls"] for p in partials.frames),
                "seconds_per_window": round(sum(p["describe_s"] for p in partials.frames) / len(windows), 4),
            },
        )


def grid_windows(pts: np.ndarray, window_s: float) -> list[tuple[int, int]]:
    """[start, stop) of each run of frames in one grid window of `window_s` seconds."""
    slots = np.floor(np.asarray(pts, np.float64) / window_s + 1e-6)
    edges = np.flatnonzero(np.diff(slots)) + 1
    bounds = [0, *edges.tolist(), len(slots)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


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


def _resized(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    shrinking = height * width < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.stack([cv2.resize(frame, (width, height), interpolation=interpolation) for frame in frames])


def _window_spans(windows: list[dict[str, Any]], duration_s: float) -> list[tuple[float, float]]:
    """Each window from its first frame to the next window's first frame; the last one a sampling
    step past its last frame, cut at the end of the video."""
    starts = [round(w["start_s"], 4) for w in windows]
    last = windows[-1]["last_s"]
    end = last + 1.0 / SAMPLE_FPS
    if duration_s > last:
        end = min(end, duration_s)
    return list(zip(starts, [*starts[1:], round(end, 4)]))


def _shot(index: int, span: tuple[float, float], windows: list[Segment]) -> Segment:
    start, end = span
    overlaps = [min(end, w.end_s) - max(start, w.start_s) for w in windows]
    inside = [i for i, overlap in enumerate(overlaps) if overlap > TIME_SLACK_S]
    best = max(inside, key=lambda i: overlaps[i], default=None)  # max keeps the first on a tie
    return Segment(
        start_s=start,
        end_s=end,
        label="shot",
        data={
            "index": index,
            "description": windows[best].data["description"] if best is not None else None,
            "windows": inside,
        },
    )


def _setting(name: str, default: int) -> int:
    value = os.environ.get(ENV_PREFIX + name)
    return int(value) if value else default


def _load(path, quantize: str):
    """The processor and the model from the snapshot at `path`, on the GPU when there is one."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    options: dict[str, Any] = {"local_files_only": True}
    if cuda:
        options["dtype"] = torch.bfloat16
        options["device_map"] = "cuda"
        options["attn_implementation"] = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
        if quantize:
            # The vision tower and the output head stay in bfloat16: quantising them costs the most quality.
            keep = ["model.visual", "lm_head"]  # matched from the start of a module's name
            options["quantization_config"] = (
                BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep)
                if quantize == "8bit"
                else BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_compute_dtype=torch.bfloat16,
                    llm_int8_skip_modules=keep,
                )
            )
    else:
        options["dtype"] = torch.float32
        options["attn_implementation"] = "sdpa"
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(path, **options).eval()
    # Greedy decoding: drop the sampling settings a checkpoint's generation config may carry.
    generation = model.generation_config
    generation.do_sample = False
    generation.temperature = generation.top_p = generation.top_k = None
    return processor, model
