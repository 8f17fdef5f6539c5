"""Short-form insights in cross_analyzer_intelligence's summary: editing on the beat against clips
cut on a click track's beats and the same clips cut half a beat later; the platforms' safe zones
against captions rendered inside and outside each app's overlays and read by rapidocr; and,
on results built by hand, faces, the settings' zones and every reason for not measuring."""

from __future__ import annotations

import pytest
from scipy.stats import binom
from test_fusion import fuse, ok, seg, shot, video

from pipeline.analyzer import Context
from pipeline.analyzers.fusion import CrossAnalyzerIntelligence
from pipeline.analyzers.fusion_timeline import NAME
from pipeline.analyzers.short_form import PLATFORMS, inside, platform_zones
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import PlacedText, beat_cut_clip, placed_box, write_clip, write_placed_text_clip
from pipeline.schema import AnalyzerResult, Status, VideoInfo
from pipeline.settings import SafeZonesSettings, Settings, SettingsError

# --- editing on the beat ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def beat_results(tmp_path_factory):
    """The same edit twice over a 120 BPM click track: cuts on beats, and half a beat late."""
    folder = tmp_path_factory.mktemp("beats")
    specs = {"on": beat_cut_clip(shift_beats=0.0), "off": beat_cut_clip(shift_beats=0.5)}
    requests = [VideoRequest(name, write_clip(str(folder / f"{name}.mp4"), spec)) for name, spec in specs.items()]
    results = list(run_local(requests, Plan.build([NAME, "cut_analysis", "audio_analysis"])))
    assert all(r.status == Status.ok for r in results)
    return {r.id: (specs[r.id], r) for r in results}


def test_cuts_on_the_beats_are_found_and_half_a_beat_off_are_not(beat_results):
    for name, (spec, result) in beat_results.items():
        sync = result.analyzers[NAME].summary.beat_sync
        assert sync.reason is None and sync.tempo_bpm == pytest.approx(120, abs=3)
        assert sync.window_s == pytest.approx(1 / 24, abs=1e-4)  # a frame at 24 fps is longer than 40 ms
        assert sync.cut_count == len(spec.cut_times()) == 6
        assert sync.chance_share == pytest.approx(2 * sync.window_s * sync.tempo_bpm / 60, abs=1e-3)
        if name == "on":
            assert sync.cuts_on_beat == 6 and sync.on_beat_share == 1.0 and sync.on_the_beat
            assert sync.on_beat_times_s == pytest.approx(spec.cut_times(), abs=0.01)
            assert sync.p_value == pytest.approx(sync.chance_share**6, rel=0.01)
        else:
            assert sync.cuts_on_beat == 0 and sync.on_beat_times_s == [] and not sync.on_the_beat
            assert sync.p_value == 1.0
    texts = [s.text for s in beat_results["on"][1].analyzers[NAME].summary.sentences]
    [said] = [t for t in texts if t.startswith("Cuts and beat: ")]
    assert said.startswith("Cuts and beat: 6 of 6 hard cuts within ±42 ms of a beat") and said.endswith(": cut on the beat.")


def beats_at(*times: float, tempo: float = 120.0) -> AnalyzerResult:
    return ok("audio_analysis", tempo_bpm=tempo, beat_strength=0.9, beat_times_s=list(times), **QUIET)


QUIET = {"music_share": 1.0, "speech_share": 0.0, "silence_share": 0.0, "loudness": {"integrated_lufs_estimate": None, "curve": []}}


def cuts_at(*times: float, kinds: tuple[str, ...] = ()) -> AnalyzerResult:
    bounds = [0.0, *times, 10.0]
    kinds = kinds or ("cut",) * len(times)
    shots = [
        shot(i, a, b, kinds[i - 1] if i else None, kinds[i] if i < len(times) else None)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]
    return ok("cut_analysis", *shots, opens_with_fade=False, closes_with_fade=False, cuts_per_minute=6.0, average_shot_length_s=2.0)


