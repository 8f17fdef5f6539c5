"""The Serve application on 127.0.0.1, on the test session's local Ray: the ingress composed with
two model family deployments (the tiny YOLO of tests/model_factory.py, rapidocr), its settings,
its inputs, its limits and its behaviour under a burst."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import select
import shutil
import signal
import socket
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest
import ray
from faults import corpus, media_cut_at, not_media
from helpers import processes
from http_files import serving
from probe_analyzers import KillsItsWorker
from ray import serve
from test_metrics import EXPORT_DEADLINE_S, scrape, value

from pipeline.engine import Plan, VideoRequest
from pipeline.registry import ALL_NAMES, load
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import SCHEMA_VERSION, Status, VideoResult, document_schema
from pipeline.runners.serve import JOB_ATTEMPTS, ORPHAN_S, Jobs
from pipeline.settings import Settings, SettingsError, app_settings
from serve_app import API_VERSION, Job, Reelscope, build_app

PORT = 8765
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEPLOYED = ["cut_analysis", "object_detection", "text_overlay"]


def document(answer: httpx.Response) -> VideoResult:
    """A /v1/analyze answer as the typed document."""
    assert answer.status_code == 200, answer.text
    return VideoResult.model_validate_json(answer.text)


def shot_count(result: VideoResult) -> int:
    return result.analyzers["cut_analysis"].summary.shot_count


def write_silence(path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(16000 * seconds))


@pytest.fixture(scope="module")
def media_root(sample_clip, tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    root = base / "media"
    root.mkdir()
    shutil.copy(sample_clip, root / "clip.mp4")
    (root / "corrupt.mp4").write_text("not a video")
    (base / "secret.mp4").write_bytes(b"outside the root")
    (root / "escape.mp4").symlink_to(base / "secret.mp4")
    write_silence(root / "long.wav", 25)  # over the synchronous limit, within the job limit
    write_silence(root / "longer.wav", 35)  # over every limit
    (root / "loop-a.mp4").symlink_to(root / "loop-b.mp4")
    (root / "loop-b.mp4").symlink_to(root / "loop-a.mp4")
    os.mkfifo(root / "pipe.mp4")  # opening it to read would block until a writer came
    (root / "folder.mp4").mkdir()
    write_clip(str(root / "magenta.mp4"), ClipSpec(shots=(Shot(1.0, (255, 0, 255)),), audio=None))  # see KillsItsWorker
    media_cut_at(root / "clip.mp4", root / "no-media.mp4", 0.0)  # an index that promises 10 s, and no media
    corpus(root / "corpus")
    return root


@pytest.fixture(scope="module")
def endpoint(local_ray, media_root, vision_settings):
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    # Application arguments as `serve run serve_app:build_app key=value …` passes them: strings,
    # serve fields by name, other settings by theirs, a section's field by a dotted key.
    guarded = build_app(
        {
            "media_root": str(media_root),
            "analyzers": ",".join(DEPLOYED),
            "token": TOKEN,
            "max_upload_mb": "2",
            "max_duration_s": "30",
            "max_sync_duration_s": "20",
            "max_ongoing_requests": "2",
            "max_queued_requests": "1",
            "ingress_cpus": "0.5",
            "jobs_dir": str(media_root.parent / "jobs"),
            "models_dir": str(vision_settings.models_dir),
            "text_overlay.reader": vision_settings.text_overlay.reader,
        }
    )
    # A second application, as a LAN deployment would configure it: private URLs allowed.
    lan = build_app(
        {
            "media_root": str(media_root),
            "analyzers": "cut_analysis",
            "allow_private_urls": True,
            "ingress_cpus": 0.5,
            "fetch_deadline_s": 3,
            "max_jobs": 3,
        }
    )
    # A third, whose decoder dies on a magenta picture as a native crash in FFmpeg would.
    settings = Settings(serve={"media_root": str(media_root)})
    fragile = serve.deployment(Reelscope).options(ray_actor_options={"num_cpus": 0})
    plan = Plan((load("cut_analysis"), KillsItsWorker), {}, settings=settings)
    serve.run(guarded, name="reelscope", route_prefix="/")
    serve.run(lan, name="lan", route_prefix="/lan")
    serve.run(fragile.bind(plan, {}, Jobs.bind(stall_s=60)), name="fragile", route_prefix="/fragile")
    yield f"http://127.0.0.1:{PORT}"
    serve.shutdown()


@pytest.fixture
def client(endpoint):
    with httpx.Client(base_url=endpoint, headers=AUTH, timeout=180) as client:
        yield client


@pytest.fixture(scope="module")
def file_server(media_root):
    """Serves the media root over HTTP on loopback, as some host on the network would."""
    with serving(media_root) as base:
        yield base


def test_health_openapi_and_the_token(endpoint, vision_models_dir):
    with httpx.Client(base_url=endpoint, timeout=30) as anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"
        spec = anonymous.get("/openapi.json").json()
        assert spec["info"]["version"] == API_VERSION
        assert {"/v1/analyze", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/analyzers", "/v1/schema"} <= set(spec["paths"])
        body = spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]
        assert {"application/json", "multipart/form-data"} <= set(body)
        assert anonymous.get("/v1/analyzers").status_code == 401
        assert anonymous.get("/v1/schema").status_code == 401
        assert anonymous.get("/v1/analyzers", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anonymous.post("/v1/analyze", json={"path": "clip.mp4"}).status_code == 401
        listing = anonymous.get("/v1/analyzers", headers=AUTH).json()
    assert [name for name, a in listing.items() if a["available"]] == DEPLOYED
    assert "reelscope models download" in listing["speech_transcription"]["reason"]
    # Models by id, never by where this server keeps them.
    assert "<models>/faster-whisper" in listing["speech_transcription"]["reason"]
    assert all(str(vision_models_dir) not in (a["reason"] or "") for a in listing.values())
    assert listing["color_analysis"]["reason"] == "not deployed on this server"


def test_two_families_at_once_give_the_in_process_result(client, media_root, vision_settings):
    answer = client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": [*DEPLOYED, "audio_analysis"]})
    result = document(answer)
    assert result.status == Status.ok and result.source == "clip.mp4" and result.video.path == "clip.mp4"
    assert shot_count(result) == 4
    audio = result.analyzers["audio_analysis"]
    assert audio.status == Status.skipped and audio.reason == "not deployed on this server"
    texts = {s.data.text: (s.start_s, s.end_s) for s in result.analyzers["text_overlay"].segments}
    assert texts["WAIT FOR IT"][0] < 0.5 and 2.5 < texts["WAIT FOR IT"][1] <= 3.1
    assert 7.5 < texts["LINK IN BIO"][0] < 8.5

    # In process with the same settings as the server's: the same segments.
    (local,) = run_local([VideoRequest("clip", str(media_root / "clip.mp4"))], Plan.build(DEPLOYED, settings=vision_settings))
    served, expected = answer.json()["analyzers"], local.model_dump(mode="json")["analyzers"]
    for name in DEPLOYED:
        assert result.analyzers[name].status == Status.ok, served[name]
        assert served[name]["segments"] == expected[name]["segments"], name


def test_the_schema_is_served_and_a_served_document_validates(client):
    answer = client.get("/v1/schema")
    assert answer.status_code == 200, answer.text
    schema = answer.json()
    assert schema == document_schema()
    assert SCHEMA_VERSION in schema["$id"]
    analyzers = schema["$defs"][schema["properties"]["analyzers"]["$ref"].rsplit("/", 1)[-1]]
    assert set(analyzers["properties"]) == set(ALL_NAMES)
    served = client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": [*DEPLOYED, "audio_analysis"]})
    assert served.status_code == 200, served.text
    jsonschema.validate(served.json(), schema)
    broken = served.json()
    broken["analyzers"]["cut_analysis"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_upload_and_url_inputs(client, endpoint, media_root, file_server):
    clip = (media_root / "clip.mp4").read_bytes()
    upload = client.post("/v1/analyze", files={"file": ("my clip.mp4", clip)}, data={"analyzers": "cut_analysis"})
    uploaded = document(upload)
    assert uploaded.source == "upload:my clip.mp4" and shot_count(uploaded) == 4

    fetched = httpx.post(f"{endpoint}/lan/v1/analyze", json={"url": f"{file_server}/clip.mp4"}, timeout=180)
    assert shot_count(document(fetched)) == 4
    missing = httpx.post(f"{endpoint}/lan/v1/analyze", json={"url": f"{file_server}/nothing.mp4"}, timeout=30)
    assert missing.status_code == 422 and "HTTP 404" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"path": "../secret.mp4"}, 403, "outside the media root"),
        ({"path": "escape.mp4"}, 403, "outside the media root"),
        ({"path": "/etc/passwd"}, 403, "outside the media root"),
        ({"path": "missing.mp4"}, 404, "no such file"),
        ({"path": "corrupt.mp4"}, 422, "not a readable media file"),
        ({"path": "clip.mp4", "analyzers": ["nope"]}, 422, "unknown analyzer(s): nope"),
        ({"path": "clip.mp4", "url": "http://example.com/a.mp4"}, 422, "exactly one of"),
        ({"path": "long.wav"}, 422, "25 s long; this endpoint takes up to 20 s; send it to POST /v1/jobs"),
        ({"url": "http://127.0.0.1:8765/healthz"}, 403, "non-public address (127.0.0.1)"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 403, "non-public address (169.254.169.254)"),
        ({"url": "http://10.0.0.7/clip.mp4"}, 403, "non-public address"),
        ({"url": "http://[::1]:8765/healthz"}, 403, "non-public address (::1)"),
        ({"url": "file:///etc/passwd"}, 422, "only http and https"),
        ({"path": "loop-a.mp4"}, 422, "symbolic link loop"),
        ({"path": "pipe.mp4"}, 422, "is a FIFO, not a regular file"),
        ({"path": "folder.mp4"}, 422, "is a directory"),
        ({"path": "clip\u0000.mp4"}, 422, "contains a NUL byte"),
        ({"path": "a/" * 2500 + "clip.mp4"}, 422, "too long for the file system"),
        ({"path": "x" * 300 + ".mp4"}, 422, "too long for the file system"),
    ],
)
def test_refusals(client, body, status, says):
    answer = client.post("/v1/analyze", json=body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert len(answer.json()["detail"]) < 500  # a 5,000-character path is not echoed whole


def chunks(total: int, size: int = 64 * 1024):
    """A body of `total` bytes sent chunked (no Content-Length)."""
    for _ in range(total // size):
        yield b"{" * size


def test_chunked_bodies_are_refused_as_they_pass_the_limit(client, endpoint):
    big_json = client.post("/v1/analyze", content=chunks(20_000_000), headers={"content-type": "application/json"})
    assert big_json.status_code == 413 and "a JSON body takes up to" in big_json.json()["detail"]
    assert len(big_json.text) < 500  # never the body echoed back

    # A raw socket sees when the answer comes: httpx would send the whole body before reading it.
    boundary = "reelscope-test"
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            f"POST /v1/analyze HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'.encode()
        sent, answer = 0, b""
        for chunk in [head, *(b"\0" * 65536 for _ in range(3000))]:  # up to 200 MB
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server closed its side after answering
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0.001)[0]:  # paced: 200 MB take at least 3 s to send
                break
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            if not (data := sock.recv(65536)):
                break
            answer += data
    status, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status and b"up to 2.0 MB" in rest, answer[:500]
    assert sent < 3000 * 65536, sent  # answered while the body was still coming, not after 200 MB


@pytest.fixture(scope="module")
def dripping_server():
    """A host that answers a download one byte a second."""

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_download_that_drips_is_refused_at_its_deadline(endpoint, dripping_server):
    started = time.monotonic()
    answer = httpx.post(f"{endpoint}/lan/v1/analyze", json={"url": f"{dripping_server}/clip.mp4"}, timeout=60)
    assert answer.status_code == 422 and "stalled" in answer.json()["detail"], answer.text
    assert re.search(r"stalled: [1-9] bytes in 3 s", answer.json()["detail"]), answer.text
    assert time.monotonic() - started < 20


def test_max_jobs_holds_under_concurrent_submissions(endpoint):
    def submit(_):
        return httpx.post(f"{endpoint}/lan/v1/jobs", json={"path": "clip.mp4"}, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(submit, range(8)))
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 503]
    assert len(accepted) <= 3 and len(accepted) + len(refused) == 8, [a.status_code for a in answers]
    assert refused and all(a.headers["retry-after"] and "jobs are running" in a.json()["detail"] for a in refused)
    for job in accepted:  # they finish, and free their places
        deadline = time.monotonic() + 120
        while httpx.get(f"{endpoint}/lan/v1/jobs/{job.json()['id']}", timeout=30).json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_upload_limits(client):
    oversize = client.post("/v1/analyze", files={"file": ("big.mp4", b"\x00" * 2_500_000)})
    assert oversize.status_code == 413 and "up to 2.0 MB" in oversize.json()["detail"]
    corrupt = client.post("/v1/analyze", files={"file": ("bad.mp4", b"not a video")})
    assert corrupt.status_code == 422 and "not a readable media file" in corrupt.json()["detail"]
    assert "/tmp" not in corrupt.json()["detail"]  # the server's temporary paths stay on the server
    no_file = client.post("/v1/analyze", files={"video": ("a.mp4", b"x")})
    assert no_file.status_code == 422


def test_jobs_report_progress_and_the_result(client):
    accepted = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["cut_analysis", "text_overlay"]})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    seen, deadline = [], time.monotonic() + 180
    while (job := Job.model_validate_json(client.get(f"/v1/jobs/{job_id}").text)).status not in ("done", "failed"):
        seen.append(job.progress)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job.status == "done" and job.progress == 1.0
    assert seen == sorted(seen) and any(0 < p < 1 for p in seen), seen
    assert shot_count(job.result) == 4

    long_job = client.post("/v1/jobs", json={"path": "long.wav", "analyzers": ["cut_analysis"]})
    assert long_job.status_code == 202  # too long to answer synchronously, not for a job
    too_long = client.post("/v1/jobs", json={"path": "longer.wav"})
    assert too_long.status_code == 422 and "up to 30 s" in too_long.json()["detail"]
    assert client.get("/v1/jobs/nope").status_code == 404


def test_a_burst_gets_answers_or_503_and_the_service_stays_up(client):
    def ask(_):
        return client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": ["cut_analysis"]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for answer in answers:
        if answer.status_code == 200:
            assert shot_count(document(answer)) == 4
        else:  # JSON like every other refusal, with when to come back
            assert answer.headers.get("content-type") == "application/json", (answer.status_code, answer.headers, answer.text)
            assert "retry later" in answer.json()["detail"] and int(answer.headers["retry-after"]) > 0
    assert document(ask(None)).status == Status.ok


def served_and_batches() -> tuple[float, float]:
    samples = scrape()
    served = value(samples, "ray_reelscope_videos_total", runner="serve", status="ok") or 0
    batches = value(samples, "ray_reelscope_analyzer_batch_seconds_count", analyzer="object_detection", where="model") or 0
    return served, batches


def test_requests_show_on_the_metrics_endpoint(client):
    served_before, batches_before = served_and_batches()
    assert client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": ["object_detection"]}).status_code == 200
    deadline = time.monotonic() + EXPORT_DEADLINE_S
    # The video, counted by the ingress; its batches, timed in the YOLO family's deployment.
    while not ((now := served_and_batches())[0] > served_before and now[1] > batches_before):
        assert time.monotonic() < deadline, (served_before, batches_before, now)
        time.sleep(0.5)
    assert value(scrape(), "ray_reelscope_video_realtime_factor_count", runner="serve") >= 1


def replica_pids(deployment: str, busy: bool = False, app: str = "reelscope") -> list[int]:
    """Processes of this session's Serve replicas of `deployment` (busy: running a request)."""
    title = f"ServeReplica:{app}:{deployment}" + (".handle_request" if busy else "")
    return [pid for pid, command, _ in processes() if title in command]


