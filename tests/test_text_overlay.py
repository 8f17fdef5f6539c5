"""text_overlay: the offline default (rapidocr) against text known to be in real and synthetic
videos; EasyOCR on random weights (tests/model_factory.py; structure only), and on its published
ones (../shared/models) where concurrent requests share its reads; and the tracking, change
detection and odd inputs, which the analyzer's own code decides."""

from __future__ import annotations

import re
import zipfile
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import link_models
from helpers import run_video
from model_factory import EASYOCR_READS, easyocr_md5s

from actors import ocr
from actors.ocr import EASYOCR_WEIGHTS, OcrRuntime
from pipeline.analyzer import Context, FrameBatch, Partials
from pipeline.analyzers.text_overlay import EASYOCR_GPU_GB, TextOverlay, TextOverlaySegment, TextOverlaySummary
from pipeline.analyzers.text_tracks import Line, handle_in, platform_mark, same_text
from pipeline.models import sha256
from pipeline.sample import ClipSpec, PlacedText, Shot, write_clip, write_placed_text_clip
from pipeline.schema import Status, VideoInfo, VideoResult
from pipeline.settings import Settings, SettingsError

NAME = "text_overlay"
READ_AS = EASYOCR_READS  # what the generated EasyOCR recognizer reads anywhere


@pytest.fixture
def rapidocr(tmp_path) -> Settings:
    """The offline default, whatever weights a models directory holds."""
    return Settings(models_dir=tmp_path / "models", text_overlay={"reader": "rapidocr"})


class Worker:
    """text_overlay set up as a worker sets it up: the ocr family's runtime loaded for it, each
    batch read by the runtime, then analysed."""

    def __init__(self, settings: Settings) -> None:
        self.analyzer = TextOverlay(settings)
        self.runtime = OcrRuntime(settings)
        self.runtime.load(self.analyzer)
        self.analyzer.setup()

    def process_frames(self, batch: FrameBatch):
        return self.analyzer.process_frames(batch, self.runtime.predict(batch, frozenset({NAME})))

    def finalize(self, partials: Partials, context: Context):
        return self.analyzer.finalize(partials, context)


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Worker:
    """One set-up analyzer (rapidocr) for the tests that call process_frames directly."""
    return Worker(Settings(models_dir=tmp_path_factory.mktemp("models"), text_overlay={"reader": "rapidocr"}))


def analyse(path, settings: Settings):
    result = run_video(path, NAME, settings)
    text = result.analyzers[NAME]
    assert text.status == Status.ok, (text.error, text.reason)
    return result, text


def check_well_formed(result, duration_s):
    for s in result.segments:
        assert 0.0 <= s.start_s < s.end_s <= duration_s + 1e-3
        assert isinstance(s.data, TextOverlaySegment)
        assert isinstance(s.data.text, str) and s.data.text
        assert 0.0 <= s.confidence <= 1.0
        x0, y0, x1, y1 = s.data.box
        assert 0.0 <= x0 <= x1 <= 1.0 and 0.0 <= y0 <= y1 <= 1.0
        assert s.data.position in ("top", "centre", "caption_band")


# --- truth: text known to be in the pictures ------------------------------------------------


def test_reads_the_copyright_line_of_testvideo(media, rapidocr):
    video, result = analyse(media / "pyscenedetect" / "testvideo.mp4", rapidocr)
    duration = video.video.duration_s
    assert result.summary.backend == "rapidocr"
    for wanted in ("Copyright", "bcastell.com"):
        [track] = [s for s in result.segments if wanted in s.data.text]
        # Burned in from the first picture after the opening black to the end.
        assert track.start_s <= 1.0 and track.end_s == pytest.approx(duration, abs=1e-3)
        assert track.data.position == "caption_band"
        # On screen all along: a credit, not a caption.
        assert track.data.persistent and not track.data.is_caption
    assert result.summary.persistent_texts and not result.summary.has_captions
    # Change detection: only the samples that changed (new shots, fades) were read.
    assert result.summary.frames_read < result.summary.frames_sampled / 2
    check_well_formed(result, duration)


