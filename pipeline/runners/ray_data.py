"""The engine's units as a Ray Data graph: the one graph the CLI and the bulk backfill run.

    requests --map_batches(decode task)--> WorkItem rows --map_batches(actor pool per model stage)-->
        driver (plain columns only) --a video's last item in--> Finalizer actor: Assembler (+ its result file)

A WorkItem travels as one row of a pandas block (actors/base.py): its frames or audio are put in
the object store once, by the decode task, and the row carries a reference that only the pools
reading the payload fetch (zero copy on the same node); the others pass it on unread. The driver
never unpickles an item: it groups a video's items by the row's plain columns and hands them to
a Finalizer actor, which assembles and finalizes the video and, in a backfill, writes its result file.

A decode worker owns the payloads it put: when it dies (a file that crashes FFmpeg), the other
videos whose payloads it held lose those not yet read. A pool marks such an item `lost`, and
those videos are analysed once more, in a second, smaller dataset (its pools load their models
again), so a poison video costs only itself.

Decoding runs as Ray tasks: a warm cluster reuses its worker processes, and each process keeps
its set-up in-decoder analyzers (`engine.decode_stage`), so a second video pays no start-up.
Model stages run in actor pools with a GPU fraction derived from the memory they declare;
they are started and filled before frames stream to them, so a slow model load does not
leave decoded frames piling up (ray-project/ray#65540).
"""

from __future__ import annotations

import logging
import pickle
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import ray
from ray.exceptions import RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors import actor_class, pack, reference
from pipeline import metrics
from pipeline.engine import Assembler, Plan, VideoRequest, decode_stage, one_line
from pipeline.runners import OnItem
from pipeline.runners.resources import decode_cpus, gpu_memory_gb, node_cpus, stage_cpus, stage_gpus
from pipeline.schema import Status, VideoResult

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
        # "local": a Ray of this run's own, even where another cluster's address is on record
        # (/tmp/ray/ray_current_cluster, left by any `ray start` on this machine).
        ray.init(address="local", num_gpus=num_gpus, logging_level=level, log_to_driver=verbose, include_dashboard=False)
    ray.data.DataContext.get_current().enable_progress_bars = verbose and sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)


def decode_videos(batch: dict[str, np.ndarray], plan: Plan) -> Iterator[pd.DataFrame]:
    """The decode task (its name is the operator's on the dashboard: `MapBatches(decode_videos)`).
    Each item carries when its video's decoding began, so each video is timed end to end."""
    stage = decode_stage(plan)
    for video_id, path in zip(batch["video_id"], batch["path"]):
        started = time.time()
        for item in stage(VideoRequest(str(video_id), str(path))):
            metrics.record_stage({}, item.seconds, 0, "decode")  # in-decoder analyzers: their seconds
            if item.info is not None:
                metrics.record_decoded(item.info.frame_count or 0)
            yield pack([item]).assign(**{STARTED: started})


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
    nodes = node_cpus()
    cpus = stage_cpus(stages, fractions, nodes, settings)
    decode_cpu = decode_cpus(nodes)
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
        ds.context.batch_to_block_arrow_format = False  # pandas blocks: see actors/base.py
        ds = ds.map_batches(
            decode_videos,
            fn_kwargs={"plan": plan},
            batch_size=1,
            num_cpus=decode_cpu,
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
                batch_format="pandas",  # the block as it is: its payloads are references
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max_pool_size),
                num_gpus=fraction,
                num_cpus=cpu,
                max_task_retries=CRASH_RETRIES,
            )
    return ds


@dataclass(frozen=True)
class Finished:
    """What the driver of a backfill learns of a video whose result file a Finalizer wrote."""

    id: str
    source: str
    status: Status
    error: str | None
    duration_s: float | None

    @classmethod
    def of(cls, result: VideoResult) -> Finished:
        duration = result.video.duration_s if result.video else None
        return cls(result.id, result.source, result.status, result.error, duration)


