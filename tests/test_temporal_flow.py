"""temporal_flow: the pacing curve and the hook, from the real cut, camera and audio analyzers."""

from __future__ import annotations

import pytest
from helpers import analyse

from pipeline.analyzers.temporal_flow import TemporalFlowSegment, TemporalFlowSummary
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult

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


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow")
    requests = [
        VideoRequest("busy", write_clip(str(folder / "busy.mp4"), BUSY_HOOK)),
        VideoRequest("slow", write_clip(str(folder / "slow.mp4"), SLOW_START)),
    ]
    documents = list(run_local(requests, Plan.build(["temporal_flow"])))
    for document in documents:
        flow = document.analyzers["temporal_flow"]
        again = VideoResult.model_validate_json(document.to_json()).analyzers["temporal_flow"]
        assert isinstance(again.summary, TemporalFlowSummary) and again.summary == flow.summary
        assert all(isinstance(s.data, TemporalFlowSegment) for s in again.segments) and again.segments == flow.segments
    busy, slow = documents
    return busy.analyzers["temporal_flow"], slow.analyzers["temporal_flow"]


def test_hook_holds_the_opening_cuts(flows):
    busy, _ = flows
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
    busy, _ = flows
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
    _, slow = flows
    (hook,) = slow.segments
    assert hook.data.cuts == 0 and hook.data.cut_times_s == []
    assert hook.data.time_to_first_cut_s == pytest.approx(4.0, abs=FRAME)
    assert hook.data.audio_dbfs is None and hook.data.audio_vs_rest_db is None
    assert slow.summary.curves.audio_dbfs is None
    assert slow.summary.inputs.audio.startswith("absent: audio_analysis skipped")


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
