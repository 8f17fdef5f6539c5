"""speech_transcription: what is said, word by word, and in which language, with Whisper
large-v3 on CTranslate2 (faster-whisper).

How: the decoded 16 kHz mono track (or each channel: "Channels" below) goes straight to
faster-whisper's BatchedInferencePipeline (never re-read from the file). Its Silero VAD (the ONNX model inside the faster-whisper wheel)
finds the speech, pads each stretch by 0.4 s and packs the stretches into windows of at most
30 s with the silences between them cut out; BATCH_SIZE windows go through the model per
forward (beam search of BEAM_SIZE), then every word is timed by aligning the text with the
decoder's cross-attention (dynamic time warping). The language is detected once, on the first
30 s of speech. fp16 on a GPU, int8 on CPUs.

What it can tell: the text of each stretch of speech, each word with its start, end and
probability, the language with the model's probability for it (when the model is multilingual
and heard speech), and where the speech Whisper was given lies (`vad_*`); on a two-channel track
whose channels carry different speech (two microphones), which channel each sentence came from.
What it cannot: who speaks on one channel (no diarization model: one voice or five on a mono or
ordinary stereo track are all speaker None); filler words reliably (Whisper's training
transcripts mostly leave out "um" and "uh": counts built on this text are lower bounds); a
second language inside one video (one language for the whole track, or per channel); lyrics
under loud music or overlapping voices on one channel. Word times come from attention, not
from acoustics: good to a few tenths of a second, worse at the edges of a stretch. A window
the model itself calls silent (Whisper's own rule: no-speech probability over 0.6 with an
average log-probability under -1) is dropped, as openai/whisper drops it; faster-whisper's
batched path does not apply that rule itself.

Channels: a two-channel track is "separate" (two microphones) when, on the decoder's 16 kHz
left and right channels, the left-right level balance of the 100 ms frames that sound swings
by SWING_DB or more (P90 - P10: each voice is loud on its own mic) and the channels correlate
under SAME_CORRELATION (a panned mix or coincident pair of one sound correlates near 1). Either
alone misleads: a spaced pair on one voice correlates little but keeps its balance; a panned
mix swings but correlates. Each channel is then transcribed on its own. A word that is
CROSSTALK_DB quieter on its channel than on the other, correlates with the other within
LEAK_LAG_S (the same sound, delayed), and falls where the other channel's transcript has a
word, is the other speaker leaking into this mic: dropped, so that no sentence comes out twice.
Two people talking at once stay two (their channels do not correlate). Any other track ("mono";
"mixed": identical or near-identical channels, ordinary stereo of one voice) is transcribed as
the decoder's mono downmix, exactly as before, speaker None.

Times are seconds of the video (the track's start added). Whisper only heard the VAD stretches:
a time it places outside them (timestamps past the end of a window, which untrained or
hallucinating models produce) is clipped to them.

Segments: label "speech", one per sentence. The batched pipeline gives one text per window
(up to 30 s); it is cut after each word that ends a sentence (. ? ! and their CJK forms) and
at every pause of SPLIT_PAUSE_S or more between two words. data {text, words: [{word,
start_s, end_s, probability}], avg_logprob, no_speech_prob (both the window's), speaker
("left" / "right" for separate channels, else None)}; confidence: the mean probability of its
words (exp(avg_logprob) for a window without word times).
Summary: model, language, language_probability (None: not detected, see language_detected),
text, word_count, segment_count, speech_start_s / speech_end_s (first and last transcribed
time), vad_start_s / vad_end_s / vad_speech_s / vad_stretches (the speech Whisper was given,
with its 0.4 s padding; both channels' together when separate), dropped_silent_segments;
channels ("mono", "mixed" or "separate"), channel_swing_db and channel_correlation (None for
a mono track), speakers (the channels that spoke, when separate; else None),
crosstalk_words_dropped.

Model: $REELSCOPE_WHISPER_MODEL picks another faster-whisper model (a MODELS name, e.g.
"large-v3-turbo", "distil-large-v3", "tiny.en", or any CTranslate2 Whisper hub id); default
large-v3. setup() reads it again, so a worker (or a test) may choose after import; the GPU
memory reserved is the one of the model named at import.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Resources, Skip
from pipeline.analyzers.channels import SAME_CORRELATION, SPEAKERS, SWING_DB, channel_measures, drop_crosstalk, union
from pipeline.models import Weights, sha256
from pipeline.schema import Segment

SAMPLE_RATE = 16_000  # the decoder's rate, and Whisper's
BATCH_SIZE = 8  # 30 s windows per forward
BEAM_SIZE = 5
# Whisper's rule for a window it heard no speech in (openai/whisper transcribe.py).
NO_SPEECH_PROB = 0.6
SILENT_LOGPROB = -1.0
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
SPLIT_PAUSE_S = 1.0


# The files faster-whisper reads; large-v3's layout keeps its 128 mel bins in preprocessor_config.json
# (without it faster-whisper would assume 80), tiny.en's older one needs none.
LARGE_V3_FILES = ("model.bin", "tokenizer.json", "vocabulary.json", "preprocessor_config.json")
# Hub revisions: the commits public projects pin for these repositories (not checked against the
# hub from here: no machine of this project reaches it).
# name -> (weights, GPU memory in GB at BATCH_SIZE in fp16). large-v3 has large-v2's size:
# faster-whisper's README measured large-v2, fp16, beam 5, batch_size=8 at 6,090 MB. The
# smaller two are estimates: their unbatched fp16 peak (~2.5 GB) plus the same batch overhead;
# tiny.en (39 M parameters, 75 MB of fp16 weights) is an estimate with the same overhead.
MODELS = {
    "large-v3": (
        Weights(
            "faster-whisper-large-v3",
            "Systran/faster-whisper-large-v3",
            files=LARGE_V3_FILES,
            revision="edaa852ec7e145841d8ffdb056a99866b5f0a478",
        ),
        6.5,
    ),
    "large-v3-turbo": (
        Weights(
            "faster-whisper-large-v3-turbo",
            "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
            files=LARGE_V3_FILES,
            revision="0a363e9161cbc7ed1431c9597a8ceaf0c4f78fcf",
        ),
        4.0,
    ),
    "distil-large-v3": (
        Weights(
            "faster-distil-whisper-large-v3",
            "Systran/faster-distil-whisper-large-v3",
            files=LARGE_V3_FILES,
            revision="c3058b475261292e64a0412df1d2681c06260fab",
        ),
        4.0,
    ),
    "tiny.en": (
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
MODEL_ENV = "REELSCOPE_WHISPER_MODEL"


def configured_model() -> tuple[Weights, float]:
    """The model $REELSCOPE_WHISPER_MODEL names (large-v3 when unset) and its GPU memory. Any other
    hub id must hold a model and its tokenizer (faster-whisper would fetch a missing one)."""
    choice = os.environ.get(MODEL_ENV) or "large-v3"
    if choice in MODELS:
        return MODELS[choice]
    return Weights(choice.rsplit("/", 1)[-1], choice, files=("model.bin", "tokenizer.json")), MODELS["large-v3"][1]


@dataclass
class Transcript:
    """The partial: what Whisper made of one audio track, times in seconds of the video."""

    duration_s: float
    stretches: list[tuple[float, float]]  # the VAD speech Whisper was given
    language: str | None
    language_probability: float | None
    # One per window: text, start, end, avg_logprob, no_speech_prob, speaker, words as (text as
    # decoded, with its leading space, start, end, probability).
    segments: list[dict] = field(default_factory=list)
    model: str | None = None  # the hub id of the model that heard it
    channels: str = "mono"  # "mono", "mixed" or "separate" (module docstring)
    channel_swing_db: float | None = None
    channel_correlation: float | None = None
    crosstalk_words_dropped: int = 0


class SpeechTranscription(Analyzer):
    name = "speech_transcription"
    audio = True
    resources = Resources(cpus=1, gpu_memory_gb=configured_model()[1])
    weights = (configured_model()[0],)

    def setup(self) -> None:
        weights, _ = configured_model()  # this worker's choice, which may differ from the import's
        self.weights = (weights,)
        path = weights.require(self.name)  # WeightsError names a missing tokenizer.json, for one
        import ctranslate2
        import faster_whisper
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.utils import get_assets_path
        from faster_whisper.vad import get_vad_model

        on_gpu = ctranslate2.get_cuda_device_count() > 0  # CTranslate2's own CUDA, not torch's
        device, compute_type = ("cuda", "float16") if on_gpu else ("cpu", "int8")
        model = WhisperModel(str(path), device=device, compute_type=compute_type)
        self.multilingual = model.model.is_multilingual
        self.pipeline = BatchedInferencePipeline(model)
        get_vad_model()  # the VAD loads from the wheel: fail here, not on the first video
        self.record_model(weights, backend="ctranslate2", device=device, dtype=compute_type)
        vad = Path(get_assets_path()) / "silero_vad_v6.onnx"
        self.record_model(
            f"faster-whisper {faster_whisper.__version__}: {vad.name}", backend="onnxruntime", device="cpu",
            dtype="float32", sha256=sha256(vad),
        )  # fmt: skip

    def process_audio(self, audio: AudioTrack) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"Whisper expects {SAMPLE_RATE} Hz audio, got {audio.sample_rate} Hz")
        if audio.channels is None:
            return self._transcribe(audio.samples, audio.start_s)
        swing, correlation = channel_measures(audio.channels, audio.sample_rate)
        measures = {"channel_swing_db": swing, "channel_correlation": correlation}
        if swing is None or swing < SWING_DB or correlation >= SAME_CORRELATION:
            return replace(self._transcribe(audio.samples, audio.start_s), channels="mixed", **measures)
        heard = [self._transcribe(ch, audio.start_s, side) for ch, side in zip(audio.channels, SPEAKERS)]
        dropped = drop_crosstalk(heard, audio.channels, audio.start_s, audio.sample_rate)
        spoke_most = max(heard, key=lambda t: sum(end - start for start, end in t.stretches))
        return Transcript(
            duration_s=audio.duration_s,
            stretches=union(heard[0].stretches + heard[1].stretches),
            language=spoke_most.language,
            language_probability=spoke_most.language_probability,
            segments=sorted(heard[0].segments + heard[1].segments, key=lambda s: s["start"]),
            model=self.weights[0].source,
            channels="separate",
            crosstalk_words_dropped=dropped,
            **measures,
        )

    def _transcribe(self, samples: np.ndarray, offset: float, speaker: str | None = None) -> Transcript:
        found, info = self.pipeline.transcribe(
            np.ascontiguousarray(samples), batch_size=BATCH_SIZE, beam_size=BEAM_SIZE, word_timestamps=True,
            vad_filter=True,
        )  # fmt: skip
        found = list(found)  # a generator: the model runs here
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
                "speaker": speaker,
                "words": [
                    (w.word, offset + float(w.start), offset + float(w.end), float(w.probability))
                    for w in s.words or []
                    if w.word.strip()
                ],
            }
            for s in found
        ]
        return Transcript(
            duration_s=len(samples) / SAMPLE_RATE,
            stretches=stretches,
            # With no speech the pipeline still "detects" a language on a dummy frame: not a finding.
            language=info.language if heard else None,
            language_probability=float(info.language_probability) if heard and self.multilingual else None,
            segments=segments,
            model=self.weights[0].source,
        )

    def finalize(self, partials: Partials, context: Context) -> Findings:
        heard: Transcript | None = partials.audio
        if heard is None:
            raise Skip("no audio track was decoded")
        kept = [s for s in heard.segments if not _silent(s)]
        segments = []
        if heard.stretches:
            lo, hi = heard.stretches[0][0], heard.stretches[-1][1]
            segments = [_segment(part, window, lo, hi) for window in kept for part in _sentences(window["words"])]
            segments.sort(key=lambda s: s.start_s)  # two channels' sentences interleave
        words = [w for s in segments for w in s.data["words"]]
        stretch_seconds = sum(end - start for start, end in heard.stretches)
        separate = heard.channels == "separate"
        return Findings(
            segments=segments,
            summary={
                "model": heard.model,
                "language": heard.language,
                "language_probability": _round(heard.language_probability, 4),
                "language_detected": heard.language_probability is not None,
                "text": " ".join(window["text"] for window in kept if window["text"]),
                "word_count": len(words),
                "segment_count": len(segments),
                "speech_start_s": min(s.start_s for s in segments) if segments else None,
                "speech_end_s": max(s.end_s for s in segments) if segments else None,
                "vad_start_s": _round(heard.stretches[0][0]) if heard.stretches else None,
                "vad_end_s": _round(heard.stretches[-1][1]) if heard.stretches else None,
                "vad_speech_s": round(stretch_seconds, 3),
                "vad_stretches": len(heard.stretches),
                "dropped_silent_segments": len(heard.segments) - len(kept),
                "channels": heard.channels,
                "channel_swing_db": _round(heard.channel_swing_db, 1),
                "channel_correlation": _round(heard.channel_correlation, 3),
                "speakers": sorted({s.data["speaker"] for s in segments}, key=SPEAKERS.index) if separate else None,
                "crosstalk_words_dropped": heard.crosstalk_words_dropped,
            },
        )


def _silent(segment: dict) -> bool:
    return segment["no_speech_prob"] > NO_SPEECH_PROB and segment["avg_logprob"] < SILENT_LOGPROB


def _sentences(words: list[tuple]) -> list[list[tuple]]:
    """A window's words cut after each sentence end and at each long pause; [[]] for a window
    without word times, so that its text still makes one segment."""
    parts: list[list[tuple]] = [[]]
    for word in words:
        if parts[-1] and word[1] - parts[-1][-1][2] >= SPLIT_PAUSE_S:
            parts.append([])
        parts[-1].append(word)
        if word[0].strip().endswith(SENTENCE_END):
            parts.append([])
    return [p for p in parts if p] or [[]]


def _segment(words: list[tuple], window: dict, lo: float, hi: float) -> Segment:
    """A sentence of `window` (all of it when `words` is empty), times clipped to [lo, hi]."""

    def clip(t: float) -> float:
        return round(min(max(t, lo), hi), 3)

    if words:
        start, end = words[0][1], words[-1][2]
        text = "".join(word for word, *_ in words).strip()
        confidence = sum(prob for *_, prob in words) / len(words)
    else:
        start, end, text = window["start"], window["end"], window["text"]
        confidence = math.exp(window["avg_logprob"])
    return Segment(
        start_s=clip(start),
        end_s=clip(end),
        label="speech",
        confidence=round(min(max(confidence, 0.0), 1.0), 4),
        data={
            "text": text,
            "words": [
                {"word": word.strip(), "start_s": clip(t0), "end_s": clip(t1), "probability": round(prob, 4)}
                for word, t0, t1, prob in words
            ],
            "avg_logprob": round(window["avg_logprob"], 4),
            "no_speech_prob": round(window["no_speech_prob"], 4),
            "speaker": window.get("speaker"),
        },
    )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
