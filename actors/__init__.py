"""Ray actors for the model stages: one class per model family.

Each class wraps the engine's AnalyzerStage around the analyzers of one family, so the model(s)
load once per actor (in `setup()`, inside the actor) and every call runs a batch of WorkItems.
The same class is a Ray Data `map_batches` actor (`compute=ActorPoolStrategy(...)`,
`num_gpus=<fraction>`) and a Ray Serve deployment (`serve.deployment(cls)`): both call it with a
batch of packed WorkItems and get one back. Its name is what the Ray dashboard shows (Ray Data:
`MapBatches(UltralyticsActor)`, its actors `MapWorker(MapBatches(UltralyticsActor))`). Each call
records its analyzers' frames and seconds (pipeline.metrics), so both runners report them.
"""

from __future__ import annotations

import pickle

import numpy as np

from pipeline import metrics
from pipeline.analyzer import Analyzer, FrameBatch
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

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes] | np.ndarray]:
        done = []
        for item in unpack(batch):
            frames = len(item.payload.frames) if isinstance(item.payload, FrameBatch) else 0
            before = dict(item.seconds)
            done.append(self.stage(item))
            metrics.record_stage(before, item.seconds, frames, "model")
        # Other columns (the runner's timing) pass through: one item out per item in.
        return {**{k: v for k, v in batch.items() if k != "item"}, **pack(done)}


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
