"""Bulk backfill: `ray job submit --working-dir . -- python -m pipeline.backfill --input M --output D`.

The manifest lists videos: a text file (one path per line, exactly as written), a CSV or a Parquet file with a `path`
column. Every video goes through the same Ray graph as `reelscope analyze`, and each result is
written to D/results/<id>.json the moment its video completes, by the Ray actor that finalizes it
(not the driver), atomically (written aside, then renamed): a result file is the video's done marker, so a re-run skips what is done, and a run
cut off mid-write leaves no half file that counts as done. A bad video gets a result too, with
its error: it is counted, never lost. Last, D/videos.parquet (one row per video of the manifest:
status, the headline figures as typed columns, every summary as JSON) and D/segments.parquet
(one row per segment, its data as JSON) are rebuilt from the results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq

from pipeline.engine import Plan, VideoRequest, safe_stem
from pipeline.registry import parse_names
from pipeline.schema import AnalyzerResult, SegmentData, Status, VideoResult
from pipeline.settings import Settings, SettingsError


def read_manifest(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return [str(p) for p in pq.read_table(path, columns=["path"]).column("path").to_pylist()]
    if path.suffix == ".csv":
        return [str(p) for p in pyarrow.csv.read_csv(path).column("path").to_pylist()]
    # A line is a path exactly as written: no comment syntax ("#clip.mp4" is a file name), spaces
    # kept. Only empty lines name nothing; every other line gets a result, an error if need be.
    return [line for line in path.read_text().splitlines() if line]


def video_id(source: str) -> str:
    """Stable across runs, unique per source: the stem for people, a hash of the path for uniqueness."""
    return f"{safe_stem(source)[:60]}-{hashlib.sha1(source.encode()).hexdigest()[:10]}"


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _summary(field: str):
    return lambda result: getattr(result.summary, field)


def _hook(result: AnalyzerResult) -> SegmentData:
    """The "hook" segment's data: temporal_flow and cross_analyzer_intelligence always write one."""
    return next(s.data for s in result.segments if s.label == "hook")


def _hook_has_text(result: AnalyzerResult) -> bool | None:
    texts = _hook(result).text  # None: text_overlay was not read
    return None if texts is None else bool(texts)


def _text_under_tiktok_ui(result: AnalyzerResult) -> float | None:
    zones = result.summary.safe_zones  # None or a reason: not vertical, nothing measured
    return zones.platforms["tiktok"].text_under_share if zones is not None and zones.platforms else None


# The headline figures, one typed column each: (column, type, analyzer, how to read it from that
# analyzer's typed result). Null where the analyzer did not run, was skipped or failed.
FIGURES = (
    ("shot_count", pa.int64(), "cut_analysis", _summary("shot_count")),
    ("cuts_per_minute", pa.float64(), "cut_analysis", _summary("cuts_per_minute")),
    ("speech_share", pa.float64(), "speech_flow", _summary("speech_share")),
    ("words_per_minute", pa.float64(), "speech_rate", _summary("words_per_minute")),
    ("text_coverage", pa.float64(), "text_overlay", _summary("text_coverage")),
    ("faces_share", pa.float64(), "eye_tracking", _summary("face_share")),
    ("tempo_bpm", pa.float64(), "audio_analysis", _summary("tempo_bpm")),
    ("quality_score", pa.float64(), "content_quality", _summary("score")),
    ("reconstruction_score", pa.float64(), "cross_analyzer_intelligence", lambda r: r.summary.reconstruction.score),
    ("hook_cuts", pa.int64(), "temporal_flow", lambda r: _hook(r).cuts),
    ("time_to_first_cut_s", pa.float64(), "temporal_flow", lambda r: _hook(r).time_to_first_cut_s),
    ("hook_has_text", pa.bool_(), "cross_analyzer_intelligence", _hook_has_text),
    ("cuts_on_beat_share", pa.float64(), "cross_analyzer_intelligence", lambda r: r.summary.beat_sync and r.summary.beat_sync.on_beat_share),
    ("text_under_tiktok_ui", pa.float64(), "cross_analyzer_intelligence", _text_under_tiktok_ui),
    ("seamless_loop", pa.bool_(), "temporal_flow", lambda r: r.summary.loop and r.summary.loop.seamless),
    ("watermark_platform", pa.string(), "text_overlay", lambda r: r.summary.watermark and r.summary.watermark.platform),
)