def test_counter_numbers_agree_with_frame_times(media, rapidocr):
    # Frame n (from 1) of this 10 fps clip shows "Frame = n" and "PTS = (n-1)/10 s".
    video, result = analyse(media / "pyscenedetect" / "counter.mp4", rapidocr)
    frames, stamps = {}, {}
    for s in result.segments:
        if m := re.fullmatch(r"Frame\s*=\s*(\d+)", s.data.text):
            frames[int(m.group(1))] = s
        elif m := re.fullmatch(r"PTS\s*=\s*(\d+\.\d)s", s.data.text):
            stamps[float(m.group(1))] = s
    # 2 fps over 3 s: the samples at 0, 0.5, ... 2.5 s show frames 1, 6, ... 26; every one changed.
    assert sorted(frames) == [1, 6, 11, 16, 21, 26]
    assert sorted(stamps) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    for n, track in frames.items():
        assert track.start_s == pytest.approx((n - 1) * 0.1, abs=0.01)
        assert track.end_s == pytest.approx(track.start_s + 0.5, abs=0.01)  # the next sample
    for pts, track in stamps.items():
        assert track.start_s == pytest.approx(pts, abs=0.01)
    assert result.summary.frames_read == result.summary.frames_sampled == 6
    assert not result.summary.has_captions  # each number lasts one sample: half a second
    check_well_formed(result, video.video.duration_s)


def test_finds_a_burned_in_caption_with_its_shot_times(tmp_path, rapidocr):
    spec = ClipSpec(
        shots=(
            Shot(2.0, (60, 140, 220), "pan", speed=60, seed=2),
            Shot(2.0, (230, 220, 80), "shake", text="LINK IN BIO", seed=4),
            Shot(1.5, (90, 200, 90), "static", seed=3),
        ),
        audio=None,
    )
    video, result = analyse(write_clip(str(tmp_path / "caption.mp4"), spec), rapidocr)
    [caption] = result.segments
    assert same_text(caption.data.text, "LINK IN BIO")
    assert (caption.start_s, caption.end_s) == (pytest.approx(2.0, abs=0.02), pytest.approx(4.0, abs=0.02))
    assert caption.data.position == "caption_band" and caption.data.is_caption
    assert not caption.data.persistent
    assert result.summary.caption_track_count == 1 and result.summary.has_captions
    assert result.summary.caption_coverage == pytest.approx(2.0 / spec.duration_s, abs=0.01)


# --- odd inputs ------------------------------------------------------------------------------


def test_a_video_without_text_gives_an_empty_result(tmp_path, rapidocr):
    spec = ClipSpec(shots=(Shot(1.5, (200, 80, 40), "pan", seed=1), Shot(1.0, (50, 80, 200), seed=2)), audio=None)
    _, result = analyse(write_clip(str(tmp_path / "plain.mp4"), spec), rapidocr)
    assert result.segments == []
    assert result.summary.text_track_count == 0 and result.summary.texts == []
    assert result.summary.text_coverage == 0.0 and not result.summary.has_captions


def test_a_one_frame_video(tmp_path, rapidocr):
    spec = ClipSpec(shots=(Shot(1 / 30, text="HELLO"),), audio=None)
    video, result = analyse(write_clip(str(tmp_path / "one.mp4"), spec), rapidocr)
    assert result.summary.frames_sampled == 1
    [track] = result.segments
    assert same_text(track.data.text, "HELLO")
    assert (track.start_s, track.end_s) == (0.0, pytest.approx(video.video.duration_s, abs=1e-3))


def test_a_4k_portrait_frame_and_frames_too_small_for_text(reader):
    frame = np.full((3840, 2160, 3), 90, np.uint8)
    cv2.putText(frame, "SALE 50% OFF", (200, 3100), cv2.FONT_HERSHEY_SIMPLEX, 6, (255, 255, 255), 14, cv2.LINE_AA)
    partial = reader.process_frames(FrameBatch(TextOverlay.frames, 0, np.array([0.0]), frame[None]))
    [[line]] = partial["lines"]
    assert same_text(line.text, "SALE 50% OFF")
    assert 0.7 < line.box[1] < line.box[3] < 0.85  # the text's rows, as fractions of 3840

    noise = np.random.default_rng(0).integers(0, 256, (2, 9, 17, 3), dtype=np.uint8)
    assert reader.process_frames(FrameBatch(TextOverlay.frames, 0, np.array([0.0, 0.5]), noise))["lines"] == [[], []]
    one_pixel = np.zeros((1, 1, 1, 3), np.uint8)
    assert reader.process_frames(FrameBatch(TextOverlay.frames, 0, np.array([0.0]), one_pixel))["lines"] == [[]]


