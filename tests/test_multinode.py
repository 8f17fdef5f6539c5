"""The bulk backfill on a real two-node Ray cluster on this machine, with faults. SLOW: 1.5 to 3
minutes on the 2-core dev VM, by how busy it is (the cluster's start-up and two `ray job submit` runs).

A head node (1 logical CPU, no GPU) and a worker node (2 logical CPUs, 1 logical GPU, its own
`--memory` and `--object-store-memory`) are started with `ray start --block`, each in its own
session with its own ports and `--temp-dir`, so they live beside any other Ray on the machine
(never `ray stop`: it would end those too). A backfill goes in with
`ray job submit --working-dir . -- python -m pipeline.backfill …`, and mid-run

- the on-screen-text model actor (its pool sits on the worker node's GPU) is SIGKILLed while it
  is running a batch: Ray restarts it and retries the batch;
- in a second backfill of CPU analyzers only (so the head alone can run every stage), the whole
  worker node (raylet, agents, workers) is SIGKILLed while it is decoding a video: Ray retries
  that decode on the head.

Either way the job succeeds and every manifest video (good, corrupt and missing ones) comes out
exactly once: one results/<id>.json, one videos.parquet row, one progress line in the job's log.
Every process of the cluster carries a per-node tag in its environment, so a node is killed by
that tag (its workers run in process groups of their own) and teardown leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import processes

from pipeline.backfill import video_id
from pipeline.sample import SAMPLE, ClipSpec, Shot, write_clip

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")
TAG = "RS_MULTINODE_NODE"  # not REELSCOPE_*: every variable of that prefix must be a setting
CPU_ANALYZERS = "cut_analysis,audio_analysis,color_analysis"
GiB, MiB = 2**30, 2**20

pytestmark = [
    pytest.mark.timeout(420),
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds a node's processes through /proc"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, cluster: Cluster, name: str, args: list[str]) -> None:
        self.name = name
        self.tag = f"{cluster.root}/{name}"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # the job's `python` is this venv's
            RAY_AUTH_MODE="disabled",
            HF_HUB_OFFLINE="1",
            YOLO_OFFLINE="1",
            REELSCOPE_TEXT_OVERLAY__READER="rapidocr",  # the job driver reads it: the offline reader
            RAY_health_check_period_ms="1000",  # a dead node is noticed in ~5 s, not ~15 s
            **{TAG: self.tag},
        )
        self.log = cluster.root / f"{name}.log"
        command = [RAY, "start", *args, "--temp-dir", str(cluster.root / name), "--block", "--disable-usage-stats"]
        command += ["--dashboard-agent-listen-port", str(_free_port())]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def pids(self, title: str = "") -> list[int]:
        """This node's processes (whatever their session or parent), those whose title holds `title`."""
        mark = f"{TAG}={self.tag}\0".encode()
        return [pid for pid, cmd, env in processes() if mark in env and title in cmd]

    def kill(self) -> None:
        """SIGKILL every process of the node: what a machine that loses power does to it."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"processes of {self.name} outlived SIGKILL: {self.pids()}")


class Cluster:
    def __init__(self) -> None:
        # Short: Ray's unix sockets live under the temp dir, and tmp_path can be too long for them.
        self.root = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
        self.gcs_port, self.dashboard_port = _free_port(), _free_port()
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        self.nodes: list[Node] = []
        self.workers: list[tuple[Node, str]] = []

    def start_head(self) -> Node:
        head = self.add(
            "head",
            ["--head", "--port", str(self.gcs_port), "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(_free_port()),
             "--num-cpus", "1", "--num-gpus", "0", "--memory", str(2 * GiB), "--object-store-memory", str(400 * MiB)],
        )
        self.wait(lambda: self._dashboard_up() and self.alive_nodes(), 90, "the head node to start", head)
        return head

    def worker(self) -> tuple[Node, str]:
        """The worker node that is up, else a new one: (node, its node id)."""
        if self.workers and self.workers[-1][0].proc.poll() is None:
            node, node_id = self.workers[-1]
            if self.node_state(node_id) == "ALIVE":
                return node, node_id
        before = {n["node_id"] for n in self.alive_nodes()}
        node = self.add(
            f"worker{len(self.workers)}",
            ["--address", f"127.0.0.1:{self.gcs_port}", "--num-cpus", "2", "--num-gpus", "1",
             "--memory", str(GiB + GiB // 2), "--object-store-memory", str(300 * MiB)],
        )
        new = self.wait(lambda: [n["node_id"] for n in self.alive_nodes() if n["node_id"] not in before], 90,
                        f"{node.name} to join", node)
        self.workers.append((node, new[0]))
        return self.workers[-1]

    def add(self, name: str, args: list[str]) -> Node:
        node = Node(self, name, args)
        self.nodes.append(node)
        return node

    def _dashboard_up(self) -> bool:
        try:
            return urllib.request.urlopen(f"{self.dashboard}/api/version", timeout=2).status == 200
        except OSError:
            return False

    def state(self, kind: str, **options) -> list[dict]:
        from ray.util import state

        rows = getattr(state, f"list_{kind}")(address=self.dashboard, raise_on_missing_output=False, **options)
        return [r if isinstance(r, dict) else r.__dict__ for r in rows]

    def alive_nodes(self) -> list[dict]:
        return self.state("nodes", filters=[("state", "=", "ALIVE")])

    def node_state(self, node_id: str) -> str:
        return next(n["state"] for n in self.state("nodes") if n["node_id"] == node_id)

    def wait(self, condition, timeout_s: float, what: str, node: Node | None = None, job=None):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if node is not None and node.proc.poll() is not None:
                raise AssertionError(f"`ray start` of {node.name} exited:\n{node.log.read_text()[-3000:]}")
            if job is not None and job.proc.poll() is not None:
                raise AssertionError(f"the job ended before {what}:\n{job.output()[-5000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def teardown(self) -> None:
        """Kill every node outright (the whole cluster goes: no graceful stop to wait for)."""
        errors = []
        for node in self.nodes:
            try:
                node.kill()
                node.proc.wait(timeout=10)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                errors.append(exc)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]


class Job:
    """`ray job submit --working-dir . -- python -m pipeline.backfill …`, as a person types it: the
    CLI uploads the checkout, then tails the job's log until it ends."""

    def __init__(self, cluster: Cluster, manifest: Path, output: Path, analyzers: str) -> None:
        self.id = f"backfill-{uuid.uuid4().hex[:12]}"
        self.log = output.with_suffix(".submit.log")
        self.dashboard = cluster.dashboard
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_AUTH_MODE"] = "disabled"
        command = [RAY, "job", "submit", "--address", cluster.dashboard, "--submission-id", self.id,
                   "--working-dir", ".", "--", "python", "-m", "pipeline.backfill",
                   "--input", str(manifest), "--output", str(output), "--analyzers", analyzers]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def info(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.dashboard).get_job_info(self.id)

    def wait(self, timeout_s: float) -> str:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"`ray job submit` still running after {timeout_s} s:\n{self.output()[-5000:]}") from None
        text = self.output()
        assert self.proc.returncode == 0 and f"Job '{self.id}' succeeded" in text, text[-5000:]
        return text

    def stop(self) -> None:
        """After a failure: the CLI and the job itself, so that it does not load the next test."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            from ray.job_submission import JobSubmissionClient

            try:
                JobSubmissionClient(self.dashboard).stop_job(self.id)
            except Exception:  # the head may be what failed
                pass


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster()
    try:
        cluster.start_head()
        yield cluster
    finally:
        cluster.teardown()


@pytest.fixture
def worker_node(cluster):
    """The cluster's worker node, started if there is none alive (a test before may have killed it)."""
    return cluster.worker()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Good clips (4 shots each, one of them the built-in sample), a corrupt file. A good clip is
    written once and copied: each copy is a video of its own to the manifest."""
    folder = tmp_path_factory.mktemp("videos")
    write_clip(str(folder / "sample.mp4"), SAMPLE)
    colors = [(210, 90, 50), (60, 140, 220), (90, 200, 90), (230, 220, 80)]
    spec = ClipSpec(shots=tuple(Shot(6.0, c, seed=i) for i, c in enumerate(colors)), width=320, height=240)
    write_clip(str(folder / "clip00.mp4"), spec)
    for i in range(1, 10):
        shutil.copy(folder / "clip00.mp4", folder / f"clip{i:02d}.mp4")
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    return folder


def manifest(videos: Path, tmp_path: Path, clips: int) -> tuple[Path, list[str]]:
    good = [str(videos / f"clip{i:02d}.mp4") for i in range(clips)] + [str(videos / "sample.mp4")]
    sources = good + [str(videos / "corrupt.mp4"), str(tmp_path / "missing.mp4")]
    path = tmp_path / "manifest.csv"
    path.write_text("path\n" + "\n".join(sources) + "\n")
    return path, sources


def results(output: Path) -> list[Path]:
    return sorted((output / "results").glob("*.json")) if (output / "results").is_dir() else []


def check_exactly_once(output: Path, sources: list[str], job_log: str, videos: Path) -> dict[str, dict]:
    """Every manifest video once in results/, videos.parquet and the job's progress lines; good
    ones analysed, the corrupt and the missing one as error rows."""
    assert sorted(p.name for p in results(output)) == sorted(f"{video_id(s)}.json" for s in sources)
    assert not list((output / "results").glob(".*")), "a half-written result was left behind"
    rows = pq.read_table(output / "videos.parquet").to_pylist()
    assert sorted(r["source"] for r in rows) == sorted(sources)
    assert len({r["id"] for r in rows}) == len(sources)
    progress = re.findall(rf"^\[(\d+)/{len(sources)}\] (\S+): ", job_log, flags=re.MULTILINE)
    assert sorted(source for _, source in progress) == sorted(sources), job_log[-5000:]
    assert sorted(int(n) for n, _ in progress) == list(range(1, len(sources) + 1))
    assert f"{len(sources)} videos (2 failed in this run)" in job_log
    by_source = {r["source"]: r for r in rows}
    for source in sources[:-2]:
        row = by_source[source]
        assert row["status"] == "ok", (source, row["error"])
        assert json.loads(row["summaries"])["cut_analysis"]["shot_count"] == 4
    assert by_source[str(videos / "sample.mp4")]["duration_s"] == pytest.approx(10.0, abs=0.1)
    assert by_source[sources[-2]]["status"] == "failed" and "not a readable media file" in by_source[sources[-2]]["error"]
    assert by_source[sources[-1]]["status"] == "failed" and "no such file" in by_source[sources[-1]]["error"]
    return by_source


def test_model_actor_killed_mid_backfill(cluster, worker_node, videos, tmp_path):
    """The face models' actor pool needs a GPU: it sits on the worker node. (Not text_overlay's:
    its rapidocr default runs on the CPU and reserves no GPU.) Its actor is killed in the middle of
    a batch; the job goes on and nothing is lost or doubled."""
    worker, worker_id = worker_node
    path, sources = manifest(videos, tmp_path, clips=4)
    output = tmp_path / "out"
    job = Job(cluster, path, output, f"{CPU_ANALYZERS},eye_tracking")
    try:
        # The actor's title while it runs a batch: `ray::MapWorker(MapBatches(FaceActor)).submit`.
        actor = cluster.wait(
            lambda: len(results(output)) >= 1 and worker.pids("MapBatches(FaceActor)).submit"),
            240, "the face actor on the worker node to be busy after a first result", job=job,
        )
        done_at_kill = len(results(output))
        for pid in actor:
            os.kill(pid, signal.SIGKILL)
        log = job.wait(240)
    finally:
        job.stop()

    assert 1 <= done_at_kill < len(sources)
    rows = check_exactly_once(output, sources, log, videos)
    for source in sources[:-2]:
        assert json.loads(rows[source]["analyzer_status"])["eye_tracking"] == "ok", source
    # Ray restarted the actor (on the only GPU, the worker node's) and retried the batch it was running.
    cluster.wait(
        lambda: [
            runs for runs in attempts(cluster, job, "FaceActor)).submit").values()
            if any(r["state"] == "FAILED" for r in runs)
            and any(r["state"] == "FINISHED" and r["worker_pid"] not in actor for r in runs)
        ],
        30, "the state API to show the face batch that failed with its actor, then succeeded",
    )
    job_id = job.info().job_id
    (faces,) = [a for a in cluster.state("actors", detail=True) if "FaceActor" in a["class_name"] and a["job_id"] == job_id]
    assert faces["num_restarts"] >= 1 and faces["node_id"] == worker_id and faces["pid"] not in actor, faces

    # The working directory went up without the virtualenv and the other git-ignored folders.
    uri = job.info().runtime_env["working_dir"]  # gcs://_ray_pkg_<hash>.zip
    (package,) = (cluster.root / "head" / "session_latest").glob(f"runtime_resources/working_dir_files/{Path(uri).stem}")
    assert (package / "pipeline" / "backfill.py").is_file()
    uploaded = [p for p in package.rglob("*") if p.is_file()]
    assert not {".venv", ".git", ".cache", "out"} & {p.relative_to(package).parts[0] for p in uploaded}
    assert sum(p.stat().st_size for p in uploaded) < 20 * MiB


def test_worker_node_killed_mid_backfill(cluster, worker_node, videos, tmp_path):
    """CPU analyzers only: decoding is the one stage, so the head alone can finish the run. The
    worker node dies, processes and all, while it is decoding; the job goes on on the head."""
    worker, worker_id = worker_node
    path, sources = manifest(videos, tmp_path, clips=10)
    output = tmp_path / "out"
    job = Job(cluster, path, output, CPU_ANALYZERS)
    try:
        cluster.wait(
            lambda: len(results(output)) >= 1 and worker.pids("ray::MapBatches("),  # a decode task, not an actor
            240, "the worker node to be decoding after a first result", job=job,
        )
        done_at_kill = len(results(output))
        worker.kill()
        log = job.wait(240)
    finally:
        job.stop()

    assert 1 <= done_at_kill < len(sources)
    cluster.wait(lambda: cluster.node_state(worker_id) == "DEAD", 60, "the GCS to mark the worker node dead")
    assert [n["is_head_node"] for n in cluster.alive_nodes()] == [True]
    check_exactly_once(output, sources, log, videos)
    # The decode that was running on the worker node failed with it, and ran again on the head.
    (head_id,) = [n["node_id"] for n in cluster.alive_nodes()]
    cluster.wait(
        lambda: [
            runs for runs in attempts(cluster, job, "MapBatches(").values()
            if any(r["state"] == "FAILED" and r["error_type"] == "NODE_DIED" and r["node_id"] == worker_id for r in runs)
            and any(r["state"] == "FINISHED" and r["node_id"] == head_id for r in runs)
        ],
        30, "the state API to show a decode lost with the worker node, then done on the head",
    )
    # The finalizers were on the driver's node, the head, from the start: never restarted there.
    job_id = job.info().job_id
    finalizers = [a for a in cluster.state("actors", detail=True) if a["class_name"] == "Finalizer" and a["job_id"] == job_id]
    assert finalizers and all(a["node_id"] == head_id and a["num_restarts"] == 0 for a in finalizers), finalizers


def attempts(cluster: Cluster, job: Job, name: str) -> dict[str, list[dict]]:
    """Every attempt of the job's tasks whose name holds `name`, by task id."""
    tasks: dict[str, list[dict]] = {}
    for attempt in cluster.state("tasks", detail=True, filters=[("job_id", "=", job.info().job_id)], limit=10_000):
        if name in attempt["name"]:
            tasks.setdefault(attempt["task_id"], []).append(attempt)
    return tasks