def test_two_requests_share_the_yolo_forward_passes(client, media_root):
    """Two clients' frames in one forward pass (pipeline.runners.serve_families.Coalescer), with the same
    detections as each request alone; the ingress answers meanwhile."""
    shutil.copy(media_root / "clip.mp4", media_root / "twin.mp4")  # another video id, the same frame size
    family = serve.get_deployment_handle("YoloActor", app_name="reelscope")
    before = family.batching.remote().result()["ultralytics"]
    ask = {"analyzers": ["object_detection"]}
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = [pool.submit(client.post, "/v1/analyze", json={"path": path, **ask}) for path in ("clip.mp4", "twin.mp4")]
        while not all(p.done() for p in pending):
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200 and time.monotonic() - started < 2
            time.sleep(0.1)
        together = [document(p.result()) for p in pending]
    after = family.batching.remote().result()["ultralytics"]
    assert after["shared"] > before["shared"] and after["largest"] >= 2, (before, after)
    assert after["payloads"] - before["payloads"] > after["passes"] - before["passes"]  # fewer passes than batches
    alone = document(client.post("/v1/analyze", json={"path": "clip.mp4", **ask}))
    for result in together:
        assert result.analyzers["object_detection"].segments == alone.analyzers["object_detection"].segments


def test_a_model_replica_killed_mid_request_loses_nothing(client):
    ask = {"path": "clip.mp4", "analyzers": ["cut_analysis", "object_detection"]}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(client.post, "/v1/analyze", json=ask)
        deadline = time.monotonic() + 60
        while not (busy := replica_pids("YoloActor", busy=True)):
            assert time.monotonic() < deadline and not pending.done(), "the YOLO replica never got a batch"
            time.sleep(0.02)
        for pid in busy:
            os.kill(pid, signal.SIGKILL)
        killed_mid_request = not pending.done()
        answer = pending.result()
    assert killed_mid_request
    # Serve starts a new replica and the ingress sends it the batch again: the document is whole.
    result = document(answer)
    replaced = replica_pids("YoloActor")
    assert replaced and not set(replaced) & set(busy)
    undisturbed = document(client.post("/v1/analyze", json=ask))
    for name in ask["analyzers"]:
        got, expected = result.analyzers[name], undisturbed.analyzers[name]
        assert got.status == Status.ok, got
        assert got.segments == expected.segments, name


