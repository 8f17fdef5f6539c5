"""One video's result as a self-contained HTML page: the written summary, the reconstruction
score, the hook, and a timeline of lanes (shots, speech, on-screen text, model descriptions,
objects, people and faces, audio classes, pace) drawn as inline SVG. Everything is inline
(CSS, a few lines of JS, the data the JS reads): the page opens from disk with no network.

The summary, hook and per-second timeline come from cross_analyzer_intelligence; when the
result holds none (the analyzer was not asked for), it is computed here from the other results,
as the pipeline would have. The lanes draw the other analyzers' own segments, at their own
resolution. A lane whose analyzer did not succeed says why instead of drawing nothing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from pipeline.analyzer import Context
from pipeline.analyzers.fusion import NAME as FUSION
from pipeline.analyzers.fusion import CrossAnalyzerIntelligence, camera_move
from pipeline.schema import AnalyzerResult, Segment, Status, VideoResult

WIDTH = 1100  # SVG user units: label column, then the time axis
LABEL_W = 190
PLOT_W = WIDTH - LABEL_W - 20
ROW_H = 22
ROW_GAP = 4
LANE_GAP = 10
CHAR_W = 6.4  # average width of a character at the lanes' font size
MAX_ROWS = 8  # sub-rows of one lane (object classes, overlapping texts)

SHOT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f")
CLASS_COLOURS = {"speech": "#4e79a7", "music": "#f28e2b", "silence": "#bab0ac"}
OTHER_COLOURS = ("#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#ff9da7", "#86bcb6")


def fused(result: VideoResult) -> AnalyzerResult:
    """cross_analyzer_intelligence's result: the stored one, or computed now from the others."""
    stored = result.analyzers.get(FUSION)
    if stored is not None and stored.status == Status.ok and "reconstruction" in stored.summary:
        return stored
    others = {name: r for name, r in result.analyzers.items() if name != FUSION}
    findings = CrossAnalyzerIntelligence().finalize(None, Context(video=result.video, results=others))
    return AnalyzerResult(status=Status.ok, segments=findings.segments, summary=findings.summary)


def write_report(result: VideoResult, path: Path | str) -> Path:
    path = Path(path)
    path.write_text(render(result), encoding="utf-8")
    return path


def render(result: VideoResult) -> str:
    title = f"reelscope: {result.id}"
    if result.video is None:
        body = f"<h1>{_e(result.id)}</h1><p class=error>The video could not be read: {_e(result.error)}</p>"
        return _page(title, body, "[]")
    fusion = fused(result)
    seconds = [s for s in fusion.segments if s.label == "second"]
    hook = next((s for s in fusion.segments if s.label == "hook"), None)
    body = "".join(
        [
            _header(result),
            _score(fusion.summary.get("reconstruction") or {}),
            _summary(fusion.summary, hook),
            "<section><h2>Timeline</h2><p class=hint>Hover the timeline to see what the analyzers say about each second.</p>",
            Timeline(result).svg(),
            "<div id=second-info class=info aria-live=polite>&nbsp;</div></section>",
            _seconds_table(seconds),
            _analyzers_table(result),
        ]
    )
    timeline = [{"start": s.start_s, "end": s.end_s, **s.data} for s in seconds]
    return _page(title, body, json.dumps(timeline, ensure_ascii=False))


# --- page parts ----------------------------------------------------------------------------


def _header(result: VideoResult) -> str:
    v = result.video
    facts = [f"{v.duration_s:.2f} s"]
    if v.has_video:
        facts.append(f"{v.width}x{v.height}" + (f" at {v.fps:.4g} fps" if v.fps else ""))
        facts.append(v.video_codec or "")
    audio = ", ".join(str(x) for x in (v.audio_codec, f"{v.audio_channels} ch" if v.audio_channels else None) if x)
    facts.append(f"audio {audio}".strip() if v.has_audio else "no audio")
    return (
        f"<header><h1>{_e(result.id)}</h1><p class=meta>{_e(result.source)} &middot; "
        f"{' &middot; '.join(_e(f) for f in facts if f)} &middot; analysed in {result.elapsed_s:.1f} s</p></header>"
    )


