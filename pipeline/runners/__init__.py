"""The runners: the engine's units (pipeline.engine) driven three ways, giving equal documents.

    local.py     run_local: every stage in this process, in order
    ray_data.py  run: a Ray Data graph (decode tasks, an actor pool per model family), for the CLI
                 and the bulk backfill
    serve.py     ServeRunner: one video per request through Ray Serve deployments; Jobs
    serve_families.py
                 family_deployments: a deployment per model family (Family), which shares
                 forward passes across requests (Coalescer)
    resources.py what each model stage and decode task reserves (GPU fraction, CPUs), for both

The batch runners take VideoRequests and a Plan (which carries the run's Settings), report each
video's progress through `on_item`, and give VideoResults as videos complete: `Runner` is that
shape (the CLI runs either: `--in-process` or a Ray cluster). Serve's runner takes one request at
a time from its ingress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from pipeline.engine import Plan, VideoRequest
from pipeline.schema import VideoResult


# A progress feed: (video_id, the video time an item reaches (0 for the last item), the item's
# kind: "frames", "audio" or "end"), called as each item of a video comes through.
OnItem = Callable[[str, float, str], None]


class Runner(Protocol):
    def __call__(self, requests: list[VideoRequest], plan: Plan, on_item: OnItem | None = None) -> Iterator[VideoResult]: ...
