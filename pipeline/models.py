"""Model weights: where each comes from, what it must be, where it lives here, how to fetch it.

Every model an analyzer loads is a `Weights` entry: a source (a Hugging Face hub id, or a file
URL) pinned to what it fetches (a hub commit; a file's SHA-256) and a name under the models
directory. Loading never reaches a hub: `require()` returns the local path when it holds what
the entry pins, raises Skip (the analyzer's `skipped`) when nothing is there, and WeightsError
(its `failed`) when something else is: an empty or truncated file, a web page saved under the
model's name, a folder without its tokenizer, another digest. Each message is one line naming
the path, what was expected and found, and the fix; the other analyzers run.

Hub folders carry `reelscope-manifest.json`, written by `download` and `add`: the source, the
revision, and every file's size and SHA-256. `require()` checks the sizes (a truncated copy), the
digests `verify` (`reelscope models verify`) re-reads every byte.

Entries are declared without a place; `weights.at(settings.models_dir)` binds one to the run's
models directory (`--models-dir`, REELSCOPE_MODELS_DIR, default ~/.cache/reelscope/models).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.analyzer import Skip
from pipeline.schema import ModelUsed

MANIFEST = "reelscope-manifest.json"
ACCEPTED = ".accepted.json"  # beside a file that is not its entry's pinned release, by the user's choice
HUB_REQUIRED = ("config.json",)  # every transformers / CTranslate2 snapshot has one


class WeightsError(Exception):
    """Weights are present but are not what their entry pins. The message is the one line."""


_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, per process


def sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def _not_a_model(path: Path) -> str | None:
    """What a file is instead of a model, when its first bytes tell: the failures of a download
    that answered with something else."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(512)
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return f"an HTML page ({size:,} bytes: a download answered with a web page)"
    if head.startswith(b"version https://git-lfs"):
        return f"a Git LFS pointer ({size:,} bytes), not the file it points to"
    if path.suffix in (".pt", ".pth") and not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):
        return f"not a PyTorch checkpoint ({size:,} bytes; a complete one is a zip archive: truncated?)"
    if path.suffix == ".onnx" and not head.startswith(b"\x08"):  # field 1 (ir_version), varint
        return f"not an ONNX model ({size:,} bytes)"
    return None


