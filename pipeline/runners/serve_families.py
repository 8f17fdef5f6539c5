"""The model families behind Ray Serve: one deployment each, the same `actors` class the Ray Data
graph runs, with its GPU fraction, CPUs and autoscaling (`family_deployments`).

A family deployment is a `Family`: its `actors` class, called in a thread per item, so that the
items of concurrent requests (and a request's own items in flight) reach the family's Runtime
together. Where the Runtime can answer several payloads in one pass (`predict_many`: every family
but Whisper), a `Coalescer` joins the calls that arrive within `batch_wait_s`, up to
`batch_max_payloads`, into shared forward passes; other families answer one item at a time.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import ray
from ray import serve

from actors import ModelActor, actor_class, reference, resolve
from pipeline.analyzer import AudioTrack, FrameBatch
from pipeline.engine import Plan, stage_name
from pipeline.runners.resources import gpu_memory_gb, stage_cpus, stage_gpus
from pipeline.settings import Settings

OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("owner", default="")  # the request an item is of
ARRIVED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("arrived", default=None)


class _Pass:
    """The calls one shared forward pass answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[FrameBatch | AudioTrack, str]] = []  # (payload, owner)
        self.results: list | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class Coalescer:
    """A Runtime's `predict`, called by a Family replica's threads at once: one pass runs at a
    time, and the next one takes every call (of the same analyzers, on frames of one size or
    audio of one rate) that gathered meanwhile, up to `max_payloads`, answered by one
    `predict_many`. Once the model is free, a pass waits up to `wait_s` for the items in the
    replica that are still on their way to it (`coming`: none for a lone item, which never
    waits). `stats`: passes, payloads, the largest pass, and passes shared by several requests."""

    def __init__(self, predict_many: Callable, max_payloads: int, wait_s: float, coming: Callable[[], int]) -> None:
        self.predict_many = predict_many
        self.max_payloads = max_payloads
        self.wait_s = wait_s
        self.coming = coming
        self.gathering: dict[tuple, _Pass] = {}
        self.joined = threading.Condition()
        self.forward = threading.Lock()
        self.stats = Counter(passes=0, payloads=0, largest=0, shared=0)

    def __call__(self, payload: FrameBatch | AudioTrack, analyzers: frozenset[str]):
        key = (analyzers, payload.frames.shape[1:] if isinstance(payload, FrameBatch) else payload.sample_rate)
        with self.joined:
            if (arrived := ARRIVED.get()) is not None:
                arrived.set()  # this item is no longer on its way
            batch = self.gathering.get(key)
            first = batch is None or len(batch.calls) >= self.max_payloads
            if first:
                batch = self.gathering[key] = _Pass()
            index = len(batch.calls)
            batch.calls.append((payload, OWNER.get()))
            self.joined.notify_all()
        if first:
            with self.forward:  # the model is free: this pass takes what gathered meanwhile
                self._close(key, batch)
                self._run(batch, analyzers)
        batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[index]

    def _close(self, key: tuple, batch: _Pass) -> None:
        """Waits up to wait_s for the items in the replica that have not joined, then closes the
        pass: later calls start the next one."""
        deadline = time.monotonic() + self.wait_s
        with self.joined:
            while len(batch.calls) < self.max_payloads and self.coming() and (left := deadline - time.monotonic()) > 0:
                self.joined.wait(left)
            if self.gathering.get(key) is batch:
                del self.gathering[key]

    def _run(self, batch: _Pass, analyzers: frozenset[str]) -> None:
        try:
            batch.results = self.predict_many([payload for payload, _ in batch.calls], analyzers)
        except BaseException as exc:  # every caller's analyzers fail with it, as a lone pass's would
            batch.error = exc
        finally:
            self.stats.update(passes=1, payloads=len(batch.calls), shared=len({o for _, o in batch.calls}) > 1)
            self.stats["largest"] = max(self.stats["largest"], len(batch.calls))
            batch.done.set()


class Family:
    """A model family's deployment: its `actors` class (`actor`, a reference), each call in a
    thread of its own. A Runtime with `predict_many` answers through a Coalescer, so concurrent
    items share forward passes; any other family's calls run one at a time, as before."""

    def __init__(self, actor: str, analyzers: tuple[str, ...], settings: Settings) -> None:
        self.actor = resolve(actor)(analyzers=analyzers, settings=settings)
        self.on_the_way: list[threading.Event] = []  # per item in the replica: set once it reached predict
        self.coalescers: dict[str, Coalescer] = {}
        runtimes = self.actor.runtimes()
        for runtime in runtimes:
            if hasattr(runtime, "predict_many"):
                options = settings.serve
                runtime.predict = self.coalescers[runtime.name] = Coalescer(
                    runtime.predict_many, options.batch_max_payloads, options.batch_wait_s, self._coming
                )
        self.one_at_a_time = threading.Lock() if len(self.coalescers) < len(runtimes) or not runtimes else None

    async def __call__(self, packed, owner: str = ""):
        arrived = threading.Event()
        self.on_the_way.append(arrived)
        try:
            return await asyncio.to_thread(self._run, packed, owner, arrived)
        finally:
            self.on_the_way.remove(arrived)

    def _coming(self) -> int:
        return sum(not arrived.is_set() for arrived in list(self.on_the_way))

    def _run(self, packed, owner: str, arrived: threading.Event):
        OWNER.set(owner)
        ARRIVED.set(arrived)
        if self.one_at_a_time is None:
            return self.actor(packed)
        with self.one_at_a_time:
            return self.actor(packed)

    def batching(self) -> dict[str, dict[str, int]]:
        """Each coalescing Runtime's counts (Coalescer.stats) in this replica."""
        return {name: dict(coalescer.stats) for name, coalescer in self.coalescers.items()}


def family_deployments(plan: Plan) -> dict[str, Any]:
    """A bound `Family` deployment per model stage of the plan (stage name -> deployment), each
    with its share of the cluster's GPUs and CPUs."""
    settings = plan.settings
    options = settings.serve
    cluster = ray.cluster_resources() if ray.is_initialized() else {}
    gpus = cluster.get("GPU", 0.0) if options.use_gpus is None else (math.inf if options.use_gpus else 0.0)
    fractions = stage_gpus(plan.stages, gpus, gpu_memory_gb(settings), settings)
    # Serve's decode tasks reserve no CPU (the ingress's ingress_cpus stand for them), so no
    # decode slot per node: the cluster's CPUs count as one pool.
    cpus = stage_cpus(plan.stages, fractions, [cluster.get("CPU", os.cpu_count() or 1)], settings)
    families = {}
    for stage, gpu, cpu in zip(plan.stages, fractions, cpus):
        cls = actor_class(stage)
        deployment = serve.deployment(Family).options(
            name=stage_name(stage) if cls is ModelActor else cls.__name__,
            ray_actor_options={"num_gpus": gpu, "num_cpus": cpu},
            max_ongoing_requests=8,
            autoscaling_config={"min_replicas": 1, "max_replicas": options.max_model_replicas, "target_ongoing_requests": 2},
        )
        # Small arguments: the replica resolves the classes itself (no constructor arguments in the object store).
        families[stage_name(stage)] = deployment.bind(
            actor=reference(cls), analyzers=tuple(reference(a) for a in stage), settings=settings
        )
    return families
