"""speech_flow: when people speak and when they pause, from Silero VAD.

The VAD (the ONNX model shipped inside the silero-vad wheel; nothing is downloaded) gives a
speech probability per 32 ms window; silero's own post-processing turns it into speech spans
(at least 250 ms long, split on 100 ms of silence, padded by 30 ms each side). Spans closer
than MIN_PAUSE_S are joined into one utterance, so that every gap between two speech
segments is a pause: silent pauses of 0.3 s and more are the unit fluency research counts
(shorter gaps are articulation, not hesitation).

The words are not looked at here. Filler words and speaker turns need a transcript: they
belong in `finalize`, reading the transcription analyzer's result through `after`, on top of
the utterances and pauses built below.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Skip
from pipeline.schema import Segment

VAD_RATE = 16_000  # the decoder's rate, and one the model takes natively
VAD_WINDOW = 512  # samples per speech probability at 16 kHz (fixed by the model)
MIN_PAUSE_S = 0.3


@dataclass
class SpeechSpans:
    """The partial: what the VAD heard in one audio track, times from the start of the video."""

    duration_s: float  # of the audio track
    spans: list[tuple[float, float, float]]  # (start_s, end_s, mean speech probability)


class SpeechFlow(Analyzer):
    name = "speech_flow"
    audio = True
    in_decoder = True  # ~3 ms of CPU per second of audio: cheaper than shipping the track

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
                start_s=round(start, 3),
                end_s=round(end, 3),
                label="speech",
                confidence=round(prob, 3),
                data={"duration_s": round(end - start, 3)},
            )
            for start, end, prob in utterances
        ]
        segments += [
            Segment(start_s=round(start, 3), end_s=round(end, 3), label="pause", data={"duration_s": round(end - start, 3)})
            for start, end in pauses
        ]
        segments.sort(key=lambda s: s.start_s)

        speech_lengths = [end - start for start, end, _ in utterances]
        pause_lengths = [end - start for start, end in pauses]
        speech_seconds = sum(speech_lengths, 0.0)
        return Findings(
            segments=segments,
            summary={
                "speech_share": round(speech_seconds / heard.duration_s, 4) if heard.duration_s else 0.0,
                "speech_seconds": round(speech_seconds, 3),
                "segment_count": len(utterances),
                "mean_segment_s": _mean(speech_lengths),
                "longest_segment_s": _longest(speech_lengths),
                "pause_count": len(pauses),
                "pause_seconds": round(sum(pause_lengths, 0.0), 3),
                "mean_pause_s": _mean(pause_lengths),
                "longest_pause_s": _longest(pause_lengths),
                "first_speech_s": round(utterances[0][0], 3) if utterances else None,
                "last_speech_end_s": round(utterances[-1][1], 3) if utterances else None,
                "min_pause_s": MIN_PAUSE_S,
            },
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


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _longest(values: list[float]) -> float | None:
    return round(max(values), 3) if values else None
