"""The backfill's two Parquet files as a dataset: typed headline columns, and the README's DuckDB
questions answered on a real backfill of clips whose cuts and captions are known by construction."""

from __future__ import annotations

import statistics

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.backfill import (
    FIGURES,
    VIDEOS_SCHEMA,
    backfill,
    headline_figures,
    video_id,
    write_tables,
)
from pipeline.sample import Caption, ClipSpec, Shot, write_clip
from pipeline.schema import AnalyzerResult, Status, VideoResult
from pipeline.settings import Settings

ANALYZERS = ["cut_analysis", "audio_analysis", "speech_flow", "text_overlay", "temporal_flow", "content_quality",
             "cross_analyzer_intelligence"]  # fmt: skip
SALE = Caption(0.5, 2.5, "SALE TODAY")  # inside the 3 s hook
LINK = Caption(4.5, 6.0, "LINK IN BIO")  # after it


def shots(count: int, seconds: float = 6.0) -> tuple[Shot, ...]:
    """`count` static shots of equal length, hard cuts between them (distinct colours and textures)."""
    return tuple(Shot(seconds / count, ((40 * k + 60) % 255, 120, (200 - 30 * k) % 255), seed=k + 1) for k in range(count))


# name: (spec, cuts per minute by construction)
CLIPS = {
    "fast_text": (ClipSpec(shots(6), captions=(SALE, LINK)), 50.0),
    "slow_text": (ClipSpec(shots(2), captions=(SALE, LINK)), 10.0),
    "fast_plain": (ClipSpec(shots(3), captions=(LINK,)), 20.0),
    "slow_plain": (ClipSpec(shots(1)), 0.0),
}

# The README's questions, word for word (over the views `videos` and `segments`).
HOOK_TEXT_VS_CUTS = """
SELECT hook_has_text, count(*) AS videos, median(cuts_per_minute) AS median_cuts_per_minute
FROM videos
WHERE status = 'ok' AND hook_has_text IS NOT NULL
GROUP BY hook_has_text
ORDER BY hook_has_text
"""
COMMON_CAPTIONS = """
SELECT data->>'$.text' AS caption, count(DISTINCT id) AS videos, count(*) AS tracks
FROM segments
WHERE analyzer = 'text_overlay' AND (data->>'$.is_caption')::BOOLEAN
GROUP BY caption
ORDER BY videos DESC, caption
LIMIT 10
"""
CAPTIONED_SHOTS = """
WITH shots AS (
    SELECT id, start_s, end_s FROM segments WHERE analyzer = 'cut_analysis' AND label = 'shot'
), captions AS (
    SELECT id, start_s, end_s FROM segments
    WHERE analyzer = 'text_overlay' AND (data->>'$.is_caption')::BOOLEAN
)
SELECT v.source, v.shot_count,
       round(avg(CASE WHEN EXISTS (
           SELECT 1 FROM captions c WHERE c.id = s.id AND c.start_s < s.end_s AND c.end_s > s.start_s
       ) THEN 1 ELSE 0 END), 4) AS captioned_share
FROM videos v JOIN shots s USING (id)
GROUP BY v.source, v.shot_count
ORDER BY captioned_share DESC, v.source
"""


@pytest.fixture(scope="module")
def dataset(local_ray, tmp_path_factory):
    """A backfill of the four clips and a missing file: (output directory, source per clip name)."""
    root = tmp_path_factory.mktemp("dataset")
    sources = {name: write_clip(str(root / f"{name}.mp4"), spec) for name, (spec, _) in CLIPS.items()}
    sources["missing"] = str(root / "missing.mp4")
    manifest = root / "manifest.txt"
    manifest.write_text("\n".join(sources.values()) + "\n")
    settings = Settings(models_dir=root / "models", text_overlay={"reader": "rapidocr"})
    backfill(manifest, root / "out", ANALYZERS, settings=settings, weights_here=True)
    return root / "out", sources


def query(out, sql: str) -> list[tuple]:
    db = duckdb.connect()
    db.execute(f"CREATE VIEW videos AS FROM read_parquet('{out / 'videos.parquet'}')")
    db.execute(f"CREATE VIEW segments AS FROM read_parquet('{out / 'segments.parquet'}')")
    return db.sql(sql).fetchall()


def documents(out, sources: dict[str, str]) -> dict[str, VideoResult]:
    return {
        name: VideoResult.model_validate_json((out / "results" / f"{video_id(source)}.json").read_text())
        for name, source in sources.items()
    }