def test_a_decoder_crash_costs_only_its_request(endpoint):
    ingress = replica_pids("Reelscope", app="fragile")
    with ThreadPoolExecutor(max_workers=2) as pool:
        crashing = pool.submit(httpx.post, f"{endpoint}/fragile/v1/analyze", json={"path": "magenta.mp4"}, timeout=120)
        good = pool.submit(httpx.post, f"{endpoint}/fragile/v1/analyze", json={"path": "clip.mp4"}, timeout=120)
        crashed, answered = crashing.result(), good.result()
    assert crashed.status_code == 422, crashed.text
    assert "the decoder's process died on this video" in crashed.json()["detail"]
    assert shot_count(document(answered)) == 4
    job = httpx.post(f"{endpoint}/fragile/v1/jobs", json={"path": "magenta.mp4"}, timeout=60).json()
    deadline = time.monotonic() + 60
    while (state := httpx.get(f"{endpoint}/fragile/v1/jobs/{job['id']}", timeout=30).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["status"] == "failed" and "the decoder's process died" in state["error"]
    assert replica_pids("Reelscope", app="fragile") == ingress and ingress  # the same ingress process throughout


def test_a_video_that_cannot_be_decoded_is_a_422_and_a_failed_job(client):
    answer = client.post("/v1/analyze", json={"path": "no-media.mp4"})
    assert answer.status_code == 422 and "no frame or sample could be decoded" in answer.json()["detail"]
    job = client.post("/v1/jobs", json={"path": "no-media.mp4", "analyzers": ["cut_analysis"]})
    assert job.status_code == 202, job.text  # its index reads as a 10 s video: accepted
    deadline = time.monotonic() + 60
    while (state := Job.model_validate_json(client.get(f"/v1/jobs/{job.json()['id']}").text)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state.status == "failed" and "no frame or sample could be decoded" in state.error
    assert state.result.status == Status.failed  # the job's status is its document's


SERVE_SAYS = {  # where Serve's answer differs from the document's error: refused before decoding
    "missing": (404, "no such file in the media root"),
    "directory": (422, "the path is a directory"),
    "fifo": (422, "is a FIFO, not a regular file"),
    "symlink loop": (422, "symbolic link loop"),
    "10 min of 8 kHz audio": (422, "this endpoint takes up to 180 s; send it to POST /v1/jobs"),
}


def test_the_fault_corpus_over_http(endpoint, media_root, tmp_path):
    """tests/test_fault_corpus.py's inputs as path requests: a document or one JSON line each, no 500."""
    cases = corpus(tmp_path / "corpus")  # the same names and truths as the copy in the media root
    for name, (path, want) in cases.items():
        relative = str(path.relative_to(tmp_path))
        answer = httpx.post(f"{endpoint}/lan/v1/analyze", json={"path": relative}, timeout=120)
        status, words = SERVE_SAYS.get(name, (200, None) if want is None else (422, want))
        assert answer.status_code == status, (name, answer.status_code, answer.text[:300])
        if status == 200:
            result = document(answer)
            assert result.status == Status.ok and result.source == relative, name
        else:
            assert words in answer.json()["detail"] and str(media_root) not in answer.json()["detail"], (name, answer.text)


def test_a_non_media_file_is_refused_the_same_by_path_and_by_upload(client, tmp_path):
    """Sniffed from the content (pipeline/sniff.py), whatever the name: the same one line for the
    file named by path and for its bytes uploaded; an animated GIF or APNG is a video either way."""
    for name, (path, want) in not_media(tmp_path / "not-media").items():
        relative = f"corpus/not-media/{path.name}"  # the media root's copy of the corpus
        by_path = client.post("/v1/analyze", json={"path": relative, "analyzers": ["cut_analysis"]})
        uploaded = client.post("/v1/analyze", files={"file": (path.name, path.read_bytes())}, data={"analyzers": "cut_analysis"})
        if want is None:
            served, sent = document(by_path), document(uploaded)
            assert served.video.frame_count == sent.video.frame_count == 10, name
            assert served.analyzers["cut_analysis"].segments == sent.analyzers["cut_analysis"].segments, name
            continue
        assert by_path.status_code == uploaded.status_code == 422, (name, by_path.text, uploaded.text)
        assert by_path.json()["detail"] == f"not a readable media file: {want}: {relative}", name
        assert uploaded.json()["detail"] == f"not a readable media file: {want}: upload:{path.name}", name


def serve_replica(app: str, deployment: str):
    """The actor of the one replica of `deployment` (Serve names it SERVE_REPLICA::app#deployment#id)."""
    prefix = f"SERVE_REPLICA::{app}#{deployment}#"
    [name] = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix)]
    return ray.get_actor(name, namespace="serve")


