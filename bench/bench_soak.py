"""Soak: bounded concurrent traffic on loopback against the Serve app, good and bad inputs mixed.

    python bench/bench_soak.py [--minutes 10] [--clients 4] [--trace]

Serve on 127.0.0.1 (cut_analysis, audio_analysis and color_analysis), media root holding the
fault corpus of tests/faults.py and the built-in sample clip. Each client loops until the time
is up, picking at random: a path request for a corpus input (good or bad), an upload of the
sample clip, or a job (submitted, then polled to its end). Every answer must be what the corpus
says (200 with an ok document, or its 4xx), or 503 under backpressure; anything else is counted
as unexpected, and 500s apart. At the start and end it reports the ingress replica's resident
memory and the processes of this session (none may be left once Serve shuts down), and the ingress RSS
every 30 s. --trace: tracemalloc runs in the ingress replica (through Ray's `__ray_call__`, the
app unchanged) from the first minute on; at the end the run prints what Python allocated there
meanwhile (by line, and objects by type), beside the RSS growth, to tell a leak of ours from
native memory (FFmpeg, allocator arenas). Loopback only; the loop stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))  # as scripts/dev.sh sets it

from bench_service import free_port, machine  # noqa: E402  (this folder is on sys.path)


RUN_MARK = "SOAK_RUN_ID"  # set for this run's Ray processes to inherit (REELSCOPE_* names are settings)
MEMORY_FIELDS = ("VmRSS", "RssAnon", "RssShmem")  # resident: all; private heap; shared (Ray's object store pages)


def memory_mib(pid: int) -> dict[str, float]:
    found = dict.fromkeys(MEMORY_FIELDS, float("nan"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in found:
            found[name] = int(value.split()[0]) / 1024
    return found


def rss_mib(pid: int) -> float:
    return memory_mib(pid)["VmRSS"]


def shown(memory: dict[str, float]) -> str:
    return ", ".join(f"{name} {mib:.0f}" for name, mib in memory.items()) + " MiB"


def _trim(_replica) -> None:
    """Hands the allocator's free pages back to the system (glibc): what RSS then drops by was
    freed memory the allocator kept, not memory still in use."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _trace_start(replica) -> None:
    """Run in the replica's process (the actor instance is `replica`): kept on it till the report."""
    import collections
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start(8)
    replica.soak_baseline = tracemalloc.take_snapshot()
    replica.soak_types = collections.Counter(type(o).__name__ for o in gc.get_objects())


