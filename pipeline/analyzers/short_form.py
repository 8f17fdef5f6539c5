"""Short-form insights cross_analyzer_intelligence reads off the other results: whether the editing
is cut to the beat, and how much on-screen text and face time sits under each platform's app
interface on a vertical video.

Editing on the beat (`beat_sync`). audio_analysis's beats (librosa's tracker, only when the track
has a steady pulse) against cut_analysis's hard cuts (the first frame of each new shot). A cut
is on the beat within ±max(1 frame, 40 ms) of the nearest beat. By chance, a cut lands on a beat
with probability `chance_share` = min(1, 2 x window x beats per second); `p_value` is the
one-sided binomial probability of at least that many cuts on the beat by chance, and
`on_the_beat` says p < ALPHA. Only cuts where the beat was tracked count (from half a beat
before the first beat to half a beat after the last). Dissolves and fades are not counted: their
moment is a span, not an instant. It cannot tell a deliberate cut from a lucky one, and a
tracker locked to half or double the tempo changes the chance share with it.

Platform safe zones (`safe_zones`), vertical video only. Each platform's interface drawn over
the video, as three rectangles in fractions of the frame: the top bar [0, 0, 1, top], the
bottom caption and music area [0, 1 - bottom, 1, 1] and the right-hand button rail
[1 - right, top, 1, 1 - bottom]. A text track (text_overlay) or a face track (eye_tracking, else
age_estimation) is under a zone when at least `covered_share` of its median box's area lies in
it; the shares are of the time any text (any face) is on screen. A box is the track's median:
text or a face that moves across the frame counts where it mostly is.

The zones' defaults (settings.safe_zones overrides each), on a 1080x1920 frame:
- TikTok: TikTok's creative guidance publishes template files, not numbers ("the safe zone
  size is determined by the dimension, the ad caption length and any interactive add-on",
  https://ads.tiktok.com/help/article?aid=10002745). The numbers are a secondary source's
  measurement of the in-feed template: top 250 px, bottom 420 px, right 170 px
  (https://socaptions.com/blog/tiktok-safe-zones-2026).
- Instagram Reels: Meta's Reels ads guidance, 14 % at the top, 35 % at the bottom and 6 % at
  each side, as quoted by https://shotstack.io/learn/vertical-video-safe-zones/ and
  https://adsuploader.com/blog/meta-ads-safe-zones (Meta's own page was not found to cite).
- YouTube Shorts: Google's safe zone for vertical YouTube ads, 288 px at the top, 672 px at the
  bottom and 192 px on the right (Google Ads Help 13704860 points to its video ad safe zones),
  as quoted by https://shotstack.io/learn/vertical-video-safe-zones/.
The app's interface differs by device, region, account and caption length: these are working
margins, not what every viewer sees.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzers.fusion_timeline import Facts, Span, share
from pipeline.analyzers.shots import rounded
from pipeline.schema import Segment
from pipeline.settings import SafeZonesSettings

BEAT_WINDOW_MIN_S = 0.040  # a cut within 40 ms of a beat is on it, or within one frame when frames are longer
ALPHA = 0.05  # on_the_beat: fewer than 1 in 20 videos cut at random would have as many cuts on the beat
MAX_LISTED = 50

Platform = Literal["tiktok", "instagram_reels", "youtube_shorts"]
PLATFORMS: tuple[Platform, ...] = ("tiktok", "instagram_reels", "youtube_shorts")
PLATFORM_NAMES = {"tiktok": "TikTok", "instagram_reels": "Instagram Reels", "youtube_shorts": "YouTube Shorts"}
Zone = Literal["top_bar", "right_rail", "bottom"]
Box = tuple[float, float, float, float]


class BeatSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(..., description="why it was not measured (no steady beat, no hard cuts, an input missing); None: measured")
    tempo_bpm: float | None = Field(None, description="audio_analysis's tempo (BPM)")
    beat_count: int | None = Field(None, description="beats tracked (count)")
    window_s: float | None = Field(None, description="a cut this close to a beat, either side, is on it: max(1 frame, 40 ms) (s)")
    cut_count: int | None = Field(None, description="hard cuts where the beat was tracked (count)")
    cuts_on_beat: int | None = Field(None, description="of them, within window_s of a beat (count)")
    on_beat_share: float | None = Field(None, description="cuts_on_beat / cut_count (0-1)")
    chance_share: float | None = Field(
        None, description="share expected by chance at this beat rate: min(1, 2 x window_s x beats per second) (0-1)"
    )
    p_value: float | None = Field(
        None, description="one-sided binomial probability of at least cuts_on_beat cuts on the beat by chance (0-1)"
    )
    on_the_beat: bool | None = Field(None, description="the editing follows the beat: p_value under 0.05")
    on_beat_times_s: list[float] | None = Field(None, description="the cuts on the beat, each at its first frame (s)")


class ZoneShares(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_bar: float = Field(..., description="share of the time under the top bar (0-1)")
    right_rail: float = Field(..., description="share of the time under the right-hand button rail (0-1)")
    bottom: float = Field(..., description="share of the time under the bottom caption and music area (0-1)")


class PlatformZones(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zones: dict[Zone, list[float]] = Field(..., description="each overlay as [x0, y0, x1, y1], fractions of the frame")
    text_under_share: float | None = Field(
        ..., description="share of on-screen text time with a text under any overlay (0-1; None: no text, or not read)"
    )
    text_under: ZoneShares | None = Field(..., description="the same per overlay")
    texts_under: list[str] | None = Field(..., description="distinct texts under an overlay, in order of appearance")
    face_under_share: float | None = Field(
        ..., description="share of face time with a face under any overlay (0-1; None: no face, or not detected)"
    )
    face_under: ZoneShares | None = Field(..., description="the same per overlay")


class SafeZones(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(..., description="why it does not apply ('not applicable: landscape'); None: measured")
    covered_share: float | None = Field(None, description="share of a box's area inside an overlay that puts it under it (0-1)")
    text_from: str | None = Field(None, description="the analyzer whose text tracks were read (None: none ran)")
    faces_from: str | None = Field(None, description="the analyzer whose face tracks were read (None: none ran)")
    text_s: float | None = Field(None, description="time any text is on screen (s; None: not read)")
    face_s: float | None = Field(None, description="time any face is on screen (s; None: not detected)")
    platforms: dict[Platform, PlatformZones] | None = Field(None, description="each platform's overlays and what is under them")


# --- editing on the beat ----------------------------------------------------------------------


def beat_sync(facts: Facts) -> BeatSync:
    from scipy.stats import binom

    audio, cuts = facts.get("audio_analysis"), facts.get("cut_analysis")
    if audio is None:
        return BeatSync(reason=f"audio_analysis {facts.why_not('audio_analysis')}")
    if cuts is None:
        return BeatSync(reason=f"cut_analysis {facts.why_not('cut_analysis')}")
    tempo = audio.summary.tempo_bpm
    beats = np.asarray(audio.summary.beat_times_s if tempo else [], float)
    if len(beats) < 2:
        return BeatSync(reason=f"no steady beat (beat strength {audio.summary.beat_strength:g}, audio_analysis)")
    period = 60.0 / tempo
    window = max(BEAT_WINDOW_MIN_S, 1.0 / facts.video.fps if facts.video.fps else 0.0)
    hard = [s.start_s for s in cuts.segments if s.label == "shot" and s.data.index > 0 and s.data.transition_in == "cut"]
    if not hard:
        return BeatSync(reason="no hard cuts", tempo_bpm=tempo, beat_count=len(beats), window_s=rounded(window))
    tracked = [t for t in hard if beats[0] - period / 2 <= t <= beats[-1] + period / 2]
    if not tracked:
        return BeatSync(reason="no hard cut where the beat was tracked", tempo_bpm=tempo, beat_count=len(beats))
    on_beat = [t for t in tracked if float(np.min(np.abs(beats - t))) <= window + 1e-6]
    chance = min(1.0, 2.0 * window / period)
    p_value = float(binom.sf(len(on_beat) - 1, len(tracked), chance)) if on_beat else 1.0
    return BeatSync(
        reason=None,
        tempo_bpm=tempo,
        beat_count=len(beats),
        window_s=rounded(window),
        cut_count=len(tracked),
        cuts_on_beat=len(on_beat),
        on_beat_share=rounded(len(on_beat) / len(tracked)),
        chance_share=rounded(chance),
        p_value=float(f"{p_value:.4g}"),  # four significant digits: a small probability keeps its size
        on_the_beat=p_value < ALPHA,
        on_beat_times_s=[rounded(t) for t in on_beat[:MAX_LISTED]],
    )


# --- platform safe zones ----------------------------------------------------------------------


def platform_zones(options: SafeZonesSettings, platform: Platform) -> dict[Zone, Box]:
    top, right, bottom = (getattr(options, f"{platform}_{edge}") for edge in ("top", "right", "bottom"))
    return {
        "top_bar": (0.0, 0.0, 1.0, top),
        "right_rail": (1.0 - right, top, 1.0, 1.0 - bottom),
        "bottom": (0.0, 1.0 - bottom, 1.0, 1.0),
    }


def inside(box: Box | list[float], zone: Box) -> float:
    """Share of the box's area inside the zone (a box with no area: whether its centre is)."""
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    if area <= 0:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return float(zone[0] <= cx <= zone[2] and zone[1] <= cy <= zone[3])
    w = min(x1, zone[2]) - max(x0, zone[0])
    h = min(y1, zone[3]) - max(y0, zone[1])
    return max(0.0, w) * max(0.0, h) / area


