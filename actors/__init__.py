"""The heavy models: one module per model family, each a Runtime (its models, loaded once per
worker) and the Ray actor class that hosts it (see actors/base.py).

    yolo               YoloActor              object_detection, body_pose, background_segmentation
    faces              FaceActor              age_estimation, eye_tracking (one face detection for both)
    ocr                OcrActor               text_overlay
    qwen2_vl           VisionLanguageActor    qwen2_vl_temporal
    whisper            WhisperActor           speech_transcription
    audio_classifiers  AudioClassifierActor   speech_emotion, audio_environment

Their names are what the Ray dashboard shows (Ray Data: `MapBatches(YoloActor)`; Serve: the
deployment). Each call records its analyzers' frames and seconds (pipeline.metrics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.audio_classifiers import AudioClassifierActor
from actors.base import ModelActor, Runtime, pack, reference, resolve, unpack
from actors.faces import FaceActor
from actors.ocr import OcrActor
from actors.qwen2_vl import VisionLanguageActor
from actors.whisper import WhisperActor
from actors.yolo import YoloActor

if TYPE_CHECKING:
    from pipeline.analyzer import Analyzer

ACTORS: tuple[type[ModelActor], ...] = (
    YoloActor,
    FaceActor,
    OcrActor,
    VisionLanguageActor,
    WhisperActor,
    AudioClassifierActor,
)

__all__ = ["ACTORS", "ModelActor", "Runtime", "actor_class", "pack", "reference", "resolve", "runtime_of", "unpack"]


def actor_class(analyzers: tuple[type[Analyzer], ...]) -> type[ModelActor]:
    """The actor class that hosts these analyzers: the family that serves them all, or the plain
    ModelActor for analyzers no family serves. Anything else is a programming error, said at once."""
    names = {a.name for a in analyzers}
    for actor in ACTORS:
        if names <= set(actor.serves or ()):
            return actor
    served = sorted(n for n in names if any(n in (actor.serves or ()) for actor in ACTORS))
    if served:
        raise TypeError(f"no one actor serves {', '.join(sorted(names))} ({', '.join(served)} belong to a family)")
    return ModelActor


def runtime_of(analyzer: type[Analyzer]) -> type[Runtime] | None:
    """The Runtime that answers this analyzer's batches, when its family has one."""
    return actor_class((analyzer,)).runtime
