"""Backfill throughput and Serve latency of the CPU analyzers, measured side by side in one run.

    python bench/bench_service.py [--videos N] [--requests M] [--concurrency K] [--yolo full] [--quick]

The CPU analyzers are every analyzer that needs no model weights: the run's settings point
models_dir at an empty directory (the plan carries them to every Ray worker, and the Serve
app is built with them) and keep what `Plan.build(None, settings=…, weights_here=True)` keeps
(`--analyzers` chooses others).

Backfill: a manifest of N videos (distinct-named hardlinks of the built-in 10 s sample clip and,
when --media has it, PySceneDetect's testvideo.mp4, alternating) through
`pipeline.backfill.backfill` on a local Ray (ray.init(num_cpus=<cores>)): wall time, videos/min
and hours of video per hour, against the same videos through `run_local` in this process and
against a pure PyAV decode of them. Backfill includes writing each result and the two parquet
tables. Ray's start-up and a first backfill of one video (workers start and import) are timed
apart as "cold".

Serve: `serve_app.build_app` on 127.0.0.1 (a free port), warmed up, then M sequential
POST /v1/analyze {"path": <sample clip>} interleaved with M `run_local` calls on the same clip in
this process (the in-process call sets its analyzers up each time, as `run_local` does), and with
the first few a multipart upload of the clip (upload overhead): p50 and p95 of each and their
ratios. Then the same M requests from K concurrent clients (throughput against sequential).

--yolo tiny|full adds object_detection: a YOLO11 detect model with random weights written by
tests/model_factory.py (`full`: the real YOLO11n architecture, so a forward pass costs what the
release's does), deployed as a model family whose forward passes concurrent requests share
(pipeline.runners.serve_families.Coalescer); the run then prints that deployment's batching counts.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import logging
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

from bench_cpu import pure_decode  # noqa: E402  (this folder is on sys.path: run as a script)

SHARED_MEDIA = REPO.parent / "shared" / "media"
TESTVIDEO = Path("pyscenedetect") / "testvideo.mp4"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> str:
    try:
        meminfo = Path("/proc/meminfo").read_text().split()
        ram = f"{int(meminfo[meminfo.index('MemTotal:') + 1]) / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        ram = "RAM unknown"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {ram}, Python {platform.python_version()}"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8, help="videos in the backfill manifest (default 8)")
    parser.add_argument("--requests", type=int, default=12, help="sequential Serve requests, and in-process calls (default 12)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients for the throughput run; 0: skip (default 4)")
    parser.add_argument("--yolo", choices=["tiny", "full"], help="add object_detection with a random-weight YOLO11 of this size")
    parser.add_argument("--uploads", type=int, default=4, help="multipart uploads, interleaved with the sequential requests (default 4)")
    parser.add_argument("--warmup", type=int, default=3, help="Serve requests before the timed ones (default 3)")
    parser.add_argument("--media", type=Path, default=SHARED_MEDIA if SHARED_MEDIA.is_dir() else None,
                        help=f"the shared media folder, for {TESTVIDEO} (default: ../shared/media when present)")
    parser.add_argument("--analyzers", help="comma-separated (default: every analyzer that needs no weights)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 videos, 2 requests, 1 warm-up, 1 upload")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (results, parquet tables)")
    args = parser.parse_args()
    if args.videos < 1 or args.requests < 1:
        parser.error("--videos and --requests take at least 1")
    if args.quick:
        args.videos, args.requests, args.warmup, args.uploads = 2, 2, 1, 1
    load_before = load_average()
    started = time.perf_counter()

    work = Path(tempfile.mkdtemp(prefix="reelscope-bench-service-"))
    if not args.keep:
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    models = work / "models"  # empty: only analyzers that need no weights can run, on every worker
    models.mkdir()
    if args.yolo:
        sys.path.insert(0, str(REPO / "tests"))
        from model_factory import write_yolo

        write_yolo(models, "detect", args.yolo)
    media = work / "media"
    media.mkdir()

    from pipeline.engine import Plan, VideoRequest
    from pipeline.registry import parse_names
    from pipeline.runners.local import run_local
    from pipeline.sample import SAMPLE, write_clip
    from pipeline.settings import Settings

    try:
        names = parse_names(args.analyzers)
    except ValueError as exc:
        parser.error(str(exc))
    settings = Settings.load(models_dir=models)
    plan = Plan.build(names, settings=settings, weights_here=True)
    analyzers = [a.name for a in plan.analyzers]
    log(f"analyzers ({len(analyzers)}): {', '.join(analyzers)}")

    sample = media / "sample.mp4"
    write_clip(str(sample), SAMPLE)
    originals = [sample]
    testvideo = args.media / TESTVIDEO if args.media else None
    if testvideo is not None and testvideo.is_file():
        shutil.copyfile(testvideo, media / "testvideo.mp4")
        originals.append(media / "testvideo.mp4")
    videos = []
    for i in range(args.videos):
        target = media / f"video-{i:03d}{originals[i % len(originals)].suffix}"
        link_or_copy(originals[i % len(originals)], target)
        videos.append(target)
    manifest = work / "manifest.txt"
    manifest.write_text("".join(f"{v}\n" for v in videos))
    requests = [VideoRequest(f"v{i:03d}", str(v)) for i, v in enumerate(videos)]

    # --- in process -------------------------------------------------------------------------
    log("in process: first call (imports, analyzer set-up, numba/silero warm-up)")
    local_cold_s, _ = timed(lambda: list(run_local([VideoRequest("cold", str(sample))], plan)))
    for original in originals[1:] if not args.quick else ():
        list(run_local([VideoRequest("warm", str(original))], plan))
    decode_s = min(timed(lambda: [pure_decode(str(v)) for v in videos])[0] for _ in range(3))  # the floor: best of 3
    log(f"in process: run_local over {len(videos)} videos")
    local_s, local_results = timed(lambda: list(run_local(requests, plan)))
    local_failed = sum(r.status.value != "ok" for r in local_results)

    # --- backfill on a local Ray -------------------------------------------------------------
    import ray

    from pipeline.backfill import backfill

    log("ray.init")
    ray_init_s, _ = timed(
        lambda: ray.init(
            address="local",  # a Ray of this process's own, never another user's cluster
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)

    def run_backfill(source: Path, output: Path) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            backfill(source, output, analyzers, settings=settings, weights_here=True)

    cold_video = media / "cold.mp4"
    link_or_copy(sample, cold_video)
    (work / "cold.txt").write_text(f"{cold_video}\n")
    log("backfill: cold, 1 video (workers start and import)")
    backfill_cold_s, _ = timed(lambda: run_backfill(work / "cold.txt", work / "cold"))
    log(f"backfill: {len(videos)} videos")
    backfill_s, _ = timed(lambda: run_backfill(manifest, work / "out"))

    import pyarrow.parquet as pq

    table = pq.read_table(work / "out" / "videos.parquet").to_pylist()
    video_s = sum(row["duration_s"] or 0.0 for row in table)
    backfill_failed = sum(row["status"] != "ok" for row in table)
    segments = pq.read_metadata(work / "out" / "segments.parquet").num_rows

    # --- Serve --------------------------------------------------------------------------------
    import httpx
    from ray import serve

    from serve_app import build_app

    port = free_port()
    log(f"serve: starting on 127.0.0.1:{port}")

    def start_serve() -> None:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = build_app(
            {
                "media_root": str(media),
                "analyzers": ",".join(analyzers),
                "models_dir": str(models),
                "ingress_cpus": 1,
                "max_ongoing_requests": 4,
                "max_queued_requests": 64,
            }
        )
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
        serve.run(app, name="reelscope", route_prefix="/")

    serve_start_s, _ = timed(start_serve)
    errors: list[str] = []

    def post(client: httpx.Client, **kwargs) -> float:
        start = time.perf_counter()
        answer = client.post("/v1/analyze", **kwargs)
        elapsed = time.perf_counter() - start
        if answer.status_code != 200 or answer.json().get("status") != "ok":
            errors.append(f"{answer.status_code}: {answer.text[:200]}")
        return elapsed

    body = {"json": {"path": sample.name}}
    local_one = [VideoRequest("clip", str(sample))]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        log(f"serve: {args.warmup} warm-up request(s)")
        warmups = [post(client, **body) for _ in range(args.warmup)]
        log(f"serve: {args.requests} sequential requests, each followed by a run_local call on the clip"
            f" (and the first {args.uploads} by a multipart upload of it)")
        payload = sample.read_bytes()
        upload = {"files": {"file": ("sample.mp4", payload, "video/mp4")}}
        serve_lat, local_lat, upload_lat = [], [], []
        for i in range(max(args.requests, args.uploads)):
            if i < args.requests:
                serve_lat.append(post(client, **body))
                local_lat.append(timed(lambda: list(run_local(local_one, plan)))[0])
            if i < args.uploads:
                upload_lat.append(post(client, **upload))
        # What each run_local call spends setting its analyzers up, which Serve's replicas did once.
        from pipeline.engine import AnalyzerStage, DecodeStage

        setup_s, _ = timed(lambda: (DecodeStage(plan), [AnalyzerStage(stage, settings=settings) for stage in plan.stages]))
        concurrent_s = None
        if args.concurrency > 0:
            log(f"serve: {args.requests} requests from {args.concurrency} concurrent clients")
            with ThreadPoolExecutor(args.concurrency) as pool:
                concurrent_s, concurrent_lat = timed(lambda: list(pool.map(lambda _: post(client, **body), range(args.requests))))
        batching = None
        if "object_detection" in analyzers:
            batching = serve.get_deployment_handle("YoloActor", app_name="reelscope").batching.remote().result()
    ray.shutdown()  # this process's own Ray, Serve with it
    load_after = load_average()
    total_s = time.perf_counter() - started
    if args.keep:
        log(f"kept {work}")

    # --- the table ----------------------------------------------------------------------------
    clips = f"{len(videos)} videos ({video_s:.0f} s of video"
    clips += f": the 10 s sample clip 360x640 and {TESTVIDEO.name} 1280x720 24 s, alternating)" if len(originals) > 1 else ": the 10 s sample clip 360x640)"
    print()
    print(f"machine: {machine()}")
    print(f"load average (1/5/15 min): before {load_before}, after {load_after}; run took {total_s:.0f} s")
    print(f"analyzers ({len(analyzers)}, no weights): {', '.join(analyzers)}")
    print()
    print(f"Backfill of {clips}")
    rows = [
        ("pure PyAV decode of every frame, in process (best of 3)", decode_s),
        ("run_local, in process (one call, set-up once)", local_s),
        ("backfill on local Ray, warm (incl. results + parquet)", backfill_s),
    ]
    for label, seconds in rows:
        print(f"  {label:<58} {seconds:7.2f} s  {len(videos) / seconds * 60:6.1f} videos/min  {video_s / seconds:6.1f} h video/h")
    print(f"  {'ray.init':<58} {ray_init_s:7.2f} s")
    print(f"  {'backfill cold: 1 video, first on the new Ray':<58} {backfill_cold_s:7.2f} s")
    print(f"  {'run_local cold: first call in this process (imports)':<58} {local_cold_s:7.2f} s")
    print(f"  failed: backfill {backfill_failed}, run_local {local_failed}; {segments} segment rows")
    print(f"  ratio backfill / run_local = {backfill_s / local_s:.2f}    backfill / pure decode = {backfill_s / decode_s:.2f}"
          f"    run_local / pure decode = {local_s / decode_s:.2f}")
    print()
    print("Serve, POST /v1/analyze of the 10 s sample clip (sequential, warm) vs run_local on it in process")
    print(f"  {'':<40} {'p50':>8} {'p95':>8} {'mean':>8}  n")
    for label, values in (
        ("serve, JSON {path}", serve_lat),
        ("run_local in process", local_lat),
        ("serve, multipart upload", upload_lat),
    ):
        if values:
            print(f"  {label:<40} {percentile(values, 50):7.2f}s {percentile(values, 95):7.2f}s {statistics.fmean(values):7.2f}s  {len(values)}")
    print(f"  ratio serve / in process: p50 {percentile(serve_lat, 50) / percentile(local_lat, 50):.2f}"
          f"   p95 {percentile(serve_lat, 95) / percentile(local_lat, 95):.2f}")
    print(f"  (each run_local call sets its analyzers up: {setup_s:.2f} s of it here; Serve's replicas did that once)")
    if upload_lat:
        paired = [u - p for u, p in zip(upload_lat, serve_lat)]
        print(f"  upload overhead ({len(payload) / 1e6:.1f} MB): upload p50 / path p50 = {percentile(upload_lat, 50) / percentile(serve_lat, 50):.2f};"
              f" upload - the path request just before it: median {statistics.median(paired):+.2f} s")
    sequential_rate = len(serve_lat) / sum(serve_lat) * 60
    print(f"  serve start-up (serve.run until ready) {serve_start_s:.2f} s; first request {warmups[0] if warmups else float('nan'):.2f} s")
    if concurrent_s is not None:
        rate = args.requests / concurrent_s * 60
        print(f"  throughput: sequential {sequential_rate:.1f} videos/min; {args.concurrency} concurrent clients {rate:.1f} videos/min"
              f" (x{rate / sequential_rate:.2f}; their latency p50 {percentile(concurrent_lat, 50):.2f} s, p95 {percentile(concurrent_lat, 95):.2f} s)")
    if batching:
        print(f"  YOLO family batching (whole run, one replica): {batching}")
    if errors:
        print(f"  {len(errors)} request(s) failed, first: {errors[0]}")


if __name__ == "__main__":
    main()
