"""The Analyzer contract. It knows nothing of Ray: runners (CLI, Ray Data, Ray Serve) drive it.

An analyzer declares what it consumes, what it needs and the types of what it writes
(`summary_type`, `segment_type`), is built with the run's Settings (`self.settings`; its own
section is `self.options`), then works in three steps:

    setup()                      load anything heavy, once, inside the worker that will run it
    process_frames(batch)        one FrameBatch  -> a picklable partial (pure: any worker may get any batch)
    process_audio(audio)         the AudioTrack  -> a picklable partial
    finalize(partials, context)  every partial of one video, in time order -> Findings (no model needed here)

`process_*` must depend only on its argument: batches of one video may land on different
workers. Each FrameBatch carries the frame before it (`prev_frame`) so that frame-difference
work needs no state across batches. `finalize` runs where the results are assembled and reads
the results of the analyzers named in `after` (always run with it) and `uses` (when they ran).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pipeline.schema import AnalyzerResult, ModelUsed, Segment, SegmentData, Summary, VideoInfo
from pipeline.settings import Section, Settings

if TYPE_CHECKING:
    from pipeline.models import Weights


BATCH_FRAMES = 32  # frames per FrameBatch the decoder emits (the last of a video may hold fewer)


@dataclass(frozen=True)
class FrameSpec:
    """Frames at a rate and size, derived from the one decode.

    fps: samples per second of video time (None: every decoded frame).
    size: the longer side in pixels after rotation; frames are never upscaled.
    """

    fps: float | None
    size: int

    @property
    def key(self) -> str:
        return f"{'all' if self.fps is None else f'{self.fps:g}fps'}@{self.size}"


@dataclass(frozen=True)
class Resources:
    """What one worker of this analyzer reserves. GPU memory in GB; the runner turns it into a
    fraction of the GPU it finds (Ray's fractions are scheduling labels, not isolation: keep
    the model inside what it declares)."""

    cpus: float = 1.0
    gpu_memory_gb: float = 0.0


@dataclass
class FrameBatch:
    spec: FrameSpec
    index: int  # position of this batch among the batches of its spec, from 0
    pts_s: np.ndarray  # (n,) float64 presentation times, seconds from the start of the video
    frames: np.ndarray  # (n, h, w, 3) uint8 RGB, upright (rotation applied), square pixels
    prev_frame: np.ndarray | None = None  # the frame just before frames[0] in this spec, if any
    prev_pts_s: float | None = None


@dataclass
class AudioTrack:
    # (n,) float32 mono. FFmpeg's standard downmix (-3 dB per channel) keeps loudness, so a loud
    # stereo track can peak slightly past 1.0; clipping is judged on native samples instead.
    samples: np.ndarray
    sample_rate: int
    start_s: float  # time of samples[0]
    clipped_fraction: float  # share of native samples at full scale (decode.CLIP_LEVEL), before resampling
    peak: float  # highest native |sample|
    # (2, n) float32, left and right at sample_rate, aligned with `samples`: only for a two-channel
    # source, so that speech on two microphones can be told apart (None: mono or more channels).
    channels: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class Partials:
    """What the process steps returned for one video: frame partials in time order."""

    frames: list[Any] = field(default_factory=list)
    audio: Any = None


@dataclass
class Context:
    video: VideoInfo
    results: dict[str, AnalyzerResult]  # the results of every analyzer finalized before this one

    def ok(self, name: str) -> AnalyzerResult | None:
        """The result of `name` when it succeeded, else None."""
        result = self.results.get(name)
        return result if result is not None and result.status == "ok" else None


@dataclass
class Findings:
    segments: list[Segment] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)  # an instance of the analyzer's summary_type


class Skip(Exception):
    """Raised from any step when the analyzer cannot run here (input absent, weights missing).
    The message becomes the result's `reason`."""


class Analyzer(ABC):
    name: ClassVar[str]
    frames: ClassVar[FrameSpec | None] = None
    audio: ClassVar[bool] = False
    after: ClassVar[tuple[str, ...]] = ()  # analyzers whose results finalize() needs: they run too
    uses: ClassVar[tuple[str, ...]] = ()  # read if they ran (finalized first), never pulled in
    resources: ClassVar[Resources] = Resources()  # see resources_for: what the settings make of it
    summary_type: ClassVar[type[Summary]] = Summary  # what finalize() returns as the summary
    segment_type: ClassVar[type[SegmentData]] = SegmentData  # every segment's `data`
    # Cheap per-frame work runs in the decoding worker, on frames still in memory and in order:
    # shipping full-rate frames to another process would cost more than the work itself.
    in_decoder: ClassVar[bool] = False
    weights: ClassVar[tuple[Weights, ...]] = ()  # what setup() loads; `reelscope models` lists and fetches them

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.models_used: list[ModelUsed] = []

    @property
    def options(self) -> Section | None:
        """This analyzer's own section of the settings, when it has one."""
        return self.settings.section(self.name)

    @classmethod
    def resources_for(cls, settings: Settings) -> Resources:
        """What one worker reserves under these settings (a backend on CPU needs no GPU memory)."""
        return cls.resources

    @classmethod
    def weights_for(cls, settings: Settings) -> tuple[Weights, ...]:
        """What setup() loads under these settings (a chosen model size, say): what plans check and
        `reelscope models` lists and fetches."""
        return cls.weights

    def local(self, weights: Weights) -> Weights:
        """A weights entry in this run's models directory."""
        return weights.at(self.settings.models_dir)

    def setup(self) -> None:
        """Load models and anything heavy. Called once per worker, before any process step.
        Record each model loaded with `record_model`: the document says which models spoke."""

    def record_model(self, model: Weights | str, *, backend: str, device: str, dtype: str | None = None, **ids) -> None:
        """Note a model this instance loaded: a Weights entry (its id and digest come from the
        files), or the name of a model a library ships (`ids`: revision=, sha256=)."""
        if isinstance(model, str):
            used = ModelUsed(id=model, backend=backend, device=device, dtype=dtype, **ids)
        else:
            used = self.local(model).provenance(backend=backend, device=device, dtype=dtype)
        self.models_used.append(used)

    # An analyzer that a model family's actor hosts (actors/) is given its family Runtime's
    # output for the batch as `predicted`; others get the batch alone.
    def process_frames(self, batch: FrameBatch, predicted: Any = None) -> Any:
        raise NotImplementedError(f"{self.name} declares frames but has no process_frames")

    def process_audio(self, audio: AudioTrack, predicted: Any = None) -> Any:
        raise NotImplementedError(f"{self.name} declares audio but has no process_audio")

    @abstractmethod
    def finalize(self, partials: Partials, context: Context) -> Findings:
        """Turn every partial of one video into typed segments and a summary."""

    @classmethod
    def missing_input(cls, info: VideoInfo) -> str | None:
        """Why this analyzer has nothing to read in this video, or None."""
        if cls.frames is not None and not info.has_video and not cls.audio:
            return "no video stream"
        if cls.audio and not info.has_audio and cls.frames is None:
            return "no audio stream"
        return None