# Explicit types: a table of failed videos only still has every column, typed.
VIDEOS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("duration_s", pa.float64()),
        ("analyzers_ok", pa.int64()),
        *[(column, kind) for column, kind, _, _ in FIGURES],
        ("analyzer_status", pa.string()),  # JSON: analyzer -> ok | skipped | failed
        ("summaries", pa.string()),  # JSON: analyzer -> its whole summary
    ]
)
SEGMENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("analyzer", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("data", pa.string()),  # JSON: the segment's typed data
    ]
)


def headline_figures(result: VideoResult) -> dict[str, object]:
    figures = {}
    for column, _, analyzer, read in FIGURES:
        ran = result.analyzers.get(analyzer)
        figures[column] = read(ran) if ran is not None and ran.status == Status.ok else None
    return figures


def write_tables(output: Path, ids: list[str]) -> tuple[int, int]:
    """videos.parquet and segments.parquet from the results of the manifest's videos."""
    videos, segments = [], []
    for vid in ids:
        result = VideoResult.model_validate_json((output / "results" / f"{vid}.json").read_text())
        videos.append(
            {
                "id": result.id,
                "source": result.source,
                "status": result.status.value,
                "error": result.error,
                "duration_s": result.video.duration_s if result.video else None,
                "analyzers_ok": sum(r.status == Status.ok for r in result.analyzers.values()),
                **headline_figures(result),
                "analyzer_status": json.dumps({n: r.status.value for n, r in result.analyzers.items()}),
                "summaries": json.dumps(
                    {n: r.summary.model_dump(mode="json") for n, r in result.analyzers.items() if r.summary is not None}
                ),
            }
        )
        for name, analyzer in result.analyzers.items():
            segments += [
                {
                    "id": result.id,
                    "analyzer": name,
                    "start_s": s.start_s,
                    "end_s": s.end_s,
                    "label": s.label,
                    "confidence": s.confidence,
                    "data": s.data.model_dump_json(),
                }
                for s in analyzer.segments
            ]
    for name, rows, schema in (("videos", videos, VIDEOS_SCHEMA), ("segments", segments, SEGMENTS_SCHEMA)):
        partial = output / f".{name}.parquet.partial"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), partial)
        os.replace(partial, output / f"{name}.parquet")
    return len(videos), len(segments)


def backfill(
    manifest: Path, output: Path, analyzers: list[str] | None, *, settings: Settings | None = None, weights_here: bool
) -> int:
    from pipeline.runners import ray_data

    sources = list(dict.fromkeys(read_manifest(manifest)))
    ids = [video_id(s) for s in sources]
    (output / "results").mkdir(parents=True, exist_ok=True)
    pending = [VideoRequest(i, s) for i, s in zip(ids, sources) if not (output / "results" / f"{i}.json").exists()]
    print(f"{len(sources)} videos in the manifest, {len(sources) - len(pending)} already done, {len(pending)} to analyse")
    failed = 0
    if pending:
        from pipeline.progress import RunProgress

        plan = Plan.build(analyzers, settings=settings, weights_here=weights_here)
        names = {r.video_id: Path(r.path).name for r in pending}
        # A job log is not a terminal: plain progress lines every few seconds, whatever the console.
        with RunProgress(len(pending), live=False) as progress:
            # Each result file is written by the Ray actor that finalizes its video, not here.
            finished = ray_data.run_to_files(pending, plan, output / "results", on_item=progress.feed(plan, names))
            for done, video in enumerate(finished, start=1):
                failed += video.status == Status.failed
                state = "ok" if video.status == Status.ok else f"FAILED: {video.error}"
                progress.finished(video.id, f"[{done}/{len(pending)}] {video.source}: {state}", video.duration_s)
    videos, segments = write_tables(output, ids)
    print(f"{videos} videos ({failed} failed in this run), {segments} segments: {output}/videos.parquet, segments.parquet")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.backfill", description=__doc__)
    parser.add_argument("--input", required=True, type=Path, help="manifest: .txt (a path a line), .csv or .parquet (a `path` column)")
    parser.add_argument("--output", required=True, type=Path, help="directory for results/, videos.parquet, segments.parquet")
    parser.add_argument("--analyzers", help="comma-separated subset (default: all)")
    parser.add_argument("--settings", help="a TOML or JSON settings file (default: $REELSCOPE_SETTINGS_FILE)")
    args = parser.parse_args(argv)
    try:  # a bad setting or name is refused before any video is read
        settings = Settings.load(args.settings)
        names = parse_names(args.analyzers)
    except (SettingsError, ValueError) as exc:
        parser.error(str(exc))
    from pipeline.runners import ray_data

    address = os.environ.get("RAY_ADDRESS")  # set by `ray job submit`
    ray_data.connect(address)
    return backfill(args.input, args.output, names, settings=settings, weights_here=not address)


if __name__ == "__main__":
    sys.exit(main())