# Ray restarts a finalizer that died however often (max_restarts=-1), so a video that kills it
# each time fails alone (its call retried CRASH_RETRIES times) and the next video finds it again.
@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=CRASH_RETRIES)
class Finalizer:
    """Assembles and finalizes whole videos from their items, in a worker, not on the driver; with
    results_dir, writes each result file (the backfill's done marker) and returns only a Finished.
    An actor rather than a task apiece: it imports and builds the analyzers once per run, where
    short-lived task workers beyond a node's CPU count would each start (and import) afresh.
    It reserves no CPU: finalizing is a small share of a video's work, and the driver bounds how
    many videos wait for it."""

    def __init__(self, plan: Plan) -> None:
        self.assembler = Assembler(plan)

    def finalize(self, items: list[bytes], started: float, results_dir: str | None) -> VideoResult | Finished:
        result = self.assembler.finalize([pickle.loads(item) for item in items])
        metrics.record_video(result, time.time() - started, RUNNER)
        if results_dir is None:
            return result
        from pipeline.backfill import write_atomically

        write_atomically(Path(results_dir) / f"{result.id}.json", result.to_json())
        return Finished.of(result)


def run(
    requests: list[VideoRequest], plan: Plan, on_item: OnItem | None = None, **options
) -> Iterator[VideoResult]:
    """Analyse the videos on the connected Ray cluster; yield each result as its video completes.
    on_item(video_id, seconds, kind): called as each of a video's items arrives: the video time it
    reaches (0 for the last item), and its kind ("frames", "audio", "end")."""
    yield from _stream(requests, plan, on_item, None, options)


def run_to_files(
    requests: list[VideoRequest], plan: Plan, results_dir: Path, on_item: OnItem | None = None, **options
) -> Iterator[Finished]:
    """As `run`, but each video's result is written to results_dir/<id>.json by the Finalizer
    that finalizes it: the driver only learns what it needs for a progress line."""
    yield from _stream(requests, plan, on_item, str(results_dir), options)


PASSES = 2  # a video whose payloads were lost with their decoder is analysed once more, then failed


def _stream(requests, plan, on_item, results_dir, options) -> Iterator[VideoResult | Finished]:
    deaths = _Deaths()
    logging.getLogger("ray.data").addHandler(deaths)  # the errors Ray Data ignores for us, with their causes
    driver = _Driver(requests, plan, on_item, results_dir)
    pending = requests
    try:
        for _ in range(PASSES):
            deaths.causes.clear()
            yield from driver.run(build_dataset(pending, plan, **options))
            lost = [r for r in pending if r.video_id not in driver.answered and r.video_id not in driver.again]
            for request in lost:
                yield _failed(request, f"the worker analysing this video died{deaths.cause(len(lost))}", results_dir)
            pending = [r for r in pending if r.video_id in driver.again]
            if not pending:
                break
        for request in pending:
            yield _failed(request, f"its frames or audio were lost before its models read them, {PASSES} times: the process that decoded it died", results_dir)
    finally:
        logging.getLogger("ray.data").removeHandler(deaths)
        for finalizer in driver.finalizers:
            ray.kill(finalizer)


