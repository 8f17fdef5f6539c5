"""speech_flow: when people speak and when they pause, from Silero VAD.

The VAD (the ONNX model shipped inside the silero-vad wheel; nothing is downloaded) gives a
speech probability per 32 ms window; silero's own post-processing turns it into speech spans
(at least 250 ms long, split on 100 ms of silence, padded by 30 ms each side). Spans closer
than MIN_PAUSE_S are joined into one utterance, so that every gap between two speech
segments is a pause: silent pauses of 0.3 s and more are the unit fluency research counts
(shorter gaps are articulation, not hesitation).

Turns: utterances separated by pauses shorter than TURN_PAUSE_S are one "turn". That is all
the audio here allows: the VAD hears the decoder's mono mix of every channel and no diarization
model runs, so a turn is a stretch of speech between long pauses, never a speaker (on a track
recorded on two microphones, speech_transcription's sentences carry their channel as speaker). Two people
who answer each other without a pause of TURN_PAUSE_S make one turn (pyannote's two-speaker
sample, ten annotated turns, reads as one), and one person's long pause makes two.

Filler words, when speech_transcription ran (`uses`): from its word timestamps,
  hesitations         um, uh, er, erm, ah, hmm (and their spellings in HESITATIONS), always;
  discourse markers   "like", "you know", "I mean", only when a comma sets them off ("it was,
                      like, huge"; "I mean, ..."), since "I like it" and "you know him" are
                      not fillers; a marker written without the comma is missed.
Whisper's training transcripts mostly leave hesitations out, so it writes few of them: the
counts are lower bounds, and zero does not mean fluent. Without a transcript there are no
filler figures (None), not zeros.

Segments: "speech" and "pause" alternate (a pause is the gap between two speech segments);
"turn" spans (data: speaker None, utterances, duration_s) and "filler" words (data: word,
kind "hesitation" or "discourse_marker"; confidence: Whisper's word probability) lie over them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Skip
from pipeline.analyzers.shots import rounded
from pipeline.schema import AnalyzerResult, Segment, SegmentData, Summary

if TYPE_CHECKING:
    from pipeline.analyzers.whisper import Word

VAD_RATE = 16_000  # the decoder's rate, and one the model takes natively
VAD_WINDOW = 512  # samples per speech probability at 16 kHz (fixed by the model)
VAD_FILE = "silero_vad.onnx"  # what load_silero_vad(onnx=True) loads from the wheel
MIN_PAUSE_S = 0.3
TURN_PAUSE_S = 1.0  # a long pause, by the usual convention of fluency research
HESITATIONS = frozenset({"um", "umm", "uhm", "uh", "uhh", "er", "erm", "ah", "hmm"})
DISCOURSE_MARKERS = (("you", "know"), ("i", "mean"), ("like",))


class SpeechFlowSegment(SegmentData):
    """speech, pause, turn or filler: the fields of the other labels are None."""

    model_config = ConfigDict(extra="forbid")

    duration_s: float | None = Field(None, description="speech, pause, turn: its length (s)")
    speaker: str | None = Field(None, description="turn: always None (no diarization model runs)")
    utterances: int | None = Field(None, description="turn: speech segments in it")
    word: str | None = Field(None, description="filler: the filler, lower case ('um', 'you know')")
    kind: Literal["hesitation", "discourse_marker"] | None = Field(None, description="filler: which kind")


class SpeechFlowSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    speech_share: float = Field(..., description="speech seconds / track seconds (0-1)")
    speech_seconds: float = Field(..., description="seconds of speech (s)")
    segment_count: int = Field(..., description="speech segments (utterances)")
    mean_segment_s: float | None = Field(..., description="mean speech segment length (s; None: no speech)")
    longest_segment_s: float | None = Field(..., description="longest speech segment (s)")
    pause_count: int = Field(..., description="pauses between speech segments")
    pause_seconds: float = Field(..., description="seconds of pauses (s)")
    mean_pause_s: float | None = Field(..., description="mean pause length (s; None: no pause)")
    longest_pause_s: float | None = Field(..., description="longest pause (s)")
    first_speech_s: float | None = Field(..., description="start of the first speech (s; None: no speech)")
    last_speech_end_s: float | None = Field(..., description="end of the last speech (s)")
    min_pause_s: float = Field(..., description="the shortest gap counted as a pause (s)")
    turn_count: int = Field(..., description="turns: speech between pauses of turn_pause_s or more")
    turn_pause_s: float = Field(..., description="the pause that ends a turn (s)")
    turn_basis: str = Field(..., description="what a turn is here, in words")
    fillers_from: Literal["transcript"] | None = Field(
        ..., description="where fillers were counted (None: no transcript, no filler figures)"
    )
    filler_count: int | None = Field(..., description="filler words and phrases (a lower bound)")
    hesitation_count: int | None = Field(..., description="of them, hesitations (um, uh ...)")
    fillers_per_speech_minute: float | None = Field(..., description="fillers per minute of speech (1/min)")
    filler_words: dict[str, int] | None = Field(..., description="count of each filler")


@dataclass
class SpeechSpans:
    """The partial: what the VAD heard in one audio track, times from the start of the video."""

    duration_s: float  # of the audio track
    spans: list[tuple[float, float, float]]  # (start_s, end_s, mean speech probability)


class SpeechFlow(Analyzer):
    name = "speech_flow"
    audio = True
    in_decoder = True  # ~3 ms of CPU per second of audio: cheaper than shipping the track
    uses = ("speech_transcription",)
    summary_type = SpeechFlowSummary
    segment_type = SpeechFlowSegment

    def setup(self) -> None:
        try:
            import torch

            threads = torch.get_num_threads()
            import silero_vad

            # Importing silero_vad sets torch to one thread for the whole process: undo that
            # for the other analyzers sharing this worker (its ONNX session has its own setting).
            torch.set_num_threads(threads)
            with warnings.catch_warnings():
                # Its loader uses importlib.resources.path, deprecated but working: not our concern.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.model = silero_vad.load_silero_vad(onnx=True)
        except Exception as exc:
            raise Skip(f"Silero VAD could not be loaded: {type(exc).__name__}: {exc}") from None
        from importlib.metadata import version
        from importlib.resources import files

        from pipeline.models import sha256

        onnx = files("silero_vad.data") / VAD_FILE  # the file load_silero_vad(onnx=True) reads
        self.record_model(
            f"silero-vad {version('silero-vad')}: {VAD_FILE}", backend="onnxruntime", device="cpu", dtype="float32",
            sha256=sha256(Path(str(onnx))),
        )  # fmt: skip

    def process_audio(self, audio: AudioTrack) -> SpeechSpans:
        import torch
        from silero_vad import get_speech_timestamps_from_probs

        if audio.sample_rate != VAD_RATE:
            raise ValueError(f"Silero VAD here expects {VAD_RATE} Hz audio, got {audio.sample_rate} Hz")
        samples = audio.samples
        duration = len(samples) / VAD_RATE
        if len(samples) < VAD_WINDOW:
            return SpeechSpans(duration, [])
        # Probabilities first, then silero's own span logic on them: the same spans as
        # get_speech_timestamps, with the probabilities kept for a per-span confidence.
        probs = self.model.audio_forward(torch.from_numpy(np.ascontiguousarray(samples)), VAD_RATE)[0].numpy()
        found = get_speech_timestamps_from_probs(probs.tolist(), sampling_rate=VAD_RATE, audio_length_samples=len(samples))
        spans = []
        for span in found:
            first, last = span["start"] // VAD_WINDOW, -(-span["end"] // VAD_WINDOW)  # windows it touches
            spans.append(
                (
                    audio.start_s + span["start"] / VAD_RATE,
                    audio.start_s + span["end"] / VAD_RATE,
                    float(probs[first:last].mean()),
                )
            )
        return SpeechSpans(duration, spans)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        heard: SpeechSpans | None = partials.audio
        if heard is None:
            raise Skip("no audio track was decoded")
        utterances = _join_close(heard.spans)
        pauses = [(a[1], b[0]) for a, b in zip(utterances[:-1], utterances[1:])]

        segments = [
            Segment(
                start_s=rounded(start, 3),
                end_s=rounded(end, 3),
                label="speech",
                confidence=rounded(prob, 3),
                data=SpeechFlowSegment(duration_s=rounded(end - start, 3)),
            )
            for start, end, prob in utterances
        ]
        segments += [
            Segment(
                start_s=rounded(start, 3),
                end_s=rounded(end, 3),
                label="pause",
                data=SpeechFlowSegment(duration_s=rounded(end - start, 3)),
            )
            for start, end in pauses
        ]
        turns = _turns(utterances)
        segments += [
            Segment(
                start_s=rounded(start, 3),
                end_s=rounded(end, 3),
                label="turn",
                data=SpeechFlowSegment(speaker=None, utterances=count, duration_s=rounded(end - start, 3)),
            )
            for start, end, count in turns
        ]
        transcript = context.ok("speech_transcription")
        fillers = _fillers(transcript) if transcript is not None else []
        segments += fillers
        segments.sort(key=lambda s: s.start_s)

        speech_lengths = [end - start for start, end, _ in utterances]
        pause_lengths = [end - start for start, end in pauses]
        speech_seconds = sum(speech_lengths, 0.0)
        filler_words: dict[str, int] = {}
        for filler in fillers:
            filler_words[filler.data.word] = filler_words.get(filler.data.word, 0) + 1
        has_fillers = transcript is not None
        return Findings(
            segments=segments,
            summary=SpeechFlowSummary(
                speech_share=rounded(speech_seconds / heard.duration_s, 4) if heard.duration_s else 0.0,
                speech_seconds=rounded(speech_seconds, 3),
                segment_count=len(utterances),
                mean_segment_s=_mean(speech_lengths),
                longest_segment_s=_longest(speech_lengths),
                pause_count=len(pauses),
                pause_seconds=rounded(sum(pause_lengths, 0.0), 3),
                mean_pause_s=_mean(pause_lengths),
                longest_pause_s=_longest(pause_lengths),
                first_speech_s=rounded(utterances[0][0], 3) if utterances else None,
                last_speech_end_s=rounded(utterances[-1][1], 3) if utterances else None,
                min_pause_s=MIN_PAUSE_S,
                turn_count=len(turns),
                turn_pause_s=TURN_PAUSE_S,
                turn_basis=f"speech between pauses of {TURN_PAUSE_S:g} s or more; no speaker identity "
                "(the mono mix, no diarization model)",
                fillers_from="transcript" if has_fillers else None,
                filler_count=len(fillers) if has_fillers else None,
                hesitation_count=sum(f.data.kind == "hesitation" for f in fillers) if has_fillers else None,
                fillers_per_speech_minute=rounded(60.0 * len(fillers) / speech_seconds, 2)
                if has_fillers and speech_seconds
                else None,
                filler_words=filler_words if has_fillers else None,
            ),
        )


def _join_close(spans: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Spans separated by less than MIN_PAUSE_S joined; the confidence is length-weighted."""
    joined: list[tuple[float, float, float]] = []
    for start, end, prob in spans:
        if joined and start - joined[-1][1] < MIN_PAUSE_S:
            prev_start, prev_end, prev_prob = joined[-1]
            voiced = (prev_end - prev_start) + (end - start)
            prob = (prev_prob * (prev_end - prev_start) + prob * (end - start)) / voiced
            joined[-1] = (prev_start, end, prob)
        else:
            joined.append((start, end, prob))
    return joined


