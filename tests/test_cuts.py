"""cut_analysis against truth: PySceneDetect's published clips and synthetic clips with known edits."""

from __future__ import annotations

import base64
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from helpers import run_video, shots

from pipeline.analyzer import Context, Partials
from pipeline.analyzers.cuts import FRAMES, THUMB_SIZE, CutAnalysis, CutAnalysisSegment, CutAnalysisSummary
from pipeline.engine.decode import Decoder
from pipeline.sample import SAMPLE, ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult

TESTVIDEO_FPS = 30000 / 1001


def analyse_cuts(path):
    """The video's result and its cut_analysis result, which must succeed."""
    result = run_video(path, "cut_analysis")
    cuts = result.analyzers["cut_analysis"]
    assert cuts.status == Status.ok, cuts.error
    return result, cuts


def transitions(cuts):
    return [s for s in cuts.segments if s.label != "shot"]


def boundaries(cuts):
    """Start of every shot but the first."""
    return [s.start_s for s in shots(cuts)[1:]]


def assert_shots_tile(cuts, end_s):
    tiles = shots(cuts)
    assert tiles[0].start_s == 0.0 and tiles[-1].end_s == pytest.approx(end_s, abs=1e-3)
    assert all(a.end_s == b.start_s for a, b in zip(tiles, tiles[1:]))
    assert [s.data.index for s in tiles] == list(range(len(tiles)))


@pytest.fixture(scope="module")
def testvideo(media):
    return analyse_cuts(media / "pyscenedetect" / "testvideo.mp4")


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """Hard cuts at 1.2, 2.2 and 3.2 s between shots that move: a pan, a shaky shot, a zoom."""
    spec = ClipSpec(
        shots=(
            Shot(1.2, (210, 90, 50), "static", text="WAIT FOR IT", seed=1),
            Shot(1.0, (60, 140, 220), "pan", speed=90, seed=2),
            Shot(1.0, (230, 220, 80), "shake", seed=4),
            Shot(1.0, (90, 200, 90), "zoom", speed=20, seed=3),
        ),
        width=256,
        height=144,
        audio=None,
    )
    return spec, write_clip(str(tmp_path_factory.mktemp("cuts") / "cuts.mp4"), spec)


def test_testvideo_reports_each_gradual_transition_once(testvideo):
    result, cuts = testvideo
    # Every abrupt change in this file is to or from black (frames 30, 180, 394): parts of fades.
    assert cuts.summary.hard_cut_count == 0
    for first, last in [(15, 35), (185, 217), (364, 400)]:  # the fades of the README's truth
        window = (first / TESTVIDEO_FPS, last / TESTVIDEO_FPS)
        inside = [t for t in transitions(cuts) if t.start_s <= window[1] and t.end_s >= window[0]]
        assert [t.label for t in inside] in (["fade_in"], ["fade"]), (first, last, inside)
        assert len([b for b in boundaries(cuts) if window[0] <= b <= window[1]]) <= 1
    # Between two shots the boundary is the middle of the black, as ThresholdDetector's scene
    # starts 198 and 377 (its threshold differs a little from ours: allow two frames).
    after_fades = [s.start_s * TESTVIDEO_FPS for s in shots(cuts)[1:] if s.data.transition_in == "fade"]
    assert after_fades == [pytest.approx(198, abs=2), pytest.approx(377, abs=2)]
    assert result.video.frame_count == 720
    assert_shots_tile(cuts, 720 / TESTVIDEO_FPS)


def test_testvideo_dissolve_and_closing_fade(testvideo):
    _, cuts = testvideo
    labels = [t.label for t in transitions(cuts)]
    assert labels == ["fade_in", "fade", "fade", "dissolve", "fade_out"]
    # The leaf-on-rock shot cross-dissolves into a tyre close-up over frames 529-558: the content
    # score is flat before 529 and after 558 and every frame between shows both pictures.
    dissolve = transitions(cuts)[3]
    assert 528 <= dissolve.start_s * TESTVIDEO_FPS and dissolve.end_s * TESTVIDEO_FPS <= 559
    # The picture fades out from frame 664 to black at 693 and stays black (ThresholdDetector's
    # fade-out 697 and AdaptiveDetector's cut 691 fall inside it): no shot starts there.
    closing = transitions(cuts)[4]
    assert closing.start_s * TESTVIDEO_FPS == pytest.approx(664, abs=1)
    assert closing.data.from_shot == 3 and closing.data.to_shot is None
    assert cuts.summary.shot_count == 4 and cuts.summary.gradual_count == 3
    assert cuts.summary.opens_with_fade and cuts.summary.closes_with_fade


