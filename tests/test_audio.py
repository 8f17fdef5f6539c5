"""audio_analysis through the real pipeline (decode included) on synthetic clips whose truth is
known by construction, on tones whose loudness the BS.1770 standard fixes, and on real speech
recordings with human annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import analyse, overlap, rttm_turns, run_video, spans

from pipeline.analyzers.audio import AudioAnalysisSegment, AudioAnalysisSummary
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status, VideoResult

CLICK_SILENCE = (6.0, 7.5)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    soundfile.write(path, samples.astype(np.float32), rate, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> AnalyzerResult:
    """10 s of video with a 120 BPM click track over a tone, digitally silent over CLICK_SILENCE."""
    spec = ClipSpec(shots=(Shot(10.0),), fps=10, width=160, height=120, audio=AudioSpec(bpm=120, silence=(CLICK_SILENCE,)))
    document = run_video(write_clip(str(tmp_path_factory.mktemp("clip") / "clicks.mp4"), spec), "audio_analysis")
    result = document.analyzers["audio_analysis"]
    assert result.status == Status.ok, result.error
    again = VideoResult.model_validate_json(document.to_json()).analyzers["audio_analysis"]
    assert isinstance(again.summary, AudioAnalysisSummary) and again.summary == result.summary
    assert all(isinstance(s.data, AudioAnalysisSegment) for s in again.segments) and again.segments == result.segments
    return result


def test_click_track_tempo_beats_and_onsets(clicks):
    summary = clicks.summary
    assert summary.tempo_bpm == pytest.approx(120, abs=4)  # no half or double tempo
    beats = np.asarray(summary.beat_times_s)
    assert summary.beat_count == len(beats) >= 10
    assert np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.02)
    # One click every 0.5 s except during the 1.5 s of silence: 17 clicks in 10 s.
    assert summary.onset_rate_per_s == pytest.approx(1.7, abs=0.3)
    # 10 s of audio well under half a second once librosa is warm (setup does the warm-up).
    assert clicks.elapsed_s < 0.5


def test_click_track_silence_span_and_labels(clicks):
    segments = clicks.segments
    assert segments[0].start_s == pytest.approx(0.0, abs=0.05)
    assert all(a.end_s == b.start_s for a, b in zip(segments, segments[1:])), "spans must tile the track"
    [silence] = [s for s in segments if s.label == "silence"]
    assert silence.start_s == pytest.approx(CLICK_SILENCE[0], abs=0.3)
    assert silence.end_s == pytest.approx(CLICK_SILENCE[1], abs=0.3)
    assert silence.data.mean_dbfs < -60
    assert clicks.summary.silence_share == pytest.approx(0.15, abs=0.04)
    assert clicks.summary.music_share > 0.75
    assert clicks.summary.speech_share < 0.1

    curve = clicks.summary.loudness.curve
    assert curve[0][0] == 0.0 and curve[1][0] == 0.5
    for t, db in curve:
        if CLICK_SILENCE[0] <= t and t + 0.5 <= CLICK_SILENCE[1]:
            assert db < -60, (t, db)
        elif t + 0.5 <= CLICK_SILENCE[0]:
            assert -30 < db < -15, (t, db)  # tone at 0.09 peak (-23.9 dBFS) plus clicks


@pytest.mark.parametrize(
    ("channels", "expected_lufs"),
    [
        (1, -23.0),  # BS.1770: a 1 kHz sine peaking at 0 dBFS in one channel reads -3.01 LUFS
        (2, -20.0),  # the same sine in both channels: the channels' powers add up
    ],
)
def test_integrated_loudness_of_a_reference_tone(tmp_path, channels, expected_lufs):
    rate = 48_000
    tone = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(5 * rate) / rate)  # peak -20 dBFS
    path = write_wav(tmp_path / "tone.wav", np.repeat(tone[:, None], channels, axis=1), rate)
    result = analyse(path, "audio_analysis")
    loudness = result.summary.loudness
    assert loudness.integrated_lufs_estimate == pytest.approx(expected_lufs, abs=0.2)
    assert loudness.peak_dbfs == pytest.approx(-20.0, abs=0.1)  # measured on the native samples
    assert loudness.clipped_fraction == 0.0
    assert result.summary.tempo_bpm is None  # a steady tone has no beat


def test_digital_silence(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(5 * 16_000), 16_000)
    result = analyse(path, "audio_analysis")
    assert result.status == Status.ok, result.error
    summary = result.summary
    assert summary.silence_share == 1.0
    assert summary.speech_share == summary.music_share == 0.0
    assert [s.label for s in result.segments] == ["silence"]
    assert summary.tempo_bpm is None and summary.beat_count == 0 and summary.onset_count == 0
    assert summary.loudness.integrated_lufs_estimate is None  # nothing passes the -70 LUFS gate
    assert all(db == -100.0 for _, db in summary.loudness.curve)


def test_video_without_audio_is_skipped(tmp_path):
    path = Path(write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None)))
    result = analyse(path, "audio_analysis")
    assert result.status == Status.skipped
    assert result.reason == "no audio stream"


def test_real_conversation_is_speech_after_a_silent_start(media):
    """pyannote's sample: human turns, no speech before 6.69 s, speech nearly to the end."""
    path = media / "pyannote" / "sample.wav"
    result = analyse(path, "audio_analysis")
    reference = rttm_turns(path.with_suffix(".rttm"))
    speech = spans(result.segments, "speech")
    # Energy frames are 64 ms wide, and a breath may precede the first word: 0.3 s of margin.
    assert min(a for a, _ in speech) >= 6.4
    total = overlap(reference, reference)
    assert overlap(speech, reference) >= 0.9 * total
    assert result.summary.speech_share > 0.7
    assert result.summary.tempo_bpm is None  # conversation has no steady beat


def test_real_speech_is_not_called_music(media):
    result = analyse(media / "faster-whisper" / "jfk.flac", "audio_analysis")
    assert result.summary.speech_share > 0.9
    assert result.summary.tempo_bpm is None
