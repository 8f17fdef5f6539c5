"""The one place that decides where a model runs and in what precision."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    device: str  # "cuda" or "cpu": what torch / ultralytics / onnxruntime are told
    dtype: str  # the compute precision on that device: "float16" / "bfloat16" on a GPU, "float32" on CPU

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


@functools.cache
def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def choose(gpu_dtype: str = "float16") -> Placement:
    """The GPU Ray gave this worker (CUDA_VISIBLE_DEVICES), in `gpu_dtype`; else the CPU in float32."""
    return Placement("cuda", gpu_dtype) if cuda_available() else Placement("cpu", "float32")


def local_gpu_memory_gb() -> float | None:
    """Memory of this machine's first GPU, in GB, or None without one."""
    if not cuda_available():
        return None
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 1024**3
