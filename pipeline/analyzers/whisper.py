"""speech_transcription: what is said, word by word, and in which language, with Whisper
large-v3 on CTranslate2 (faster-whisper; the model runs in actors/whisper.py).

How: the decoded 16 kHz mono track (or each channel: "Channels" below) goes straight to
faster-whisper's BatchedInferencePipeline (never re-read from the file). Its Silero VAD (the
ONNX model inside the faster-whisper wheel) finds the speech, pads each stretch by 0.4 s and packs the stretches into windows of at most
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

Model: settings.speech_transcription.model picks another faster-whisper model (a MODELS name
in actors/whisper.py, e.g. "large-v3-turbo", "distil-large-v3", "tiny.en", or any CTranslate2
Whisper hub id); default large-v3. The GPU memory reserved is the chosen model's
(`resources_for`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.whisper import DEFAULT_MODEL, MODELS, Hearing, configured_model
from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Resources, Skip
from pipeline.analyzers.channels import SPEAKERS, drop_crosstalk, union
from pipeline.analyzers.shots import rounded
from pipeline.models import Weights
from pipeline.schema import Segment, SegmentData, Summary
from pipeline.settings import Settings

# Whisper's rule for a window it heard no speech in (openai/whisper transcribe.py).
NO_SPEECH_PROB = 0.6
SILENT_LOGPROB = -1.0
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
SPLIT_PAUSE_S = 1.0

Channels = Literal["mono", "mixed", "separate"]


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str = Field(..., description="the word as Whisper wrote it, punctuation included, without spaces")
    start_s: float = Field(..., description="start, from the decoder's cross-attention alignment (s)")
    end_s: float = Field(..., description="end (s)")
    probability: float = Field(..., description="the model's probability for the word (0-1)")


class SpeechTranscriptionSegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="the sentence's text")
    words: list[Word] = Field(..., description="its words in time order (empty: a window without word times)")
    avg_logprob: float = Field(..., description="mean token log-probability of the window it came from")
    no_speech_prob: float = Field(..., description="the model's no-speech probability for that window (0-1)")
    speaker: Literal["left", "right"] | None = Field(
        ..., description="the channel it was heard on, for a two-microphone track; else None (no diarization)"
    )


class SpeechTranscriptionSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(..., description="hub id of the Whisper model that heard the track")
    language: str | None = Field(..., description="detected language code (None: no speech heard)")
    language_probability: float | None = Field(
        ..., description="the model's probability for that language (0-1; None: not detected)"
    )
    language_detected: bool = Field(..., description="a multilingual model detected the language on speech")
    text: str = Field(..., description="the whole transcript, windows joined by spaces")
    word_count: int = Field(..., description="words in the segments")
    segment_count: int = Field(..., description="sentences (segments)")
    speech_start_s: float | None = Field(..., description="first transcribed time (s; None: nothing transcribed)")
    speech_end_s: float | None = Field(..., description="last transcribed time (s)")
    vad_start_s: float | None = Field(..., description="start of the first VAD stretch Whisper was given (s)")
    vad_end_s: float | None = Field(..., description="end of the last VAD stretch (s)")
    vad_speech_s: float = Field(..., description="seconds of VAD speech Whisper was given, 0.4 s padding included (s)")
    vad_stretches: int = Field(..., description="VAD speech stretches (both channels' joined when separate)")
    dropped_silent_segments: int = Field(..., description="windows dropped by Whisper's own no-speech rule")
    channels: Channels = Field(
        ..., description="mono track; mixed: two channels of one mix; separate: two microphones, each transcribed"
    )
    channel_swing_db: float | None = Field(
        ..., description="P90 - P10 of the left-right level balance over sounding frames (dB; None: mono)"
    )
    channel_correlation: float | None = Field(..., description="correlation of the two channels (-1..1; None: mono)")
    speakers: list[str] | None = Field(..., description="the channels that spoke, when separate; else None")
    crosstalk_words_dropped: int = Field(..., description="words dropped as the other microphone's speaker leaking in")


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
    summary_type = SpeechTranscriptionSummary
    segment_type = SpeechTranscriptionSegment
    weights = (MODELS[DEFAULT_MODEL].weights,)  # the default's; a run loads weights_for(its settings)

    @classmethod
    def weights_for(cls, settings: Settings) -> tuple[Weights, ...]:
        """The weights this run loads: the model its settings name."""
        return (configured_model(settings).weights,)

    @classmethod
    def resources_for(cls, settings: Settings) -> Resources:
        return Resources(cpus=1, gpu_memory_gb=configured_model(settings).gpu_memory_gb)

    def process_audio(self, audio: AudioTrack, predicted: Hearing) -> Transcript:
        measures = {"channel_swing_db": predicted.channel_swing_db, "channel_correlation": predicted.channel_correlation}
        if predicted.channels != "separate":
            [mix] = predicted.heard
            return Transcript(
                duration_s=mix.duration_s,
                stretches=mix.stretches,
                language=mix.language,
                language_probability=mix.language_probability,
                segments=mix.segments,
                model=predicted.model,
                channels=predicted.channels,
                **measures,
            )
        heard = predicted.heard
        dropped = drop_crosstalk(heard, audio.channels, audio.start_s, audio.sample_rate)
        spoke_most = max(heard, key=lambda t: sum(end - start for start, end in t.stretches))
        return Transcript(
            duration_s=audio.duration_s,
            stretches=union(heard[0].stretches + heard[1].stretches),
            language=spoke_most.language,
            language_probability=spoke_most.language_probability,
            segments=sorted(heard[0].segments + heard[1].segments, key=lambda s: s["start"]),
            model=predicted.model,
            channels="separate",
            crosstalk_words_dropped=dropped,
            **measures,
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
        words = [w for s in segments for w in s.data.words]
        stretch_seconds = sum(end - start for start, end in heard.stretches)
        separate = heard.channels == "separate"
        return Findings(
            segments=segments,
            summary=SpeechTranscriptionSummary(
                model=heard.model,
                language=heard.language,
                language_probability=rounded(heard.language_probability, 4),
                language_detected=heard.language_probability is not None,
                text=" ".join(window["text"] for window in kept if window["text"]),
                word_count=len(words),
                segment_count=len(segments),
                speech_start_s=min(s.start_s for s in segments) if segments else None,
                speech_end_s=max(s.end_s for s in segments) if segments else None,
                vad_start_s=rounded(heard.stretches[0][0], 3) if heard.stretches else None,
                vad_end_s=rounded(heard.stretches[-1][1], 3) if heard.stretches else None,
                vad_speech_s=rounded(stretch_seconds, 3),
                vad_stretches=len(heard.stretches),
                dropped_silent_segments=len(heard.segments) - len(kept),
                channels=heard.channels,
                channel_swing_db=rounded(heard.channel_swing_db, 1),
                channel_correlation=rounded(heard.channel_correlation, 3),
                speakers=sorted({s.data.speaker for s in segments}, key=SPEAKERS.index) if separate else None,
                crosstalk_words_dropped=heard.crosstalk_words_dropped,
            ),
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
        return rounded(min(max(t, lo), hi), 3)

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
        confidence=rounded(min(max(confidence, 0.0), 1.0), 4),
        data=SpeechTranscriptionSegment(
            text=text,
            words=[
                Word(word=word.strip(), start_s=clip(t0), end_s=clip(t1), probability=rounded(prob, 4))
                for word, t0, t1, prob in words
            ],
            avg_logprob=rounded(window["avg_logprob"], 4),
            no_speech_prob=rounded(window["no_speech_prob"], 4),
            speaker=window.get("speaker"),
        ),
    )
