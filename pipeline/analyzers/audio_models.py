"""speech_emotion and audio_environment: two pretrained audio classifiers (Hugging Face
transformers, AutoFeatureExtractor + AutoModelForAudioClassification, run by actors/audio_classifiers.py)
over fixed windows of the decoded 16 kHz mono track.

How both work. The model pass only sees the audio, so it cannot know where speech is: it
cuts the whole track into windows of window_s every hop_s (the last window is moved back to
end with the track, so every sample is covered and all windows have one length; a track
shorter than a window is one window), skips windows whose RMS is below audio_analysis's
silence floor (SILENCE_DBFS, -60 dBFS: no model call, marked silent), and classifies the rest
in batches of at most max_batch windows of equal length per forward pass. The partial holds
every window's span and class probabilities (softmax for the single-label emotion model,
sigmoid for the multi-label AudioSet model). `finalize` never needs the model: it turns
windows into segments by time-overlap-weighted means of the window probabilities.

speech_emotion (superb/wav2vec2-base-superb-er: wav2vec 2.0 base fine-tuned on IEMOCAP, four
classes neutral / happy / angry / sad). Windows of 3 s every 1.5 s (IEMOCAP utterances
average about 4.5 s; 3 s is enough for the model and short enough to follow a speaker).
When speech_flow ran (`uses`), one segment per speech segment it found, scored by the
sounding windows overlapping it, weighted by the overlap; speech that only silent windows
cover gets no segment (counted in the summary). Without speech_flow, the track is cut into
hop_s cells, each scored the same way, and runs of cells with the same top emotion are merged:
then music and other non-speech sound get emotions too. Segments: label = top emotion,
confidence = its probability, data {scores: {emotion: probability}} (they sum to 1).
Summary: dominant_emotion (most seconds on top), emotion_shares (seconds on top / classified
seconds), mean_scores (duration-weighted mean probabilities), and the window bookkeeping.
What it can tell: the acted-speech emotion category the model finds most likely for a stretch
of voice. What it cannot: emotions outside its four classes, several speakers apart (windows
mix them), and anything reliable on non-English, sung or noisy speech; IEMOCAP models reach
about 63% accuracy on IEMOCAP itself, so treat labels as weak cues.

audio_environment (MIT/ast-finetuned-audioset-10-10-0.4593: Audio Spectrogram Transformer,
527 AudioSet labels). AST always reads a 10.24 s spectrogram (1024 frames; shorter input is
zero-padded, as in its training), so a window costs the same whatever its length. Windows of
3 s every 1 s: short videos change sound every few seconds, and 10 s windows would smear a
2 s jingle across 10 s; the price is one full AST forward per second of audio and less context
per window. Each window's probabilities are folded into broad classes by BROAD_CLASSES (a
label belongs to the first class one of whose keywords appears in it as whole words; labels
matching none are "other", which includes room acoustics such as "Inside, small room" and
noises); a class's window score is the highest probability among its labels, and a silent
window scores 1 for "silence" and 0 elsewhere. The track is cut into hop_s cells, each cell
averages the windows overlapping it (overlap-weighted), and runs of cells with the same top
class become segments: label = class, confidence = its score, data {class_scores, top_labels:
[[AudioSet label, mean probability], ...]}. Summary: class_shares (seconds / track seconds,
summing to 1), dominant_class, top_labels over the whole track. What it can tell: which kinds
of sound dominate each second or so (music vs speech vs crowd ...), and the AudioSet labels
behind that. What it cannot: sounds quieter than what dominates, exact onsets (windows of 3 s),
and anything the keyword map puts in the wrong broad class (it is approximate by design).

Settings (settings.speech_emotion / settings.audio_environment): window_s and hop_s (3.0 / 1.5
and 3.0 / 1.0 seconds: a longer hop for audio_environment, whose full AST forward takes seconds
per window on CPUs; the hop may not exceed the window) and max_batch (16 windows per forward
pass; the GPU memory declared grows with it). Random or untrained weights give well-formed
nonsense.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from actors.audio_classifiers import (
    AUDIO_ENVIRONMENT_WEIGHTS,
    MIN_AUDIO_S,
    SPEECH_EMOTION_WEIGHTS,
    WindowScores,
)
from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Resources, Skip
from pipeline.analyzers.shots import rounded
from pipeline.schema import Segment, SegmentData, Summary
from pipeline.settings import Settings

TOUCH_S = 1e-6  # spans closer than this are adjacent

# IEMOCAP's abbreviations, as SER checkpoints name their classes; other labels are kept as they are.
EMOTION_NAMES = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "excited",
    "ang": "angry",
    "sad": "sad",
    "fru": "frustrated",
    "fea": "fearful",
    "sur": "surprised",
    "dis": "disgusted",
}

# AudioSet labels -> broad classes: the first class with a keyword that occurs in the label as
# whole words (case and punctuation ignored: "Hi-hat" reads "hi hat"). The order settles the
# overlaps: "Hubbub, speech noise" is crowd, "Speech synthesizer" speech, "Bird song" animal,
# "Wind instrument" music, "Fire engine" vehicle. Everything else is "other": human sounds
# other than speech (laughter, crying, coughs), household and mechanical sounds, bells, alarms,
# room acoustics ("Inside, small room") and noise.
BROAD_CLASSES: dict[str, tuple[str, ...]] = {
    "silence": ("silence",),
    "crowd": ("crowd", "cheering", "applause", "clapping", "chatter", "hubbub", "children playing"),
    "speech": ("speech", "speaking", "conversation", "narration", "monologue", "babbling", "whispering",
               "shout", "children shouting", "yell", "bellow", "battle cry"),
    "animal": ("animal", "animals", "pets", "dog", "dogs", "bark", "yip", "howl", "bow wow", "growling",
               "cat", "cats", "purr", "meow", "hiss", "caterwaul", "livestock", "horse", "clip clop",
               "neigh", "cattle", "moo", "pig", "oink", "goat", "bleat", "sheep", "fowl", "chicken",
               "cluck", "crowing", "turkey", "gobble", "duck", "quack", "goose", "honk", "roar", "bird",
               "tweet", "squawk", "pigeon", "coo", "crow", "caw", "owl", "hoot", "canidae", "rodents", "mouse",
               "insect", "cricket", "mosquito", "fly", "buzz", "bee", "frog", "croak", "snake", "whale"),
    "music": ("music", "musical", "instrument", "singing", "song", "choir", "yodeling", "chant", "mantra",
              "rapping", "humming", "beatboxing", "a capella", "lullaby", "orchestra", "guitar", "strum",
              "banjo", "sitar", "mandolin", "zither", "ukulele", "piano", "organ", "synthesizer", "sampler",
              "harpsichord", "percussion", "drum", "rimshot", "timpani", "tabla", "cymbal", "hi hat",
              "wood block", "tambourine", "maraca", "gong", "tubular bells", "cowbell", "marimba",
              "glockenspiel", "vibraphone", "steelpan", "french horn", "trumpet", "trombone", "string section",
              "violin", "pizzicato", "cello",
              "double bass", "flute", "saxophone", "clarinet", "harp", "chime", "harmonica", "accordion",
              "bagpipes", "didgeridoo", "shofar", "theremin", "scratching", "rock", "heavy metal", "grunge",
              "rhythm and blues", "reggae", "country", "bluegrass", "funk", "jazz", "disco", "opera",
              "techno", "dubstep", "electronica", "flamenco", "blues", "ska", "afrobeat"),
    "vehicle": ("vehicle", "boat", "sailboat", "rowboat", "motorboat", "ship", "car", "skidding",
                "tire squeal", "truck", "air brake", "reversing beeps", "bus", "siren", "motorcycle",
                "traffic noise", "rail transport", "train", "subway", "aircraft", "jet engine", "propeller",
                "helicopter", "airplane", "bicycle", "skateboard", "engine", "idling", "accelerating",
                "toot", "power windows", "foghorn"),
    "nature": ("wind", "rustling leaves", "thunderstorm", "thunder", "rain", "raindrop", "stream",
               "waterfall", "ocean", "waves", "rural or natural"),
}  # fmt: skip
OTHER = "other"
CLASSES: tuple[str, ...] = (*BROAD_CLASSES, OTHER)


class WindowSummary(Summary):
    """The window bookkeeping both classifiers report."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="hub id of the classifier")
    window_s: float = Field(..., description="seconds of audio per classified window (s)")
    hop_s: float = Field(..., description="seconds between window starts (s)")
    window_count: int = Field(..., description="windows over the track")
    silent_window_count: int = Field(..., description="windows under the silence floor, not classified")
    forward_passes: int = Field(..., description="model forward passes")
    seconds_per_window: float | None = Field(
        ..., description="feature extraction and inference time per classified window (s; None: none classified)"
    )


class SpeechEmotionSegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    scores: dict[str, float] = Field(..., description="probability of each emotion (0-1, summing to 1)")


class SpeechEmotionSummary(WindowSummary):
    segments_from: Literal["speech_flow", "windows"] = Field(
        ..., description="segments are speech_flow's speech segments, or runs of hop_s cells of one top emotion"
    )
    unclassified_speech_segments: int = Field(..., description="speech segments only silent windows cover")
    classified_seconds: float = Field(..., description="seconds the segments cover (s)")
    dominant_emotion: str | None = Field(..., description="the emotion on top for the most seconds (None: nothing classified)")
    emotion_shares: dict[str, float] = Field(..., description="seconds on top / classified seconds, per emotion (0-1)")
    mean_scores: dict[str, float] | None = Field(
        ..., description="duration-weighted mean probability of each emotion (0-1; None: nothing classified)"
    )


class AudioEnvironmentSegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    class_scores: dict[str, float] = Field(..., description="score of each broad class: its best label's mean probability (0-1)")
    top_labels: list[tuple[str, float]] = Field(..., description="(AudioSet label, mean probability) pairs, highest first")


class AudioEnvironmentSummary(WindowSummary):
    classes: list[str] = Field(..., description="the broad classes, in the order ties are settled")
    class_shares: dict[str, float] = Field(..., description="seconds on top / track seconds, per class (0-1, summing to 1)")
    dominant_class: str | None = Field(..., description="the class on top for the most seconds (None: no audio)")
    top_labels: list[tuple[str, float]] = Field(
        ..., description="(AudioSet label, mean probability over the track) pairs, highest first"
    )


