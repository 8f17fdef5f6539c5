"""The engine's units as a Ray Data graph: the one graph the CLI and the bulk backfill run.

    requests --map_batches(decode task)--> WorkItems --map_batches(actor pool per model stage)--> driver: Assembler

Decoding runs as Ray tasks: a warm cluster reuses its worker processes, and each process keeps
its set-up in-decoder analyzers (see `decode_stage`), so a second video pays no start-up.
Model stages run in actor pools with a GPU fraction derived from the memory they declare;
they are started and filled before frames stream to them, so a slow model load does not
leave decoded frames piling up (ray-project/ray#65540).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import ray

from actors import actor_class, pack, reference, unpack
from pipeline import metrics
from pipeline.analyzer import Analyzer
from pipeline.engine import Assembler, DecodeStage, Plan, VideoRequest
from pipeline.schema import VideoResult
from pipeline.settings import Settings

DEFAULT_GPU_MEMORY_GB = 80.0  # what a fraction is taken of when neither settings nor a local GPU say
MODEL_LOAD_TIMEOUT_S = 900  # how long a model stage may take to start its first actor
# Ray Data retries a task whose worker died forever by default: a file that crashes the decoder
# would loop. A few retries still ride out a lost node.
CRASH_RETRIES = 2
RUNNER = "ray_data"  # the `runner` tag of this runner's metrics
STARTED = "started_at"  # column: when the item's video began decoding (time.time())


def connect(address: str | None, num_gpus: float | None = None, verbose: bool = False) -> None:
    """Join the cluster at `address`, else start an embedded one here. Nothing is forwarded
    through the environment: every worker gets the run's settings inside its plan. verbose: Ray's
    own log lines, its workers' output and Ray Data's operator bars (rows and blocks) on the
    console; without it a healthy run shows only reelscope's progress, about videos."""
    import logging
    import os
    import sys

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, loopback-only Ray needs no token
    if ray.is_initialized():
        return
    level = logging.WARNING if verbose else logging.ERROR
    if address:
        ray.init(address=address, logging_level=level, log_to_driver=verbose)
    else:
        ray.init(num_gpus=num_gpus, logging_level=level, log_to_driver=verbose, include_dashboard=False)
    ray.data.DataContext.get_current().enable_progress_bars = verbose and sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)


class PlacementError(ValueError):
    """The model stages cannot be placed on the cluster's GPUs. The message is one line."""


def gpu_memory_gb(settings: Settings) -> float:
    """Memory of one GPU: the gpu_memory_gb setting, else this machine's first GPU, else 80 GB."""
    if settings.gpu_memory_gb:
        return settings.gpu_memory_gb
    from actors.device import local_gpu_memory_gb

    return local_gpu_memory_gb() or DEFAULT_GPU_MEMORY_GB


def gpu_fraction(analyzers: tuple[type[Analyzer], ...], memory_gb: float, settings: Settings) -> float:
    need = sum(a.resources_for(settings).gpu_memory_gb for a in analyzers)
    if need <= 0:
        return 0.0
    if need > memory_gb:
        raise PlacementError(
            f"{', '.join(a.name for a in analyzers)} need {need:g} GB of GPU memory; the GPU has {memory_gb:g} GB"
        )
    return round(need / memory_gb, 4)


def stage_gpus(
    stages: list[tuple[type[Analyzer], ...]], cluster_gpus: float, memory_gb: float, settings: Settings
) -> list[float]:
    """The GPU fraction of each model stage. Ray Data streams through every stage at once, so all
    of them must fit together; with no GPU at all, the models run on CPUs."""
    if cluster_gpus <= 0:
        return [0.0] * len(stages)
    fractions = [gpu_fraction(stage, memory_gb, settings) for stage in stages]
    if sum(fractions) > cluster_gpus + 1e-9:
        parts = ", ".join(f"{'+'.join(a.name for a in s)} {f:g}" for s, f in zip(stages, fractions))
        raise PlacementError(
            f"the model stages need {sum(fractions):.2f} GPUs at once ({parts}) and the cluster has {cluster_gpus:g}; "
            f"run fewer analyzers, or add GPUs"
        )
    return fractions


_decode_stages: dict[tuple[str, ...], DecodeStage] = {}


def decode_stage(plan: Plan) -> DecodeStage:
    """One set-up DecodeStage per worker process and plan: warm workers skip setup()."""
    if plan.key not in _decode_stages:
        _decode_stages[plan.key] = DecodeStage(plan)
    return _decode_stages[plan.key]


def decode_videos(batch: dict[str, np.ndarray], plan: Plan) -> Iterator[dict[str, list]]:
    """The decode task (its name is the operator's on the dashboard: `MapBatches(decode_videos)`).
    Each item carries when its video's decoding began, so `run` can time each video end to end."""
    stage = decode_stage(plan)
    for video_id, path in zip(batch["video_id"], batch["path"]):
        started = time.time()
        for item in stage(VideoRequest(str(video_id), str(path))):
            metrics.record_stage({}, item.seconds, 0, "decode")  # in-decoder analyzers: their seconds
            if item.info is not None:
                metrics.record_decoded(item.info.frame_count or 0)
            yield {**pack([item]), STARTED: [started]}


