"""color_analysis: synthetic shots of known colour, per shot from the real cut analyzer."""

from __future__ import annotations

import re

import pytest
from helpers import analyse, run_video, shots

from pipeline.analyzers.color import ColorAnalysisSegment, ColorAnalysisSummary, PaletteColour, color_name
from pipeline.sample import ClipSpec, Shot, write_clip
from pipeline.schema import Status, VideoResult

COLOURS = ClipSpec(
    shots=(
        Shot(1.5, (220, 40, 40), seed=1),  # red
        Shot(1.5, (40, 60, 220), seed=2),  # blue
        Shot(1.5, (50, 50, 50), seed=3),  # dark grey
        Shot(1.5, (170, 170, 170), seed=4),  # light grey
    ),
    audio=None,
)


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    return analyse(write_clip(str(tmp_path_factory.mktemp("color") / "colours.mp4"), COLOURS), "color_analysis")


def test_one_segment_per_shot_named_by_its_dominant_colour(colours):
    assert colours.status == Status.ok
    assert [s.start_s for s in colours.segments] == pytest.approx([0.0, *COLOURS.cut_times()], abs=1 / 30 + 1e-3)
    assert [s.label for s in colours.segments][:2] == ["red", "blue"]
    red, blue = colours.segments[0].data.palette[0], colours.segments[1].data.palette[0]
    r, g, b = (int(red.hex[i : i + 2], 16) for i in (1, 3, 5))
    assert r > 2 * g and r > 2 * b
    r, g, b = (int(blue.hex[i : i + 2], 16) for i in (1, 3, 5))
    assert b > 2 * r and b > 2 * g


def test_palettes_are_well_formed(colours):
    for palette in [s.data.palette for s in colours.segments] + [colours.summary.palette]:
        assert 1 <= len(palette) <= 5
        assert all(re.fullmatch(r"#[0-9a-f]{6}", c.hex) for c in palette)
        assert sum(c.share for c in palette) == pytest.approx(1.0, abs=0.01)
        assert [c.share for c in palette] == sorted((c.share for c in palette), reverse=True)
    names = {c.name for c in colours.summary.palette}
    assert {"red", "blue"} <= names


def test_warmth_saturation_brightness(colours):
    red, blue, dark, light = (s.data for s in colours.segments)
    assert red.warmth > 0.3 and blue.warmth < -0.3
    assert abs(dark.warmth) < 0.02 and abs(light.warmth) < 0.02
    assert red.saturation > 0.5 and blue.saturation > 0.5
    assert dark.saturation < 0.05 and light.saturation < 0.05
    assert 0 < dark.brightness < light.brightness < 1
    # The summary is the mean over the (equally long) shots.
    assert colours.summary.warmth == pytest.approx(sum(s.warmth for s in (red, blue, dark, light)) / 4, abs=0.02)


def test_colour_names():
    expected = {
        (230, 30, 30): "red",
        (30, 40, 230): "blue",
        (40, 200, 60): "green",
        (250, 250, 250): "white",
        (10, 10, 10): "black",
        (128, 128, 128): "gray",
        (240, 150, 30): "orange",
        (110, 70, 30): "brown",
    }
    assert {rgb: color_name(rgb) for rgb in expected} == expected


def test_testvideo(media):
    """Real nature footage: autumn leaves, a deer at dusk, rock, siding; fades between shots."""
    result = run_video(media / "pyscenedetect" / "testvideo.mp4", "color_analysis")
    colour = result.analyzers["color_analysis"]
    assert colour.status == Status.ok and len(colour.segments) == len(shots(result.analyzers["cut_analysis"])) >= 3
    for segment in colour.segments:
        assert 0.05 < segment.data.brightness < 0.8
        assert 0 <= segment.data.saturation <= 1 and -1 <= segment.data.warmth <= 1
    assert colour.summary.warmth > 0  # browns and oranges of the leaves
    again = VideoResult.model_validate_json(result.to_json()).analyzers["color_analysis"]
    assert isinstance(again.summary, ColorAnalysisSummary) and again.summary == colour.summary
    assert all(isinstance(s.data, ColorAnalysisSegment) for s in again.segments) and again.segments == colour.segments
    assert all(isinstance(c, PaletteColour) for c in again.summary.palette)


def test_a_batch_with_no_new_sample_and_a_hue_at_360_degrees():
    """Two failures on ordinary videos: the last batch of a clip can fall inside the sampling step
    of the one before (no frame measured), and OpenCV's full-range hue of a red just short of
    pure red rounds to 255, i.e. 360 degrees."""
    import numpy as np

    from pipeline.analyzer import Context, FrameBatch, Partials
    from pipeline.analyzers.color import SAMPLE_STEP_S, ColorAnalysis
    from pipeline.analyzers.cuts import FRAMES
    from pipeline.schema import VideoInfo

    import cv2

    almost_red = (255, 0, 5)
    assert cv2.cvtColor(np.array([[almost_red]], np.uint8), cv2.COLOR_RGB2HSV_FULL)[0, 0, 0] == 255
    assert color_name(almost_red) == "red"
    analyzer = ColorAnalysis()
    frames = np.full((2, 144, 256, 3), almost_red, np.uint8)
    first = analyzer.process_frames(FrameBatch(FRAMES, 0, np.array([0.0, 0.04]), frames))
    tail = analyzer.process_frames(
        FrameBatch(FRAMES, 1, np.array([0.08, 0.12]), frames, prev_frame=frames[-1], prev_pts_s=0.04)
    )
    assert len(first["t"]) == 1 and len(tail["t"]) == 0 < SAMPLE_STEP_S
    info = VideoInfo(path="x.mp4", duration_s=0.16, size_bytes=1, container="mp4", has_video=True, has_audio=False)
    findings = analyzer.finalize(Partials(frames=[first, tail]), Context(info, {}))
    assert [s.label for s in findings.segments] == ["red"] and findings.summary.frames == 1