def test_a_job_whose_ingress_replica_dies_runs_again_on_a_live_one(client, media_root):
    """The ingress replica is killed mid-job: its state is on the job board, and the replica Serve
    starts in its place takes the job over and runs it to the end. Then the board's own replica
    is killed: its successor reads the jobs back from serve.jobs_dir."""
    write_clip(str(media_root / "eighteen.mp4"), ClipSpec(shots=(Shot(9.0, (200, 40, 40)), Shot(9.0, (40, 40, 200))), audio=None))
    accepted = client.post("/v1/jobs", json={"path": "eighteen.mp4", "analyzers": ["cut_analysis", "object_detection"]})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    deadline = time.monotonic() + 120
    while (state := client.get(f"/v1/jobs/{job_id}").json())["progress"] <= 0:
        assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state["status"] == "running" and state["progress"] < 1, state  # killed mid-job
    ray.kill(serve_replica("reelscope", "Reelscope"), no_restart=True)
    killed = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):  # while Serve replaces the replica
            answer = client.get(f"/v1/jobs/{job_id}", timeout=10)
            if answer.status_code == 200 and answer.json()["status"] in ("done", "failed"):
                break
        assert time.monotonic() - killed < 180, answer.text
        time.sleep(0.5)
    job = Job.model_validate_json(answer.text)
    assert job.status == "done" and job.attempts == 2 and job.progress == 1.0, (job.status, job.error, job.attempts)
    assert shot_count(job.result) == 2 and job.result.analyzers["object_detection"].status == Status.ok

    # The job board's replica killed too: the one Serve starts in its place reads the jobs back.
    ray.kill(serve_replica("reelscope", "Jobs"), no_restart=True)
    killed = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            answer = client.get(f"/v1/jobs/{job_id}", timeout=10)
            if answer.status_code == 200:
                break
        assert time.monotonic() - killed < 120, answer.text
        time.sleep(0.5)
    assert Job.model_validate_json(answer.text) == job


