"""speech_emotion and audio_environment on tiny, randomly initialised models generated here
(a wav2vec 2.0 and an Audio Spectrogram Transformer of a few thousand parameters, with their
feature extractors built in code), loaded through the analyzers' own setup from a temporary
models directory through their runtime (actors/audio_classifiers.py). Random weights give
random labels: these tests check the windows, times, batching, silence handling and the
aggregation arithmetic (exactly, on constructed scores), never which emotion or sound is named;
and what the settings decide (windows, batch, GPU memory)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import spans
from model_factory import AUDIOSET_LABELS, EMOTION_LABELS, write_audio_models

from actors.audio_classifiers import AudioClassifierRuntime, WindowScores, window_bounds
from pipeline.analyzer import AudioTrack, Context, Partials, Skip
from pipeline.analyzers.audio_models import (
    CLASSES,
    AudioEnvironment,
    AudioEnvironmentSegment,
    AudioEnvironmentSummary,
    SpeechEmotion,
    SpeechEmotionSegment,
    SpeechEmotionSummary,
    WindowedAudioClassifier,
    broad_class,
    class_scores,
)
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Segment, Status, VideoInfo, VideoResult
from pipeline.settings import Settings, SettingsError

RATE = 16_000
EMOTIONS = ("neutral", "happy", "angry", "sad")
SER_BATCH = 4  # small, so a few seconds of audio take several forward passes
AST_BATCH = 8
DEFAULTS = Settings()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    with pytest.warns(UserWarning, match="mel filter"):  # AST's own 128 bins over a 512-point FFT
        write_audio_models(folder)
    return folder


@pytest.fixture(scope="module")
def settings(models_dir) -> Settings:
    """The tiny models, with small batches."""
    return Settings(
        models_dir=models_dir, speech_emotion={"max_batch": SER_BATCH}, audio_environment={"max_batch": AST_BATCH}
    )


def run_document(path: Path, names: list[str], settings: Settings) -> VideoResult:
    [result] = run_local([VideoRequest(path.stem, str(path))], Plan.build(names, settings=settings))
    assert result.status == Status.ok, result.error
    return result


def run(path: Path, names: list[str], settings: Settings) -> dict[str, AnalyzerResult]:
    return run_document(path, names, settings).analyzers


def loaded(cls: type[WindowedAudioClassifier], settings: Settings) -> tuple[AudioClassifierRuntime, WindowedAudioClassifier]:
    """The analyzer, and the family runtime with its model loaded, as a worker holds them."""
    analyzer = cls(settings)
    runtime = AudioClassifierRuntime(settings)
    runtime.load(analyzer)
    return runtime, analyzer


def write_wav(path: Path, samples: np.ndarray) -> Path:
    soundfile.write(path, samples.astype(np.float32), RATE, subtype="FLOAT")
    return path


def expected_windows(duration_s: float, window_s: float, hop_s: float) -> int:
    return len(window_bounds(round(duration_s * RATE), round(window_s * RATE), round(hop_s * RATE)))


def assert_emotions_well_formed(result: AnalyzerResult) -> None:
    assert result.status == Status.ok, result.error
    for segment in result.segments:
        scores = segment.data.scores
        assert tuple(scores) == EMOTIONS
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert segment.confidence == scores[segment.label] == max(scores.values())  # (rounded: ties happen)
        assert segment.end_s > segment.start_s
    summary = result.summary
    if result.segments:
        assert sum(summary.emotion_shares.values()) == pytest.approx(1.0, abs=1e-3)
        assert sum(summary.mean_scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert summary.dominant_emotion == max(summary.emotion_shares, key=summary.emotion_shares.get)
    classified = summary.window_count - summary.silent_window_count
    assert summary.forward_passes == math.ceil(classified / SER_BATCH)  # one window length: full batches


def assert_environment_well_formed(result: AnalyzerResult, duration_s: float) -> None:
    """Segments tile the track, each the class that scores highest in it, neighbours differ."""
    assert result.status == Status.ok, result.error
    segments = result.segments
    assert segments[0].start_s == 0.0 and segments[-1].end_s == pytest.approx(duration_s, abs=1e-3)
    for before, after in zip(segments, segments[1:]):
        assert before.end_s == after.start_s and before.label != after.label
    for segment in segments:
        assert tuple(segment.data.class_scores) == CLASSES
        scores = segment.data.class_scores
        assert segment.confidence == scores[segment.label] == max(scores.values())
        assert all(label in AUDIOSET_LABELS and 0.0 < p < 1.0 for label, p in segment.data.top_labels)
    assert sum(result.summary.class_shares.values()) == pytest.approx(1.0, abs=1e-3)
    count = expected_windows(duration_s, DEFAULTS.audio_environment.window_s, DEFAULTS.audio_environment.hop_s)
    assert result.summary.window_count == count


# Pure logic, exact.


def test_windows_cover_the_track_with_one_length():
    window, hop = 3 * RATE, RATE * 3 // 2
    assert window_bounds(11 * RATE, window, hop) == [
        (a, a + window) for a in (0, 24_000, 48_000, 72_000, 96_000, 120_000, 8 * RATE)  # last one ends at 11 s
    ]
    assert window_bounds(2 * RATE, window, hop) == [(0, 2 * RATE)]  # shorter than a window: all of it
    assert window_bounds(6 * RATE, window, hop) == [(0, window), (hop, hop + window), (2 * hop, 6 * RATE)]
    assert window_bounds(0, window, hop) == []


def test_audioset_labels_fold_into_broad_classes():
    expected = {
        "Speech": "speech",
        "Female speech, woman speaking": "speech",
        "Speech synthesizer": "speech",
        "Hubbub, speech noise, speech babble": "crowd",
        "Applause": "crowd",
        "Music": "music",
        "Hi-hat": "music",
        "Wind instrument, woodwind instrument": "music",
        "Scary music": "music",  # "car" only as a whole word
        "Bird vocalization, bird call, bird song": "animal",
        "Fire engine, fire truck (siren)": "vehicle",
        "Traffic noise, roadway noise": "vehicle",
        "Rain on surface": "nature",
        "Wind noise (microphone)": "nature",
        "Silence": "silence",
        "Laughter": "other",
        "Inside, small room": "other",
        "Water tap, faucet": "other",
    }
    assert {label: broad_class(label) for label in expected} == expected


def test_class_scores_take_each_class_best_label_and_silence_is_certain():
    labels = ["Speech", "Male speech, man speaking", "Music", "Tick"]
    scores = np.array([[0.2, 0.7, 0.1, 0.3], [0.0, 0.0, 0.0, 0.0]], np.float32)
    result = class_scores(scores, labels, np.array([False, True]))
    expected = np.zeros((2, len(CLASSES)))
    expected[0, CLASSES.index("speech")] = 0.7
    expected[0, CLASSES.index("music")] = 0.1
    expected[0, CLASSES.index("other")] = 0.3
    expected[1, CLASSES.index("silence")] = 1.0
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def constructed(spans_s, scores, silent, labels, window_s, hop_s, duration_s) -> WindowScores:
    return WindowScores(
        duration_s=duration_s,
        start_s=0.0,
        window_s=window_s,
        hop_s=hop_s,
        labels=list(labels),
        spans=np.array(spans_s, np.float64),
        silent=np.array(silent, bool),
        scores=np.array(scores, np.float32),
        forward_passes=1,
        infer_s=0.1,
    )


def context(results: dict[str, AnalyzerResult] | None = None) -> Context:
    info = VideoInfo(path="x.wav", duration_s=6.0, size_bytes=1, container="wav", has_video=False, has_audio=True)
    return Context(video=info, results=results or {})


# Three windows of 3 s every 1.5 s over 6 s; the last is silent.
EMOTION_WINDOWS = constructed(
    [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0)],
    [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.6, 0.2], [0, 0, 0, 0]],
    [False, False, True],
    EMOTION_LABELS,
    3.0,
    1.5,
    6.0,
)


def test_emotion_per_speech_segment_is_the_overlap_weighted_mean():
    speech = AnalyzerResult(
        status=Status.ok,
        segments=[
            Segment(start_s=0.5, end_s=2.0, label="speech"),  # window 0: 1.5 s, window 1: 0.5 s
            Segment(start_s=2.0, end_s=2.5, label="pause"),
            Segment(start_s=5.0, end_s=5.8, label="speech"),  # only the silent window: no emotion
        ],
    )
    findings = SpeechEmotion().finalize(Partials(audio=EMOTION_WINDOWS), context({"speech_flow": speech}))
    [segment] = findings.segments
    expected = (1.5 * np.array([0.7, 0.1, 0.1, 0.1]) + 0.5 * np.array([0.1, 0.1, 0.6, 0.2])) / 2.0
    assert (segment.start_s, segment.end_s, segment.label) == (0.5, 2.0, "neutral")
    assert list(segment.data.scores.values()) == pytest.approx(expected.tolist(), abs=1e-4)
    assert segment.confidence == pytest.approx(expected[0], abs=1e-4)
    summary = findings.summary
    assert summary.segments_from == "speech_flow"
    assert summary.unclassified_speech_segments == 1
    assert summary.dominant_emotion == "neutral"
    assert summary.emotion_shares == {"neutral": 1.0, "happy": 0.0, "angry": 0.0, "sad": 0.0}
    assert (summary.window_count, summary.silent_window_count) == (3, 1)


def test_emotion_without_speech_flow_merges_cells_of_one_top_emotion():
    findings = SpeechEmotion().finalize(Partials(audio=EMOTION_WINDOWS), context())
    # Cells of 1.5 s: [0, 1.5) only window 0; [1.5, 3) windows 0 and 1 equally; [3, 4.5) window 1
    # (window 2 is silent); [4.5, 6) only the silent window: no segment.
    first = np.array([0.7, 0.1, 0.1, 0.1])
    second = (first + np.array([0.1, 0.1, 0.6, 0.2])) / 2  # neutral 0.4 > angry 0.35
    third = np.array([0.1, 0.1, 0.6, 0.2])
    assert [(s.start_s, s.end_s, s.label) for s in findings.segments] == [(0.0, 3.0, "neutral"), (3.0, 4.5, "angry")]
    for segment, expected in zip(findings.segments, [(first + second) / 2, third]):
        assert list(segment.data.scores.values()) == pytest.approx(expected.tolist(), abs=1e-4)
    summary = findings.summary
    assert summary.segments_from == "windows"
    assert summary.classified_seconds == 4.5
    assert summary.emotion_shares == {"neutral": 0.6667, "happy": 0.0, "angry": 0.3333, "sad": 0.0}
    expected_mean = (3.0 * (first + second) / 2 + 1.5 * third) / 4.5
    assert list(summary.mean_scores.values()) == pytest.approx(expected_mean.tolist(), abs=1e-4)


def test_environment_runs_of_one_broad_class_with_shares():
    labels = ["Speech", "Music", "Rain"]
    # 3 s windows every 1 s over 5 s: music, music, speech; the middle window is the silent one.
    heard = constructed(
        [(0.0, 3.0), (1.0, 4.0), (2.0, 5.0)],
        [[0.1, 0.9, 0.2], [0, 0, 0], [0.8, 0.3, 0.1]],
        [False, True, False],
        labels,
        3.0,
        1.0,
        5.0,
    )
    findings = AudioEnvironment().finalize(Partials(audio=heard), context())
    # Cell [0,1): window 0 -> music 0.9. [1,2): windows 0 and 1 -> music 0.45, silence 0.5:
    # silence. [2,3): all three -> silence 1/3, music 0.4, speech 0.3: music. [3,4): windows 1,2
    # -> silence 0.5, speech 0.4: silence. [4,5): window 2 -> speech 0.8.
    assert [(s.start_s, s.end_s, s.label) for s in findings.segments] == [
        (0.0, 1.0, "music"),
        (1.0, 2.0, "silence"),
        (2.0, 3.0, "music"),
        (3.0, 4.0, "silence"),
        (4.0, 5.0, "speech"),
    ]
    middle = findings.segments[2]
    assert middle.data.class_scores["music"] == pytest.approx((0.9 + 0.3) / 3, abs=1e-4)
    assert middle.data.class_scores["speech"] == pytest.approx(0.9 / 3, abs=1e-4)
    assert middle.data.class_scores["nature"] == pytest.approx(0.3 / 3, abs=1e-4)
    assert middle.data.top_labels == [("Music", 0.4), ("Speech", 0.3), ("Rain", 0.1)]
    assert findings.segments[1].data.top_labels == [("Music", 0.45), ("Rain", 0.1), ("Speech", 0.05)]
    summary = findings.summary
    assert summary.class_shares["music"] == 0.4 and summary.class_shares["silence"] == 0.4
    assert summary.class_shares["speech"] == 0.2 and sum(summary.class_shares.values()) == 1.0
    assert summary.dominant_class == "silence"  # a tie goes to the first in CLASSES
    # Means over the five 1 s cells.
    assert summary.top_labels == [("Music", 0.44), ("Speech", 0.33), ("Rain", 0.11)]


# The real pipeline, tiny models.


def test_conversation_gets_one_emotion_per_speech_segment(settings, media):
    """pyannote's sample: no speech before 6.69 s, so no emotion before it; audio_environment
    in the same run tiles the 30 s."""
    path = media / "pyannote" / "sample.wav"
    results = run(path, ["speech_flow", "speech_emotion", "audio_environment"], settings)
    emotion = results["speech_emotion"]
    assert_emotions_well_formed(emotion)
    assert emotion.summary.segments_from == "speech_flow"
    speech = spans(results["speech_flow"].segments, "speech")
    assert speech and [(s.start_s, s.end_s) for s in emotion.segments] == speech  # all voiced: all classified
    assert min(s.start_s for s in emotion.segments) >= 6.6  # speech_flow's bound on this file
    windows = expected_windows(30.0, DEFAULTS.speech_emotion.window_s, DEFAULTS.speech_emotion.hop_s)
    assert emotion.summary.window_count == windows
    assert_environment_well_formed(results["audio_environment"], 30.0)


def test_speech_alone_is_scored_on_the_window_grid(settings, media):
    video = run_document(media / "faster-whisper" / "jfk.flac", ["speech_emotion", "audio_environment"], settings)
    results = video.analyzers
    emotion = results["speech_emotion"]
    assert_emotions_well_formed(emotion)
    assert emotion.summary.segments_from == "windows"
    assert emotion.summary.window_count == 7  # starts 0, 1.5 ... 7.5 and 8 (ends at 11 s)
    assert emotion.summary.forward_passes == 2
    grid = [1.5 * k for k in range(8)] + [11.0]  # runs of whole 1.5 s cells, the last one cut at the end
    for segment in emotion.segments:
        assert segment.start_s in grid and segment.end_s in grid
    for before, after in zip(emotion.segments, emotion.segments[1:]):
        assert before.end_s == after.start_s and before.label != after.label  # nothing silent in this speech
    assert_environment_well_formed(results["audio_environment"], 11.0)
    # The document read back is typed again, and says the same.
    again = VideoResult.model_validate_json(video.to_json()).analyzers
    for name, summary_type, data_type in (
        ("speech_emotion", SpeechEmotionSummary, SpeechEmotionSegment),
        ("audio_environment", AudioEnvironmentSummary, AudioEnvironmentSegment),
    ):
        assert isinstance(again[name].summary, summary_type) and again[name].summary == results[name].summary
        assert all(isinstance(s.data, data_type) for s in again[name].segments)
        assert again[name].segments == results[name].segments


def test_silent_stretch_is_silence_and_gets_no_emotion(settings, tmp_path):
    """A 220 Hz tone with digital silence from 2 to 8 s."""
    t = np.arange(10 * RATE) / RATE
    samples = 0.3 * np.sin(2 * np.pi * 220 * t)
    samples[2 * RATE : 8 * RATE] = 0.0
    results = run(write_wav(tmp_path / "gap.wav", samples), ["speech_emotion", "audio_environment"], settings)
    emotion = results["speech_emotion"]
    assert_emotions_well_formed(emotion)
    assert emotion.summary.silent_window_count == 2  # [3, 6) and [4.5, 7.5)
    assert not any(s.start_s < 6.0 and s.end_s > 4.5 for s in emotion.segments)  # the cell only they cover
    environment = results["audio_environment"]
    assert_environment_well_formed(environment, 10.0)
    silence = spans(environment.segments, "silence")
    assert any(a <= 3.0 and b >= 7.0 for a, b in silence), silence  # cells with most windows silent


def test_digital_silence_classifies_nothing(settings, tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(5 * RATE))
    results = run(path, ["speech_emotion", "audio_environment"], settings)
    emotion = results["speech_emotion"]
    assert emotion.status == Status.ok and emotion.segments == []
    assert emotion.summary.dominant_emotion is None and emotion.summary.forward_passes == 0
    environment = results["audio_environment"]
    assert [(s.start_s, s.end_s, s.label) for s in environment.segments] == [(0.0, 5.0, "silence")]
    assert environment.summary.class_shares["silence"] == 1.0 and environment.summary.forward_passes == 0
    assert environment.summary.top_labels == []


def test_too_short_audio_is_skipped(settings):
    runtime, analyzer = loaded(SpeechEmotion, settings)
    blip = AudioTrack(np.ones(RATE // 20, np.float32), RATE, 0.0, 0.0, 1.0)
    predicted = runtime.predict(blip, frozenset({analyzer.name}))
    with pytest.raises(Skip, match="too short"):
        analyzer.process_audio(blip, predicted)


def test_video_without_audio_is_skipped(settings, tmp_path):
    path = Path(write_clip(str(tmp_path / "mute.mp4"), ClipSpec(shots=(Shot(1.0),), width=64, height=64, audio=None)))
    results = run(path, ["speech_emotion", "audio_environment"], settings)
    for name in ("speech_emotion", "audio_environment"):
        assert results[name].status == Status.skipped and results[name].reason == "no audio stream"


def test_missing_weights_are_skipped_with_their_path(tmp_path):
    empty = tmp_path / "no-models"
    path = write_wav(tmp_path / "tone.wav", 0.1 * np.ones(RATE))
    results = run(path, ["speech_emotion", "audio_environment"], Settings(models_dir=empty))
    for cls in (SpeechEmotion, AudioEnvironment):
        result = results[cls.name]
        assert result.status == Status.skipped
        assert str(empty / cls.weights[0].name) in result.reason and cls.weights[0].source in result.reason


def test_both_share_one_audio_classifier_pool():
    from actors import AudioClassifierActor, actor_class

    [stage] = Plan.build(["speech_emotion", "audio_environment"]).stages
    assert stage == (SpeechEmotion, AudioEnvironment) and actor_class(stage) is AudioClassifierActor


def test_window_settings_change_the_grid(models_dir, tmp_path):
    settings = Settings(models_dir=models_dir, audio_environment={"window_s": 4, "hop_s": 2})
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(9 * RATE) / RATE)
    results = run(write_wav(tmp_path / "tone.wav", tone), ["speech_emotion", "audio_environment"], settings)
    environment = results["audio_environment"]
    assert (environment.summary.window_s, environment.summary.hop_s) == (4.0, 2.0)
    assert environment.summary.window_count == 4  # starts 0, 2, 4 and 5
    assert all(s.start_s % 2.0 == 0.0 for s in environment.segments)  # runs of 2 s cells
    assert environment.segments[-1].end_s == 9.0
    emotion = results["speech_emotion"]  # its own settings: the defaults
    assert (emotion.status, emotion.summary.window_s, emotion.summary.hop_s) == (Status.ok, 3.0, 1.5)


@pytest.mark.parametrize("name", ["speech_emotion", "audio_environment"])
def test_a_hop_longer_than_the_window_is_refused_at_start(tmp_path, name):
    """Audio between windows would go unheard: refused before any video, in one line naming the setting."""
    with pytest.raises(SettingsError) as refused:
        Settings.load(models_dir=tmp_path, **{name: {"hop_s": 4}})  # longer than the 3 s window
    message = str(refused.value)
    assert "\n" not in message and f"setting {name}.hop_s" in message and f"REELSCOPE_{name.upper()}__HOP_S" in message
    assert "hop_s (4) must not exceed window_s (3)" in message


def test_a_window_set_alone_keeps_each_analyzer_its_own_hop():
    settings = Settings.load(speech_emotion={"window_s": 5}, audio_environment={"window_s": 5})
    assert (settings.speech_emotion.hop_s, settings.audio_environment.hop_s) == (1.5, 1.0)


def test_gpu_memory_follows_the_batch():
    """0.6 and 1.0 GB at the default 16 windows per pass; each window more holds its activations."""
    def gpu(cls, batch: int | None = None) -> float:
        settings = Settings(**({cls.name: {"max_batch": batch}} if batch else {}))
        return cls.resources_for(settings).gpu_memory_gb

    assert (gpu(SpeechEmotion), gpu(AudioEnvironment)) == (0.6, 1.0)
    assert (gpu(SpeechEmotion, 32), gpu(AudioEnvironment, 32)) == (0.76, 1.32)
    assert (gpu(SpeechEmotion, 1), gpu(AudioEnvironment, 1)) == (0.45, 0.7)
    assert gpu(SpeechEmotion, 512) < gpu(AudioEnvironment, 512) < 12.0  # within a GPU at the largest batch


# What the models read and return, on constructed logits.


def test_emotion_logits_are_a_softmax_read_by_config_labels(settings):
    """Logits in the order of the snapshot's id2label (neu, hap, ang, sad): a softmax (they sum
    to 1), and the top one named through EMOTION_NAMES."""
    import torch

    runtime, analyzer = loaded(SpeechEmotion, settings)
    assert runtime.loaded["speech_emotion"].labels == list(EMOTION_LABELS)
    logits = torch.tensor([[0.0, 1.0, 3.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    scores = runtime.postprocess("speech_emotion", logits)
    np.testing.assert_allclose(scores, torch.softmax(logits, -1).numpy(), atol=1e-6)
    heard = constructed([(0.0, 3.0), (3.0, 6.0)], scores, [False, False], EMOTION_LABELS, 3.0, 3.0, 6.0)
    findings = analyzer.finalize(Partials(audio=heard), context())
    assert [s.label for s in findings.segments] == ["angry", "neutral"]
    [used] = runtime.models_used["speech_emotion"]
    assert (used.id, used.backend, used.device, used.dtype) == (
        "superb/wav2vec2-base-superb-er", "transformers", "cpu", "float32"
    )


def test_audioset_logits_are_independent_sigmoids(settings):
    """Two labels at logit 3: both 0.95 (a softmax would split them), folded into their classes."""
    import torch

    runtime, _ = loaded(AudioEnvironment, settings)
    logits = torch.full((1, len(AUDIOSET_LABELS)), -6.0)
    logits[0, [AUDIOSET_LABELS.index("Speech"), AUDIOSET_LABELS.index("Music")]] = 3.0
    scores = runtime.postprocess("audio_environment", logits)
    assert scores[0, AUDIOSET_LABELS.index("Speech")] == pytest.approx(1 / (1 + math.exp(-3)), abs=1e-6)
    assert scores[0, AUDIOSET_LABELS.index("Music")] == pytest.approx(1 / (1 + math.exp(-3)), abs=1e-6)
    classes = class_scores(scores, runtime.loaded["audio_environment"].labels, np.array([False]))
    assert classes[0, CLASSES.index("speech")] == classes[0, CLASSES.index("music")] == pytest.approx(0.9526, abs=1e-4)


def test_features_are_the_extractors_normalised_16khz_inputs(settings):
    """wav2vec 2.0 reads each clip at zero mean and unit variance; AST a 1024-frame log-mel whose
    frames past a 3 s clip hold the padding, normalised by AudioSet's mean and std (-4.2677393,
    4.5689974, as the checkpoint's preprocessor_config.json). Both at 16 kHz."""
    t = np.arange(3 * RATE) / RATE
    clip = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1).astype(np.float32)
    runtime = AudioClassifierRuntime(settings)
    for cls in (SpeechEmotion, AudioEnvironment):
        runtime.load(cls(settings))
        assert runtime.loaded[cls.name].extractor.sampling_rate == RATE
    values = runtime.preprocess("speech_emotion", [clip])["input_values"].numpy()
    assert values.shape == (1, len(clip))
    assert values.mean() == pytest.approx(0.0, abs=1e-4) and values.std() == pytest.approx(1.0, abs=1e-3)
    features = runtime.preprocess("audio_environment", [clip])["input_values"].numpy()
    frames = (len(clip) - 400) // 160 + 1  # 25 ms windows every 10 ms
    assert features.shape == (1, 1024, 128)
    np.testing.assert_allclose(features[0, frames:], 4.2677393 / (2 * 4.5689974), atol=1e-5)
    assert not np.allclose(features[0, :frames], 4.2677393 / (2 * 4.5689974), atol=1e-2)


