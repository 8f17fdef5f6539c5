"""`reelscope report DIR` over a real backfill (local Ray, cut_analysis and audio_analysis) of a
generated corpus whose duplicates are known by construction:

  a          shots 1, 2, 3 under song 1 and voice 1
  a-reupload a re-encoded (CRF 30), cropped (5 % a side) and rescaled copy of a
  b, c       different footage, one song (2) under two different voices
  d          reuses a's second shot, under a song of its own
  e          no audio track
  broken     not a video: a failed row

Footage: {a, a-reupload, d} (a / a-reupload a re-upload, d one shared shot). Sound: {a, a-reupload}, {b, c}.
"""

from __future__ import annotations

import json
import os

import pytest
from test_report import Page, click

from pipeline import cli, corpus
from pipeline.backfill import backfill, video_id
from pipeline.corpus_sample import song, voice, write_clip_with_audio
from pipeline.report.corpus import write_corpus
from pipeline.sample import ClipSpec, Shot
from pipeline.schema import Status, VideoResult


def footage(seeds: tuple[int, ...], seconds: float) -> ClipSpec:
    shots = tuple(Shot(seconds / len(seeds), ((50 * s + 60) % 255, 120, (200 - 30 * s) % 255), seed=s) for s in seeds)
    return ClipSpec(shots, fps=15, width=240, height=320, audio=None)


# name: (shot seeds, seconds, song seed, voice seed, re-upload changes); 12 s or more, so that a
# shared sound overlaps by fingerprint.FULL_OVERLAP_S (the 2.5 s Chromaprint's first item needs taken off)
CLIPS = {
    "a": ((1, 2, 3), 12.0, 1, 101, {}),
    "a-reupload": ((1, 2, 3), 12.0, 1, 101, {"crop": 0.05, "size": (360, 480), "crf": 30}),
    "b": ((4, 5), 12.0, 2, 102, {}),
    "c": ((6, 7), 13.0, 2, 103, {}),
    "d": ((8, 2), 14.0, 3, None, {}),
    "e": ((9, 10), 9.0, None, None, {}),
}


@pytest.fixture(scope="module")
def backfilled(local_ray, tmp_path_factory):
    """(output directory, video id per clip name), the corpus page written by the CLI."""
    root = tmp_path_factory.mktemp("corpus")
    sources = {}
    for name, (seeds, seconds, song_seed, voice_seed, reupload) in CLIPS.items():
        audio = None
        if song_seed is not None:
            audio = song(song_seed, seconds) + (voice(voice_seed, seconds) if voice_seed else 0)
        sources[name] = write_clip_with_audio(str(root / f"{name}.mp4"), footage(seeds, seconds), audio, **reupload)
    (root / "broken.mp4").write_text("not a video")
    sources["broken"] = str(root / "broken.mp4")
    manifest = root / "manifest.txt"
    manifest.write_text("\n".join(sources.values()) + "\n")
    out = root / "out"
    backfill(manifest, out, ["cut_analysis", "audio_analysis"], weights_here=True)
    assert cli.main(["report", str(out)]) == 0
    return out, {name: video_id(source) for name, source in sources.items()}


def named(groups: list[corpus.Group], ids: dict[str, str]) -> list[set[str]]:
    names = {v: k for k, v in ids.items()}
    return [{names[v] for v in g.videos} for g in groups]


def test_groups_are_the_known_duplicates(backfilled):
    out, ids = backfilled
    built = corpus.build(out)
    assert named(built.footage_groups, ids) == [{"a", "a-reupload", "d"}]
    pairs = {(p.a, p.b): p for p in built.footage_groups[0].footage}
    assert pairs[(ids["a"], ids["a-reupload"])].reupload
    shared = pairs.get((ids["a"], ids["d"])) or pairs[(ids["d"], ids["a"])]
    assert not shared.reupload and len(shared.shots) == 1
    assert sorted(map(sorted, named(built.sound_groups, ids))) == [["a", "a-reupload"], ["b", "c"]]
    [voices] = [g for g in built.sound_groups if ids["b"] in g.videos]
    assert voices.sound[0].alignment.offset == 0  # both start with the song
    entries = {e.id: e for e in built.entries}
    assert entries[ids["e"]].fingerprint is None and "no audio" in entries[ids["e"]].fingerprint_absent
    assert entries[ids["broken"]].status == "failed" and "not a readable media file" in entries[ids["broken"]].error


