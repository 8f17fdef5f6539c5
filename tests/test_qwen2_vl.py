"""qwen2_vl_temporal on a tiny, randomly initialised Qwen2-VL (tests/model_factory.py): loaded
by its family's runtime (actors/qwen2_vl.py) as a worker loads it, it describes windows
(well-formed nonsense), so these tests check the windows' frames and times, the per-shot choice,
the batching into generate calls and the odd inputs, never the words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.qwen2_vl import MIN_PIXELS, QwenRuntime, vision_size
from pipeline.analyzer import Context, FrameBatch, Partials, Skip
from pipeline.analyzers.qwen2_vl import (
    GPU_MEMORY_GB,
    SAMPLE_FPS,
    Qwen2VLSegment,
    Qwen2VLSummary,
    Qwen2VLTemporal,
    grid_windows,
)
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoInfo, VideoResult
from pipeline.settings import Settings

FRAME = 1 / 30 + 1e-3  # a source frame: how far a sampled frame may sit from the 2 fps grid
MAX_PIXELS = 28 * 28 * 12  # small frames for the tiny model: the test clip's 320x240 is shrunk to it
WINDOWS_PER_GENERATE = 3
# 17 s at 2 fps: 34 frames, a decoder batch of 32 (8 windows) and one of 2 (one short window).
# Cuts at 3 s (inside window 1) and 9 s.
CLIP = ClipSpec(
    shots=(
        Shot(3.0, (210, 90, 50), seed=1),
        Shot(6.0, (60, 140, 220), "pan", speed=60, seed=2),
        Shot(8.0, (90, 200, 90), seed=3),
    ),
    audio=None,
)


NAME = "qwen2_vl_temporal"


def qwen_settings(models_dir) -> Settings:
    """Settings reading `models_dir` with the options the tests count on."""
    wanted = {"max_pixels": MAX_PIXELS, "windows_per_generate": WINDOWS_PER_GENERATE, "max_new_tokens": 4}
    return Settings(models_dir=models_dir, qwen2_vl_temporal=wanted)


@pytest.fixture(scope="module")
def settings(vision_models_dir) -> Settings:
    """The session's tiny models, a tiny Qwen2-VL among them where the analyzer looks for
    Qwen2-VL-2B-Instruct."""
    return qwen_settings(vision_models_dir)


class Worker:
    """qwen2_vl_temporal set up as a worker sets it up: the vision_language runtime loaded for
    it, each batch described by the runtime, then analysed. Its generate calls are recorded
    (and run)."""

    def __init__(self, settings: Settings) -> None:
        self.analyzer = Qwen2VLTemporal(settings)
        self.runtime = QwenRuntime(settings)
        self.runtime.load(self.analyzer)
        self.analyzer.setup()
        self.generate_batches: list[int] = []
        generate = self.runtime.model.generate

        def recorded(**inputs):
            self.generate_batches.append(int(inputs["input_ids"].shape[0]))
            return generate(**inputs)

        self.runtime.model.generate = recorded

    def process_frames(self, batch: FrameBatch):
        return self.analyzer.process_frames(batch, self.runtime.predict(batch, frozenset({NAME})))

    def finalize(self, partials: Partials, context: Context):
        return self.analyzer.finalize(partials, context)


@pytest.fixture(scope="module")
def worker(settings) -> Worker:
    return Worker(settings)


@pytest.fixture(scope="module")
def clip_result(settings, tmp_path_factory):
    path = write_clip(str(tmp_path_factory.mktemp("clip") / "three_shots.mp4"), CLIP)
    [result] = run_local([VideoRequest("three_shots", path)], Plan.build([NAME], settings=settings))
    return result


def batch(pts: list[float], height: int = 120, width: int = 160, index: int = 0) -> FrameBatch:
    rng = np.random.default_rng(index)
    frames = rng.integers(0, 256, (len(pts), height, width, 3), dtype=np.uint8)
    return FrameBatch(Qwen2VLTemporal.frames, index, np.asarray(pts, np.float64), frames)


def context(duration_s: float) -> Context:
    info = VideoInfo(
        path="x.mp4", duration_s=duration_s, size_bytes=1, container="mp4", has_video=True, has_audio=False
    )
    return Context(video=info, results={})  # no cut_analysis result


def test_windows_and_shots_on_a_clip(clip_result):
    result = clip_result.analyzers[NAME]
    assert result.status == Status.ok, result.error or result.reason
    assert clip_result.analyzers["cut_analysis"].status == Status.ok
    windows = [s for s in result.segments if s.label == "window"]
    shots = [s for s in result.segments if s.label == "shot"]

    # Eight 2 s windows of 4 frames, then the last second's 2 frames; they tile 0-17 s.
    assert [w.data.frames for w in windows] == [4] * 8 + [2]
    assert [w.start_s for w in windows] == pytest.approx([2.0 * k for k in range(9)], abs=FRAME)
    assert all(a.end_s == b.start_s for a, b in zip(windows, windows[1:]))
    assert windows[-1].end_s == pytest.approx(CLIP.duration_s, abs=FRAME)
    assert [w.data.index for w in windows] == list(range(9))
    assert all(isinstance(w.data.description, str) for w in windows)

    # The cut_analysis shots, each with the description of the window most inside it.
    assert [t for s in shots for t in (s.start_s, s.end_s)] == pytest.approx([0, 3, 3, 9, 9, 17], abs=FRAME)
    assert [s.data.windows for s in shots] == [[0, 1], [1, 2, 3, 4], [4, 5, 6, 7, 8]]
    best = [0, 2, 5]  # shot 0 holds 2 s of window 0 and 1 s of window 1; ties go to the first window
    assert [s.data.description for s in shots] == [windows[i].data.description for i in best]

    summary = result.summary
    assert summary.window_count == 9 and summary.shot_count == 3
    assert summary.shots_from == "cut_analysis"
    assert summary.window_s == 2.0 and summary.frames_per_window == 4
    # Batch 0 holds 8 windows (3 + 3 + 2), batch 1 one.
    assert summary.generate_calls == math.ceil(8 / WINDOWS_PER_GENERATE) + 1
    width, height = summary.frame_size
    assert width % 28 == 0 and height % 28 == 0 and width * height <= MAX_PIXELS and width > height
    print(f"tiny Qwen2-VL: {summary.seconds_per_window:.3f} s per window (CPU)")


def test_the_document_reads_back_typed(clip_result):
    again = VideoResult.model_validate_json(clip_result.to_json())
    result = again.analyzers[NAME]
    assert result == clip_result.analyzers[NAME]
    assert type(result.summary) is Qwen2VLSummary
    assert result.segments and all(type(s.data) is Qwen2VLSegment for s in result.segments)
    window, shot = (next(s for s in result.segments if s.label == label) for label in ("window", "shot"))
    assert window.data.windows is None and shot.data.frames is None  # each label's own fields


def test_windows_of_a_batch_share_generate_calls(worker):
    worker.generate_batches.clear()
    partial = worker.process_frames(batch([k / SAMPLE_FPS for k in range(20)]))  # 10 s: 5 windows
    assert worker.generate_batches == [3, 2]
    assert partial["generate_calls"] == 2
    assert [w["frames"] for w in partial["windows"]] == [4] * 5
    assert [w["start_s"] for w in partial["windows"]] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_window_split_across_batches(worker):
    """Irregular times put grid window 0 in two batches: each describes the part it holds."""
    first = worker.process_frames(batch([0.0, 0.5, 1.0]))
    second = worker.process_frames(batch([1.5, 2.0, 2.6, 3.1], index=1))
    findings = worker.finalize(Partials(frames=[first, second]), context(duration_s=3.5))
    windows = [s for s in findings.segments if s.label == "window"]
    assert [(w.start_s, w.end_s, w.data.frames) for w in windows] == [(0.0, 1.5, 3), (1.5, 2.0, 1), (2.0, 3.5, 3)]
    (shot,) = [s for s in findings.segments if s.label == "shot"]
    assert (shot.start_s, shot.end_s) == (0.0, 3.5)  # no cut_analysis: the whole video is one shot
    assert shot.data.windows == [0, 1, 2]
    assert shot.data.description == windows[0].data.description  # 1.5 s, tied with window 2: the first
    assert findings.summary.shots_from == "whole_video"
    assert findings.summary.generate_calls == 2  # one per batch


@pytest.mark.parametrize(
    "height, width",
    [(1, 1), (2, 448), (448, 252), (3840, 2160)],
    ids=["one_pixel", "sliver", "portrait", "4k_portrait"],
)
def test_odd_frames_give_one_window(worker, height, width):
    partial = worker.process_frames(batch([7.25], height, width))
    (window,) = partial["windows"]
    assert (window["start_s"], window["last_s"], window["frames"]) == (7.25, 7.25, 1)
    assert isinstance(window["text"], str)
    w, h = partial["frame_size"]
    assert w % 28 == 0 and h % 28 == 0 and w * h <= MAX_PIXELS
    findings = worker.finalize(Partials(frames=[partial]), context(duration_s=7.3))
    assert [(s.label, s.start_s, s.end_s) for s in findings.segments] == [("window", 7.25, 7.3), ("shot", 7.25, 7.3)]


def test_vision_size():
    assert vision_size(252, 448, 28, 56 * 56, 144 * 28 * 28) == (252, 448)  # already on the grid and in budget
    assert vision_size(336, 448, 28, 56 * 56, 144 * 28 * 28) == (280, 364)
    assert vision_size(10, 10, 28, 56 * 56, 144 * 28 * 28) == (56, 56)
    assert vision_size(1, 4000, 28, 56 * 56, 144 * 28 * 28) == (28, 4004)  # a sliver stays one patch high
    assert vision_size(1, 8000, 28, 56 * 56, 144 * 28 * 28) == (28, 4032)  # and is cut to the budget


def test_grid_windows():
    assert grid_windows(np.array([16.0, 16.5, 17.0, 17.5, 18.0]), 2.0) == [(0, 4), (4, 5)]
    assert grid_windows(np.array([1.9999999]), 2.0) == [(0, 1)]  # float noise on a boundary: the later window


def test_no_frames_is_skipped(worker):
    with pytest.raises(Skip, match="no video frames"):
        worker.finalize(Partials(), context(duration_s=1.0))


def test_missing_weights_are_skipped_with_the_path(tmp_path):
    path = write_clip(str(tmp_path / "short.mp4"), ClipSpec(shots=(Shot(1.0),), audio=None))
    plan = Plan.build([NAME], settings=qwen_settings(tmp_path / "empty"))
    [result] = run_local([VideoRequest("short", path)], plan)
    skipped = result.analyzers[NAME]
    assert skipped.status == Status.skipped
    assert str(tmp_path / "empty" / "Qwen2-VL-2B-Instruct") in skipped.reason
    assert "Qwen/Qwen2-VL-2B-Instruct" in skipped.reason


# ---- what the model reads and what it returns ---------------------------------------------------

# Qwen2-VL-2B-Instruct's preprocessor_config.json: OpenAI CLIP's mean and std, RGB order.
IMAGE_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
IMAGE_STD = np.array([0.26862954, 0.26130258, 0.27577711])
COLOUR = (255, 128, 0)  # orange: red and blue far apart, so a BGR frame reads blue-ish


def test_frames_reach_the_model_rescaled_normalised_and_in_rgb(worker):
    """A 4-frame and a 2-frame window of one orange frame: every patch value of each channel is
    (value / 255 - mean) / std in R, G, B order; the grid is the frames' own size (no second
    resize), two frames per temporal patch; the shorter prompt is padded on the left."""
    runtime = worker.runtime
    height, width = vision_size(120, 160, runtime.factor, MIN_PIXELS, runtime.max_pixels)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = COLOUR
    inputs = runtime.preprocess([np.stack([frame] * 4), np.stack([frame] * 2)])
    patch = runtime.processor.video_processor.patch_size
    assert inputs["video_grid_thw"].tolist() == [[2, height // patch, width // patch], [1, height // patch, width // patch]]
    pixels = inputs["pixel_values_videos"].float().numpy().reshape(-1, 3, 2 * patch * patch)  # channel-major patches
    expected = (np.array(COLOUR) / 255 - IMAGE_MEAN) / IMAGE_STD
    np.testing.assert_allclose(pixels.min(axis=(0, 2)), expected, atol=1e-5)
    np.testing.assert_allclose(pixels.max(axis=(0, 2)), expected, atol=1e-5)
    mask = inputs["attention_mask"]
    assert mask[0].all() and not mask[1, 0] and mask[1, -1]  # left padding: generation appends to every prompt


def test_postprocess_returns_the_new_tokens_only(worker):
    """generate's output holds each (left-padded) prompt and then its new tokens, up to an end
    token and padding; the descriptions are the new tokens' text, special tokens dropped."""
    import torch

    runtime = worker.runtime
    tokenizer = runtime.processor.tokenizer
    frame = np.zeros((56, 56, 3), np.uint8)
    inputs = runtime.preprocess([np.stack([frame] * 4), np.stack([frame] * 2)])
    said = ["A person walks to a red car.", "A red  car."]
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in said]
    longest = max(map(len, ids))
    new = torch.tensor([row + [tokenizer.pad_token_id] * (longest - len(row)) for row in ids])
    output = torch.cat([inputs["input_ids"], new], dim=1)
    assert runtime.postprocess(output, inputs) == ["A person walks to a red car.", "A red car."]