def _score(reconstruction: dict) -> str:
    score = reconstruction.get("score")
    rows = []
    for name, d in (reconstruction.get("dimensions") or {}).items():
        coverage = d.get("coverage")
        if coverage is None:
            bar, value = '<div class="bar na"></div>', _e(d.get("not_applicable", "n/a"))
        else:
            bar = f'<div class=bar><div style="width:{coverage * 100:.1f}%"></div></div>'
            value = f"{coverage:.0%}"
        sources = ", ".join(d.get("sources") or []) or "none"
        missing = "; ".join(f"{n}: {why}" for n, why in (d.get("missing") or {}).items())
        rows.append(
            f"<tr><th>{_e(name.replace('_', ' '))}</th><td class=num>{d.get('weight', 0):.2f}</td><td>{bar}</td>"
            f"<td class=num>{value}</td><td>{_e(sources)}"
            + (
                f'<div class=missing title="{_e(missing)}">missing: {_e(", ".join(d.get("missing")))}</div>'
                if missing
                else ""
            )
            + "</td></tr>"
        )
    shown = "n/a" if score is None else f"{score:g}"
    return (
        "<section class=score><div class=big><span>"
        + shown
        + "</span><small>/100</small><div>reconstruction score</div></div>"
        "<table><thead><tr><th>dimension</th><th>weight</th><th>coverage</th><th></th><th>from</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _summary(summary: dict, hook: Segment | None) -> str:
    hook_text = hook.data.get("sentence") if hook else None
    sentences = [s for s in summary.get("sentences") or [] if s["text"] != hook_text]  # the hook has its own line
    items = "".join(
        f"<li>{_e(s['text'])}"
        + (f" <span class=src>{_e(', '.join(s['sources']))}</span>" if s.get("sources") else "")
        + "</li>"
        for s in sentences
    )
    hook_html = f"<p class=hook><b>Hook</b> {_e(hook_text)}</p>" if hook_text else ""
    return f"<section><h2>Summary</h2>{hook_html}<ul class=sentences>{items}</ul></section>"


def _seconds_table(seconds: list[Segment]) -> str:
    def words(d: dict, key: str) -> str:
        value = d.get(key)
        if value is None:
            return "<span class=na>-</span>"
        if isinstance(value, dict):
            value = [f"{k} x{n}" for k, n in value.items()]
        return _e(", ".join(str(v) for v in value)) if value else ""

    rows = []
    for s in seconds:
        d = s.data
        seen = [
            x
            for x in (
                words(d, "objects"),
                _e(f"{d['people']} people") if d.get("people") else "",
                _e(f"{d['faces']} faces") if d.get("faces") else "",
                words(d, "descriptions"),
            )
            if x and x != "<span class=na>-</span>"
        ]
        heard = [x for x in (words(d, "sounds"), words(d, "audio")) if x and x != "<span class=na>-</span>"]
        said = (
            words(d, "words")
            if d.get("words") is not None
            else (f"speech {d['speech']:.0%}" if d.get("speech") else "")
        )
        rows.append(
            f"<tr><td class=num>{d['second']}</td><td>{words(d, 'shots')}"
            + "".join(f" <b>{_e(t['kind'])}</b>@{t['at_s']:.2f}" for t in d.get("transitions") or [])
            + f"</td><td>{words(d, 'camera')}</td><td>{'; '.join(seen)}</td><td>{said}</td><td>{words(d, 'text')}</td>"
            f"<td>{'; '.join(heard)}</td><td class=num>{_num(d.get('loudness_dbfs'), '{:.1f}')}</td>"
            f"<td class=num>{_num(d.get('pace'), '{:.2f}')}</td></tr>"
        )
    return (
        "<section><details><summary>Second by second</summary><table class=seconds><thead><tr><th>s</th><th>shot</th>"
        "<th>camera</th><th>seen</th><th>said</th><th>on-screen text</th><th>heard</th><th>dBFS</th><th>pace</th></tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table></details></section>"
    )


def _analyzers_table(result: VideoResult) -> str:
    rows = "".join(
        f"<tr class={r.status.value}><td>{_e(name)}</td><td>{r.status.value}</td><td class=num>{r.elapsed_s:.2f}</td>"
        f"<td>{_e(r.reason or r.error or '')}</td></tr>"
        for name, r in result.analyzers.items()
    )
    return (
        "<section><details><summary>Analyzers</summary><table class=analyzers><thead><tr><th>analyzer</th><th>status</th>"
        "<th>s</th><th>reason</th></tr></thead><tbody>" + rows + "</tbody></table></details></section>"
    )


# --- the timeline ----------------------------------------------------------------------------


class Timeline:
    """The SVG: one lane per kind of finding, time running left to right."""

    def __init__(self, result: VideoResult) -> None:
        self.result = result
        self.duration = max(result.video.duration_s, 1e-3)
        self.parts: list[str] = []
        self.y = 28  # below the time axis labels

    def x(self, t: float) -> float:
        return LABEL_W + min(max(t, 0.0), self.duration) / self.duration * PLOT_W

    def ok(self, name: str) -> AnalyzerResult | None:
        r = self.result.analyzers.get(name)
        return r if r is not None and r.status == Status.ok else None

    def why(self, *names: str) -> str:
        """Why none of `names` gave this lane anything."""
        reasons = []
        for name in names:
            r = self.result.analyzers.get(name)
            reasons.append(f"{name}: not run" if r is None else f"{name} {r.status.value}: {r.reason or r.error}")
        return "; ".join(reasons)

    def svg(self) -> str:
        self.lane_shots()
        self.lane_spans(
            "Speech", self.speech_spans(), ("speech_transcription", "speech_flow"), "speech", stream="audio"
        )
        self.lane_rows("On-screen text", self.text_rows(), ("text_overlay",), "text")
        self.lane_rows("Described", self.description_rows(), ("qwen2_vl_temporal",), "description")
        self.lane_rows("Objects", self.object_rows(), ("object_detection",), "object")
        self.lane_rows("People & faces", self.people_rows(), ("body_pose", "eye_tracking", "age_estimation"), "person")
        self.lane_rows(
            "Audio classes", self.audio_rows(), ("audio_environment", "audio_analysis"), "audio", stream="audio"
        )
        self.lane_pace()
        height = self.y + 8
        axis = self.axis(height)
        return (
            f'<svg id=timeline viewBox="0 0 {WIDTH} {height}" width="100%" role=img '
            f'aria-label="timeline of {self.duration:.1f} s" data-duration="{self.duration:.4f}" '
            f'data-x0="{LABEL_W}" data-plot-width="{PLOT_W}" xmlns="http://www.w3.org/2000/svg">'
            + axis
            + "".join(self.parts)
            + f'<line id=cursor x1="{LABEL_W}" x2="{LABEL_W}" y1="18" y2="{height - 4}" visibility="hidden"/></svg>'
        )

    def axis(self, height: float) -> str:
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if self.duration / s <= 24)
        ticks = []
        t = 0.0
        while t <= self.duration + 1e-9:
            x = self.x(t)
            ticks.append(
                f'<line class=grid x1="{x:.1f}" x2="{x:.1f}" y1="18" y2="{height - 4}"/><text class=tick x="{x:.1f}" y="13">{_clock(t)}</text>'
            )
            t += step
        return "".join(ticks)

    def label(self, text: str) -> None:
        """The lane's title, beside its first row."""
        self.parts.append(f'<text class=lane x="8" y="{self.y + 15}">{_e(text)}</text>')

    def block(
        self, start: float, end: float, row: int, css: str, colour: str, text: str, tip: str, attrs: str = ""
    ) -> None:
        x0, x1 = self.x(start), self.x(end)
        width = max(x1 - x0, 1.5)
        y = self.y + row * (ROW_H + ROW_GAP)
        fits = int((width - 6) / CHAR_W)
        shown = text if len(text) <= fits else (text[: fits - 1] + "…" if fits > 2 else "")
        self.parts.append(
            f'<g class="{css}"{attrs}><title>{_e(tip)}</title>'
            f'<rect class="{css}" x="{x0:.2f}" y="{y}" width="{width:.2f}" height="{ROW_H}" rx="3" fill="{colour}"/>'
            + (f'<text x="{x0 + 4:.2f}" y="{y + 15}">{_e(shown)}</text>' if shown else "")
            + "</g>"
        )

    def absent(self, title: str, sources: tuple[str, ...], stream: str = "video") -> None:
        """A lane with nothing to draw, saying why: the stream it reads is missing, or its analyzers."""
        has_stream = self.result.video.has_audio if stream == "audio" else self.result.video.has_video
        why = self.why(*sources) if has_stream else f"no {stream} stream"
        self.label(title)
        self.parts.append(
            f'<g class=absent><title>{_e(why)}</title><rect x="{LABEL_W}" y="{self.y}" width="{PLOT_W}" height="{ROW_H}" rx="3"/>'
            f'<text x="{LABEL_W + 8}" y="{self.y + 15}">not available: {_e(_clip(why, 150))}</text></g>'
        )
        self.y += ROW_H + LANE_GAP

    def lane_shots(self) -> None:
        cuts = self.ok("cut_analysis")
        if cuts is None:
            return self.absent("Shots", ("cut_analysis",))
        camera = {
            s.data.get("shot"): camera_move(s)
            for s in (self.ok("camera_analysis") or AnalyzerResult(status=Status.ok)).segments
        }
        self.label("Shots")
        for s in cuts.segments:
            if s.label != "shot":
                continue
            i = s.data.get("index", 0)
            move = camera.get(i)
            tip = (
                f"shot {i}: {s.start_s:.2f}-{s.end_s:.2f} s"
                + (f", camera {move}" if move else "")
                + f", in: {s.data.get('transition_in')}, out: {s.data.get('transition_out')}"
            )
            text = f"#{i}" + (f" {move}" if move else "")
            self.block(
                s.start_s, s.end_s, 0, "shot", SHOT_COLOURS[i % len(SHOT_COLOURS)], text, tip, f' data-index="{i}"'
            )
        for s in cuts.segments:
            if s.label in ("dissolve", "fade", "fade_in", "fade_out"):
                x0, x1 = self.x(s.start_s), self.x(s.end_s)
                self.parts.append(
                    f"<g class=transition><title>{_e(s.label)} {s.start_s:.2f}-{s.end_s:.2f} s</title>"
                    f'<rect x="{x0:.2f}" y="{self.y}" width="{max(x1 - x0, 1.5):.2f}" height="{ROW_H}" fill="url(#hatch)"/></g>'
                )
            elif s.label == "cut":
                x = self.x(s.start_s)
                self.parts.append(
                    f'<line class=cut x1="{x:.2f}" x2="{x:.2f}" y1="{self.y - 3}" y2="{self.y + ROW_H + 3}">'
                    f"<title>cut at {s.start_s:.3f} s</title></line>"
                )
        self.parts.insert(
            0,
            '<defs><pattern id=hatch width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            '<rect width="3" height="6" fill="#00000030"/></pattern></defs>',
        )
        self.y += ROW_H + LANE_GAP

    def speech_spans(self) -> list[tuple[float, float, str, str]] | None:
        """(start, end, text, tip): the transcript's segments, else the VAD's speech."""
        words = self.ok("speech_transcription")
        if words is not None:
            spans = [
                (
                    s.start_s,
                    s.end_s,
                    str(s.data.get("text", "")).strip(),
                    f"{s.start_s:.2f}-{s.end_s:.2f} s: {s.data.get('text', '')}",
                )
                for s in words.segments
                if s.data.get("text")
            ]
            if spans or self.ok("speech_flow") is None:
                return spans
        flow = self.ok("speech_flow")
        if flow is None:
            return None
        return [
            (s.start_s, s.end_s, "speech", f"speech {s.start_s:.2f}-{s.end_s:.2f} s")
            for s in flow.segments
            if s.label == "speech"
        ]

    def lane_spans(
        self,
        title: str,
        spans: list[tuple[float, float, str, str]] | None,
        sources: tuple[str, ...],
        css: str,
        stream: str,
    ) -> None:
        rows = None if spans is None else [(title.lower(), spans)]
        self.lane_rows(title, rows, sources, css, stream, colour=CLASS_COLOURS["speech"])

    def text_rows(self) -> list[tuple[str, list]] | None:
        texts = self.ok("text_overlay")
        if texts is None:
            return None
        spans = _spans(
            texts,
            "text",
            lambda s: str(s.data.get("text", "")),
            lambda s: f"'{s.data.get('text', '')}' {s.start_s:.2f}-{s.end_s:.2f} s, {s.data.get('position')}",
        )
        return [("", row) for row in _pack(spans)]

    def description_rows(self) -> list[tuple[str, list]] | None:
        model = self.ok("qwen2_vl_temporal")
        if model is None:
            return None
        windows = _spans(
            model,
            "window",
            lambda s: str(s.data.get("description") or ""),
            lambda s: f"{s.start_s:.2f}-{s.end_s:.2f} s: {s.data.get('description')}",
        )
        return [("", windows)]

    def object_rows(self) -> list[tuple[str, list]] | None:
        objects = self.ok("object_detection")
        if objects is None:
            return None
        by_class: dict[str, list] = {}
        for s in objects.segments:
            if s.label != "shot":
                by_class.setdefault(s.label, []).append(
                    (
                        s.start_s,
                        s.end_s,
                        s.label,
                        f"{s.label} (track {s.data.get('track')}) {s.start_s:.2f}-{s.end_s:.2f} s",
                    )
                )
        ranked = sorted(by_class.items(), key=lambda kv: -sum(b - a for a, b, _, _ in kv[1]))
        # Tracks of one class that overlap (two people) go to rows of their own, named once.
        return [(name if i == 0 else "", row) for name, spans in ranked for i, row in enumerate(_pack(spans))]

    def people_rows(self) -> list[tuple[str, list]] | None:
        rows = []
        pose = self.ok("body_pose")
        if pose is not None:
            rows += _track_rows(
                "people",
                pose,
                "person",
                lambda s: s.data.get("activity") or "person",
                lambda s: f"person track {s.data.get('track')}, {s.data.get('activity')}",
            )
        faces = self.ok("eye_tracking") or self.ok("age_estimation")
        if faces is not None:
            rows += _track_rows(
                "faces",
                faces,
                "face",
                lambda s: s.data.get("age_range") or "face",
                lambda s: f"face track {s.data.get('track')} {s.start_s:.2f}-{s.end_s:.2f} s",
            )
        return rows if pose is not None or faces is not None else None

    def audio_rows(self) -> list[tuple[str, list]] | None:
        rows = []
        environment = self.ok("audio_environment")
        if environment is not None:
            by_label: dict[str, list] = {}
            for s in environment.segments:
                tip = f"{s.label} {s.start_s:.2f}-{s.end_s:.2f} s" + (
                    f" ({s.confidence:.2f})" if s.confidence is not None else ""
                )
                by_label.setdefault(s.label, []).append((s.start_s, s.end_s, s.label, tip))
            rows += sorted(by_label.items(), key=lambda kv: -sum(b - a for a, b, _, _ in kv[1]))
        heuristic = self.ok("audio_analysis")
        if heuristic is not None:
            spans = [
                (
                    s.start_s,
                    s.end_s,
                    s.label,
                    f"{s.label} {s.start_s:.2f}-{s.end_s:.2f} s, {s.data.get('mean_dbfs')} dBFS",
                )
                for s in heuristic.segments
            ]
            rows.append(("heuristic", spans))
        return rows if environment is not None or heuristic is not None else None

    def lane_rows(
        self,
        title: str,
        rows: list[tuple[str, list]] | None,
        sources: tuple[str, ...],
        css: str,
        stream: str = "video",
        colour: str | None = None,
    ) -> None:
        if rows is None:
            return self.absent(title, sources, stream)
        shown = rows[:MAX_ROWS] or [("", [])]
        self.label(title + (f" (+{len(rows) - MAX_ROWS} rows)" if len(rows) > MAX_ROWS else ""))
        named = len(shown) > 1
        group = -1  # rows of one name (a class packed into several rows) share a colour
        for r, (name, spans) in enumerate(shown):
            y = self.y + r * (ROW_H + ROW_GAP)
            group += 1 if name or r == 0 else 0
            self.parts.append(f'<rect class=row x="{LABEL_W}" y="{y}" width="{PLOT_W}" height="{ROW_H}" rx="3"/>')
            if named and name:
                self.parts.append(f'<text class=rowname x="{LABEL_W - 6}" y="{y + 15}">{_e(_clip(name, 14))}</text>')
            if not spans:
                self.parts.append(
                    f'<text class=none x="{LABEL_W + 8}" y="{y + 15}">{_e(name + ": " if name and not named else "")}none found</text>'
                )
            for i, (a, b, text, tip) in enumerate(spans):
                fill = colour or CLASS_COLOURS.get(text) or OTHER_COLOURS[(group if named else i) % len(OTHER_COLOURS)]
                self.block(a, b, r, css, fill, text, tip)
        self.y += len(shown) * (ROW_H + ROW_GAP) - ROW_GAP + LANE_GAP

    def lane_pace(self) -> None:
        tempo = self.ok("temporal_flow")
        pace = ((tempo.summary.get("curves") or {}).get("pace") if tempo else None) or None
        if pace is None:
            return self.absent("Pace", ("temporal_flow",), "video" if self.result.video.has_video else "audio")
        height = 60
        self.label("Pace")
        top, bottom = self.y, self.y + height
        self.parts.append(f'<rect class=row x="{LABEL_W}" y="{top}" width="{PLOT_W}" height="{height}" rx="3"/>')
        points = [
            (self.x(k + 0.5), bottom - v * (height - 4))
            for k, v in enumerate(pace)
            if v is not None and k + 0.5 <= self.duration + 0.5
        ]
        if points:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            area = f"{points[0][0]:.1f},{bottom} {line} {points[-1][0]:.1f},{bottom}"
            self.parts.append(f'<polygon class=pace-area points="{area}"/><polyline class=pace points="{line}"/>')
            for (x, y), v in zip(points, [v for v in pace if v is not None]):
                self.parts.append(
                    f'<circle class=pace-dot cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>pace {v:.2f}</title></circle>'
                )
        self.parts.append(
            f'<text class=none x="{LABEL_W + PLOT_W + 4}" y="{top + 10}">1</text><text class=none x="{LABEL_W + PLOT_W + 4}" y="{bottom}">0</text>'
        )
        self.y += height + LANE_GAP


