"""What a model family is: a Runtime (its models, loaded once per worker) and the Ray actor class
that hosts it.

A Runtime knows nothing of Ray. Built with the run's settings inside the worker that will run
it, it loads what each analyzer it serves needs (`load`), picks device and dtype through
`actors.device`, warms up, and answers one batch for all of its analyzers at once (`predict`:
the ultralytics shape, preprocess -> infer -> postprocess), so analyzers of one family share one
forward pass explicitly. The analyzers (pipeline/analyzers/) keep only the analysis: what they
make of the runtime's output for a batch (`process_frames(batch, predicted)`), and `finalize`.

The actor class (`ModelActor` subclass, one per family module) names the analyzers it serves;
the same class is a Ray Data `map_batches` actor and a Ray Serve deployment. It is built with
small arguments (analyzer references and the settings) and resolves the classes inside the
actor, so nothing large sits in the object store behind a restartable actor.
"""

from __future__ import annotations

import importlib
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from pipeline import metrics
from pipeline.analyzer import AudioTrack, FrameBatch
from pipeline.schema import ModelUsed
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.analyzer import Analyzer
    from pipeline.engine import WorkItem


class Runtime(ABC):
    """One model family's models in one worker, shared by the analyzers it serves."""

    name: ClassVar[str]  # the family: a stage's name (Serve deployment key, metrics tag)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models_used: dict[str, list[ModelUsed]] = {}  # analyzer -> models loaded for it

    @abstractmethod
    def load(self, analyzer: Analyzer) -> None:
        """Load (once) what `analyzer` needs; record each model in `self.models_used[name]`.
        Raises Skip (weights missing) or WeightsError (weights wrong) for that analyzer only."""

    @abstractmethod
    def predict(self, payload: FrameBatch | AudioTrack, analyzers: frozenset[str]) -> Any:
        """One pass over one batch for the named (loaded) analyzers: what each of them reads."""


def parts(counts: Iterable[int]) -> list[slice]:
    """Each payload's part of a `predict_many` pass's joined output, from how many entries each
    payload put in, in order."""
    found, first = [], 0
    for count in counts:
        found.append(slice(first, first + count))
        first += count
    return found


def reference(cls: type) -> str:
    """A class as a small importable string: what actor constructors receive."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(ref: str) -> type:
    module, _, qualname = ref.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


# How a WorkItem travels between Ray processes: one row of a pandas block. Its small part (ids,
# partials, outcomes) is pickled in `item`; its payload is put in the object store once, where it
# was decoded, and the row holds a reference to it (`payload`, a Payload). A pool whose analyzers
# read it maps it in place (numpy arrays come back as read-only views of the object store: zero
# copy on the same node); every other pool passes the reference on without fetching it, so a
# payload is written once however many pools its row goes through. The columns before `item`
# are plain values the runners read without unpickling anything.
#
# The blocks stay pandas (the runner turns DataContext.batch_to_block_arrow_format off): Ray
# serializes a pandas block's references in band, so it counts them and frees a payload once no
# row refers to it; an Arrow block would pickle them out of band, which pins every payload for good.
COLUMNS = ("video_id", "seq", "kind", "items", "until_s", "reads", "lost", "item", "payload")
# kind: WorkItem.kind ("frames", "audio" or "end": a progress feed's); items: on a video's last
# item, how many items the video has, else 0; reads: payload_key() of the payload, "" for none;
# lost: the payload was gone before a pool that reads it could (PayloadLost), so the item lacks
# those analyzers' partials: the runner analyses the video again or fails it, never finalizes it.


class PayloadLost(Exception):
    """A payload left the object store before it was read: the process that put it there (its
    owner: the decode worker) or the node that held it died."""


class Payload:
    """A WorkItem's payload in the object store, owned by the process that put it there. Ray
    Data sizes a pandas block's objects with sys.getsizeof: a Payload's is its payload's bytes,
    so the object-store budget that backpressures decoding counts what a queued row keeps alive."""

    def __init__(self, payload: FrameBatch | AudioTrack) -> None:
        import ray

        self.ref = ray.put(payload)
        arrays = (payload.frames, payload.prev_frame) if isinstance(payload, FrameBatch) else (payload.samples, payload.channels)
        self.nbytes = sum(a.nbytes for a in arrays if a is not None)

    def __sizeof__(self) -> int:
        return self.nbytes

    def get(self) -> FrameBatch | AudioTrack:
        import ray
        from ray.exceptions import ObjectLostError

        try:
            return ray.get(self.ref)
        except ObjectLostError as exc:  # OwnerDiedError among them
            raise PayloadLost(f"{type(exc).__name__}: the payload's owner or node died") from None


def payload_key(payload: FrameBatch | AudioTrack | None) -> str:
    """Which readers a payload is for: a FrameSpec's key, "audio", or "" for none."""
    if isinstance(payload, FrameBatch):
        return payload.spec.key
    return "audio" if isinstance(payload, AudioTrack) else ""


