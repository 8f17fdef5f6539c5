"""The seven vision analyzers together on the test session's local Ray with one logical GPU: the
four model families' actor pools are placed on that GPU at once, by the fractions their declared
memory gives, and run the tiny random models of tests/model_factory.py (text with rapidocr, on the
CPU: see `vision_settings`), with the same results as in process. A plan whose models cannot share the GPU is
refused before anything starts."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import pytest
from model_factory import YUNET_CELL

from pipeline.runners import ray_data, resources
from pipeline.engine import Plan, VideoRequest, stage_name
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, render_frames
from pipeline.schema import Status

VISION = [
    "object_detection",
    "body_pose",
    "background_segmentation",
    "age_estimation",
    "eye_tracking",
    "text_overlay",
    "qwen2_vl_temporal",
]
FAMILIES = {"ultralytics", "faces", "ocr", "vision_language"}
GPU_BUDGET_GB = 16  # the budget for every vision model on one GPU
MEMORY_GB = 80  # of the one logical GPU
# Measured durations: the only parts of a result that differ from run to run.
TIMINGS = {"seconds_per_window"}

# 2 s, 320 x 240: a caption for the OCR, a cut, a pan; a face (a white cell the YuNet stand-in
# reads as one) in the first shot, so that the age classifier runs in the workers too.
CLIP = ClipSpec(
    shots=(Shot(1.0, (200, 80, 40), text="LINK IN BIO", seed=1), Shot(1.0, (60, 140, 220), "pan", speed=120, seed=2)),
    audio=None,
)
FACE_ROW, FACE_COLUMN = 2, 5  # the white cell, on the stand-in's 32 px grid


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("vision") / "face_caption_pan.mp4"
    y, x = FACE_ROW * YUNET_CELL, FACE_COLUMN * YUNET_CELL
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(CLIP.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = CLIP.width, CLIP.height, "yuv420p"
        for i, (t, frame) in enumerate(render_frames(CLIP)):
            if t < CLIP.shots[0].seconds:
                frame[y : y + YUNET_CELL, x : x + YUNET_CELL] = 255
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return str(path)


def free_gpu(ray) -> float:
    return ray.available_resources().get("GPU", 0.0)


def wait_for_whole_gpu(ray, timeout_s: float = 20.0) -> None:
    """Until no actor holds any of the GPU (pools of an earlier run end asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while free_gpu(ray) < 1.0 - 1e-9:
        assert time.monotonic() < deadline, f"the GPU is still held: {free_gpu(ray)} free"
        time.sleep(0.1)


def comparable(result) -> dict:
    return {
        name: (analyzed.segments, analyzed.summary.model_dump(exclude=TIMINGS))
        for name, analyzed in result.analyzers.items()
    }


def test_declared_gpu_memory_of_every_vision_model_fits_the_budget(vision_settings):
    plan = Plan.build(VISION, settings=vision_settings)
    declared = {a.name: a.resources_for(vision_settings).gpu_memory_gb for a in plan.analyzers if a.name in VISION}
    assert set(declared) == set(VISION)
    assert sum(declared.values()) <= GPU_BUDGET_GB, declared


def test_all_vision_analyzers_share_one_gpu_and_match_the_local_run(local_ray, vision_settings, clip):
    plan = Plan.build(VISION, settings=vision_settings)
    stages = plan.stages
    fractions = resources.stage_gpus(stages, cluster_gpus=1, memory_gb=MEMORY_GB, settings=vision_settings)
    assert sorted(a.name for stage in stages for a in stage) == sorted(VISION)  # every vision analyzer in a model stage
    assert {stage_name(stage) for stage in stages} == FAMILIES and len(stages) == len(FAMILIES)  # a stage per family
    declared = [sum(a.resources_for(vision_settings).gpu_memory_gb for a in stage) for stage in stages]
    assert fractions == [pytest.approx(gb / MEMORY_GB, abs=1e-4) for gb in declared] and sum(fractions) <= 1.0
    # Every model stage holds a share of the GPU but the OCR's: rapidocr reads on the CPU and reserves none.
    assert {stage_name(stage): fraction > 0 for stage, fraction in zip(stages, fractions)} == {
        family: family != "ocr" for family in FAMILIES
    }

    # While the run goes on, how much of the GPU is free, as Ray's scheduler accounts it.
    wait_for_whole_gpu(local_ray)
    lowest = [1.0]
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set():
            lowest[0] = min(lowest[0], free_gpu(local_ray))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        (distributed,) = ray_data.run([VideoRequest("clip", clip)], plan, memory_gb=MEMORY_GB, cluster_gpus=1)
    finally:
        running.clear()
        watcher.join()
    # Every pool held its share at one moment: no subset of the three non-zero fractions adds up to all of them.
    assert lowest[0] == pytest.approx(1.0 - sum(fractions), abs=1e-6)
    wait_for_whole_gpu(local_ray)  # and all gave it back when the run ended

    assert distributed.status == Status.ok, distributed.error
    for name in VISION:
        analyzed = distributed.analyzers[name]
        assert analyzed.status == Status.ok, (name, analyzed.reason or analyzed.error)
    assert distributed.analyzers["text_overlay"].summary.backend == "rapidocr"
    [aged] = [s for s in distributed.analyzers["age_estimation"].segments if s.label == "face"]
    assert aged.data.crops == 2  # one every 0.5 s of the 1 s the face is on screen: the model ran

    (local,) = run_local([VideoRequest("clip", clip)], plan)  # the workers read the plan's settings too
    assert comparable(distributed) == comparable(local)


@pytest.mark.parametrize(
    "memory_gb, message",
    [
        (4, "qwen2_vl_temporal need 8 GB of GPU memory; the GPU has 4 GB"),
        (12, "the model stages need 1.08 GPUs at once"),  # 13 GB: 3 ultralytics, 2 faces, 8 Qwen2-VL, OCR on the CPU
    ],
    ids=["one model too big", "together too big"],
)
def test_a_plan_that_cannot_fit_is_refused_before_starting(local_ray, vision_settings, clip, memory_gb, message):
    wait_for_whole_gpu(local_ray)
    plan = Plan.build(VISION, settings=vision_settings)
    results = ray_data.run([VideoRequest("clip", clip)], plan, memory_gb=memory_gb, cluster_gpus=1)
    with pytest.raises(resources.PlacementError) as refused:
        next(results)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert free_gpu(local_ray) == 1.0  # no pool was placed
