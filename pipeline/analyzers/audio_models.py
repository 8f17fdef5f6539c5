"""speech_emotion and audio_environment: two pretrained audio classifiers (Hugging Face
transformers, AutoFeatureExtractor + AutoModelForAudioClassification) run over fixed windows
of the decoded 16 kHz mono track.

How both work. `process_audio` only sees the audio, so it cannot know where speech is: it
cuts the whole track into windows of WINDOW_S every HOP_S (the last window is moved back to
end with the track, so every sample is covered and all windows have one length; a track
shorter than a window is one window), skips windows whose RMS is below audio_analysis's
silence floor (SILENCE_DBFS, -60 dBFS: no model call, marked silent), and classifies the rest
in batches of at most MAX_BATCH windows of equal length per forward pass. The partial holds
every window's span and class probabilities (softmax for the single-label emotion model,
sigmoid for the multi-label AudioSet model). `finalize` never needs the model: it turns
windows into segments by time-overlap-weighted means of the window probabilities.

speech_emotion (superb/wav2vec2-base-superb-er: wav2vec 2.0 base fine-tuned on IEMOCAP, four
classes neutral / happy / angry / sad). Windows of 3 s every 1.5 s (IEMOCAP utterances
average about 4.5 s; 3 s is enough for the model and short enough to follow a speaker).
When speech_flow ran (`uses`), one segment per speech segment it found, scored by the
sounding windows overlapping it, weighted by the overlap; speech that only silent windows
cover gets no segment (counted in the summary). Without speech_flow, the track is cut into
HOP_S cells, each scored the same way, and runs of cells with the same top emotion are merged:
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
window scores 1 for "silence" and 0 elsewhere. The track is cut into HOP_S cells, each cell
averages the windows overlapping it (overlap-weighted), and runs of cells with the same top
class become segments: label = class, confidence = its score, data {class_scores, top_labels:
[[AudioSet label, mean probability], ...]}. Summary: class_shares (seconds / track seconds,
summing to 1), dominant_class, top_labels over the whole track. What it can tell: which kinds
of sound dominate each second or so (music vs speech vs crowd ...), and the AudioSet labels
behind that. What it cannot: sounds quieter than what dominates, exact onsets (windows of 3 s),
and anything the keyword map puts in the wrong broad class (it is approximate by design).

Settings, read in the worker at setup (environment variables, else the class attributes):
    REELSCOPE_SPEECH_EMOTION_WINDOW_S / _HOP_S        3.0 / 1.5 seconds
    REELSCOPE_AUDIO_ENVIRONMENT_WINDOW_S / _HOP_S     3.0 / 1.0 seconds (a longer hop for CPU
                                                      runs: full AST takes seconds per window there)
    REELSCOPE_SPEECH_EMOTION_MAX_BATCH, REELSCOPE_AUDIO_ENVIRONMENT_MAX_BATCH
                                                      the most windows in one forward pass (16;
                                                      the GPU memory declared assumes it)
The hop must not exceed the window. On a GPU the models run in float16, on CPU in float32.
Random or untrained weights give well-formed nonsense.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.analyzer import Analyzer, AudioTrack, Context, Findings, Partials, Resources, Skip
from pipeline.analyzers.audio import SILENCE_DBFS
from pipeline.models import Weights
from pipeline.schema import Segment

MIN_AUDIO_S = 0.1  # both models' first layers read 25 ms; under this there is nothing to classify
EXTRACTOR = ("preprocessor_config.json",)  # the feature extractor's settings, beside config.json
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


@dataclass
class WindowScores:
    """The partial: every window of one audio track and the model's probabilities for it."""

    duration_s: float  # of the audio track
    start_s: float  # video time of its first sample
    window_s: float
    hop_s: float
    labels: list[str]  # the model's classes, in the order of its outputs
    spans: np.ndarray  # (n, 2) float64 [start_s, end_s) of each window, video time
    silent: np.ndarray  # (n,) bool: below the silence floor, not classified
    scores: np.ndarray  # (n, labels) float32 probabilities; zero rows for silent windows
    forward_passes: int
    infer_s: float  # seconds spent in feature extraction and forward passes