def test_loading_records_the_model(worker):
    [used] = worker.runtime.models_used[NAME]
    assert (used.id, used.backend, used.device, used.dtype) == ("Qwen/Qwen2-VL-2B-Instruct", "transformers", "cpu", "float32")


@pytest.mark.parametrize("missing", Qwen2VLTemporal.weights[0].files)
def test_a_snapshot_without_its_processor_or_tokenizer_fails_in_one_line(vision_models_dir, tmp_path, missing):
    from pipeline.models import WeightsError

    source = vision_models_dir / Qwen2VLTemporal.weights[0].name
    folder = tmp_path / source.name
    folder.mkdir()
    for file in source.iterdir():
        if file.name != missing:
            (folder / file.name).symlink_to(file)
    settings = qwen_settings(tmp_path)
    with pytest.raises(WeightsError) as failed:
        QwenRuntime(settings).load(Qwen2VLTemporal(settings))
    assert str(failed.value).startswith(f"weights Qwen/Qwen2-VL-2B-Instruct at {folder}: has no {missing}; ")
    assert "reelscope models download --analyzers qwen2_vl_temporal" in str(failed.value)


# ---- what a worker reserves -----------------------------------------------------------------------


def test_gpu_memory_follows_the_quantisation():
    def gpu_gb(quantize):
        return Qwen2VLTemporal.resources_for(Settings(qwen2_vl_temporal={"quantize": quantize})).gpu_memory_gb

    assert gpu_gb("none") == GPU_MEMORY_GB["none"] == Qwen2VLTemporal.resources.gpu_memory_gb == 8.0
    assert gpu_gb("none") > gpu_gb("8bit") > gpu_gb("4bit") > 0
    assert Qwen2VLTemporal.resources_for(Settings()).gpu_memory_gb == 8.0  # bfloat16 by default