def test_audio_of_another_rate_is_refused(settings):
    runtime, analyzer = loaded(AudioEnvironment, settings)
    with pytest.raises(ValueError, match="expects 16000 Hz audio, got 44100 Hz"):
        runtime.predict(AudioTrack(np.ones(44_100, np.float32), 44_100, 0.0, 0.0, 1.0), frozenset({analyzer.name}))


def test_a_snapshot_without_its_feature_extractor_fails_in_one_line(models_dir, tmp_path):
    from pipeline.models import WeightsError

    source = models_dir / SpeechEmotion.weights[0].name
    folder = tmp_path / source.name
    folder.mkdir()
    for file in source.iterdir():
        if file.name != "preprocessor_config.json":
            (folder / file.name).symlink_to(file)
    with pytest.raises(WeightsError, match=f"^weights superb/wav2vec2-base-superb-er at {folder}: has no preprocessor_config.json; "):
        loaded(SpeechEmotion, Settings(models_dir=tmp_path))


def test_concurrent_tracks_share_forward_passes_and_get_what_they_would_alone(settings):
    """Behind Serve, several requests' tracks reach the runtime at once (predict_many): their
    windows fill the passes together (SER_BATCH windows each), and every track's windows, scores
    and silence are those it gets alone; a track too short to classify is None in either case."""
    rng = np.random.default_rng(3)
    noise = lambda seconds: (0.2 * rng.standard_normal(round(seconds * RATE))).astype(np.float32)  # noqa: E731
    quiet = np.concatenate([noise(7.5), np.zeros(9 * RATE, np.float32)])  # windows over the silence are skipped
    # 3 s windows every 1.5 s: 5 sounding windows each, so alone each ends on a part-filled pass.
    tracks = [AudioTrack(t, RATE, start, 0.0, 1.0) for t, start in [(noise(8.5), 0.0), (quiet, 2.0), (noise(0.05), 0.0)]]
    runtime = AudioClassifierRuntime(settings)
    runtime.load(SpeechEmotion(settings))
    name = frozenset({"speech_emotion"})
    alone = [runtime.predict(track, name)["speech_emotion"] for track in tracks]
    together = [found["speech_emotion"] for found in runtime.predict_many(tracks, name)]
    assert alone[2] is None and together[2] is None
    for shared, single in zip(together[:2], alone[:2]):
        assert np.array_equal(shared.spans, single.spans) and np.array_equal(shared.silent, single.silent)
        np.testing.assert_allclose(shared.scores, single.scores, atol=1e-5)
    assert alone[1].silent.any() and not alone[1].silent.all()
    sounding = sum(int((~s.silent).sum()) for s in alone[:2])
    assert sum(s.forward_passes for s in alone[:2]) > math.ceil(sounding / SER_BATCH)  # each alone ends on a part batch
    # Shared: the passes are ceil(all sounding windows / SER_BATCH); a track counts the ones it was in.
    assert max(s.forward_passes for s in together[:2]) <= math.ceil(sounding / SER_BATCH) < sum(s.forward_passes for s in alone[:2])