def test_the_chance_share_and_the_binomial_probability():
    beats = [0.5 * k for k in range(1, 20)]
    # 30 fps: the window is 40 ms, at 2 beats a second the chance share is 0.16. Cuts 10 ms and
    # 30 ms from a beat count, 45 ms and 250 ms do not; a cut before the tracked beats is left out.
    results = {"audio_analysis": beats_at(*beats), "cut_analysis": cuts_at(0.1, 2.01, 3.03, 4.545, 6.25)}
    sync = fuse(video(duration_s=10.0), results).summary.beat_sync
    assert (sync.window_s, sync.chance_share) == (0.04, 0.16)
    assert (sync.cut_count, sync.cuts_on_beat, sync.on_beat_times_s) == (4, 2, [2.01, 3.03])
    assert sync.p_value == pytest.approx(binom.sf(1, 4, 0.16), rel=1e-3) and not sync.on_the_beat


def test_no_beat_no_cuts_or_no_input_give_a_reason():
    beats = beats_at(0.5, 1.0, 1.5)
    cases = {
        "no steady beat (beat strength 0.2, audio_analysis)": {
            "audio_analysis": ok("audio_analysis", tempo_bpm=None, beat_strength=0.2, beat_times_s=[], **QUIET),
            "cut_analysis": cuts_at(1.0),
        },
        "no hard cuts": {"audio_analysis": beats, "cut_analysis": cuts_at(1.0, kinds=("dissolve",))},
        "audio_analysis not run": {"cut_analysis": cuts_at(1.0)},
        "cut_analysis skipped: no video stream": {
            "audio_analysis": beats,
            "cut_analysis": AnalyzerResult.skipped("no video stream"),
        },
    }
    for reason, results in cases.items():
        summary = fuse(video(duration_s=10.0), results).summary
        assert summary.beat_sync.reason == reason and summary.beat_sync.cuts_on_beat is None
        assert not any(s.text.startswith("Cuts and beat") for s in summary.sentences)


# --- platform safe zones -------------------------------------------------------------------------

PORTRAIT = (540, 960)
# Each text on its own 1.5 s: the title under every top bar, a middle line under nothing, a low
# caption under Reels' and Shorts' bottom areas (above TikTok's), a word by the right edge under
# TikTok's and Shorts' button rails (Reels' is narrower).
PLACED = (
    PlacedText(0.0, 1.5, "TOP TITLE", (0.5, 0.06)),
    PlacedText(1.5, 3.0, "MIDDLE LINE", (0.5, 0.45)),
    PlacedText(3.0, 4.5, "LOW CAPTION", (0.5, 0.72)),
    PlacedText(4.5, 6.0, "LIKE", (0.88, 0.5)),
)
UNDER = {
    "tiktok": {"top_bar": ["TOP TITLE"], "right_rail": ["LIKE"], "bottom": []},
    "instagram_reels": {"top_bar": ["TOP TITLE"], "right_rail": [], "bottom": ["LOW CAPTION"]},
    "youtube_shorts": {"top_bar": ["TOP TITLE"], "right_rail": ["LIKE"], "bottom": ["LOW CAPTION"]},
}


def test_the_truth_of_the_placed_captions():
    """UNDER follows from where the texts were drawn and the default zones, not from OCR."""
    defaults = SafeZonesSettings()
    for platform in PLATFORMS:
        zones = platform_zones(defaults, platform)
        for zone, box in zones.items():
            drawn = [p.text for p in PLACED if inside(placed_box(p, p.start_s, *PORTRAIT), box) >= defaults.covered_share]
            assert drawn == UNDER[platform][zone], (platform, zone)


@pytest.fixture(scope="module")
def zone_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zones")
    requests = [
        VideoRequest("portrait", write_placed_text_clip(str(folder / "portrait.mp4"), PLACED, 6.0, *PORTRAIT)),
        VideoRequest("landscape", write_placed_text_clip(str(folder / "landscape.mp4"), PLACED, 6.0, 960, 540)),
    ]
    settings = Settings(models_dir=folder / "no_models", text_overlay={"reader": "rapidocr"})
    results = {r.id: r for r in run_local(requests, Plan.build([NAME, "text_overlay"], settings=settings))}
    assert all(r.status == Status.ok and r.analyzers["text_overlay"].status == Status.ok for r in results.values())
    return results


