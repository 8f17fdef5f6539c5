"""speech_transcription on a tiny, randomly initialised Whisper generated here in large-v3's layout
(tests/tiny_whisper.py) and loaded by the whisper runtime (actors/whisper.py). Its words are
nonsense, so these tests check what the code and the VAD control: where the speech is (real truth: JFK
speaks from under 1 s to between 10 and 11 s), that every time lies inside the speech Whisper
was given, the segments' and words' shape, the language fields, the sentence splitting, odd
inputs and a 10-minute monologue; then speech_flow and speech_rate reading its transcript; and
what the settings choose (model, GPU memory)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import soundfile
from helpers import analyse, run_video, write_damaged_speech
from tiny_whisper import write_tiny_whisper

from actors.whisper import MODELS, configured_model
from pipeline.analyzer import Context, Partials
from pipeline.analyzers.channels import SWING_DB
from pipeline.analyzers.whisper import SpeechTranscription, SpeechTranscriptionSegment, SpeechTranscriptionSummary
from pipeline.analyzers.whisper import Transcript
from pipeline.engine.decode import Decoder
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status, VideoInfo, VideoResult
from pipeline.settings import Settings, SettingsError, SpeechTranscriptionSettings

MODEL_NAME = SpeechTranscription.weights[0].name  # the default model's folder: the tiny one is written there


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_tiny_whisper(folder / MODEL_NAME)
    return folder


@pytest.fixture
def tiny_whisper(models_dir) -> Settings:
    """Settings whose default model (large-v3's folder) is the tiny one."""
    return Settings(models_dir=models_dir)


@pytest.fixture(scope="module")
def jfk_samples(media) -> np.ndarray:
    [track] = list(Decoder(str(media / "faster-whisper" / "jfk.flac"), [], True))
    return track.samples


def assert_inside_the_speech(result: AnalyzerResult, duration_s: float) -> None:
    """Every segment and word lies inside the VAD speech Whisper heard, in order, well formed."""
    assert result.status == Status.ok, result.error
    summary = result.summary
    assert isinstance(summary, SpeechTranscriptionSummary)
    lo, hi = summary.vad_start_s, summary.vad_end_s
    assert 0.0 <= lo < hi <= duration_s + 1e-3
    words = [w for s in result.segments for w in s.data.words]
    assert summary.word_count == len(words) > 0
    assert summary.segment_count == len(result.segments)
    assert summary.speech_start_s == min(s.start_s for s in result.segments) >= lo
    assert summary.speech_end_s == max(s.end_s for s in result.segments) <= hi
    for segment in result.segments:
        assert segment.label == "speech"
        assert lo <= segment.start_s <= segment.end_s <= hi
        assert 0.0 <= segment.confidence <= 1.0
        fields = set(segment.data.model_dump())
        assert segment.data.text and fields == {"text", "words", "avg_logprob", "no_speech_prob", "speaker"}
        assert segment.data.speaker in ((None,) if summary.channels != "separate" else ("left", "right"))
        for word in segment.data.words:
            assert segment.start_s <= word.start_s <= word.end_s <= segment.end_s
            assert word.word == word.word.strip() != ""
            assert 0.0 <= word.probability <= 1.0
    # A multilingual model detected a language, whatever its (untrained) guess.
    assert summary.language_detected is True
    assert isinstance(summary.language, str) and 0.0 <= summary.language_probability <= 1.0
    assert summary.text and summary.model == SpeechTranscription.weights[0].source


def test_jfk_speech_span(tiny_whisper, media):
    video = run_video(media / "faster-whisper" / "jfk.flac", "speech_transcription", tiny_whisper)
    result = video.analyzers["speech_transcription"]
    assert_inside_the_speech(result, 11.0)
    # Truth: speech from under 1 s to between 10 and 11 s. The VAD (Silero inside faster-whisper)
    # decides what Whisper hears; an untrained model cannot move these bounds.
    assert result.summary.vad_start_s < 1.0
    assert 10.0 <= result.summary.vad_end_s <= 11.0
    assert result.summary.vad_stretches >= 2  # JFK's phrasing pauses
    assert result.summary.vad_speech_s < 11.0
    # The document read back is typed again, and says the same.
    again = VideoResult.model_validate_json(video.to_json()).analyzers["speech_transcription"]
    assert isinstance(again.summary, SpeechTranscriptionSummary) and again.summary == result.summary
    assert all(isinstance(s.data, SpeechTranscriptionSegment) for s in again.segments)
    assert again.segments == result.segments


@pytest.mark.parametrize("damage", ["clipped", "noisy"])
def test_damaged_speech(tiny_whisper, jfk_samples, tmp_path, damage):
    """Driven 18 dB into clipping, or under white noise 10 dB below the speech: the same bounds."""
    path = write_damaged_speech(jfk_samples, damage, tmp_path / f"{damage}.wav")
    result = analyse(path, "speech_transcription", tiny_whisper)
    assert_inside_the_speech(result, 11.0)
    assert result.summary.vad_start_s < 1.0 and 10.0 <= result.summary.vad_end_s <= 11.0


@pytest.mark.parametrize("seconds", [5.0, 0.005])
def test_silence_has_no_speech(tiny_whisper, tmp_path, seconds):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(int(seconds * 16_000), np.float32), 16_000, subtype="FLOAT")
    result = analyse(path, "speech_transcription", tiny_whisper)
    assert result.status == Status.ok, result.error
    assert result.segments == []
    summary = result.summary
    assert (summary.word_count, summary.text, summary.vad_stretches) == (0, "", 0)
    # No speech heard: no language, rather than the model's guess on an empty window.
    assert (summary.language, summary.language_probability, summary.language_detected) == (None, None, False)
    assert summary.speech_start_s is None and summary.vad_start_s is None