def _trace_report(replica) -> str:
    """What Python allocated in this process since _trace_start and still holds: the 12 biggest
    growths by line (with where they were called from), and object counts by type."""
    import collections
    import gc
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    traced, peak = tracemalloc.get_traced_memory()
    lines = [f"traced now {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)"]
    for stat in snapshot.compare_to(replica.soak_baseline, "traceback")[:12]:
        frames = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in list(stat.traceback)[:4])
        lines.append(f"  {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+7d} blocks  {frames}")
    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    grown = sorted(((n - replica.soak_types.get(t, 0), t) for t, n in types.items()), reverse=True)[:10]
    lines.append("  objects grown: " + ", ".join(f"{t} {d:+d}" for d, t in grown if d > 0))
    tracemalloc.stop()
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--trace", action="store_true", help="tracemalloc in the ingress from the first minute on")
    args = parser.parse_args()

    import httpx
    import ray
    from faults import corpus
    from helpers import processes
    from ray import serve

    from pipeline.sample import SAMPLE, write_clip
    from serve_app import build_app

    root = Path(tempfile.mkdtemp(prefix="reelscope-soak-"))
    os.environ[RUN_MARK] = root.name  # Ray's processes inherit it: this run's are told from others' (other users' Ray)
    cases = corpus(root / "corpus")
    clip = Path(write_clip(str(root / "sample.mp4"), SAMPLE)).read_bytes()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(
        build_app(
            {
                "media_root": str(root),
                "analyzers": "cut_analysis,audio_analysis,color_analysis",
                "max_jobs": 4,
                "models_dir": str(root / "no-models"),  # none needed: every worker gets these settings in its plan
            }
        ),
        name="soak",
        route_prefix="/",
    )
    base = f"http://127.0.0.1:{port}"
    [ingress] = [pid for pid, command, _ in processes() if "ServeReplica:soak:Reelscope" in command]
    [replica] = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("SERVE_REPLICA::soak#Reelscope#")]
    replica = ray.get_actor(replica, namespace="serve")
    start_rss, start_memory = rss_mib(ingress), memory_mib(ingress)
    print(f"machine: {machine()}; {len(cases)} corpus inputs; {args.clients} clients for {args.minutes:g} min")

    counts: collections.Counter = collections.Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.minutes * 60

    def expected(name: str, want: str | None, answer) -> bool:
        if answer.status_code == 503:
            return "retry later" in answer.json()["detail"] and "retry-after" in answer.headers
        if want is None and "10 min" not in name:
            return answer.status_code == 200 and answer.json()["status"] == "ok"
        return 400 <= answer.status_code < 500 and "detail" in answer.json()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=300) as http:
            while time.monotonic() < deadline:
                kind = rng.choices(["path", "upload", "job"], [6, 2, 1])[0]
                name, (path, want) = rng.choice(list(cases.items()))
                if kind == "path":
                    answer = http.post("/v1/analyze", json={"path": str(path.relative_to(root))})
                    good = expected(name, want, answer)
                elif kind == "upload":
                    name, answer = "upload", http.post("/v1/analyze", files={"file": ("sample.mp4", clip)})
                    good = answer.status_code in (200, 503)
                else:
                    name, answer = "job", http.post("/v1/jobs", json={"path": "sample.mp4"})
                    good = answer.status_code in (202, 503)
                    while answer.status_code == 202 and time.monotonic() < deadline + 300:
                        state = http.get(f"/v1/jobs/{answer.json()['id']}").json()
                        if state["status"] in ("done", "failed"):
                            good = state["status"] == "done"
                            break
                        time.sleep(0.5)
                with lock:
                    counts[(kind, answer.status_code)] += 1
                    if not good:
                        unexpected.append(f"{kind} {name}: {answer.status_code} {answer.text[:160]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    began, timeline, traced = time.monotonic(), [], None
    while any(thread.is_alive() for thread in threads):
        timeline.append((time.monotonic() - began, rss_mib(ingress)))
        if args.trace and traced is None and time.monotonic() - began > 60:
            ray.get(replica.__ray_call__.remote(_trace_start))
            traced = rss_mib(ingress)
        for thread in threads:
            thread.join(timeout=30 / len(threads))
    end_rss, end_memory = rss_mib(ingress), memory_mib(ingress)
    report = ray.get(replica.__ray_call__.remote(_trace_report)) if traced is not None else None
    ray.get(replica.__ray_call__.remote(_trim))
    trimmed = memory_mib(ingress)
    serve.shutdown()
    ray.shutdown()
    time.sleep(5)
    mark = f"{RUN_MARK}={root.name}".encode()
    left = [
        command
        for _, command, environ in processes()
        if mark in environ.split(b"\0") and ("ray::" in command or "raylet" in command or "gcs_server" in command)
    ]

    total = sum(counts.values())
    print(f"requests: {total}; by (kind, status): {dict(sorted(counts.items()))}")
    print(f"500s: {sum(n for (_, status), n in counts.items() if status >= 500 and status != 503)}; unexpected: {len(unexpected)}")
    for line in unexpected[:10]:
        print(f"  {line}")
    print(f"ingress RSS: {start_rss:.0f} MiB at start, {end_rss:.0f} MiB at the end ({end_rss - start_rss:+.0f} MiB)")
    print(f"ingress memory: start {shown(start_memory)}; end {shown(end_memory)}; after malloc_trim {shown(trimmed)}")
    print("ingress RSS every 30 s (min: MiB): " + ", ".join(f"{t / 60:.1f}: {m:.0f}" for t, m in timeline[:: max(1, len(timeline) // 24)]))
    if report is not None:
        print(f"tracemalloc in the ingress from minute 1 (RSS {traced:.0f} -> {end_rss:.0f} MiB meanwhile):\n{report}")
    print(f"Ray processes left after shutdown: {len(left)}")
    return 1 if unexpected or left else 0


if __name__ == "__main__":
    sys.exit(main())
