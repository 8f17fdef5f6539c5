"""One video's result as a self-contained HTML page: a player of the clip with the transcript
beside it and each shot's keyframe, the written summary, the reconstruction score, the hook,
and a timeline of lanes (shots, speech, on-screen text, model descriptions,
objects, people and faces, audio classes, pace) drawn as inline SVG. Everything is inline (CSS,
a few lines of JS, the data the JS reads, the keyframes as data URIs): the page opens from disk
with no network; only the clip is played from beside it, unless it is embedded too.

    watch.py      what it plays: the clip's source, the shots' keyframes, the transcript's words
    data.py       what the page shows, from the typed document (fusion's result read, never re-run)
    lanes.py      what each lane of the timeline draws, from the analyzers' own segments
    layout.py     where: the lanes in SVG units, colours, captions clipped to their blocks
    templates/    report.html.j2 (the page, autoescaped), report.css, report.js
"""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipeline.report.data import report_data
from pipeline.schema import VideoResult


@functools.cache
def template(name: str):
    """One of the pages' Jinja2 templates (pipeline/report/templates/), autoescaped."""
    environment = Environment(
        loader=PackageLoader("pipeline.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(name)


def render(result: VideoResult, page_dir: Path | str = ".", embed_video: bool = False) -> str:
    """The page, to be written in `page_dir` (its player finds the clip from there)."""
    return template("report.html.j2").render(report=report_data(result, Path(page_dir), embed_video))


def write_report(result: VideoResult, path: Path | str, embed_video: bool = False) -> Path:
    """Write the page at `path`; `embed_video` puts the clip in it (small clips), else the player
    plays the file where the document says it is, by its path relative to the page."""
    path = Path(path)
    path.write_text(render(result, path.parent, embed_video), encoding="utf-8")
    return path
