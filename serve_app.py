"""Ray Serve HTTP endpoint.

    serve run serve_app:app                                    # this machine, settings from REELSCOPE_*
    serve run serve_app:build_app media_root=/videos max_upload_mb=200 text_overlay.reader=rapidocr
    serve deploy serve_config.yaml                             # a running cluster

One FastAPI ingress deployment (`Reelscope`) admits each video and has it decoded once, with the
cheap analyzers, in a Ray task where a native crash costs only that video (`pipeline.runners.serve`); each heavy model family is a deployment of
its own, the same `actors` class the Ray Data graph runs (in a `Family`, which lets concurrent
requests share forward passes), with its GPU fraction and autoscaling;
`Jobs` keeps the state of asynchronous jobs for every ingress replica. The run's settings
(pipeline.settings) are built once, by `build_app`: its arguments over REELSCOPE_* variables
(the `serve` section by its fields' names, any other setting by its own), and travel in the plan
to the ingress, its decode tasks and every model deployment.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations as types.
import asyncio
import contextlib
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from ray import serve
from ray.serve import Application
from starlette.datastructures import UploadFile

from pipeline.engine.decode import MediaError, probe
from pipeline.engine import Plan, VideoRequest, one_line, safe_stem
from pipeline.inputs import VIDEO_BODY, AnalyzeSource, Refused, echo, fetch, inside_root, read_limited, save_upload, too_large
from pipeline.registry import ALL_NAMES, parse_names, resolve
from pipeline.schema import SCHEMA_VERSION, VideoResult, document_schema
from pipeline.runners.serve import HEARTBEAT_S, DecoderCrashed, Jobs, ServeRunner
from pipeline.runners.serve_families import family_deployments
from pipeline.settings import ServeSettings, app_settings

API_VERSION = "1.1.0"  # 1.1: GET /v1/schema
MAX_JSON_BYTES = 64 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and the analyzers field around the file


class AnalyzerAvailability(BaseModel):
    available: bool
    reason: str | None = None


class Job(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(0.0, description="share of the video's duration analysed, 0 to 1")
    error: str | None = None
    result: VideoResult | None = None
    attempts: int = Field(1, description="runs of the job so far: one whose replica died runs again on a live one")


api = FastAPI(
    title="reelscope",
    version=API_VERSION,
    description=f"Everything in a short video, as one timestamped document (result schema {SCHEMA_VERSION}).",
)
bearer = HTTPBearer(auto_error=False)


RETRY_AFTER_S = "5"
POLL_HEADROOM = 16  # requests past the analysis slots that still reach the replica: polls, listings
# The ingress holds each request's decoded batches (tens of MB) for a moment. glibc's allocator
# raises its mmap threshold to the largest block freed, after which such buffers come from its
# heaps and their pages stay with the process: RSS kept the peak of the traffic (bench/bench_soak.py).
# A fixed threshold maps them and gives them back when freed; two arenas bound the threads' heaps.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_ARENA_MAX": "2"}


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


@serve.ingress(api)
class Reelscope:
    def __init__(self, plan: Plan, families: dict, jobs) -> None:
        self.plan = plan  # what this server can run: analyzers deployed, why the others are not, the settings
        self.options: ServeSettings = plan.settings.serve
        self.media_root = Path(self.options.media_root).resolve()
        self.deployed = {a.name for a in plan.analyzers}
        self.runner = ServeRunner(families, self.options.stage_timeout_s)
        self.jobs = jobs
        self.replica = uuid.uuid4().hex  # this replica, as the owner of the jobs it runs
        self.active_jobs = 0
        self.running: set[str] = set()  # ids of the jobs this replica runs
        self._heartbeat: asyncio.Task | None = None
        self.admitted = 0  # requests analysing or waiting for a slot, in this replica
        self.slots = asyncio.Semaphore(self.options.max_ongoing_requests)
        self._job_tasks: set[asyncio.Task] = set()  # held so the event loop does not drop them
        self._schema: dict | None = None

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
                reason=redact(self.plan.why_not(name), self._private_paths()) or "not deployed on this server",
            )
            for name in ALL_NAMES
        }

    @api.get("/v1/schema")
    def schema(self, credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> dict:
        """The JSON Schema of the document /v1/analyze answers: every analyzer's summary and
        segment data, with their fields' units and meanings (what `reelscope schema` prints)."""
        self._authorize(credentials)
        if self._schema is None:  # imports every analyzer module: once per replica, when first asked
            self._schema = document_schema()
        return self._schema

    @api.post("/v1/analyze", response_model=VideoResult, openapi_extra=VIDEO_BODY)
    async def analyze(self, request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)):
        """Analyse one short video now and answer its document. A JSON body names a `path` or a
        `url`; a multipart body carries the video as `file`."""
        self._authorize(credentials)
        async with self._slot():
            with tempfile.TemporaryDirectory(prefix="reelscope-") as workdir:
                video, plan, label, _, _ = await self._admit(request, Path(workdir), sync=True)
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
        self._beating()
        # Counted before the first await: concurrent submissions cannot all pass the check.
        if self.active_jobs >= self.options.max_jobs:
            raise Refused(503, f"{self.active_jobs} jobs are running here; retry later", {"Retry-After": "30"})
        self.active_jobs += 1
        workdir = Path(tempfile.mkdtemp(prefix="reelscope-job-"))
        try:
            async with self._slot():
                video, plan, label, info, names = await self._admit(request, workdir, sync=False)
            job_id = uuid.uuid4().hex
            # What another replica needs to run the job again, should this one die.
            again = {"video_id": video.video_id, "path": video.path, "label": label, "analyzers": names,
                     "duration_s": info.duration_s, "workdir": str(workdir)}  # fmt: skip
            await self.jobs.create.remote(job_id, again, self.replica)
        except BaseException:
            self.active_jobs -= 1
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self._start_job(job_id, video, plan, label, info.duration_s, workdir)
        return Job(id=job_id, status="queued")

    @api.get("/v1/jobs/{job_id}", response_model=Job)
    async def job(self, job_id: str, credentials: HTTPAuthorizationCredentials | None = Security(bearer)):
        self._authorize(credentials)
        self._beating()
        job = await self.jobs.get.remote(job_id)
        if job is None:
            raise HTTPException(404, f"no such job: {echo(job_id)}")
        return job

    @contextlib.asynccontextmanager
    async def _slot(self):
        """One of max_ongoing_requests analysis slots, waiting in a queue of max_queued_requests;
        past both, 503 at once. Serve would refuse too, but as plain text without Retry-After."""
        if self.admitted >= self.options.max_ongoing_requests + self.options.max_queued_requests:
            raise Refused(503, f"{self.admitted} requests are in progress or waiting here; retry later", {"Retry-After": RETRY_AFTER_S})
        self.admitted += 1
        try:
            async with self.slots:
                yield
        finally:
            self.admitted -= 1

    def _authorize(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        token = self.options.token
        if token and (credentials is None or not secrets.compare_digest(credentials.credentials, token)):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    async def _admit(self, request: Request, workdir: Path, sync: bool):
        """The video the request names or carries, within the limits, and the plan it asks for."""
        declared = int(request.headers.get("content-length") or 0)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            if declared > self.options.max_bytes + MULTIPART_OVERHEAD_BYTES:
                raise Refused(413, too_large(declared, self.options.max_bytes))
            streamed = limited(request, self.options.max_bytes)
            async with streamed.form(max_files=1, max_fields=2) as form:  # closes its spooled files
                upload, names = form.get("file"), form.get("analyzers")
                if not isinstance(upload, UploadFile):
                    raise Refused(422, "a multipart body carries the video in a part named `file`")
                path = await asyncio.to_thread(save_upload, upload.file, workdir / "upload", self.options.max_bytes)
                label = f"upload:{upload.filename or 'video'}"
            names = names if isinstance(names, str) else None
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
                    self.options.max_bytes,
                    self.options.allow_private_urls,
                    self.options.fetch_deadline_s,
                )
                label = source.url
            names = source.analyzers
        plan = self._plan(names)
        try:
            info = await asyncio.to_thread(probe, str(path))
        except MediaError as exc:
            raise Refused(422, str(exc).replace(str(path), label)) from None
        limit = self.options.max_sync_duration_s if sync else self.options.max_duration_s
        if info.duration_s > limit:
            hint = "; send it to POST /v1/jobs" if sync and info.duration_s <= self.options.max_duration_s else ""
            raise Refused(422, f"the video is {info.duration_s:.0f} s long; this endpoint takes up to {limit:.0f} s{hint}")
        return VideoRequest(safe_stem(label.rsplit("/", 1)[-1]), str(path)), plan, label, info, names

    def _plan(self, names: list[str] | str | None) -> Plan:
        """The requested analyzers (a list, or a form's "a,b"), with what they need, that are
        deployed; the rest, skipped with why. Every plan carries the server's settings."""
        try:
            names = parse_names(names) if isinstance(names, str) else names
            requested = resolve(names) if names else None
        except ValueError as exc:
            raise Refused(422, str(exc)) from None
        if requested is None:
            return Plan(self.plan.analyzers, {}, settings=self.plan.settings)
        absent = [a.name for a in requested if a.name not in self.deployed]
        broken = {name: self.plan.broken[name] for name in absent if name in self.plan.broken}
        missing = {
            name: self.plan.unavailable.get(name, "not deployed on this server") for name in absent if name not in broken
        }
        return Plan(tuple(a for a in requested if a.name in self.deployed), missing, broken, settings=self.plan.settings)

    async def _analyze(
        self, video: VideoRequest, plan: Plan, label: str, on_progress: Callable[[float], None] | None = None
    ) -> VideoResult:
        result = await self.runner.analyze(video, plan, on_progress)
        result.source = label  # the caller's name for the video, not this replica's temporary file
        if result.video is not None:
            result.video.path = label
        # Models are named by id in the document; where this server keeps them is its own business.
        shown = {**self._private_paths(), video.path: label}
        result.error = redact(result.error, shown)
        for outcome in result.analyzers.values():
            outcome.reason, outcome.error = redact(outcome.reason, shown), redact(outcome.error, shown)
        return result

    def _private_paths(self) -> dict[str, str]:
        return {str(self.plan.settings.models_dir): "<models>"}

    async def check_health(self) -> None:
        """Serve asks every few seconds: a replica that just started (after one died) begins its
        heartbeat here, and with it takes over the jobs the dead one left."""
        self._beating()

    def _beating(self) -> None:
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        """Says this replica's jobs are alive, and runs again a job that lost its replica."""
        while True:
            try:
                await self.jobs.beat.remote(self.replica, sorted(self.running))
                if self.active_jobs < self.options.max_jobs and (claimed := await self.jobs.claim.remote(self.replica)):
                    await self._resume(claimed["id"], claimed["request"])
            except Exception:  # the job board restarting: the next beat tries again
                pass
            await asyncio.sleep(HEARTBEAT_S)

    async def _resume(self, job_id: str, again: dict) -> None:
        path, workdir = Path(again["path"]), Path(again["workdir"])
        try:
            plan = self._plan(again["analyzers"])
            if not path.is_file():
                raise Refused(422, "the video went with the replica that took the job (an upload kept on its node); submit it again")
        except Refused as exc:
            await self.jobs.update.remote(job_id, self.replica, status="failed", error=exc.reason)
            return
        self.active_jobs += 1
        self._start_job(job_id, VideoRequest(again["video_id"], str(path)), plan, again["label"], again["duration_s"], workdir)

    def _start_job(self, job_id: str, video: VideoRequest, plan: Plan, label: str, duration_s: float, workdir: Path) -> None:
        self.running.add(job_id)
        task = asyncio.create_task(self._run_job(job_id, video, plan, label, duration_s, workdir))
        self._job_tasks.add(task)
        task.add_done_callback(self._job_tasks.discard)

    async def _run_job(self, job_id: str, video: VideoRequest, plan: Plan, label: str, duration_s: float, workdir: Path):
        reported = 0.0
        updates: set[asyncio.Task] = set()  # an update nobody awaits would be dropped

        def progress(analysed_s: float) -> None:
            nonlocal reported
            share = min(1.0, analysed_s / duration_s) if duration_s else 0.0
            if share - reported >= 0.01:  # a handful of updates per job, not one per batch
                reported = share
                update = asyncio.ensure_future(self.jobs.update.remote(job_id, self.replica, progress=round(share, 3)))
                updates.add(update)
                update.add_done_callback(updates.discard)

        try:
            await self.jobs.update.remote(job_id, self.replica, status="running")
            result = await self._analyze(video, plan, label, progress)
            # The job's status is its document's: a video that failed is a failed job, with why.
            ended = {"status": "done"} if result.status == "ok" else {"status": "failed", "error": result.error}
            await self.jobs.update.remote(job_id, self.replica, progress=1.0, result=result.model_dump(mode="json"), **ended)
        except DecoderCrashed as exc:
            await self.jobs.update.remote(job_id, self.replica, status="failed", error=str(exc))
        except Exception as exc:
            await self.jobs.update.remote(job_id, self.replica, status="failed", error=one_line(exc))
        finally:
            self.active_jobs -= 1
            self.running.discard(job_id)
            shutil.rmtree(workdir, ignore_errors=True)


