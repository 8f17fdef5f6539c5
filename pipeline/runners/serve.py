"""The engine's units behind Ray Serve: one video per request, the model families as deployments.

    request -> decode task (DecodeStage, a Ray streaming generator) -> WorkItem*
            --deployment handles, every family that reads the item at once--> Assembler -> VideoResult

The plan each request runs carries the server's settings: the decode task builds its analyzers
with them, as `serve_families.family_deployments` built the families'.

Decoding and the in-decoder analyzers run in a Ray task, not in the ingress replica: a native
crash on one file (FFmpeg, PyAV) ends that task's worker, and costs that request a 422, never
the ingress, other requests or jobs. Warm task workers keep their set-up DecodeStages
(`engine.decode_stage`), as the Ray Data graph's do.

The Ray Data graph chains its model stages; here the ingress puts each payload in the object
store once (actors/base.py) and sends the item to all the families that read it at the same
time: their process steps are independent (`after` orders only finalize), so a batch costs its
slowest family rather than the sum. Each family deployment is an `actors` class built with no
later readers, so replies come back without the frames. `Jobs` is the deployment that keeps
asynchronous jobs' state for every ingress replica.

The family deployments, and how they share forward passes across requests: `serve_families`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.exceptions import RayActorError, RayError

from actors import pack, unpack
from pipeline import metrics
from pipeline.engine import Assembler, Plan, VideoRequest, WorkItem, consumes, decode_stage, one_line, stage_name
from pipeline.schema import VideoResult

IN_FLIGHT_ITEMS = 4  # items of one request out at the deployments at once: bounds its memory
RUNNER = "serve"  # the `runner` tag of this runner's metrics
CRASH_RETRIES = 2  # a batch whose replica died is sent again, as Ray Data retries its tasks


class DecoderCrashed(Exception):
    """The decode task's worker process died on this video (a native crash, out of memory)."""


# num_cpus=0: the ingress's slots bound how many run, and its ingress_cpus reserve their CPU.
# No retry: a decoder that crashed on a file crashes on it again.
@ray.remote(num_cpus=0, max_retries=0, num_returns="streaming", _generator_backpressure_num_objects=2 * IN_FLIGHT_ITEMS)
def decode_video(request: VideoRequest, plan: Plan):
    yield from decode_stage(plan)(request)


