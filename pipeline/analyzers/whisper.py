"""speech_transcription: what is said, word by word, and in which language, with Whisper
large-v3 on CTranslate2 (faster-whisper).

How: the decoded 16 kHz mono track goes straight to faster-whisper's BatchedInferencePipeline
(never re-read from the file). Its Silero VAD (the ONNX model inside the faster-whisper wheel)
finds the speech, pads each stretch by 0.4 s and packs the stretches into windows of at most
30 s with the silences between them cut out; BATCH_SIZE windows go through the model per
forward (beam search of BEAM_SIZE), then every word is timed by aligning the text with the
decoder's cross-attention (dynamic time warping). The language is detected once, on the first
30 s of speech. fp16 on a GPU, int8 on CPUs.

What it can tell: the text of each stretch of speech, each word with its start, end and
probability, the language with the model's probability for it (when the model is multilingual
and heard speech), and where the speech Whisper was given lies (`vad_*`).
What it cannot: who speaks (no diarization: the decoder mixes channels to mono); filler words
reliably (Whisper's training transcripts mostly leave out "um" and "uh": counts built on this
text are lower bounds); a second language inside one video (one language for the whole
track); lyrics under loud music or overlapping voices. Word times come from attention, not
from acoustics: good to a few tenths of a second, worse at the edges of a stretch. A window
the model itself calls silent (Whisper's own rule: no-speech probability over 0.6 with an
average log-probability under -1) is dropped, as openai/whisper drops it; faster-whisper's
batched path does not apply that rule itself.

Times are seconds of the video (the track's start added). Whisper only heard the VAD stretches:
a time it places outside them (timestamps past the end of a window, which untrained or
hallucinating models produce) is clipped to them.

Segments: label "speech", one per sentence. The batched pipeline gives one text per window
(up to 30 s); it is cut after each word that ends a sentence (. ? ! and their CJK forms) and
at every pause of SPLIT_PAUSE_S or more between two words. data {text, words: [{word,
start_s, end_s, probability}], avg_logprob, no_speech_prob (both the window's)}; confidence:
the mean probability of its words (exp(avg_logprob) for a window without word times).
Summary: model, language, language_probability (None: not detected, see language_detected),
text, word_count, segment_count, speech_start_s / speech_end_s (first and last transcribed
time), vad_start_s / vad_end_s / vad_speech_s / vad_stretches (the speech Whisper was given,
with its 0.4 s padding), dropped_silent_segments.

Model: $REELSCOPE_WHISPER_MODEL picks another faster-whisper model ("large-v3-turbo",
"distil-large-v3", or any CTranslate2 Whisper hub id); default large-v3.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Resources, Skip
from pipeline.models import Weights
from pipeline.schema import Segment

SAMPLE_RATE = 16_000  # the decoder's rate, and Whisper's
BATCH_SIZE = 8  # 30 s windows per forward
BEAM_SIZE = 5
# Whisper's rule for a window it heard no speech in (openai/whisper transcribe.py).
NO_SPEECH_PROB = 0.6
SILENT_LOGPROB = -1.0
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
SPLIT_PAUSE_S = 1.0

# name -> (CTranslate2 hub id, GPU memory in GB at BATCH_SIZE in fp16). large-v3 has large-v2's
# size: faster-whisper's README measured large-v2, fp16, beam 5, batch_size=8 at 6,090 MB. The
# smaller two are estimates: their unbatched fp16 peak (~2.5 GB) plus the same batch overhead.
MODELS = {
    "large-v3": ("Systran/faster-whisper-large-v3", 6.5),
    "large-v3-turbo": ("mobiuslabsgmbh/faster-whisper-large-v3-turbo", 4.0),
    "distil-large-v3": ("Systran/faster-distil-whisper-large-v3", 4.0),
}
MODEL_ENV = "REELSCOPE_WHISPER_MODEL"


def _configured_model() -> tuple[Weights, float]:
    choice = os.environ.get(MODEL_ENV) or "large-v3"
    source, gpu_gb = MODELS.get(choice, (choice, MODELS["large-v3"][1]))
    return Weights(name=source.rsplit("/", 1)[-1], source=source), gpu_gb


_WEIGHTS, _GPU_GB = _configured_model()


@dataclass
class Transcript:
    """The partial: what Whisper made of one audio track, times in seconds of the video."""

    duration_s: float
    stretches: list[tuple[float, float]]  # the VAD speech Whisper was given
    language: str | None
    language_probability: float | None
    # One per window: text, start, end, avg_logprob, no_speech_prob, words as (text as
    # decoded, with its leading space, start, end, probability).
    segments: list[dict] = field(default_factory=list)


class SpeechTranscription(Analyzer):
    name = "speech_transcription"
    audio = True
    family = "whisper"
    resources = Resources(cpus=1, gpu_memory_gb=_GPU_GB)
    weights = (_WEIGHTS,)

    def setup(self) -> None:
        path = self.weights[0].require(self.name)
        if not (path / "tokenizer.json").is_file():
            # faster-whisper would fetch a tokenizer from the hub instead.
            raise Skip(f"{path} has no tokenizer.json; fetch the whole model directory again")
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.vad import get_vad_model

        on_gpu = ctranslate2.get_cuda_device_count() > 0  # CTranslate2's own CUDA, not torch's
        device, compute_type = ("cuda", "float16") if on_gpu else ("cpu", "int8")
        model = WhisperModel(str(path), device=device, compute_type=compute_type)
        self.multilingual = model.model.is_multilingual
        self.pipeline = BatchedInferencePipeline(model)
        get_vad_model()  # the VAD loads from the wheel: fail here, not on the first video

    def process_audio(self, audio: AudioTrack) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"Whisper expects {SAMPLE_RATE} Hz audio, got {audio.sample_rate} Hz")
        found, info = self.pipeline.transcribe(
            audio.samples, batch_size=BATCH_SIZE, beam_size=BEAM_SIZE, word_timestamps=True, vad_filter=True
        )
        found = list(found)  # a generator: the model runs here
        offset = audio.start_s
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
                "words": [
                    (w.word, offset + float(w.start), offset + float(w.end), float(w.probability))
                    for w in s.words or []
                    if w.word.strip()
                ],
            }
            for s in found
        ]
        return Transcript(
            duration_s=audio.duration_s,
            stretches=stretches,
            # With no speech the pipeline still "detects" a language on a dummy frame: not a finding.
            language=info.language if heard else None,
            language_probability=float(info.language_probability) if heard and self.multilingual else None,
            segments=segments,
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
        words = [w for s in segments for w in s.data["words"]]
        stretch_seconds = sum(end - start for start, end in heard.stretches)
        return Findings(
            segments=segments,
            summary={
                "model": self.weights[0].source,
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
        },
    )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
