"""The units every runner chains: decode (with the in-decoder analyzers), analyzer stages, assembly.

    VideoRequest -> DecodeStage -> WorkItem* -> AnalyzerStage* -> Assembler -> VideoResult

A WorkItem is one FrameBatch or the AudioTrack of one video, plus the partial outputs the
analyzers have produced from it so far; the last item of every video carries its VideoInfo
and how many items came before it, so the assembler knows when a video is complete however
the items were reordered on the way. Nothing here imports Ray: `run_local` chains the stages
in this process, `pipeline.ray_runner` chains the same objects as Ray Data operators, and
`pipeline.serve_runner` sends them through Ray Serve deployments.
"""

from __future__ import annotations

import re
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.analyzer import Analyzer, AudioTrack, Context, FrameBatch, FrameSpec, Partials, Skip
from pipeline.decode import Decoder, MediaError
from pipeline.models import WeightsError
from pipeline.registry import ALL_NAMES, resolve
from pipeline.schema import AnalyzerResult, ModelUsed, SegmentData, Status, Summary, VideoInfo, VideoResult
from pipeline.settings import Settings


IN_FLIGHT_BATCHES = 2  # decoded batches waiting for the in-decoder analyzers: bounds memory


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
class WorkItem:
    video_id: str
    seq: int  # order of emission by the decoder, from 0
    kind: str  # "frames", "audio", or "end": the last item of a video
    payload: FrameBatch | AudioTrack | None
    partials: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)  # analyzer -> "skip: …" / "fail: …"
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, list[ModelUsed]] = field(default_factory=dict)  # analyzer -> the models it ran here
    # The analyzers this item is for (None: every one that reads its payload): a runner whose
    # workers hold more analyzers than one request asked for (Serve) names the requested ones.
    wanted: frozenset[str] | None = None
    until_s: float = 0.0  # video time the payload reaches: a runner's progress, after the payload is gone
    # Only on the "end" item:
    source: str = ""
    info: VideoInfo | None = None
    error: str | None = None
    decode_s: float = 0.0


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
                    for weights in analyzer.weights:
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
        return [tuple(group) for group in groups.values()]

    @property
    def frame_specs(self) -> list[FrameSpec]:
        return list(dict.fromkeys(a.frames for a in self.analyzers if a.frames is not None))

    @property
    def wants_audio(self) -> bool:
        return any(a.audio for a in self.analyzers)


def stage_name(stage: tuple[type[Analyzer], ...]) -> str:
    """What a stage (one worker pool or deployment) is called: its model family, else its analyzer."""
    from actors import actor_class

    actor = actor_class(stage)
    return actor.family if actor.family else stage[0].name


def consumes(cls: type[Analyzer], payload: FrameBatch | AudioTrack | None) -> bool:
    if isinstance(payload, FrameBatch):
        return cls.frames == payload.spec
    return isinstance(payload, AudioTrack) and cls.audio


def _shipped(item: WorkItem, readers: Iterable[type[Analyzer]]) -> WorkItem:
    """The item, its payload dropped unless one of `readers` (the stages still ahead) reads it."""
    if not any(consumes(a, item.payload) for a in readers):
        item.payload = None
    return item


