"""Ray actors for the model stages: one class per model family.

Each class wraps the engine's AnalyzerStage around the analyzers of one family, so the model(s)
load once per actor (in `setup()`, inside the actor) and every call runs a batch of WorkItems.
The same class is a Ray Data `map_batches` actor (`compute=ActorPoolStrategy(...)`,
`num_gpus=<fraction>`) and a Ray Serve deployment (`serve.deployment(cls)`): both call it with a
batch of packed WorkItems and get one back. Its name is what the Ray dashboard shows.
"""

from __future__ import annotations

import pickle

import numpy as np

from pipeline.analyzer import Analyzer
from pipeline.engine import AnalyzerStage, WorkItem


# WorkItems travel pickled in a binary column: Arrow cannot hold them as objects, and saying so
# ourselves spares Ray Data a failed conversion (and a warning) on every block.
def pack(items: list[WorkItem]) -> dict[str, list[bytes]]:
    return {"item": [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]}


def unpack(batch: dict[str, np.ndarray]) -> list[WorkItem]:
    return [pickle.loads(blob) for blob in batch["item"]]


class ModelActor:
    """Runs some analyzers' process steps; payloads no later stage reads are dropped here."""

    def __init__(self, analyzers: tuple[type[Analyzer], ...], later: tuple[type[Analyzer], ...] = ()) -> None:
        self.stage = AnalyzerStage(analyzers, later)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        return pack([self.stage(item) for item in unpack(batch)])


class UltralyticsActor(ModelActor):
    """YOLO detection, pose and segmentation models."""


class OcrActor(ModelActor):
    """On-screen text readers."""


class FaceActor(ModelActor):
    """Face detection and the models that read faces."""


class VisionLanguageActor(ModelActor):
    """Qwen2-VL-style models that describe video windows."""


class WhisperActor(ModelActor):
    """Speech-to-text models (faster-whisper / CTranslate2)."""


class AudioClassifierActor(ModelActor):
    """Audio classification models: speech emotion, sound events."""


FAMILY_ACTORS: dict[str, type[ModelActor]] = {
    "ultralytics": UltralyticsActor,
    "ocr": OcrActor,
    "faces": FaceActor,
    "vision_language": VisionLanguageActor,
    "whisper": WhisperActor,
    "audio_classifiers": AudioClassifierActor,
}


def actor_class(analyzers: tuple[type[Analyzer], ...]) -> type[ModelActor]:
    return FAMILY_ACTORS.get(analyzers[0].family or "", ModelActor)
