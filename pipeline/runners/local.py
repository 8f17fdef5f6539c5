"""Every stage in this process, in order: for tests, `reelscope check`, and callers without Ray."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.engine import AnalyzerStage, Assembler, DecodeStage, Plan, VideoRequest
from pipeline.runners import OnItem
from pipeline.schema import VideoResult


def run_local(
    requests: list[VideoRequest], plan: Plan, on_item: OnItem | None = None
) -> Iterator[VideoResult]:
    """Every stage in this process, in order: for tests, and for callers without Ray.
    on_item(video_id, seconds, kind): called as each of a video's items is assembled (a progress
    display's feed), as in pipeline.runners.OnItem."""
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
            if on_item is not None:
                on_item(item.video_id, item.until_s, item.kind)
            result = assembler.add(item)
            if result is not None:
                yield result
