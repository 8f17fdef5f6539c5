"""The written summary's sentences on the short-form insights (#14), each from fields that were
measured, with the analyzers they came from: editing on the beat and the safe zones
(short_form.py), the cross-posting mark (text_overlay), the hook's first events, the loop and the
stitch (temporal_flow), the split screen (camera_analysis) and the green screen
(background_segmentation). What was not measured is not said (each field's reason is in the
document, and the report's short-form panel shows it).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.analyzers.fusion_sentences import Sentence, _count, _range, _secs
from pipeline.analyzers.fusion_timeline import Facts
from pipeline.analyzers.short_form import PLATFORM_NAMES, BeatSync, SafeZones

MAX_SPANS = 6
LAYOUTS = {"side_by_side": "side by side (a duet's layout)", "top_bottom": "top and bottom (a reaction's layout)"}
HOOK_EVENTS = (("cut", "cut"), ("text", "on-screen text"), ("word", "word"), ("face", "face"))

Say = Callable[..., None]


def short_form_sentences(facts: Facts, beats: BeatSync | None, zones: SafeZones | None) -> list[Sentence]:
    out: list[Sentence] = []

    def say(text: str, *sources: str) -> None:
        out.append(Sentence(text=text, sources=list(dict.fromkeys(sources))))

    if beats is not None:
        _beat(beats, say)
    _watermark(facts, say)
    if zones is not None:
        _safe_zones(zones, say)
    _hook(facts, say)
    _loop(facts, say)
    _formats(facts, say)
    return out


def _beat(beats: BeatSync, say: Say) -> None:
    if beats.reason is not None:
        return
    verdict = "cut on the beat" if beats.on_the_beat else "no more than chance"
    say(
        f"Cuts and beat: {beats.cuts_on_beat} of {_count(beats.cut_count, 'hard cut')} within ±{beats.window_s * 1000:.0f} ms"
        f" of a beat at {beats.tempo_bpm:.0f} BPM ({beats.on_beat_share:.0%}; {beats.chance_share:.0%} expected by chance): {verdict}.",
        "cut_analysis",
        "audio_analysis",
    )


def _watermark(facts: Facts, say: Say) -> None:
    text = facts.get("text_overlay")
    mark = text.summary.watermark if text is not None else None
    if mark is None:
        return
    platform = PLATFORM_NAMES[mark.platform]
    handle = f" with the handle {mark.handle}" if mark.handle else ""
    spans = ", ".join(_range(a, b) for a, b in mark.times[:MAX_SPANS])
    say(f"A {platform} watermark{handle} is on screen ({spans}): a cross-post from {platform}.", "text_overlay")


def _safe_zones(zones: SafeZones, say: Say) -> None:
    """What text and faces the apps' interfaces would cover (vertical video, measured time only)."""
    if zones.platforms is None:
        return
    parts, sources = [], []
    for what, field, seconds, source in (
        ("on-screen text", "text_under_share", zones.text_s, zones.text_from),
        ("face", "face_under_share", zones.face_s, zones.faces_from),
    ):
        if source is None or not seconds:
            continue
        shares = ", ".join(f"{PLATFORM_NAMES[name]} {getattr(p, field):.0%}" for name, p in zones.platforms.items())
        parts.append(f"of {what} time {shares}")
        sources.append(source)
    if parts:
        say("Under the apps' buttons and captions: " + "; ".join(parts) + ".", *sources)


def _hook(facts: Facts, say: Say) -> None:
    """temporal_flow's hook figures: when the first cut, text, word and face come."""
    flow = facts.get("temporal_flow")
    hook = next((s.data for s in flow.segments if s.label == "hook"), None) if flow is not None else None
    if hook is None or hook.firsts is None:
        return
    found, never, sources = [], [], ["temporal_flow"]
    for key, name in HOOK_EVENTS:
        event = getattr(hook.firsts, key)
        if event.reason is not None:
            continue  # not measured: nothing to say
        if event.time_s is None:
            never.append(name)
        else:
            found.append(f"{name} at {_secs(event.time_s)}")
        sources.append(event.source)
    parts = (["first " + ", ".join(found)] if found else []) + (["no " + ", ".join(never)] if never else [])
    if not parts:
        return
    extra = []
    if hook.cuts_first_1s:
        extra.append(f"{_count(hook.cuts_first_1s, 'cut')} in the first second")
    if hook.audio_vs_rest_db is not None:
        extra.append(f"{abs(hook.audio_vs_rest_db):.1f} dB {'louder' if hook.audio_vs_rest_db >= 0 else 'quieter'} than the rest")
    if hook.motion is not None and hook.motion_rest is not None:
        extra.append(f"motion {hook.motion:.2f} against {hook.motion_rest:.2f} frame widths/s after it")
    say("Hook timing: " + "; ".join(parts + extra) + ".", *sources)


def _loop(facts: Facts, say: Say) -> None:
    flow = facts.get("temporal_flow")
    loop = flow.summary.loop if flow is not None else None
    if loop is None or loop.seamless is None:
        return
    alike = f"the last frame is {loop.end_start_similarity:.1%} like the first"
    sound = loop.sound
    if loop.seamless:
        heard = ", and the sound continues" if sound is not None else ""
        say(f"It loops seamlessly: {alike}{heard}.", "temporal_flow")
        return
    why = [] if loop.picture_continuous else [alike + ", more than an ordinary step"]
    if sound is not None and not sound.continuous:
        why.append("the sound jumps across the wrap")
    say("It does not loop seamlessly: " + "; ".join(why) + ".", "temporal_flow")


def _formats(facts: Facts, say: Say) -> None:
    flow = facts.get("temporal_flow")
    stitch = flow.summary.stitch if flow is not None else None
    if stitch is not None and stitch.likely:
        say(
            f"It has a stitch's shape: a {_secs(stitch.opening_s)} opening shot, then a hard cut to a face"
            f" on screen {stitch.face_share_after:.0%} of the rest.",
            "temporal_flow",
            "cut_analysis",
            stitch.faces_from,
        )
    camera = facts.get("camera_analysis")
    split = camera.summary.split_screen if camera is not None else None
    if split is not None and split.layout is not None:
        say(
            f"Split screen: {LAYOUTS[split.layout]}, a seam in {split.seam_share[split.layout]:.0%} of the frames measured.",
            "camera_analysis",
        )
    background = facts.get("background_segmentation")
    green = background.summary.green_screen if background is not None else None
    if green is not None and green.likely:
        say(f"Green-screen style: a person over a still background in {green.share:.0%} of the shot time.", "background_segmentation")
