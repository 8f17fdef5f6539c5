"""The one decode: timestamps by PTS, derived rates and sizes, rotation, odd inputs, bad inputs."""

from __future__ import annotations

import resource
from fractions import Fraction

import av
import numpy as np
import pytest

from pipeline.analyzer import AudioTrack, FrameBatch, FrameSpec
from pipeline.engine.decode import Decoder, MediaError
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip


def decode(path, specs, audio=True):
    decoder = Decoder(str(path), specs, audio)
    items = list(decoder)
    batches = [i for i in items if isinstance(i, FrameBatch)]
    tracks = [i for i in items if isinstance(i, AudioTrack)]
    return decoder.info, batches, tracks


def times(batches, spec):
    return np.concatenate([b.pts_s for b in batches if b.spec == spec])


def write_frames(path, frame_times_ms, size=(64, 48), pix_fmt="yuv420p", sar=None):
    """A clip whose frames carry exactly the given timestamps (milliseconds)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = Fraction(1, 1000)
        if sar:
            stream.codec_context.sample_aspect_ratio = sar
        for i, t in enumerate(frame_times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 40 * i % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_testvideo_frames_times_and_metadata(media):
    full, every_2fps = FrameSpec(None, 256), FrameSpec(2, 640)
    info, batches, tracks = decode(media / "pyscenedetect" / "testvideo.mp4", [full, every_2fps])
    assert (info.width, info.height, info.frame_count) == (1280, 720, 720)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert not info.has_audio and tracks == []
    t = times(batches, full)
    assert len(t) == 720 and np.all(np.diff(t) > 0)
    assert t[-1] == pytest.approx(719 * 1001 / 30000, abs=1e-6)
    assert batches[0].frames.shape[1:] == (144, 256, 3)
    sampled = times(batches, every_2fps)
    assert len(sampled) == 48  # one frame per half second of a 24 s clip
    assert np.allclose(np.diff(sampled), 0.5, atol=1 / 29.97 + 1e-6)
    assert [b for b in batches if b.spec == every_2fps][0].frames.shape[1:] == (360, 640, 3)


def test_batches_carry_the_frame_before_them(media):
    spec = FrameSpec(None, 64)
    _, batches, _ = decode(media / "pyscenedetect" / "counter.mp4", [spec], audio=False)
    assert batches[0].prev_frame is None
    for earlier, later in zip(batches, batches[1:]):
        assert np.array_equal(later.prev_frame, earlier.frames[-1])
        assert later.prev_pts_s == earlier.pts_s[-1]


def test_counter_frame_times_are_presentation_times(media):
    info, batches, _ = decode(media / "pyscenedetect" / "counter.mp4", [FrameSpec(None, 128)])
    t = times(batches, FrameSpec(None, 128))
    assert len(t) == 30 and t[0] == 0.0 and t[-1] == pytest.approx(2.9)
    assert info.duration_s == pytest.approx(3.0)


def test_delayed_start_begins_at_zero(media):
    info, batches, _ = decode(media / "pyscenedetect" / "delayed_start.mp4", [FrameSpec(None, 128)])
    assert info.start_offset_s == pytest.approx(1.075)
    assert batches[0].pts_s[0] < 0.1


def test_variable_frame_rate_keeps_real_timestamps(tmp_path):
    stamps = [0, 33, 66, 200, 233, 500, 533, 566, 1000]
    info, batches, _ = decode(write_frames(tmp_path / "vfr.mp4", stamps), [FrameSpec(None, 64)])
    assert np.allclose(times(batches, FrameSpec(None, 64)), np.array(stamps) / 1000)
    assert info.variable_frame_rate


def test_rate_sampling_follows_timestamps_not_frame_count(tmp_path):
    # 10 frames in the first 0.3 s, then one frame a second: 2 fps sampling must follow time,
    # taking one frame per half-second slot that has any (counting frames would take ten at once).
    stamps = [i * 33 for i in range(10)] + [1000, 2000, 3000]
    _, batches, _ = decode(write_frames(tmp_path / "vfr.mp4", stamps), [FrameSpec(2, 64)])
    assert list(times(batches, FrameSpec(2, 64))) == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_rotation_is_applied_and_reported(tmp_path):
    # Phone portrait video: landscape pixels tagged "rotate 90" (clockwise).
    spec = ClipSpec(shots=(Shot(0.5, seed=1),), width=320, height=180, audio=None, rotation=90)
    path = write_clip(str(tmp_path / "rotated.mp4"), spec)
    info, batches, _ = decode(path, [FrameSpec(None, 160)])
    assert info.rotation == 90
    assert (info.width, info.height) == (180, 320)
    assert batches[0].frames.shape[1:] == (160, 90, 3)
    # The coded frame's left column becomes the displayed top row under a clockwise turn.
    plain = ClipSpec(shots=spec.shots, width=320, height=180, audio=None)
    _, upright_batches, _ = decode(write_clip(str(tmp_path / "plain.mp4"), plain), [FrameSpec(None, 320)])
    coded = upright_batches[0].frames[0].astype(int)
    _, big, _ = decode(path, [FrameSpec(None, 320)])
    shown = big[0].frames[0].astype(int)
    assert np.abs(shown - np.rot90(coded, k=-1)).mean() < 4


def test_non_square_pixels_give_display_size(tmp_path):
    path = write_frames(tmp_path / "anamorphic.mp4", [0, 100, 200], size=(64, 48), sar=Fraction(2, 1))
    info, batches, _ = decode(path, [FrameSpec(None, 512)])
    assert info.pixel_aspect_ratio == 2.0
    assert (info.width, info.height) == (128, 48)
    assert batches[0].frames.shape[1:] == (48, 128, 3)


def test_odd_sizes_and_a_single_frame(tmp_path):
    path = write_frames(tmp_path / "odd.mp4", [0], size=(161, 97), pix_fmt="yuv444p")
    info, batches, _ = decode(path, [FrameSpec(None, 512), FrameSpec(None, 64)])
    assert info.frame_count == 1 and (info.width, info.height) == (161, 97)
    assert sorted(b.frames.shape for b in batches) == [(1, 39, 64, 3), (1, 97, 161, 3)]


def test_audio_only_file(media):
    info, batches, tracks = decode(media / "faster-whisper" / "jfk.flac", [FrameSpec(None, 128)])
    assert not info.has_video and info.has_audio and batches == []
    (track,) = tracks
    assert track.sample_rate == 16_000 and track.samples.dtype == np.float32
    assert track.duration_s == pytest.approx(11.0, abs=0.05)
    assert info.audio_channels == 2 and info.audio_sample_rate == 44_100


def test_audio_track_start_and_clipping(tmp_path):
    loud = ClipSpec(shots=(Shot(1.0),), audio=AudioSpec(level=6.0))
    info, _, (track,) = decode(write_clip(str(tmp_path / "loud.mp4"), loud), [FrameSpec(None, 64)])
    assert track.start_s < 0.05 and track.duration_s == pytest.approx(1.0, abs=0.05)
    assert track.clipped_fraction > 0.01 and track.peak >= 0.99
    quiet = ClipSpec(shots=(Shot(1.0),), audio=AudioSpec(level=0.3))
    _, _, (track,) = decode(write_clip(str(tmp_path / "quiet.mp4"), quiet), [FrameSpec(None, 64)])
    assert track.clipped_fraction == 0.0 and track.peak < 0.9


def test_video_without_audio(tmp_path):
    path = write_clip(str(tmp_path / "silent.mp4"), ClipSpec(shots=(Shot(0.5),), audio=None))
    info, batches, tracks = decode(path, [FrameSpec(None, 64)], audio=True)
    assert info.has_video and not info.has_audio and tracks == [] and batches


def test_truncated_file_keeps_what_decodes(tmp_path):
    # Matroska writes its header first, so a cut-off download still has a readable start.
    path = write_clip(str(tmp_path / "whole.mkv"), ClipSpec(shots=(Shot(2.0, motion="pan"),), audio=None))
    data = open(path, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    info, batches, _ = decode(cut, [FrameSpec(None, 64)])
    assert 0 < info.frame_count < 60


def make_bad_input(directory, kind):
    if kind == "directory":
        return directory
    path = directory / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n")
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "empty file"),
        ("text", "not a readable media file"),
    ],
)
def test_bad_inputs_raise_one_clear_line(tmp_path, kind, message):
    path = make_bad_input(tmp_path, kind)
    with pytest.raises(MediaError, match=message) as caught:
        list(Decoder(str(path), [FrameSpec(None, 64)], True))
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_mp4_cut_before_its_index_is_refused_cleanly(media, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((media / "pyscenedetect" / "testvideo.mp4").read_bytes()[:300_000])
    with pytest.raises(MediaError, match="not a readable media file"):
        Decoder(str(cut), [FrameSpec(None, 64)], True)


def test_frames_stream_in_bounded_memory(media):
    """Full-resolution frames of a 24 s 720p clip total 2 GB; streaming holds one batch at a time."""
    spec = FrameSpec(None, 1280)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    frames = 0
    for item in Decoder(str(media / "pyscenedetect" / "testvideo.mp4"), [spec], False, batch_frames=16):
        frames += len(item.frames)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert frames == 720
    assert grown_mib < 400, f"peak memory grew by {grown_mib:.0f} MiB"


def test_stereo_source_keeps_its_channels_beside_the_mono_mix(media):
    """stereo_diarization.wav (16 kHz, a different speaker per channel): the channels come out as
    the file holds them, and the mono track stays FFmpeg's downmix of them (-3 dB each)."""
    import soundfile

    path = media / "faster-whisper" / "stereo_diarization.wav"
    _, _, (track,) = decode(path, [])
    native, rate = soundfile.read(path, dtype="float32")
    assert rate == track.sample_rate == 16_000
    assert track.channels.shape == (2, len(track.samples)) == (2, 80_000) and track.channels.dtype == np.float32
    assert np.allclose(track.channels, native.T, atol=1e-6)
    assert np.allclose(track.samples, native.sum(axis=1) * np.sqrt(0.5), atol=1e-6)


def test_channels_are_resampled_in_step_with_the_mono_track(media):
    """jfk.flac, 44.1 kHz stereo: the same 16 kHz sample count, and the downmix of the channels."""
    _, _, (track,) = decode(media / "faster-whisper" / "jfk.flac", [])
    assert track.channels.shape == (2, len(track.samples))
    assert np.allclose(track.channels.sum(axis=0) * np.sqrt(0.5), track.samples, atol=1e-5)


def test_mono_source_has_no_channels(media):
    _, _, (track,) = decode(media / "pyannote" / "sample.wav", [])
    assert track.channels is None and len(track.samples) == 30 * 16_000
