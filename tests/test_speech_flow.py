"""speech_flow through the real pipeline (decode and the Silero VAD model included) on real
recordings with human annotations, and on synthetic audio that holds no speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import analyse, overlap, rttm_turns, spans

from pipeline.analyzers.speech_flow import MIN_PAUSE_S
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status


def assert_well_formed(result: AnalyzerResult) -> None:
    """Speech and pauses alternate, starting and ending with speech; each pause fills the gap
    between its neighbours and lasts at least MIN_PAUSE_S; the summary agrees."""
    assert result.status == Status.ok, result.error
    labels = [s.label for s in result.segments]
    assert labels == ["speech", "pause"] * (len(labels) // 2) + ["speech"] * (len(labels) % 2)
    for before, pause, after in zip(result.segments[::2], result.segments[1::2], result.segments[2::2]):
        assert (before.end_s, after.start_s) == (pause.start_s, pause.end_s)
        assert pause.data["duration_s"] >= MIN_PAUSE_S
    speech = spans(result.segments, "speech")
    assert result.summary["segment_count"] == len(speech)
    assert result.summary["pause_count"] == len(spans(result.segments, "pause"))
    assert result.summary["speech_seconds"] == pytest.approx(sum(b - a for a, b in speech), abs=0.01)
    assert all(0.0 <= s.confidence <= 1.0 for s in result.segments if s.label == "speech")


def test_conversation_matches_human_turns(media):
    """pyannote's sample: ten human-annotated turns, no speech before 6.69 s."""
    path = media / "pyannote" / "sample.wav"
    result = analyse(path, "speech_flow")
    assert_well_formed(result)
    reference = rttm_turns(path.with_suffix(".rttm"))
    detected = spans(result.segments, "speech")

    # Silero opens a span at most one 32 ms window early and pads it by 30 ms: 6.69 - 0.062.
    assert result.summary["first_speech_s"] >= 6.6
    assert overlap(reference, detected) >= 0.8 * overlap(reference, reference)  # recall
    widened = [(a - 0.3, b + 0.3) for a, b in reference]
    assert overlap(detected, widened) >= 0.8 * overlap(detected, detected)  # precision


def test_speech_bounds_of_a_short_speech(media):
    """JFK's inaugural line: speech from under 1 s to between 10 and 11 s, with phrasing pauses."""
    result = analyse(media / "faster-whisper" / "jfk.flac", "speech_flow")
    assert_well_formed(result)
    summary = result.summary
    assert summary["first_speech_s"] < 1.0
    assert 10.0 <= summary["last_speech_end_s"] <= 11.0
    assert summary["pause_count"] >= 1
    assert summary["longest_pause_s"] >= summary["mean_pause_s"] >= MIN_PAUSE_S
    assert 0.5 < summary["speech_share"] < 1.0


def test_click_track_is_not_speech(tmp_path):
    spec = ClipSpec(shots=(Shot(6.0),), fps=10, width=160, height=120, audio=AudioSpec(bpm=120, silence=((4.0, 5.0),)))
    result = analyse(write_clip(str(tmp_path / "clicks.mp4"), spec), "speech_flow")
    assert_well_formed(result)
    assert result.summary["speech_share"] < 0.1


def test_digital_silence_has_no_speech(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(5 * 16_000, np.float32), 16_000, subtype="FLOAT")
    result = analyse(path, "speech_flow")
    assert result.status == Status.ok, result.error
    assert result.segments == []
    assert result.summary["speech_share"] == 0.0
    assert result.summary["first_speech_s"] is None and result.summary["longest_pause_s"] is None


def test_video_without_audio_is_skipped(tmp_path):
    path = Path(write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None)))
    result = analyse(path, "speech_flow")
    assert result.status == Status.skipped
    assert result.reason == "no audio stream"
