"""Exports read back by parsers reelscope does not share code with (webvtt-py, pysrt, pympi-ling for
ELAN, the csv module) and compared with the documents the pipeline wrote: the built-in sample clip
(captions on screen, most analyzers skipped for want of weights), a phone clip with captions over
moving signs, an audio-only tone, a file that is not media, and real speech heard by Whisper
tiny.en from ../shared/models (skipped, with the reason, where ../shared is absent)."""

from __future__ import annotations

import csv
import html
import itertools
import json
import re
from argparse import Namespace
from pathlib import Path

import cv2
import numpy as np
import pympi
import pysrt
import pytest
import soundfile
import webvtt
from conftest import link_models

from actors.whisper import MODELS
from pipeline import exports
from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.sample import SAMPLE, portrait_captions, write_clip
from pipeline.schema import Segment, Status, VideoResult
from pipeline.settings import Settings

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
SENTENCE_END = (".", "?", "!")
RELEASE = "face_detection_yunet_2026may.onnx"  # the YuNet in ../shared/models


def written(directory: Path, path: Path | str, names: list[str] | None, settings: Settings, name: str = "") -> Path:
    """The document the pipeline makes of the file at `path` (failed or not), saved as <name>.json
    (default: the file's stem)."""
    path = Path(path)
    request = VideoRequest(name or path.stem, str(path))
    [result] = run_local([request], Plan.build(names, settings=settings))
    document = directory / f"{result.id}.json"
    document.write_text(result.to_json())
    return document


def read(document: Path) -> VideoResult:
    return VideoResult.model_validate_json(document.read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory) -> Settings:
    return Settings(models_dir=tmp_path_factory.mktemp("no-models"), text_overlay={"reader": "rapidocr"})


@pytest.fixture(scope="module")
def sample_doc(folder, sample_clip, no_weights) -> Path:
    """Every analyzer on the sample clip; those that need weights skip."""
    return written(folder, sample_clip, None, no_weights)


@pytest.fixture(scope="module")
def portrait_doc(folder, no_weights) -> Path:
    """Three captions over two signs: text tracks on screen at once."""
    clip = write_clip(str(folder / "portrait.mp4"), portrait_captions())
    return written(folder, clip, ["text_overlay", "cut_analysis"], no_weights)


@pytest.fixture(scope="module")
def tone_doc(folder, no_weights) -> Path:
    """An audio-only file: the picture analyzers skip."""
    seconds = np.arange(3 * 16_000) / 16_000
    path = folder / "tone.wav"
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32), 16_000)
    return written(folder, path, ["audio_analysis", "text_overlay", "cut_analysis"], no_weights)


@pytest.fixture(scope="module")
def failed_doc(folder, no_weights) -> Path:
    path = folder / "broken.mp4"
    path.write_bytes(b"not a video" * 100)
    document = written(folder, path, ["cut_analysis"], no_weights)
    assert read(document).status == Status.failed and not read(document).analyzers
    return document


@pytest.fixture(scope="module")
def tiny_en(shared_models, tmp_path_factory) -> Settings:
    tiny = MODELS["tiny.en"].weights
    models = link_models(tmp_path_factory.mktemp("models"), {tiny.name: shared_models / "faster-whisper-tiny.en"})
    return Settings(models_dir=models, speech_transcription={"model": "tiny.en"}, text_overlay={"reader": "rapidocr"})


@pytest.fixture(scope="module")
def jfk_doc(folder, media, tiny_en) -> Path:
    return written(folder, media / "faster-whisper" / "jfk.flac", ["speech_transcription", "text_overlay"], tiny_en)


@pytest.fixture(scope="module")
def conversation_doc(folder, media, tiny_en) -> Path:
    """pyannote's sample: two people on the phone, many short sentences."""
    return written(folder, media / "pyannote" / "sample.wav", ["speech_transcription"], tiny_en, "conversation")


@pytest.fixture(scope="module")
def stereo_doc(folder, media, tiny_en) -> Path:
    """A different speaker on each channel."""
    return written(folder, media / "faster-whisper" / "stereo_diarization.wav", ["speech_transcription"], tiny_en)


