"""Where the report's timeline draws things: the lanes placed in SVG user units (a label column,
then the time axis), their colours, and captions clipped to the blocks they fit in. The
template (templates/report.html.j2) turns these into SVG elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.report.lanes import Lane, Row, Span

WIDTH = 1100  # SVG user units: label column, then the time axis
LABEL_W = 190
PLOT_W = WIDTH - LABEL_W - 20
ROW_H = 22
ROW_GAP = 4
LANE_GAP = 10
PACE_H = 60
AXIS_Y = 28  # the first lane starts below the time axis labels
CHAR_W = 6.4  # average width of a character at the lanes' font size
MAX_ROWS = 8  # sub-rows of one lane (object classes, overlapping texts)
ABSENT_CHARS = 150  # of a reason an absent lane writes out (the tooltip holds all of it)
ROW_NAME_CHARS = 14

SHOT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f")
CLASS_COLOURS = {"speech": "#4e79a7", "music": "#f28e2b", "silence": "#bab0ac"}
OTHER_COLOURS = ("#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#ff9da7", "#86bcb6")


@dataclass
class Block:
    css: str
    x: float
    y: float
    width: float
    colour: str
    shown: str  # the caption as far as it fits ("" when nothing does)
    tip: str
    start: float  # the time a click seeks the player to (s)
    index: int | None = None


@dataclass
class PlacedRow:
    y: float
    background: bool  # a grey band behind the row (not under shots)
    name: str  # beside the row ("" for none)
    none: str | None  # written on an empty row
    blocks: list[Block]


@dataclass
class PacePlot:
    top: float
    bottom: float
    line: str  # the polyline's points
    area: str  # the polygon under it ("" with no value)
    dots: list[tuple[float, float, float]]  # (x, y, pace)


@dataclass
class Placed:
    """One lane in SVG units."""

    title: str
    y: float  # top of its first row
    absent: str | None = None
    absent_shown: str = ""
    rows: list[PlacedRow] = field(default_factory=list)
    boundaries: list[Block] = field(default_factory=list)  # css "cut" (a line at x) or "transition" (hatched)
    pace: PacePlot | None = None


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Timeline:
    duration: float
    height: float
    ticks: list[Tick]
    lanes: list[Placed]
    width: int = WIDTH
    x0: int = LABEL_W
    plot_width: int = PLOT_W
    row_h: int = ROW_H


def place(lanes: list[Lane], duration_s: float) -> Timeline:
    """The lanes stacked top to bottom on one time axis."""
    duration = max(duration_s, 1e-3)

    def x(t: float) -> float:
        return LABEL_W + min(max(t, 0.0), duration) / duration * PLOT_W

    y = AXIS_Y
    placed = []
    for lane in lanes:
        if lane.absent is not None:
            placed.append(Placed(lane.title, y, absent=lane.absent, absent_shown=_clip(lane.absent, ABSENT_CHARS)))
            y += ROW_H + LANE_GAP
        elif lane.kind == "shots":
            placed.append(_shots(lane, y, x))
            y += ROW_H + LANE_GAP
        elif lane.kind == "pace":
            placed.append(_pace(lane, y, x, duration))
            y += PACE_H + LANE_GAP
        else:
            lane_placed, rows = _rows(lane, y, x)
            placed.append(lane_placed)
            y += rows * (ROW_H + ROW_GAP) - ROW_GAP + LANE_GAP
    height = y + 8
    return Timeline(duration=duration, height=height, ticks=_ticks(duration, x), lanes=placed)


def _block(span: Span, y: float, css: str, colour: str, x) -> Block:
    x0, x1 = x(span.start), x(span.end)
    width = max(x1 - x0, 1.5)
    fits = int((width - 6) / CHAR_W)
    text = span.caption
    shown = text if len(text) <= fits else (text[: fits - 1] + "…" if fits > 2 else "")
    return Block(css, x0, y, width, colour, shown, span.tip, span.start, span.index)


def _shots(lane: Lane, y: float, x) -> Placed:
    [row] = lane.rows
    blocks = [_block(s, y, "shot", SHOT_COLOURS[s.index % len(SHOT_COLOURS)], x) for s in row.spans]
    return Placed(
        lane.title,
        y,
        rows=[PlacedRow(y, background=False, name="", none=None, blocks=blocks)],
        boundaries=[
            _block(s, y, "cut" if s.caption == "cut" else "transition", "url(#hatch)", x) for s in lane.boundaries
        ],
    )


def _rows(lane: Lane, y: float, x) -> tuple[Placed, int]:
    rows: list[Row] = lane.rows[:MAX_ROWS] or [Row("", [])]
    more = len(lane.rows) - MAX_ROWS
    named = len(rows) > 1
    placed = []
    group = -1  # rows of one name (a class packed into several rows) share a colour
    for r, row in enumerate(rows):
        row_y = y + r * (ROW_H + ROW_GAP)
        group += 1 if row.name or r == 0 else 0
        blocks = []
        for i, span in enumerate(row.spans):
            colour = (
                CLASS_COLOURS["speech"]
                if lane.finding == "speech"
                else CLASS_COLOURS.get(span.caption) or OTHER_COLOURS[(group if named else i) % len(OTHER_COLOURS)]
            )
            blocks.append(_block(span, row_y, lane.finding, colour, x))
        placed.append(
            PlacedRow(
                row_y,
                background=True,
                name=_clip(row.name, ROW_NAME_CHARS) if named else "",
                none=None if row.spans else (f"{row.name}: " if row.name and not named else "") + "none found",
                blocks=blocks,
            )
        )
    title = lane.title + (f" (+{more} rows)" if more > 0 else "")
    return Placed(title, y, rows=placed), len(rows)


def _pace(lane: Lane, y: float, x, duration: float) -> Placed:
    top, bottom = y, y + PACE_H
    dots = [
        (x(k + 0.5), bottom - v * (PACE_H - 4), v)
        for k, v in enumerate(lane.pace)
        if v is not None and k + 0.5 <= duration + 0.5
    ]
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in dots)
    area = f"{dots[0][0]:.1f},{bottom} {line} {dots[-1][0]:.1f},{bottom}" if dots else ""
    return Placed(lane.title, y, pace=PacePlot(top, bottom, line, area, dots))


def _ticks(duration: float, x) -> list[Tick]:
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if duration / s <= 24)
    ticks, t = [], 0.0
    while t <= duration + 1e-9:
        ticks.append(Tick(x(t), f"{int(t) // 60}:{int(t) % 60:02d}" if t >= 60 else f"{t:g}s"))
        t += step
    return ticks


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