class _Runner:
    """Sets analyzers up once and runs their process steps with failures contained per analyzer.
    Analyzers hosted by a model family's actor share one Runtime: it loads each one's models and
    answers each batch once for all of them (`predict`), and each analyzer reads its part."""

    def __init__(self, classes: Iterable[type[Analyzer]], settings: Settings) -> None:
        from actors import runtime_of

        self.instances: dict[str, Analyzer] = {}
        self.setup_outcome: dict[str, str] = {}
        self.runtimes: dict[str, Any] = {}  # analyzer -> its family's Runtime (one instance per family)
        built: dict[type, Any] = {}
        for cls in classes:
            instance = cls(settings)
            runtime_cls = runtime_of(cls)
            try:
                if runtime_cls is not None:
                    if runtime_cls not in built:
                        built[runtime_cls] = runtime_cls(settings)
                    self.runtimes[cls.name] = built[runtime_cls]
                    built[runtime_cls].load(instance)
                instance.setup()
            except Skip as exc:
                self.setup_outcome[cls.name] = f"skip: {exc}"
            except WeightsError as exc:  # its message is the one line: path, expected, found, fix
                self.setup_outcome[cls.name] = f"fail: {exc}"
            except Exception as exc:  # a broken model must not take the worker down
                self.setup_outcome[cls.name] = f"fail: setup: {one_line(exc)}"
            self.instances[cls.name] = instance

    def process(self, item: WorkItem) -> None:
        ready = []
        for name, analyzer in self.instances.items():
            if not consumes(type(analyzer), item.payload) or name in item.outcomes:
                continue
            if item.wanted is not None and name not in item.wanted:
                continue
            if name in self.setup_outcome:
                item.outcomes[name] = self.setup_outcome[name]
                continue
            ready.append(name)
        predicted = self._predict(item, ready)
        for name in ready:
            if name in item.outcomes:  # its family's shared pass failed
                continue
            analyzer = self.instances[name]
            runtime = self.runtimes.get(name)
            item.models[name] = [*(runtime.models_used.get(name, []) if runtime else []), *analyzer.models_used]
            start = time.perf_counter()
            try:
                if isinstance(item.payload, FrameBatch):
                    args = (item.payload, predicted[id(runtime)]) if runtime else (item.payload,)
                    item.partials[name] = analyzer.process_frames(*args)
                else:
                    args = (item.payload, predicted[id(runtime)]) if runtime else (item.payload,)
                    item.partials[name] = analyzer.process_audio(*args)
            except Skip as exc:
                item.outcomes[name] = f"skip: {exc}"
            except Exception as exc:
                item.outcomes[name] = f"fail: {one_line(exc)}"
            item.seconds[name] = item.seconds.get(name, 0.0) + time.perf_counter() - start

    def _predict(self, item: WorkItem, ready: list[str]) -> dict[int, Any]:
        """Each family's one pass over the payload for its ready analyzers; its time is shared
        among them. A pass that raises fails those analyzers for this video."""
        families: dict[int, tuple[Any, list[str]]] = {}
        for name in ready:
            if name in self.runtimes:
                families.setdefault(id(self.runtimes[name]), (self.runtimes[name], []))[1].append(name)
        predicted = {}
        for key, (runtime, names) in families.items():
            start = time.perf_counter()
            try:
                predicted[key] = runtime.predict(item.payload, frozenset(names))
            except Exception as exc:
                for name in names:
                    item.outcomes[name] = f"fail: {runtime.name}: {one_line(exc)}"
            share = (time.perf_counter() - start) / len(names)
            for name in names:
                item.seconds[name] = item.seconds.get(name, 0.0) + share
        return predicted


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {text[0] if text else ''}{at}"


class DecodeStage:
    """Decodes one video once, runs the in-decoder analyzers on the frames in order, and emits
    WorkItems for the analyzer stages. A video that cannot be read yields only its final item,
    with the error."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.runner = _Runner(plan.in_decoder, plan.settings)
        self.later = tuple(a for a in plan.analyzers if not a.in_decoder)

    def __call__(self, request: VideoRequest) -> Iterator[WorkItem]:
        start = time.perf_counter()
        seq = 0
        decoder = None
        error = None
        # The analyzers work on batch n in a second thread while this one decodes batch n+1: both
        # are mostly FFmpeg / OpenCV / numpy, which release the GIL. One thread keeps them in order.
        in_flight: deque[tuple[WorkItem, Future]] = deque()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="in-decoder") as analyzers:
                decoder = Decoder(request.path, self.plan.frame_specs, self.plan.wants_audio)
                for payload in decoder:
                    if isinstance(payload, FrameBatch):
                        item = WorkItem(request.video_id, seq, "frames", payload, until_s=float(payload.pts_s[-1]))
                    else:
                        item = WorkItem(request.video_id, seq, "audio", payload, until_s=payload.start_s + payload.duration_s)
                    in_flight.append((item, analyzers.submit(self.runner.process, item)))
                    seq += 1
                    if len(in_flight) > IN_FLIGHT_BATCHES:
                        yield self._done(*in_flight.popleft())
                while in_flight:
                    yield self._done(*in_flight.popleft())
        except MediaError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug on one file must not end the run
            error = f"decode failed: {one_line(exc)}"
        yield WorkItem(
            request.video_id,
            seq,
            "end",
            None,
            source=request.path,
            info=decoder.info if decoder is not None else None,
            error=error,
            decode_s=time.perf_counter() - start,
        )

    def _done(self, item: WorkItem, processed: Future) -> WorkItem:
        processed.result()  # _Runner.process contains analyzer errors: this only waits
        return _shipped(item, self.later)


class AnalyzerStage:
    """Runs some analyzers' process steps on WorkItems; the unit an actor pool wraps."""

    def __init__(
        self, analyzers: tuple[type[Analyzer], ...], later: tuple[type[Analyzer], ...] = (), settings: Settings | None = None
    ) -> None:
        self.runner = _Runner(analyzers, settings if settings is not None else Settings())
        self.later = later

    def __call__(self, item: WorkItem) -> WorkItem:
        if item.payload is None:
            return item
        self.runner.process(item)
        return _shipped(item, self.later)