def test_videos_parquet_has_the_headline_figures_as_typed_columns(dataset):
    out, sources = dataset
    table = pq.read_table(out / "videos.parquet")
    assert table.schema == VIDEOS_SCHEMA
    rows = {row["source"]: row for row in table.to_pylist()}
    docs = documents(out, sources)
    for name, (spec, cuts_per_minute) in CLIPS.items():
        row, doc = rows[sources[name]], docs[name]
        assert row["status"] == "ok" and row["analyzers_ok"] == len(doc.analyzers)
        assert row["shot_count"] == len(spec.shots) and row["cuts_per_minute"] == cuts_per_minute
        assert row["hook_cuts"] == sum(t < 3.0 for t in spec.cut_times())
        assert row["time_to_first_cut_s"] == (spec.cut_times()[0] if spec.cut_times() else None)
        assert row["hook_has_text"] == (SALE in spec.captions)
        assert row["tempo_bpm"] == pytest.approx(120, abs=3)  # the click track's tempo
        assert 0.0 <= row["speech_share"] <= 1.0 and 0.0 <= row["text_coverage"] <= 1.0
        # Each figure is the document's, read from its analyzer's typed summary.
        assert row["text_coverage"] == doc.analyzers["text_overlay"].summary.text_coverage
        assert row["speech_share"] == doc.analyzers["speech_flow"].summary.speech_share
        assert row["quality_score"] == doc.analyzers["content_quality"].summary.score
        assert row["reconstruction_score"] == doc.analyzers["cross_analyzer_intelligence"].summary.reconstruction.score
        fusion, flow = doc.analyzers["cross_analyzer_intelligence"].summary, doc.analyzers["temporal_flow"].summary
        assert row["cuts_on_beat_share"] == (fusion.beat_sync.on_beat_share if fusion.beat_sync else None)
        assert row["seamless_loop"] is flow.loop.seamless and row["seamless_loop"] is not None
        assert row["watermark_platform"] is None  # no platform's mark in these clips
        # Analyzers not in the run leave their figures null.
        assert row["words_per_minute"] is None and row["faces_share"] is None
    assert rows[sources["slow_plain"]]["text_coverage"] == 0.0
    missing = rows[sources["missing"]]
    assert missing["status"] == "failed" and "no such file" in missing["error"]
    assert all(missing[column] is None for column, *_ in FIGURES)


def test_median_cuts_per_minute_by_hook_text(dataset):
    out, sources = dataset
    answer = query(out, HOOK_TEXT_VS_CUTS)
    # By construction: hooks with text cut at 50 and 10 a minute, hooks without at 20 and 0.
    assert answer == [(False, 2, 10.0), (True, 2, 30.0)]
    by_hook = {True: [], False: []}
    for doc in documents(out, sources).values():
        if doc.status == Status.ok:
            hook = next(s.data for s in doc.analyzers["cross_analyzer_intelligence"].segments if s.label == "hook")
            by_hook[bool(hook.text)].append(doc.analyzers["cut_analysis"].summary.cuts_per_minute)
    assert answer == [(has, len(cuts), statistics.median(cuts)) for has, cuts in sorted(by_hook.items())]


def test_the_most_common_captions(dataset):
    out, sources = dataset
    answer = query(out, COMMON_CAPTIONS)
    assert answer == [("LINK IN BIO", 3, 3), ("SALE TODAY", 2, 2)]
    seen = {}
    for name, doc in documents(out, sources).items():
        for segment in doc.analyzers["text_overlay"].segments if doc.status == Status.ok else []:
            if segment.data.is_caption:
                seen.setdefault(segment.data.text, set()).add(name)
    assert {caption: len(names) for caption, names in seen.items()} == {c: v for c, v, _ in answer}


def test_the_share_of_each_videos_shots_that_carry_a_caption(dataset):
    out, sources = dataset
    answer = query(out, CAPTIONED_SHOTS)
    # fast_text: SALE over shots 0-2, LINK over 4-5 of six; slow_text: both shots; fast_plain:
    # LINK over the last of three; slow_plain: none. The missing file has no shots: no row.
    assert answer == [
        (sources["slow_text"], 2, 1.0),
        (sources["fast_text"], 6, 0.8333),
        (sources["fast_plain"], 3, 0.3333),
        (sources["slow_plain"], 1, 0.0),
    ]
    for source, shot_count, share in answer:
        [doc] = [d for d in documents(out, sources).values() if d.source == source]
        shots_ = [s for s in doc.analyzers["cut_analysis"].segments if s.label == "shot"]
        captions = [s for s in doc.analyzers["text_overlay"].segments if s.data.is_caption]
        carrying = [any(c.start_s < s.end_s and c.end_s > s.start_s for c in captions) for s in shots_]
        assert (len(shots_), round(sum(carrying) / len(shots_), 4)) == (shot_count, share)


def test_a_table_of_failed_videos_only_keeps_every_typed_column(tmp_path):
    (tmp_path / "results").mkdir()
    for vid in ("a", "b"):
        failed = VideoResult(id=vid, source=f"{vid}.mp4", status=Status.failed, error="not a readable media file")
        (tmp_path / "results" / f"{vid}.json").write_text(failed.to_json())
    assert write_tables(tmp_path, ["a", "b"]) == (2, 0)
    videos = pq.read_table(tmp_path / "videos.parquet")
    assert videos.schema == VIDEOS_SCHEMA
    assert videos.schema.field("cuts_per_minute").type == pa.float64()
    assert videos.schema.field("shot_count").type == pa.int64()
    assert videos.schema.field("hook_has_text").type == pa.bool_()
    assert videos.column("cuts_per_minute").null_count == 2
    segments = pq.read_table(tmp_path / "segments.parquet")
    assert len(segments) == 0 and segments.schema.field("start_s").type == pa.float64()
    # DuckDB reads the typed columns of an all-failed table: the median is a typed NULL, not an error.
    assert duckdb.sql(f"SELECT median(cuts_per_minute) FROM '{tmp_path / 'videos.parquet'}'").fetchall() == [(None,)]


def test_a_figure_of_a_failed_or_skipped_analyzer_is_null():
    result = VideoResult(
        id="v",
        source="v.mp4",
        analyzers={
            "cut_analysis": AnalyzerResult(status=Status.failed, error="boom"),
            "text_overlay": AnalyzerResult.skipped("no video stream"),
        },
    )
    figures = headline_figures(result)
    assert figures.keys() == {column for column, *_ in FIGURES}
    assert set(figures.values()) == {None}
