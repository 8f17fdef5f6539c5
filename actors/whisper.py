"""The whisper family's actor (its Runtime moves here from pipeline/analyzers/)."""

from __future__ import annotations

from actors.base import ModelActor


class WhisperActor(ModelActor):
    family = "whisper"
    serves = ("speech_transcription",)