def test_two_voices_at_once(tiny_whisper, media):
    """stereo_diarization.wav: one speaker per channel, each channel transcribed on its own (what
    the words are is tests/test_speech_tiny_en.py's concern, on a real model)."""
    result = analyse(media / "faster-whisper" / "stereo_diarization.wav", "speech_transcription", tiny_whisper)
    assert_inside_the_speech(result, 5.0)
    assert result.summary.channels == "separate"
    assert result.summary.channel_swing_db >= SWING_DB and abs(result.summary.channel_correlation) < 0.1
    assert result.summary.vad_start_s < 0.5 and result.summary.vad_end_s > 4.5  # speech throughout


def test_missing_weights_are_skipped_with_the_path(tmp_path, media):
    result = analyse(media / "faster-whisper" / "jfk.flac", "speech_transcription", Settings(models_dir=tmp_path))
    assert result.status == Status.skipped
    assert str(tmp_path / MODEL_NAME) in result.reason and "reelscope models download" in result.reason


@pytest.mark.parametrize("missing", ["tokenizer.json", "preprocessor_config.json"])
def test_model_without_a_file_it_needs_fails_in_one_line(models_dir, tmp_path, media, missing):
    """faster-whisper would fetch a missing tokenizer.json from the hub, and read large-v3 with 80
    mel bins instead of 128 without preprocessor_config.json: the folder is wrong, not absent."""
    partial = tmp_path / MODEL_NAME
    shutil.copytree(models_dir / MODEL_NAME, partial, ignore=shutil.ignore_patterns(missing))
    result = analyse(media / "faster-whisper" / "jfk.flac", "speech_transcription", Settings(models_dir=tmp_path))
    assert result.status == Status.failed
    assert f"{partial}: has no {missing}" in result.error and "\n" not in result.error


def test_video_without_audio_is_skipped(tiny_whisper, tmp_path):
    path = write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None))
    result = analyse(path, "speech_transcription", tiny_whisper)
    assert (result.status, result.reason) == (Status.skipped, "no audio stream")


# ---- finalize, on a transcript built here (it needs no model) ----

