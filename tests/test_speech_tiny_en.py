"""The speech analyzers on a real Whisper (tiny.en from ../shared/models, through the loader users
run) against truth nobody here wrote: JFK's inaugural line (text, language, the word over
t = 1.8 s, where speech ends), the two speakers of faster-whisper's stereo_diarization.wav (one
per channel), and clips with no speech. speech_rate and speech_flow then read that real
transcript; their expected values are derived from the truth text and times.
Skipped, with the reason, where ../shared is absent."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import soundfile
from conftest import link_models
from helpers import analyse

from actors.whisper import MODELS
from pipeline.analyzers.speech_flow import DISCOURSE_MARKERS, HESITATIONS
from pipeline.analyzers.whisper import Word
from pipeline.engine.decode import Decoder
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status
from pipeline.settings import Settings

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
LEFT = "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
RIGHT = "The horizon seems extremely distant."
TINY_EN = MODELS["tiny.en"].weights
RATE = 16_000


def bare(text: str) -> list[str]:
    """Words, case and punctuation aside."""
    return re.findall(r"[a-z0-9']+", text.lower())


def words_of(result: AnalyzerResult, speaker: str | None = None) -> list[Word]:
    return [w for s in result.segments if s.data.speaker == speaker for w in s.data.words]


def said(result: AnalyzerResult, speaker: str | None = None) -> list[str]:
    return bare(" ".join(w.word for w in words_of(result, speaker)))


def tiny_en_settings(models_dir) -> Settings:
    return Settings(models_dir=models_dir, speech_transcription={"model": "tiny.en"})


@pytest.fixture
def tiny_en(shared_models, tmp_path) -> Settings:
    """Settings choosing tiny.en, in a models directory linking the real one."""
    models = link_models(tmp_path / "models", {TINY_EN.name: shared_models / "faster-whisper-tiny.en"})
    return tiny_en_settings(models)


@pytest.fixture(scope="module")
def jfk_mono(media) -> np.ndarray:
    [track] = list(Decoder(str(media / "faster-whisper" / "jfk.flac"), [], True))
    return track.samples


def write_stereo(path, left: np.ndarray, right: np.ndarray):
    soundfile.write(path, np.stack([left, right], axis=1).astype(np.float32), RATE, subtype="FLOAT")
    return path


def delayed(samples: np.ndarray, seconds: float, length: int) -> np.ndarray:
    """`samples` starting `seconds` later, in a track of `length` samples."""
    out = np.zeros(length, np.float32)
    start = round(seconds * RATE)
    part = samples[: length - start]
    out[start : start + len(part)] = part
    return out


def test_jfk_text_language_and_times(tiny_en, media):
    result = analyse(media / "faster-whisper" / "jfk.flac", "speech_transcription", tiny_en)
    assert result.status == Status.ok, result.error
    summary = result.summary
    assert said(result) == bare(JFK) and bare(summary.text) == bare(JFK)
    assert summary.language == "en" and summary.model == TINY_EN.source
    americans = [w for w in words_of(result) if bare(w.word) == ["americans"]]
    assert len(americans) == 1 and americans[0].start_s < 1.8 < americans[0].end_s
    assert summary.speech_start_s < 1.0 and 10.0 <= summary.speech_end_s <= 11.0
    # jfk.flac is stereo whose channels carry the one voice: transcribed as the mono mix.
    assert (summary.channels, summary.speakers) == ("mixed", None)
    assert summary.channel_correlation > 0.99
    [whisper, vad] = result.models
    assert (whisper.id, whisper.backend, (whisper.device, whisper.dtype)) == (
        TINY_EN.source, "ctranslate2", ("cpu", "int8") if whisper.device == "cpu" else ("cuda", "float16"))  # fmt: skip
    assert vad.id.endswith("silero_vad_v6.onnx") and len(vad.sha256) == 64


def no_speech(kind: str, tmp_path):
    seconds = np.arange(6 * RATE) / RATE
    if kind == "silence":
        samples = np.zeros_like(seconds)
    elif kind == "chord":  # a sustained A major chord with a slow tremolo: music, not speech
        samples = sum(np.sin(2 * np.pi * f * seconds) for f in (220.0, 277.2, 329.6)) / 6
        samples *= 0.75 + 0.25 * np.sin(2 * np.pi * 3 * seconds)
    else:  # a clip with a 120 bpm click track over a tone (pipeline.sample)
        spec = ClipSpec(shots=(Shot(6.0),), fps=10, width=64, height=64, audio=AudioSpec(bpm=120))
        return write_clip(str(tmp_path / "clicks.mp4"), spec)
    path = tmp_path / f"{kind}.wav"
    soundfile.write(path, samples.astype(np.float32), RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize("kind", ["silence", "chord", "clicks"])
def test_no_speech_no_words(tiny_en, tmp_path, kind):
    result = analyse(no_speech(kind, tmp_path), "speech_transcription", tiny_en)
    assert result.status == Status.ok, result.error
    assert result.segments == [] and result.summary.word_count == 0 and result.summary.text == ""


def test_two_microphones_two_speakers(tiny_en, media):
    """stereo_diarization.wav: a different sentence on each channel, partly at once."""
    result = analyse(media / "faster-whisper" / "stereo_diarization.wav", "speech_transcription", tiny_en)
    assert result.status == Status.ok, result.error
    summary = result.summary
    assert (summary.channels, summary.speakers) == ("separate", ["left", "right"])
    assert said(result, "left") == bare(LEFT)
    assert said(result, "right") == bare(RIGHT)
    assert said(result, None) == []
    assert summary.word_count == len(bare(LEFT)) + len(bare(RIGHT))


@pytest.mark.parametrize("crosstalk", [0.1, 0.3])
def test_crosstalk_is_not_a_second_copy(tiny_en, media, jfk_mono, tmp_path, crosstalk):
    """An interview on two lapel mics: JFK on the left (0-11 s), the right speaker from 12 s, each
    also heard on the other mic 2 ms later at -20 or -10 dB. Each sentence once, on its own side."""
    right, _ = soundfile.read(media / "faster-whisper" / "stereo_diarization.wav", dtype="float32")
    length = 15 * RATE
    a, b = delayed(jfk_mono, 0.0, length), delayed(right[:, 1], 12.0, length)
    path = write_stereo(
        tmp_path / "interview.wav", a + crosstalk * delayed(b, 0.002, length), b + crosstalk * delayed(a, 0.002, length)
    )
    result = analyse(path, "speech_transcription", tiny_en)
    assert result.status == Status.ok, result.error
    assert (result.summary.channels, result.summary.speakers) == ("separate", ["left", "right"])
    assert said(result, "left") == bare(JFK)
    assert said(result, "right") == bare(RIGHT)
    assert all(s.start_s >= 11.5 for s in result.segments if s.data.speaker == "right")


@pytest.mark.parametrize("stereo", ["identical", "panned", "spaced pair"])
def test_one_voice_in_stereo_is_one_speaker(tiny_en, jfk_mono, tmp_path, stereo):
    """The same speech on both channels (dual mono), panned 6 dB to the left, or picked up by two
    mics 1.5 ms and 6 dB apart: the mono mix is transcribed, speaker None, as for a mono file."""
    other = {"identical": jfk_mono, "panned": 0.5 * jfk_mono}.get(stereo)
    if other is None:
        other = 0.5 * delayed(jfk_mono, 0.0015, len(jfk_mono))
    result = analyse(write_stereo(tmp_path / "one-voice.wav", jfk_mono, other), "speech_transcription", tiny_en)
    assert result.status == Status.ok, result.error
    assert (result.summary.channels, result.summary.speakers) == ("mixed", None)
    assert {s.data.speaker for s in result.segments} == {None}
    if stereo == "spaced pair":
        # The delay comb-filters the mono mix, and tiny.en loses a word or two of it; never a
        # second copy of any.
        assert 0.9 * len(bare(JFK)) <= result.summary.word_count <= len(bare(JFK))
    else:
        assert said(result) == bare(JFK)


def test_rate_and_fillers_from_the_real_transcript(tiny_en, media):
    path = media / "faster-whisper" / "jfk.flac"
    plan = Plan.build(["speech_rate", "speech_flow", "speech_transcription"], settings=tiny_en)
    [video] = run_local([VideoRequest("jfk", str(path))], plan)
    rate, flow = video.analyzers["speech_rate"], video.analyzers["speech_flow"]
    assert rate.status == flow.status == Status.ok
    truth = bare(JFK)
    # Words per minute: the truth's 22 words over the transcript's span (first word's start to
    # last word's end), which the truth bounds: speech starts under 1 s and ends in 10-11 s.
    summary = rate.summary
    assert summary.method == "transcript" and summary.word_count == len(truth) == 22
    assert summary.words_per_minute == pytest.approx(60 * len(truth) / summary.span_s, abs=0.01)
    assert 60 * len(truth) / 11.0 <= summary.words_per_minute <= 60 * len(truth) / 9.0
    assert summary.articulation_words_per_minute >= summary.words_per_minute
    # Fillers: the hesitations and discourse markers the truth holds (none: "you, ask" is not
    # "you know").
    expected = sum(w in HESITATIONS for w in truth)
    expected += sum(tuple(truth[i : i + len(m)]) == m for m in DISCOURSE_MARKERS for i in range(len(truth)))
    assert flow.summary.fillers_from == "transcript"
    assert flow.summary.filler_count == expected == 0 and flow.summary.filler_words == {}
    [vad] = flow.models
    assert vad.id.startswith("silero-vad") and vad.backend == "onnxruntime" and len(vad.sha256) == 64


# ---- tiny.en is pinned: the files and digests of ../shared/models/README.md ----


def test_pinned_digests_are_the_published_ones(shared_models):
    table = dict(
        reversed(line.split("  ", 1))
        for line in (shared_models / "README.md").read_text().splitlines()
        if line.endswith(tuple(f"faster-whisper-tiny.en/{name}" for name, _ in TINY_EN.known_sha256))
    )
    assert {name: table[f"faster-whisper-tiny.en/{name}"] for name, _ in TINY_EN.known_sha256} == dict(TINY_EN.known_sha256)
    assert len(table) == 4 and set(TINY_EN.files) | {"config.json"} == set(dict(TINY_EN.known_sha256))


@pytest.mark.parametrize("wrong", ["no tokenizer.json", "another vocabulary.txt"])
def test_a_wrong_tiny_en_folder_fails_in_one_line(shared_models, tmp_path, media, wrong):
    """The real model beside a missing tokenizer (faster-whisper would fetch one) or an edited
    vocabulary: failed, one line naming the folder and what is wrong; never loaded."""
    folder = tmp_path / "models" / TINY_EN.name
    folder.mkdir(parents=True)
    for name in ("config.json", "model.bin", "vocabulary.txt"):
        (folder / name).symlink_to(shared_models / "faster-whisper-tiny.en" / name)
    if wrong == "another vocabulary.txt":
        (folder / "vocabulary.txt").unlink()
        shutil.copy(shared_models / "faster-whisper-tiny.en" / "vocabulary.txt", folder / "vocabulary.txt")
        with open(folder / "vocabulary.txt", "a") as extra:
            extra.write("<|extra|>\n")
        (folder / "tokenizer.json").symlink_to(shared_models / "faster-whisper-tiny.en" / "tokenizer.json")
    result = analyse(media / "faster-whisper" / "jfk.flac", "speech_transcription", tiny_en_settings(tmp_path / "models"))
    assert result.status == Status.failed and "\n" not in result.error
    expected = "has no tokenizer.json" if wrong == "no tokenizer.json" else "vocabulary.txt: expected sha256 ff7758"
    assert f"{folder}: {expected}" in result.error and "reelscope models download" in result.error