class Assembler:
    """Collects the WorkItems of each video, in any order, and finalizes a video once all of its
    items have arrived."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # video_id -> seq -> item: a retried task may deliver an item twice.
        self.pending: dict[str, dict[int, WorkItem]] = {}
        self.analyzers = {a.name: a for a in plan.build_analyzers(plan.analyzers)}

    def add(self, item: WorkItem) -> VideoResult | None:
        items = self.pending.setdefault(item.video_id, {})
        items[item.seq] = item
        final = next((i for i in items.values() if i.kind == "end"), None)
        if final is None or len(items) < final.seq + 1:
            return None
        del self.pending[item.video_id]
        return self.finalize([items[seq] for seq in range(final.seq + 1)])

    def abandon(self, request: VideoRequest, error: str) -> VideoResult:
        """The result for a video whose items stopped coming (its worker died)."""
        self.pending.pop(request.video_id, None)
        return VideoResult(id=request.video_id, source=request.path, status=Status.failed, error=error)

    def finalize(self, items: list[WorkItem]) -> VideoResult:
        """elapsed_s: the decoding pass (decode and in-decoder analyzers) plus assembly here."""
        start = time.perf_counter()
        final = items[-1]
        identity = {"id": final.video_id, "source": final.source}
        if final.error or final.info is None:
            return VideoResult(
                **identity, status=Status.failed, error=final.error, video=final.info, elapsed_s=final.decode_s
            )
        info = final.info
        # Analyzers that could not run here are known before any finalize reads the results.
        results = {name: AnalyzerResult.skipped(reason) for name, reason in self.plan.unavailable.items()}
        results |= {name: AnalyzerResult.failed(error) for name, error in self.plan.broken.items()}
        for name, cls in self.analyzers.items():
            results[name] = self._finalize_one(cls, items, info, results)
        return VideoResult(
            **identity,
            video=info,
            elapsed_s=round(final.decode_s + time.perf_counter() - start, 4),
            analyzers={name: results[name] for name in sorted(results, key=_contract_order)},
        )

    def _finalize_one(
        self, analyzer: Analyzer, items: list[WorkItem], info: VideoInfo, results: dict[str, AnalyzerResult]
    ) -> AnalyzerResult:
        name = analyzer.name
        missing = analyzer.missing_input(info)
        if missing:
            return AnalyzerResult.skipped(missing)
        partials = Partials()
        spent = 0.0
        models: list[ModelUsed] = []
        for item in items:
            spent += item.seconds.get(name, 0.0)
            models = models or item.models.get(name, [])
            outcome = item.outcomes.get(name)
            if outcome is not None:
                kind, _, text = outcome.partition(": ")
                if kind == "skip":
                    return AnalyzerResult.skipped(text)
                return AnalyzerResult.failed(text, elapsed_s=spent)
            if name in item.partials:
                if item.kind == "audio":
                    partials.audio = item.partials[name]
                else:
                    partials.frames.append(item.partials[name])
        start = time.perf_counter()
        try:
            findings = analyzer.finalize(partials, Context(video=info, results=results))
        except Skip as exc:
            return AnalyzerResult.skipped(str(exc))
        except Exception as exc:
            return AnalyzerResult.failed(one_line(exc), elapsed_s=spent + time.perf_counter() - start)
        wrong = _wrong_types(analyzer, findings)
        if wrong:
            return AnalyzerResult.failed(wrong, elapsed_s=spent + time.perf_counter() - start)
        return AnalyzerResult(
            status=Status.ok,
            elapsed_s=round(spent + time.perf_counter() - start, 4),
            models=models,
            segments=findings.segments,
            summary=findings.summary,
        )


def _wrong_types(analyzer: Analyzer, findings) -> str | None:
    """Why finalize's output is not of the types the analyzer declares (the published schema)."""
    declared = analyzer.summary_type
    if declared is not Summary and not isinstance(findings.summary, declared):
        return f"finalize returned a {type(findings.summary).__name__} summary, not its declared {declared.__name__}"
    data = analyzer.segment_type
    if data is not SegmentData:
        for segment in findings.segments:
            if not isinstance(segment.data, data):
                return f"a {segment.label!r} segment holds {type(segment.data).__name__}, not its declared {data.__name__}"
    return None


def _contract_order(name: str) -> int:
    """Results in the order of the output contract; analyzers outside it last."""
    return ALL_NAMES.index(name) if name in ALL_NAMES else len(ALL_NAMES)


def run_local(requests: list[VideoRequest], plan: Plan) -> Iterator[VideoResult]:
    """Every stage in this process, in order: for tests, and for callers without Ray."""
    decode = DecodeStage(plan)
    stages = plan.stages
    chain = [
        AnalyzerStage(s, tuple(a for later in stages[i + 1 :] for a in later), plan.settings) for i, s in enumerate(stages)
    ]
    assembler = Assembler(plan)
    for request in requests:
        for item in decode(request):
            for stage in chain:
                item = stage(item)
            result = assembler.add(item)
            if result is not None:
                yield result
