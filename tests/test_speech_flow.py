"""speech_flow through the real pipeline (decode and the Silero VAD model included) on real
recordings with human annotations, and on synthetic audio that holds no speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import analyse, overlap, rttm_turns, run_video, spans

from pipeline.analyzer import Context, Partials
from pipeline.analyzers.speech_flow import (
    MIN_PAUSE_S,
    TURN_PAUSE_S,
    SpeechFlow,
    SpeechFlowSegment,
    SpeechFlowSummary,
    SpeechSpans,
)
from pipeline.analyzers.whisper import SpeechTranscriptionSegment, Word
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Segment, Status, VideoInfo, VideoResult

AUDIO_ONLY = VideoInfo(path="talk.wav", duration_s=20.0, size_bytes=1, container="wav", has_video=False, has_audio=True)


def assert_well_formed(result: AnalyzerResult) -> None:
    """Speech and pauses alternate, starting and ending with speech; each pause fills the gap
    between its neighbours and lasts at least MIN_PAUSE_S; turns cover the speech, split by
    pauses of TURN_PAUSE_S or more; the summary agrees."""
    assert result.status == Status.ok, result.error
    flow = [s for s in result.segments if s.label in ("speech", "pause")]
    labels = [s.label for s in flow]
    assert labels == ["speech", "pause"] * (len(labels) // 2) + ["speech"] * (len(labels) % 2)
    for before, pause, after in zip(flow[::2], flow[1::2], flow[2::2]):
        assert (before.end_s, after.start_s) == (pause.start_s, pause.end_s)
        assert pause.data.duration_s >= MIN_PAUSE_S
    speech = spans(result.segments, "speech")
    assert result.summary.segment_count == len(speech)
    assert result.summary.pause_count == len(spans(result.segments, "pause"))
    assert result.summary.speech_seconds == pytest.approx(sum(b - a for a, b in speech), abs=0.01)
    assert all(0.0 <= s.confidence <= 1.0 for s in result.segments if s.label == "speech")

    turns = spans(result.segments, "turn")
    assert result.summary.turn_count == len(turns)
    assert (turns[0][0], turns[-1][1]) == (speech[0][0], speech[-1][1]) if speech else turns == []
    assert all(b[0] - a[1] >= TURN_PAUSE_S for a, b in zip(turns, turns[1:]))
    assert all(sum(t0 <= a and b <= t1 for t0, t1 in turns) == 1 for a, b in speech)
    assert all(s.data.speaker is None for s in result.segments if s.label == "turn")


def test_conversation_matches_human_turns(media):
    """pyannote's sample: ten human-annotated turns, no speech before 6.69 s."""
    path = media / "pyannote" / "sample.wav"
    result = analyse(path, "speech_flow")
    assert_well_formed(result)
    reference = rttm_turns(path.with_suffix(".rttm"))
    detected = spans(result.segments, "speech")

    # Silero opens a span at most one 32 ms window early and pads it by 30 ms: 6.69 - 0.062.
    assert result.summary.first_speech_s >= 6.6
    assert overlap(reference, detected) >= 0.8 * overlap(reference, reference)  # recall
    widened = [(a - 0.3, b + 0.3) for a, b in reference]
    assert overlap(detected, widened) >= 0.8 * overlap(detected, detected)  # precision
    # Ten turns by two speakers who leave no long pause between them: pauses cannot see them.
    assert result.summary.turn_count == 1


def test_speech_bounds_of_a_short_speech(media):
    """JFK's inaugural line: speech from under 1 s to between 10 and 11 s, with phrasing pauses."""
    video = run_video(media / "faster-whisper" / "jfk.flac", "speech_flow")
    result = video.analyzers["speech_flow"]
    assert_well_formed(result)
    summary = result.summary
    assert summary.first_speech_s < 1.0
    assert 10.0 <= summary.last_speech_end_s <= 11.0
    assert summary.pause_count >= 1
    assert summary.longest_pause_s >= summary.mean_pause_s >= MIN_PAUSE_S
    assert 0.5 < summary.speech_share < 1.0
    # No transcript ran: no filler figures at all, rather than zeros.
    assert summary.fillers_from is None and summary.filler_count is None
    # The document read back is typed again, and says the same.
    again = VideoResult.model_validate_json(video.to_json()).analyzers["speech_flow"]
    assert isinstance(again.summary, SpeechFlowSummary) and again.summary == summary
    assert all(isinstance(s.data, SpeechFlowSegment) for s in again.segments) and again.segments == result.segments


