"""The audio_classifiers family: two pretrained Hugging Face audio classifiers over fixed windows
of the decoded 16 kHz mono track, for speech_emotion (wav2vec 2.0 fine-tuned on IEMOCAP) and
audio_environment (Audio Spectrogram Transformer, AudioSet). What the analyzers make of the
window probabilities: pipeline/analyzers/audio_models.py.

One pass over an audio track (`AudioClassifierRuntime.predict`), for each analyzer asked:
    windows      of window_s every hop_s (that analyzer's settings); the last moved back to
                 end with the track, so every sample is covered and all windows have one
                 length; a track shorter than a window is one window. Windows under
                 audio_analysis's silence floor (SILENCE_DBFS) are marked silent, never classified.
    preprocess   max_batch windows of one length -> the snapshot's feature extractor's inputs
    infer        one forward pass
    postprocess  logits -> probabilities: a softmax over the emotion classes, a sigmoid per
                 AudioSet label (multi-label)
float16 on a GPU, float32 on CPU.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.base import ModelActor, Runtime, parts
from actors.device import Placement, choose
from pipeline.analyzer import Analyzer, AudioTrack
from pipeline.analyzers.audio import SILENCE_DBFS
from pipeline.models import Weights
from pipeline.settings import AudioClassifierSettings

MIN_AUDIO_S = 0.1  # both models' first layers read 25 ms; under this there is nothing to classify
EXTRACTOR = ("preprocessor_config.json",)  # the feature extractor's settings, beside config.json

SPEECH_EMOTION_WEIGHTS = Weights(
    name="wav2vec2-base-superb-er",
    source="superb/wav2vec2-base-superb-er",
    revision="441a7599c3b22107314dcbd9166621c5c83f2cc5",  # as public projects pin it (not checked from here)
    files=EXTRACTOR,
)
AUDIO_ENVIRONMENT_WEIGHTS = Weights(
    name="ast-finetuned-audioset-10-10-0.4593",
    source="MIT/ast-finetuned-audioset-10-10-0.4593",
    revision="f826b80d28226b62986cc218e5cec390b1096902",  # as public projects pin it (not checked from here)
    files=EXTRACTOR,
)


@dataclass(frozen=True)
class Classifier:
    weights: Weights
    multi_label: bool  # a sigmoid per label (AudioSet) instead of a softmax over them


CLASSIFIERS = {
    "speech_emotion": Classifier(SPEECH_EMOTION_WEIGHTS, multi_label=False),
    "audio_environment": Classifier(AUDIO_ENVIRONMENT_WEIGHTS, multi_label=True),
}


@dataclass
class WindowScores:
    """Every window of one audio track and the model's probabilities for it."""

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


@dataclass
class _Loaded:
    extractor: Any
    model: Any
    labels: list[str]
    multi_label: bool
    options: AudioClassifierSettings


