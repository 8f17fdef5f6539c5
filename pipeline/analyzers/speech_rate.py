"""speech_rate: how fast people speak, in words per minute from the transcript or, without one,
in syllables per second from the sound.

Two methods; the summary's `method` says which one ran:

"transcript" (speech_transcription ran): the words Whisper timed. Per transcript segment (a
sentence) and overall:
  words_per_minute              words / (last word's end - first word's start): pauses included
  articulation_words_per_minute words / speaking time, the same span less every gap of
                                MIN_PAUSE_S or more between two consecutive words (the
                                pauses speech_flow counts)
A word is any Whisper word holding a letter or digit (punctuation rides on words). In languages
written without spaces Whisper's words are characters or tokens, so there the rate counts
those (the transcript's language is in its own summary). With a random or poor model the
count is whatever the model wrote.

"syllables" (no transcript): syllable nuclei counted on the audio, after de Jong & Wempe (2009,
"Praat script to detect syllable nuclei and measure speech rate automatically"): the
intensity of the 300-2500 Hz band (where vowels carry their energy; sibilants and plosive
bursts mostly lie above) in 40 ms frames every 10 ms; a nucleus is a peak at most
BELOW_TOP_DB under the loudest 1% of frames (and above audio_analysis's -60 dBFS silence),
standing PEAK_DIP_DB over the dips beside it, at least MIN_NUCLEUS_GAP_S from the next, and
voiced (normalised autocorrelation of the 40 ms around it at least VOICED_CORRELATION at a
pitch of 60-400 Hz). Only nuclei inside speech count: speech_flow's utterances when it ran
(Silero VAD), else the stretches above the same silence threshold, joined across gaps shorter
than MIN_PAUSE_S (as de Jong & Wempe measure speaking time; any sound then counts as speech,
so music gives nonsense, and steady noise fills the pauses).
  syllables_per_second              nuclei / (last speech end - first speech start)
  articulation_syllables_per_second nuclei / speaking time (the speech regions' total)
Reduced and merged syllables are missed (JFK's inaugural line, 28 syllables: 25 nuclei), so
the rate reads low by some 10%; it cannot tell words, and there is no words-per-minute figure
because the syllables per word depend on the language.

Segments: label "speech", one per transcript segment (data: words, duration_s,
words_per_minute, articulation_words_per_minute) or per speech region (data: syllables,
duration_s, syllables_per_second). Times: seconds of the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Skip
from pipeline.analyzers.audio import SILENCE_DBFS, _runs
from pipeline.analyzers.shots import rounded
from pipeline.analyzers.speech_flow import MIN_PAUSE_S
from pipeline.schema import AnalyzerResult, Segment, SegmentData, Summary

if TYPE_CHECKING:
    from pipeline.analyzers.whisper import Word

BAND_HZ = (300.0, 2500.0)
FRAME_S = 0.04
HOP_S = 0.01
BELOW_TOP_DB = 25.0  # de Jong & Wempe's silence threshold, under the 0.99 quantile
PEAK_DIP_DB = 2.0  # their minimum dip between peaks
MIN_NUCLEUS_GAP_S = 0.1  # no one articulates more than 10 syllables a second
PITCH_HZ = (60.0, 400.0)
VOICED_CORRELATION = 0.4


class SpeechRateSegment(SegmentData):
    """One sentence (transcript method) or one speech region (syllables method); the other
    method's fields are None."""

    model_config = ConfigDict(extra="forbid")

    duration_s: float = Field(..., description="the segment's span, pauses included (s)")
    words: int | None = Field(None, description="transcript: words holding a letter or digit")
    words_per_minute: float | None = Field(None, description="transcript: words / span (words per minute)")
    articulation_words_per_minute: float | None = Field(
        None, description="transcript: words / speaking time, pauses of pause_min_s or more left out (words per minute)"
    )
    syllables: int | None = Field(None, description="syllables: syllable nuclei counted in the region")
    syllables_per_second: float | None = Field(None, description="syllables: nuclei / region length (syllables/s)")