def _pack(spans: list[tuple[float, float, str, str]]) -> list[list]:
    """Spans in as few rows as keep them apart (first fit, in order of start)."""
    rows: list[list] = []
    for span in sorted(spans, key=lambda s: s[0]):
        row = next((r for r in rows if r[-1][1] <= span[0]), None)
        if row is None:
            rows.append([span])
        else:
            row.append(span)
    return rows


def _spans(result: AnalyzerResult, label: str, caption, title) -> list[tuple[float, float, str, str]]:
    """(start, end, caption, tooltip) of each of the result's `label` segments."""
    return [(s.start_s, s.end_s, caption(s), title(s)) for s in result.segments if s.label == label]


def _track_rows(lane: str, result: AnalyzerResult, label: str, caption, title) -> list[tuple[str, list]]:
    """One lane's rows of `label` segments, packed so none overlap; an empty row when there are none."""
    return [(lane, row) for row in _pack(_spans(result, label, caption, title))] or [(lane, [])]


# --- page ------------------------------------------------------------------------------------

CSS = """
:root{--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f7f8fa;--accent:#4e79a7}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:0 0 8px}
.meta,.hint{color:var(--muted);margin:0 0 6px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 16px;margin:14px 0}
.score{display:flex;gap:24px;align-items:center}.big{min-width:150px;text-align:center}
.big span{font-size:52px;font-weight:700;color:var(--accent)}.big small{color:var(--muted);font-size:16px}.big div{color:var(--muted)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{width:180px;height:10px;background:#eef0f3;border-radius:5px;overflow:hidden;margin-top:5px}.bar div{height:100%;background:var(--accent)}
.bar.na{background:repeating-linear-gradient(45deg,#eef0f3,#eef0f3 4px,#fff 4px,#fff 8px)}
.missing{color:var(--muted);font-size:12px}
.sentences{margin:0;padding-left:18px}.sentences li{margin:2px 0}.src{color:var(--muted);font-size:11px;margin-left:4px}
.hook{background:#fff8e6;border-left:4px solid #f2b134;padding:6px 10px;margin:0 0 10px}
svg text{font:11px system-ui,sans-serif;fill:#fff;pointer-events:none}
svg text.lane{fill:var(--ink);font-weight:600;font-size:12px}svg text.tick{fill:var(--muted);text-anchor:middle}
svg text.none{fill:var(--muted)}svg text.rowname{fill:var(--muted);text-anchor:end;font-size:10px}svg .grid{stroke:#eef0f3}svg rect.row{fill:#f4f5f7}
svg .absent rect{fill:#f4f5f7;stroke:#d0d5dd;stroke-dasharray:4 3}svg .absent text{fill:var(--muted);font-style:italic}
svg .cut{stroke:var(--ink);stroke-width:2}svg .pace{fill:none;stroke:#e15759;stroke-width:2}svg .pace-area{fill:#e1575922}
svg .pace-dot{fill:#e15759}svg #cursor{stroke:var(--ink);stroke-width:1;stroke-dasharray:3 2}
svg g:hover rect{stroke:var(--ink);stroke-width:1.5}
.info{min-height:40px;margin-top:8px;padding:6px 10px;background:var(--bg);border-radius:6px;font-size:13px}
.seconds td,.analyzers td{font-size:12px}.na{color:#c0c5cf}tr.skipped td{color:var(--muted)}tr.failed td{color:#b42318}
details summary{cursor:pointer;font-weight:600}.error{color:#b42318}
"""

