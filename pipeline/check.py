"""`reelscope check`: what works on this machine, in one command.

Versions (Python, Ray, torch, CUDA), the GPUs and their memory, the optional accelerations
(flash-attn, bitsandbytes, CTranslate2's own CUDA), every analyzer's weights (present, and
checked byte for byte against what their entry pins), then a run of every analyzer on the
built-in sample clip in this process, with ok / skipped / failed and why. Someone who has just
run `reelscope models download` sees at once what works here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.model_commands import analyzer_weights, weights_state
from pipeline.schema import Status
from pipeline.settings import Settings


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(settings: Settings) -> Iterator[tuple[str, str]]:
    """(what, finding) for the software and hardware the analyzers run on."""
    yield "python", f"{platform.python_version()} ({sys.executable})"
    for package in ("reelscope", "ray", "torch", "transformers", "ultralytics", "faster-whisper", "easyocr", "rapidocr", "av"):
        yield package, _version(package) or "not installed"
    try:
        import torch

        from actors.device import cuda_available

        cuda = cuda_available()
        yield "cuda (torch)", f"{torch.version.cuda} available" if cuda else f"not available (torch built for CUDA {torch.version.cuda})"
        for i in range(torch.cuda.device_count() if cuda else 0):
            props = torch.cuda.get_device_properties(i)
            yield f"gpu {i}", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
    except ImportError:
        cuda = False
    yield "flash-attn", _accelerator("flash_attn", cuda, "Qwen2-VL uses PyTorch SDPA instead")
    yield "bitsandbytes", _accelerator("bitsandbytes", cuda, "8/4-bit Qwen2-VL is unavailable; it loads in 16 bit")
    try:
        import ctranslate2

        devices = ctranslate2.get_cuda_device_count()
        yield "ctranslate2 cuda", f"{devices} device(s)" if devices else "no CUDA device: Whisper runs int8 on the CPU"
    except ImportError:
        yield "ctranslate2 cuda", "ctranslate2 not installed"
    yield "models directory", str(settings.models_dir)


def _accelerator(module: str, cuda: bool, without: str) -> str:
    try:
        # bitsandbytes prints its optional kernels' absence on import: its verdict is ours to give.
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            logging.disable(logging.WARNING)
            importlib.import_module(module)
    except Exception as exc:  # ImportError, or a CUDA library it cannot load
        return f"not usable ({type(exc).__name__}): {without}"
    finally:
        logging.disable(logging.NOTSET)
    return "available" if cuda else f"installed, but no GPU: {without}"


def sample_run(settings: Settings) -> Iterator[tuple[str, str, str]]:
    """(analyzer, status, why) for every analyzer, run in this process on the built-in sample."""
    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local
    from pipeline.sample import SAMPLE, write_clip

    with tempfile.TemporaryDirectory(prefix="reelscope-check-") as folder:
        clip = write_clip(str(Path(folder) / "sample.mp4"), SAMPLE)
        [result] = run_local([VideoRequest("sample", clip)], Plan.build(None, settings=settings, weights_here=True))
    if result.status == Status.failed:
        yield "(decode)", "failed", result.error or ""
        return
    for name, outcome in result.analyzers.items():
        models = ", ".join(f"{m.id} [{m.backend}, {m.device}{', ' + m.dtype if m.dtype else ''}]" for m in outcome.models)
        # A missing weight's reason repeats the weights section: its first clause says enough.
        why = outcome.reason.split("; ")[0] if outcome.reason else outcome.error or models
        yield name, outcome.status.value, why


def run(settings: Settings, print_line=print) -> int:
    """Prints the report; 1 when an analyzer failed or a weight is wrong, else 0."""
    bad = 0
    print_line("environment")
    for what, finding in environment(settings):
        print_line(f"  {what:18} {finding}")
    print_line("weights")
    for names, weights in analyzer_weights(None, settings):
        state = weights_state(weights)
        bad += state.startswith("WRONG")
        print_line(f"  {names:40} {weights.source}: {state}")
    print_line("a run of every analyzer on the built-in sample clip, in this process")
    for name, status, why in sample_run(settings):
        bad += status == "failed"
        print_line(f"  {status:8} {name:28} {why}")
    return 1 if bad else 0
