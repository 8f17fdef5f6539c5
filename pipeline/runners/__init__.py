"""The runners: the engine's units (pipeline.engine) driven three ways, giving equal documents.

    local.py     run_local: every stage in this process, in order
    ray_data.py  run: a Ray Data graph (decode tasks, an actor pool per model family), for the CLI
                 and the bulk backfill
    serve.py     ServeRunner: one video per request through Ray Serve deployments

Each takes VideoRequests and a Plan (which carries the run's Settings) and gives VideoResults;
`Runner` is that shape, for callers that take any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from pipeline.engine import Plan, VideoRequest
from pipeline.schema import VideoResult


class Runner(Protocol):
    def __call__(self, requests: list[VideoRequest], plan: Plan) -> Iterator[VideoResult] | Iterable[VideoResult]: ...