# Shows the fused second under the pointer: the data is embedded in the page, nothing is fetched.
JS = """
(function () {
  var svg = document.getElementById('timeline');
  var info = document.getElementById('second-info');
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  if (!svg || !info || !data.length) { return; }
  var cursor = document.getElementById('cursor');
  var x0 = parseFloat(svg.dataset.x0), width = parseFloat(svg.dataset.plotWidth), duration = parseFloat(svg.dataset.duration);
  function list(v) {
    if (v === null || v === undefined) { return null; }
    if (Array.isArray(v)) { return v.length ? v.join(', ') : 'none'; }
    if (typeof v === 'object') { var k = Object.keys(v); return k.length ? k.map(function (c) { return c + ' x' + v[c]; }).join(', ') : 'none'; }
    return String(v);
  }
  function describe(s) {
    var parts = [['shot', list(s.shots)], ['camera', list(s.camera)], ['objects', list(s.objects)], ['people', list(s.people)],
      ['faces', list(s.faces)], ['shown', list(s.descriptions)], ['said', list(s.words)], ['speech', s.speech === null ? null : Math.round(s.speech * 100) + '%'],
      ['text', list(s.text)], ['sounds', list(s.sounds)], ['audio', list(s.audio)],
      ['dBFS', s.loudness_dbfs === null ? null : s.loudness_dbfs.toFixed(1)], ['pace', s.pace === null ? null : s.pace.toFixed(2)]];
    var shown = parts.filter(function (p) { return p[1] !== null; }).map(function (p) { return '<b>' + p[0] + '</b> ' + escapeHtml(p[1]); });
    return '<b>' + (+s.start.toFixed(2)) + '-' + (+s.end.toFixed(2)) + ' s</b> &middot; ' + shown.join(' &middot; ');
  }
  function escapeHtml(t) { return t.replace(/[&<>"]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
  svg.addEventListener('mousemove', function (event) {
    var box = svg.getBoundingClientRect();
    var x = (event.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
    var t = (x - x0) / width * duration;
    if (t < 0 || t > duration) { cursor.setAttribute('visibility', 'hidden'); return; }
    cursor.setAttribute('x1', x); cursor.setAttribute('x2', x); cursor.setAttribute('visibility', 'visible');
    var second = data.filter(function (s) { return t >= s.start && t <= s.end; })[0];
    if (second) { info.innerHTML = describe(second); }
  });
  svg.addEventListener('mouseleave', function () { cursor.setAttribute('visibility', 'hidden'); });
  info.innerHTML = describe(data[0]);
})();
"""


def _page(title: str, body: str, timeline_json: str) -> str:
    # "</" cannot end the data block early once its slash is escaped (JSON reads "<\\/" as "</").
    data = timeline_json.replace("</", "<\\/")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>{body}</main>"
        f'<script type="application/json" id="timeline-data">{data}</script><script>{JS}</script></body></html>'
    )


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _clock(t: float) -> str:
    return f"{int(t) // 60}:{int(t) % 60:02d}" if t >= 60 else f"{t:g}s"


def _num(value: float | None, fmt: str) -> str:
    return "<span class=na>-</span>" if value is None else fmt.format(value)
