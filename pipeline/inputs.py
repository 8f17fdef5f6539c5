"""Where a served video comes from, checked: a path inside the media root, a URL, an upload
(`AnalyzeSource`, `VIDEO_BODY`: the request body as the API documents it).

Each refusal is a `Refused` with the HTTP status that fits it and a one-line reason, so any
front end can answer it as it is. Nothing here imports Serve or FastAPI.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

CHUNK_BYTES = 1 << 20
MAX_REDIRECTS = 5
READ_TIMEOUT_S = 60.0  # between two reads of a download
MAX_ECHO = 200  # characters of the caller's input a refusal repeats


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


class Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = echo(reason, 2 * MAX_ECHO)  # what the client sent never comes back whole
        self.headers = headers


def echo(text: str, limit: int = MAX_ECHO) -> str:
    """`text` as a refusal may repeat it: at most `limit` characters."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def inside_root(root: Path, relative: str) -> Path:
    """The real path of a regular file `relative` under `root`; refuses anything that leaves it
    (../, symlinks out, absolute paths elsewhere) and anything that is not a file there."""
    shown = echo(relative)
    if "\0" in relative:
        raise Refused(422, f"the path contains a NUL byte: {shown!r}")
    try:
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root.resolve()):
            raise Refused(403, f"path is outside the media root: {shown}")
        mode = candidate.stat().st_mode
    except RuntimeError:  # Python 3.11's resolve() on a symlink loop
        raise Refused(422, f"the path is a symbolic link loop: {shown}") from None
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise Refused(404, f"no such file in the media root: {shown}") from None
        why = {errno.ELOOP: "is a symbolic link loop", errno.ENAMETOOLONG: "is too long for the file system"}
        raise Refused(422, f"the path {why.get(exc.errno, f'cannot be read ({exc.strerror})')}: {shown}") from None
    if stat.S_ISDIR(mode):
        raise Refused(422, f"the path is a directory: {shown}")
    if not stat.S_ISREG(mode):  # reading a FIFO would block the replica; a device never ends
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise Refused(422, f"the path is {kind}, not a regular file: {shown}")
    return candidate


async def check_destination(url: str, allow_private: bool) -> None:
    """Refuses a URL that is not http(s), or whose host resolves to an address that is not
    public (loopback, private, link-local such as cloud metadata, reserved), unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(422, f"only http and https URLs can be fetched: {url}")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(422, f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for *_, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            raise Refused(403, f"{parts.hostname} resolves to a non-public address ({address}); this server does not fetch those")


async def fetch(url: str, into: Path, max_bytes: int, allow_private: bool, deadline_s: float) -> Path:
    """Downloads `url` into the file `into`, following redirects only to allowed destinations.
    A body over max_bytes is refused (413) as soon as it passes the limit; a download not done
    within deadline_s (a host that drips bytes) is refused with what had arrived."""
    received = [0]
    try:
        async with asyncio.timeout(deadline_s):
            return await _fetch(url, into, max_bytes, allow_private, received)
    except TimeoutError:
        raise Refused(422, f"the download of {url} stalled: {received[0]:,} bytes in {deadline_s:.0f} s") from None


async def _fetch(url: str, into: Path, max_bytes: int, allow_private: bool, received: list[int]) -> Path:
    async with httpx.AsyncClient(follow_redirects=False, timeout=READ_TIMEOUT_S) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await check_destination(url, allow_private)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise Refused(422, f"fetching {url} answered HTTP {response.status_code}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise Refused(413, too_large(declared, max_bytes))
                    with into.open("wb") as out:
                        await copy_limited(response.aiter_bytes(), out, max_bytes, received)  # as they arrive
                    return into
            except httpx.HTTPError as exc:
                raise Refused(422, f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    raise Refused(422, f"more than {MAX_REDIRECTS} redirects from {url}")


async def copy_limited(chunks: AsyncIterator[bytes], out: BinaryIO, max_bytes: int, received: list[int]) -> None:
    """Writes the chunks to `out`, counting them into received[0]; 413 once past max_bytes."""
    async for chunk in chunks:
        received[0] += len(chunk)
        if received[0] > max_bytes:
            raise Refused(413, too_large(received[0], max_bytes, at_least=True))
        out.write(chunk)


async def read_limited(chunks: AsyncIterator[bytes], max_bytes: int, what: str) -> bytes:
    """A request body, read as it streams (chunked or not) and refused (413) past max_bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise Refused(413, f"{what} takes up to {max_bytes:,} bytes")
    return bytes(body)


def save_upload(upload: BinaryIO, into: Path, max_bytes: int) -> Path:
    """Copies an uploaded file (already spooled by the form parser) into `into`, within the limit."""
    upload.seek(0, os.SEEK_END)
    size = upload.tell()
    if size > max_bytes:
        raise Refused(413, too_large(size, max_bytes))
    upload.seek(0)
    with into.open("wb") as out:
        while chunk := upload.read(CHUNK_BYTES):
            out.write(chunk)
    return into


def too_large(size: int, max_bytes: int, at_least: bool = False) -> str:
    return f"the video is {'over ' if at_least else ''}{size / 1e6:.1f} MB; this server takes up to {max_bytes / 1e6:.1f} MB"