def _cells(item: WorkItem, payload: Payload | None) -> dict[str, Any]:
    """The item's row; its payload is `payload` (already in the object store, or None)."""
    kept, item.payload = item.payload, None
    try:
        pickled = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        item.payload = kept
    return {
        "video_id": item.video_id, "seq": item.seq, "kind": item.kind,
        "items": item.seq + 1 if item.kind == "end" else 0, "until_s": item.until_s,
        "reads": payload_key(kept) if payload is not None else "", "lost": False, "item": pickled, "payload": payload,
    }  # fmt: skip


def pack(items: list[WorkItem]) -> pd.DataFrame:
    """The items as rows, each payload put in the object store (by this process)."""
    rows = [_cells(item, Payload(item.payload) if item.payload is not None else None) for item in items]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def unpack(rows: pd.DataFrame) -> list[WorkItem]:
    items = []
    for pickled, payload in zip(rows["item"], rows["payload"]):
        item = pickle.loads(pickled)
        item.payload = payload.get() if payload is not None else None
        items.append(item)
    return items


class ModelActor:
    """Runs some analyzers' process steps; payloads no later stage reads are dropped here.

    Subclasses name their family, its Runtime, and the analyzers they serve; this base class
    hosts, one pool each, the analyzers that no family serves."""

    family: ClassVar[str | None] = None
    runtime: ClassVar[type[Runtime] | None] = None  # None: the analyzers load what they need in setup()
    serves: ClassVar[tuple[str, ...] | None] = None  # None: any analyzer of no family

    def __init__(self, analyzers: tuple[str, ...], later: tuple[str, ...] = (), settings: Settings | None = None) -> None:
        from pipeline.engine import AnalyzerStage

        classes = tuple(resolve(ref) for ref in analyzers)
        strangers = [c.name for c in classes if self.serves is not None and c.name not in self.serves]
        if strangers:
            raise TypeError(f"{type(self).__name__} serves {', '.join(self.serves)}, not {', '.join(strangers)}")
        self.stage = AnalyzerStage(classes, tuple(resolve(ref) for ref in later), settings)

        self.reads = {a.frames.key for a in classes if a.frames is not None} | ({"audio"} if any(a.audio for a in classes) else set())

    def runtimes(self) -> list[Runtime]:
        """The Runtimes this actor built, one per family (none for the plain ModelActor)."""
        return list({id(r): r for r in self.stage.runner.runtimes.values()}.values())

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """One row out per row in, other columns (the runner's) passed on. Rows whose payload
        these analyzers do not read pass as they came, their payload not fetched."""
        out = batch.copy()  # a new frame over the same cells: the payloads are references
        for row in range(len(batch)):
            if batch["reads"].iat[row] not in self.reads:
                continue
            try:
                (item,) = unpack(batch.iloc[[row]])
            except PayloadLost:
                for name, value in (("reads", ""), ("lost", True), ("payload", None)):
                    out.iat[row, out.columns.get_loc(name)] = value
                continue
            frames = len(item.payload.frames) if isinstance(item.payload, FrameBatch) else 0
            before = dict(item.seconds)
            kept = self.stage(item).payload is not None
            metrics.record_stage(before, item.seconds, frames, "model")
            cells = _cells(item, batch["payload"].iat[row] if kept else None)  # the same payload, not a copy
            for name in ("reads", "item", "payload"):
                out.iat[row, out.columns.get_loc(name)] = cells[name]
        return out
