"""Ray Serve HTTP endpoint: `serve run serve_app:app`.

The ingress sends each request through the same Ray Data graph as the CLI and the backfill
(`pipeline.ray_runner`). Files are read only from inside REELSCOPE_MEDIA_ROOT.
"""

# No `from __future__ import annotations` here: FastAPI must see the request model's real type
# to read it from the body.
import os
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from ray import serve

from pipeline.registry import ALL_NAMES, load
from pipeline.schema import SCHEMA_VERSION, VideoResult

api = FastAPI(title="reelscope", version=SCHEMA_VERSION)


class AnalyzeRequest(BaseModel):
    path: str  # relative to the media root
    analyzers: list[str] | None = None


def resolve_inside(root: Path, relative: str) -> Path:
    """The real path of `relative` under `root`; refuses anything that leaves it (../, symlinks)."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise HTTPException(status_code=403, detail=f"path is outside the media root: {relative}")
    return candidate


@serve.deployment(max_ongoing_requests=4, max_queued_requests=16, ray_actor_options={"num_cpus": 0.5})
@serve.ingress(api)
class Reelscope:
    def __init__(self, media_root: str) -> None:
        self.media_root = Path(media_root)

    @api.get("/healthz")
    def healthz(self) -> dict:
        return {"status": "ok", "schema_version": SCHEMA_VERSION}

    @api.get("/v1/analyzers")
    def analyzers(self) -> dict:
        """Each analyzer, and when it cannot run here, why: the required weights it lacks."""
        listing = {}
        for name in ALL_NAMES:
            missing = [str(w.path) for w in load(name).weights if not w.optional and not w.present()]
            listing[name] = {"available": not missing, "reason": f"weights missing: {', '.join(missing)}" if missing else None}
        return listing

    @api.post("/v1/analyze", response_model=VideoResult)
    def analyze(self, request: AnalyzeRequest) -> VideoResult:
        from pipeline import ray_runner
        from pipeline.engine import Plan, VideoRequest

        path = resolve_inside(self.media_root, request.path)
        try:
            plan = Plan.build(request.analyzers)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        (result,) = ray_runner.run([VideoRequest(path.stem, str(path))], plan)
        return result


app = Reelscope.bind(media_root=os.environ.get("REELSCOPE_MEDIA_ROOT", "."))