class WindowedAudioClassifier(Analyzer):
    """What both analyzers share: the runtime's windows in, the window bookkeeping out."""

    audio = True
    in_decoder = False
    # A forward pass holds max_batch windows' activations: the GPU memory grows with it.
    # Per-window figures are each model's activations at 16 windows, divided by 16.
    GPU_BASE_GB: float
    GPU_PER_WINDOW_GB: float

    @classmethod
    def resources_for(cls, settings: Settings) -> Resources:
        batch = settings.section(cls.name).max_batch
        return Resources(cpus=1, gpu_memory_gb=round(cls.GPU_BASE_GB + cls.GPU_PER_WINDOW_GB * batch, 2))

    def process_audio(self, audio: AudioTrack, predicted: dict[str, WindowScores | None]) -> WindowScores:
        heard = predicted[self.name]
        if heard is None:
            raise Skip(f"audio stream too short to classify (under {MIN_AUDIO_S:g} s)")
        return heard

    def _window_summary(self, heard: WindowScores) -> dict:
        classified = int(np.count_nonzero(~heard.silent))
        return {
            "model": self.weights[0].source,
            "window_s": heard.window_s,
            "hop_s": heard.hop_s,
            "window_count": len(heard.silent),
            "silent_window_count": len(heard.silent) - classified,
            "forward_passes": heard.forward_passes,
            "seconds_per_window": rounded(heard.infer_s / classified, 4) if classified else None,
        }