def build_app(args: dict | None = None) -> Application:
    """The application: the ingress, a deployment per heavy model family, and the job board. The
    settings are checked first: a bad one is refused in one line before anything is deployed."""
    settings = app_settings(args)
    options = settings.serve
    plan = Plan.build(options.analyzers, settings=settings, weights_here=True)
    # Why each analyzer that is not deployed could not be, when it could not: /v1/analyzers says so.
    everything = Plan.build(None, settings=settings, weights_here=True)
    plan = Plan(
        plan.analyzers,
        {**everything.unavailable, **plan.unavailable},
        {**everything.broken, **plan.broken},
        settings=settings,
    )
    families = family_deployments(plan)
    ingress = serve.deployment(Reelscope).options(
        num_replicas=options.ingress_replicas,
        # The replica takes every request it can answer: Reelscope._slot queues and refuses analyses
        # itself, in JSON. Serve's router queues a burst for a moment while it assigns replicas; its
        # own plain-text 503 is the last resort, past as many again.
        max_ongoing_requests=options.max_ongoing_requests + options.max_queued_requests + POLL_HEADROOM,
        max_queued_requests=options.max_ongoing_requests + options.max_queued_requests + POLL_HEADROOM,
        ray_actor_options={"num_cpus": options.ingress_cpus, "runtime_env": {"env_vars": ALLOCATOR_ENV}},
    )
    return ingress.bind(plan, families, Jobs.bind(stall_s=options.stage_timeout_s + 60, folder=options.jobs_dir))


app = build_app()  # `serve run serve_app:app`: the settings of REELSCOPE_* (REELSCOPE_SERVE__MEDIA_ROOT …)
