"""The audio_classifiers family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class AudioClassifierActor(ModelActor):
    family = "audio_classifiers"
    serves = ("speech_emotion", "audio_environment")