# --- change detection and tracking -----------------------------------------------------------


def caption_frame(text: str | None) -> np.ndarray:
    frame = np.full((360, 640, 3), 60, np.uint8)
    if text:
        cv2.putText(frame, text, (120, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3, cv2.LINE_AA)
    return frame


def info(duration_s: float) -> VideoInfo:
    return VideoInfo(
        path="x.mp4", duration_s=duration_s, size_bytes=0, container="mp4", has_video=True, has_audio=False
    )


def finalize(pts, frames: list[list[Line]], duration_s: float):
    """finalize on one partial holding `frames`' lines as if OCR had read every frame."""
    partial = {"backend": "test", "pts": np.asarray(pts, float), "lines": frames, "read": [True] * len(frames)}
    return TextOverlay().finalize(Partials(frames=[partial]), Context(info(duration_s), {}))


def test_batches_give_the_same_tracks_however_the_video_is_split(reader):
    pictures = [None, "HELLO WORLD", "HELLO WORLD", "HELLO WORLD", "GOODBYE", "GOODBYE"]
    frames = np.stack([caption_frame(p) for p in pictures])
    pts = np.arange(len(frames)) * 0.5
    whole = reader.process_frames(FrameBatch(TextOverlay.frames, 0, pts, frames))
    # Frames 1-3 are one picture: only the first of them is read (the blank frame 0 is not).
    assert whole["read"] == [False, True, False, False, True, False]
    split = [
        reader.process_frames(FrameBatch(TextOverlay.frames, 0, pts[:3], frames[:3])),
        reader.process_frames(FrameBatch(TextOverlay.frames, 1, pts[3:], frames[3:], frames[2], pts[2])),
    ]
    assert split[1]["lines"][0] is None  # like the frame before it: its text comes from the first batch
    context = Context(video=info(3.0), results={})
    one = reader.finalize(Partials(frames=[whole]), context)
    two = reader.finalize(Partials(frames=split), context)
    assert one.segments == two.segments
    assert [(s.data.text, s.start_s, s.end_s) for s in one.segments] == [
        ("HELLO WORLD", 0.5, 2.0),
        ("GOODBYE", 2.0, 3.0),
    ]
    assert one.summary.frames_read == 2 and two.summary.frames_read == 2


@pytest.fixture(params=["rapidocr", "easyocr"])
def either_reader(request, reader, tmp_path_factory) -> Worker:
    """rapidocr (the module's reader), or EasyOCR on its published weights (../shared/models)."""
    if request.param == "rapidocr":
        return reader
    shared = request.getfixturevalue("shared_models")
    models = link_models(
        tmp_path_factory.mktemp("ocr-models"),
        {f"easyocr/{name}": shared / "easyocr" / name for name in ("craft_mlt_25k.pth", "english_g2.pth")},
    )
    return Worker(Settings(models_dir=models, text_overlay={"reader": "easyocr"}))


def test_concurrent_batches_are_read_together_as_each_is_alone(either_reader, monkeypatch):
    """Two requests' batches (a Serve replica's Coalescer): the frames both ask to read go to
    the reader in one call (EasyOCR detects them in one forward), and each batch gets the lines
    it gets alone."""
    runtime = either_reader.runtime
    pts = np.array([0.0, 0.5])
    batches = [
        FrameBatch(TextOverlay.frames, 0, pts, np.stack([caption_frame(text)] * 2)) for text in ("HELLO WORLD", "GOODBYE")
    ]
    alone = [runtime.predict(b, frozenset({NAME})) for b in batches]
    calls: list[int] = []
    read = runtime.reader.read
    monkeypatch.setattr(runtime.reader, "read", lambda frames: calls.append(len(frames)) or read(frames))
    together = runtime.predict_many(batches, frozenset({NAME}))
    assert calls == [2]  # the first frame of each batch (the second is the same picture)
    assert [t.plan for t in together] == [a.plan for a in alone]
    assert [t.lines for t in together] == [a.lines for a in alone]
    assert [[line.text for line in t.lines[0]] for t in together] == [["HELLO WORLD"], ["GOODBYE"]]


def test_one_changed_letter_on_a_still_picture_is_read_again(reader):
    frames = []
    for text in ("Price 10", "Price 18", "Price 18"):
        frame = np.full((540, 960, 3), 40, np.uint8)  # capitals 14 px high, 60 grey levels over the background
        cv2.putText(frame, text, (300, 400), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (100, 100, 100), 1, cv2.LINE_AA)
        frames.append(frame)
    partial = reader.process_frames(FrameBatch(TextOverlay.frames, 0, np.array([0.0, 0.5, 1.0]), np.stack(frames)))
    assert partial["read"] == [True, True, False]


def test_tracks_join_readings_of_one_text_and_split_different_texts():
    bottom, top = (0.2, 0.8, 0.8, 0.9), (0.3, 0.05, 0.7, 0.12)
    frames = [
        [Line("Copyright © 2013", 0.9, bottom), Line("@handle", 0.8, top)],
        [Line("Copyright ©2013", 0.7, bottom), Line("@handle", 0.8, top)],
        [Line("Copyright © 2013", 0.9, bottom)],  # OCR missed the handle once: its track goes on
        [Line("COPYRIGHT © 2013", 0.9, bottom), Line("@handle", 0.8, top)],
        [Line("Copyright © 2014", 0.9, bottom)],  # another year: another text
    ]
    findings = finalize(np.arange(5) * 0.5, frames, 3.0)
    got = [(s.data.text, s.start_s, s.end_s, s.data.position, s.data.samples) for s in findings.segments]
    assert got == [  # in order of appearance, top to bottom
        ("@handle", 0.0, 2.0, "top", 3),
        ("Copyright © 2013", 0.0, 2.0, "caption_band", 4),
        ("Copyright © 2014", 2.0, 3.0, "caption_band", 1),  # the last sample's text lasts to the end
    ]
    assert findings.segments[1].confidence == pytest.approx((0.9 + 0.7 + 0.9 + 0.9) / 4)
    assert [s.data.is_caption for s in findings.segments] == [False, True, True]
    assert findings.summary.backend == "test"
    assert findings.summary.caption_coverage == 1.0 and findings.summary.text_coverage == 1.0


def test_a_text_gone_for_two_samples_starts_a_new_track():
    line = Line("HELLO", 0.9, (0.4, 0.45, 0.6, 0.55))
    frames = [[line], [], [], [line]]
    findings = finalize(np.arange(4) * 0.5, frames, 2.0)
    got = [(s.start_s, s.end_s, s.data.position) for s in findings.segments]
    assert got == [(0.0, 0.5, "centre"), (1.5, 2.0, "centre")]


def test_same_text():
    assert same_text("Brandon Castellano", "brandon  castellano")
    assert same_text("www.bcastell.com", "www.beastell.com")  # one letter misread
    assert not same_text("Frame = 1", "Frame = 6")
    assert not same_text("PTS = 1.0s", "PTS = 1.5s")
    assert not same_text("LINK IN BIO", "FOLLOW FOR MORE")


# --- cross-posting marks ----------------------------------------------------------------------


def test_a_moving_tiktok_mark_and_handle_are_a_watermark_and_a_caption_naming_tiktok_is_not(tmp_path, rapidocr):
    # TikTok's mark drifts, then jumps from the top left to the bottom right, its handle under it;
    # a caption in the middle says the platform's name among other words.
    texts = (
        PlacedText(0.0, 2.0, "TikTok", (0.2, 0.08), (0.3, 0.12), scale=0.8),
        PlacedText(0.0, 2.0, "@reel.maker", (0.22, 0.13), (0.32, 0.17), scale=0.6),
        PlacedText(2.0, 4.0, "TikTok", (0.75, 0.80), (0.7, 0.76), scale=0.8),
        PlacedText(2.0, 4.0, "@reel.maker", (0.77, 0.85), (0.72, 0.81), scale=0.6),
        PlacedText(0.5, 3.5, "FOLLOW ME ON TIKTOK", (0.5, 0.45)),
    )
    _, result = analyse(write_placed_text_clip(str(tmp_path / "tiktok.mp4"), texts, 4.0), rapidocr)
    mark = result.summary.watermark
    assert (mark.platform, mark.mark, mark.handle) == ("tiktok", "TikTok", "@reel.maker")
    assert mark.times == [[0.0, 4.0]]  # one span: the jump keeps the track (it reads the same)
    assert any(same_text(s.data.text, "FOLLOW ME ON TIKTOK") for s in result.segments)


def test_a_shorts_mark_with_its_handle_on_one_line(tmp_path, rapidocr):
    texts = (PlacedText(0.5, 3.0, "Shorts", (0.15, 0.9), scale=0.8), PlacedText(0.5, 3.0, "@clipper_01", (0.5, 0.9), scale=0.6))
    _, result = analyse(write_placed_text_clip(str(tmp_path / "shorts.mp4"), texts, 3.0), rapidocr)
    mark = result.summary.watermark
    assert (mark.platform, mark.handle, mark.times) == ("youtube_shorts", "@clipper_01", [[0.5, 3.0]])


def test_what_reads_as_a_platform_mark():
    assert platform_mark("TikTok") == platform_mark("Tik Tok") == platform_mark("TikTok @someone") == "tiktok"
    assert platform_mark("TikTak") == "tiktok"  # one letter misread
    assert platform_mark("Reels") == platform_mark("Instagram") == "instagram_reels"
    assert platform_mark("YouTube Shorts") == platform_mark("Shorts @x_y") == "youtube_shorts"
    for caption in ("FOLLOW ME ON TIKTOK", "my reels", "shortstop", "LINK IN BIO", "@handle"):
        assert platform_mark(caption) is None, caption
    assert handle_in("@reel.maker") == "@reel.maker" and handle_in("Shorts @ clipper_01") == "@clipper_01"
    assert handle_in("email me") is None


def test_without_a_mark_there_is_no_watermark():
    line = Line("@handle", 0.9, (0.3, 0.05, 0.7, 0.12))  # a handle alone is not a platform's mark
    assert finalize(np.arange(3) * 0.5, [[line]] * 3, 1.5).summary.watermark is None


# --- EasyOCR: the user's choice, on random weights -------------------------------------------


@pytest.fixture
def tiny_easyocr(vision_models_dir, monkeypatch) -> Settings:
    """The session's models directory, whose EasyOCR weights are random but for their last layers
    (tests/model_factory.py: CRAFT finds the whole frame, the recognizer reads READ_AS).
    Both checks of the file are pointed at these generated files, in this process only (the
    test runs the pipeline locally): our Weights entries are pinned to their SHA-256 instead of
    the published one, and EasyOCR's own MD5 table (it checks every model file even with
    downloads disabled, and has no switch for it) to their MD5. Real weights need neither."""
    from easyocr.config import detection_models, recognition_models

    pinned = tuple(replace(w, sha256=sha256(vision_models_dir / w.name)) for w in EASYOCR_WEIGHTS)
    monkeypatch.setattr(ocr, "EASYOCR_WEIGHTS", pinned)
    md5s = easyocr_md5s(vision_models_dir)
    monkeypatch.setitem(detection_models["craft"], "md5sum", md5s["craft"])
    monkeypatch.setitem(recognition_models["gen2"]["english_g2"], "md5sum", md5s["english_g2"])
    return Settings(models_dir=vision_models_dir)  # the default reader: EasyOCR, since its weights are here


def test_easyocr_is_the_default_when_its_weights_are_present(tmp_path, tiny_easyocr):
    # A plain static shot: a caption's edges came out of x264 on this machine with exactly
    # CHANGE_PIXELS pixels moved by 16 levels between its two samples (encoder noise at the threshold).
    spec = ClipSpec(
        shots=(Shot(1.0, (230, 220, 80), seed=4), Shot(1.0, (60, 140, 220), "pan", seed=2)),
        audio=None,
    )
    video, result = analyse(write_clip(str(tmp_path / "clip.mp4"), spec), tiny_easyocr)
    assert result.summary.backend == "easyocr"
    # The static first shot is read once, each sample of the pan again.
    assert (result.summary.frames_sampled, result.summary.frames_read) == (4, 3)
    check_well_formed(result, video.video.duration_s)
    # The generated models find the whole frame and read it as READ_AS, in every sample: one
    # track over the whole video.
    [track] = result.segments
    assert track.data.text == READ_AS and track.data.samples == 4
    assert (track.start_s, track.end_s) == (0.0, pytest.approx(video.video.duration_s, abs=1e-3))
    assert track.data.box == pytest.approx([0.0, 0.0, 1.0, 1.0], abs=0.05)
    assert track.data.position == "centre" and track.data.persistent
    assert [(m.id, m.backend, m.device, m.dtype) for m in result.models] == [
        ("craft_mlt_25k.pth", "easyocr", "cpu", "float32"),
        ("english_g2.pth", "easyocr", "cpu", "float32"),
    ]
    assert [m.sha256 for m in result.models] == [w.sha256 for w in ocr.EASYOCR_WEIGHTS]


def test_easyocr_weights_other_than_the_published_ones_fail_naming_both_digests(vision_models_dir, sample_clip):
    # The generated files under the real pin: what a user gets from a wrong or corrupted download.
    settings = Settings(models_dir=vision_models_dir, text_overlay={"reader": "easyocr"})
    result = run_video(sample_clip, NAME, settings).analyzers[NAME]
    assert result.status == Status.failed
    craft = vision_models_dir / EASYOCR_WEIGHTS[0].name
    assert f"at {craft}:" in result.error and "\n" not in result.error
    assert f"expected sha256 {EASYOCR_WEIGHTS[0].sha256}, found {sha256(craft)}" in result.error
    assert "reelscope models download --analyzers text_overlay" in result.error


def test_missing_easyocr_weights_skip_with_the_path(tmp_path, sample_clip):
    settings = Settings(models_dir=tmp_path / "empty", text_overlay={"reader": "easyocr"})
    result = run_video(sample_clip, NAME, settings).analyzers[NAME]
    assert result.status == Status.skipped
    assert "craft_mlt_25k" in result.reason and str(tmp_path / "empty") in result.reason


def test_a_hub_archive_in_place_of_the_model_skips_saying_how_to_unpack_it(tmp_path, sample_clip):
    # EasyOCR's hub serves each model as a zip holding the file: saved as is under the model's name,
    # EasyOCR would fail on its MD5.
    for weights in EASYOCR_WEIGHTS:
        path = tmp_path / weights.name
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.name, b"model")
    settings = Settings(models_dir=tmp_path, text_overlay={"reader": "easyocr"})
    result = run_video(sample_clip, NAME, settings).analyzers[NAME]
    assert result.status == Status.skipped
    assert "zip archive" in result.reason and "unzip" in result.reason


