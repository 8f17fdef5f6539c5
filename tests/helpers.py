"""Helpers the analyzer tests share: running one analyzer on one file, and comparing time spans."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.schema import AnalyzerResult, Segment, Status, VideoResult
from pipeline.settings import Settings

Span = tuple[float, float]

GRID = np.arange(0.0, 60.0, 0.01)  # 10 ms steps, to measure overlaps of time spans


def run_video(path: Path | str, name: str, settings: Settings | None = None) -> VideoResult:
    """The file at `path` through run_local with `name` and the analyzers it reads; the file
    must decode."""
    path = Path(path)
    [result] = run_local([VideoRequest(path.stem, str(path))], Plan.build([name], settings=settings))
    assert result.status == Status.ok, result.error
    return result


def analyse(path: Path | str, name: str, settings: Settings | None = None) -> AnalyzerResult:
    """`name`'s result on the file at `path`."""
    return run_video(path, name, settings).analyzers[name]


def shots(cuts: AnalyzerResult) -> list[Segment]:
    """cut_analysis's shot segments."""
    return [s for s in cuts.segments if s.label == "shot"]


def spans(segments: list[Segment], label: str) -> list[Span]:
    return [(s.start_s, s.end_s) for s in segments if s.label == label]


def rttm_turns(rttm: Path) -> list[Span]:
    """The (start, end) of every turn in an RTTM annotation (onset and duration: fields 4 and 5)."""
    turns = []
    for line in rttm.read_text().splitlines():
        start, length = map(float, line.split()[3:5])
        turns.append((start, start + length))
    return turns


def overlap(intervals: list[Span], others: list[Span]) -> float:
    """Seconds of `intervals` inside the union of `others`."""
    return float(np.count_nonzero(_on_grid(intervals) & _on_grid(others)) * 0.01)


def _on_grid(intervals: list[Span]) -> np.ndarray:
    return np.any([(GRID >= a) & (GRID < b) for a, b in intervals], axis=0)


def write_damaged_speech(samples, damage: str, path):
    """16 kHz speech driven 18 dB into clipping ("clipped"), or under white noise 10 dB below it
    ("noisy"), written as a float WAV."""
    import numpy as np
    import soundfile

    if damage == "clipped":
        damaged = np.clip(samples * 8, -1.0, 1.0)
    else:
        level = np.sqrt(np.mean(samples**2))
        damaged = samples + np.random.default_rng(0).normal(0, level / np.sqrt(10), len(samples))
    soundfile.write(path, damaged.astype(np.float32), 16_000, subtype="FLOAT")
    return path


def processes() -> list[tuple[int, str, bytes]]:
    """(pid, command line, environment) of every process this user can read: how the tests find
    Ray's workers by the titles Ray gives them."""
    rows = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            rows.append((int(entry.name), cmdline.strip(), environ))
    return rows
