"""Short-form formats (pipeline/analyzers/formats.py): split screens from camera_analysis's frames
on generated duets and plain clips; stitches and green-screen explainers from constructed shots,
face tracks and person masks, whose truth is known by construction."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import analyse
from yolo_cases import silent_models, ultralytics_config, video  # noqa: F401 (fixtures)

from pipeline.analyzer import Context, Partials
from pipeline.analyzers import formats
from pipeline.analyzers.background_segmentation import SAMPLE, BackgroundSegmentation
from pipeline.analyzers.cuts import CutAnalysisSegment
from pipeline.analyzers.eye_tracking import EyeTrackingSegment
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import ClipSpec, Shot, render_frames, split_screen_frames, write_clip, write_frames
from pipeline.schema import AnalyzerResult, Segment, Status, VideoResult
from pipeline.settings import Settings


def half(*shots: Shot, width: int = 160, height: int = 240) -> ClipSpec:
    return ClipSpec(shots, width=width, height=height, audio=None)


# Two cameras side by side: one pans, the other holds still, then cuts in its own half only.
DUET = (
    half(Shot(4.0, (200, 80, 40), "pan", speed=60, seed=1)),
    half(Shot(2.0, (60, 140, 220), seed=2), Shot(2.0, (90, 200, 90), seed=3)),
)
# A reaction: the clip on top pans, the face below shakes.
REACTION = (
    half(Shot(4.0, (200, 80, 40), "pan", speed=60, seed=4), width=320, height=120),
    half(Shot(4.0, (60, 140, 220), "shake", seed=5), width=320, height=120),
)
PLAIN = {
    "pan": ClipSpec((Shot(4.0, (200, 80, 40), "pan", speed=60, seed=1),), audio=None),
    "zoom": ClipSpec((Shot(4.0, (60, 140, 220), "zoom", speed=20, seed=2),), audio=None),
    "cuts": ClipSpec((Shot(2.0, (200, 80, 40), seed=1), Shot(2.0, (60, 140, 220), "pan", speed=60, seed=2)), audio=None),
}


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, formats.SplitScreen]:
    folder = tmp_path_factory.mktemp("formats")
    paths = {
        "duet": write_frames(str(folder / "duet.mp4"), split_screen_frames(*DUET, "side_by_side"), 30.0),
        "reaction": write_frames(str(folder / "reaction.mp4"), split_screen_frames(*REACTION, "top_bottom"), 30.0),
        **{name: write_clip(str(folder / f"{name}.mp4"), spec) for name, spec in PLAIN.items()},
    }
    requests = [VideoRequest(name, path) for name, path in paths.items()]
    out = {}
    for document in run_local(requests, Plan.build(["camera_analysis"])):
        camera = document.analyzers["camera_analysis"]
        assert camera.status == Status.ok, camera.error
        again = VideoResult.model_validate_json(document.to_json()).analyzers["camera_analysis"]
        assert again.summary.split_screen == camera.summary.split_screen
        out[document.id] = camera.summary.split_screen
    return out


def test_duet_side_by_side(splits):
    duet = splits["duet"]
    assert duet.layout == "side_by_side"
    assert duet.seam_share["side_by_side"] >= formats.SEAM_PERSISTENT > duet.seam_share["top_bottom"]
    assert duet.independent_share["side_by_side"] >= 0.5  # the pan against the still half
    assert duet.frames_measured >= 35 and duet.basis == formats.SPLIT_BASIS


def test_reaction_top_and_bottom(splits):
    reaction = splits["reaction"]
    assert reaction.layout == "top_bottom"
    assert reaction.seam_share["top_bottom"] >= formats.SEAM_PERSISTENT > reaction.seam_share["side_by_side"]


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_one_picture_is_no_split(splits, name):
    """A pan, a zoom (its halves move apart, the camera's fit explains both) and a cut that
    changes both halves at once: one picture each, no seam down or across its middle."""
    plain = splits[name]
    assert plain.layout is None
    assert max(plain.seam_share.values()) < formats.SEAM_PERSISTENT


def test_testvideo_is_no_split(media):
    camera = analyse(media / "pyscenedetect" / "testvideo.mp4", "camera_analysis")
    assert camera.summary.split_screen.layout is None


# ---- stitch, from constructed shots and face tracks -----------------------------------------


def cut_result(bounds: list[float], out: str = "cut") -> AnalyzerResult:
    shots = [
        Segment(start_s=a, end_s=b, label="shot", data=CutAnalysisSegment(index=i, transition_out=out if i < len(bounds) - 2 else None))
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]
    return AnalyzerResult(status=Status.ok, segments=shots)


def faces_result(*spans: tuple[float, float]) -> AnalyzerResult:
    tracks = [Segment(start_s=a, end_s=b, label="face", data=EyeTrackingSegment(track=i)) for i, (a, b) in enumerate(spans)]
    return AnalyzerResult(status=Status.ok, segments=tracks)


def test_a_short_opener_then_a_face_is_a_stitch():
    found = formats.stitch(cut_result([0.0, 3.0, 5.0, 12.0]), {"eye_tracking": faces_result((3.2, 11.0))}, 12.0)
    assert found.likely is True and found.faces_from == "eye_tracking" and found.reason is None
    assert (found.opening_s, found.opens_with_cut, found.first_face_after_cut_s) == (3.0, True, pytest.approx(0.2))
    assert found.face_share_after == pytest.approx(7.8 / 9.0, abs=1e-3)
    assert found.basis == formats.STITCH_BASIS


@pytest.mark.parametrize(
    ("bounds", "faces", "out", "why"),
    [
        ([0.0, 8.0, 12.0], [(8.1, 12.0)], "cut", "the opener is longer than a stitch's clip"),
        ([0.0, 3.0, 12.0], [], "cut", "no face after the cut"),
        ([0.0, 3.0, 12.0], [(6.0, 12.0)], "cut", "the face comes 3 s after the cut"),
        ([0.0, 3.0, 12.0], [(3.0, 12.0)], "dissolve", "a dissolve, not a cut"),
        ([0.0, 12.0], [(0.0, 12.0)], None, "one shot"),
    ],
)
def test_other_shapes_are_not(bounds, faces, out, why):
    found = formats.stitch(cut_result(bounds, out), {"eye_tracking": faces_result(*faces)}, 12.0)
    assert found.likely is False, why


def test_without_face_tracks_a_stitch_is_unknown():
    skipped = AnalyzerResult.skipped("weights missing")
    found = formats.stitch(cut_result([0.0, 3.0, 12.0]), {"eye_tracking": None, "age_estimation": skipped}, 12.0)
    assert found.likely is None and found.opening_s == 3.0
    assert found.reason == "no face tracks (eye_tracking did not run; age_estimation skipped: weights missing)"
    assert formats.stitch(None, {}, 12.0).reason == "no shots: cut_analysis did not succeed"


# ---- green screen, from constructed person masks ---------------------------------------------


def samples(n: int, person: float, person_change: float, change: float, step: float = 0.2) -> np.ndarray:
    rows = np.zeros(n, SAMPLE)
    rows["t"] = np.arange(n) * step
    rows["t_prev"] = rows["t"] - step
    rows["t_prev"][0] = np.nan
    rows["person"], rows["people"] = person, int(person > 0)
    rows["change"], rows["person_change"] = change, person_change if person > 0 else np.nan
    rows["change"][0] = rows["person_change"][0] = np.nan
    return rows


@pytest.mark.parametrize(
    ("person", "person_change", "change", "likely"),
    [
        (0.3, 0.1, 0.0, True),  # someone talking over a still picture
        (0.3, 0.1, 0.3, False),  # the background moves: a real scene or a video behind
        (0.3, 0.0, 0.0, False),  # the "person" never moves: a photo
        (0.0, 0.0, 0.0, False),  # nobody
    ],
)
def test_green_screen(person, person_change, change, likely):
    info, results = video(4.0)
    partials = Partials(frames=[samples(20, person, person_change, change)])
    found = BackgroundSegmentation().finalize(partials, Context(video=info, results=results)).summary.green_screen
    assert found.likely is likely and found.shots == ([0] if likely else [])
    assert found.share == (1.0 if likely else 0.0) and found.basis == formats.GREEN_BASIS


def test_green_screen_shot_by_shot():
    """Two shots: the explainer, then a cut to a moving scene: half the video."""
    info, results = video(8.0, cuts=[4.0])
    rows = np.concatenate([samples(20, 0.3, 0.1, 0.0), samples(20, 0.3, 0.1, 0.3)])
    rows["t"][20:] += 4.0
    rows["t_prev"][20:] += 4.0
    found = BackgroundSegmentation().finalize(Partials(frames=[rows]), Context(video=info, results=results)).summary.green_screen
    assert (found.shots, found.share, found.likely) == ([0], 0.5, True)


def still_picture_with_a_moving_blob(seconds: float = 3.0, fps: float = 15.0):
    """A still textured picture with a dark person-sized ellipse swaying in front of it."""
    (_, background), *_ = render_frames(ClipSpec((Shot(0.1, (70, 120, 90), seed=9),), width=320, height=240, audio=None))
    for i in range(int(seconds * fps)):
        frame = background.copy()
        x = 160 + int(40 * np.sin(i / fps * 2 * np.pi))
        cv2.ellipse(frame, (x, 150), (40, 90), 0, 0, 360, (40, 30, 30), -1)
        yield i / fps, frame


def test_green_screen_end_to_end_without_a_person_found(tmp_path, silent_models):  # noqa: F811
    """Through the ultralytics runtime on a model that segments no one (random weights: what a
    tiny model finds cannot be truth): with nobody found over the picture there is no explainer.
    Whether a found person makes one is tested on constructed masks above."""
    path = write_frames(str(tmp_path / "blob.mp4"), still_picture_with_a_moving_blob(), 15.0)
    plan = Plan.build(["background_segmentation"], settings=Settings(models_dir=silent_models))
    (document,) = run_local([VideoRequest("blob", path)], plan)
    background = document.analyzers["background_segmentation"]
    assert background.status == Status.ok, background.error or background.reason
    assert background.summary.person_share == 0.0
    found = background.summary.green_screen
    assert (found.likely, found.share, found.shots) == (False, 0.0, [])
    again = VideoResult.model_validate_json(document.to_json()).analyzers["background_segmentation"]
    assert again.summary.green_screen == found