def _turns(utterances: list[tuple[float, float, float]]) -> list[tuple[float, float, int]]:
    """(start, end, utterance count) of each run of utterances without a pause of TURN_PAUSE_S."""
    turns: list[tuple[float, float, int]] = []
    for start, end, _ in utterances:
        if turns and start - turns[-1][1] < TURN_PAUSE_S:
            turns[-1] = (turns[-1][0], end, turns[-1][2] + 1)
        else:
            turns.append((start, end, 1))
    return turns


def _fillers(transcript: AnalyzerResult) -> list[Segment]:
    """Hesitations, and discourse markers set off by a comma, among the transcript's words."""
    words = sorted((w for s in transcript.segments for w in s.data.words), key=lambda w: w.start_s)
    bare = [re.sub(r"[^\w']+", "", w.word.lower()) for w in words]
    found = []
    i = 0
    while i < len(words):
        if bare[i] in HESITATIONS:
            found.append(_filler(words[i : i + 1], bare[i], "hesitation"))
            i += 1
            continue
        for marker in DISCOURSE_MARKERS:
            end = i + len(marker)
            if tuple(bare[i:end]) == marker and _set_off(words, i, end):
                found.append(_filler(words[i:end], " ".join(marker), "discourse_marker"))
                i = end
                break
        else:
            i += 1
    return found


def _set_off(words: list[Word], first: int, end: int) -> bool:
    """A comma right before the phrase or at its end."""
    before = first > 0 and words[first - 1].word.rstrip().endswith(",")
    return before or words[end - 1].word.rstrip().endswith(",")


def _filler(words: list[Word], text: str, kind: str) -> Segment:
    return Segment(
        start_s=words[0].start_s,
        end_s=words[-1].end_s,
        label="filler",
        confidence=rounded(sum(w.probability for w in words) / len(words), 4),
        data=SpeechFlowSegment(word=text, kind=kind),
    )


def _mean(values: list[float]) -> float | None:
    return rounded(sum(values) / len(values), 3) if values else None


def _longest(values: list[float]) -> float | None:
    return rounded(max(values), 3) if values else None