INFO = VideoInfo(path="talk.wav", duration_s=30.0, size_bytes=1, container="wav", has_video=False, has_audio=True)


def window(words: list[tuple[str, float, float]], no_speech_prob: float = 0.01, avg_logprob: float = -0.3) -> dict:
    return {
        "text": "".join(w for w, *_ in words).strip(),
        "start": words[0][1] if words else 20.0,
        "end": words[-1][2] if words else 22.0,
        "avg_logprob": avg_logprob,
        "no_speech_prob": no_speech_prob,
        "words": [(w, a, b, 0.5) for w, a, b in words],
    }


def test_windows_are_cut_into_sentences_and_clipped():
    first = window(
        [(" Ask", 1.0, 1.4), (" not.", 1.4, 2.0), (" What", 2.2, 2.6), (" you", 2.6, 3.0),
         (" can", 4.5, 5.0), (" do?", 5.0, 5.5), (" Now", 5.6, 6.0), (" late", 6.0, 12.5)]
    )  # fmt: skip
    silent = window([(" Thanks", 13.0, 14.0)], no_speech_prob=0.9, avg_logprob=-1.5)  # Whisper's silence rule
    untimed = {**window([]), "text": "Thank you."}  # no word times: one segment, the window's times
    heard = Transcript(
        duration_s=30.0, stretches=[(0.8, 7.0), (19.5, 22.5)], language="en", language_probability=0.9,
        segments=[first, silent, untimed],
    )  # fmt: skip
    findings = SpeechTranscription().finalize(Partials(audio=heard), Context(INFO, {}))
    found = [(s.start_s, s.end_s, s.data.text, len(s.data.words)) for s in findings.segments]
    # Cut after "not." and "do?", and at the 1.5 s pause before "can".
    assert found == [
        (1.0, 2.0, "Ask not.", 2),
        (2.2, 3.0, "What you", 2),
        (4.5, 5.5, "can do?", 2),
        (5.6, 12.5, "Now late", 2),
        (20.0, 22.0, "Thank you.", 0),
    ]
    summary = findings.summary
    assert summary.dropped_silent_segments == 1
    assert summary.word_count == 8 and summary.text == "Ask not. What you can do? Now late Thank you."
    assert (summary.vad_start_s, summary.vad_end_s, summary.vad_speech_s) == (0.8, 22.5, 9.2)
    assert findings.segments[0].confidence == 0.5
    assert findings.segments[-1].confidence == pytest.approx(np.exp(-0.3), abs=1e-4)
    assert (summary.channels, summary.speakers) == ("mono", None)
    assert {s.data.speaker for s in findings.segments} == {None}


def test_two_channels_sentences_interleave_in_time():
    """Separate channels: each window keeps its speaker, the sentences of both come out in time
    order, and the summary names the channels that spoke."""
    left = {**window([(" Ask", 1.0, 1.4), (" not.", 1.4, 2.0), (" What", 6.0, 6.5)]), "speaker": "left"}
    right = {**window([(" Yes.", 3.0, 3.5)]), "speaker": "right"}
    heard = Transcript(
        duration_s=10.0, stretches=[(0.5, 7.0)], language="en", language_probability=None,
        segments=[left, right], channels="separate", channel_swing_db=30.0, channel_correlation=0.01,
    )  # fmt: skip
    findings = SpeechTranscription().finalize(Partials(audio=heard), Context(INFO, {}))
    found = [(s.start_s, s.data.text, s.data.speaker) for s in findings.segments]
    assert found == [(1.0, "Ask not.", "left"), (3.0, "Yes.", "right"), (6.0, "What", "left")]
    assert findings.summary.speakers == ["left", "right"] and findings.summary.channel_swing_db == 30.0


