"""Progress a person reads while a run goes: about videos, not Ray Data's rows and blocks.

On a terminal (rich): a line per video in flight (its name, seconds of video analysed of its
duration, how many analyzers have read all of it, an ETA) under one bar for the run (videos done of all, video-hours analysed per hour of
wall time), and each finished video's one line printed above them. In a log (no TTY: a file,
`ray job submit`'s job log) the same facts as a plain line every `every_s` seconds, never control
characters.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from pipeline.engine import Plan
    from pipeline.runners import OnItem


@dataclass
class _Video:
    name: str
    duration_s: float | None
    analysed_s: float = 0.0
    read_by: tuple[int, int] | None = None  # (analyzers that have read all of it, analyzers that read)
    first: tuple[float, float] | None = None  # (wall time, video seconds) of its first update
    task: TaskID | None = None

    def eta_s(self) -> float | None:
        """From the rate since its first update: the decoder's first batch says nothing of speed."""
        if not self.duration_s or self.first is None:
            return None
        wall, seconds = time.monotonic() - self.first[0], self.analysed_s - self.first[1]
        if wall < 0.5 or seconds <= 0:
            return None
        return max(self.duration_s - self.analysed_s, 0.0) / (seconds / wall)


class RunProgress:
    """Told what happens (`advanced`, `finished`); shows it. Use as a context manager. The
    finished videos' lines go to stdout in a log, above the bars on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, every_s: float = 5.0, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        # Live bars only when a person watches both streams; a redirected stdout is a log.
        self.live = (self.stream.isatty() and sys.stdout.isatty()) if live is None else live
        self.console = Console(file=self.stream, highlight=False, force_terminal=self.live)
        self.total, self.done, self.every_s = total, 0, every_s
        self.videos: dict[str, _Video] = {}
        self.video_seconds = 0.0  # of the videos finished
        self.started = time.monotonic()
        self.last_line = self.started
        self.bars: Progress | None = None
        self.run_task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[figures]}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
                refresh_per_second=4,  # a person reads no faster; each redraw takes a core's time
            )
            self.bars.start()
            self.run_task = self.bars.add_task("run", total=self.total, figures=self._run_figures())
        return self

    def __exit__(self, *_) -> None:
        if self.bars is not None:
            self.bars.stop()

    def started_video(self, video_id: str, name: str, duration_s: float | None = None) -> None:
        video = self.videos.setdefault(video_id, _Video(name, duration_s))
        if self.bars is not None and video.task is None:
            video.task = self.bars.add_task(name, total=duration_s or None, figures=self._video_figures(video))

    def feed(self, plan: Plan, names: dict[str, str], durations: dict[str, float | None] | None = None) -> OnItem:
        """A runner's on_item for this display: each video's time analysed, and how many of the
        plan's analyzers have read all of it (Plan.done_reading over the kinds of items seen)."""
        seen: dict[str, set[str]] = {}
        readers = plan.done_reading({"end"})

        def on_item(video_id: str, seconds: float, kind: str) -> None:
            kinds = seen.setdefault(video_id, set())
            kinds.add(kind)
            duration = (durations or {}).get(video_id)
            self.advanced(video_id, names[video_id], seconds, duration, (plan.done_reading(kinds), readers))

        return on_item

    def advanced(
        self,
        video_id: str,
        name: str,
        analysed_s: float,
        duration_s: float | None = None,
        read_by: tuple[int, int] | None = None,
    ) -> None:
        """`video_id` has been analysed up to `analysed_s` seconds of video; `read_by`: how many
        analyzers have read all of it, of how many read it."""
        self.started_video(video_id, name, duration_s)
        video = self.videos[video_id]
        video.analysed_s = max(video.analysed_s, analysed_s)
        if read_by is not None:
            video.read_by = read_by
        if video.first is None:
            video.first = (time.monotonic(), video.analysed_s)
        if self.bars is not None and video.task is not None:
            self.bars.update(video.task, completed=video.analysed_s, figures=self._video_figures(video))
        else:
            self._maybe_log_line()

    def finished(self, video_id: str, line: str, duration_s: float | None) -> None:
        """A video is done (or failed): its one line, printed above the bars."""
        video = self.videos.pop(video_id, None)
        self.done += 1
        self.video_seconds += duration_s or 0.0
        if self.bars is not None:
            if video is not None and video.task is not None:
                self.bars.remove_task(video.task)
            self.bars.update(self.run_task, completed=self.done, figures=self._run_figures())
            self.console.print(line, markup=False, soft_wrap=True)
        else:
            print(line, flush=True)  # results on stdout, progress on stderr

    def _run_figures(self) -> str:
        hours = time.monotonic() - self.started
        rate = self.video_seconds / hours if hours > 0 else 0.0  # video-hours per hour = video-s per s
        return f"{self.done}/{self.total} videos, {rate:.2f} video-hours/hour"

    @staticmethod
    def _video_figures(video: _Video) -> str:
        of = f" / {video.duration_s:.1f}" if video.duration_s else ""
        read = f", {video.read_by[0]}/{video.read_by[1]} analyzers done" if video.read_by and video.read_by[1] else ""
        return f"{video.analysed_s:.1f}{of} s{read}"

    def _maybe_log_line(self) -> None:
        now = time.monotonic()
        if now - self.last_line < self.every_s:
            return
        self.last_line = now
        parts = []
        for video in self.videos.values():
            eta = video.eta_s()
            parts.append(f"{video.name} {self._video_figures(video)}" + (f" (eta {eta:.0f} s)" if eta is not None else ""))
        print(f"progress: {self._run_figures()}; in flight: {', '.join(parts) or 'none'}", file=self.stream, flush=True)
