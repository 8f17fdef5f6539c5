"""A directory served over HTTP on loopback, with byte ranges as real file hosts answer them:
FFmpeg seeks over HTTP (an MP4's index may sit at its end) and python's own server has no ranges."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(match[1])
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        body = path.open("rb")
        body.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(body, end - start + 1)

    def log_message(self, *args) -> None:  # keep test output to what the tests print
        pass


class _Limited:
    """The file from its current offset, `left` bytes of it: what copyfile() reads for a range."""

    def __init__(self, file, left: int) -> None:
        self.file, self.left = file, left

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        chunk = self.file.read(size)
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.file.close()


@contextlib.contextmanager
def serving(directory: str | os.PathLike) -> Iterator[str]:
    """Serves `directory` on 127.0.0.1 while in the block; yields its base URL."""
    handler = functools.partial(RangeRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