class WindowedAudioClassifier(Analyzer):
    """The loading and windowed, batched inference both analyzers share."""

    audio = True
    in_decoder = False
    WINDOW_S: float
    HOP_S: float
    MAX_BATCH: int
    MULTI_LABEL = False  # sigmoid per class (AudioSet) instead of a softmax over classes

    def setup(self) -> None:
        path = self.weights[0].require(self.name)
        self.window_s = float(self._setting("WINDOW_S", self.WINDOW_S))
        self.hop_s = float(self._setting("HOP_S", self.HOP_S))
        self.max_batch = max(1, int(self._setting("MAX_BATCH", self.MAX_BATCH)))
        if not 0 < self.hop_s <= self.window_s:  # windows must leave no gaps between them
            raise ValueError(f"{self.name}: need 0 < hop ({self.hop_s} s) <= window ({self.window_s} s)")
        self.extractor, self.model = _load(path)
        config = self.model.config
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.record_model(
            self.weights[0],
            backend="transformers",
            device=str(self.model.device),
            dtype=str(self.model.dtype).removeprefix("torch."),
        )

    def _setting(self, name: str, default: float) -> float:
        value = os.environ.get(f"REELSCOPE_{self.name.upper()}_{name}")
        return float(value) if value else default

    def process_audio(self, audio: AudioTrack) -> WindowScores:
        start = time.perf_counter()
        rate = audio.sample_rate
        if rate != self.extractor.sampling_rate:
            raise ValueError(f"{self.name} expects {self.extractor.sampling_rate} Hz audio, got {rate} Hz")
        samples = audio.samples
        if len(samples) < MIN_AUDIO_S * rate:
            raise Skip(f"audio stream too short to classify (under {MIN_AUDIO_S:g} s)")
        bounds = window_bounds(len(samples), round(self.window_s * rate), round(self.hop_s * rate))
        clips = [samples[a:b] for a, b in bounds]
        silent = np.array([_rms_dbfs(clip) < SILENCE_DBFS for clip in clips], bool)
        scores = np.zeros((len(clips), len(self.labels)), np.float32)
        sounding = np.flatnonzero(~silent)
        scores[sounding], passes = self._classify([clips[i] for i in sounding])
        return WindowScores(
            duration_s=len(samples) / rate,
            start_s=audio.start_s,
            window_s=self.window_s,
            hop_s=self.hop_s,
            labels=self.labels,
            spans=np.asarray(bounds, np.float64).reshape(-1, 2) / rate + audio.start_s,
            silent=silent,
            scores=scores,
            forward_passes=passes,
            infer_s=time.perf_counter() - start,
        )

    def _classify(self, clips: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """Probabilities per clip; clips of one length share forward passes of at most max_batch."""
        import torch

        probabilities = np.zeros((len(clips), len(self.labels)), np.float32)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(len(clip), []).append(i)
        passes = 0
        for indices in by_length.values():
            for first in range(0, len(indices), self.max_batch):
                chunk = indices[first : first + self.max_batch]
                inputs = self.preprocess([clips[i] for i in chunk])
                with torch.inference_mode():
                    logits = self.model(**inputs).logits
                probabilities[chunk] = self.postprocess(logits)
                passes += 1
        return probabilities, passes

    def preprocess(self, clips: list[np.ndarray]) -> dict[str, Any]:
        """Clips of one length (float32, -1..1, at the extractor's rate) -> the model's inputs, by
        the snapshot's feature extractor (wav2vec 2.0: each clip to zero mean and unit variance;
        AST: 128 log-mel bins over 1024 frames, normalised by the checkpoint's mean and std)."""
        features = self.extractor(clips, sampling_rate=self.extractor.sampling_rate, return_tensors="pt")
        return {
            key: value.to(self.model.device, self.model.dtype) if value.is_floating_point() else value.to(self.model.device)
            for key, value in features.items()
        }

    def postprocess(self, logits) -> np.ndarray:
        """(clips, labels) logits in the order of config.id2label -> probabilities: a sigmoid per
        label for the multi-label model, else a softmax over them."""
        import torch

        logits = logits.float()
        scores = torch.sigmoid(logits) if self.MULTI_LABEL else torch.softmax(logits, dim=-1)
        return scores.cpu().numpy()

    def _window_summary(self, heard: WindowScores) -> dict[str, Any]:
        classified = int(np.count_nonzero(~heard.silent))
        return {
            "model": self.weights[0].source,
            "window_s": heard.window_s,
            "hop_s": heard.hop_s,
            "window_count": len(heard.silent),
            "silent_window_count": len(heard.silent) - classified,
            "forward_passes": heard.forward_passes,
            "seconds_per_window": round(heard.infer_s / classified, 4) if classified else None,
        }


class SpeechEmotion(WindowedAudioClassifier):
    name = "speech_emotion"
    uses = ("speech_flow",)
    # wav2vec 2.0 base in float16 (95 M parameters, 0.2 GB) plus a batch of 16 three-second
    # windows: the first convolution's output (16 x 512 x 9600 halves) dominates, ~0.16 GB.
    resources = Resources(cpus=1, gpu_memory_gb=0.6)
    weights = (
        Weights(
            name="wav2vec2-base-superb-er",
            source="superb/wav2vec2-base-superb-er",
            revision="441a7599c3b22107314dcbd9166621c5c83f2cc5",  # as public projects pin it (not checked from here)
            files=EXTRACTOR,
        ),
    )
    WINDOW_S = 3.0
    HOP_S = 1.5
    MAX_BATCH = 16

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
                start_s=round(start, 3),
                end_s=round(end, 3),
                label=emotions[int(np.argmax(mean))],
                confidence=round(float(mean.max()), 4),
                data={"scores": {emotion: round(float(p), 4) for emotion, p in zip(emotions, mean)}},
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
            summary={
                **self._window_summary(heard),
                "segments_from": "speech_flow" if speech is not None else "windows",
                "unclassified_speech_segments": unclassified_speech,
                "classified_seconds": round(total, 3),
                "dominant_emotion": max(top_seconds, key=top_seconds.get) if total else None,
                "emotion_shares": {e: round(s / total, 4) if total else 0.0 for e, s in top_seconds.items()},
                "mean_scores": {e: round(float(p), 4) for e, p in zip(emotions, mean_scores)}
                if mean_scores is not None
                else None,
            },
        )