def test_the_job_board_runs_a_job_again_a_bounded_number_of_times():
    """Jobs without Serve: a job unheard of for ORPHAN_S is another replica's to run, JOB_ATTEMPTS
    runs in all, then failed; a late word from a dead run changes nothing."""
    board = Jobs.func_or_class(stall_s=600)
    board.create("j", {"path": "clip.mp4"}, owner="first")
    board.update("j", "first", status="running", progress=0.3)
    assert board.claim("second") is None  # its replica is alive
    for attempt in range(2, JOB_ATTEMPTS + 1):
        board.jobs["j"]["beat"] -= ORPHAN_S + 1  # its replica went silent
        assert board.claim(f"replica {attempt}") == {"id": "j", "request": {"path": "clip.mp4"}}
        assert board.get("j")["status"] == "queued" and board.get("j")["attempts"] == attempt
        board.update("j", "first", status="done", progress=1.0)  # the dead run's last word: dropped
        assert board.get("j")["status"] == "queued"
    board.jobs["j"]["beat"] -= ORPHAN_S + 1
    assert board.claim("another") is None
    failed = board.get("j")
    assert failed["status"] == "failed" and f"stopped, {JOB_ATTEMPTS} times" in failed["error"]
    assert set(failed) == {"id", "status", "progress", "error", "attempts"}


