"""What a run asks for: the videos (VideoRequest) and the Plan (which analyzers, in which stages,
with which settings), built once and shipped to every worker."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.analyzer import Analyzer, AudioTrack, FrameBatch, FrameSpec, Skip
from pipeline.models import WeightsError
from pipeline.registry import resolve
from pipeline.settings import Settings


@dataclass(frozen=True)
class VideoRequest:
    video_id: str  # unique within a run; the output file is named after it
    path: str

    @classmethod
    def for_paths(cls, paths: list[str]) -> list[VideoRequest]:
        """One request per path, named by its file stem made safe and unique within the run."""
        ids: list[str] = []
        for path in paths:
            stem = safe_stem(path)
            candidate, n = stem, 1
            while candidate in ids:
                n += 1
                candidate = f"{stem}-{n}"
            ids.append(candidate)
        return [cls(video_id, path) for video_id, path in zip(ids, paths)]


def safe_stem(path: str) -> str:
    """The file's stem, made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem) or "video"


@dataclass
@dataclass(frozen=True)
class Plan:
    """Which analyzers run, where, what they read, and the run's settings. Built once per run,
    shipped to workers: every analyzer on every runner is built with `settings`."""

    analyzers: tuple[type[Analyzer], ...]
    unavailable: dict[str, str]  # analyzer -> why it is skipped (its weights are missing)
    broken: dict[str, str] = field(default_factory=dict)  # analyzer -> why it fails (its weights are wrong)
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def build(cls, names: list[str] | None = None, *, settings: Settings | None = None, weights_here: bool = False) -> Plan:
        """settings: the run's (default: the defaults). weights_here: the workers read the same
        models directory as this process (an embedded Ray), so an analyzer whose required weights
        are missing (skipped) or wrong (failed) is known now, and no worker pool starts for a
        model that cannot load."""
        settings = settings if settings is not None else Settings()
        analyzers, unavailable, broken = resolve(names), {}, {}
        if weights_here:
            for analyzer in list(analyzers):
                try:
                    # Optional weights are judged in setup(), which knows whether they are used
                    # (EasyOCR's files are beside the default rapidocr; a broken YuNet fails there).
                    for weights in analyzer.weights_for(settings):
                        if not weights.optional:
                            weights.at(settings.models_dir).require(analyzer.name)
                except Skip as reason:
                    unavailable[analyzer.name] = str(reason)
                    analyzers.remove(analyzer)
                except WeightsError as reason:
                    broken[analyzer.name] = str(reason)
                    analyzers.remove(analyzer)
        return cls(tuple(analyzers), unavailable, broken, settings)

    def why_not(self, name: str) -> str | None:
        """Why an analyzer of the contract is not in this plan, when the plan knows."""
        return self.unavailable.get(name) or self.broken.get(name)

    @property
    def key(self) -> tuple[str, ...]:
        return (*(f"{a.__module__}.{a.__qualname__}" for a in self.analyzers), self.settings.model_dump_json())

    def build_analyzers(self, classes: Iterable[type[Analyzer]]) -> list[Analyzer]:
        return [cls(self.settings) for cls in classes]

    @property
    def in_decoder(self) -> tuple[type[Analyzer], ...]:
        return tuple(a for a in self.analyzers if a.in_decoder)

    @property
    def stages(self) -> list[tuple[type[Analyzer], ...]]:
        """Analyzers that run in their own workers: one stage (actor pool, deployment) per model
        family's actor class, or per analyzer that no family hosts. One that reads no frames or
        audio only finalizes, where the results are assembled, and needs no worker."""
        groups: dict[str, list[type[Analyzer]]] = {}
        for a in self.analyzers:
            if not a.in_decoder and (a.frames is not None or a.audio):
                groups.setdefault(stage_name((a,)), []).append(a)
        # A chain of stages (Ray Data's) keeps a payload in the object store until its last reader
        # has passed: the stages reading the most bytes go first, so the largest are freed soonest.
        return sorted((tuple(group) for group in groups.values()), key=lambda stage: -max(map(bytes_per_s, stage)))

    def done_reading(self, seen: set[str]) -> int:
        """How many analyzers have read all of a video of which items with these payload keys
        have come through (a FrameSpec's key, "audio", or END for its last item). A video's audio is
        one item, so its readers are done once it is in; frames come in many batches, so their
        readers are done at the end. Analyzers that read nothing only finalize: never counted here."""
        readers = [a for a in self.analyzers if a.frames is not None or a.audio]
        if END in seen:
            return len(readers)
        return sum(1 for a in readers if a.frames is None and "audio" in seen)

    @property
    def frame_specs(self) -> list[FrameSpec]:
        return list(dict.fromkeys(a.frames for a in self.analyzers if a.frames is not None))

    @property
    def wants_audio(self) -> bool:
        return any(a.audio for a in self.analyzers)


END = "end"  # the payload key a progress feed gives a video's last item


def stage_name(stage: tuple[type[Analyzer], ...]) -> str:
    """What a stage (one worker pool or deployment) is called: its model family, else its analyzer."""
    from actors import actor_class

    actor = actor_class(stage)
    return actor.family if actor.family else stage[0].name


def bytes_per_s(cls: type[Analyzer]) -> float:
    """About how many payload bytes an analyzer reads per second of video (a 16:9 picture at
    30 fps where the spec takes every frame; 16 kHz float32 audio), to order stages by."""
    frames = 0.0 if cls.frames is None else (cls.frames.fps or 30.0) * cls.frames.size**2 * 9 / 16 * 3
    return frames + (64_000.0 if cls.audio else 0.0)


def consumes(cls: type[Analyzer], payload: FrameBatch | AudioTrack | None) -> bool:
    if isinstance(payload, FrameBatch):
        return cls.frames == payload.spec
    return isinstance(payload, AudioTrack) and cls.audio
