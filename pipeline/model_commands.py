"""`reelscope models list|download|verify|add`: the weights every analyzer loads, in the run's
models directory (the models_dir setting)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.models import Weights, WeightsError
from pipeline.registry import ALL_NAMES, load
from pipeline.settings import Settings


def analyzer_weights(names: list[str] | None, settings: Settings) -> Iterator[tuple[str, Weights]]:
    """(the analyzers that load it, weights in the models directory) for each distinct entry."""
    users: dict[Weights, list[str]] = {}
    for name in names or ALL_NAMES:
        for weights in load(name).weights_for(settings):
            users.setdefault(weights, []).append(name)
    for weights, analyzers in users.items():
        yield ",".join(analyzers), weights.at(settings.models_dir)


def weights_state(weights: Weights) -> str:
    """present and checked byte for byte / missing / wrong, in a few words."""
    if not weights.present():
        return "optional, not here" if weights.optional else f"MISSING at {weights.path}"
    problem = weights.problem(full=True)
    return f"WRONG: {problem}" if problem else f"ok ({weights.path})"


def models_list(args: argparse.Namespace, settings: Settings, names: list[str] | None) -> int:
    """Each weights entry and its state; 1 when a required one is missing or any is wrong.
    Sizes are checked, not digests: `models verify` reads every byte."""
    print(f"models directory: {settings.models_dir}")
    bad = 0
    for analyzers, weights in analyzer_weights(names, settings):
        if not weights.present():
            state = "optional" if weights.optional else "MISSING"
        else:
            problem = weights.problem(full=False)
            state = f"WRONG ({problem})" if problem else "present"
        bad += state == "MISSING" or state.startswith("WRONG")
        print(f"{state:8} {analyzers:40} {weights.source}  ->  {weights.path}")
    return 1 if bad else 0


def models_verify(args: argparse.Namespace, settings: Settings, names: list[str] | None) -> int:
    bad = 0
    for analyzers, weights in analyzer_weights(names, settings):
        state = weights_state(weights)
        bad += state.startswith(("WRONG", "MISSING"))
        print(f"{analyzers}: {weights.source}: {state}")
    return 1 if bad else 0


def models_download(args: argparse.Namespace, settings: Settings, names: list[str] | None) -> int:
    failures = 0
    for analyzers, weights in analyzer_weights(names, settings):
        if weights.present() and not weights.problem(full=False):
            print(f"present  {analyzers}: {weights.path}")
            continue
        try:
            print(f"fetching {analyzers}: {weights.source} -> {weights.download()}")
        except Exception as exc:  # no network, no such repo, a digest mismatch: say so and go on
            failures += 1
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(f"FAILED   {analyzers}: {weights.source}: {type(exc).__name__}: {first}")
    return 1 if failures else 0


def models_add(args: argparse.Namespace, settings: Settings, names: list[str] | None) -> int:
    """Copy the weights found in a local folder into the models directory, each checked first."""
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"not a folder: {folder}", file=sys.stderr)
        return 2
    added = refused = 0
    for analyzers, weights in analyzer_weights(names, settings):
        try:
            print(f"added    {analyzers}: {weights.add(folder, args.accept_unpinned)}")
            added += 1
        except FileNotFoundError as exc:
            print(f"absent   {analyzers}: {exc}")
        except WeightsError as exc:
            refused += 1
            print(f"REFUSED  {analyzers}: {exc}")
    print(f"{added} added to {settings.models_dir}, {refused} refused")
    return 1 if refused or not added else 0


ACTIONS = {
    "list": (models_list, "show each model's weights and whether they are here"),
    "download": (models_download, "fetch missing or wrong weights (needs a hub), checked before they are placed"),
    "verify": (models_verify, "check every byte of the weights here against what they pin"),
    "add": (models_add, "copy weights from a local folder (a USB stick, ../shared/models), checked first"),
}
