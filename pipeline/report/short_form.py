"""The report's short-form panel: the #14 insights of one video in a few lines, read from the
typed document (never recomputed): editing on the beat and the platforms' safe zones
(cross_analyzer_intelligence's summary), and the cross-posting mark (text_overlay's). Each line
says what was measured, or why it was not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.analyzers.fusion_timeline import NAME as FUSION
from pipeline.analyzers.short_form import PLATFORM_NAMES, BeatSync, SafeZones
from pipeline.schema import Status, VideoResult


@dataclass
class PanelLine:
    label: str
    text: str
    sources: str  # the analyzers it was read from
    measured: bool = True  # False: the text says why it was not


@dataclass
class ZoneRow:
    platform: str
    text: float | None  # share of on-screen text time under any overlay (None: not measured)
    top_bar: float | None
    right_rail: float | None
    bottom: float | None
    faces: float | None  # share of face time under any overlay


@dataclass
class ShortFormPanel:
    lines: list[PanelLine] = field(default_factory=list)
    zones: list[ZoneRow] = field(default_factory=list)  # empty: see the safe-zone line


def _why(result: VideoResult, name: str) -> str:
    found = result.analyzers.get(name)
    if found is None:
        return f"{name} not run"
    return f"{name} {found.status.value}: {found.reason or found.error}"


def beat_line(beats: BeatSync | None) -> PanelLine:
    sources = "cut_analysis, audio_analysis"
    if beats is None or beats.reason is not None:
        return PanelLine("Editing on the beat", beats.reason if beats else "not computed", sources, measured=False)
    verdict = "on the beat" if beats.on_the_beat else "no more than chance"
    on = ", ".join(f"{t:.2f}" for t in beats.on_beat_times_s or [])
    text = (
        f"{beats.cuts_on_beat} of {beats.cut_count} hard cuts within ±{beats.window_s * 1000:.0f} ms of a beat at "
        f"{beats.tempo_bpm:.0f} BPM ({beats.on_beat_share:.0%}; {beats.chance_share:.0%} by chance, "
        f"p = {beats.p_value:.2g}): {verdict}" + (f"; on the beat at {on} s" if on else "")
    )
    return PanelLine("Editing on the beat", text, sources)


def zone_rows(zones: SafeZones) -> list[ZoneRow]:
    rows = []
    for name, p in (zones.platforms or {}).items():
        under = p.text_under
        rows.append(
            ZoneRow(
                platform=PLATFORM_NAMES[name],
                text=p.text_under_share,
                top_bar=under.top_bar if under else None,
                right_rail=under.right_rail if under else None,
                bottom=under.bottom if under else None,
                faces=p.face_under_share,
            )
        )
    return rows


def zone_line(zones: SafeZones | None) -> PanelLine:
    if zones is None or zones.reason is not None:
        return PanelLine("Safe zones", zones.reason if zones else "not computed", "", measured=False)
    read = [f"text {zones.text_s:g} s ({zones.text_from})" if zones.text_from else "text not read"]
    read.append(f"faces {zones.face_s:g} s ({zones.faces_from})" if zones.faces_from else "faces not detected")
    sources = ", ".join(s for s in (zones.text_from, zones.faces_from) if s)
    return PanelLine("Safe zones", "share of the time on screen under each app's overlays; " + ", ".join(read), sources)


def watermark_line(result: VideoResult) -> PanelLine:
    text = result.analyzers.get("text_overlay")
    if text is None or text.status != Status.ok:
        return PanelLine("Cross-posting mark", _why(result, "text_overlay"), "text_overlay", measured=False)
    mark = text.summary.watermark
    if mark is None:
        return PanelLine("Cross-posting mark", "none read", "text_overlay")
    spans = ", ".join(f"{a:g}-{b:g} s" for a, b in mark.times)
    handle = f" {mark.handle}" if mark.handle else " (no handle read)"
    return PanelLine("Cross-posting mark", f"{PLATFORM_NAMES[mark.platform]}{handle}, on screen {spans}", "text_overlay")


def short_form_panel(result: VideoResult) -> ShortFormPanel:
    """The panel's lines; the fusion's figures when it succeeded, else lines that say why."""
    fusion = result.analyzers.get(FUSION)
    panel = ShortFormPanel()
    if fusion is not None and fusion.status == Status.ok:
        summary = fusion.summary
        panel.lines += [beat_line(summary.beat_sync), zone_line(summary.safe_zones)]
        zones = summary.safe_zones
        if zones is not None and zones.reason is None and (zones.text_from or zones.faces_from):
            panel.zones = zone_rows(zones)
    else:
        why = _why(result, FUSION)
        panel.lines += [PanelLine("Editing on the beat", why, "", False), PanelLine("Safe zones", why, "", False)]
    panel.lines.append(watermark_line(result))
    return panel
