"""The bulk path on the test session's local Ray: each video is finalized, and its result file
written, by a Ray actor, not the driver; the driver only learns what a progress line needs, and
a long manifest streams its first results before the rest has been looked at."""

from __future__ import annotations

import os
import time

from probe_analyzers import SPEC, FrameCounter
from pydantic import ConfigDict

from pipeline.analyzer import Analyzer, Findings
from pipeline.engine import Plan, VideoRequest
from pipeline.runners import ray_data
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status, Summary, VideoResult


class WhereSummary(Summary):
    model_config = ConfigDict(extra="forbid")
    finalized_in: int  # the process id that ran finalize


class FinalizedWhere(Analyzer):
    """Says which process finalized it."""

    name = "probe_finalized_where"
    frames = SPEC
    in_decoder = True
    summary_type = WhereSummary

    def process_frames(self, batch):
        return len(batch.frames)

    def finalize(self, partials, context):
        return Findings(summary=WhereSummary(finalized_in=os.getpid()))


def test_each_result_file_is_written_by_the_actor_that_finalizes_its_video(local_ray, sample_clip, tmp_path):
    plan = Plan(analyzers=(FinalizedWhere, FrameCounter), unavailable={})
    requests = [VideoRequest("a", str(sample_clip)), VideoRequest("missing", str(tmp_path / "missing.mp4"))]
    finished = {f.id: f for f in ray_data.run_to_files(requests, plan, tmp_path)}
    assert set(finished) == {"a", "missing"}
    assert (finished["a"].status, finished["a"].source, finished["a"].duration_s) == (Status.ok, str(sample_clip), 10.0)
    assert finished["missing"].status == Status.failed and "no such file" in finished["missing"].error
    written = VideoResult.model_validate_json((tmp_path / "a.json").read_text())
    assert written.analyzers["probe_counter"].summary.frames == 300  # the model stage's partials reached it
    assert written.analyzers["probe_finalized_where"].summary.finalized_in != os.getpid()  # not the driver
    assert VideoResult.model_validate_json((tmp_path / "missing.json").read_text()).status == Status.failed
    (shown,) = ray_data.run(requests[:1], plan)  # `reelscope analyze` gets the whole result back
    assert shown.analyzers["probe_counter"].summary.frames == 300


def object_store_bytes(ray) -> int:
    from ray._private.internal_api import get_memory_info_reply, get_state_from_address

    return get_memory_info_reply(get_state_from_address(ray.get_runtime_context().gcs_address)).store_stats.object_store_bytes_used


def test_the_payloads_a_run_put_in_the_object_store_are_freed_as_it_ends(local_ray, sample_clip, tmp_path):
    """Rows carry references to their payloads: when the last row that refers to one is gone, so
    is the payload (references pickled out of Ray's sight would pin every one for good)."""
    plan = Plan(analyzers=(FrameCounter,), unavailable={})
    before = object_store_bytes(local_ray)
    finished = list(ray_data.run_to_files([VideoRequest(f"v{i}", str(sample_clip)) for i in range(3)], plan, tmp_path))
    assert [f.status for f in finished] == [Status.ok] * 3
    put = 3 * 300 * 64 * 36 * 3  # the frames of SPEC (64 x 36) of its 300 frames, three times
    deadline = time.monotonic() + 10
    while object_store_bytes(local_ray) - before > put / 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert object_store_bytes(local_ray) - before <= put / 20


def test_a_poison_video_in_a_bulk_run_costs_only_itself(local_ray, tmp_path):
    """Its decode worker dies on it every time (each retry too), taking the payloads it had put
    for other videos with it; the videos before and after it, on the same workers, come out
    whole (those run once more), and its result file says why it failed."""
    from probe_analyzers import KillsItsWorker

    good = write_clip(str(tmp_path / "good.mp4"), ClipSpec(shots=(Shot(0.5, seed=2),), width=64, height=64, audio=None))
    poison = write_clip(str(tmp_path / "poison.mp4"), ClipSpec(shots=(Shot(0.5, color=(255, 0, 255)),), width=64, height=64, audio=None))
    requests = [VideoRequest(f"v{i}", good) for i in range(12)]
    requests.insert(5, VideoRequest("poison", poison))
    plan = Plan(analyzers=(KillsItsWorker, FrameCounter), unavailable={})
    finished = {f.id: f for f in ray_data.run_to_files(requests, plan, tmp_path)}
    assert sorted(finished) == sorted(r.video_id for r in requests)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(finished)
    assert finished["poison"].status == Status.failed and "WorkerCrashedError" in finished["poison"].error
    for video_id in finished.keys() - {"poison"}:
        assert finished[video_id].status == Status.ok, finished[video_id]
        assert VideoResult.model_validate_json((tmp_path / f"{video_id}.json").read_text()).analyzers["probe_counter"].summary.frames == 15


class SlowCounter(FrameCounter):
    """A model slower than decoding: decoded payloads wait for it in the object store."""

    name = "probe_slow_counter"

    def process_frames(self, batch):
        time.sleep(0.3)
        return super().process_frames(batch)


def test_videos_whose_payloads_died_with_a_poison_videos_decoder_are_analysed_again(local_ray, tmp_path):
    """The decoder that dies on the poison video owned the payloads it had put for the videos it
    decoded before, still queued for the slow model: those come out whole all the same."""
    from probe_analyzers import KillsItsWorker

    good = write_clip(str(tmp_path / "good.mp4"), ClipSpec(shots=(Shot(3.0, seed=2),), width=64, height=64, audio=None))
    poison = write_clip(str(tmp_path / "poison.mp4"), ClipSpec(shots=(Shot(0.5, color=(255, 0, 255)),), width=64, height=64, audio=None))
    requests = [*(VideoRequest(f"v{i}", good) for i in range(8)), VideoRequest("poison", poison)]
    plan = Plan(analyzers=(KillsItsWorker, SlowCounter), unavailable={})
    finished = {f.id: f for f in ray_data.run_to_files(requests, plan, tmp_path)}
    assert finished["poison"].status == Status.failed and "WorkerCrashedError" in finished["poison"].error
    for video_id in finished.keys() - {"poison"}:
        assert finished[video_id].status == Status.ok, finished[video_id]
        assert VideoResult.model_validate_json((tmp_path / f"{video_id}.json").read_text()).analyzers["probe_slow_counter"].summary.frames == 90


def test_a_ten_thousand_video_manifest_streams_its_first_result_within_a_minute(local_ray, tmp_path):
    clip = write_clip(str(tmp_path / "tiny.mp4"), ClipSpec(shots=(Shot(0.5, seed=1),), width=64, height=64, audio=None))
    requests = []
    for i in range(10_000):  # distinct files, as a manifest lists them
        link = tmp_path / f"v{i:05d}.mp4"
        link.symlink_to(clip)
        requests.append(VideoRequest(f"v{i:05d}", str(link)))
    plan = Plan(analyzers=(FinalizedWhere,), unavailable={})
    start = time.monotonic()
    stream = ray_data.run_to_files(requests, plan, tmp_path)
    first = next(stream)
    waited = time.monotonic() - start
    stream.close()
    assert first.status == Status.ok and (tmp_path / f"{first.id}.json").exists()
    assert waited < 60, f"the first of 10,000 videos took {waited:.1f} s"
