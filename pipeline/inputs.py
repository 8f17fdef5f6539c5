"""Where a served video comes from, checked: a path inside the media root, a URL, an upload.

Each refusal is a `Refused` with the HTTP status that fits it and a one-line reason, so any
front end can answer it as it is. Nothing here imports Serve or FastAPI.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

CHUNK_BYTES = 1 << 20
MAX_REDIRECTS = 5
FETCH_TIMEOUT_S = 60.0


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def inside_root(root: Path, relative: str) -> Path:
    """The real path of `relative` under `root`; refuses anything that leaves it (../, symlinks
    out, absolute paths elsewhere)."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise Refused(403, f"path is outside the media root: {relative}")
    if not candidate.exists():
        raise Refused(404, f"no such file in the media root: {relative}")
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


async def fetch(url: str, into: Path, max_bytes: int, allow_private: bool) -> Path:
    """Downloads `url` into the file `into`, following redirects only to allowed destinations.
    A body over max_bytes is refused (413) as soon as it passes the limit."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=FETCH_TIMEOUT_S) as client:
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
                        await copy_limited(response.aiter_bytes(CHUNK_BYTES), out, max_bytes)
                    return into
            except httpx.HTTPError as exc:
                raise Refused(422, f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    raise Refused(422, f"more than {MAX_REDIRECTS} redirects from {url}")


async def copy_limited(chunks: AsyncIterator[bytes], out: BinaryIO, max_bytes: int) -> int:
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise Refused(413, too_large(written, max_bytes, at_least=True))
        out.write(chunk)
    return written


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