def test_the_page_shows_the_corpus_and_sorts(backfilled, tmp_path):
    out, ids = backfilled
    html = out / "corpus.html"
    for name in CLIPS:  # each video's own report, beside its document
        assert (out / "results" / f"{ids[name]}.html").is_file()
    page = Page(tmp_path / "chromium-profile")
    try:
        page.open(html.resolve().as_uri())
        shown = page.evaluate(
            """({
                rows: Array.from(document.querySelectorAll('#videos tbody tr')).map(r => [r.className, r.cells[0].textContent, (r.querySelector('a') || {}).href || null]),
                dists: Array.from(document.querySelectorAll('.dist')).map(d => d.dataset.column),
                footage: Array.from(document.querySelectorAll('.groups.footage .group')).map(g => g.textContent),
                sound: Array.from(document.querySelectorAll('.groups.sound .group')).map(g => g.textContent),
                thumbs: Array.from(document.querySelectorAll('.groups.footage img')).map(i => i.naturalWidth > 0),
            })"""
        )
        assert page.problems() == []
        assert [u for u in page.requested() if u != html.resolve().as_uri() and not u.startswith("data:")] == []
        rows = {cells[1]: cells for cells in shown["rows"]}
        assert set(rows) == set(ids.values())
        assert rows[ids["broken"]][0] == "failed"
        for name in CLIPS:
            assert rows[ids[name]][0] == "ok" and rows[ids[name]][2] == (out / "results" / f"{ids[name]}.html").resolve().as_uri()
        assert {"duration_s", "shot_count", "cuts_per_minute"} <= set(shown["dists"])
        assert len(shown["footage"]) == 1 and "re-upload" in shown["footage"][0]
        assert all(ids[n] in shown["footage"][0] for n in ("a", "a-reupload", "d"))
        assert len(shown["sound"]) == 2 and shown["thumbs"] and all(shown["thumbs"])
        # A click on the duration column sorts by it, a second click the other way; the failed video (no duration) last.
        column = page.evaluate("Array.from(document.querySelectorAll('#videos th')).findIndex(th => th.textContent === 'duration (s)')")
        durations = f"Array.from(document.querySelectorAll('#videos tbody tr')).map(r => r.cells[{column}].textContent)"
        for order in (1, -1):
            click(page, f"#videos th:nth-child({column + 1})")
            *shown_durations, last = page.evaluate(durations)
            values = [float(d) for d in shown_durations]
            assert last == "-" and len(values) == len(CLIPS) and values == sorted(values, key=lambda v: order * v)
    finally:
        page.close()


def test_reports_are_rewritten_only_when_stale(backfilled):
    out, ids = backfilled
    _, written = write_corpus(out)
    assert written == 0
    document = out / "results" / f"{ids['b']}.json"
    report = document.with_suffix(".html")
    os.utime(document, ns=(report.stat().st_mtime_ns + 10**9,) * 2)
    _, written = write_corpus(out)
    assert written == 1


def test_a_corpus_of_failed_and_unreadable_documents_still_gets_a_page(tmp_path):
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"schema_version": "9.0", "id": "other"}))
    failed = VideoResult(id="gone", source="gone.mp4", status=Status.failed, error="no such file: gone.mp4")
    (tmp_path / "gone.json").write_text(failed.to_json())
    assert cli.main(["report", str(tmp_path), "-o", str(tmp_path / "page.html")]) == 0
    text = (tmp_path / "page.html").read_text()
    assert "3 documents: 0 ok, 1 failed, 2 unreadable" in text
    assert "no such file: gone.mp4" in text and "not JSON" in text and "schema version 9.0" in text
    assert "No two videos share footage." in text and "No two videos use the same sound." in text