class AudioClassifierRuntime(Runtime):
    name = "audio_classifiers"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.loaded: dict[str, _Loaded] = {}  # analyzer -> its classifier

    def load(self, analyzer: Analyzer) -> None:
        classifier = CLASSIFIERS[analyzer.name]
        weights = classifier.weights.at(self.settings.models_dir)
        extractor, model = _load(weights.require(analyzer.name), choose("float16"))
        config = model.config
        labels = [config.id2label[i] for i in range(config.num_labels)]
        self.loaded[analyzer.name] = _Loaded(extractor, model, labels, classifier.multi_label, analyzer.options)
        self.models_used[analyzer.name] = [
            weights.provenance(
                backend="transformers", device=str(model.device), dtype=str(model.dtype).removeprefix("torch.")
            )
        ]

    def predict(self, payload: AudioTrack, analyzers: frozenset[str]) -> dict[str, WindowScores | None]:
        """Each named analyzer's windows and their probabilities; None for a track too short to classify."""
        return self.predict_many([payload], analyzers)[0]

    def predict_many(self, tracks: list[AudioTrack], analyzers: frozenset[str]) -> list[dict[str, WindowScores | None]]:
        """`predict` for several tracks (a Serve replica's concurrent requests,
        pipeline.runners.serve_families.Coalescer): each classifier's sounding windows of every track in
        shared forward passes. A track's forward_passes counts the passes its windows were in;
        its infer_s is its windows' share of the time."""
        found: list[dict[str, WindowScores | None]] = [{} for _ in tracks]
        for name in sorted(analyzers):
            started = time.perf_counter()
            cut = [self._cut(track, name) for track in tracks]
            sounding = [np.flatnonzero(~silent) if silent is not None else np.zeros(0, int) for _, _, silent in cut]
            clips = [track_clips[i] for (_, track_clips, _), keep in zip(cut, sounding) for i in keep]
            probabilities, pass_of = self._classify(name, clips)
            elapsed = time.perf_counter() - started
            mine_of = parts(len(keep) for keep in sounding)
            for i, (track, (bounds, _, silent), keep, mine) in enumerate(zip(tracks, cut, sounding, mine_of)):
                if silent is None:
                    found[i][name] = None
                    continue
                scores = np.zeros((len(silent), len(self.loaded[name].labels)), np.float32)
                scores[keep] = probabilities[mine]
                share = elapsed * len(keep) / max(len(clips), 1)
                found[i][name] = self._scores(name, track, bounds, silent, scores, len(set(pass_of[mine])), share)
        return found

    def _cut(self, audio: AudioTrack, name: str) -> tuple[list[tuple[int, int]], list[np.ndarray], np.ndarray | None]:
        """The track's windows (sample bounds, clips) and which are silent; silent None for a
        track too short to classify."""
        loaded = self.loaded[name]
        rate = audio.sample_rate
        if rate != loaded.extractor.sampling_rate:
            raise ValueError(f"{name} expects {loaded.extractor.sampling_rate} Hz audio, got {rate} Hz")
        samples = audio.samples
        if len(samples) < MIN_AUDIO_S * rate:
            return [], [], None
        bounds = window_bounds(len(samples), round(loaded.options.window_s * rate), round(loaded.options.hop_s * rate))
        clips = [samples[a:b] for a, b in bounds]
        return bounds, clips, np.array([_rms_dbfs(clip) < SILENCE_DBFS for clip in clips], bool)

    def _scores(self, name, audio: AudioTrack, bounds, silent, scores, passes: int, infer_s: float) -> WindowScores:
        options, rate = self.loaded[name].options, audio.sample_rate
        return WindowScores(
            duration_s=len(audio.samples) / rate,
            start_s=audio.start_s,
            window_s=options.window_s,
            hop_s=options.hop_s,
            labels=self.loaded[name].labels,
            spans=np.asarray(bounds, np.float64).reshape(-1, 2) / rate + audio.start_s,
            silent=silent,
            scores=scores,
            forward_passes=passes,
            infer_s=infer_s,
        )

    def _classify(self, name: str, clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities per clip, and the forward pass each was in: clips of one length share
        passes of at most max_batch."""
        loaded = self.loaded[name]
        probabilities = np.zeros((len(clips), len(loaded.labels)), np.float32)
        pass_of = np.zeros(len(clips), np.int64)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(len(clip), []).append(i)
        passes = 0
        batch = loaded.options.max_batch
        for indices in by_length.values():
            for first in range(0, len(indices), batch):
                chunk = indices[first : first + batch]
                logits = self.infer(name, self.preprocess(name, [clips[i] for i in chunk]))
                probabilities[chunk] = self.postprocess(name, logits)
                pass_of[chunk] = passes
                passes += 1
        return probabilities, pass_of

    def preprocess(self, name: str, clips: list[np.ndarray]) -> dict[str, Any]:
        """Clips of one length (float32, -1..1, at the extractor's rate) -> the model's inputs, by
        the snapshot's feature extractor (wav2vec 2.0: each clip to zero mean and unit variance;
        AST: 128 log-mel bins over 1024 frames, normalised by the checkpoint's mean and std)."""
        extractor, model = self.loaded[name].extractor, self.loaded[name].model
        features = extractor(clips, sampling_rate=extractor.sampling_rate, return_tensors="pt")
        return {
            key: value.to(model.device, model.dtype) if value.is_floating_point() else value.to(model.device)
            for key, value in features.items()
        }

    def infer(self, name: str, inputs: dict[str, Any]):
        import torch

        with torch.inference_mode():
            return self.loaded[name].model(**inputs).logits

    def postprocess(self, name: str, logits) -> np.ndarray:
        """(clips, labels) logits in the order of config.id2label -> probabilities: a sigmoid per
        label for the multi-label model, else a softmax over them."""
        import torch

        logits = logits.float()
        scores = torch.sigmoid(logits) if self.loaded[name].multi_label else torch.softmax(logits, dim=-1)
        return scores.cpu().numpy()


def window_bounds(length: int, window: int, hop: int) -> list[tuple[int, int]]:
    """[start, end) sample ranges: every `hop` samples, the last moved back to end at `length`,
    all `window` long; one range over everything when the track is shorter than a window."""
    if length <= window:
        return [(0, length)] if length > 0 else []
    starts = [*range(0, length - window, hop), length - window]
    return [(a, a + window) for a in starts]


def _rms_dbfs(clip: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if len(clip) else 0.0
    return 20.0 * np.log10(max(rms, 1e-12))


def _load(path, placement: Placement):
    """The feature extractor and the classifier from the snapshot at `path`, placed."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    with warnings.catch_warnings():
        # AST's own 128 mel bins over a 512-point FFT leave a filter empty: a property of the
        # checkpoint, reported on every load when torchaudio is absent.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
    model = AutoModelForAudioClassification.from_pretrained(path, local_files_only=True, dtype=placement.torch_dtype())
    return extractor, model.to(placement.device).eval()


class AudioClassifierActor(ModelActor):
    family = "audio_classifiers"
    runtime = AudioClassifierRuntime
    serves = ("speech_emotion", "audio_environment")
