"""temporal_flow: the pacing curve and the hook, from the real cut, camera and audio analyzers."""

from __future__ import annotations

import re

import pytest
from conftest import link_models
from helpers import analyse

from actors.whisper import MODELS
from pipeline.analyzers.temporal_flow import TemporalFlowSegment, TemporalFlowSummary
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, Caption, ClipSpec, Shot, render_frames, write_clip, write_frames
from pipeline.schema import Status, VideoResult
from pipeline.settings import Settings

FRAME = 1 / 30 + 1e-3
# A busy opening (cuts at 1 s and 2 s, a pan, sound) then a still, silent shot.
BUSY_HOOK = ClipSpec(
    shots=(
        Shot(1.0, (220, 40, 40), seed=1),
        Shot(1.0, (40, 60, 220), "pan", speed=120, seed=2),
        Shot(4.0, (40, 200, 40), seed=3),
    ),
    audio=AudioSpec(level=0.3, silence=((3.0, 6.0),)),
)
# Nothing happens in the first seconds: one cut at 4 s, no sound track.
SLOW_START = ClipSpec(shots=(Shot(4.0, (200, 80, 40), seed=4), Shot(1.0, (60, 140, 220), seed=5)), audio=None)
SHORT = ClipSpec(shots=(Shot(1.5, (200, 80, 40), seed=6),))


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow")
    requests = [
        VideoRequest("busy", write_clip(str(folder / "busy.mp4"), BUSY_HOOK)),
        VideoRequest("slow", write_clip(str(folder / "slow.mp4"), SLOW_START)),
        VideoRequest("short", write_clip(str(folder / "short.mp4"), SHORT)),
    ]
    documents = list(run_local(requests, Plan.build(["temporal_flow"])))
    for document in documents:
        flow = document.analyzers["temporal_flow"]
        again = VideoResult.model_validate_json(document.to_json()).analyzers["temporal_flow"]
        assert isinstance(again.summary, TemporalFlowSummary) and again.summary == flow.summary
        assert all(isinstance(s.data, TemporalFlowSegment) for s in again.segments) and again.segments == flow.segments
    return tuple(document.analyzers["temporal_flow"] for document in documents)


def test_hook_holds_the_opening_cuts(flows):
    busy, *_ = flows
    assert busy.status == Status.ok
    (hook,) = busy.segments
    assert (hook.label, hook.start_s, hook.end_s) == ("hook", 0.0, 3.0)
    assert hook.data.cuts == 2
    assert hook.data.cut_times_s == pytest.approx(BUSY_HOOK.cut_times(), abs=FRAME)
    assert hook.data.time_to_first_cut_s == pytest.approx(1.0, abs=FRAME)
    # Louder, busier and more moving than the silent still shot after it.
    assert hook.data.audio_vs_rest_db > 20
    assert hook.data.motion > hook.data.motion_rest
    assert hook.data.pace > hook.data.pace_rest


def test_pacing_curve_per_second(flows):
    busy, *_ = flows
    summary = busy.summary
    assert summary.inputs.model_dump() == {"cuts": "cut_analysis", "motion": "camera_analysis", "audio": "audio_analysis"}
    curves = summary.curves
    assert summary.seconds == 6 and all(len(curve) == 6 for curve in curves.model_dump().values())
    assert curves.cuts == [0, 1, 1, 0, 0, 0]
    assert curves.motion[1] == pytest.approx(120 / 320, rel=0.1)  # the pan's second, in frame widths a second
    assert all(db > -40 for db in curves.audio_dbfs[:3]) and all(db < -80 for db in curves.audio_dbfs[3:])
    assert all(0 <= p <= 1 for p in curves.pace)
    assert summary.peak_pace_second == 1
    assert curves.pace[1] > curves.pace[5]


def test_slow_start_without_sound(flows):
    _, slow, _ = flows
    (hook,) = slow.segments
    assert hook.data.cuts == 0 and hook.data.cut_times_s == []
    assert hook.data.time_to_first_cut_s == pytest.approx(4.0, abs=FRAME)
    assert hook.data.audio_dbfs is None and hook.data.audio_vs_rest_db is None
    assert slow.summary.curves.audio_dbfs is None
    assert slow.summary.inputs.audio.startswith("absent: audio_analysis skipped")
    cut = hook.data.firsts.cut
    assert cut.time_s == pytest.approx(4.0, abs=FRAME)
    assert (cut.in_first_1s, cut.in_first_3s, cut.source, cut.reason) == (False, False, "cut_analysis", None)


def test_first_cut_and_what_did_not_run(flows):
    busy, *_ = flows
    (hook,) = busy.segments
    assert hook.data.cuts_first_1s == 0 and hook.data.shorter_than_hook is None
    cut = hook.data.firsts.cut
    assert cut.time_s == pytest.approx(1.0, abs=FRAME) and cut.in_first_3s is True
    for event, name in (("text", "text_overlay"), ("word", "speech_transcription")):
        unmeasured = getattr(hook.data.firsts, event)
        assert (unmeasured.time_s, unmeasured.in_first_1s, unmeasured.source) == (None, None, None)
        assert unmeasured.reason == f"{name} did not run"
    assert hook.data.firsts.face.reason == "no face tracks (eye_tracking did not run; age_estimation did not run)"
    assert busy.summary.stitch.likely is None and busy.summary.stitch.reason.startswith("no face tracks")


