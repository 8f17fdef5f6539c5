"""The whisper family: Whisper on CTranslate2 (faster-whisper) and the Silero VAD bundled in its
wheel, for speech_transcription (what it makes of the output: pipeline/analyzers/whisper.py).

One pass over an audio track (`WhisperRuntime.predict`):
    preprocess   which signals Whisper hears: the decoder's mono mix, or each channel of a
                 two-microphone track (pipeline/analyzers/channels.py decides which)
    infer        faster-whisper's BatchedInferencePipeline per signal: its VAD finds the speech
                 and packs it into windows of at most 30 s, BATCH_SIZE windows per forward with
                 beam search of BEAM_SIZE, words timed by cross-attention alignment
    postprocess  the windows and the VAD's stretches in seconds of the video (`Heard`)

The model is settings.speech_transcription.model: a MODELS name or a CTranslate2 Whisper hub id.
float16 on a GPU, int8 on CPUs (CTranslate2's fast CPU path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from actors.base import ModelActor, Runtime
from actors.device import choose
from pipeline.analyzer import Analyzer, AudioTrack
from pipeline.analyzers.channels import SAME_CORRELATION, SPEAKERS, SWING_DB, channel_measures
from pipeline.models import Weights, sha256
from pipeline.schema import ModelUsed
from pipeline.settings import Settings

SAMPLE_RATE = 16_000  # the decoder's rate, and Whisper's
BATCH_SIZE = 8  # 30 s windows per forward
BEAM_SIZE = 5


class KnownModel(NamedTuple):
    weights: Weights
    gpu_memory_gb: float  # at BATCH_SIZE in float16


# The files faster-whisper reads; large-v3's layout keeps its 128 mel bins in preprocessor_config.json
# (without it faster-whisper would assume 80), tiny.en's older one needs none.
LARGE_V3_FILES = ("model.bin", "tokenizer.json", "vocabulary.json", "preprocessor_config.json")
# Hub revisions: the commits public projects pin for these repositories (not checked against the
# hub from here: no machine of this project reaches it). GPU memory: large-v3 has large-v2's
# size, and faster-whisper's README measured large-v2, fp16, beam 5, batch_size=8 at 6,090 MB.
# The smaller two are estimates: their unbatched fp16 peak (~2.5 GB) plus the same batch
# overhead; tiny.en (39 M parameters, 75 MB of fp16 weights) is an estimate with that overhead.
MODELS = {
    "large-v3": KnownModel(
        Weights(
            "faster-whisper-large-v3",
            "Systran/faster-whisper-large-v3",
            files=LARGE_V3_FILES,
            revision="edaa852ec7e145841d8ffdb056a99866b5f0a478",
        ),
        6.5,
    ),
    "large-v3-turbo": KnownModel(
        Weights(
            "faster-whisper-large-v3-turbo",
            "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
            files=LARGE_V3_FILES,
            revision="0a363e9161cbc7ed1431c9597a8ceaf0c4f78fcf",
        ),
        4.0,
    ),
    "distil-large-v3": KnownModel(
        Weights(
            "faster-distil-whisper-large-v3",
            "Systran/faster-distil-whisper-large-v3",
            files=LARGE_V3_FILES,
            revision="c3058b475261292e64a0412df1d2681c06260fab",
        ),
        4.0,
    ),
    "tiny.en": KnownModel(
        Weights(
            "faster-whisper-tiny.en",
            "Systran/faster-whisper-tiny.en",
            revision="0d3d19a32d3338f10357c0889762bd8d64bbdeba",
            files=("model.bin", "tokenizer.json", "vocabulary.txt"),
            known_sha256=(
                ("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
                ("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
                ("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
                ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
            ),
        ),
        1.0,
    ),
}
DEFAULT_MODEL = "large-v3"


def configured_model(settings: Settings) -> KnownModel:
    """The model settings.speech_transcription.model names, and its GPU memory. Another hub id
    must hold a model and its tokenizer (faster-whisper would fetch a missing one); it is
    reserved large-v3's memory, the most any Whisper takes."""
    choice = settings.speech_transcription.model
    if choice in MODELS:
        return MODELS[choice]
    weights = Weights(choice.rsplit("/", 1)[-1], choice, files=("model.bin", "tokenizer.json"))
    return KnownModel(weights, MODELS[DEFAULT_MODEL].gpu_memory_gb)


@dataclass
class Heard:
    """What Whisper made of one signal (the mono mix, or one channel), times in seconds of the video."""

    duration_s: float
    stretches: list[tuple[float, float]]  # the VAD speech Whisper was given
    language: str | None  # None: no speech heard
    language_probability: float | None  # None: not detected (no speech, or an English-only model)
    # One per window: text, start, end, avg_logprob, no_speech_prob, speaker, words as (text as
    # decoded, with its leading space, start, end, probability).
    segments: list[dict] = field(default_factory=list)


