"""speech_rate: syllable rates measured on real speech with known text (the audio path through
the real pipeline), and words per minute counted exactly on transcripts built here (finalize
needs no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import analyse, run_video, spans, write_damaged_speech

from pipeline.analyzer import Context, Partials
from pipeline.analyzers.speech_rate import SoundOfSpeech, SpeechRate, SpeechRateSegment, SpeechRateSummary
from pipeline.analyzers.whisper import SpeechTranscriptionSegment, Word
from pipeline.engine.decode import Decoder
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Segment, Status, VideoInfo, VideoResult

# JFK: "And so my fellow Americans, ask not what your country can do for you, ask what you can do
# for your country." 22 words, 28 syllables, about 8 s of speaking: some 3.5 syllables a second.
JFK_SYLLABLES = 28
HUMAN_SYLLABLES_PER_S = (2.0, 6.0)  # slow oratory to fast conversation, pauses excluded


def rate_with_flow(path: Path | str) -> AnalyzerResult:
    """speech_rate with speech_flow's utterances as its speech regions."""
    [result] = run_local([VideoRequest("clip", str(path))], Plan.build(["speech_rate", "speech_flow"]))
    assert result.analyzers["speech_flow"].status == Status.ok
    return result.analyzers["speech_rate"]


def assert_syllable_counts(result: AnalyzerResult) -> None:
    assert result.status == Status.ok, result.error
    assert result.summary.method == "syllables"
    assert result.summary.syllable_count == sum(s.data.syllables for s in result.segments)
    assert result.summary.speaking_s == pytest.approx(sum(s.end_s - s.start_s for s in result.segments), abs=0.01)


def test_jfk_syllable_rate_from_the_audio_alone(media):
    video = run_video(media / "faster-whisper" / "jfk.flac", "speech_rate")
    result = video.analyzers["speech_rate"]
    assert_syllable_counts(result)
    summary = result.summary
    assert summary.regions_from == "energy"
    # The detector misses reduced and merged syllables (25 of 28 here); never invents many.
    assert 0.7 * JFK_SYLLABLES <= summary.syllable_count <= 1.2 * JFK_SYLLABLES
    low, high = HUMAN_SYLLABLES_PER_S
    assert low <= summary.articulation_syllables_per_second <= high
    assert summary.syllables_per_second < summary.articulation_syllables_per_second  # JFK pauses
    assert spans(result.segments, "speech")[0][0] < 1.0  # speech starts under 1 s
    # The document read back is typed again, and says the same.
    again = VideoResult.model_validate_json(video.to_json()).analyzers["speech_rate"]
    assert isinstance(again.summary, SpeechRateSummary) and again.summary == summary
    assert all(isinstance(s.data, SpeechRateSegment) for s in again.segments) and again.segments == result.segments


def test_jfk_with_speech_flow_regions(media):
    path = media / "faster-whisper" / "jfk.flac"
    result = rate_with_flow(path)
    assert_syllable_counts(result)
    assert result.summary.regions_from == "speech_flow"
    flow = analyse(path, "speech_flow")
    assert spans(result.segments, "speech") == spans(flow.segments, "speech")
    assert 0.7 * JFK_SYLLABLES <= result.summary.syllable_count <= 1.2 * JFK_SYLLABLES
    low, high = HUMAN_SYLLABLES_PER_S
    assert low <= result.summary.articulation_syllables_per_second <= high


def test_conversation_rate_and_silent_start(media):
    """pyannote's sample: two people talking, no speech before 6.69 s."""
    result = analyse(media / "pyannote" / "sample.wav", "speech_rate")
    assert_syllable_counts(result)
    low, high = HUMAN_SYLLABLES_PER_S
    assert low <= result.summary.articulation_syllables_per_second <= high
    assert result.segments[0].start_s >= 6.6  # the energy regions find the silent start too


def test_two_voices_at_once(media):
    """stereo_diarization.wav: a speaker per channel, mixed to mono: overlapping syllables merge,
    and the rate still reads as human speech."""
    result = analyse(media / "faster-whisper" / "stereo_diarization.wav", "speech_rate")
    assert_syllable_counts(result)
    low, high = HUMAN_SYLLABLES_PER_S
    assert low <= result.summary.articulation_syllables_per_second <= high