class SpeechRateSummary(Summary):
    """The figures of the method that ran; the other method's fields are None."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["transcript", "syllables"] = Field(
        ..., description="transcript: Whisper's timed words; syllables: nuclei counted on the audio"
    )
    span_s: float = Field(..., description="first speech start to last speech end (s)")
    speaking_s: float = Field(..., description="the span less its pauses (s)")
    word_count: int | None = Field(None, description="transcript: words holding a letter or digit")
    words_per_minute: float | None = Field(None, description="transcript: words / span (words per minute)")
    articulation_words_per_minute: float | None = Field(
        None, description="transcript: words / speaking time (words per minute)"
    )
    pause_min_s: float | None = Field(None, description="transcript: the shortest gap between words that is a pause (s)")
    regions_from: Literal["speech_flow", "energy"] | None = Field(
        None, description="syllables: speech regions from speech_flow's VAD, or from the sound's energy"
    )
    syllable_count: int | None = Field(None, description="syllables: nuclei inside the speech regions")
    syllables_per_second: float | None = Field(None, description="syllables: nuclei / span (syllables/s)")
    articulation_syllables_per_second: float | None = Field(
        None, description="syllables: nuclei / speaking time (syllables/s)"
    )


@dataclass
class SoundOfSpeech:
    """The partial: syllable nuclei and sounding stretches of one track, in seconds of the video."""

    duration_s: float
    nuclei_s: list[float]
    sounding: list[tuple[float, float]]  # above the silence threshold, pauses under MIN_PAUSE_S filled


class SpeechRate(Analyzer):
    name = "speech_rate"
    audio = True
    in_decoder = True  # ~0.1 s of CPU per minute of audio: cheaper than shipping the track
    uses = ("speech_transcription", "speech_flow")
    summary_type = SpeechRateSummary
    segment_type = SpeechRateSegment

    def setup(self) -> None:
        import scipy.signal  # noqa: F401  seconds to import: here, not in the first video's time

    def process_audio(self, audio: AudioTrack) -> SoundOfSpeech:
        from scipy.signal import butter, find_peaks, sosfilt

        rate = audio.sample_rate
        frame, hop = round(FRAME_S * rate), round(HOP_S * rate)
        samples = audio.samples.astype(np.float64)
        if len(samples) < frame:
            return SoundOfSpeech(audio.duration_s, [], [])
        # One pass: the filter delays the band by about a millisecond, a tenth of a frame step.
        band = sosfilt(butter(4, BAND_HZ, btype="bandpass", fs=rate, output="sos"), samples)
        starts = np.arange(0, len(band) - frame + 1, hop)
        energy = np.concatenate([[0.0], np.cumsum(band * band)])
        level_db = 10 * np.log10(np.maximum((energy[starts + frame] - energy[starts]) / frame, 1e-20))

        floor = max(float(np.percentile(level_db, 99)) - BELOW_TOP_DB, SILENCE_DBFS)
        peaks, _ = find_peaks(
            level_db,
            height=floor,
            prominence=PEAK_DIP_DB,
            distance=max(1, round(MIN_NUCLEUS_GAP_S / HOP_S)),
        )
        centres = starts[peaks] + frame // 2
        nuclei = [float(c / rate + audio.start_s) for c in centres if _voiced(samples, c, frame, rate)]
        sounding = level_db >= floor
        for a, b, on in _runs(sounding):  # gaps shorter than a pause are articulation
            if not on and 0 < a and b < len(sounding) and (b - a) * HOP_S < MIN_PAUSE_S:
                sounding[a:b] = True
        stretches = [
            (a * HOP_S + audio.start_s, min((b - 1) * HOP_S + FRAME_S, audio.duration_s) + audio.start_s)
            for a, b, on in _runs(sounding)
            if on
        ]
        return SoundOfSpeech(audio.duration_s, nuclei, stretches)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        transcript = context.ok("speech_transcription")
        if transcript is not None:
            return _from_transcript(transcript)
        heard: SoundOfSpeech | None = partials.audio
        if heard is None:
            raise Skip("no audio track was decoded")
        flow = context.ok("speech_flow")
        if flow is not None:
            regions = [(s.start_s, s.end_s) for s in flow.segments if s.label == "speech"]
        else:
            regions = heard.sounding
        return _from_syllables(heard.nuclei_s, regions, "speech_flow" if flow is not None else "energy")


def _voiced(samples: np.ndarray, centre: int, frame: int, rate: int) -> bool:
    """Periodic at a speaking pitch: the normalised autocorrelation of the frame around `centre`."""
    lo, hi = round(rate / PITCH_HZ[1]), round(rate / PITCH_HZ[0])
    window = samples[max(0, centre - frame // 2) : centre + frame // 2]
    window = window - window.mean()
    if len(window) <= hi:
        return False
    spectrum = np.fft.rfft(window, 2 * len(window))
    correlation = np.fft.irfft(spectrum * spectrum.conj())[: hi + 1]
    return correlation[0] > 0 and correlation[lo : hi + 1].max() / correlation[0] >= VOICED_CORRELATION


def _spoken(words: list[Word]) -> list[Word]:
    return [w for w in words if any(ch.isalnum() for ch in w.word)]


def _timing(words: list[Word]) -> tuple[float, float]:
    """(span, speaking time) of time-ordered words: the span less the pauses between them."""
    span = words[-1].end_s - words[0].start_s
    pauses = sum(gap for a, b in zip(words, words[1:]) if (gap := b.start_s - a.end_s) >= MIN_PAUSE_S)
    return span, span - pauses


def _per_minute(count: int, seconds: float) -> float | None:
    return rounded(60.0 * count / seconds, 2) if seconds > 0 else None


def _from_transcript(transcript: AnalyzerResult) -> Findings:
    segments = []
    for sentence in transcript.segments:
        words = _spoken(sentence.data.words)
        if not words:
            continue
        span, speaking = _timing(words)
        segments.append(
            Segment(
                start_s=words[0].start_s,
                end_s=words[-1].end_s,
                label="speech",
                data=SpeechRateSegment(
                    words=len(words),
                    duration_s=rounded(span, 3),
                    words_per_minute=_per_minute(len(words), span),
                    articulation_words_per_minute=_per_minute(len(words), speaking),
                ),
            )
        )
    words = sorted((w for sentence in transcript.segments for w in _spoken(sentence.data.words)), key=lambda w: w.start_s)
    span, speaking = _timing(words) if words else (0.0, 0.0)
    return Findings(
        segments=segments,
        summary=SpeechRateSummary(
            method="transcript",
            word_count=len(words),
            span_s=rounded(span, 3),
            speaking_s=rounded(speaking, 3),
            words_per_minute=_per_minute(len(words), span),
            articulation_words_per_minute=_per_minute(len(words), speaking),
            pause_min_s=MIN_PAUSE_S,
        ),
    )


def _from_syllables(nuclei: list[float], regions: list[tuple[float, float]], regions_from: str) -> Findings:
    segments = []
    for start, end in regions:
        count = sum(start <= t < end for t in nuclei)
        segments.append(
            Segment(
                start_s=rounded(start, 3),
                end_s=rounded(end, 3),
                label="speech",
                data=SpeechRateSegment(
                    syllables=count,
                    duration_s=rounded(end - start, 3),
                    syllables_per_second=rounded(count / (end - start), 3) if end > start else None,
                ),
            )
        )
    count = sum(s.data.syllables for s in segments)
    span = regions[-1][1] - regions[0][0] if regions else 0.0
    speaking = sum((end - start for start, end in regions), 0.0)
    return Findings(
        segments=segments,
        summary=SpeechRateSummary(
            method="syllables",
            regions_from=regions_from,
            syllable_count=count,
            span_s=rounded(span, 3),
            speaking_s=rounded(speaking, 3),
            syllables_per_second=rounded(count / span, 3) if span > 0 else None,
            articulation_syllables_per_second=rounded(count / speaking, 3) if speaking > 0 else None,
        ),
    )