def test_an_unknown_reader_is_refused_at_start_naming_the_setting():
    with pytest.raises(SettingsError) as refused:
        Settings.load(text_overlay={"reader": "tesseract"})
    message = str(refused.value)
    assert "setting text_overlay.reader (REELSCOPE_TEXT_OVERLAY__READER)" in message and "\n" not in message
    assert "'auto', 'rapidocr' or 'easyocr'" in message


# --- what a worker reserves, and the document read back ----------------------------------------


def test_gpu_memory_is_reserved_only_for_the_reader_that_runs_on_a_gpu(tmp_path, vision_models_dir):
    def gpu_gb(models_dir, reader):
        return TextOverlay.resources_for(Settings(models_dir=models_dir, text_overlay={"reader": reader})).gpu_memory_gb

    empty = tmp_path / "empty"
    assert gpu_gb(empty, "rapidocr") == gpu_gb(vision_models_dir, "rapidocr") == 0.0  # onnxruntime on the CPU
    assert gpu_gb(empty, "easyocr") == gpu_gb(vision_models_dir, "easyocr") == EASYOCR_GPU_GB
    assert gpu_gb(empty, "auto") == 0.0  # no EasyOCR weights: rapidocr reads
    assert gpu_gb(vision_models_dir, "auto") == EASYOCR_GPU_GB  # its weights are here: EasyOCR reads
    assert TextOverlay.resources_for(Settings()).cpus == 1.0


def test_the_document_reads_back_typed(tmp_path, rapidocr):
    spec = ClipSpec(shots=(Shot(1.5, (230, 220, 80), "static", text="LINK IN BIO", seed=4),), audio=None)
    video, result = analyse(write_clip(str(tmp_path / "caption.mp4"), spec), rapidocr)
    again = VideoResult.model_validate_json(video.to_json())
    read_back = again.analyzers[NAME]
    assert read_back == result
    assert type(read_back.summary) is TextOverlaySummary and read_back.segments
    assert all(type(s.data) is TextOverlaySegment for s in read_back.segments)