def test_a_video_shorter_than_the_hook_says_so(flows):
    *_, short = flows
    (hook,) = short.segments
    assert (hook.start_s, hook.end_s) == (0.0, pytest.approx(1.5, abs=0.03))
    # 1.5 s of frames; the AAC track's padding makes the video a few ms longer.
    assert re.fullmatch(r"the video \(1\.5\d s\) is shorter than the 3 s hook", hook.data.shorter_than_hook)
    assert hook.data.motion_rest is None and hook.data.audio_vs_rest_db is None
    assert hook.data.firsts.cut.time_s is None and hook.data.firsts.cut.in_first_3s is False  # one shot: no cut
    assert short.summary.loop.seamless is None and "shorter than 2 s" in short.summary.loop.skipped


# A caption from 0.5 s, a cut at 2.0 s, and from the cut on a white 32 px cell where the YuNet
# stand-in (tests/model_factory.py) sees a face: the shape of a stitch.
TEXT_CUT_FACE = ClipSpec(
    shots=(Shot(2.0, (70, 120, 90), seed=7), Shot(4.0, (90, 70, 120), seed=8)),
    width=360,
    height=640,
    audio=None,
    captions=(Caption(0.5, 4.0, "WAIT FOR IT"),),
)
FACE_FROM_S = 2.0


def with_face(spec: ClipSpec):
    for t, frame in render_frames(spec):
        if t >= FACE_FROM_S - 1e-9:
            frame[96:128, 224:256] = 255
        yield t, frame


def test_first_text_face_and_a_stitch(tmp_path, vision_settings):
    path = write_frames(str(tmp_path / "text_cut_face.mp4"), with_face(TEXT_CUT_FACE), TEXT_CUT_FACE.fps)
    plan = Plan.build(["temporal_flow", "text_overlay", "eye_tracking"], settings=vision_settings)
    (document,) = run_local([VideoRequest("tcf", path)], plan)
    assert document.analyzers["eye_tracking"].status == Status.ok
    flow = document.analyzers["temporal_flow"]
    firsts = flow.segments[0].data.firsts
    assert (firsts.text.time_s, firsts.text.in_first_1s, firsts.text.source) == (0.5, True, "text_overlay")
    assert firsts.cut.time_s == pytest.approx(2.0, abs=FRAME) and firsts.cut.in_first_1s is False
    assert firsts.face.time_s == pytest.approx(FACE_FROM_S, abs=0.1 + 1e-3)  # the first 10 fps sample showing it
    assert (firsts.face.in_first_1s, firsts.face.in_first_3s, firsts.face.source) == (False, True, "eye_tracking")
    assert firsts.word.reason == "speech_transcription did not run"
    stitch = flow.summary.stitch
    assert (stitch.likely, stitch.opens_with_cut, stitch.faces_from) == (True, True, "eye_tracking")
    assert stitch.opening_s == pytest.approx(2.0, abs=FRAME) and stitch.face_share_after > 0.9


def test_first_word_on_real_speech(shared_models, media, tmp_path):
    """tiny.en on real speech (audio files: the hook paces the sound alone, the loop is skipped):
    pyannote's sample has no speech before 6.69 s, JFK speaks from under 1 s."""
    tiny = MODELS["tiny.en"].weights
    models = link_models(tmp_path / "models", {tiny.name: shared_models / "faster-whisper-tiny.en"})
    settings = Settings(models_dir=models, speech_transcription={"model": "tiny.en"})
    requests = [
        VideoRequest("pyannote", str(media / "pyannote" / "sample.wav")),
        VideoRequest("jfk", str(media / "faster-whisper" / "jfk.flac")),
    ]
    late, early = (
        document.analyzers["temporal_flow"]
        for document in run_local(requests, Plan.build(["temporal_flow", "speech_transcription"], settings=settings))
    )
    word = late.segments[0].data.firsts.word
    # Truth 6.69 s; Whisper's attention times run a few tenths off at the edge of a stretch.
    assert word.source == "speech_transcription" and word.time_s > 6.0
    assert (word.in_first_1s, word.in_first_3s) == (False, False)
    word = early.segments[0].data.firsts.word
    assert word.time_s < 1.2 and word.in_first_3s is True
    for flow in (late, early):
        assert flow.status == Status.ok and flow.summary.inputs.audio == "audio_analysis"
        assert flow.summary.loop.skipped == "no video frames decoded"
        assert flow.segments[0].data.firsts.cut.reason.startswith("cut_analysis skipped")


def test_testvideo(media):
    """Real footage, no sound: the first shot boundary is the fade at about 6.7 s (frame 198-201)."""
    flow = analyse(media / "pyscenedetect" / "testvideo.mp4", "temporal_flow")
    assert flow.status == Status.ok
    (hook,) = flow.segments
    assert hook.data.cuts == 0
    assert 6.3 < hook.data.time_to_first_cut_s < 7.0
    assert flow.summary.seconds == 24  # 24.02 s: the last 24 ms count in second 23
    assert flow.summary.curves.audio_dbfs is None
    assert all(p is None or 0 <= p <= 1 for p in flow.summary.curves.pace)