@pytest.mark.parametrize("damage", ["clipped", "noisy"])
def test_damaged_speech_keeps_its_rate(media, tmp_path, damage):
    """JFK driven 18 dB into clipping, or under white noise 10 dB below the speech."""
    [track] = [item for item in Decoder(str(media / "faster-whisper" / "jfk.flac"), [], True)]
    path = write_damaged_speech(track.samples, damage, tmp_path / f"{damage}.wav")
    result = rate_with_flow(path)
    assert_syllable_counts(result)
    assert 0.7 * JFK_SYLLABLES <= result.summary.syllable_count <= 1.2 * JFK_SYLLABLES


@pytest.mark.parametrize("seconds", [5.0, 0.005])
def test_silence_and_a_blip_have_no_rate(tmp_path, seconds):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(int(seconds * 16_000), np.float32), 16_000, subtype="FLOAT")
    result = analyse(path, "speech_rate")
    assert result.status == Status.ok, result.error
    assert result.segments == []
    assert result.summary.syllable_count == 0
    rates = result.summary.syllables_per_second, result.summary.articulation_syllables_per_second
    assert rates == (None, None)


def test_video_without_audio_is_skipped(tmp_path):
    path = write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None))
    result = analyse(path, "speech_rate")
    assert (result.status, result.reason) == (Status.skipped, "no audio stream")


# ---- the transcript method: finalize on a speech_transcription result built here ----

INFO = VideoInfo(path="talk.wav", duration_s=20.0, size_bytes=1, container="wav", has_video=False, has_audio=True)


def sentence(*timed: tuple[str, float, float]) -> Segment:
    words = [Word(word=w, start_s=a, end_s=b, probability=0.9) for w, a, b in timed]
    data = SpeechTranscriptionSegment(
        text=" ".join(w for w, *_ in timed), words=words, avg_logprob=-0.2, no_speech_prob=0.01, speaker=None
    )
    return Segment(start_s=timed[0][1], end_s=timed[-1][2], label="speech", data=data)


def rate_of(transcript: AnalyzerResult, nuclei: list[float] | None = None) -> AnalyzerResult:
    partial = SoundOfSpeech(20.0, nuclei or [], [(0.0, 20.0)])
    findings = SpeechRate().finalize(Partials(audio=partial), Context(INFO, {"speech_transcription": transcript}))
    return AnalyzerResult(status=Status.ok, segments=findings.segments, summary=findings.summary)


def test_words_per_minute_from_a_transcript():
    first = sentence(("Ask", 1.0, 1.5), ("not", 1.5, 2.0), ("what", 2.5, 3.0), ("—", 3.0, 3.1), ("you", 3.1, 4.0))
    # A 0.2 s gap (articulation) and a 1.0 s gap (a pause) inside the second sentence.
    second = sentence(("Ask", 6.0, 6.4), ("what", 6.6, 7.0), ("you", 8.0, 9.0))
    transcript = AnalyzerResult(status=Status.ok, segments=[first, second])
    result = rate_of(transcript, nuclei=[1.2, 1.7])  # the transcript wins over the syllables
    summary = result.summary
    assert summary.method == "transcript"
    assert summary.word_count == 7  # "—" holds no letter
    # Span 1.0-9.0 s; pauses of 0.5 (2.0-2.5), 2.0 (4.0-6.0) and 1.0 (7.0-8.0) s: 4.5 s speaking.
    assert (summary.span_s, summary.speaking_s) == (8.0, 4.5)
    assert summary.words_per_minute == pytest.approx(7 / 8.0 * 60, abs=0.01)
    assert summary.articulation_words_per_minute == pytest.approx(7 / 4.5 * 60, abs=0.01)
    per_sentence = [(s.start_s, s.end_s, s.data.words, s.data.words_per_minute) for s in result.segments]
    assert per_sentence == [(1.0, 4.0, 4, 80.0), (6.0, 9.0, 3, 60.0)]
    assert [s.data.articulation_words_per_minute for s in result.segments] == [96.0, 90.0]
    # The syllable method's fields are empty, not zero.
    assert (summary.syllable_count, summary.regions_from) == (None, None)
    assert {s.data.syllables for s in result.segments} == {None}


def test_empty_transcript_has_no_rate():
    result = rate_of(AnalyzerResult(status=Status.ok, segments=[]))
    assert result.summary.method == "transcript"
    assert (result.summary.word_count, result.summary.words_per_minute) == (0, None)
    assert result.segments == []


def test_a_skipped_transcription_falls_back_to_syllables():
    skipped = AnalyzerResult.skipped("weights missing")
    result = rate_of(skipped, nuclei=[1.0, 1.3, 5.0, 25.0])  # 25.0 lies outside the speech
    assert result.summary.method == "syllables"
    assert result.summary.syllable_count == 3
    assert result.summary.word_count is None  # the transcript method's fields are empty
