"""The same units as a Ray Data graph (pipeline/runners/ray_data.py) on a real local Ray with one logical GPU."""

from __future__ import annotations

import pytest
from probe_analyzers import Broken, FrameCounter, KillsItsWorker, SecondGpuModel, SettingsEcho, SettingsEchoInDecoder

from pipeline.runners import ray_data, resources
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status
from pipeline.settings import Settings

DEFAULTS = Settings()

PLAN = Plan(analyzers=(Broken, FrameCounter, SecondGpuModel), unavailable={})


def test_model_stages_share_one_gpu_and_match_the_local_run(local_ray, sample_clip, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    requests = [VideoRequest("a", str(sample_clip)), VideoRequest("bad", str(bad)), VideoRequest("b", str(sample_clip))]
    # Two 20 GB models on an 80 GB GPU: 0.25 each, so both pools fit on the one logical GPU at once.
    results = {r.id: r for r in ray_data.run(requests, PLAN, memory_gb=80)}
    assert set(results) == {"a", "b", "bad"}
    assert results["bad"].status == Status.failed and "not a readable media file" in results["bad"].error
    (local,) = run_local([requests[0]], PLAN)
    for video_id in ("a", "b"):
        result = results[video_id]
        for name in ("probe_counter", "probe_second_model"):
            assert result.analyzers[name].status == Status.ok
            assert result.analyzers[name].segments == local.analyzers[name].segments
        assert result.analyzers["probe_broken"].status == Status.failed


def test_a_worker_that_dies_costs_only_its_video(local_ray, sample_clip, tmp_path):
    poison = write_clip(str(tmp_path / "poison.mp4"), ClipSpec(shots=(Shot(0.5, color=(255, 0, 255)),), audio=None))
    requests = [VideoRequest("before", str(sample_clip)), VideoRequest("poison", poison), VideoRequest("after", str(sample_clip))]
    plan = Plan(analyzers=(KillsItsWorker, FrameCounter), unavailable={})
    results = {r.id: r for r in ray_data.run(requests, plan)}
    assert set(results) == {"before", "poison", "after"}
    assert results["poison"].status == Status.failed
    # With the cause Ray gives (Ray Data logs the error it ignores for us): here, the process ended.
    assert "the worker analysing this video died (WorkerCrashedError: The worker died unexpectedly" in results["poison"].error
    for video_id in ("before", "after"):
        assert results[video_id].status == Status.ok
        assert results[video_id].analyzers["probe_counter"].summary.frames == 300


def test_gpu_fraction_from_declared_memory():
    assert resources.gpu_fraction((FrameCounter,), 80, DEFAULTS) == 0.25
    assert resources.gpu_fraction((FrameCounter, SecondGpuModel), 80, DEFAULTS) == 0.5  # one family, one pool
    assert resources.gpu_fraction((Broken,), 80, DEFAULTS) == 0.0
    with pytest.raises(resources.PlacementError, match="probe_counter need 20 GB of GPU memory; the GPU has 16 GB"):
        resources.gpu_fraction((FrameCounter,), 16, DEFAULTS)


def test_stages_that_cannot_share_the_gpus_fail_before_starting():
    stages = [(FrameCounter,), (SecondGpuModel,)]
    assert resources.stage_gpus(stages, cluster_gpus=1, memory_gb=80, settings=DEFAULTS) == [0.25, 0.25]
    assert resources.stage_gpus(stages, cluster_gpus=0, memory_gb=80, settings=DEFAULTS) == [0.0, 0.0]  # models on CPUs
    with pytest.raises(resources.PlacementError, match=r"need 1.25 GPUs at once .* the cluster has 1"):
        resources.stage_gpus(stages, cluster_gpus=1, memory_gb=32, settings=DEFAULTS)


def test_cpu_reservations_always_leave_room_for_every_pool():
    stages = [(FrameCounter, SecondGpuModel), (FrameCounter,), (SecondGpuModel,)]  # 1 + 0.5 + 0.5 CPUs declared
    assert resources.stage_cpus(stages, [0.0, 0.0, 0.0], node_cpus=[16], settings=DEFAULTS) == [1.0, 0.5, 0.5]
    assert resources.stage_cpus(stages, [0.0, 0.0, 0.0], node_cpus=[2], settings=DEFAULTS) == [0.5, 0.25, 0.25]
    assert resources.stage_cpus(stages, [0.5, 0.25, 0.0], node_cpus=[2], settings=DEFAULTS) == [0.0, 0.0, 0.5]
    # One CPU: the decode task and the pools share it (a pool holding any of it left no room for a decode).
    one = resources.stage_cpus(stages, [0.0, 0.0, 0.0], node_cpus=[1], settings=DEFAULTS)
    assert one == [0.25, 0.125, 0.125] and resources.decode_cpus([1]) + sum(one) == 1.0
    # Two 1-CPU nodes: wherever the pools land, one node keeps half a CPU for a decode.
    two = resources.stage_cpus(stages, [0.0, 0.0, 0.0], node_cpus=[1, 1], settings=DEFAULTS)
    assert resources.decode_cpus([1, 1]) == 0.5 and sum(two) == 1.0


def test_without_a_gpu_model_stages_run_on_cpus(local_ray, sample_clip):
    (result,) = ray_data.run([VideoRequest("a", str(sample_clip))], PLAN, cluster_gpus=0)
    assert result.analyzers["probe_counter"].summary.frames == 300


def test_every_worker_gets_the_runs_settings_in_its_plan(local_ray, sample_clip, tmp_path):
    """Decode tasks and actor pools alike are built with the driver's Settings object, and no
    REELSCOPE_* variable reaches them through the environment."""
    settings = Settings(models_dir=tmp_path / "models", gpu_memory_gb=46)
    plan = Plan((SettingsEchoInDecoder, SettingsEcho), {}, settings=settings)
    assert [tuple(a.name for a in s) for s in plan.stages] == [("probe_settings_echo",)]  # one actor pool
    (result,) = ray_data.run([VideoRequest("a", str(sample_clip))], plan)
    for name in ("probe_settings_echo", "probe_settings_echo_in_decoder"):
        seen = result.analyzers[name].summary
        assert (seen.models_dir, seen.gpu_memory_gb, seen.reelscope_variables) == (str(tmp_path / "models"), 46, [])
