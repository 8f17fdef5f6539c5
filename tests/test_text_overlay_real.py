"""text_overlay with real readers against text known to be on screen: EasyOCR's published weights
(../shared/models/easyocr, through the loader users run) and rapidocr's wheel models, on the same
clips, give the same tracks. Each clip is read once per reader (EasyOCR takes ~2 min here)."""

from __future__ import annotations

import functools
import re

import pytest
from conftest import MEDIA, SHARED_MODELS, link_models
from helpers import run_video

from pipeline.analyzers.text_tracks import same_text
from pipeline.sample import portrait_captions, write_clip
from pipeline.settings import Settings

READERS = ("rapidocr", "easyocr")
TESTVIDEO_LINES = ("Copyright © 2013 Brandon Castellano", "www.bcastell.com")


@pytest.fixture(scope="module")
def read(tmp_path_factory, media, shared_models):
    models = link_models(
        tmp_path_factory.mktemp("ocr-models"),
        {f"easyocr/{name}": SHARED_MODELS / "easyocr" / name for name in ("craft_mlt_25k.pth", "english_g2.pth")},
    )
    portrait = write_clip(str(tmp_path_factory.mktemp("portrait") / "portrait.mp4"), portrait_captions())
    clips = {"testvideo": MEDIA / "pyscenedetect" / "testvideo.mp4", "counter": MEDIA / "pyscenedetect" / "counter.mp4", "portrait": portrait}

    @functools.cache
    def result(clip: str, reader: str):
        settings = Settings(models_dir=models, text_overlay={"reader": reader})
        found = run_video(clips[clip], "text_overlay", settings).analyzers["text_overlay"]
        assert found.status.value == "ok", (found.error, found.reason)
        assert found.summary.backend == reader
        return found

    return result


def letters(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row, last = [i], row
        for j, cb in enumerate(b, 1):
            row.append(min(last[j] + 1, row[j - 1] + 1, last[j - 1] + (ca != cb)))
    return row[-1]


@pytest.mark.parametrize("reader", READERS)
def test_testvideo_two_persistent_lines_and_no_caption(read, reader):
    found = read("testvideo", reader)
    assert found.summary.text_track_count == 2, [s.data.text for s in found.segments]
    assert all(s.data.persistent and not s.data.is_caption for s in found.segments)
    assert not found.summary.has_captions
    for line in TESTVIDEO_LINES:  # up to one character per word
        assert min(edits(letters(s.data.text), letters(line)) for s in found.segments) <= len(line.split()), (
            line,
            [s.data.text for s in found.segments],
        )


@pytest.mark.parametrize("reader", READERS)
def test_counter_frame_numbers_agree_with_frame_times(read, reader):
    found = read("counter", reader)
    frames = {}
    for s in found.segments:
        if m := re.fullmatch(r"frame\s*=?\s*(\d+)", s.data.text.strip().casefold()):
            frames[int(m.group(1))] = s
    assert sorted(frames) == [1, 6, 11, 16, 21, 26], [s.data.text for s in found.segments]
    for n, track in frames.items():  # 10 fps: frame n is shown at (n - 1) / 10 s
        assert track.start_s == pytest.approx((n - 1) * 0.1, abs=0.01)


@pytest.mark.parametrize("reader", READERS)
def test_portrait_captions_over_moving_signs(read, reader):
    found = read("portrait", reader)
    for caption in portrait_captions().captions:
        [track] = [s for s in found.segments if same_text(s.data.text, caption.text)]
        assert (track.start_s, track.end_s) == (pytest.approx(caption.start_s, abs=0.02), pytest.approx(caption.end_s, abs=0.02))
        assert track.data.is_caption, track
    for s in found.segments:  # no one- or two-character fragment unless it stays readable for 1 s
        assert len(letters(s.data.text)) > 2 or s.end_s - s.start_s >= 1.0, s


@pytest.mark.parametrize("clip", ["testvideo", "portrait"])
def test_both_readers_give_the_same_tracks(read, clip):
    def tracks(reader):
        return sorted((round(s.start_s, 1), round(s.end_s, 1), s.data.is_caption, s.data.persistent) for s in read(clip, reader).segments)

    assert tracks("rapidocr") == tracks("easyocr")
