"""Model weights: where each comes from, where it lives here, and how to fetch it.

Every model an analyzer loads is a `Weights` entry: a source (a Hugging Face hub id, or a file
URL / ultralytics asset name) and a name under the models directory. Loading never reaches a
hub: `require()` returns the local path or raises Skip with the exact path it looked in and the
command that fetches it, so a missing weight is a per-analyzer status, never a crash.

The models directory: `--models-dir`, else $REELSCOPE_MODELS_DIR, else ~/.cache/reelscope/models.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.analyzer import Skip

MODELS_DIR_ENV = "REELSCOPE_MODELS_DIR"


def models_dir() -> Path:
    configured = os.environ.get(MODELS_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "reelscope" / "models"


@dataclass(frozen=True)
class Weights:
    name: str  # file or directory name under the models directory
    source: str  # hub id (kind "hub"), or an https URL (kinds "file", "zip")
    kind: str = "hub"  # "hub": a snapshot directory; "file": one file; "zip": the file of that name in a zip
    optional: bool = False  # the analyzer runs without it, with less (its summary says what)

    @property
    def path(self) -> Path:
        return models_dir() / self.name

    def present(self) -> bool:
        path = self.path
        return path.is_dir() and any(path.iterdir()) if self.kind == "hub" else path.is_file()

    def require(self, analyzer: str) -> Path:
        """The local path, or Skip saying where it looked and how to get it."""
        if not self.present():
            raise Skip(
                f"weights {self.source} not found at {self.path}; on a machine that can reach the hub run "
                f"`reelscope models download --analyzers {analyzer}` (or copy them there; "
                f"${MODELS_DIR_ENV} chooses the directory)"
            )
        return self.path

    def download(self) -> Path:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "hub":
            from huggingface_hub import snapshot_download

            snapshot_download(repo_id=self.source, local_dir=str(path))
            return path
        partial = path.with_name(path.name + ".part")
        with urllib.request.urlopen(self.source, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        if self.kind == "zip":
            with zipfile.ZipFile(partial) as archive:
                member = next(m for m in archive.namelist() if Path(m).name == path.name)
                with archive.open(member) as source, open(partial.with_suffix(".unzipped"), "wb") as out:
                    shutil.copyfileobj(source, out)
            partial.unlink()
            partial = partial.with_suffix(".unzipped")
        partial.replace(path)  # never leave a half file where a whole one is expected
        return path