def test_times_outside_the_speech_are_clipped():
    stray = window([(" one", 0.2, 0.5), (" two", 0.5, 9.9)])  # before the first stretch, past the last
    heard = Transcript(
        duration_s=10.0, stretches=[(0.6, 8.0)], language="en", language_probability=None, segments=[stray]
    )
    findings = SpeechTranscription().finalize(Partials(audio=heard), Context(INFO, {}))
    [segment] = findings.segments
    assert (segment.start_s, segment.end_s) == (0.6, 8.0)
    assert [(w.start_s, w.end_s) for w in segment.data.words] == [(0.6, 0.6), (0.6, 8.0)]
    assert findings.summary.language_detected is False  # an English-only model's "en" is not a detection


# ---- long recordings, and the speech analyzers together ----


def test_ten_minute_monologue(tiny_whisper, jfk_samples, tmp_path):
    """JFK's line 55 times over: 10 minutes of speech with pauses, batched through the tiny model."""
    path = tmp_path / "monologue.wav"
    soundfile.write(path, np.tile(jfk_samples, 55)[: 600 * 16_000], 16_000, subtype="FLOAT")
    started = time.perf_counter()
    result = analyse(path, "speech_transcription", tiny_whisper)
    elapsed = time.perf_counter() - started
    assert_inside_the_speech(result, 600.0)
    assert result.summary.vad_stretches >= 54  # at least one in each whole line
    assert result.summary.vad_end_s > 590.0
    print(f"10 minutes of audio: {elapsed:.1f} s")


def test_speech_analyzers_together(tiny_whisper, media):
    """speech_flow and speech_rate read the transcript when speech_transcription runs beside them."""
    path = media / "faster-whisper" / "jfk.flac"
    plan = Plan.build(["speech_rate", "speech_flow", "speech_transcription"], settings=tiny_whisper)
    [result] = run_local([VideoRequest("jfk", str(path))], plan)
    assert result.status == Status.ok, result.error
    transcript, flow, rate = (result.analyzers[n] for n in ("speech_transcription", "speech_flow", "speech_rate"))
    assert transcript.status == flow.status == rate.status == Status.ok
    assert rate.summary.method == "transcript"
    assert rate.summary.word_count == transcript.summary.word_count  # the tiny model's words hold letters
    assert flow.summary.fillers_from == "transcript" and isinstance(flow.summary.filler_count, int)


# ---- what the settings choose ----


def test_the_settings_choose_the_model_and_its_gpu_memory():
    """The GPU memory reserved is the chosen model's (faster-whisper's measured 6,090 MB for the
    large ones at batch 8, fp16; estimates for the smaller); any other hub id gets large-v3's."""
    def chosen(model: str) -> tuple[str, float, str]:
        settings = Settings(speech_transcription={"model": model})
        [weights] = SpeechTranscription.weights_for(settings)
        return weights.source, SpeechTranscription.resources_for(settings).gpu_memory_gb, configured_model(settings).weights.name

    assert chosen("large-v3") == ("Systran/faster-whisper-large-v3", 6.5, "faster-whisper-large-v3")
    assert chosen("large-v3-turbo")[1] == chosen("distil-large-v3")[1] == 4.0
    assert chosen("tiny.en") == ("Systran/faster-whisper-tiny.en", 1.0, "faster-whisper-tiny.en")
    assert chosen("someone/faster-whisper-small") == ("someone/faster-whisper-small", 6.5, "faster-whisper-small")
    assert SpeechTranscription.resources_for(Settings()).gpu_memory_gb == 6.5  # the default, large-v3


def test_the_named_models_are_the_ones_the_runtime_knows():
    assert SpeechTranscriptionSettings.NAMED_MODELS == tuple(MODELS)


@pytest.mark.parametrize("model", ["large-v4", "tiny", "a/b/c", "/tiny.en"])
def test_an_unknown_model_is_refused_in_one_line(model):
    with pytest.raises(SettingsError) as refused:
        Settings.load(speech_transcription={"model": model})
    message = str(refused.value)
    assert "\n" not in message and "speech_transcription.model" in message and repr(model) in message
    assert "large-v3, large-v3-turbo, distil-large-v3, tiny.en" in message