def test_the_job_board_keeps_its_jobs_across_a_restart(tmp_path):
    """With serve.jobs_dir, a new job board (its replica restarted) has every job as it was; a
    running one is claimable once its replica stays silent."""
    board = Jobs.func_or_class(stall_s=600, folder=str(tmp_path))
    board.create("done", {"path": "a.mp4"}, owner="r1")
    board.update("done", "r1", status="done", progress=1.0, result={"status": "ok"})
    board.create("running", {"path": "b.mp4"}, owner="r1")
    board.update("running", "r1", status="running", progress=0.5)
    again = Jobs.func_or_class(stall_s=600, folder=str(tmp_path))
    assert again.get("done") == board.get("done") and again.get("done")["result"] == {"status": "ok"}
    assert again.get("running")["status"] == "running" and again.get("running")["progress"] == 0.5
    assert again.claim("r2") is None  # its replica has ORPHAN_S to be heard of again
    again.jobs["running"]["beat"] -= ORPHAN_S + 1
    assert again.claim("r2") == {"id": "running", "request": {"path": "b.mp4"}}


def test_application_arguments_are_the_settings(tmp_path, monkeypatch):
    """`serve run serve_app:build_app k=v …` and serve_config.yaml's `args:` over REELSCOPE_*."""
    monkeypatch.setenv("REELSCOPE_SERVE__MEDIA_ROOT", str(tmp_path))
    monkeypatch.setenv("REELSCOPE_SERVE__MAX_JOBS", "5")
    settings = app_settings(
        {
            "max_jobs": "8",
            "analyzers": "cut_analysis, color_analysis",
            "token": "s3cret",
            "models_dir": str(tmp_path / "models"),
            "gpu_memory_gb": 40,
            "text_overlay.reader": "rapidocr",
            "speech_emotion": {"window_s": 4, "hop_s": 2},
            "serve": {"max_upload_mb": 200},
        }
    )
    assert settings.serve.media_root == str(tmp_path)  # from the environment
    assert settings.serve.max_jobs == 8  # the argument over the environment
    assert settings.serve.analyzers == ["cut_analysis", "color_analysis"]
    assert settings.serve.token == "s3cret" and settings.serve.max_bytes == 200_000_000
    assert settings.models_dir == tmp_path / "models" and settings.gpu_memory_gb == 40
    assert settings.text_overlay.reader == "rapidocr" and settings.speech_emotion.hop_s == 2
    assert app_settings().serve.max_jobs == 5