def test_text_time_under_each_platforms_overlays(zone_results):
    zones = zone_results["portrait"].analyzers[NAME].summary.safe_zones
    assert zones.reason is None and zones.text_from == "text_overlay" and zones.text_s == 6.0
    assert zones.faces_from is None and zones.face_s is None
    for platform, expected in UNDER.items():
        found = zones.platforms[platform]
        under = [t for texts in expected.values() for t in texts]
        assert found.text_under_share == pytest.approx(1.5 * len(set(under)) / 6.0, abs=0.01), platform
        for zone, texts in expected.items():
            assert getattr(found.text_under, zone) == pytest.approx(1.5 * len(texts) / 6.0, abs=0.01), (platform, zone)
        assert sorted(found.texts_under) == sorted(set(under))
        assert found.face_under_share is None
    texts = [s.text for s in zone_results["portrait"].analyzers[NAME].summary.sentences]
    assert (
        "Under the apps' buttons and captions: of on-screen text time TikTok 50%, Instagram Reels 50%, YouTube Shorts 75%."
        in texts
    )


def test_landscape_video_is_not_applicable(zone_results):
    summary = zone_results["landscape"].analyzers[NAME].summary
    assert summary.safe_zones.reason == "not applicable: landscape" and summary.safe_zones.platforms is None
    assert not any(s.text.startswith("Under the apps'") for s in summary.sentences)


def portrait(duration_s: float = 4.0, width: int = 1080, height: int = 1920) -> VideoInfo:
    return video(duration_s).model_copy(update={"width": width, "height": height})


def face(start: float, end: float, box: list[float], track: int) -> object:
    return seg(start, end, "face", track=track, box=box)


def test_face_time_under_the_overlays_and_zones_from_the_settings():
    # A face in the middle for 3 s, one low in the frame for 1 s (overlapping it by 0.5 s).
    faces = ok(
        "eye_tracking",
        face(0.0, 3.0, [0.35, 0.3, 0.65, 0.5], 0),
        face(2.5, 3.5, [0.3, 0.75, 0.5, 0.85], 1),
        face_tracks=2,
        face_share=0.5,
        facing_share=0.5,
    )
    zones = fuse(portrait(), {"eye_tracking": faces}).summary.safe_zones
    assert zones.faces_from == "eye_tracking" and zones.face_s == 3.5 and zones.text_from is None
    tiktok, reels = zones.platforms["tiktok"], zones.platforms["instagram_reels"]
    # TikTok's bottom area starts at 78 %: the low face (75-85 %) is half in it, so under it.
    assert tiktok.face_under_share == reels.face_under_share == pytest.approx(1.0 / 3.5, abs=1e-4)
    assert reels.face_under.bottom == pytest.approx(1.0 / 3.5, abs=1e-4) and reels.face_under.top_bar == 0.0
    assert tiktok.text_under_share is None and tiktok.texts_under is None

    stricter = Settings(safe_zones={"tiktok_bottom": 0.1, "covered_share": 0.9})
    findings = CrossAnalyzerIntelligence(stricter).finalize(None, Context(video=portrait(), results={"eye_tracking": faces}))
    moved = findings.summary.safe_zones.platforms["tiktok"]
    assert moved.zones["bottom"] == [0.0, 0.9, 1.0, 1.0] and moved.face_under_share == 0.0
    texts = [s.text for s in findings.summary.sentences]
    assert "Under the apps' buttons and captions: of face time TikTok 0%, Instagram Reels 29%, YouTube Shorts 29%." in texts


def test_square_and_audio_only_files_say_why():
    square = fuse(portrait(width=1080, height=1080), {}).summary.safe_zones
    assert square.reason == "not applicable: square"
    sound = VideoInfo(path="a.m4a", duration_s=2.0, size_bytes=1, container="mp4", has_video=False, has_audio=True)
    assert fuse(sound, {}).summary.safe_zones.reason == "not applicable: no video stream"


# --- the other #14 insights in words ------------------------------------------------------------


def event(time_s, source, reason=None):
    if reason is not None:
        return {"time_s": None, "in_first_1s": None, "in_first_3s": None, "source": None, "reason": reason}
    return {"time_s": time_s, "in_first_1s": time_s is not None and time_s < 1, "in_first_3s": time_s is not None and time_s < 3, "source": source}