def test_settings_reach_the_analyzer_and_its_runtime(worker):
    assert worker.analyzer.window_s == 2.0  # frames_per_window 4 at 2 fps
    assert worker.runtime.max_pixels == MAX_PIXELS
    assert Settings().qwen2_vl_temporal.max_pixels == 144 * 28 * 28  # a 448x252 frame as it is


def test_concurrent_batches_share_generate_calls(worker):
    """Two requests' batches (a Serve replica's Coalescer) in shared generate calls: each batch is
    described as it is alone, and says how many calls its windows were in."""
    two_windows = [k / SAMPLE_FPS for k in range(8)]  # 4 s: 2 windows each
    first, second = batch(two_windows), batch([t + 10.0 for t in two_windows], index=1)
    alone = [worker.runtime.predict(b, frozenset({NAME})) for b in (first, second)]
    worker.generate_batches.clear()
    together = worker.runtime.predict_many([first, second], frozenset({NAME}))
    assert worker.generate_batches == [3, 1]  # 4 windows, WINDOWS_PER_GENERATE at a time
    assert [d.generate_calls for d in together] == [1, 2]  # the second's windows were in both calls
    for lone, shared in zip(alone, together):
        assert shared.windows == lone.windows and shared.frame_size == lone.frame_size
        assert shared.texts == lone.texts
    assert sum(d.seconds for d in together) > 0