class AudioEnvironment(WindowedAudioClassifier):
    name = "audio_environment"
    # AST base in float16 (87 M parameters, 0.17 GB) plus a batch of 16 windows of 1212 patch
    # tokens through SDPA attention: a few hundred MB of activations.
    resources = Resources(cpus=1, gpu_memory_gb=1.0)
    weights = (
        Weights(
            name="ast-finetuned-audioset-10-10-0.4593",
            source="MIT/ast-finetuned-audioset-10-10-0.4593",
            revision="f826b80d28226b62986cc218e5cec390b1096902",  # as public projects pin it (not checked from here)
            files=EXTRACTOR,
        ),
    )
    WINDOW_S = 3.0
    HOP_S = 1.0
    MAX_BATCH = 16
    MULTI_LABEL = True
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
                    start_s=round(start, 3),
                    end_s=round(end, 3),
                    label=top,
                    confidence=round(float(classes.max()), 4),
                    data={
                        "class_scores": {c: round(float(p), 4) for c, p in zip(CLASSES, classes)},
                        "top_labels": _top_labels(labels, heard.labels, self.TOP_LABELS),
                    },
                )
            )
        total = sum(class_seconds.values())
        lengths = np.array([end - start for (start, end), _ in runs])
        label_means = (
            (lengths[:, None] * np.array([m[len(CLASSES) :] for _, m in runs])).sum(axis=0) / total if total else None
        )
        return Findings(
            segments=segments,
            summary={
                **self._window_summary(heard),
                "classes": list(CLASSES),
                "class_shares": {c: round(s / total, 4) if total else 0.0 for c, s in class_seconds.items()},
                "dominant_class": max(class_seconds, key=class_seconds.get) if total else None,
                "top_labels": _top_labels(label_means, heard.labels, self.SUMMARY_TOP_LABELS)
                if label_means is not None
                else [],
            },
        )


def window_bounds(length: int, window: int, hop: int) -> list[tuple[int, int]]:
    """[start, end) sample ranges: every `hop` samples, the last moved back to end at `length`,
    all `window` long; one range over everything when the track is shorter than a window."""
    if length <= window:
        return [(0, length)] if length > 0 else []
    starts = [*range(0, length - window, hop), length - window]
    return [(a, a + window) for a in starts]


def hop_cells(heard: WindowScores) -> list[tuple[float, float]]:
    """The track cut into HOP_S cells from its first sample, the last one cut at its end."""
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


def _top_labels(means: np.ndarray, labels: list[str], count: int) -> list[list[Any]]:
    order = np.argsort(-means, kind="stable")[:count]
    return [[labels[i], round(float(means[i]), 4)] for i in order if means[i] > 0]


def _heard(partials: Partials) -> WindowScores:
    if partials.audio is None:
        raise Skip("no audio track was decoded")
    return partials.audio


def _rms_dbfs(clip: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if len(clip) else 0.0
    return 20.0 * np.log10(max(rms, 1e-12))


def _load(path):
    """The feature extractor and the classifier from the snapshot at `path`, on the GPU when there is one."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    cuda = torch.cuda.is_available()
    with warnings.catch_warnings():
        # AST's own 128 mel bins over a 512-point FFT leave a filter empty: a property of the
        # checkpoint, reported on every load when torchaudio is absent.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
    model = AutoModelForAudioClassification.from_pretrained(
        path, local_files_only=True, dtype=torch.float16 if cuda else torch.float32
    )
    return extractor, model.to("cuda" if cuda else "cpu").eval()