def test_click_track_is_not_speech(tmp_path):
    spec = ClipSpec(shots=(Shot(6.0),), fps=10, width=160, height=120, audio=AudioSpec(bpm=120, silence=((4.0, 5.0),)))
    result = analyse(write_clip(str(tmp_path / "clicks.mp4"), spec), "speech_flow")
    assert_well_formed(result)
    assert result.summary.speech_share < 0.1


def test_digital_silence_has_no_speech(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(5 * 16_000, np.float32), 16_000, subtype="FLOAT")
    result = analyse(path, "speech_flow")
    assert result.status == Status.ok, result.error
    assert result.segments == []
    assert result.summary.speech_share == 0.0
    assert result.summary.first_speech_s is None and result.summary.longest_pause_s is None


def test_video_without_audio_is_skipped(tmp_path):
    path = Path(write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None)))
    result = analyse(path, "speech_flow")
    assert result.status == Status.skipped
    assert result.reason == "no audio stream"


def flow_of(spans: list[tuple[float, float, float]], transcript: AnalyzerResult | None = None) -> AnalyzerResult:
    """speech_flow's finalize on VAD spans given here, with a transcription result if any."""
    results = {"speech_transcription": transcript} if transcript is not None else {}
    findings = SpeechFlow().finalize(Partials(audio=SpeechSpans(20.0, spans)), Context(AUDIO_ONLY, results))
    return AnalyzerResult(status=Status.ok, segments=findings.segments, summary=findings.summary)


def test_turns_are_speech_between_long_pauses():
    # Gaps: 0.1 s (joined into one utterance), 0.5 s (a pause inside a turn), 1.5 s (a new turn), 0.5 s.
    result = flow_of([(1.0, 2.0, 0.9), (2.1, 3.0, 0.7), (3.5, 5.0, 0.9), (6.5, 8.0, 0.9), (8.5, 9.0, 0.9)])
    assert_well_formed(result)
    assert spans(result.segments, "speech") == [(1.0, 3.0), (3.5, 5.0), (6.5, 8.0), (8.5, 9.0)]
    assert spans(result.segments, "turn") == [(1.0, 5.0), (6.5, 9.0)]
    assert [s.data.utterances for s in result.segments if s.label == "turn"] == [2, 2]
    assert "no speaker identity" in result.summary.turn_basis


def transcript_of(timed_words: list[tuple[str, float, float]]) -> AnalyzerResult:
    """A speech_transcription result holding these words as one segment."""
    words = [Word(word=w, start_s=a, end_s=b, probability=0.8) for w, a, b in timed_words]
    data = SpeechTranscriptionSegment(
        text=" ".join(w.word for w in words), words=words, avg_logprob=-0.2, no_speech_prob=0.01, speaker=None
    )
    segment = Segment(start_s=words[0].start_s, end_s=words[-1].end_s, label="speech", data=data)
    return AnalyzerResult(status=Status.ok, segments=[segment])


def test_fillers_from_the_transcript():
    text = "Um, so I was, like, thinking, you know, that I like it. I mean, uh, do you know him?"
    timed = [(word, round(1.0 + 0.4 * i, 2), round(1.3 + 0.4 * i, 2)) for i, word in enumerate(text.split())]
    result = flow_of([(1.0, 9.0, 0.9)], transcript_of(timed))
    assert_well_formed(result)
    fillers = [(s.data.word, s.data.kind, s.start_s, s.end_s) for s in result.segments if s.label == "filler"]
    # "I like it" and "do you know him" are not fillers: no comma sets them off.
    assert fillers == [
        ("um", "hesitation", 1.0, 1.3),
        ("like", "discourse_marker", 2.6, 2.9),
        ("you know", "discourse_marker", 3.4, 4.1),
        ("i mean", "discourse_marker", 5.8, 6.5),
        ("uh", "hesitation", 6.6, 6.9),
    ]
    summary = result.summary
    assert summary.fillers_from == "transcript"
    assert (summary.filler_count, summary.hesitation_count) == (5, 2)
    assert summary.fillers_per_speech_minute == pytest.approx(5 / 8.0 * 60, abs=0.01)
    assert summary.filler_words == {"um": 1, "like": 1, "you know": 1, "i mean": 1, "uh": 1}


def test_fluent_transcript_has_zero_fillers():
    result = flow_of([(1.0, 3.0, 0.9)], transcript_of([("Ask", 1.0, 1.3), ("not", 1.4, 1.7), ("what", 1.8, 2.1)]))
    assert (result.summary.filler_count, result.summary.fillers_per_speech_minute) == (0, 0.0)
    assert result.summary.filler_words == {}