def test_document_reads_back_typed(testvideo):
    result, cuts = testvideo
    again = VideoResult.model_validate_json(result.to_json()).analyzers["cut_analysis"]
    assert isinstance(again.summary, CutAnalysisSummary) and again.summary == cuts.summary
    assert all(isinstance(s.data, CutAnalysisSegment) for s in again.segments)
    assert again.segments == cuts.segments
    # A transition's data holds only what found it: a fade has no score, a shot no kind.
    fade = next(s for s in again.segments if s.label == "fade")
    assert fade.data.black_s > 0 and fade.data.score is None and fade.data.index is None


def test_testvideo_costs_a_fraction_of_its_decode(testvideo):
    result, cuts = testvideo
    # elapsed_s of the video is the decode with the in-decoder analyzers inside it
    assert cuts.elapsed_s < 0.3 * result.elapsed_s


def test_fades_mp4_has_fades_and_no_cut(media):
    _, cuts = analyse_cuts(media / "pyscenedetect" / "fades.mp4")
    assert cuts.summary.hard_cut_count == 0
    assert {t.label for t in transitions(cuts)} == {"fade_in", "fade", "fade_out"}
    # ThresholdDetector's scene starts [0, 84, 167] frames at 25 fps
    assert [b * 25 for b in boundaries(cuts)] == [pytest.approx(84, abs=1), pytest.approx(167, abs=1)]
    assert_shots_tile(cuts, 10.0)


def test_counter_mp4_cuts_only_where_the_picture_changes(media):
    # The number on screen changes on every frame: no cut for that. The background switches from
    # grey to red at frame #11 (PTS 1.0 s) and to green at frame #21 (PTS 2.0 s): two cuts.
    _, cuts = analyse_cuts(media / "pyscenedetect" / "counter.mp4")
    assert [(t.label, t.start_s) for t in transitions(cuts)] == [("cut", 1.0), ("cut", 2.0)]
    # Frame #30 has PTS 2.9 s and lasts 0.1 s (counter_description.txt)
    assert_shots_tile(cuts, 3.0)


def test_synthetic_hard_cuts_within_one_frame(cut_clip):
    spec, path = cut_clip
    _, cuts = analyse_cuts(path)
    assert [t.label for t in transitions(cuts)] == ["cut"] * len(spec.cut_times())
    assert boundaries(cuts) == pytest.approx(spec.cut_times(), abs=1 / spec.fps + 1e-6)
    assert [t.start_s for t in transitions(cuts)] == boundaries(cuts)
    assert cuts.summary.cuts_per_minute == pytest.approx(3 / (spec.duration_s / 60), abs=0.01)
    assert_shots_tile(cuts, spec.duration_s)


def test_synthetic_dissolve_reported_once_as_gradual(tmp_path):
    spec = ClipSpec(
        shots=(
            Shot(1.5, (60, 140, 220), "pan", speed=60, seed=2),
            Shot(1.5, (90, 200, 90), "zoom", speed=20, dissolve_in_s=1.0, seed=3),
            Shot(1.0, (210, 90, 50), "static", seed=1),
        ),
        width=256,
        height=144,
        audio=None,
    )
    _, cuts = analyse_cuts(write_clip(str(tmp_path / "dissolve.mp4"), spec))
    dissolve_at, cut_at = spec.cut_times()  # 1.5 s: the middle of a dissolve from 1.0 to 2.0 s
    dissolve, cut = transitions(cuts)
    assert dissolve.label == "dissolve" and 1.0 <= dissolve.start_s < dissolve_at < dissolve.end_s <= 2.0
    assert cut.label == "cut" and cut.start_s == pytest.approx(cut_at, abs=1 / spec.fps + 1e-6)
    assert boundaries(cuts)[0] == pytest.approx(dissolve_at, abs=3 / spec.fps)
    assert [s.data.transition_in for s in shots(cuts)] == [None, "dissolve", "cut"]
    assert cuts.summary.hard_cut_count == 1 and cuts.summary.gradual_count == 1


def test_builtin_sample_edits(sample_clip):
    # SAMPLE: hard cuts at 3.0 and 8.0 s (the second into a shaky shot), a 1 s dissolve at 5.5 s
    _, cuts = analyse_cuts(sample_clip)
    assert [t.label for t in transitions(cuts)] == ["cut", "dissolve", "cut"]
    cut1, dissolve, cut2 = transitions(cuts)
    assert cut1.start_s == pytest.approx(3.0, abs=1 / 30) and cut2.start_s == pytest.approx(8.0, abs=1 / 30)
    assert dissolve.start_s < 5.5 < dissolve.end_s


