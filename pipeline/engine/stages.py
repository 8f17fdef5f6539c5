"""The units that do the work: DecodeStage (one decode per video, the in-decoder analyzers on its
frames) and AnalyzerStage (an actor pool's or deployment's analyzers), both emitting WorkItems."""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipeline.analyzer import Analyzer, AudioTrack, FrameBatch, Skip
from pipeline.engine.decode import Decoder, MediaError
from pipeline.engine.plan import Plan, VideoRequest, consumes
from pipeline.models import WeightsError
from pipeline.schema import ModelUsed, VideoInfo
from pipeline.settings import Settings

IN_FLIGHT_BATCHES = 2  # decoded batches waiting for the in-decoder analyzers: bounds memory


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
            step = analyzer.process_frames if isinstance(item.payload, FrameBatch) else analyzer.process_audio
            args = (item.payload, predicted[id(runtime)]) if runtime else (item.payload,)
            try:
                item.partials[name] = step(*args)
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


_decode_stages: dict[tuple[str, ...], DecodeStage] = {}


def decode_stage(plan: Plan) -> DecodeStage:
    """One set-up DecodeStage per worker process and plan: a warm worker (a Ray task's, reused
    for the next video) skips setup()."""
    if plan.key not in _decode_stages:
        _decode_stages[plan.key] = DecodeStage(plan)
    return _decode_stages[plan.key]


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
