"""How a WorkItem travels between Ray processes (actors/base.py), without Ray: each payload is
read in place by the pools that read it and passed on, untouched, by the others."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from probe_analyzers import SPEC, FrameCounter

from actors.base import ModelActor, pack, reference, unpack
from pipeline.analyzer import AudioTrack, FrameBatch, FrameSpec
from pipeline.engine import WorkItem

OTHER = FrameSpec(fps=2, size=960)  # a spec FrameCounter does not read


def frames_item(spec: FrameSpec, seq: int = 0) -> WorkItem:
    frames = np.random.default_rng(seq).integers(0, 255, (3, 36, 64, 3), dtype=np.uint8)
    batch = FrameBatch(spec, seq, np.array([0.0, 0.1, 0.2]), frames, prev_frame=frames[0] + 1, prev_pts_s=-0.1)
    return WorkItem("v", seq, "frames", batch, partials={"earlier": [1, 2]}, until_s=0.2)


def data_range(column: pa.ChunkedArray) -> tuple[int, int]:
    data = column.chunk(0).buffers()[2]
    return data.address, data.address + data.size


def test_a_payload_comes_back_equal_as_read_only_views_of_its_row():
    sent = [frames_item(SPEC), WorkItem("v", 1, "audio", AudioTrack(np.linspace(-1, 1, 801, dtype=np.float32), 16000, 0.5, 0.0, 1.0))]
    sent.append(WorkItem("v", 2, "end", None, source="v.mp4"))
    table = pack(sent)
    assert table.column("reads").to_pylist() == [SPEC.key, "audio", ""]
    assert table.column("items").to_pylist() == [0, 0, 3]  # only the last item says how many there are
    frames, audio, end = unpack(table)
    assert np.array_equal(frames.payload.frames, sent[0].payload.frames)
    assert np.array_equal(frames.payload.prev_frame, sent[0].payload.prev_frame)
    assert frames.payload.pts_s.tolist() == [0.0, 0.1, 0.2] and frames.partials == {"earlier": [1, 2]}
    assert np.array_equal(audio.payload.samples, sent[1].payload.samples) and audio.payload.start_s == 0.5
    assert end.payload is None and end.source == "v.mp4"
    # Not unpickled into new arrays: views of the row's buffers, which a reader cannot change.
    low, high = data_range(table.column("buffers"))
    for array in (frames.payload.frames, frames.payload.prev_frame, audio.payload.samples):
        assert low <= array.ctypes.data < high and not array.flags.writeable
    assert sent[0].payload is not None  # packing leaves the sender's item whole


def test_a_pool_passes_a_payload_it_does_not_read_on_unread():
    actor = ModelActor((reference(FrameCounter),))
    row = pack([frames_item(OTHER)])
    # Its item cannot even be unpickled: a pool that looked at it would fail.
    row = row.set_column(row.schema.get_field_index("item"), "item", pa.array([b"not a pickle"], pa.binary()))
    row = row.append_column("started_at", pa.array([12.5]))
    out = actor(row)
    assert out.equals(row)
    assert data_range(out.column("buffers")) == data_range(row.column("buffers"))  # the same bytes, not a copy


def test_a_reader_adds_its_partial_and_passes_the_payload_on_only_when_a_later_stage_reads_it():
    row = pack([frames_item(SPEC)]).append_column("started_at", pa.array([12.5]))
    keeps = ModelActor((reference(FrameCounter),), later=(reference(FrameCounter),))
    out = keeps(row)
    (item,) = unpack(out)
    assert item.partials["probe_counter"]["n"] == 3 and item.partials["earlier"] == [1, 2]
    assert data_range(out.column("buffers")) == data_range(row.column("buffers"))  # passed on, not copied
    assert out.column("started_at").to_pylist() == [12.5]
    last = ModelActor((reference(FrameCounter),))(row)
    (item,) = unpack(last)
    assert item.payload is None and item.partials["probe_counter"]["n"] == 3
    assert last.column("buffers")[0].as_py() == b"" and last.column("reads")[0].as_py() == ""
