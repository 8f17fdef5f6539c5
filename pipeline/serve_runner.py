"""The engine's units behind Ray Serve: one video per request, the model families as deployments.

    request -> DecodeStage (in the ingress replica, a thread) -> WorkItem*
            --deployment handles, every family that reads the item at once--> Assembler -> VideoResult

The Ray Data graph chains its model stages; here the ingress holds each item and sends it to
all the families that read it at the same time: their process steps are independent (`after`
orders only finalize), so a batch costs its slowest family rather than the sum. Each family
deployment is an `actors` class built with no later readers, so replies come back without
the frames.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ray.exceptions import RayActorError

from actors import pack, unpack
from pipeline import metrics
from pipeline.engine import Assembler, DecodeStage, Plan, VideoRequest, WorkItem, consumes, one_line, stage_name
from pipeline.schema import VideoResult

IN_FLIGHT_ITEMS = 4  # items of one request out at the deployments at once: bounds its memory
RUNNER = "serve"  # the `runner` tag of this runner's metrics
CRASH_RETRIES = 2  # a batch whose replica died is sent again, as Ray Data retries its tasks
KEPT_PLANS = 8  # analyzer selections whose set-up decode stages stay warm


class ServeRunner:
    """Runs requests through the family deployments behind `handles` (stage name -> handle)."""

    def __init__(self, handles: Mapping[str, Any], stage_timeout_s: float) -> None:
        self.handles = handles
        self.stage_timeout_s = stage_timeout_s
        # Set-up DecodeStages per plan, one per concurrent request (in-decoder analyzers are not
        # shared between threads), for the plans asked for most recently.
        self._idle: OrderedDict[tuple[str, ...], list[DecodeStage]] = OrderedDict()
        self.in_flight = 0  # items of every request out at the deployments: the queue depth metric

    async def analyze(
        self, request: VideoRequest, plan: Plan, on_progress: Callable[[float], None] | None = None
    ) -> VideoResult:
        """on_progress: called with the seconds of video analysed so far, as items complete."""
        start = time.perf_counter()
        idle = self._idle.setdefault(plan.key, [])
        self._idle.move_to_end(plan.key)
        while len(self._idle) > KEPT_PLANS:
            self._idle.popitem(last=False)
        decode = idle.pop() if idle else DecodeStage(plan)
        try:
            result = await self._analyze(decode, request, plan, on_progress)
        finally:
            idle.append(decode)
        metrics.record_video(result, time.perf_counter() - start, RUNNER)
        return result

    async def _analyze(
        self, decode: DecodeStage, request: VideoRequest, plan: Plan, on_progress: Callable[[float], None] | None
    ) -> VideoResult:
        loop = asyncio.get_running_loop()
        items = decode(request)
        slots = asyncio.Semaphore(IN_FLIGHT_ITEMS)
        tasks: list[asyncio.Task] = []
        analysed_s = 0.0

        async def through_families(item: WorkItem) -> WorkItem:
            nonlocal analysed_s
            self.in_flight += 1
            metrics.set_queue_depth(RUNNER, self.in_flight)
            try:
                await self._through_families(item, plan)
                if on_progress is not None and item.until_s > analysed_s:
                    analysed_s = item.until_s
                    on_progress(analysed_s)
                return item
            finally:
                self.in_flight -= 1
                metrics.set_queue_depth(RUNNER, self.in_flight)
                slots.release()

        # Decoding (and the in-decoder analyzers) runs off the event loop, one item at a time.
        while (item := await loop.run_in_executor(None, next, items, None)) is not None:
            await slots.acquire()
            tasks.append(asyncio.create_task(through_families(item)))
        assembler = Assembler(plan)
        for done in await asyncio.gather(*tasks):
            result = assembler.add(done)
            if result is not None:
                return result
        raise RuntimeError(f"the decoder ended {request.video_id} without its final item")

    async def _through_families(self, item: WorkItem, plan: Plan) -> None:
        """Sends the item to every family that reads it, at once, and merges what they found."""
        readers = [stage for stage in plan.stages if any(consumes(a, item.payload) for a in stage)]
        if not readers:
            item.payload = None
            return
        item.wanted = frozenset(a.name for a in plan.analyzers)
        packed = pack([item])
        item.payload = None
        replies = await asyncio.gather(*(self._call(stage_name(s), packed) for s in readers), return_exceptions=True)
        for stage, reply in zip(readers, replies):
            if isinstance(reply, BaseException):
                # A replica that kept dying, or a timeout, fails that family's analyzers for this video only.
                for analyzer in stage:
                    item.outcomes.setdefault(analyzer.name, f"fail: {stage_name(stage)} deployment: {one_line(reply)}")
                continue
            (answered,) = unpack(reply)
            item.partials.update(answered.partials)
            item.outcomes.update(answered.outcomes)
            item.seconds.update(answered.seconds)

    async def _call(self, name: str, packed: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
        for _ in range(CRASH_RETRIES):
            try:
                return await self._call_once(name, packed)
            except RayActorError:  # the replica died under this batch: Serve routes the retry to a live one
                continue
        return await self._call_once(name, packed)

    async def _call_once(self, name: str, packed: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
        try:
            return await asyncio.wait_for(self.handles[name].remote(packed), self.stage_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no answer in {self.stage_timeout_s:g} s") from None