@pytest.fixture(scope="module")
def faces_doc(folder, media, shared_models) -> Path:
    """Two faces at once (obama.jpg and its mirror image side by side, 2 s), found by the real YuNet;
    ages by the generated tiny ViT (its real weights are not here)."""
    from model_factory import write_age_classifier
    from test_faces import write_video

    models = link_models(folder / "face-models", {RELEASE: shared_models / "yunet" / RELEASE})
    write_age_classifier(models)
    face = cv2.cvtColor(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.COLOR_BGR2RGB)
    face = cv2.resize(face, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((480, 800, 3), np.uint8)  # each face about 107 px wide
    h, w = face.shape[:2]
    canvas[:h, :w], canvas[:h, 800 - w :] = face, face[:, ::-1]
    video = write_video(folder / "two_faces.mp4", [canvas] * 20)
    return written(folder, video, ["age_estimation", "eye_tracking"], Settings(models_dir=models))


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def vtt_cues(path: Path) -> list[tuple[int, int, str, str | None]]:
    """(start ms, end ms, text, voice) of each cue, as webvtt-py reads them (strict)."""
    return [
        (c.start_time.in_milliseconds(), c.end_time.in_milliseconds(), html.unescape(c.text), c.voice)
        for c in webvtt.read(str(path), strict=True)
    ]


def srt_cues(path: Path) -> list[tuple[int, int, str]]:
    return [(c.start.ordinal, c.end.ordinal, c.text) for c in pysrt.open(str(path), error_handling=pysrt.ERROR_RAISE)]


def expected_end(start_s: float, end_s: float) -> int:
    """A cue ends at least 1 ms after it starts (a one-word sentence can be an instant)."""
    return max(ms(end_s), ms(start_s) + 1)


def transcript(document: Path) -> list[Segment]:
    return read(document).analyzers["speech_transcription"].segments


# ---- subtitles ----


def test_transcript_cues_are_the_sentences(tmp_path, jfk_doc, conversation_doc):
    for document in (jfk_doc, conversation_doc):
        segments = sorted(transcript(document), key=lambda s: (s.start_s, s.end_s))
        assert len(segments) >= (1 if document is jfk_doc else 10)
        vtt_path, captions = exports.export(document, "vtt", tmp_path / f"{document.stem}.vtt")
        srt_path, _ = exports.export(document, "srt", tmp_path / f"{document.stem}.srt")
        expected = [(ms(s.start_s), expected_end(s.start_s, s.end_s), s.data.text) for s in segments]
        assert [cue[:3] for cue in vtt_cues(vtt_path)] == expected
        assert srt_cues(srt_path) == expected
        assert captions == tmp_path / f"{document.stem}.captions.vtt"
    words = re.findall(r"[a-z']+", " ".join(cue[2] for cue in vtt_cues(tmp_path / "jfk.vtt")).lower())
    assert words == re.findall(r"[a-z']+", JFK.lower())  # the truth, not only the document


def test_a_segment_of_several_sentences_is_cut_at_its_word_times(tmp_path, conversation_doc):
    """A segment holding a whole stretch of talk (as one Whisper window gives it) comes out as one
    cue per sentence, each timed by its first and last word."""
    result = read(conversation_doc)
    speech = result.analyzers["speech_transcription"]
    segments = sorted(speech.segments, key=lambda s: s.start_s)
    words = [w for s in segments for w in s.data.words]
    merged = segments[0].model_copy(
        update={
            "start_s": segments[0].start_s,
            "end_s": segments[-1].end_s,
            "data": segments[0].data.model_copy(
                update={"text": " ".join(s.data.text for s in segments), "words": words}
            ),
        }
    )
    speech.segments = [merged]
    document = tmp_path / "window.json"
    document.write_text(result.to_json())
    sentences, current = [], []
    for word in words:
        current.append(word)
        if word.word.endswith(SENTENCE_END):
            sentences.append(current)
            current = []
    sentences += [current] if current else []
    assert len(sentences) >= 10
    expected = [
        (ms(s[0].start_s), expected_end(s[0].start_s, s[-1].end_s), " ".join(w.word for w in s)) for s in sentences
    ]
    [vtt_path, _] = exports.export(document, "vtt", None)
    assert [cue[:3] for cue in vtt_cues(vtt_path)] == expected


def test_the_speaker_is_in_each_cue(tmp_path, stereo_doc):
    segments = sorted(transcript(stereo_doc), key=lambda s: (s.start_s, s.end_s))
    assert {s.data.speaker for s in segments} == {"left", "right"}
    vtt_path, _ = exports.export(stereo_doc, "vtt", tmp_path)
    srt_path, _ = exports.export(stereo_doc, "srt", tmp_path)
    assert [(cue[0], cue[2], cue[3]) for cue in vtt_cues(vtt_path)] == [
        (ms(s.start_s), s.data.text, s.data.speaker) for s in segments
    ]
    assert "<v left>" in vtt_path.read_text()
    assert [text for *_, text in srt_cues(srt_path)] == [f"[{s.data.speaker}] {s.data.text}" for s in segments]


def test_captions_on_screen_are_a_second_file(tmp_path, sample_doc):
    captions = [s for s in read(sample_doc).analyzers["text_overlay"].segments if s.data.is_caption]
    # The sample burns "WAIT FOR IT" over its first shot (0-3 s) and "LINK IN BIO" over its last (8-10 s).
    truth = [(0.0, SAMPLE.shots[0].text), (8.0, SAMPLE.shots[-1].text)]
    assert [(round(s.start_s), s.data.text) for s in captions] == truth
    for fmt, cues_of in (("vtt", vtt_cues), ("srt", srt_cues)):
        transcript_path, captions_path = exports.export(sample_doc, fmt, tmp_path / f"sample.{fmt}")
        assert captions_path == tmp_path / f"sample.captions.{fmt}"
        cues = cues_of(captions_path)
        assert [cue[:3] for cue in cues] == [(ms(s.start_s), ms(s.end_s), s.data.text) for s in captions]
        assert cues_of(transcript_path) == []  # speech_transcription skipped: no weights here


def test_captions_exclude_the_signs_in_the_scene(tmp_path, portrait_doc):
    tracks = read(portrait_doc).analyzers["text_overlay"].segments
    [_, captions] = exports.export(portrait_doc, "vtt", tmp_path / "portrait.vtt")
    assert [cue[2] for cue in vtt_cues(captions)] == [s.data.text for s in tracks if s.data.is_caption]
    assert {"WAIT FOR IT", "LINK IN BIO", "FOLLOW FOR MORE"} <= {cue[2] for cue in vtt_cues(captions)}
    assert not {"OPEN 7 DAYS", "ROUTE 66"} & {cue[2] for cue in vtt_cues(captions)}


# ---- csv ----


def expected_cell(value) -> object:
    """The document's JSON value as the CSV cell should read back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


MEDIA_FIELDS = {"thumbnail_jpeg"}  # base64 JPEGs: in the document, not in a table


def assert_rows_are_the_segments(path: Path, result: VideoResult) -> None:
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    segments = [(name, s) for name, analyzer in result.analyzers.items() for s in analyzer.segments]
    assert len(rows) == len(segments)
    for row, (name, segment) in zip(rows, segments):
        dumped = segment.model_dump(mode="json", by_alias=True)
        assert (row["id"], row["analyzer"], row["label"]) == (result.id, name, segment.label)
        assert float(row["start_s"]) == segment.start_s and float(row["end_s"]) == segment.end_s
        assert row["confidence"] == ("" if segment.confidence is None else str(segment.confidence))
        filled = {column for column, cell in row.items() if cell} - set(exports.BASE_COLUMNS)
        covered: set[str] = set()
        _assert_cells(row, dumped["data"], "", name, covered)
        assert filled <= covered, f"{name}: cells no field of the segment fills: {filled - covered}"


def _assert_cells(row: dict[str, str], data: dict, prefix: str, name: str, covered: set[str]) -> None:
    """Each field of `data` (a segment's dumped data, or a record nested in it) against its cell."""
    for key, value in data.items():
        column = prefix + key
        if key in MEDIA_FIELDS:
            assert column not in row, f"{name}: embedded media {column} in the table"
            continue
        if isinstance(value, dict) and any(c.startswith(f"{column}.") for c in row):
            _assert_cells(row, value, f"{column}.", name, covered)  # a nested record: dotted columns
        else:
            assert _cell_value(row[column], value) == expected_cell(value), (name, column)
            covered.add(column)


def _cell_value(cell: str, like: object) -> object:
    """A cell parsed back as the JSON value it stands for: numbers as numbers, lists and dicts
    from their JSON."""
    if like is None or isinstance(like, (bool, str)):
        return cell
    if isinstance(like, (int, float)):
        return type(like)(cell)
    return json.loads(cell)


def test_csv_has_one_row_per_segment_with_the_typed_fields(tmp_path, sample_doc, portrait_doc, tone_doc):
    for document in (sample_doc, portrait_doc, tone_doc):
        [path] = exports.export(document, "csv", tmp_path / f"{document.stem}.csv")
        result = read(document)
        assert_rows_are_the_segments(path, result)
    with (tmp_path / "sample.csv").open(newline="") as file:
        header = next(csv.reader(file))
    assert header[:6] == list(exports.BASE_COLUMNS) and {"text", "is_caption", "box", "transition_in"} <= set(header)
    shots = [s for s in read(sample_doc).analyzers["cut_analysis"].segments if s.label == "shot"]
    assert shots and all(s.data.thumbnail_jpeg for s in shots) and "thumbnail_jpeg" not in header


def test_csv_of_speech_has_the_words_as_json(tmp_path, jfk_doc):
    [path] = exports.export(jfk_doc, "csv", tmp_path / "jfk.csv")
    result = read(jfk_doc)
    assert_rows_are_the_segments(path, result)
    with path.open(newline="") as file:
        [row, *_] = csv.DictReader(file)
    first = result.analyzers["speech_transcription"].segments[0].data
    assert json.loads(row["words"]) == [w.model_dump(mode="json") for w in first.words]


# ---- eaf ----


def eaf_annotations(eaf: pympi.Elan.Eaf, analyzer: str) -> list[tuple[int, int, str]]:
    tiers = [t for t in eaf.get_tier_names() if (t == analyzer or t.startswith(f"{analyzer} ")) and "words" not in t]
    return sorted(a[:3] for tier in tiers for a in eaf.get_annotation_data_for_tier(tier))


def value_of(segment: Segment) -> str:
    """What the segment says (a text, a description, a filler word), else its label."""
    said = [getattr(segment.data, key, None) for key in ("text", "description", "word")]
    return next((value for value in said if isinstance(value, str) and value), segment.label)


def assert_tiers_are_the_segments(path: Path, result: VideoResult) -> pympi.Elan.Eaf:
    eaf = pympi.Elan.Eaf(str(path))
    assert eaf.header["TIME_UNITS"] == "milliseconds"
    for name, analyzer in result.analyzers.items():
        expected = sorted((ms(s.start_s), expected_end(s.start_s, s.end_s), value_of(s)) for s in analyzer.segments)
        assert eaf_annotations(eaf, name) == expected, name
    for tier in eaf.get_tier_names():  # ELAN holds no two annotations of one tier at once
        spans = sorted(a[:2] for a in eaf.get_annotation_data_for_tier(tier))
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), tier
    return eaf


def test_eaf_has_a_tier_per_analyzer_in_ms(tmp_path, sample_doc):
    [path] = exports.export(sample_doc, "eaf", tmp_path / "sample.eaf")
    result = read(sample_doc)
    eaf = assert_tiers_are_the_segments(path, result)
    tiers = set(eaf.get_tier_names())
    # Shots, cuts and the dissolve overlap: a tier each. Analyzers whose segments follow each
    # other keep one tier named after them.
    assert {"cut_analysis shot", "cut_analysis cut", "cut_analysis dissolve"} <= tiers
    assert {"text_overlay", "audio_analysis", "camera_analysis", "scene_segmentation"} <= tiers
    assert not any(t.startswith("speech_transcription") for t in tiers)
    shots = [s for s in result.analyzers["cut_analysis"].segments if s.label == "shot"]
    assert [a[:2] for a in eaf.get_annotation_data_for_tier("cut_analysis shot")] == [
        (ms(s.start_s), ms(s.end_s)) for s in shots
    ]
    [media] = eaf.media_descriptors
    assert media["MEDIA_URL"] == Path(result.video.path).resolve().as_uri() and media["MIME_TYPE"] == "video/mp4"


def test_eaf_text_on_screen_at_once_spills_into_numbered_tiers(tmp_path, portrait_doc):
    [path] = exports.export(portrait_doc, "eaf", tmp_path / "portrait.eaf")
    eaf = assert_tiers_are_the_segments(path, read(portrait_doc))
    assert {"text_overlay text", "text_overlay text 2"} <= set(eaf.get_tier_names())


def test_faces_seen_at_once_in_csv_and_eaf(tmp_path, faces_doc):
    result = read(faces_doc)
    faces = result.analyzers["age_estimation"]
    assert faces.status == Status.ok, faces.reason or faces.error
    [csv_path] = exports.export(faces_doc, "csv", tmp_path / "faces.csv")
    assert_rows_are_the_segments(csv_path, result)
    [eaf_path] = exports.export(faces_doc, "eaf", tmp_path / "faces.eaf")
    eaf = assert_tiers_are_the_segments(eaf_path, result)
    # Two faces on screen together: their annotations lie on two tiers, never on one.
    tracks = faces.segments
    assert len(tracks) == 2 and tracks[0].start_s < tracks[1].end_s and tracks[1].start_s < tracks[0].end_s
    assert len([t for t in eaf.get_tier_names() if t.startswith("age_estimation")]) >= 2


def test_eaf_of_speech_has_sentences_and_words(tmp_path, jfk_doc, stereo_doc):
    for document in (jfk_doc, stereo_doc):
        [path] = exports.export(document, "eaf", tmp_path / f"{document.stem}.eaf")
        result = read(document)
        eaf = assert_tiers_are_the_segments(path, result)
        for segment in result.analyzers["speech_transcription"].segments:
            speaker = segment.data.speaker
            # A word Whisper timed as an instant is given 1 ms: the next word then spills into "... words 2".
            tier = "speech_transcription" + (f" {speaker}" if speaker else "") + " words"
            lanes = [t for t in eaf.get_tier_names() if t == tier or re.fullmatch(rf"{tier} \d+", t)]
            found = [a[:3] for lane in lanes for a in eaf.get_annotation_data_for_tier(lane)]
            for word in segment.data.words:
                assert (ms(word.start_s), expected_end(word.start_s, word.end_s), word.word) in found
        words = [t for t in eaf.get_tier_names() if " words" in t]
        assert sum(len(eaf.get_annotation_data_for_tier(t)) for t in words) == result.analyzers[
            "speech_transcription"
        ].summary.word_count
    stereo = pympi.Elan.Eaf(str(tmp_path / "stereo_diarization.eaf"))
    assert {"speech_transcription left", "speech_transcription right"} <= set(stereo.get_tier_names())
    [media] = pympi.Elan.Eaf(str(tmp_path / "jfk.eaf")).media_descriptors
    assert media["MIME_TYPE"] == "audio/flac"


# ---- bad input: a valid file with a note, or one line ----


def run_command(document: Path, fmt: str, output: Path | None, capsys) -> tuple[int, str, str]:
    code = exports.command(Namespace(document=str(document), format=fmt, output=str(output) if output else None))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_failed_video_exports_empty_files_with_a_note(tmp_path, failed_doc, capsys):
    for fmt in exports.FORMATS:
        code, _, err = run_command(failed_doc, fmt, tmp_path, capsys)
        assert code == 0 and "Traceback" not in err
        [note] = err.splitlines()
        assert note.startswith("note: broken: the video was not analysed (not a readable media file")
    assert vtt_cues(tmp_path / "broken.vtt") == [] and vtt_cues(tmp_path / "broken.captions.vtt") == []
    assert "NOTE broken: the video was not analysed" in (tmp_path / "broken.vtt").read_text()
    assert srt_cues(tmp_path / "broken.srt") == []
    with (tmp_path / "broken.csv").open(newline="") as file:
        assert list(csv.reader(file)) == [list(exports.BASE_COLUMNS)]
    eaf = pympi.Elan.Eaf(str(tmp_path / "broken.eaf"))
    assert list(eaf.get_tier_names()) == [] and eaf.media_descriptors == []
    assert any(name == "reelscope note" and "not analysed" in text for name, text in eaf.get_properties())


def test_skipped_analyzers_are_noted_and_the_rest_exported(tmp_path, sample_doc, capsys):
    result = read(sample_doc)
    skipped = [name for name, a in result.analyzers.items() if a.status == Status.skipped]
    assert "speech_transcription" in skipped
    code, _, err = run_command(sample_doc, "vtt", tmp_path, capsys)
    assert code == 0
    reason = " ".join(result.analyzers["speech_transcription"].reason.split())
    assert err.splitlines() == [f"note: sample: speech_transcription skipped: {reason}"]
    assert f"NOTE sample: speech_transcription skipped: {reason}" in (tmp_path / "sample.vtt").read_text()
    assert "NOTE" not in (tmp_path / "sample.captions.vtt").read_text()
    code, _, err = run_command(sample_doc, "csv", tmp_path, capsys)
    assert code == 0 and all(f"sample: {name} skipped:" in err for name in skipped)
    assert_rows_are_the_segments(tmp_path / "sample.csv", result)


def test_an_audio_only_file_has_no_captions_and_an_audio_medium(tmp_path, tone_doc, capsys):
    result = read(tone_doc)
    assert not result.video.has_video and result.analyzers["text_overlay"].status == Status.skipped
    code, _, err = run_command(tone_doc, "vtt", tmp_path, capsys)
    assert code == 0
    assert "note: tone: text_overlay skipped: no video stream" in err.splitlines()
    assert "note: tone: speech_transcription was not run" in err.splitlines()
    assert vtt_cues(tmp_path / "tone.captions.vtt") == []
    # Written beside the media: ELAN also finds it by a relative URL when the folder moves.
    [path] = exports.export(tone_doc, "eaf", None)
    eaf = assert_tiers_are_the_segments(path, result)
    assert list(eaf.get_tier_names()) == ["audio_analysis"]
    [media] = eaf.media_descriptors
    assert (media["MIME_TYPE"], media["RELATIVE_MEDIA_URL"]) == ("audio/x-wav", "./tone.wav")


@pytest.mark.parametrize("version", ["1.1", "3.0"])
def test_a_schema_version_it_does_not_know_is_one_line(tmp_path, sample_doc, capsys, version):
    document = tmp_path / "other.json"
    document.write_text(json.dumps({**json.loads(sample_doc.read_text()), "schema_version": version}))
    with pytest.raises(exports.DocumentError, match=f"has schema version {version}; this reelscope reads 2.x"):
        exports.export(document, "vtt", None)
    code, out, err = run_command(document, "eaf", None, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "schema version" in err
    assert list(tmp_path.iterdir()) == [document]


def not_documents(tmp_path: Path, sample_doc: Path) -> dict[str, tuple[Path, str]]:
    valid = json.loads(sample_doc.read_text())
    cases = {
        "text": ("notes.json", "hello", "not JSON"),
        "a list": ("list.json", "[1, 2]", "no schema_version and id"),
        "another JSON": ("config.json", json.dumps({"name": "x"}), "no schema_version and id"),
        "bad fields": ("bad.json", json.dumps({**valid, "analyzers": {"cut_analysis": {"status": "maybe"}}}), "analyzers"),
        "binary": ("clip.json", None, "cannot read"),
    }
    out = {}
    for case, (name, text, message) in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xd8\xff\xe0" * 50)
        else:
            path.write_text(text)
        out[case] = (path, message)
    out["missing"] = (tmp_path / "absent.json", "cannot read")
    return out


def test_a_file_that_is_not_a_document_is_one_line(tmp_path, sample_doc, capsys):
    for case, (path, message) in not_documents(tmp_path, sample_doc).items():
        with pytest.raises(exports.DocumentError) as raised:
            exports.export(path, "csv", tmp_path / "out.csv")
        assert message in str(raised.value) and "\n" not in str(raised.value), case
        code, _, err = run_command(path, "srt", None, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith("reelscope export: "), case
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(exports.DocumentError, match="unknown export format 'docx'; known: vtt, srt, csv, eaf"):
        exports.export(sample_doc, "docx", None)


def test_where_the_files_go(tmp_path, tone_doc, capsys):
    document = tmp_path / "tone.json"
    document.write_text(tone_doc.read_text())
    assert exports.export(document, "srt", None) == [tmp_path / "tone.srt", tmp_path / "tone.captions.srt"]
    assert exports.export(document, "eaf", None) == [tmp_path / "tone.eaf"]
    (tmp_path / "tables").mkdir()
    assert exports.export(document, "csv", tmp_path / "tables") == [tmp_path / "tables" / "tone.csv"]
    assert exports.export(document, "vtt", tmp_path / "new" / "subtitles") == [
        tmp_path / "new" / "subtitles" / "tone.vtt",
        tmp_path / "new" / "subtitles" / "tone.captions.vtt",
    ]
    assert exports.export(document, "vtt", tmp_path / "named.vtt")[1] == tmp_path / "named.captions.vtt"
    (tmp_path / "a-file").write_text("")
    code, out, err = run_command(document, "csv", tmp_path / "a-file" / "tone.csv", capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "Not a directory" in err


def test_reelscope_export_runs_from_the_command_line(sample_doc, tmp_path):
    from pipeline.cli import main

    assert main(["export", str(sample_doc), "--format", "csv", "-o", str(tmp_path / "rows.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "rows.csv").open()))
    assert {"cut_analysis", "text_overlay"} <= {row["analyzer"] for row in rows}
    assert main(["export", str(tmp_path / "rows.csv"), "--format", "csv"]) == 2  # not a document: one line, no traceback
