"""Bulk backfill benchmark: where a backfill's CPU, copies and memory go, on a warm local cluster.

    python bench/bench_bulk.py [--n 64] [--seconds 2] [--analyzers A,B] [--no-real] [--poison K] [--tiny-models]
    python bench/bench_bulk.py --nodes 1,2 --node-cpus 1 [...]   (one node, then two, side by side)
    python bench/bench_revisions.py REV --bench bench/bench_bulk.py --rounds 1 [--n 64]   (before | after)

N generated clips (pipeline/sample.py: 4 distinct clips, copied so each copy is a video of its
own) plus the real clips of ../shared/media under --real-max-s seconds go through
`pipeline.backfill.backfill` on a local Ray that a small warm-up backfill has started. The
default analyzers are those that need no download; --tiny-models writes tiny random models for
every analyzer that loads one (tests/model_factory.py) and links the real Whisper tiny.en of
../shared/models, so that all twenty run and every model family's pool is in the graph (the
copies are those of the real models; the speed is not). --poison K adds K clips that kill their
decode worker every time (the tests' KillsItsWorker probe, an in-decoder analyzer that ends its
process on a magenta picture: what a decoder segfault does); each must cost only itself.
--nodes 1,2 runs the same backfill on a local cluster of one node, then of two, each node with
--node-cpus CPUs (ray.cluster_utils.Cluster: every node a raylet of its own on this machine).
Printed, per video where it says so:

(cpu)   CPU seconds of the driver (this process), of Ray's workers and of Ray's own processes
        (GCS, raylet, agents), sampled every 0.2 s over the process tree; the driver's share
(hop)   each Ray Data operator's output, as Ray Data accounts it (a row that refers to a payload
        in the object store counts the payload's bytes: what it keeps alive)
(copy)  bytes written into the object store during the run (plasma's cumulative_created_bytes:
        blocks and payloads; objects under 100 KiB live in their owner's memory, not counted)
        against `read`, the frames and audio the model stages' analyzers read (decoded here once
        per distinct clip, each payload counted once)
(store) object-store peak (MiB), spilled (MiB), peak memory of all the processes (PSS, MiB)
(speed) videos/min and video-hours/hour of the measured backfill, wall time
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
# Beside the main checkout, also when bench_revisions runs this from a temporary worktree.
GIT_COMMON = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--git-common-dir"], capture_output=True, text=True).stdout.strip()
MEDIA = (REPO / GIT_COMMON).resolve().parent.parent / "shared" / "media" if GIT_COMMON else REPO.parent / "shared" / "media"
MiB = 2**20


def clips(folder: Path, n: int, seconds: float) -> list[str]:
    """n videos: 4 distinct generated clips of `seconds`, copied round-robin."""
    from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip

    colors = [(210, 90, 50), (60, 140, 220), (90, 200, 90), (230, 220, 80)]
    distinct = []
    for i, color in enumerate(colors):
        shots = (Shot(seconds / 2, color, "pan", seed=i, text="BULK"), Shot(seconds / 2, colors[i - 1], "static", seed=i + 4))
        spec = ClipSpec(shots=shots, width=480, height=270, audio=AudioSpec(bpm=100 + 10 * i))
        distinct.append(write_clip(str(folder / f"distinct{i}.mp4"), spec))
    paths = []
    for i in range(n):
        path = folder / f"clip{i:04d}.mp4"
        shutil.copy(distinct[i % len(distinct)], path)
        paths.append(str(path))
    return paths


def real_clips(max_s: float) -> list[str]:
    import av

    found = []
    for path in sorted(MEDIA.glob("*/*.mp4")):
        with av.open(str(path)) as container:
            if container.duration and container.duration / 1e6 <= max_s:
                found.append(str(path))
    return found


def bytes_read(paths: list[str], plan) -> int:
    """The bytes of frames and audio the model stages' analyzers read, summed over `paths` (each
    distinct file decoded once)."""
    from pipeline.analyzer import FrameBatch
    from pipeline.engine.decode import Decoder

    staged = [a for stage in plan.stages for a in stage]
    specs = list(dict.fromkeys(a.frames for a in staged if a.frames is not None))
    audio = any(a.audio for a in staged)
    per_file: dict[int, int] = {}
    total = 0
    for path in paths:
        key = os.path.getsize(path)  # the copies of one clip have one size
        if key not in per_file:
            size = 0
            if specs or audio:
                with contextlib.suppress(Exception):
                    for payload in Decoder(path, specs, audio):
                        size += payload.frames.nbytes if isinstance(payload, FrameBatch) else payload.samples.nbytes
            per_file[key] = size
        total += per_file[key]
    return total


def operators(summary) -> list:
    """Every operator of a dataset's stats, from the first (its parents') on."""
    return [op for parent in summary.parents for op in operators(parent)] + list(summary.operators_stats)


def watch_store(address: str) -> None:
    """In a process of its own (so that its calls into Ray cost the driver nothing): the object
    store's peak use (MiB), what was spilled (MiB) and how many bytes were created in it, over
    every node, polled every 0.5 s from the first poll until stdin closes."""
    from ray._private.internal_api import get_memory_info_reply, get_state_from_address

    def stats():
        return get_memory_info_reply(get_state_from_address(address)).store_stats

    first = stats()
    print("ready", flush=True)  # the backfill starts now
    peak, spilled, created = 0.0, 0.0, first.cumulative_created_bytes
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while True:
        finished = done.wait(0.5)
        with contextlib.suppress(Exception):
            now = stats()
            peak = max(peak, now.object_store_bytes_used / MiB)
            spilled = max(spilled, now.spilled_bytes_total / MiB)
            created = now.cumulative_created_bytes
        if finished:
            break
    print(peak, spilled, created - first.cumulative_created_bytes)


class Sampler(threading.Thread):  # its thread's name: "Sampler"
    """CPU seconds and memory (PSS) of this process and every descendant (embedded Ray: GCS,
    raylet, workers), every `period` seconds; its own CPU is left out of the driver's."""

    def __init__(self, period: float = 0.2) -> None:
        super().__init__(daemon=True, name="Sampler")
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self.period = period
        self.base = self._cpu()
        self.threads_base = {t.id: t.user_time + t.system_time for t in self.me.threads()}
        self.thread_cpu: dict[int, tuple[str, float]] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.peak_pss = 0
        self.own_cpu = 0.0  # this thread's CPU seconds: not the driver's work
        self.stop = threading.Event()

    def _cpu(self) -> dict[int, tuple[str, float]]:
        seen = {}
        for proc in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(self.psutil.Error):
                command = " ".join(proc.cmdline()[:4])
                if "--watch-store" not in command:  # the benchmark's own
                    times = proc.cpu_times()
                    seen[proc.pid] = (command, times.user + times.system)
        return seen

    def run(self) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                break
            self.sample(memory=n % 10 == 0)
            self.own_cpu = time.thread_time()
            self.stop.wait(self.period)

    def sample(self, memory: bool = True) -> None:
        self.last.update(self._cpu())
        self._threads()
        if not memory:
            return
        pss = 0  # proportional: the object store's shared pages are counted once across processes
        for proc in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(self.psutil.Error):
                pss += proc.memory_full_info().pss
        self.peak_pss = max(self.peak_pss, pss)

    def _threads(self) -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for thread in self.me.threads():
            name = re.sub(r"[-_ ]?\d+$", "", names.get(thread.id, "ray core (C++)"))
            self.thread_cpu[thread.id] = (name, thread.user_time + thread.system_time)

    def driver_threads(self) -> dict[str, float]:
        """The driver's CPU seconds by thread (Python threads by name; the rest are Ray's C++ threads)."""
        split: dict[str, float] = {}
        for tid, (name, seconds) in self.thread_cpu.items():
            split[name] = split.get(name, 0.0) + seconds - self.threads_base.get(tid, 0.0)
        split["sampler (not the driver's)"] = self.own_cpu
        split["Sampler"] = split.get("Sampler", 0.0) - self.own_cpu
        return {name: seconds for name, seconds in sorted(split.items(), key=lambda kv: -kv[1]) if abs(seconds) > 0.05}

    def cpu_seconds(self) -> dict[str, float]:
        """Driver, workers (ray::… and worker processes), Ray's own processes: CPU seconds in the run."""
        self.stop.set()
        self.join()
        self.sample()
        split = {"driver": 0.0, "workers": 0.0, "ray": 0.0}
        for pid, (command, seconds) in self.last.items():
            spent = seconds - self.base.get(pid, ("", 0.0))[1]
            spent -= self.own_cpu if pid == self.me.pid else 0.0
            part = "driver" if pid == self.me.pid else "workers" if "default_worker" in command or "ray::" in command else "ray"
            split[part] += max(spent, 0.0)
        return split


