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
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

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


def reference(cls: type) -> str:
    """A class as a small importable string: what actor constructors receive."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(ref: str) -> type:
    module, _, qualname = ref.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


# How a WorkItem travels between Ray processes: one Arrow row. Its small part (ids, partials,
# outcomes) is pickled in `item`; its payload's pickle (protocol 5) keeps the arrays out of band:
# `payload` holds the pickle without them and where each array lies in `buffers`, the arrays'
# bytes side by side. A reader rebuilds them as read-only views of the block it was given (in the
# object store: zero copy on the same node); a pool that does not read the payload passes both
# columns on without touching them (`reads` says whose payload it is), and one that reads it and
# keeps it for a later stage passes them on too. The columns before `item` are plain values the
# runners read without unpickling anything.
ALIGN = 64  # each array starts on a cache line, as numpy and Arrow align their own
ROW_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("seq", pa.int64()),
        ("kind", pa.string()),  # WorkItem.kind: "frames", "audio" or "end" (a progress feed's)
        ("items", pa.int64()),  # on a video's last item: how many items the video has; else 0
        ("until_s", pa.float64()),
        ("reads", pa.string()),  # payload_key() of the payload, "" when there is none
        ("item", pa.binary()),
        ("payload", pa.binary()),
        ("buffers", pa.large_binary()),
    ]
)


def payload_key(payload: FrameBatch | AudioTrack | None) -> str:
    """Which readers a payload is for: a FrameSpec's key, "audio", or "" for none."""
    if isinstance(payload, FrameBatch):
        return payload.spec.key
    return "audio" if isinstance(payload, AudioTrack) else ""


def _payload_cells(payload: FrameBatch | AudioTrack | None) -> tuple[bytes, list[memoryview | bytes]]:
    """The payload's pickle without its arrays (and where each lies), and the arrays' bytes."""
    if payload is None:
        return b"", []
    arrays: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(payload, protocol=5, buffer_callback=arrays.append)
    layout, chunks, at = [], [], 0
    for array in arrays:
        view = array.raw()
        pad = -at % ALIGN
        chunks += [bytes(pad), view]
        layout.append((at + pad, view.nbytes))
        at += pad + view.nbytes
    return pickle.dumps((meta, layout)), [*chunks, bytes(-at % ALIGN)]  # the next row starts aligned too


def _buffers_column(cells: list[list[memoryview | bytes]]) -> pa.Array:
    """One large_binary column over the arrays of every row: their one copy, into Arrow."""
    sizes = [sum(len(c) if isinstance(c, bytes) else c.nbytes for c in row) for row in cells]
    offsets = pa.py_buffer(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64))
    data = pa.py_buffer(b"".join(chunk for row in cells for chunk in row))
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(cells), [None, offsets, data])


def pack(items: list[WorkItem]) -> pa.Table:
    rows: dict[str, list] = {name: [] for name in ROW_SCHEMA.names}
    for item in items:
        payload, item.payload = item.payload, None
        try:
            rows["item"].append(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        finally:
            item.payload = payload
        meta, chunks = _payload_cells(payload)
        rows["payload"].append(meta)
        rows["buffers"].append(chunks)
        rows["video_id"].append(item.video_id)
        rows["seq"].append(item.seq)
        rows["kind"].append(item.kind)
        rows["items"].append(item.seq + 1 if item.kind == "end" else 0)
        rows["until_s"].append(item.until_s)
        rows["reads"].append(payload_key(payload))
    rows["buffers"] = _buffers_column(rows["buffers"])
    return pa.Table.from_pydict(rows, schema=ROW_SCHEMA)


def _payload(table: pa.Table, row: int) -> FrameBatch | AudioTrack | None:
    meta = table.column("payload")[row].as_py()
    if not meta:
        return None
    pickled, layout = pickle.loads(meta)
    blob = _cell(table.column("buffers"), row)
    return pickle.loads(pickled, buffers=[blob.slice(start, size) for start, size in layout])


def _cell(column: pa.ChunkedArray, row: int) -> pa.Buffer:
    """A large_binary cell as a view of the column's data (a scalar's as_buffer() copies)."""
    for chunk in column.chunks:
        if row < len(chunk):
            offsets = np.frombuffer(chunk.buffers()[1], np.int64, count=2, offset=8 * (chunk.offset + row))
            return chunk.buffers()[2].slice(int(offsets[0]), int(offsets[1] - offsets[0]))
        row -= len(chunk)
    raise IndexError(row)


def unpack(table: pa.Table) -> list[WorkItem]:
    items = []
    for row in range(table.num_rows):
        item = pickle.loads(table.column("item")[row].as_py())
        item.payload = _payload(table, row)
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

    def __call__(self, batch: pa.Table) -> pa.Table:
        """One row out per row in, other columns (the runner's) passed on. Rows whose payload
        these analyzers do not read pass as they came, unread."""
        rows = []
        for row in range(batch.num_rows):
            one = batch.slice(row, 1)
            if one.column("reads")[0].as_py() not in self.reads:
                rows.append(one)
                continue
            (item,) = unpack(one)
            frames = len(item.payload.frames) if isinstance(item.payload, FrameBatch) else 0
            before = dict(item.seconds)
            kept = self.stage(item).payload is not None
            metrics.record_stage(before, item.seconds, frames, "model")
            done = pack([item]) if not kept else _with_item(pack([_bare(item)]), one)
            rows.append(_replace(one, done))
        return pa.concat_tables(rows) if rows else batch


def _bare(item: WorkItem) -> WorkItem:
    """The item without its payload, which travels on in the row it came in."""
    from dataclasses import replace

    return replace(item, payload=None)


def _with_item(packed: pa.Table, came: pa.Table) -> pa.Table:
    """`packed`'s item, `came`'s payload (unchanged, so not copied here)."""
    for name in ("reads", "payload", "buffers"):
        packed = packed.set_column(packed.schema.get_field_index(name), name, came.column(name))
    return packed


def _replace(row: pa.Table, packed: pa.Table) -> pa.Table:
    """The row with its WorkItem columns from `packed`, the runner's other columns as they were."""
    for name in ROW_SCHEMA.names:
        row = row.set_column(row.schema.get_field_index(name), name, packed.column(name))
    return row
