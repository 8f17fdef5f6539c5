"""The engine's units as a Ray Data graph: the one graph the CLI and the bulk backfill run.

    requests --map_batches(decode task)--> WorkItems --map_batches(actor pool per model stage)--> driver: Assembler

Decoding runs as Ray tasks: a warm cluster reuses its worker processes, and each process keeps
its set-up in-decoder analyzers (see `_decode_stage`), so a second video pays no start-up.
Model stages run in actor pools with a GPU fraction derived from the memory they declare;
they are started and filled before frames stream to them, so a slow model load does not
leave decoded frames piling up (ray-project/ray#65540).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator

import numpy as np
import ray

from pipeline.analyzer import Analyzer
from pipeline.engine import AnalyzerStage, Assembler, DecodeStage, Plan, VideoRequest, WorkItem
from pipeline.schema import VideoResult

DEFAULT_GPU_MEMORY_GB = 80.0  # what a fraction is taken of when the cluster cannot say


def gpu_fraction(analyzers: tuple[type[Analyzer], ...], gpu_memory_gb: float) -> float:
    need = sum(a.resources.gpu_memory_gb for a in analyzers)
    if need <= 0:
        return 0.0
    if need > gpu_memory_gb:
        raise ValueError(
            f"{', '.join(a.name for a in analyzers)} need {need:g} GB of GPU memory; the GPU has {gpu_memory_gb:g} GB"
        )
    return round(need / gpu_memory_gb, 4)


@functools.lru_cache(maxsize=4)
def _decode_stage(names: tuple[str, ...]) -> DecodeStage:
    """One set-up DecodeStage per worker process and plan."""
    return DecodeStage(Plan.build(list(names) or None))


# WorkItems travel pickled in a binary column: Arrow cannot hold them as objects, and saying so
# ourselves spares Ray Data a failed conversion (and a warning) on every block.
def _pack(items: list[WorkItem]) -> dict[str, list[bytes]]:
    return {"item": [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]}


def _unpack(batch: dict[str, np.ndarray]) -> list[WorkItem]:
    return [pickle.loads(blob) for blob in batch["item"]]


def _decode(batch: dict[str, np.ndarray], names: tuple[str, ...]) -> Iterator[dict[str, list[bytes]]]:
    stage = _decode_stage(names)
    for video_id, path in zip(batch["video_id"], batch["path"]):
        for item in stage(VideoRequest(str(video_id), str(path))):
            yield _pack([item])


class AnalyzerActor:
    """An actor-pool worker around one AnalyzerStage; the model loads once, in __init__."""

    def __init__(self, names: tuple[str, ...], later: tuple[str, ...]) -> None:
        from pipeline.registry import load

        self.stage = AnalyzerStage(tuple(load(n) for n in names), tuple(load(n) for n in later))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        return _pack([self.stage(item) for item in _unpack(batch)])


def build_dataset(
    requests: list[VideoRequest],
    names: list[str] | None,
    *,
    gpu_memory_gb: float = DEFAULT_GPU_MEMORY_GB,
    max_pool_size: int = 1,
) -> ray.data.Dataset:
    plan = Plan.build(names)
    ds = ray.data.from_items(
        [{"video_id": r.video_id, "path": r.path} for r in requests], override_num_blocks=max(1, len(requests))
    )
    ds = ds.map_batches(_decode, fn_kwargs={"names": tuple(names or ())}, batch_size=1, num_cpus=1)
    stages = plan.stages
    for i, stage in enumerate(stages):
        later = tuple(a.name for s in stages[i + 1 :] for a in s)
        fraction = gpu_fraction(stage, gpu_memory_gb)
        ds = ds.map_batches(
            AnalyzerActor,
            fn_constructor_kwargs={"names": tuple(a.name for a in stage), "later": later},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max_pool_size),
            num_gpus=fraction,
            # A GPU stage's CPU work is feeding the GPU; reserving a core for it starves decode on small hosts.
            num_cpus=0 if fraction else sum(a.resources.cpus for a in stage),
        )
    return ds


def run(requests: list[VideoRequest], names: list[str] | None = None, **options) -> Iterator[VideoResult]:
    """Analyse the videos on the connected Ray cluster; yield each result as its video completes."""
    assembler = Assembler(Plan.build(names))
    for batch in build_dataset(requests, names, **options).iter_batches(batch_size=None, batch_format="numpy"):
        for item in _unpack(batch):
            result = assembler.add(item)
            if result is not None:
                yield result