@dataclass(frozen=True)
class Weights:
    name: str  # file or directory name under the models directory
    source: str  # hub id (kind "hub"), or an https URL (kinds "file", "zip")
    kind: str = "hub"  # "hub": a snapshot directory; "file": one file; "zip": the file of that name in a zip
    optional: bool = False  # the analyzer runs without it, with less (its summary says what)
    revision: str | None = None  # hub: the commit the download pins (None: not pinned, see README)
    sha256: str | None = None  # file kinds: the digest of the file (of the extracted file, for "zip")
    # hub: the files a usable snapshot holds beside config.json, and digests known in advance
    files: tuple[str, ...] = ()
    known_sha256: tuple[tuple[str, str], ...] = ()  # (file name, sha256); file kinds: other accepted releases
    also_named: str | None = None  # file kinds: a glob of other release names accepted in its place
    root: Path | None = None  # the models directory it is looked for in: set by at()

    def at(self, root: Path) -> Weights:
        """This entry in the models directory `root` (the run's `settings.models_dir`)."""
        return replace(self, root=Path(root).expanduser())

    @property
    def directory(self) -> Path:
        if self.root is None:
            raise RuntimeError(f"weights {self.name}: no models directory; use weights.at(settings.models_dir)")
        return self.root

    @property
    def path(self) -> Path:
        """Where it is, or would be: the pinned name, else another accepted release that is here."""
        pinned = self.directory / self.name
        if self.also_named and not pinned.exists() and pinned.parent.is_dir():
            found = sorted(p for p in pinned.parent.iterdir() if fnmatch.fnmatch(p.name, self.also_named))
            if found:
                return found[-1]  # release names sort by date: the newest
        return pinned

    def present(self) -> bool:
        path = self.path
        return path.is_dir() and any(path.iterdir()) if self.kind == "hub" else path.is_file()

    def fix(self, analyzer: str) -> str:
        return (
            f"on a machine that can reach the hub run `reelscope models download --analyzers {analyzer}`, "
            f"or copy a checked folder in with `reelscope models add DIR` (setting models_dir chooses the directory)"
        )

    def require(self, analyzer: str) -> Path:
        """The local path once it holds what this entry pins; Skip when nothing is there,
        WeightsError when something else is."""
        if not self.present():
            raise Skip(f"weights {self.source} not found at {self.path}; {self.fix(analyzer)}")
        problem = self.problem(full=False)
        if problem:
            raise WeightsError(f"weights {self.source} at {self.path}: {problem}; {self.fix(analyzer)}")
        return self.path

    def problem(self, full: bool, path: Path | None = None) -> str | None:
        """What is wrong with the present weights (or a copy of them at `path`), or None. full:
        read every byte of a hub folder against its manifest (single files are always hashed:
        they are small)."""
        path = path or self.path
        if self.kind != "hub":
            if not path.is_file():
                return "not a file"
            wrong = _not_a_model(path)
            if wrong:
                return f"is {wrong}"
            expected = dict(self.known_sha256)
            if self.sha256:
                expected[Path(self.name).name] = self.sha256
            if expected:
                found = sha256(path)
                want = expected.get(path.name)
                if found == want or found == _accepted(path):
                    return None
                if want is None:
                    return None if self.also_named else f"is not a known release (sha256 {found})"
                return f"expected sha256 {want}, found {found} ({path.stat().st_size:,} bytes)"
            return None
        for needed in (*HUB_REQUIRED, *self.files):
            file = path / needed
            if not file.is_file():
                return f"has no {needed}"
            wrong = _not_a_model(file)
            if wrong:
                return f"{needed} is {wrong}"
        for name, want in self.known_sha256:
            if (path / name).is_file() and (found := sha256(path / name)) != want:
                return f"{name}: expected sha256 {want}, found {found}"
        manifest = read_manifest(path)
        for name, (size, digest) in (manifest or {}).get("files", {}).items():
            file = path / name
            if not file.is_file():
                return f"has no {name} (listed in {MANIFEST})"
            if file.stat().st_size != size:
                return f"{name} is {file.stat().st_size:,} bytes, its manifest says {size:,} bytes (truncated?)"
            if full and (found := sha256(file)) != digest:
                return f"{name}: expected sha256 {digest}, found {found}"
        return None

    def provenance(self, *, backend: str, device: str, dtype: str | None = None) -> ModelUsed:
        """What the document records about this model once it is loaded."""
        path = self.path
        if self.kind == "hub":
            manifest = read_manifest(path) or {}
            return ModelUsed(
                id=self.source,
                revision=manifest.get("revision"),  # unknown for a folder placed by hand
                sha256=manifest_digest(manifest) if manifest.get("files") else None,
                backend=backend,
                device=device,
                dtype=dtype,
            )
        local = _accepted(path) is not None
        return ModelUsed(
            id=f"{path.name} (local, not the pinned release)" if local else path.name,
            sha256=sha256(path),
            backend=backend,
            device=device,
            dtype=dtype,
        )

    def accept_local(self, path: Path | None = None) -> None:
        """Accept weights that are not the pinned release (your own fine-tuned model, a test's
        generated one) by their digest: they load, and the document says they were local."""
        path = path or self.path
        if self.kind == "hub":
            write_manifest(path, self.source, None)
        else:
            (path.parent / (path.name + ACCEPTED)).write_text(json.dumps({"sha256": sha256(path)}))

    def download(self) -> Path:
        """Fetch into the models directory, check, and only then move into place: a mismatch
        leaves nothing under the expected name."""
        path = self.directory / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{Path(self.name).name}.", dir=path.parent))
        try:
            if self.kind == "hub":
                from huggingface_hub import snapshot_download

                target = staging / "snapshot"
                snapshot_download(repo_id=self.source, revision=self.revision, local_dir=str(target))
                shutil.rmtree(target / ".cache", ignore_errors=True)  # the hub client's own bookkeeping
                write_manifest(target, self.source, self.revision)
            else:
                target = staging / path.name
                fetched = staging / "download"
                with urllib.request.urlopen(self.source, timeout=60) as response, open(fetched, "wb") as out:
                    shutil.copyfileobj(response, out)
                if self.kind == "zip":
                    with zipfile.ZipFile(fetched) as archive:
                        member = next(m for m in archive.namelist() if Path(m).name == path.name)
                        with archive.open(member) as source, open(target, "wb") as out:
                            shutil.copyfileobj(source, out)
                else:
                    fetched.replace(target)
            self._place(target, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    def add(self, source_dir: Path, accept_unpinned: bool = False) -> Path:
        """Copy these weights from a local folder (a USB stick, a shared mount) into the models
        directory, checked like a download. Looks for the entry's name, then its base name.
        accept_unpinned: take a file that is a model but not the pinned release (accept_local)."""
        path = self.directory / self.name
        candidates = [source_dir / self.name, source_dir / Path(self.name).name]
        if self.also_named:
            candidates += sorted(p for p in source_dir.rglob(self.also_named) if p.is_file())
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise FileNotFoundError(f"no {Path(self.name).name} in {source_dir}")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{Path(self.name).name}.", dir=path.parent))
        try:
            target = staging / (found.name if self.also_named else path.name)
            if found.is_dir():
                shutil.copytree(found, target)
                if not read_manifest(target):
                    write_manifest(target, self.source, self.revision)
            else:
                shutil.copy2(found, target)
                if accept_unpinned:
                    self.accept_local(target)
            self._place(target, path.parent / target.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path.parent / target.name

    def _place(self, staged: Path, path: Path) -> None:
        """Check the staged copy as `require` would, then move it to `path`."""
        problem = self.problem(full=True, path=staged)
        if problem:
            raise WeightsError(f"{self.source}: the fetched copy {problem}; nothing was written to {path}")
        if path.is_dir():
            shutil.rmtree(path)
        staged.replace(path)
        accepted = staged.parent / (staged.name + ACCEPTED)
        if accepted.exists():
            accepted.replace(path.parent / (path.name + ACCEPTED))


def _accepted(path: Path) -> str | None:
    """The digest `accept_local` recorded for a file, if any."""
    try:
        return json.loads((path.parent / (path.name + ACCEPTED)).read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(folder: Path, source: str, revision: str | None) -> None:
    """Every file's size and digest, so that a later copy can be checked against this one."""
    files = {
        str(f.relative_to(folder)): (f.stat().st_size, sha256(f))
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"source": source, "revision": revision, "files": files}, indent=1))


def manifest_digest(manifest: dict) -> str:
    """One digest for a whole folder: of its files' names and digests, in order."""
    lines = "".join(f"{digest}  {name}\n" for name, (_, digest) in sorted(manifest["files"].items()))
    return hashlib.sha256(lines.encode()).hexdigest()
