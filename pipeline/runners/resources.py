"""What each unit reserves on the cluster: a model stage's GPU fraction (from the memory its
analyzers declare) and CPUs, a decode task's CPUs. Both runners place their model families with
these: Ray Data's actor pools (ray_data.build_dataset) and Serve's deployments
(serve_families.family_deployments).
"""

from __future__ import annotations

import ray

from pipeline.analyzer import Analyzer
from pipeline.settings import Settings

DEFAULT_GPU_MEMORY_GB = 80.0  # what a fraction is taken of when neither settings nor a local GPU say


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


def decode_cpus(node_cpus: list[float]) -> float:
    """CPUs a decode task reserves: one, or half the smallest node's where a node has under two,
    so that the pools' actors fit beside it (node_cpus: each node's CPUs, those with none left out)."""
    return min(1.0, min(node_cpus) / 2)


def stage_cpus(
    stages: list[tuple[type[Analyzer], ...]], fractions: list[float], node_cpus: list[float], settings: Settings
) -> list[float]:
    """CPUs each model stage's actor reserves. A GPU stage's CPU work only feeds its GPU: none. On
    CPUs, declared needs are scaled down until every pool and a decode slot on every node fit
    together: wherever the pools' actors land, some node keeps room for a decode (a pool that
    took the last CPU of every node, as on two 1-CPU nodes, stalled the stream for good). Ray
    Data streams through all stages at once, and a pool that cannot place its actor would wait
    forever. Like GPU fractions, these are scheduling labels: the pools share the cores."""
    declared = [0.0 if f else sum(a.resources_for(settings).cpus for a in s) for s, f in zip(stages, fractions)]
    room = sum(node_cpus) - len(node_cpus) * decode_cpus(node_cpus)
    scale = min(1.0, room / sum(declared)) if sum(declared) else 1.0
    return [round(c * scale, 3) for c in declared]


def node_cpus() -> list[float]:
    """The CPUs of each live node of the cluster that has any."""
    found = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"]]
    return [cpus for cpus in found if cpus > 0] or [1.0]