class ServeRunner:
    """Runs requests through the family deployments behind `handles` (stage name -> handle)."""

    def __init__(self, handles: Mapping[str, Any], stage_timeout_s: float) -> None:
        self.handles = handles
        self.stage_timeout_s = stage_timeout_s
        self.in_flight = 0  # items of every request out at the deployments: the queue depth metric

    async def analyze(
        self, request: VideoRequest, plan: Plan, on_progress: Callable[[float], None] | None = None
    ) -> VideoResult:
        """on_progress: called with the seconds of video analysed so far, as items complete."""
        start = time.perf_counter()
        result = await self._analyze(request, plan, on_progress, uuid.uuid4().hex)
        metrics.record_video(result, time.perf_counter() - start, RUNNER)
        return result

    async def _analyze(
        self, request: VideoRequest, plan: Plan, on_progress: Callable[[float], None] | None, owner: str
    ) -> VideoResult:
        items = decode_video.remote(request, plan)
        slots = asyncio.Semaphore(IN_FLIGHT_ITEMS)
        tasks: list[asyncio.Task] = []
        analysed_s = 0.0

        async def through_families(item: WorkItem) -> WorkItem:
            nonlocal analysed_s
            self.in_flight += 1
            metrics.set_queue_depth(RUNNER, self.in_flight)
            try:
                await self._through_families(item, plan, owner)
                if on_progress is not None and item.until_s > analysed_s:
                    analysed_s = item.until_s
                    on_progress(analysed_s)
                return item
            finally:
                self.in_flight -= 1
                metrics.set_queue_depth(RUNNER, self.in_flight)
                slots.release()

        try:
            async for ref in items:
                item = await ref
                await slots.acquire()
                tasks.append(asyncio.create_task(through_families(item)))
        except RayError as exc:
            for task in tasks:
                task.cancel()
            raise DecoderCrashed(
                f"the decoder's process died on this video (a native crash or out of memory: {type(exc).__name__}); "
                "nothing else was affected"
            ) from None
        assembler = Assembler(plan)
        for done in await asyncio.gather(*tasks):
            result = assembler.add(done)
            if result is not None:
                return result
        raise RuntimeError(f"the decoder ended {request.video_id} without its final item")

    async def _through_families(self, item: WorkItem, plan: Plan, owner: str) -> None:
        """Sends the item to every family that reads it, at once, and merges what they found."""
        readers = [stage for stage in plan.stages if any(consumes(a, item.payload) for a in stage)]
        if not readers:
            item.payload = None
            return
        item.wanted = frozenset(a.name for a in plan.analyzers)
        packed = pack([item])
        item.payload = None
        replies = await asyncio.gather(*(self._call(stage_name(s), packed, owner) for s in readers), return_exceptions=True)
        for stage, reply in zip(readers, replies):
            if isinstance(reply, BaseException):
                # A replica that kept dying, or a timeout, fails that family's analyzers for this video only.
                for analyzer in stage:
                    item.outcomes.setdefault(analyzer.name, f"fail: {stage_name(stage)} deployment: {one_line(reply)}")
                continue
            if reply["lost"].iat[0]:  # this replica's payload is gone: with its node (see actors/base.py)
                for analyzer in stage:
                    item.outcomes.setdefault(analyzer.name, f"fail: {stage_name(stage)} deployment: its frames or audio were lost")
                continue
            (answered,) = unpack(reply)
            item.partials.update(answered.partials)
            item.outcomes.update(answered.outcomes)
            item.seconds.update(answered.seconds)

    async def _call(self, name: str, packed, owner: str):
        """owner: the request's id, so that a family can tell passes shared across requests."""
        for _ in range(CRASH_RETRIES):
            try:
                return await self._call_once(name, packed, owner)
            except RayActorError:  # the replica died under this batch: Serve routes the retry to a live one
                continue
        return await self._call_once(name, packed, owner)

    async def _call_once(self, name: str, packed, owner: str):
        try:
            return await asyncio.wait_for(self.handles[name].remote(packed, owner), self.stage_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no answer in {self.stage_timeout_s:g} s") from None


JOB_ATTEMPTS = 2  # a job whose ingress replica dies runs once more, on a live replica, then fails
HEARTBEAT_S = 2.0  # how often an ingress replica says its jobs are alive, and looks for orphans
ORPHAN_S = 5 * HEARTBEAT_S  # a job unheard of this long lost its replica
PUBLIC = ("id", "status", "progress", "error", "result", "attempts")  # what GET /v1/jobs/{id} shows


@serve.deployment(num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0})
class Jobs:
    """Asynchronous jobs' state, shared by every ingress replica: the newest `keep` jobs, and what
    each needs to run again (`request`). The replica running a job says so every HEARTBEAT_S
    (`beat`); a job unheard of for ORPHAN_S lost its replica, and the next live replica that
    asks (`claim`) runs it again, up to JOB_ATTEMPTS runs in all; past them it is failed. A job
    whose progress stops for `stall_s` while its replica lives is failed too. With `folder`
    (serve.jobs_dir) each job is also a JSON file there, read back when the board's replica
    restarts; without it the jobs live in this replica's memory."""

    TERMINAL = ("done", "failed")

    def __init__(self, stall_s: float, keep: int = 1000, folder: str | None = None) -> None:
        self.stall_s = stall_s
        self.keep = keep
        self.jobs: OrderedDict[str, dict] = OrderedDict()
        self.folder = Path(folder) if folder else None  # each job also a JSON file here: jobs outlive this replica
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            now = time.time()
            for file in sorted(self.folder.glob("*.json"), key=lambda f: f.stat().st_mtime):
                with contextlib.suppress(OSError, ValueError):
                    job = json.loads(file.read_text())
                    job["beat"] = now  # each replica gets ORPHAN_S to say it still runs its jobs
                    self.jobs[job["id"]] = job

    def create(self, job_id: str, request: dict, owner: str) -> None:
        now = time.time()
        self.jobs[job_id] = {
            "id": job_id, "status": "queued", "progress": 0.0, "attempts": 1,
            "request": request, "owner": owner, "beat": now, "updated": now,
        }  # fmt: skip
        self._save(self.jobs[job_id])
        while len(self.jobs) > self.keep:
            _, gone = self.jobs.popitem(last=False)
            if self.folder is not None:
                (self.folder / f"{gone['id']}.json").unlink(missing_ok=True)

    def update(self, job_id: str, owner: str, **fields) -> None:
        """Updates arrive unordered: a finished job stays finished and progress only grows. Only
        the replica that runs the job now may change it (a late word from a dead run is dropped)."""
        job = self.jobs.get(job_id)
        if job is None or job["status"] in self.TERMINAL or job["owner"] != owner:
            return
        fields["progress"] = max(job["progress"], fields.get("progress", 0.0))
        now = time.time()
        job.update(fields, updated=now, beat=now)
        self._save(job)

    def beat(self, owner: str, job_ids: list[str]) -> None:
        now = time.time()
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is not None and job["owner"] == owner:
                job["beat"] = now

    def claim(self, owner: str) -> dict | None:
        """A job that lost its replica, now `owner`'s to run again: its id and request."""
        for job in self.jobs.values():
            if self._orphaned(job) and job["attempts"] < JOB_ATTEMPTS:
                now = time.time()
                job.update(owner=owner, attempts=job["attempts"] + 1, status="queued", beat=now, updated=now)
                self._save(job)
                return {"id": job["id"], "request": job["request"]}
        return None

    def get(self, job_id: str) -> dict | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job["status"] not in self.TERMINAL:
            now = time.time()
            if self._orphaned(job) and job["attempts"] >= JOB_ATTEMPTS:
                job.update(status="failed", error=f"the replica running this job stopped, {job['attempts']} times; submit it again")
            elif now - job["updated"] > self.stall_s:
                job.update(status="failed", error=f"no progress for {self.stall_s:.0f} s; submit it again")
            if job["status"] == "failed":
                self._save(job)
        return {k: job[k] for k in PUBLIC if k in job}

    def _save(self, job: dict) -> None:
        if self.folder is not None:
            temporary = self.folder / f".{job['id']}.json"
            temporary.write_text(json.dumps(job))
            temporary.replace(self.folder / f"{job['id']}.json")  # whole or not at all

    def _orphaned(self, job: dict) -> bool:
        return job["status"] not in self.TERMINAL and time.time() - job["beat"] > ORPHAN_S
