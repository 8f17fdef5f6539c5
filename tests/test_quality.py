"""content_quality: degraded copies of one synthetic clip score lower on the part that was degraded."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from helpers import run_video

from pipeline.analyzers.quality import ContentQualitySummary
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, ClipSpec, Shot, render_frames, write_audio_clip, write_clip
from pipeline.schema import Status, VideoResult

# 640 px wide so that the picture is measured at its own size; the caption gives it sharp edges.
CLEAN = ClipSpec((Shot(2.0, text="SHARP EDGES", seed=1),), width=640, height=360, audio=AudioSpec(level=0.3))
PICTURE_PARTS = ("sharpness", "exposure", "noise", "resolution", "bitrate")


def write_altered(path, spec: ClipSpec, alter) -> str:
    """The clip's pictures passed through `alter(frame, index)`, without sound."""
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(spec.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i, (_, frame) in enumerate(render_frames(spec)):
            picture = av.VideoFrame.from_ndarray(alter(frame, i), format="rgb24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def blur(frame: np.ndarray, index: int) -> np.ndarray:
    return cv2.GaussianBlur(frame, (0, 0), 2.0)


def add_noise(frame: np.ndarray, index: int) -> np.ndarray:
    noise = np.random.default_rng(index).normal(0, 12, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    """content_quality's summary for each variant of the clean clip."""
    folder = tmp_path_factory.mktemp("quality")
    paths = {
        "clean": write_clip(str(folder / "clean.mp4"), CLEAN),
        "blurred": write_altered(str(folder / "blurred.mp4"), CLEAN, blur),
        "noisy": write_altered(str(folder / "noisy.mp4"), CLEAN, add_noise),
        "clipped_audio": write_clip(str(folder / "clipped.mp4"), replace(CLEAN, audio=AudioSpec(level=3.0))),
        "audio_only": write_audio_clip(str(folder / "sound.m4a"), AudioSpec(level=0.3), 2.0),
    }
    results = run_local([VideoRequest(name, path) for name, path in paths.items()], Plan.build(["content_quality"]))
    analyzed = {}
    for name, result in zip(paths, results):
        quality = result.analyzers["content_quality"]
        assert quality.status == Status.ok, name
        again = VideoResult.model_validate_json(result.to_json()).analyzers["content_quality"]
        assert isinstance(again.summary, ContentQualitySummary) and again.summary == quality.summary, name
        assert quality.segments == [], name
        analyzed[name] = quality.summary
    return analyzed


def test_clean_clip_gets_every_part(quality):
    clean = quality["clean"]
    assert all(0 <= value <= 1 for value in clean.parts.model_dump().values())
    assert clean.parts.audio_clipping == 1.0 and clean.measures.audio_peak < 0.5
    assert clean.parts.resolution == pytest.approx(360 / 1080, abs=1e-3)
    assert clean.measures.width == 640 and clean.measures.frames_measured == 2  # 1 a second
    # The score is the weighted mean of the parts, on 0..100.
    weights = clean.weights.model_dump()
    expected = 100 * sum(weights[n] * v for n, v in clean.parts.model_dump().items()) / sum(weights.values())
    assert clean.score == pytest.approx(expected, abs=0.1)


def test_blur_lowers_sharpness(quality):
    clean, blurred = quality["clean"], quality["blurred"]
    assert blurred.measures.laplacian_var < clean.measures.laplacian_var / 3
    assert blurred.parts.sharpness < clean.parts.sharpness - 0.3
    assert blurred.parts.noise == pytest.approx(clean.parts.noise, abs=0.05)


def test_noise_lowers_the_noise_part(quality):
    clean, noisy = quality["clean"], quality["noisy"]
    assert noisy.measures.noise_sigma > clean.measures.noise_sigma + 3
    assert noisy.parts.noise < 0.5 < clean.parts.noise


def test_clipped_audio_is_reported(quality):
    clipped = quality["clipped_audio"]
    assert clipped.measures.audio_clipped_fraction > 0.001 and clipped.measures.audio_peak >= 0.999
    assert clipped.parts.audio_clipping < 0.5
    assert clipped.score < quality["clean"].score


def test_a_file_without_audio_keeps_its_picture_parts(quality):
    silent = quality["blurred"]  # written without a sound track
    assert silent.parts.audio_clipping is None and silent.measures.audio_peak is None
    assert all(getattr(silent.parts, name) is not None for name in PICTURE_PARTS)


def test_an_audio_only_file_keeps_its_audio_part(quality):
    sound = quality["audio_only"]
    assert sound.parts.audio_clipping == 1.0
    assert all(getattr(sound.parts, name) is None for name in PICTURE_PARTS)
    assert sound.score == 100.0


def test_testvideo(media):
    """Real 720p footage at 29.97 fps, no audio track."""
    result = run_video(media / "pyscenedetect" / "testvideo.mp4", "content_quality")
    quality = result.analyzers["content_quality"]
    assert quality.status == Status.ok
    parts, measures = quality.summary.parts, quality.summary.measures
    assert parts.resolution == pytest.approx(720 / 1080, abs=1e-3)
    pixels_per_second = 1280 * 720 * result.video.fps
    assert measures.bits_per_pixel == pytest.approx(result.video.bit_rate / pixels_per_second, rel=1e-3)
    assert measures.average_bit_rate == pytest.approx(result.video.size_bytes * 8 / result.video.duration_s, rel=1e-3)
    assert parts.audio_clipping is None
    assert parts.sharpness > 0.5  # in focus, at 640 px
    assert 20 <= measures.frames_measured <= 24  # one a second, less the black ones
    assert 0 < quality.summary.score < 100
