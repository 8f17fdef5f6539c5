"""temporal_flow's loop: whether the last second leads back into the first, on clips whose end is
(or is not) their start by construction, and on real footage that fades in and out."""

from __future__ import annotations

import pytest
from helpers import analyse

from pipeline.analyzers import loops
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult

OPENING = Shot(2.0, (200, 80, 40), "static", seed=1)
MIDDLE = Shot(2.0, (60, 140, 220), "pan", speed=90, seed=2)
# 240 clicks a minute: every 0.25 s window of the track holds one click at the same phase, so the
# last window sounds like the first.
CLICKS = AudioSpec(bpm=240)
CLIPS = {
    # The last shot is the first one again: the last frame is the first frame.
    "loop": ClipSpec((OPENING, MIDDLE, OPENING), audio=CLICKS),
    "loop_silent_end": ClipSpec((OPENING, MIDDLE, OPENING), audio=AudioSpec(bpm=240, silence=((5.0, 6.0),))),
    "loop_no_audio": ClipSpec((OPENING, MIDDLE, OPENING), audio=None),
    "ends_elsewhere": ClipSpec((OPENING, MIDDLE, Shot(2.0, (90, 200, 90), "static", seed=3)), audio=CLICKS),
    "short": ClipSpec((Shot(1.5, seed=4),), audio=CLICKS),
}


@pytest.fixture(scope="module")
def found(tmp_path_factory) -> dict[str, loops.Loop]:
    folder = tmp_path_factory.mktemp("loops")
    requests = [VideoRequest(name, write_clip(str(folder / f"{name}.mp4"), spec)) for name, spec in CLIPS.items()]
    out = {}
    for document in run_local(requests, Plan.build(["temporal_flow"])):
        flow = document.analyzers["temporal_flow"]
        assert flow.status == Status.ok, flow.error or flow.reason
        again = VideoResult.model_validate_json(document.to_json()).analyzers["temporal_flow"]
        assert isinstance(again.summary.loop, loops.Loop) and again.summary.loop == flow.summary.loop
        out[document.id] = flow.summary.loop
    return out


def test_a_clip_ending_on_its_first_frame_loops(found):
    loop = found["loop"]
    assert loop.skipped is None and loop.seamless is True and loop.picture_continuous is True
    assert loop.wrap_difference < loops.NOISE and loop.end_start_similarity > 0.98
    assert loop.sound.continuous is True and loop.sound.spectrum_similarity > 0.9
    assert abs(loop.sound.first_dbfs - loop.sound.last_dbfs) < 3.0  # AAC edges: within the 6 dB allowed
    assert loop.basis == loops.BASIS


def test_a_clip_ending_elsewhere_does_not(found):
    loop = found["ends_elsewhere"]
    assert loop.seamless is False and loop.picture_continuous is False
    assert loop.wrap_difference > 5 * max(loop.median_step, loops.NOISE)
    assert loop.sound.continuous is True  # the same click track: the picture alone breaks the loop


def test_sound_that_stops_breaks_the_loop(found):
    loop = found["loop_silent_end"]
    assert loop.picture_continuous is True and loop.seamless is False
    assert loop.sound.continuous is False and loop.sound.last_dbfs is None  # digital silence
    assert loop.sound.spectrum_similarity is None


def test_without_sound_the_picture_decides(found):
    loop = found["loop_no_audio"]
    assert loop.sound is None and loop.seamless is True


def test_too_short_is_skipped_with_the_reason(found):
    loop = found["short"]
    assert loop.seamless is None and loop.wrap_difference is None
    assert loop.skipped.startswith("the video (1.5") and "shorter than 2 s" in loop.skipped


def test_testvideo_fades_in_and_out(media):
    """Real footage that opens with a fade from black and closes with one to black: black to
    black is a still wrap, but a fade ends a video on purpose."""
    flow = analyse(media / "pyscenedetect" / "testvideo.mp4", "temporal_flow")
    loop = flow.summary.loop
    assert loop.skipped is None and loop.sound is None  # no audio track
    assert loop.seamless is False and loop.picture_continuous is False


def test_counter_ends_on_another_background(media):
    """counter.mp4 (3 s): grey at the start, green at the end."""
    loop = analyse(media / "pyscenedetect" / "counter.mp4", "temporal_flow").summary.loop
    assert loop.seamless is False and loop.wrap_difference > 2 * loops.NOISE
