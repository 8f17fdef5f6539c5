"""Ray Serve HTTP endpoint.

    serve run serve_app:app                                    # this machine, media root "."
    serve run serve_app:build_app media_root=/videos max_upload_mb=200
    serve deploy serve_config.yaml                             # a running cluster

One FastAPI ingress deployment (`Reelscope`) admits each video and has it decoded once, with the
cheap analyzers, in a Ray task where a native crash costs only that video (`pipeline.serve_runner`); each heavy model family is a deployment of
its own, the same `actors` class the Ray Data graph runs, with its GPU fraction and autoscaling;
`Jobs` keeps the state of asynchronous jobs for every ingress replica. Settings are the builder's
arguments (`Settings`); the bearer token may come from $REELSCOPE_API_TOKEN instead.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations as types.
import asyncio
import contextlib
import math
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import ray
from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ray import serve
from ray.serve import Application
from starlette.datastructures import UploadFile

from actors import ModelActor, actor_class
from pipeline.cli import comma_separated, safe_stem
from pipeline.decode import MediaError, probe
from pipeline.engine import Plan, VideoRequest, one_line, stage_name
from pipeline.inputs import Refused, echo, fetch, inside_root, read_limited, save_upload, too_large
from pipeline.models import models_dir
from pipeline.ray_runner import gpu_memory_gb, stage_cpus, stage_gpus
from pipeline.registry import ALL_NAMES, resolve
from pipeline.schema import SCHEMA_VERSION, VideoResult
from pipeline.serve_runner import DecoderCrashed, ServeRunner

API_VERSION = "1.0.0"
TOKEN_ENV = "REELSCOPE_API_TOKEN"
MAX_JSON_BYTES = 64 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and the analyzers field around the file


class Settings(BaseModel):
    """The application's arguments: `serve run serve_app:build_app key=value …` or `args:` in
    serve_config.yaml."""

    model_config = ConfigDict(extra="forbid")

    media_root: str = "."  # `path` requests read files under it, never outside
    analyzers: list[str] | None = None  # deployed; default: every one whose weights are here
    max_upload_mb: float = 500.0  # uploads and URL downloads; larger: 413
    max_duration_s: float = 900.0  # longer: 422
    max_sync_duration_s: float = 180.0  # longer videos go through /v1/jobs: 422 on /v1/analyze
    allow_private_urls: bool = False  # fetch URLs on loopback / private / link-local addresses
    token: str | None = None  # bearer token for /v1/*; default: $REELSCOPE_API_TOKEN, else none
    ingress_replicas: int = 1  # fixed: asynchronous jobs run in the replica that took them
    ingress_cpus: float = 1.0  # reserved for decoding: the decode tasks the ingress starts reserve none
    max_ongoing_requests: int = 4  # per ingress replica
    max_queued_requests: int = 8  # beyond it: 503 at once (JSON, with Retry-After), never a hang
    max_jobs: int = 8  # queued + running jobs per ingress replica; beyond it: 503
    max_model_replicas: int = 2  # autoscaling bound of each model family deployment
    stage_timeout_s: float = 600.0  # one batch at one family; past it the family's analyzers fail
    fetch_deadline_s: float = 300.0  # a `url` download as a whole; past it: 422 with the bytes that came
    use_gpus: bool | None = None  # None: when the cluster has GPUs while the app is built
    gpu_memory_gb: float | None = None  # of one GPU; default: ray_runner.gpu_memory_gb()

    @field_validator("analyzers", mode="before")
    @classmethod
    def _comma_separated(cls, value):  # `serve run … analyzers=a,b` passes one string
        return comma_separated(value) if isinstance(value, str) else value

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)


class AnalyzeSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="a file under the server's media root, relative to it")
    url: str | None = Field(None, description="an http(s) URL for the server to download")
    analyzers: list[str] | None = Field(None, description="analyzers to run; default: every one deployed")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` and `url`")
        return self


class AnalyzerAvailability(BaseModel):
    available: bool
    reason: str | None = None


class Job(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(0.0, description="share of the video's duration analysed, 0 to 1")
    error: str | None = None
    result: VideoResult | None = None


VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": AnalyzeSource.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video"},
                        "analyzers": {"type": "string", "description": "comma-separated; default: every one deployed"},
                    },
                }
            },
        },
    }
}

api = FastAPI(
    title="reelscope",
    version=API_VERSION,
    description=f"Everything in a short video, as one timestamped document (result schema {SCHEMA_VERSION}).",
)
bearer = HTTPBearer(auto_error=False)


RETRY_AFTER_S = "5"
POLL_HEADROOM = 16  # requests past the analysis slots that still reach the replica: polls, listings


@api.exception_handler(Refused)
async def _refused(_: Request, exc: Refused) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"detail": exc.reason}, headers=exc.headers)


@api.exception_handler(Exception)
async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    """A bug answers JSON like every refusal, in one line, and never a traceback."""
    return JSONResponse(status_code=500, content={"detail": f"internal error: {echo(one_line(exc))}"})


def limited(request: Request, max_bytes: int) -> Request:
    """The request, its body refused (413) as it streams past max_bytes of video (and the form's
    own parts), Content-Length or not: the form parser stops reading there instead of spooling."""
    seen = 0

    async def receive():
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes + MULTIPART_OVERHEAD_BYTES:
            raise Refused(413, too_large(seen, max_bytes, at_least=True))
        return message

    return Request(request.scope, receive)


def redact(text: str | None, replacements: dict[str, str]) -> str | None:
    """`text` with this server's own paths (its models directory, a request's temporary files)
    replaced by what a client may see."""
    for path, shown in replacements.items():
        text = text.replace(path, shown) if text else text
    return text


@serve.deployment(num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0})
class Jobs:
    """Asynchronous jobs' state, shared by every ingress replica. Kept in memory: the newest
    `keep` jobs. A job whose replica stopped updating it for `stall_s` reads as failed."""

    TERMINAL = ("done", "failed")

    def __init__(self, stall_s: float, keep: int = 1000) -> None:
        self.stall_s = stall_s
        self.keep = keep
        self.jobs: OrderedDict[str, dict] = OrderedDict()

    def update(self, job_id: str, **fields) -> None:
        """Updates arrive unordered: a finished job stays finished and progress only grows."""
        job = self.jobs.setdefault(job_id, {"id": job_id, "status": "queued", "progress": 0.0})
        if job["status"] in self.TERMINAL:
            return
        fields["progress"] = max(job["progress"], fields.get("progress", 0.0))
        job.update(fields, updated=time.monotonic())
        while len(self.jobs) > self.keep:
            self.jobs.popitem(last=False)

    def get(self, job_id: str) -> dict | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job["status"] not in self.TERMINAL and time.monotonic() - job["updated"] > self.stall_s:
            job.update(status="failed", error="the replica running this job stopped; submit it again")
        return {k: v for k, v in job.items() if k != "updated"}


@serve.ingress(api)
class Reelscope:
    def __init__(self, settings: Settings, plan: Plan, families: dict, jobs) -> None:
        self.settings = settings
        self.media_root = Path(settings.media_root).resolve()
        self.plan = plan  # what this server can run: analyzers deployed, and why the others are not
        self.deployed = {a.name for a in plan.analyzers}
        self.token = settings.token or os.environ.get(TOKEN_ENV) or None
        self.runner = ServeRunner(families, settings.stage_timeout_s)
        self.jobs = jobs
        self.active_jobs = 0
        self.admitted = 0  # requests analysing or waiting for a slot, in this replica
        self.slots = asyncio.Semaphore(settings.max_ongoing_requests)
        self._job_tasks: set[asyncio.Task] = set()  # held so the event loop does not drop them

    @api.get("/healthz")
    def healthz(self) -> dict:
        return {"status": "ok", "api_version": API_VERSION, "schema_version": SCHEMA_VERSION}

    @api.get("/v1/analyzers", response_model=dict[str, AnalyzerAvailability])
    def analyzers(self, credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> dict:
        """Every analyzer of the contract, and when this server cannot run it, why."""
        self._authorize(credentials)
        return {
            name: AnalyzerAvailability(available=True)
            if name in self.deployed
            else AnalyzerAvailability(
                available=False,
                reason=redact(self.plan.why_not(name), {str(models_dir()): "<models>"}) or "not deployed on this server",
            )
            for name in ALL_NAMES
        }

    @api.post("/v1/analyze", response_model=VideoResult, openapi_extra=VIDEO_BODY)
    async def analyze(self, request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)):
        """Analyse one short video now and answer its document. A JSON body names a `path` or a
        `url`; a multipart body carries the video as `file`."""
        self._authorize(credentials)
        async with self._slot():
            with tempfile.TemporaryDirectory(prefix="reelscope-") as workdir:
                video, plan, label, _ = await self._admit(request, Path(workdir), sync=True)
                try:
                    result = await self._analyze(video, plan, label)
                except DecoderCrashed as exc:
                    raise Refused(422, str(exc)) from None
        if result.status == "failed":  # the video as a whole could not be analysed: say why, as for any bad input
            raise Refused(422, result.error or "the video could not be analysed")
        return result

    @api.post("/v1/jobs", status_code=202, response_model=Job, openapi_extra=VIDEO_BODY)
    async def submit(self, request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)):
        """The same input as /v1/analyze, as an asynchronous job: poll GET /v1/jobs/{id}."""
        self._authorize(credentials)
        # Counted before the first await: concurrent submissions cannot all pass the check.
        if self.active_jobs >= self.settings.max_jobs:
            raise Refused(503, f"{self.active_jobs} jobs are running here; retry later", {"Retry-After": "30"})
        self.active_jobs += 1
        workdir = Path(tempfile.mkdtemp(prefix="reelscope-job-"))
        try:
            async with self._slot():
                video, plan, label, info = await self._admit(request, workdir, sync=False)
            job_id = uuid.uuid4().hex
            await self.jobs.update.remote(job_id, status="queued")
        except BaseException:
            self.active_jobs -= 1
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        task = asyncio.create_task(self._run_job(job_id, video, plan, label, info.duration_s, workdir))
        self._job_tasks.add(task)
        task.add_done_callback(self._job_tasks.discard)
        return Job(id=job_id, status="queued")

    @api.get("/v1/jobs/{job_id}", response_model=Job)
    async def job(self, job_id: str, credentials: HTTPAuthorizationCredentials | None = Security(bearer)):
        self._authorize(credentials)
        job = await self.jobs.get.remote(job_id)
        if job is None:
            raise HTTPException(404, f"no such job: {echo(job_id)}")
        return job

    @contextlib.asynccontextmanager
    async def _slot(self):
        """One of max_ongoing_requests analysis slots, waiting in a queue of max_queued_requests;
        past both, 503 at once. Serve would refuse too, but as plain text without Retry-After."""
        if self.admitted >= self.settings.max_ongoing_requests + self.settings.max_queued_requests:
            raise Refused(503, f"{self.admitted} requests are in progress or waiting here; retry later", {"Retry-After": RETRY_AFTER_S})
        self.admitted += 1
        try:
            async with self.slots:
                yield
        finally:
            self.admitted -= 1

    def _authorize(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        if self.token and (credentials is None or not secrets.compare_digest(credentials.credentials, self.token)):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    async def _admit(self, request: Request, workdir: Path, sync: bool):
        """The video the request names or carries, within the limits, and the plan it asks for."""
        declared = int(request.headers.get("content-length") or 0)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            if declared > self.settings.max_bytes + MULTIPART_OVERHEAD_BYTES:
                raise Refused(413, too_large(declared, self.settings.max_bytes))
            streamed = limited(request, self.settings.max_bytes)
            async with streamed.form(max_files=1, max_fields=2) as form:  # closes its spooled files
                upload, names = form.get("file"), form.get("analyzers")
                if not isinstance(upload, UploadFile):
                    raise Refused(422, "a multipart body carries the video in a part named `file`")
                path = await asyncio.to_thread(save_upload, upload.file, workdir / "upload", self.settings.max_bytes)
                label = f"upload:{upload.filename or 'video'}"
            names = comma_separated(names) if isinstance(names, str) else None
        else:
            if declared > MAX_JSON_BYTES:
                raise Refused(413, f"a JSON body takes up to {MAX_JSON_BYTES} bytes")
            body = await read_limited(request.stream(), MAX_JSON_BYTES, "a JSON body")
            try:
                source = AnalyzeSource.model_validate_json(body)
            except ValidationError as exc:
                raise Refused(422, "; ".join(e["msg"] for e in exc.errors()[:3])) from None
            if source.path is not None:
                path, label = inside_root(self.media_root, source.path), source.path
            else:
                path = await fetch(
                    source.url,
                    workdir / "download",
                    self.settings.max_bytes,
                    self.settings.allow_private_urls,
                    self.settings.fetch_deadline_s,
                )
                label = source.url
            names = source.analyzers
        plan = self._plan(names)
        try:
            info = await asyncio.to_thread(probe, str(path))
        except MediaError as exc:
            raise Refused(422, str(exc).replace(str(path), label)) from None
        limit = self.settings.max_sync_duration_s if sync else self.settings.max_duration_s
        if info.duration_s > limit:
            hint = "; send it to POST /v1/jobs" if sync and info.duration_s <= self.settings.max_duration_s else ""
            raise Refused(422, f"the video is {info.duration_s:.0f} s long; this endpoint takes up to {limit:.0f} s{hint}")
        return VideoRequest(safe_stem(label.rsplit("/", 1)[-1]), str(path)), plan, label, info

    def _plan(self, names: list[str] | None) -> Plan:
        """The requested analyzers (with what they need) that are deployed; the rest, skipped with why."""
        if not names:
            return Plan(self.plan.analyzers, {})
        try:
            requested = resolve(names)
        except ValueError as exc:
            raise Refused(422, str(exc)) from None
        absent = [a.name for a in requested if a.name not in self.deployed]
        broken = {name: self.plan.broken[name] for name in absent if name in self.plan.broken}
        missing = {
            name: self.plan.unavailable.get(name, "not deployed on this server") for name in absent if name not in broken
        }
        return Plan(tuple(a for a in requested if a.name in self.deployed), missing, broken)

    async def _analyze(
        self, video: VideoRequest, plan: Plan, label: str, on_progress: Callable[[float], None] | None = None
    ) -> VideoResult:
        result = await self.runner.analyze(video, plan, on_progress)
        result.source = label  # the caller's name for the video, not this replica's temporary file
        if result.video is not None:
            result.video.path = label
        # Models are named by id in the document; where this server keeps them is its own business.
        shown = {str(models_dir()): "<models>", video.path: label}
        result.error = redact(result.error, shown)
        for outcome in result.analyzers.values():
            outcome.reason, outcome.error = redact(outcome.reason, shown), redact(outcome.error, shown)
        return result

    async def _run_job(self, job_id: str, video: VideoRequest, plan: Plan, label: str, duration_s: float, workdir: Path):
        reported = 0.0
        updates: set[asyncio.Task] = set()  # an update nobody awaits would be dropped

        def progress(analysed_s: float) -> None:
            nonlocal reported
            share = min(1.0, analysed_s / duration_s) if duration_s else 0.0
            if share - reported >= 0.01:  # a handful of updates per job, not one per batch
                reported = share
                update = asyncio.ensure_future(self.jobs.update.remote(job_id, progress=round(share, 3)))
                updates.add(update)
                update.add_done_callback(updates.discard)

        try:
            await self.jobs.update.remote(job_id, status="running")
            result = await self._analyze(video, plan, label, progress)
            # The job's status is its document's: a video that failed is a failed job, with why.
            ended = {"status": "done"} if result.status == "ok" else {"status": "failed", "error": result.error}
            await self.jobs.update.remote(job_id, progress=1.0, result=result.model_dump(mode="json"), **ended)
        except DecoderCrashed as exc:
            await self.jobs.update.remote(job_id, status="failed", error=str(exc))
        except Exception as exc:
            await self.jobs.update.remote(job_id, status="failed", error=one_line(exc))
        finally:
            self.active_jobs -= 1
            shutil.rmtree(workdir, ignore_errors=True)


def build_app(args: dict | None = None) -> Application:
    """The application: the ingress, a deployment per heavy model family, and the job board."""
    settings = Settings.model_validate(args or {})
    plan = Plan.build(settings.analyzers, weights_here=True)
    # Why each analyzer that is not deployed could not be, when it could not: /v1/analyzers says so.
    everything = Plan.build(None, weights_here=True)
    plan = Plan(plan.analyzers, {**everything.unavailable, **plan.unavailable}, {**everything.broken, **plan.broken})
    stages = plan.stages
    cluster = ray.cluster_resources() if ray.is_initialized() else {}
    gpus = cluster.get("GPU", 0.0) if settings.use_gpus is None else (math.inf if settings.use_gpus else 0.0)
    fractions = stage_gpus(stages, gpus, settings.gpu_memory_gb or gpu_memory_gb())
    cpus = stage_cpus(stages, fractions, cluster.get("CPU", os.cpu_count() or 1))
    families = {}
    for stage, gpu, cpu in zip(stages, fractions, cpus):
        cls = actor_class(stage)
        deployment = serve.deployment(cls).options(
            name=stage_name(stage) if cls is ModelActor else cls.__name__,
            ray_actor_options={"num_gpus": gpu, "num_cpus": cpu},
            max_ongoing_requests=8,
            autoscaling_config={"min_replicas": 1, "max_replicas": settings.max_model_replicas, "target_ongoing_requests": 2},
        )
        families[stage_name(stage)] = deployment.bind(analyzers=stage)
    ingress = serve.deployment(Reelscope).options(
        num_replicas=settings.ingress_replicas,
        # The replica takes every request it can answer: Reelscope._slot queues and refuses analyses
        # itself, in JSON. Serve's router queues a burst for a moment while it assigns replicas; its
        # own plain-text 503 is the last resort, past as many again.
        max_ongoing_requests=settings.max_ongoing_requests + settings.max_queued_requests + POLL_HEADROOM,
        max_queued_requests=settings.max_ongoing_requests + settings.max_queued_requests + POLL_HEADROOM,
        ray_actor_options={"num_cpus": settings.ingress_cpus},
    )
    return ingress.bind(settings, plan, families, Jobs.bind(stall_s=settings.stage_timeout_s + 60))


app = build_app({"media_root": os.environ.get("REELSCOPE_MEDIA_ROOT", ".")})
