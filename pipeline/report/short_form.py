"""The report's short-form panel: the #14 insights of one video in a few lines, read from the
typed document (never recomputed): editing on the beat and the platforms' safe zones
(cross_analyzer_intelligence's summary), the cross-posting mark (text_overlay's), the hook's
first events, the loop and the stitch (temporal_flow's), the split screen (camera_analysis's)
and the green screen (background_segmentation's). Each line says what was measured, or why not.
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
        f"{beats.cuts_on_beat} of {beats.cut_count} hard cut{'' if beats.cut_count == 1 else 's'} within ±{beats.window_s * 1000:.0f} ms of a beat at "
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
    read = [f"text on screen {zones.text_s:.1f} s ({zones.text_from})" if zones.text_from else "text not read"]
    read.append(f"faces {zones.face_s:.1f} s ({zones.faces_from})" if zones.faces_from else "faces not detected")
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


def _ok(result: VideoResult, name: str):
    found = result.analyzers.get(name)
    return found if found is not None and found.status == Status.ok else None


def hook_line(result: VideoResult) -> PanelLine:
    flow = _ok(result, "temporal_flow")
    hook = next((s.data for s in flow.segments if s.label == "hook"), None) if flow else None
    if hook is None or hook.firsts is None:
        return PanelLine("Hook", _why(result, "temporal_flow") if flow is None else "not computed", "temporal_flow", False)
    parts, sources = [], ["temporal_flow"]
    for key in ("cut", "text", "word", "face"):
        event = getattr(hook.firsts, key)
        sources += [event.source] if event.source else []
        if event.reason is not None:
            parts.append(f"{key}: {event.reason}")
        elif event.time_s is None:
            parts.append(f"{key}: never")
        else:
            within = " (first 1 s)" if event.in_first_1s else " (first 3 s)" if event.in_first_3s else ""
            parts.append(f"{key} {event.time_s:.2f} s{within}")
    if hook.cuts_first_1s is not None:
        parts.append(f"{hook.cuts_first_1s} cuts in the first 1 s")
    if hook.audio_vs_rest_db is not None:
        parts.append(f"loudness {hook.audio_vs_rest_db:+.1f} dB against the rest")
    if hook.motion is not None and hook.motion_rest is not None:
        parts.append(f"motion {hook.motion:.2f} against {hook.motion_rest:.2f} after")
    if hook.shorter_than_hook:
        parts.append(hook.shorter_than_hook)
    return PanelLine("Hook", "first " + "; ".join(parts), ", ".join(dict.fromkeys(sources)))


def loop_line(result: VideoResult) -> PanelLine:
    flow = _ok(result, "temporal_flow")
    loop = flow.summary.loop if flow else None
    if loop is None or loop.seamless is None:
        why = _why(result, "temporal_flow") if flow is None else (loop.skipped if loop else "not computed")
        return PanelLine("Loop", why, "temporal_flow", False)
    text = f"{'seamless' if loop.seamless else 'not seamless'}: the end is {loop.end_start_similarity:.1%} like the start"
    text += f" (one frame and the next: {1 - loop.median_step:.1%} alike, the median)"
    if loop.sound is not None:
        text += "; the sound continues" if loop.sound.continuous else "; the sound jumps"
    return PanelLine("Loop", text, "temporal_flow")


def stitch_line(result: VideoResult) -> PanelLine:
    flow = _ok(result, "temporal_flow")
    stitch = flow.summary.stitch if flow else None
    if stitch is None or stitch.likely is None:
        why = _why(result, "temporal_flow") if flow is None else (stitch.reason if stitch else "not computed")
        return PanelLine("Stitch", why, "temporal_flow", False)
    figures = [f"opening shot {stitch.opening_s:g} s" if stitch.opening_s is not None else "one shot"]
    if stitch.first_face_after_cut_s is not None:
        figures.append(f"a face {stitch.first_face_after_cut_s:g} s after the cut")
    if stitch.face_share_after is not None:
        figures.append(f"faces {stitch.face_share_after:.0%} of the rest")
    verdict = "a stitch's shape" if stitch.likely else "not a stitch's shape"
    return PanelLine("Stitch", f"{verdict} ({', '.join(figures)})", f"temporal_flow, {stitch.faces_from or 'no faces'}")


def split_line(result: VideoResult) -> PanelLine:
    camera = _ok(result, "camera_analysis")
    split = camera.summary.split_screen if camera else None
    if split is None:
        return PanelLine("Split screen", _why(result, "camera_analysis") if camera is None else "not computed", "camera_analysis", False)
    if split.layout is None:
        return PanelLine("Split screen", f"none seen ({split.frames_measured} frames measured)", "camera_analysis")
    seam = split.seam_share[split.layout] if split.seam_share else None
    shown = split.layout.replace("_", " ") + (f", a seam in {seam:.0%} of the frames" if seam is not None else "")
    return PanelLine("Split screen", shown, "camera_analysis")


def green_line(result: VideoResult) -> PanelLine:
    background = _ok(result, "background_segmentation")
    green = background.summary.green_screen if background else None
    if green is None:
        why = _why(result, "background_segmentation") if background is None else "not computed"
        return PanelLine("Green screen", why, "background_segmentation", False)
    verdict = "likely" if green.likely else "no"
    return PanelLine("Green screen", f"{verdict}: a person over a still background in {green.share:.0%} of the shot time", "background_segmentation")


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
    panel.lines += [watermark_line(result), hook_line(result), loop_line(result), stitch_line(result)]
    panel.lines += [split_line(result), green_line(result)]
    return panel