@dataclass
class Hearing:
    """One track through Whisper: one Heard for the mono mix, or one per channel (left, right)."""

    model: str  # the hub id of the model that heard it
    channels: str  # "mono", "mixed" or "separate" (pipeline/analyzers/whisper.py, "Channels")
    channel_swing_db: float | None
    channel_correlation: float | None
    heard: list[Heard]


@dataclass
class _Signal:
    samples: np.ndarray
    offset_s: float  # video time of samples[0]
    speaker: str | None  # the channel, when each is heard on its own


class WhisperRuntime(Runtime):
    name = "whisper"

    def load(self, analyzer: Analyzer) -> None:
        chosen = configured_model(self.settings).weights.at(self.settings.models_dir)
        path = chosen.require(analyzer.name)  # WeightsError names a missing tokenizer.json, for one
        import faster_whisper
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.utils import get_assets_path
        from faster_whisper.vad import get_vad_model

        placement = choose("float16")
        compute_type = placement.dtype if placement.cuda else "int8"
        model = WhisperModel(str(path), device=placement.device, compute_type=compute_type)
        self.model_id = chosen.source
        self.multilingual = model.model.is_multilingual
        self.pipeline = BatchedInferencePipeline(model)
        get_vad_model()  # the VAD loads from the wheel: fail here, not on the first video
        vad = Path(get_assets_path()) / "silero_vad_v6.onnx"
        self.models_used[analyzer.name] = [
            chosen.provenance(backend="ctranslate2", device=placement.device, dtype=compute_type),
            ModelUsed(
                id=f"faster-whisper {faster_whisper.__version__}: {vad.name}", backend="onnxruntime", device="cpu",
                dtype="float32", sha256=sha256(vad),
            ),
        ]  # fmt: skip

    def predict(self, payload: AudioTrack, analyzers: frozenset[str]) -> Hearing:
        hearing, signals = self.preprocess(payload)
        hearing.heard = [self.postprocess(signal, *self.infer(signal)) for signal in signals]
        return hearing

    def preprocess(self, audio: AudioTrack) -> tuple[Hearing, list[_Signal]]:
        """The signals to transcribe: each channel of a two-microphone track, else the mono mix."""
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"Whisper expects {SAMPLE_RATE} Hz audio, got {audio.sample_rate} Hz")
        mix = [_Signal(audio.samples, audio.start_s, None)]
        if audio.channels is None:
            return Hearing(self.model_id, "mono", None, None, []), mix
        swing, correlation = channel_measures(audio.channels, audio.sample_rate)
        if swing is None or swing < SWING_DB or correlation >= SAME_CORRELATION:
            return Hearing(self.model_id, "mixed", swing, correlation, []), mix
        each = [_Signal(channel, audio.start_s, side) for channel, side in zip(audio.channels, SPEAKERS)]
        return Hearing(self.model_id, "separate", swing, correlation, []), each

    def infer(self, signal: _Signal) -> tuple[list, object]:
        found, info = self.pipeline.transcribe(
            np.ascontiguousarray(signal.samples), batch_size=BATCH_SIZE, beam_size=BEAM_SIZE, word_timestamps=True,
            vad_filter=True,
        )  # fmt: skip
        return list(found), info  # a generator: the model runs here

    def postprocess(self, signal: _Signal, found: list, info) -> Heard:
        offset = signal.offset_s
        # The VAD's stretches, in samples, as the pipeline used them.
        stretches = [
            (offset + s["start"] / SAMPLE_RATE, offset + s["end"] / SAMPLE_RATE)
            for s in info.transcription_options.clip_timestamps or []
        ]
        heard = bool(stretches)
        segments = [
            {
                "text": s.text.strip(),
                "start": offset + float(s.start),
                "end": offset + float(s.end),
                "avg_logprob": float(s.avg_logprob),
                "no_speech_prob": float(s.no_speech_prob),
                "speaker": signal.speaker,
                "words": [
                    (w.word, offset + float(w.start), offset + float(w.end), float(w.probability))
                    for w in s.words or []
                    if w.word.strip()
                ],
            }
            for s in found
        ]
        return Heard(
            duration_s=len(signal.samples) / SAMPLE_RATE,
            stretches=stretches,
            # With no speech the pipeline still "detects" a language on a dummy frame: not a finding.
            language=info.language if heard else None,
            language_probability=float(info.language_probability) if heard and self.multilingual else None,
            segments=segments,
        )


class WhisperActor(ModelActor):
    family = "whisper"
    runtime = WhisperRuntime
    serves = ("speech_transcription",)