def tiny_models(folder: Path):
    """Settings whose models directory holds a tiny random model for every analyzer that loads
    one, and the real Whisper tiny.en where ../shared/models has it. Text is read with rapidocr:
    the generated EasyOCR weights pass EasyOCR's MD5 check only where a test patches its table."""
    import warnings

    from pipeline.settings import Settings

    sys.path.insert(0, str(REPO / "tests"))
    from model_factory import write_audio_models, write_vision_models

    from actors.whisper import MODELS

    write_vision_models(folder, "tiny")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mel filter")  # AST's feature extractor, as the real one
        write_audio_models(folder)
    whisper = MEDIA.parent / "models" / "faster-whisper-tiny.en"
    if whisper.is_dir():
        (folder / MODELS["tiny.en"].weights.name).symlink_to(whisper)
    return Settings(models_dir=folder, text_overlay={"reader": "rapidocr"}, speech_transcription={"model": "tiny.en"})


def poisoned(folder: Path, k: int) -> tuple[list[str], type]:
    """k clips that kill their decode worker, and the probe that does it (importable by Ray's
    workers too: tests/ joins their PYTHONPATH)."""
    from pipeline.sample import ClipSpec, Shot, write_clip

    tests = str(REPO / "tests")
    sys.path.insert(0, tests)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    from probe_analyzers import KillsItsWorker

    spec = ClipSpec(shots=(Shot(0.5, color=(255, 0, 255)),), width=64, height=64, audio=None)
    return [write_clip(str(folder / f"poison{i}.mp4"), spec) for i in range(k)], KillsItsWorker


