"""Shared fixtures: real media (skipped with a reason when absent), synthetic clips, a local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"

# Offline by construction: nothing may reach a model hub. numba (librosa) caches its compiled code.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
# The tests start Rays of their own (here and in the CLIs they run), never join one they inherit.
os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"real media with ground truth not found at {MEDIA} (it sits beside the checkout in CI)")
    return MEDIA


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory) -> Path:
    """The built-in sample: four shots (hard cuts at 3.0 and 8.0 s, a dissolve at 5.5 s), captions, 120 bpm."""
    from pipeline.sample import SAMPLE, write_clip

    return Path(write_clip(str(tmp_path_factory.mktemp("sample") / "sample.mp4"), SAMPLE))


@pytest.fixture(scope="session")
def vision_models_dir(tmp_path_factory) -> Path:
    """One models directory holding every vision analyzer's weights as tiny random models
    (tests/model_factory.py), generated once per session."""
    from model_factory import write_vision_models

    return write_vision_models(tmp_path_factory.mktemp("vision-models"), "tiny")


@pytest.fixture(scope="session")
def vision_settings(vision_models_dir):
    """Settings reading the tiny vision models. EasyOCR's generated weights pass its MD5 check
    only where a test patches its table in-process, so workers read text with rapidocr."""
    from pipeline.settings import Settings

    return Settings(models_dir=vision_models_dir, text_overlay={"reader": "rapidocr"})


@pytest.fixture(scope="session")
def local_ray():
    """A real local Ray with one logical GPU, so fractional GPU packing is schedulable on a CPU
    box. Nothing is passed to its workers through the environment: plans carry their settings."""
    import ray

    # Workers import the test probes by module name, as the driver does.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


SHARED_MODELS = REPO.parent / "shared" / "models"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """Real pretrained weights (Whisper tiny.en, EasyOCR, YuNet; README there), read-only."""
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"real model weights not found at {SHARED_MODELS} (they sit beside the checkout in CI)")
    return SHARED_MODELS


def link_models(models_dir: Path, entries: dict[str, Path]) -> Path:
    """A models directory whose entries (name under it -> a file or folder elsewhere, e.g. in
    ../shared/models) are symbolic links: real weights through the real loaders, never copied."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name, target in entries.items():
        link = models_dir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    return models_dir
