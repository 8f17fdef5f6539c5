"""Soak: bounded concurrent traffic on loopback against the Serve app, good and bad inputs mixed.

    python bench/bench_soak.py [--minutes 10] [--clients 4]

Serve on 127.0.0.1 (cut_analysis, audio_analysis and color_analysis), media root holding the
fault corpus of tests/faults.py and the built-in sample clip. Each client loops until the time
is up, picking at random: a path request for a corpus input (good or bad), an upload of the
sample clip, or a job (submitted, then polled to its end). Every answer must be what the corpus
says (200 with an ok document, or its 4xx), or 503 under backpressure; anything else is counted
as unexpected, and 500s apart. At the start and end it reports the ingress replica's resident
memory and the processes of this session (none may be left once Serve shuts down). Loopback
only; the loop stops by itself.
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


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    import httpx
    import ray
    from faults import corpus
    from helpers import processes
    from ray import serve

    from pipeline.sample import SAMPLE, write_clip
    from serve_app import build_app

    root = Path(tempfile.mkdtemp(prefix="reelscope-soak-"))
    cases = corpus(root / "corpus")
    clip = Path(write_clip(str(root / "sample.mp4"), SAMPLE)).read_bytes()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
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
    start_rss = rss_mib(ingress)
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
    for thread in threads:
        thread.join()
    end_rss = rss_mib(ingress)
    serve.shutdown()
    ray.shutdown()
    time.sleep(5)
    left = [command for _, command, _ in processes() if "ray::" in command or "raylet" in command or "gcs_server" in command]

    total = sum(counts.values())
    print(f"requests: {total}; by (kind, status): {dict(sorted(counts.items()))}")
    print(f"500s: {sum(n for (_, status), n in counts.items() if status >= 500 and status != 503)}; unexpected: {len(unexpected)}")
    for line in unexpected[:10]:
        print(f"  {line}")
    print(f"ingress RSS: {start_rss:.0f} MiB at start, {end_rss:.0f} MiB at the end ({end_rss - start_rss:+.0f} MiB)")
    print(f"Ray processes left after shutdown: {len(left)}")
    return 1 if unexpected or left else 0


if __name__ == "__main__":
    sys.exit(main())