class SpeechEmotion(WindowedAudioClassifier):
    name = "speech_emotion"
    uses = ("speech_flow",)
    summary_type = SpeechEmotionSummary
    segment_type = SpeechEmotionSegment
    weights = (SPEECH_EMOTION_WEIGHTS,)
    # wav2vec 2.0 base in float16 (95 M parameters, 0.2 GB) plus a batch of 16 three-second
    # windows: the first convolution's output (16 x 512 x 9600 halves) dominates, ~0.16 GB,
    # 0.01 GB a window; 0.6 GB in all at the default 16.
    GPU_BASE_GB = 0.44
    GPU_PER_WINDOW_GB = 0.01

    def finalize(self, partials: Partials, context: Context) -> Findings:
        heard = _heard(partials)
        emotions = [EMOTION_NAMES.get(label.lower(), label) for label in heard.labels]
        classified = ~heard.silent
        speech = context.ok("speech_flow")
        unclassified_speech = 0
        if speech is not None:
            utterances = [(s.start_s, s.end_s) for s in speech.segments if s.label == "speech"]
            means = overlap_means(utterances, heard.spans, heard.scores, classified)
            scored = [(span, mean) for span, mean in zip(utterances, means) if mean is not None]
            unclassified_speech = len(utterances) - len(scored)
        else:
            cells = hop_cells(heard)
            means = overlap_means(cells, heard.spans, heard.scores, classified)
            scored = merge_runs([(span, mean) for span, mean in zip(cells, means) if mean is not None], len(emotions))

        segments = [
            Segment(
                start_s=rounded(start, 3),
                end_s=rounded(end, 3),
                label=emotions[int(np.argmax(mean))],
                confidence=rounded(float(mean.max()), 4),
                data=SpeechEmotionSegment(scores={emotion: rounded(float(p), 4) for emotion, p in zip(emotions, mean)}),
            )
            for (start, end), mean in scored
        ]
        seconds = np.array([end - start for (start, end), _ in scored])
        total = float(seconds.sum())
        top_seconds = {emotion: 0.0 for emotion in emotions}
        for segment, length in zip(segments, seconds):
            top_seconds[segment.label] += float(length)
        mean_scores = (seconds[:, None] * np.array([m for _, m in scored])).sum(axis=0) / total if total else None
        return Findings(
            segments=segments,
            summary=SpeechEmotionSummary(
                **self._window_summary(heard),
                segments_from="speech_flow" if speech is not None else "windows",
                unclassified_speech_segments=unclassified_speech,
                classified_seconds=rounded(total, 3),
                dominant_emotion=max(top_seconds, key=top_seconds.get) if total else None,
                emotion_shares={e: rounded(s / total, 4) if total else 0.0 for e, s in top_seconds.items()},
                mean_scores={e: rounded(float(p), 4) for e, p in zip(emotions, mean_scores)}
                if mean_scores is not None
                else None,
            ),
        )


class AudioEnvironment(WindowedAudioClassifier):
    name = "audio_environment"
    summary_type = AudioEnvironmentSummary
    segment_type = AudioEnvironmentSegment
    weights = (AUDIO_ENVIRONMENT_WEIGHTS,)
    # AST base in float16 (87 M parameters, 0.17 GB) plus a batch of 16 windows of 1212 patch
    # tokens through SDPA attention: a few hundred MB of activations, ~0.02 GB a window;
    # 1.0 GB in all at the default 16.
    GPU_BASE_GB = 0.68
    GPU_PER_WINDOW_GB = 0.02
    TOP_LABELS = 5  # per segment
    SUMMARY_TOP_LABELS = 10

    def finalize(self, partials: Partials, context: Context) -> Findings:
        heard = _heard(partials)
        window_classes = class_scores(heard.scores, heard.labels, heard.silent)
        cells = hop_cells(heard)
        everywhere = np.ones(len(heard.silent), bool)
        # Classes first, then labels: one vector per cell, merged by its top class.
        vectors = np.concatenate([window_classes, heard.scores], axis=1)
        means = overlap_means(cells, heard.spans, vectors, everywhere)
        runs = merge_runs([(cell, mean) for cell, mean in zip(cells, means) if mean is not None], len(CLASSES))

        segments = []
        class_seconds = dict.fromkeys(CLASSES, 0.0)
        for (start, end), mean in runs:
            classes, labels = mean[: len(CLASSES)], mean[len(CLASSES) :]
            top = CLASSES[int(np.argmax(classes))]
            class_seconds[top] += end - start
            segments.append(
                Segment(
                    start_s=rounded(start, 3),
                    end_s=rounded(end, 3),
                    label=top,
                    confidence=rounded(float(classes.max()), 4),
                    data=AudioEnvironmentSegment(
                        class_scores={c: rounded(float(p), 4) for c, p in zip(CLASSES, classes)},
                        top_labels=_top_labels(labels, heard.labels, self.TOP_LABELS),
                    ),
                )
            )
        total = sum(class_seconds.values())
        lengths = np.array([end - start for (start, end), _ in runs])
        label_means = (
            (lengths[:, None] * np.array([m[len(CLASSES) :] for _, m in runs])).sum(axis=0) / total if total else None
        )
        return Findings(
            segments=segments,
            summary=AudioEnvironmentSummary(
                **self._window_summary(heard),
                classes=list(CLASSES),
                class_shares={c: rounded(s / total, 4) if total else 0.0 for c, s in class_seconds.items()},
                dominant_class=max(class_seconds, key=class_seconds.get) if total else None,
                top_labels=_top_labels(label_means, heard.labels, self.SUMMARY_TOP_LABELS)
                if label_means is not None
                else [],
            ),
        )


