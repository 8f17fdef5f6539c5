"""The corpus view's comparisons, without Ray: Chromaprint fingerprints of generated songs under
generated voices (same sound found, other sounds not), pHashes of keyframes re-encoded and
cropped (same footage found, other footage and flat frames not), and the grouping."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import librosa
import numpy as np
import pytest

from pipeline import corpus, fingerprint
from pipeline.analyzers.cuts import jpeg_thumbnail
from pipeline.corpus_sample import RATE, song, voice
from pipeline.sample import Shot, render_frames, ClipSpec

SECONDS = 15.0


def prints(track: np.ndarray) -> np.ndarray:
    """The fingerprint audio_analysis takes: of the track decoded to 16 kHz mono."""
    return fingerprint.chromaprint(librosa.resample(track, orig_sr=RATE, target_sr=16_000), 16_000)


@pytest.fixture(scope="module")
def tracks() -> dict[str, np.ndarray]:
    s0, s1, s2 = (song(seed, SECONDS) for seed in (1, 2, 3))
    v0, v1, v2 = (voice(seed, SECONDS) for seed in (101, 102, 103))
    late = np.concatenate([np.zeros(3 * RATE, np.float32), s0[: int((SECONDS - 3) * RATE)]])  # s0, 3 s in
    return {
        "s0": s0,
        "s0+v0": s0 + v0,
        "s0+v1": s0 + v1,
        "s0 late+v2": late + v2,
        "s1+v0": s1 + v0,  # another song under the first voice
        "s1+v2": s1 + v2,
        "s2": s2,
        "v1": v1,  # a voice alone
    }


SAME = {("s0", "s0+v0"), ("s0", "s0+v1"), ("s0", "s0 late+v2"), ("s0+v0", "s0+v1"), ("s0+v0", "s0 late+v2"),
        ("s0+v1", "s0 late+v2"), ("s1+v0", "s1+v2")}  # fmt: skip


def test_same_song_under_different_voices_matches_and_nothing_else_does(tracks):
    names = list(tracks)
    fingerprints = [prints(tracks[n]) for n in names]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            best = fingerprint.best_alignment(fingerprints[i], fingerprints[j])
            assert best is not None and best.same_sound == ((names[i], names[j]) in SAME), (names[i], names[j], best)
    # The corpus search (LSH candidates, then verification) finds the same pairs as comparing all of them.
    found = fingerprint.same_sound_pairs(fingerprints)
    assert {(names[i], names[j]) for i, j in found} == SAME
    late = found[(names.index("s0"), names.index("s0 late+v2"))]
    assert late.offset_s == pytest.approx(3.0, abs=fingerprint.ITEM_S)  # the song starts 3 s later there
    assert found[(names.index("s0"), names.index("s0+v0"))].offset == 0


def test_a_steady_tone_or_silence_matches_nothing():
    t = np.arange(int(SECONDS * RATE)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    hum = prints(tone)
    assert fingerprint.best_alignment(hum, prints(tone * 0.5)) is None  # mostly repeats: no claim either way
    assert fingerprint.same_sound_pairs([hum, prints(tone * 0.5), prints(np.zeros_like(tone) + 1e-4)]) == {}


def test_no_fingerprint_says_why(monkeypatch, tmp_path):
    with pytest.raises(fingerprint.FingerprintUnavailable, match="too short to fingerprint"):
        prints(song(1, 2.0))  # Chromaprint needs about 3 s
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without fpcalc
    with pytest.raises(fingerprint.FingerprintUnavailable, match="fpcalc is not installed"):
        prints(song(1, SECONDS))


def test_fingerprint_round_trips_through_base64(tracks):
    items = prints(tracks["s0"])
    assert np.array_equal(fingerprint.decode(fingerprint.encode(items)), items)


def frame_of(seed: int, width: int = 360, height: int = 640) -> np.ndarray:
    spec = ClipSpec((Shot(1.0, ((50 * seed + 60) % 255, 120, (200 - 30 * seed) % 255), seed=seed),), width=width, height=height, audio=None)
    return next(render_frames(spec))[1]


def thumbnail(frame: np.ndarray) -> str:
    return base64.b64encode(jpeg_thumbnail(frame)).decode()


def reuploaded(frame: np.ndarray, crop: float) -> np.ndarray:
    """Cropped by `crop` a side, rescaled to another size, JPEG-compressed hard."""
    h, w = frame.shape[:2]
    cut = frame[int(h * crop) : h - int(h * crop), int(w * crop) : w - int(w * crop)]
    ok, encoded = cv2.imencode(".jpg", cv2.resize(cut, (540, 960)), [cv2.IMWRITE_JPEG_QUALITY, 35])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("crop", [0.0, 0.03, 0.05, 0.07, 0.1])
def test_a_reencoded_cropped_keyframe_matches_its_original_and_no_other(crop):
    originals = {seed: corpus.keyframe_hashes(thumbnail(frame_of(seed))) for seed in range(1, 9)}
    for seed, hashes in originals.items():
        copy = corpus.keyframe_hashes(thumbnail(reuploaded(frame_of(seed), crop)))
        distances = {other: _distance(copy, h) for other, h in originals.items()}
        assert distances[seed] <= corpus.FOOTAGE_MAX_BITS, (seed, distances)
        assert min(d for other, d in distances.items() if other != seed) > corpus.FOOTAGE_MAX_BITS, (seed, distances)


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    """As shot_matches measures: one side whole against every crop of the other."""
    return int(min(np.bitwise_count(a[0] ^ b).min(), np.bitwise_count(a ^ b[0]).min()))


def test_a_flat_keyframe_is_not_hashed():
    black = np.zeros((640, 360, 3), np.uint8)
    assert corpus.keyframe_hashes(thumbnail(black)) is None
    assert corpus.keyframe_hashes(thumbnail(black + np.uint8(200))) is None


def entry(name: str, seeds: list[int], crop: float = 0.0) -> corpus.Entry:
    made = corpus.Entry(id=name, path=Path(f"{name}.json"), status="ok", shots=len(seeds))
    for index, seed in enumerate(seeds):
        frame = reuploaded(frame_of(seed), crop) if crop else frame_of(seed)
        made.keyframes.append(corpus.Keyframe(index, index, index + 1, thumb := thumbnail(frame), corpus.keyframe_hashes(thumb)))
    return made


def test_footage_groups_tell_a_reupload_from_a_reused_clip():
    entries = [entry("a", [1, 2, 3]), entry("b", [4, 5]), entry("a-reupload", [1, 2, 3], crop=0.05), entry("c", [6, 2])]
    [group] = corpus.footage_groups(entries)
    assert group.videos == ["a", "a-reupload", "c"]  # b shares nothing
    pairs = {(p.a, p.b): p for p in group.footage}
    assert pairs[("a", "a-reupload")].reupload and len(pairs[("a", "a-reupload")].shots) == 3
    reused = pairs[("a", "c")]
    assert not reused.reupload and [(m.shot_a, m.shot_b) for m in reused.shots] == [(1, 1)]


def test_union_find_groups():
    entries = [corpus.Entry(id=x, path=Path(x)) for x in "abcdefg"]
    groups = corpus._groups(entries, [("a", "c"), ("e", "d"), ("c", "f"), ("f", "a")])
    assert [g.videos for g in groups] == [["a", "c", "f"], ["d", "e"]]


def test_audio_analysis_keeps_the_fingerprint_or_says_why_not(tmp_path, monkeypatch):
    """The fingerprint audio_analysis writes is fpcalc's of the decoded track; without fpcalc the
    analysis still succeeds, its fingerprint None with the reason."""
    from helpers import analyse

    from pipeline.corpus_sample import write_clip_with_audio

    track = song(1, SECONDS) + voice(101, SECONDS)
    clip = write_clip_with_audio(str(tmp_path / "clip.mp4"), ClipSpec((Shot(SECONDS),), fps=10, width=64, height=64, audio=None), track)
    summary = analyse(clip, "audio_analysis").summary
    assert summary.fingerprint_absent is None and summary.fingerprint.item_count == len(fingerprint.decode(summary.fingerprint.raw_b64))
    kept = fingerprint.best_alignment(fingerprint.decode(summary.fingerprint.raw_b64), prints(track))
    assert kept.offset == 0 and kept.matched_share > 0.95  # the same sound, through AAC and the decoder
    monkeypatch.setenv("PATH", str(tmp_path))
    summary = analyse(clip, "audio_analysis").summary
    assert summary.fingerprint is None and "fpcalc is not installed" in summary.fingerprint_absent


def test_the_page_says_which_video_has_the_sound_later(tracks, tmp_path):
    from pipeline.report.corpus import page_data

    entries = []
    for name in ("s0", "s0 late+v2", "s2"):
        entries.append(corpus.Entry(id=name, path=tmp_path / f"{name}.json", status="ok", fingerprint=prints(tracks[name])))
    built = corpus.Corpus(tmp_path, entries, [], [], corpus.sound_groups(entries))
    [group] = page_data(built, tmp_path).sound
    assert [v for v, _ in group.videos] == ["s0", "s0 late+v2"]
    assert "the sound comes 3.0 s later in s0 late+v2 than in s0" in group.pairs[0].what


def test_figures_the_documents_carry_beyond_the_parquet_columns(sample_clip, tmp_path):
    """The sample's two hard cuts (3.0 and 8.0 s) fall on its 120 bpm clicks: on_beat_share 1.0 from
    cross_analyzer_intelligence's beat_sync; the hook's first text was not read (no text_overlay):
    no value, so no distribution for it."""
    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local

    plan = Plan.build(["cut_analysis", "audio_analysis", "cross_analyzer_intelligence"])
    [result] = run_local([VideoRequest("sample", str(sample_clip))], plan)
    (tmp_path / "sample.json").write_text(result.to_json())
    built = corpus.build(tmp_path)
    [entry] = built.entries
    assert entry.figures["on_beat_share"] == 1.0 and entry.figures["hook_first_text_s"] is None
    columns = [column for column, _ in built.figures]
    assert "on_beat_share" in columns and "hook_first_text_s" not in columns