def _union_s(spans: list[Span], whole: Span) -> float:
    return share(whole, spans) * (whole[1] - whole[0]) if whole[1] > whole[0] else 0.0


def _under(tracks: list[Segment], zones: dict[Zone, Box], covered: float, whole: Span) -> tuple[float | None, ZoneShares | None, list[Segment]]:
    """Share of the tracks' time under any zone and under each, and the tracks under one."""
    total = _union_s([(s.start_s, s.end_s) for s in tracks], whole)
    if total <= 0:
        return None, None, []
    per_zone = {z: [s for s in tracks if inside(s.data.box, box) >= covered] for z, box in zones.items()}
    anywhere = [s for s in tracks if sum(inside(s.data.box, box) for box in zones.values()) >= covered]
    shares = {z: rounded(_union_s([(s.start_s, s.end_s) for s in under], whole) / total) for z, under in per_zone.items()}
    return rounded(_union_s([(s.start_s, s.end_s) for s in anywhere], whole) / total), ZoneShares(**shares), anywhere


def safe_zones(facts: Facts, options: SafeZonesSettings) -> SafeZones:
    video = facts.video
    if not video.has_video or not video.width or not video.height:
        return SafeZones(reason="not applicable: no video stream")
    if video.width >= video.height:
        return SafeZones(reason=f"not applicable: {'landscape' if video.width > video.height else 'square'}")
    texts = facts.segments("text_overlay", "text")
    faces = facts.faces()
    faces_from = None if faces is None else ("eye_tracking" if "eye_tracking" in facts.ok else "age_estimation")
    whole = facts.whole
    platforms = {}
    for platform in PLATFORMS:
        zones = platform_zones(options, platform)
        text_share, text_zones, text_tracks = _under(texts or [], zones, options.covered_share, whole)
        face_share, face_zones, _ = _under(faces or [], zones, options.covered_share, whole)
        platforms[platform] = PlatformZones(
            zones={z: [rounded(v) for v in box] for z, box in zones.items()},
            text_under_share=text_share,
            text_under=text_zones,
            texts_under=None if texts is None else list(dict.fromkeys(s.data.text for s in text_tracks))[:MAX_LISTED],
            face_under_share=face_share,
            face_under=face_zones,
        )
    return SafeZones(
        reason=None,
        covered_share=options.covered_share,
        text_from="text_overlay" if texts is not None else None,
        faces_from=faces_from,
        text_s=None if texts is None else rounded(_union_s([(s.start_s, s.end_s) for s in texts], whole)),
        face_s=None if faces is None else rounded(_union_s([(s.start_s, s.end_s) for s in faces], whole)),
        platforms=platforms,
    )
