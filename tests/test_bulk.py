"""How a WorkItem travels between Ray processes (actors/base.py): each payload is put in the
object store once, read in place by the pools that read it, and passed on unfetched by the others."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from probe_analyzers import SPEC, FrameCounter
from ray.data.block import BlockAccessor

from actors.base import ModelActor, pack, reference, unpack
from pipeline.analyzer import AudioTrack, FrameBatch, FrameSpec
from pipeline.engine import WorkItem

OTHER = FrameSpec(fps=2, size=960)  # a spec FrameCounter does not read


def frames_item(spec: FrameSpec, seq: int = 0) -> WorkItem:
    frames = np.random.default_rng(seq).integers(0, 255, (3, 36, 64, 3), dtype=np.uint8)
    batch = FrameBatch(spec, seq, np.array([0.0, 0.1, 0.2]), frames, prev_frame=frames[0] + 1, prev_pts_s=-0.1)
    return WorkItem("v", seq, "frames", batch, partials={"earlier": [1, 2]}, until_s=0.2)


class Unreadable:
    """Fetching it fails: a pool that fetched a payload it does not read would raise."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise AssertionError("this payload was fetched")


def test_a_payload_comes_back_equal_as_read_only_views_of_the_object_store(local_ray):
    sent = [frames_item(SPEC), WorkItem("v", 1, "audio", AudioTrack(np.linspace(-1, 1, 801, dtype=np.float32), 16000, 0.5, 0.0, 1.0))]
    sent.append(WorkItem("v", 2, "end", None, source="v.mp4"))
    rows = pack(sent)
    assert rows["reads"].tolist() == [SPEC.key, "audio", ""]
    assert rows["items"].tolist() == [0, 0, 3]  # only the last item says how many there are
    frames, audio, end = unpack(rows)
    assert np.array_equal(frames.payload.frames, sent[0].payload.frames)
    assert np.array_equal(frames.payload.prev_frame, sent[0].payload.prev_frame)
    assert frames.payload.pts_s.tolist() == [0.0, 0.1, 0.2] and frames.partials == {"earlier": [1, 2]}
    assert np.array_equal(audio.payload.samples, sent[1].payload.samples) and audio.payload.start_s == 0.5
    assert end.payload is None and end.source == "v.mp4"
    # Mapped from the object store, not unpickled into new arrays: a reader cannot change them.
    for array in (frames.payload.frames, frames.payload.prev_frame, audio.payload.samples):
        assert not array.flags.writeable and not array.flags.owndata
    assert sent[0].payload is not None  # packing leaves the sender's item whole
    # The row itself is small: the payload is not in it.
    assert len(pickle.dumps(rows.iloc[[0]])) < sent[0].payload.frames.nbytes / 4


def test_a_row_weighs_what_its_payload_keeps_in_the_object_store_for_ray_datas_budget(local_ray):
    """Ray Data backpressures decoding by the bytes its blocks hold; a row holds its payload."""
    item = frames_item(SPEC)
    rows = pack([item])
    held = item.payload.frames.nbytes + item.payload.prev_frame.nbytes
    assert sys.getsizeof(rows["payload"].iat[0]) >= held
    assert held <= BlockAccessor.for_block(rows).size_bytes() < held + 4096


def test_a_pool_passes_a_payload_it_does_not_read_on_unfetched(local_ray):
    actor = ModelActor((reference(FrameCounter),))
    rows = pack([frames_item(OTHER)]).assign(started_at=12.5)
    payload = rows["payload"].iat[0]
    payload.ref = local_ray.put(Unreadable())  # fetching it would fail
    rows.iat[0, rows.columns.get_loc("item")] = b"not a pickle"  # and unpickling its item too
    with pytest.raises(Exception, match="fetched"):  # Ray wraps the error its deserializer met
        unpack(rows.assign(item=[pickle.dumps(frames_item(OTHER))]))
    out = actor(rows)
    assert out.equals(rows) and out["payload"].iat[0] is payload  # the same reference, not a copy


def test_a_reader_adds_its_partial_and_passes_the_payload_on_only_when_a_later_stage_reads_it(local_ray):
    rows = pack([frames_item(SPEC)]).assign(started_at=12.5)
    keeps = ModelActor((reference(FrameCounter),), later=(reference(FrameCounter),))
    out = keeps(rows)
    (item,) = unpack(out)
    assert item.partials["probe_counter"]["n"] == 3 and item.partials["earlier"] == [1, 2]
    assert out["payload"].iat[0] is rows["payload"].iat[0]  # passed on, not put again
    assert out["started_at"].tolist() == [12.5]
    last = ModelActor((reference(FrameCounter),))(rows)
    (item,) = unpack(last)
    assert item.payload is None and item.partials["probe_counter"]["n"] == 3
    assert last["payload"].iat[0] is None and last["reads"].iat[0] == ""