def start_ray(nodes: int, node_cpus: float | None):
    """An embedded Ray (nodes 0), or a local cluster of `nodes` nodes of node_cpus CPUs each."""
    from pipeline.runners import ray_data

    if not nodes:
        ray_data.connect(None)
        return None
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": node_cpus})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=node_cpus)
    cluster.wait_for_nodes()
    ray_data.connect(cluster.address)
    return cluster


def compare_nodes(counts: list[int], argv: list[str]) -> None:
    """The same backfill on each cluster size, one after the other, each in a process of its own."""
    speeds = {}
    for count in counts:
        run = subprocess.run([sys.executable, __file__, *argv, "--nodes", str(count)], capture_output=True, text=True)
        print(f"--- {count} node(s) ---\n{run.stdout}{run.stderr[-2000:] if run.returncode else ''}", flush=True)
        found = re.search(r"\(speed\) ([\d.]+) videos/min", run.stdout)
        speeds[count] = float(found.group(1)) if found else float("nan")
    base = speeds[counts[0]]
    print("(nodes) " + "   ".join(f"{c} node(s): {v:.2f} videos/min (x{v / base:.2f})" for c, v in speeds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="generated clips")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each generated clip")
    parser.add_argument("--analyzers", help="comma-separated (default: all whose weights are here)")
    parser.add_argument("--no-real", action="store_true", help="leave out the real clips of ../shared/media")
    parser.add_argument("--real-max-s", type=float, default=12.0, help="real clips up to this long")
    parser.add_argument("--poison", type=int, default=0, help="clips that kill their decode worker, in the middle of the manifest")
    parser.add_argument("--nodes", default="0", help="a local cluster of this many nodes (0: an embedded Ray); a list (1,2) compares them")
    parser.add_argument("--node-cpus", type=float, default=1.0, help="CPUs of each node of --nodes")
    parser.add_argument("--tiny-models", action="store_true", help="tiny random models for every analyzer that loads one: all twenty run")
    parser.add_argument("--watch-store", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch_store:
        return watch_store(args.watch_store)
    counts = [int(c) for c in args.nodes.split(",")]
    if len(counts) > 1:
        argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--nodes" and sys.argv[i] != "--nodes" and not a.startswith("--nodes=")]
        return compare_nodes(counts, argv)

    import dataclasses

    from pipeline.backfill import backfill
    from pipeline.engine import Plan
    from pipeline.runners import ray_data

    names = args.analyzers.split(",") if args.analyzers else None
    with tempfile.TemporaryDirectory(prefix="reelscope-bulk-") as scratch:
        root = Path(scratch)
        settings = tiny_models(root / "models") if args.tiny_models else None
        plan = Plan.build(names, settings=settings, weights_here=True)
        names = [a.name for a in plan.analyzers]
        (root / "clips").mkdir()
        sources = clips(root / "clips", args.n, args.seconds) + ([] if args.no_real else real_clips(args.real_max_s))
        read = bytes_read(sources, plan)
        poison: list[str] = []
        if args.poison:
            poison, probe = poisoned(root / "clips", args.poison)
            sources[len(sources) // 2 : len(sources) // 2] = poison
            build = Plan.build
            Plan.build = classmethod(lambda cls, *a, **k: dataclasses.replace(build(*a, **k), analyzers=(*build(*a, **k).analyzers, probe)))
        cluster = start_ray(counts[0], args.node_cpus)
        # Warm: Ray's workers are started and have set their analyzers up once.
        (root / "warm.txt").write_text("\n".join(sources[:2]) + "\n")
        with contextlib.redirect_stdout(io.StringIO()):
            backfill(root / "warm.txt", root / "warm", names, settings=settings, weights_here=True)

        datasets = []
        build_dataset = ray_data.build_dataset

        def kept(*a, **k):
            datasets.append(build_dataset(*a, **k))
            return datasets[-1]

        ray_data.build_dataset = kept
        (root / "manifest.txt").write_text("\n".join(sources) + "\n")
        import ray._private.worker

        address = ray._private.worker.global_worker.node.address
        store = subprocess.Popen([sys.executable, __file__, "--watch-store", address], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        store.stdout.readline()  # its first poll is in: the bytes created from now on are the run's
        sampler = Sampler()
        sampler.start()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            backfill(root / "manifest.txt", root / "out", names, settings=settings, weights_here=True)
        wall = time.perf_counter() - start
        cpu = sampler.cpu_seconds()
        peak_store, spilled, created = map(float, store.communicate("")[0].split())
        threads = sampler.driver_threads()
        import pyarrow.parquet as pq

        rows = pq.read_table(root / "out" / "videos.parquet").to_pylist()
        if cluster is not None:
            ray.shutdown()
            cluster.shutdown()

    videos = len(sources)
    ok = sum(r["status"] == "ok" for r in rows)
    poison_ok = sum(r["status"] == "ok" for r in rows if r["source"] in poison)
    video_s = sum(r["duration_s"] or 0.0 for r in rows)
    total_cpu = sum(cpu.values())
    where = f"a local cluster of {counts[0]} node(s) of {args.node_cpus:g} CPUs" if counts[0] else "an embedded Ray"
    print(f"clip: {args.n} generated clips of {args.seconds:g} s (480x270) + {videos - args.n - len(poison)} real + {len(poison)} poison; {video_s:.1f} s of video; {ok}/{videos} ok; on {where}")
    if poison:
        print(f"(poison) {len(poison)} poison clip(s): {len(poison) - poison_ok} failed; other videos failed: {videos - len(poison) - (ok - poison_ok)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"analyzers: {','.join(names)}; model stages: {[[a.name for a in s] for s in plan.stages]}")
    print(f"(cpu) driver CPU s per video {cpu['driver'] / videos:.4f}   driver share of all CPU s {cpu['driver'] / total_cpu:.4f}")
    print(f"(cpu) CPU s: driver {cpu['driver']:.2f}  workers {cpu['workers']:.2f}  ray processes {cpu['ray']:.2f}  total {total_cpu:.2f}")
    print("(cpu) driver CPU s by thread: " + "  ".join(f"{name} {seconds:.2f}" for name, seconds in threads.items()))
    for op in operators(datasets[0]._get_stats_summary()) if datasets else []:
        out = op.output_size_bytes.sum if op.output_size_bytes else 0
        print(f"(hop) {op.operator_name[:60]:<60} MiB out per video {out / videos / MiB:.3f}")
    print(f"(copy) written to the object store MiB per video {created / videos / MiB:.3f}   read by model stages MiB per video {read / videos / MiB:.3f}   written/read {created / max(read, 1):.3f}")
    print(f"(store) object store peak MiB {peak_store:.1f}   spilled MiB {spilled:.1f}   memory peak (PSS, all processes) MiB {sampler.peak_pss / MiB:.1f}")
    print(f"(speed) {videos / wall * 60:.2f} videos/min   {video_s / wall:.3f} video-hours/hour   wall {wall:.2f} s")
    if ok < videos - len(poison) - len([s for s in sources if "delayed_start" in s]):
        print(printed.getvalue()[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
