"""The Serve endpoint on 127.0.0.1, on the test session's local Ray."""

from __future__ import annotations

import shutil

import httpx
import pytest
from ray import serve

from serve_app import Reelscope

PORT = 8765


@pytest.fixture
def endpoint(local_ray, sample_clip, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    shutil.copy(sample_clip, root / "clip.mp4")
    (tmp_path / "secret.mp4").write_bytes(b"outside the root")
    (root / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(Reelscope.bind(media_root=str(root)), name="reelscope", route_prefix="/")
    yield f"http://127.0.0.1:{PORT}"
    serve.delete("reelscope")


def test_analyze_a_clip_and_refuse_paths_outside_the_root(endpoint):
    with httpx.Client(base_url=endpoint, timeout=120) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        listing = client.get("/v1/analyzers").json()
        assert listing["cut_analysis"]["available"] and not listing["speech_transcription"]["available"]

        answer = client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": ["cut_analysis"]})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["status"] == "ok" and result["analyzers"]["cut_analysis"]["summary"]["shot_count"] == 4

        for outside in ("../secret.mp4", "escape.mp4", "/etc/passwd"):
            assert client.post("/v1/analyze", json={"path": outside}).status_code == 403
        assert client.post("/v1/analyze", json={"path": "clip.mp4", "analyzers": ["nope"]}).status_code == 422
        missing = client.post("/v1/analyze", json={"path": "missing.mp4"}).json()
        assert missing["status"] == "failed" and "no such file" in missing["error"]