def stage_cpus(
    stages: list[tuple[type[Analyzer], ...]], fractions: list[float], cluster_cpus: float, settings: Settings
) -> list[float]:
    """CPUs each model stage's actor reserves. A GPU stage's CPU work only feeds its GPU: none. On
    CPUs, declared needs are scaled down until decoding (one CPU) and every pool fit together:
    Ray Data streams through all stages at once, and a pool that cannot place its actor would
    wait forever. Like GPU fractions, these are scheduling labels: the pools share the cores."""
    declared = [0.0 if f else sum(a.resources_for(settings).cpus for a in s) for s, f in zip(stages, fractions)]
    room = max(cluster_cpus - 1.0, 0.1)
    scale = min(1.0, room / sum(declared)) if sum(declared) else 1.0
    return [round(c * scale, 3) for c in declared]


def build_dataset(
    requests: list[VideoRequest],
    plan: Plan,
    *,
    memory_gb: float | None = None,
    cluster_gpus: float | None = None,
    max_pool_size: int = 1,
) -> ray.data.Dataset:
    """memory_gb: of one GPU (default: gpu_memory_gb(plan.settings)); cluster_gpus: GPUs the stages may share
    (default: what the cluster has now: on an autoscaling cluster keep a GPU node up, or pass it)."""
    stages = plan.stages
    resources = ray.cluster_resources()
    if cluster_gpus is None:
        cluster_gpus = resources.get("GPU", 0.0)
    settings = plan.settings
    fractions = stage_gpus(stages, cluster_gpus, memory_gb or gpu_memory_gb(settings), settings) if stages else []
    cpus = stage_cpus(stages, fractions, resources.get("CPU", 1.0), settings)
    # Ray 2.60 warns about every remote option passed through map_batches, and the retry limits
    # have no named parameter yet: keep that one warning off users' consoles.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        ds = ray.data.from_items(
            [{"video_id": r.video_id, "path": r.path} for r in requests], override_num_blocks=max(1, len(requests))
        )
        ds.set_name("reelscope")  # the dashboard's Ray Data page, and the `dataset` tag of its metrics
        # A worker that dies on one video (a decoder crash, out of memory) costs that video, not the
        # run: `run` reports it as failed.
        ds.context.max_errored_blocks = -1
        ds = ds.map_batches(
            decode_videos,
            fn_kwargs={"plan": plan},
            batch_size=1,
            num_cpus=1,
            max_retries=CRASH_RETRIES,
        )
        if stages:
            ds.context.wait_for_min_actors_s = MODEL_LOAD_TIMEOUT_S
        for i, (stage, fraction, cpu) in enumerate(zip(stages, fractions, cpus)):
            later = tuple(reference(a) for s in stages[i + 1 :] for a in s)
            ds = ds.map_batches(
                actor_class(stage),
                # Small arguments: the actor resolves the classes itself.
                fn_constructor_kwargs={"analyzers": tuple(map(reference, stage)), "later": later, "settings": settings},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max_pool_size),
                num_gpus=fraction,
                num_cpus=cpu,
                max_task_retries=CRASH_RETRIES,
            )
    return ds


def run(
    requests: list[VideoRequest], plan: Plan, on_item: Callable[[str, float], None] | None = None, **options
) -> Iterator[VideoResult]:
    """Analyse the videos on the connected Ray cluster; yield each result as its video completes.
    on_item(video_id, seconds): called as each video's items arrive, with the video time they reach."""
    assembler = Assembler(plan)
    finished: set[str] = set()
    started: dict[str, float] = {}
    run_start = time.time()
    assembled = 0
    ds = build_dataset(requests, plan, **options)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for item, began in zip(unpack(batch), batch[STARTED]):
            assembled += 1
            started.setdefault(item.video_id, float(began))
            if on_item is not None and item.until_s:
                on_item(item.video_id, item.until_s)
            result = assembler.add(item)
            if result is not None:
                finished.add(result.id)
                metrics.record_video(result, time.time() - started.pop(result.id), RUNNER)
                yield result
        decoded = _decoded_items(ds)
        if decoded is not None:
            metrics.set_queue_depth(RUNNER, decoded - assembled)
    metrics.set_queue_depth(RUNNER, 0)
    for request in requests:
        if request.video_id not in finished:
            result = assembler.abandon(request, "the worker analysing this video died; the Ray logs say why")
            metrics.record_video(result, time.time() - started.get(request.video_id, run_start), RUNNER)
            yield result


def _decoded_items(ds: ray.data.Dataset) -> int | None:
    """WorkItems the decode operator has emitted so far: read off Ray Data's running executor
    (internal API, so None where it differs)."""
    try:
        for op in ds._current_executor._topology:
            if "decode_videos" in op.name:
                return int(op.metrics.rows_task_outputs_generated)
    except (AttributeError, TypeError):
        pass
    return None