class _Driver:
    """The driver's part: it reads each row's plain columns (never its pickles), keeps a video's
    items until the last one is in, hands them to a Finalizer and yields its answer."""

    def __init__(self, requests, plan, on_item, results_dir) -> None:
        self.requests = requests
        self.sources = {r.video_id: r for r in requests}
        self.on_item = on_item
        self.results_dir = results_dir
        cpus = ray.cluster_resources().get("CPU", 1)
        # One finalizer per 32 CPUs (at least one); each keeps up with far more videos than 32 CPUs
        # decode. On the driver's node: the items come to the driver anyway, and that node lives as
        # long as the run (one on a lost worker node would take its videos with it). Not soft: a
        # soft affinity let Ray start it on a worker node at times, and when that node died, the
        # videos handed to it failed while it restarted. It reserves nothing, so it always fits
        # there. Started now: it is warm when the first video completes.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.finalizers = [Finalizer.options(scheduling_strategy=here).remote(plan) for _ in range(max(1, int(cpus) // 32))]
        self.turn = 0
        self.items: dict[str, dict[int, bytes]] = {}  # video_id -> seq -> pickled item: a retried task may deliver one twice
        self.expected: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.finalizing: dict[ray.ObjectRef, str] = {}
        self.answered: set[str] = set()
        self.again: set[str] = set()  # videos of this pass with a lost payload: for the next pass
        self.limit = 2 * len(self.finalizers)  # videos handed over at once: bounds what waits in the object store

    def run(self, ds: ray.data.Dataset) -> Iterator[VideoResult | Finished]:
        self.items.clear()  # what came of videos whose items stopped coming: they start again
        self.expected.clear()
        self.started.clear()
        self.again.clear()
        rows = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
            names = ("video_id", "seq", "kind", "items", "until_s", "lost", "item", STARTED)
            for video_id, seq, kind, count, until_s, lost, item, began in zip(*(batch[c].tolist() for c in names)):
                rows += 1
                if lost or video_id in self.again:  # it is analysed again, whole
                    self.again.add(video_id)
                    self.items.pop(video_id, None)
                    continue
                self.add(video_id, seq, kind, count, until_s, item, began)
            yield from self.collect(timeout=0)
            yield from self.collect(timeout=None, leave=self.limit)
            decoded = _decoded_items(ds)
            if decoded is not None:
                metrics.set_queue_depth(RUNNER, decoded - rows)
        metrics.set_queue_depth(RUNNER, 0)
        yield from self.collect(timeout=None)

    def add(self, video_id: str, seq: int, kind: str, count: int, until_s: float, item: bytes, began: float) -> None:
        self.started.setdefault(video_id, began)
        if self.on_item is not None:
            self.on_item(video_id, until_s, kind)
        got = self.items.setdefault(video_id, {})
        got[seq] = item
        if count:
            self.expected[video_id] = count
        if len(got) == self.expected.get(video_id):
            del self.items[video_id]
            ordered = [got[i] for i in range(len(got))]
            finalizer = self.finalizers[self.turn % len(self.finalizers)]
            self.turn += 1
            self.finalizing[finalizer.finalize.remote(ordered, self.started[video_id], self.results_dir)] = video_id

    def collect(self, timeout: float | None, leave: int = 0) -> Iterator[VideoResult | Finished]:
        """Answers of the Finalizers: those ready now (timeout 0), else wait until at
        most `leave` are left running."""
        while self.finalizing and (timeout == 0 or len(self.finalizing) > leave):
            ready, _ = ray.wait(list(self.finalizing), num_returns=1, timeout=timeout)
            if not ready:
                return
            video_id = self.finalizing.pop(ready[0])
            self.answered.add(video_id)
            try:
                yield ray.get(ready[0])
            except RayError as exc:  # its finalizer kept dying on it: this video only
                yield _failed(self.sources[video_id], f"assembling this video failed: {one_line(exc)}", self.results_dir)


class _Deaths(logging.Handler):
    """Why Ray Data's tasks and actors died in this run: it logs each error it ignores (those of
    the decode task or pool batch of one video) with the exception, which says why when Ray knows."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.causes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            text = str(error).strip().splitlines()
            self.causes.append(f"{type(error).__name__}: {text[0] if text else ''}".strip())

    def cause(self, videos: int) -> str:
        """The cause for one of `videos` lost videos: the one seen, or every distinct one."""
        causes = list(dict.fromkeys(self.causes))
        if not causes:
            return "; the Ray logs say why"
        if videos == 1 and len(causes) == 1:
            return f" ({causes[0]})"
        return f" (in this run, Ray gave: {' | '.join(causes)})"


def _failed(request: VideoRequest, error: str, results_dir: str | None) -> VideoResult | Finished:
    """A video whose items stopped coming (its worker died), as a result (written, for a backfill)."""
    result = VideoResult(id=request.video_id, source=request.path, status=Status.failed, error=error)
    metrics.record_video(result, 0.0, RUNNER)
    if results_dir is None:
        return result
    from pipeline.backfill import write_atomically

    write_atomically(Path(results_dir) / f"{result.id}.json", result.to_json())
    return Finished.of(result)


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