@pytest.mark.parametrize(
    "args, words",
    [
        ({"max_jobs": "many"}, "setting serve.max_jobs (REELSCOPE_SERVE__MAX_JOBS) (got 'many')"),
        ({"max_upload_mb": -1}, "setting serve.max_upload_mb (REELSCOPE_SERVE__MAX_UPLOAD_MB) (got -1)"),
        ({"max_uploads_mb": 2}, "unknown setting max_uploads_mb; known here: media_root, analyzers"),
        ({"analyzers": "cut_analysis,nope"}, "unknown analyzer(s): nope; known: cut_analysis"),
        ({"gpu_memory_gb": 0}, "setting gpu_memory_gb (REELSCOPE_GPU_MEMORY_GB) (got 0)"),
        ({"text_overlay.reader": "tesseract"}, "Input should be 'auto', 'rapidocr' or 'easyocr'"),
        ({"text_overlay": {"engine": "x"}}, "unknown setting text_overlay.engine; known here: reader"),
        ({"serve": {"max_job": 3}}, "unknown setting serve.max_job; known here: media_root"),
    ],
)
def test_a_bad_setting_refuses_the_app_in_one_line(args, words):
    with pytest.raises(SettingsError) as refused:
        build_app(args)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_the_old_token_variable_is_refused_with_its_new_name(monkeypatch):
    monkeypatch.setenv("REELSCOPE_API_TOKEN", "s3cret")
    with pytest.raises(SettingsError, match="REELSCOPE_API_TOKEN is no longer read: set REELSCOPE_SERVE__TOKEN instead"):
        build_app({"analyzers": "cut_analysis"})