def flow(loop: dict | None, stitch: dict | None) -> AnalyzerResult:
    firsts = {
        "cut": event(1.5, "cut_analysis"),
        "text": event(0.0, "text_overlay"),
        "word": event(None, None, reason="speech_transcription did not run"),
        "face": event(None, "eye_tracking"),  # measured: no face in the video
    }
    hook = seg(0.0, 3.0, "hook", firsts=firsts, cuts_first_1s=0, audio_vs_rest_db=3.2, motion=0.2, motion_rest=0.1)
    return ok("temporal_flow", hook, mean_pace=None, curves={"pace": []}, loop=loop, stitch=stitch)


LOOP = {"wrap_difference": 0.002, "end_start_similarity": 0.998, "median_step": 0.01, "picture_continuous": True}
SOUND = {"first_dbfs": -22.5, "last_dbfs": -23.9, "spectrum_similarity": 0.9, "continuous": True}
STITCH = {"likely": True, "opening_s": 2.1, "opens_with_cut": True, "first_face_after_cut_s": 0.2, "face_share_after": 0.8, "faces_from": "eye_tracking"}


def test_the_hook_loop_and_formats_are_said_from_their_analyzers():
    results = {
        "temporal_flow": flow({**LOOP, "seamless": True, "sound": SOUND}, STITCH),
        "camera_analysis": ok(
            "camera_analysis",
            motion_curve=[],
            split_screen={"layout": "side_by_side", "seam_share": {"side_by_side": 0.95, "top_bottom": 0.0},
                          "independent_share": {"side_by_side": 0.4, "top_bottom": 0.0}, "frames_measured": 60},
        ),
        "background_segmentation": ok("background_segmentation", green_screen={"likely": True, "share": 0.7, "shots": [0]}),
    }
    said = {s.text: s.sources for s in fuse(portrait(), results).summary.sentences}
    assert said["Hook timing: first cut at 1.5 s, on-screen text at 0 s; no face; 3.2 dB louder than the rest; "
                "motion 0.20 against 0.10 frame widths/s after it."] == ["temporal_flow", "cut_analysis", "text_overlay", "eye_tracking"]
    assert said["It loops seamlessly: the last frame is 99.8% like the first, and the sound continues."] == ["temporal_flow"]
    assert said["It has a stitch's shape: a 2.1 s opening shot, then a hard cut to a face on screen 80% of the rest."] == [
        "temporal_flow", "cut_analysis", "eye_tracking"
    ]
    assert said["Split screen: side by side (a duet's layout), a seam in 95% of the frames measured."] == ["camera_analysis"]
    assert said["Green-screen style: a person over a still background in 70% of the shot time."] == ["background_segmentation"]

    # Not seamless, not a stitch, no split, skipped loop: what was not found or measured is not claimed.
    jump = {**LOOP, "seamless": False, "picture_continuous": False, "end_start_similarity": 0.6, "sound": {**SOUND, "continuous": False}}
    texts = [s.text for s in fuse(portrait(), {"temporal_flow": flow(jump, {**STITCH, "likely": False})}).summary.sentences]
    assert ("It does not loop seamlessly: the last frame is 60.0% like the first, more than an ordinary step; "
            "the sound jumps across the wrap.") in texts
    assert not any(t.startswith(("It has a stitch", "Split screen", "Green-screen")) for t in texts)
    skipped = {key: None for key in ("seamless", *LOOP)} | {"sound": None, "skipped": "the video (1.50 s) is shorter than 2 s"}
    texts = [s.text for s in fuse(portrait(), {"temporal_flow": flow(skipped, None)}).summary.sentences]
    assert not any("loop" in t for t in texts)


def test_the_zones_are_set_by_environment_or_file_and_a_bad_one_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("REELSCOPE_SAFE_ZONES__TIKTOK_BOTTOM", "0.3")
    (tmp_path / "zones.toml").write_text("[safe_zones]\ninstagram_reels_right = 0.12\n")
    settings = Settings.load(tmp_path / "zones.toml")
    assert (settings.safe_zones.tiktok_bottom, settings.safe_zones.instagram_reels_right) == (0.3, 0.12)
    assert platform_zones(settings.safe_zones, "tiktok")["bottom"] == (0.0, 0.7, 1.0, 1.0)
    with pytest.raises(SettingsError) as refused:
        Settings.load(safe_zones={"youtube_shorts_top": 1.5})
    assert "setting safe_zones.youtube_shorts_top (REELSCOPE_SAFE_ZONES__YOUTUBE_SHORTS_TOP)" in str(refused.value)
