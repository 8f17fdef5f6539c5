"""The decoder on odd inputs (tests/faults.py): every one a correct decode or one clear line,
never a crash. Layouts that crashed the process are decoded in a child, so a regression fails
this test instead of ending the run."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from faults import media_cut_at, not_media, picture, special_files, tone, video

from pipeline.analyzer import AudioTrack, FrameBatch, FrameSpec
from pipeline.engine.decode import Decoder, MediaError, probe
from pipeline.sample import SAMPLE, write_clip

LAYOUTS = [  # (layout, codec, container): mono to 22.2, as FFmpeg's encoders take them
    ("mono", "aac", "m4a"),
    ("stereo", "aac", "m4a"),
    ("2.1", "aac", "m4a"),
    ("quad", "aac", "m4a"),
    ("5.1", "aac", "m4a"),
    ("6.1", "aac", "m4a"),
    ("7.1", "aac", "m4a"),  # PyAV's own conversion of its planar frames segfaulted
    ("hexadecagonal", "pcm_s16le", "wav"),
    ("22.2", "pcm_s16le", "mkv"),
]


def decode(path, specs=(), audio=True):
    decoder = Decoder(str(path), list(specs), audio)
    out = list(decoder)
    return decoder.info, [o for o in out if isinstance(o, FrameBatch)], [o for o in out if isinstance(o, AudioTrack)]


def test_every_channel_layout_decodes_to_one_mono_track(tmp_path):
    files = {layout: str(tone(tmp_path / f"{layout}.{ext}", layout, codec=codec)) for layout, codec, ext in LAYOUTS}
    script = (
        "import json, sys\nfrom pipeline.engine.decode import Decoder\nout = {}\n"
        "for name, path in json.loads(sys.argv[1]).items():\n"
        "    d = Decoder(path, [], True); [track] = list(d)\n"
        "    out[name] = [len(track.samples) / track.sample_rate, track.peak, d.info.audio_channels]\n"
        "print(json.dumps(out))\n"
    )
    child = subprocess.run([sys.executable, "-c", script, json.dumps(files)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, (child.returncode, child.stderr[-2000:])  # -11: a segfault
    decoded = json.loads(child.stdout)
    for layout, _, _ in LAYOUTS:
        seconds, peak, channels = decoded[layout]
        assert seconds == pytest.approx(1.0, abs=0.05), layout
        assert 0.15 < peak < 0.45, layout  # the native samples: 0.2 as written, AAC overshoots a little
    assert decoded["7.1"][2] == 8 and decoded["22.2"][2] == 24


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 96_000, 192_000])
def test_any_sample_rate_comes_out_at_16_khz(tmp_path, rate):
    _, _, [track] = decode(tone(tmp_path / f"{rate}.wav", "stereo", rate=rate, codec="pcm_s16le"))
    written_s = math.ceil(rate / 1024) * 1024 / rate  # whole frames of 1024 samples
    assert track.sample_rate == 16_000 and len(track.samples) == pytest.approx(16_000 * written_s, abs=160)
    spectrum = np.abs(np.fft.rfft(track.samples))
    assert np.argmax(spectrum) * 16_000 / len(track.samples) == pytest.approx(440, abs=2)


def test_a_raw_stream_without_timestamps_is_timed_by_its_rate(tmp_path):
    info, batches, _ = decode(video(tmp_path / "raw.h264", frames=25, fmt="h264"), [FrameSpec(None, 64)], audio=False)
    times = np.concatenate([b.pts_s for b in batches])
    assert info.frame_count == 25 and np.allclose(np.diff(times), 0.04)
    assert times[0] == 0.0 and info.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize("container", ["mkv", "mp4", "ts"])
def test_durations_count_from_the_streams_own_start(tmp_path, container):
    """A 3 s clip whose timestamps start at 100,000 s (Matroska states 100,003 s)."""
    path = video(tmp_path / f"late.{container}", start_s=100_000)
    assert probe(str(path)).duration_s == pytest.approx(3.0, abs=0.05)
    info, batches, _ = decode(path, [FrameSpec(None, 64)], audio=False)
    assert batches[0].pts_s[0] == pytest.approx(0.0, abs=1e-6) and info.duration_s == pytest.approx(3.0, abs=0.05)
    assert not info.truncated


def test_a_truncated_file_is_analysed_as_far_as_it_decodes_and_says_so(tmp_path):
    clip = write_clip(str(tmp_path / "whole.mp4"), SAMPLE)
    half = media_cut_at(tmp_path / "whole.mp4", tmp_path / "half.mp4", 0.5)
    info, batches, _ = decode(half, [FrameSpec(None, 64)], audio=False)
    assert info.truncated and info.container_duration_s == pytest.approx(10.0, abs=0.05)
    assert 3.0 < info.duration_s < 7.0 and len(batches) > 0
    whole, _, _ = decode(clip, [FrameSpec(None, 64)])
    assert not whole.truncated and whole.container_duration_s == pytest.approx(whole.duration_s, abs=0.1)
    nothing = media_cut_at(tmp_path / "whole.mp4", tmp_path / "empty-media.mp4", 0.0)
    with pytest.raises(MediaError, match="no frame or sample could be decoded"):
        decode(nothing, [FrameSpec(None, 64)])


def test_text_and_special_files_are_named_for_what_they_are(tmp_path):
    odd = special_files(tmp_path)
    for kind, words in [
        ("fifo", "is a FIFO, not a media file"),
        ("loop", "a symbolic link loop"),
        ("text", "not a readable media file: it is a text file, not a video"),
        ("html", "not a readable media file: it is an HTML page, not a video"),
    ]:
        with pytest.raises(MediaError, match=words):
            probe(str(odd[kind]))


def test_a_file_that_is_not_media_is_named_for_what_it_is_by_its_content(tmp_path):
    """Images, documents, archives and text under video names are refused in one line that says
    what they are (pipeline/sniff.py); an animation FFmpeg reads is a video of its frames."""
    cases = not_media(tmp_path)
    assert sum(want is None for _, want in cases.values()) == 2 and len(cases) >= 12
    for name, (path, want) in cases.items():
        if want is None:
            info, batches, _ = decode(path, [FrameSpec(None, 64)], audio=False)
            assert info.frame_count == 10 and info.duration_s == pytest.approx(1.0), name
            assert sum(len(b.pts_s) for b in batches) == 10, name
        else:
            with pytest.raises(MediaError, match=f"^not a readable media file: {re.escape(want)}"):
                probe(str(path))
    # The content decides, never the name: the same PNG under any extension, a video under .png.
    png = picture(tmp_path / "picture.png")
    for extension in ("png", "mov", "mkv", "webm", "gif"):
        renamed = tmp_path / f"renamed.{extension}"
        renamed.write_bytes(png.read_bytes())
        with pytest.raises(MediaError, match="it is a PNG image, not a video"):
            probe(str(renamed))
    clip = video(tmp_path / "clip.png", frames=5, fmt="mp4")
    assert probe(str(clip)).duration_s == pytest.approx(0.2, abs=0.05)