def hop_cells(heard: WindowScores) -> list[tuple[float, float]]:
    """The track cut into hop_s cells from its first sample, the last one cut at its end."""
    count = max(1, int(np.ceil(heard.duration_s / heard.hop_s - 1e-9)))
    end = heard.start_s + heard.duration_s
    return [(heard.start_s + k * heard.hop_s, min(heard.start_s + (k + 1) * heard.hop_s, end)) for k in range(count)]


def overlap_means(
    spans: list[tuple[float, float]], windows: np.ndarray, vectors: np.ndarray, usable: np.ndarray
) -> list[np.ndarray | None]:
    """Per span, the mean of the usable windows' vectors weighted by how many seconds each
    overlaps the span; None when no usable window overlaps it."""
    means: list[np.ndarray | None] = []
    for start, end in spans:
        weights = np.clip(np.minimum(end, windows[:, 1]) - np.maximum(start, windows[:, 0]), 0.0, None) * usable
        total = weights.sum()
        means.append(weights @ vectors / total if total > 0 else None)
    return means


Scored = list[tuple[tuple[float, float], np.ndarray]]  # (start_s, end_s) and a vector


def merge_runs(scored: Scored, head: int) -> Scored:
    """Adjacent spans whose vectors have the same argmax among their first `head` entries joined
    into one, with the duration-weighted mean of their vectors."""
    runs: list[tuple[tuple[float, float], np.ndarray, float]] = []  # span, weighted sum, seconds
    for (start, end), vector in scored:
        length = end - start
        if runs:
            (run_start, run_end), total, seconds = runs[-1]
            if abs(start - run_end) < TOUCH_S and np.argmax(total[:head]) == np.argmax(vector[:head]):
                runs[-1] = ((run_start, end), total + vector * length, seconds + length)
                continue
        runs.append(((start, end), vector * length, length))
    return [(span, total / seconds if seconds > 0 else total) for span, total, seconds in runs]


def broad_class(label: str) -> str:
    """The BROAD_CLASSES class of an AudioSet label, OTHER when no keyword matches."""
    words = f" {_normalised(label)} "
    for name, keywords in BROAD_CLASSES.items():
        if any(f" {keyword} " in words for keyword in _KEYWORDS[name]):
            return name
    return OTHER


def class_scores(scores: np.ndarray, labels: list[str], silent: np.ndarray) -> np.ndarray:
    """(windows, CLASSES) per window: the highest probability among each class's labels (0 for a
    class without labels); silent windows are certain silence."""
    classes = [broad_class(label) for label in labels]
    membership = np.array([[c == name for name in CLASSES] for c in classes], bool).reshape(-1, len(CLASSES))
    result = np.zeros((len(scores), len(CLASSES)), np.float64)
    for c in range(len(CLASSES)):
        if membership[:, c].any():
            result[:, c] = scores[:, membership[:, c]].max(axis=1)
    result[silent] = 0.0
    result[silent, CLASSES.index("silence")] = 1.0
    return result


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


_KEYWORDS = {name: tuple(_normalised(k) for k in keywords) for name, keywords in BROAD_CLASSES.items()}


def _top_labels(means: np.ndarray, labels: list[str], count: int) -> list[tuple[str, float]]:
    order = np.argsort(-means, kind="stable")[:count]
    return [(labels[i], rounded(float(means[i]), 4)) for i in order if means[i] > 0]


def _heard(partials: Partials) -> WindowScores:
    if partials.audio is None:
        raise Skip("no audio track was decoded")
    return partials.audio