def decoded_thumbnail(shot) -> np.ndarray:
    """The shot's keyframe as an RGB image (the field is a base64 JPEG)."""
    jpeg = base64.b64decode(shot.data.thumbnail_jpeg, validate=True)
    assert jpeg[:3] == b"\xff\xd8\xff"  # a JPEG's start-of-image marker
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def nearest_shot_colour(image: np.ndarray, spec: ClipSpec) -> int:
    """The index of the spec's shot whose colour the image's mean colour points at (brightness aside)."""
    colours = np.array([shot.color for shot in spec.shots], np.float64)
    colours /= np.linalg.norm(colours, axis=1, keepdims=True)
    mean = image.reshape(-1, 3).mean(axis=0)
    return int(np.argmax(colours @ (mean / np.linalg.norm(mean))))


def test_each_sample_shot_has_a_keyframe_of_its_colour(sample_clip):
    result, cuts = analyse_cuts(sample_clip)
    tiles = shots(cuts)
    assert len([s for s in cuts.segments if s.data.thumbnail_jpeg]) == len(tiles) == len(SAMPLE.shots)
    for i, shot in enumerate(tiles):
        image = decoded_thumbnail(shot)
        assert max(image.shape[:2]) == THUMB_SIZE and image.shape[0] > image.shape[1]  # portrait, as the clip
        assert nearest_shot_colour(image, SAMPLE) == i
    # Transitions carry none, and the keyframes survive the JSON round trip.
    assert all(s.data.thumbnail_jpeg is None for s in transitions(cuts))
    again = VideoResult.model_validate_json(result.to_json()).analyzers["cut_analysis"]
    assert [s.data.thumbnail_jpeg for s in shots(again)] == [s.data.thumbnail_jpeg for s in tiles]


def test_a_short_video_still_gets_its_keyframes(cut_clip):
    # Shots of 1 s at 4 candidates a second: each keyframe is inside its own shot.
    spec, path = cut_clip
    _, cuts = analyse_cuts(path)
    assert len(shots(cuts)) == len(spec.shots)
    assert [nearest_shot_colour(decoded_thumbnail(s), spec) for s in shots(cuts)] == list(range(len(spec.shots)))


def test_times_are_presentation_timestamps(tmp_path):
    # 50 fps then 25 fps: the cut at frame 30 is at 0.6 s, where 30 / (average rate) says 0.84 s.
    times_ms = np.concatenate([np.arange(30) * 20, 600 + np.arange(20) * 40])
    rng = np.random.default_rng(0)
    looks = [np.repeat(np.repeat(rng.integers(0, 256, (9, 16, 3), np.uint8), 16, 0), 16, 1) for _ in range(2)]
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(looks[i >= 30], format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    _, cuts = analyse_cuts(path)
    assert [(t.label, t.start_s) for t in transitions(cuts)] == [("cut", pytest.approx(0.6, abs=1e-3))]


def test_single_frame_video_is_one_shot(tmp_path):
    spec = ClipSpec(shots=(Shot(1 / 30),), width=256, height=144, audio=None)
    result, cuts = analyse_cuts(write_clip(str(tmp_path / "one.mp4"), spec))
    assert result.video.frame_count == 1
    assert cuts.summary.shot_count == 1 and transitions(cuts) == []
    assert_shots_tile(cuts, 1 / 30)


def test_static_video_is_one_shot(tmp_path):
    spec = ClipSpec(shots=(Shot(2.0, text="NOTHING HAPPENS"),), width=256, height=144, audio=None)
    _, cuts = analyse_cuts(write_clip(str(tmp_path / "static.mp4"), spec))
    assert cuts.summary.shot_count == 1 and cuts.summary.cuts_per_minute == 0.0
    assert transitions(cuts) == []
    assert_shots_tile(cuts, 2.0)


def test_batches_may_split_the_video_anywhere(cut_clip):
    # process_frames depends on its batch alone (prev_frame carries the frame before it)
    _, path = cut_clip
    analyzer = CutAnalysis()
    runs = []
    for batch_frames in (5, 1000):
        decoder = Decoder(path, [FRAMES], False, batch_frames=batch_frames)
        partials = Partials(frames=[analyzer.process_frames(batch) for batch in decoder])
        runs.append((partials, analyzer.finalize(partials, Context(video=decoder.info, results={}))))
    (small, small_findings), (whole, whole_findings) = runs
    for key in ("pts", "content", "brightness", "hist", "thumb_pts"):
        assert np.array_equal(np.concatenate([p[key] for p in small.frames]), whole.frames[0][key])
    assert [jpeg for p in small.frames for jpeg in p["thumbs"]] == whole.frames[0]["thumbs"]
    assert small_findings == whole_findings
