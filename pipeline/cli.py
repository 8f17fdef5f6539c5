"""`reelscope`: analyse videos on an embedded local Ray (or the cluster in RAY_ADDRESS).

Entry point only: it parses arguments, builds the run's Settings once (refusing a bad one before
any video is read), and calls the runners, the model commands and the presentation modules.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

from pipeline.registry import ALL_NAMES, parse_names
from pipeline.schema import Status
from pipeline.settings import Settings, SettingsError


class UsageError(Exception):
    """A bad argument or setting: one line, exit status 2, nothing run."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"models_dir": Path(args.models_dir).resolve()} if getattr(args, "models_dir", None) else {}
    try:
        return Settings.load(getattr(args, "settings", None), **overrides)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def _names(args: argparse.Namespace) -> list[str] | None:
    try:
        return parse_names(getattr(args, "analyzers", None))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .flv .ts .mts .3gp .wmv .mpg .mpeg .gif "
    ".mp3 .m4a .aac .wav .flac .ogg .opus .wma".split()
)


def expand_inputs(given: list[str]) -> list[str]:
    """Files as given; a directory as the media files under it (recursing, sorted); a glob as its
    matches (sorted); an http(s) URL as is, streamed like the backfill's. A directory holding no
    media and a glob matching nothing stay as given, so that they fail with their reason."""
    paths: list[str] = []
    for entry in given:
        if entry.startswith(("http://", "https://")) or os.path.isfile(entry):
            paths.append(entry)
        elif os.path.isdir(entry):
            found = sorted(str(p) for p in Path(entry).rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            paths.extend(found or [entry])
        elif any(c in entry for c in "*?["):
            paths.extend(sorted(glob.glob(entry, recursive=True)) or [entry])
        else:
            paths.append(entry)
    return list(dict.fromkeys(paths))


def analyze(args: argparse.Namespace) -> int:
    from pipeline.console import describe
    from pipeline.engine import Plan, VideoRequest

    settings, names_asked = _settings(args), _names(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = expand_inputs(list(args.videos))
    if not paths:
        from pipeline.sample import SAMPLE, write_clip

        paths = [write_clip(str(out / "sample.mp4"), SAMPLE)]
        print(f"no video given: analysing the built-in sample clip {paths[0]}")
    requests = VideoRequest.for_paths(paths)

    from pipeline.progress import RunProgress
    from pipeline.runners import Runner, ray_data
    from pipeline.runners.resources import PlacementError
    from pipeline.runners.local import run_local

    durations = {r.video_id: _duration(r.path) for r in requests}
    names = {r.video_id: Path(r.path).name for r in requests}
    runner: Runner = run_local if args.in_process else ray_data.run
    if not args.in_process:
        ray_data.connect(args.address, args.num_gpus, verbose=args.verbose)
    started = time.perf_counter()
    failures = 0
    plan = Plan.build(names_asked, settings=settings, weights_here=args.in_process or not args.address)
    with RunProgress(len(requests)) as progress:
        try:
            for done, result in enumerate(runner(requests, plan, on_item=progress.feed(plan, names, durations)), start=1):
                (out / f"{result.id}.json").write_text(result.to_json())
                if args.report:
                    from pipeline.report import write_report

                    write_report(result, out / f"{result.id}.html", embed_video=args.embed_video)
                failures += result.status == Status.failed
                duration = result.video.duration_s if result.video else None
                progress.finished(result.id, f"[{done}/{len(requests)}] {describe(result)}", duration)
        except PlacementError as exc:
            print(f"cannot place the models: {exc}", file=sys.stderr)
            return 2
    wall = time.perf_counter() - started
    print(f"{len(requests) - failures} of {len(requests)} videos analysed in {wall:.1f} s; results in {out}/")
    return 1 if failures else 0


def _duration(path: str) -> float | None:
    """The video's length for its progress line, when a quick look tells (else the line shows
    seconds analysed alone); a file that cannot be read fails in the run, with its reason. A URL
    is not opened twice for it."""
    from pipeline.engine.decode import MediaError, is_remote, probe

    if is_remote(path):
        return None
    try:
        return probe(path).duration_s
    except (MediaError, OSError, ValueError):
        return None


def report(args: argparse.Namespace) -> int:
    from pipeline.report import write_report

    from pipeline.exports import DocumentError, read_document

    source = Path(args.result)
    if source.is_dir():
        from pipeline.report.corpus import write_corpus

        target, written = write_corpus(source, args.output)
        print(f"corpus page written to {target} ({written} video reports written beside their documents)")
        return 0
    try:
        result = read_document(source)
    except DocumentError as exc:
        print(f"cannot read {source} as a reelscope result: {exc}", file=sys.stderr)
        return 2
    target = write_report(result, args.output or source.with_suffix(".html"), embed_video=args.embed_video)
    print(f"report written to {target}")
    return 0


def export(args: argparse.Namespace) -> int:
    from pipeline import exports

    return exports.command(args)


def schema(args: argparse.Namespace) -> int:
    from pipeline.schema import document_schema

    text = json.dumps(document_schema(), indent=1) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"schema written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def show_settings(args: argparse.Namespace) -> int:
    """The settings this machine's environment and file give, as JSON (`--settings` reads it back)."""
    print(_settings(args).model_dump_json(indent=1))
    return 0


def check(args: argparse.Namespace) -> int:
    from pipeline import check as checks

    return checks.run(_settings(args))


def models(args: argparse.Namespace) -> int:
    from pipeline import model_commands

    handler, _ = model_commands.ACTIONS[args.action]
    return handler(args, _settings(args), _names(args))


def parser() -> argparse.ArgumentParser:
    from pipeline.model_commands import ACTIONS

    top = argparse.ArgumentParser(prog="reelscope", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("analyze", help="analyse videos into one JSON document each")
    run.add_argument(
        "videos", nargs="*", help="video or audio files, folders (their media, recursively), globs, http(s) URLs (none: a sample clip)"
    )
    run.add_argument("--analyzers", help=f"comma-separated subset of: {', '.join(ALL_NAMES)}")
    run.add_argument("--out", default="out", help="directory for <video>.json (default: out/)")
    run.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join (default: start one here)")
    run.add_argument("--num-gpus", type=float, default=None, help="GPUs the embedded Ray may use (default: detected)")
    run.add_argument("--report", action="store_true", help="also write <video>.html, a self-contained report, beside each JSON")
    run.add_argument(
        "--embed-video", action="store_true", help="with --report: the clip itself in the page (up to 50 MiB), not a link"
    )
    run.add_argument("--verbose", action="store_true", help="Ray's own log lines and Ray Data's operator bars too")
    run.add_argument("--in-process", action="store_true", help="analyse here, one stage after another, without Ray (debugging)")
    run.set_defaults(handler=analyze)
    page = commands.add_parser("report", help="write a self-contained HTML report of one result, or of a whole directory")
    page.add_argument(
        "result",
        help="a <video>.json written by `reelscope analyze`, or a directory of them (a backfill's output): "
        "one corpus page, each video's report beside its document",
    )
    page.add_argument(
        "-o", "--output", help="where to write the page (default: the result's path with .html; for a directory DIR/corpus.html)"
    )
    page.add_argument("--embed-video", action="store_true", help="the clip itself in the page (up to 50 MiB), not a link")
    page.set_defaults(handler=report)
    table = commands.add_parser("export", help="write one result as subtitles (vtt, srt), a table (csv) or an ELAN file (eaf)")
    table.add_argument("document", help="a <video>.json written by `reelscope analyze`")
    table.add_argument(
        "--format",
        required=True,
        choices=("vtt", "srt", "csv", "eaf"),
        help="vtt, srt: the transcript, and the captions on screen in <stem>.captions.<format>; "
        "csv: every segment, one row each; eaf: ELAN tiers, one per analyzer",
    )
    table.add_argument("-o", "--output", help="the file or folder to write (default: beside the document, its suffix replaced)")
    table.set_defaults(handler=export)
    document = commands.add_parser("schema", help="print the document's JSON Schema (every analyzer's fields)")
    document.add_argument("-o", "--output", help="write it to this file instead")
    document.set_defaults(handler=schema)
    current = commands.add_parser("settings", help="print the settings in effect (environment, file, defaults)")
    current.set_defaults(handler=show_settings)
    doctor = commands.add_parser("check", help="versions, GPUs, weights, and every analyzer on the sample clip")
    doctor.set_defaults(handler=check)
    weights = commands.add_parser("models", help="list, fetch, verify or add model weights").add_subparsers(dest="action", required=True)
    for action, (_, text) in ACTIONS.items():
        sub = weights.add_parser(action, help=text)
        if action == "add":
            sub.add_argument("folder", help="a folder holding model files or folders under their names")
            sub.add_argument(
                "--accept-unpinned", action="store_true", help="take model files that are not the pinned release (your own)"
            )
        sub.add_argument("--analyzers", help="comma-separated subset (default: all)")
        sub.set_defaults(handler=models)
    for sub in (run, doctor, current, *weights.choices.values()):
        sub.add_argument("--settings", help="a TOML or JSON settings file (default: $REELSCOPE_SETTINGS_FILE)")
        sub.add_argument("--models-dir", help="where model weights live (the models_dir setting)")
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, extra = top.parse_known_args(argv)
    # `reelscope analyze -clip.mp4`: argparse takes a name with a leading dash for an option.
    files = [a for a in extra if args.command == "analyze" and os.path.isfile(a)]
    if len(files) < len(extra):
        top.error(f"unrecognized arguments: {' '.join(a for a in extra if a not in files)}")
    if files:
        args.videos = [*args.videos, *files]
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"reelscope: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
