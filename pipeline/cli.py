"""`reelscope`: analyse videos on an embedded local Ray (or the cluster in RAY_ADDRESS)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from pathlib import Path

from pipeline.engine import VideoRequest
from pipeline.models import MODELS_DIR_ENV, models_dir
from pipeline.registry import ALL_NAMES
from pipeline.schema import Status, VideoResult


def safe_stem(path: str) -> str:
    """The file's stem, made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem) or "video"


def _video_ids(paths: list[str]) -> list[str]:
    """File stems made safe for file names and unique within the run."""
    ids: list[str] = []
    for path in paths:
        stem = safe_stem(path)
        candidate, n = stem, 1
        while candidate in ids:
            n += 1
            candidate = f"{stem}-{n}"
        ids.append(candidate)
    return ids


def start_ray(address: str | None, num_gpus: float | None) -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, loopback-only Ray needs no token
    import ray

    if ray.is_initialized():
        return
    # Workers see the driver's reelscope settings (models directory, model options), on this
    # machine or a cluster's.
    env = {name: value for name, value in os.environ.items() if name.startswith("REELSCOPE_")}
    runtime_env = {"env_vars": env} if env else None
    if address:
        ray.init(address=address, logging_level=logging.WARNING, runtime_env=runtime_env)
    else:
        ray.init(num_gpus=num_gpus, logging_level=logging.WARNING, include_dashboard=False, runtime_env=runtime_env)
    # Ray Data's progress bars are the progress display on a terminal; in logs they are noise.
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def describe(result: VideoResult) -> str:
    """One line a person can read at a glance."""
    if result.status == Status.failed and not result.analyzers:
        return f"FAILED {result.source}: {result.error}"
    info = result.video
    done = sum(r.status == Status.ok for r in result.analyzers.values())
    parts = [f"{info.duration_s:.1f} s", f"{done}/{len(result.analyzers)} analyzers ok"]
    summaries = {name: r.summary for name, r in result.analyzers.items() if r.status == Status.ok}
    if "cut_analysis" in summaries:
        parts.append(f"{summaries['cut_analysis'].get('shot_count')} shots")
    if "scene_segmentation" in summaries:
        parts.append(f"{summaries['scene_segmentation'].get('scene_count')} scenes")
    if summaries.get("audio_analysis", {}).get("tempo_bpm"):
        parts.append(f"{summaries['audio_analysis']['tempo_bpm']:.0f} bpm")
    if "speech_flow" in summaries:
        parts.append(f"speech {summaries['speech_flow'].get('speech_share', 0):.0%}")
    failed = [name for name, r in result.analyzers.items() if r.status == Status.failed]
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    return f"ok     {result.source}: " + ", ".join(parts)


def comma_separated(text: str | None) -> list[str] | None:
    """The names in "a, b,c"; None when there are none (meaning: the default)."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else []
    return names or None


def requested_analyzers(analyzers: str | None) -> list[str] | None:
    names = comma_separated(analyzers)
    unknown = [n for n in names or () if n not in ALL_NAMES]
    if unknown:
        raise SystemExit(f"unknown analyzer(s): {', '.join(unknown)}. Known: {', '.join(ALL_NAMES)}")
    return names


def _weights(names: list[str] | None):
    """(analyzers, weights) for each distinct weights entry the named analyzers load."""
    from pipeline.check import analyzer_weights
    from pipeline.registry import load

    return analyzer_weights([load(name) for name in names or ALL_NAMES])


def models_list(args: argparse.Namespace) -> int:
    """Each weights entry and its state; 1 when a required one is missing or any is wrong.
    Sizes are checked, not digests: `models verify` reads every byte."""
    print(f"models directory: {models_dir()}")
    bad = 0
    for name, weights in _weights(requested_analyzers(args.analyzers)):
        if not weights.present():
            state = "optional" if weights.optional else "MISSING"
        else:
            problem = weights.problem(full=False)
            state = f"WRONG ({problem})" if problem else "present"
        bad += state == "MISSING" or state.startswith("WRONG")
        print(f"{state:8} {name:40} {weights.source}  ->  {weights.path}")
    return 1 if bad else 0


def models_verify(args: argparse.Namespace) -> int:
    """Every byte of the weights here against what their entries pin."""
    from pipeline.check import weights_state

    bad = 0
    for name, weights in _weights(requested_analyzers(args.analyzers)):
        state = weights_state(weights)
        bad += state.startswith(("WRONG", "MISSING"))
        print(f"{name}: {weights.source}: {state}")
    return 1 if bad else 0


def models_download(args: argparse.Namespace) -> int:
    failures = 0
    for name, weights in _weights(requested_analyzers(args.analyzers)):
        if weights.present() and not weights.problem(full=False):
            print(f"present  {name}: {weights.path}")
            continue
        try:
            print(f"fetching {name}: {weights.source} -> {weights.download()}")
        except Exception as exc:  # no network, no such repo, a digest mismatch: say so and go on
            failures += 1
            print(f"FAILED   {name}: {weights.source}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return 1 if failures else 0


def models_add(args: argparse.Namespace) -> int:
    """Copy the weights found in a local folder into the models directory, each checked first."""
    from pipeline.models import WeightsError

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"not a folder: {folder}", file=sys.stderr)
        return 2
    added = refused = 0
    for name, weights in _weights(requested_analyzers(args.analyzers)):
        try:
            print(f"added    {name}: {weights.add(folder, args.accept_unpinned)}")
            added += 1
        except FileNotFoundError as exc:
            print(f"absent   {name}: {exc}")
        except WeightsError as exc:
            refused += 1
            print(f"REFUSED  {name}: {exc}")
    print(f"{added} added to {models_dir()}, {refused} refused")
    return 1 if refused or not added else 0


def check(args: argparse.Namespace) -> int:
    from pipeline import check as checks

    return checks.run()


def analyze(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = list(args.videos)
    if not paths:
        from pipeline.sample import SAMPLE, write_clip

        paths = [write_clip(str(out / "sample.mp4"), SAMPLE)]
        print(f"no video given: analysing the built-in sample clip {paths[0]}")
    names = requested_analyzers(args.analyzers)
    requests = [VideoRequest(video_id, path) for video_id, path in zip(_video_ids(paths), paths)]

    start_ray(args.address, args.num_gpus)
    from pipeline import ray_runner
    from pipeline.engine import Plan

    started = time.perf_counter()
    failures = 0
    try:
        for done, result in enumerate(ray_runner.run(requests, Plan.build(names, weights_here=not args.address)), start=1):
            (out / f"{result.id}.json").write_text(result.to_json())
            if args.report:
                from pipeline.report import write_report

                write_report(result, out / f"{result.id}.html")
            failures += result.status == Status.failed
            print(f"[{done}/{len(requests)}] {describe(result)}", flush=True)
    except ray_runner.PlacementError as exc:
        print(f"cannot place the models: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    print(f"{len(requests) - failures} of {len(requests)} videos analysed in {wall:.1f} s; results in {out}/")
    return 1 if failures else 0


def report(args: argparse.Namespace) -> int:
    from pipeline.report import write_report

    source = Path(args.result)
    try:
        result = VideoResult.model_validate_json(source.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {source} as a reelscope result: {exc}", file=sys.stderr)
        return 2
    target = write_report(result, args.output or source.with_suffix(".html"))
    print(f"report written to {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reelscope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("analyze", help="analyse videos into one JSON document each")
    run.add_argument("videos", nargs="*", help="video or audio files (none: a built-in sample clip)")
    run.add_argument("--analyzers", help=f"comma-separated subset of: {', '.join(ALL_NAMES)}")
    run.add_argument("--out", default="out", help="directory for <video>.json (default: out/)")
    run.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join (default: start one here)")
    run.add_argument("--num-gpus", type=float, default=None, help="GPUs the embedded Ray may use (default: detected)")
    run.add_argument("--report", action="store_true", help="also write <video>.html, a self-contained report, beside each JSON")
    run.set_defaults(handler=analyze)
    page = commands.add_parser("report", help="write a self-contained HTML report of one result")
    page.add_argument("result", help="a <video>.json written by `reelscope analyze`")
    page.add_argument("-o", "--output", help="where to write the page (default: the result's path with .html)")
    page.set_defaults(handler=report, models_dir=None)  # reads no models
    doctor = commands.add_parser("check", help="versions, GPUs, weights, and every analyzer on the sample clip")
    doctor.set_defaults(handler=check)
    models = commands.add_parser("models", help="list, fetch, verify or add model weights").add_subparsers(dest="action", required=True)
    for action, handler, text in (
        ("list", models_list, "show each model's weights and whether they are here"),
        ("download", models_download, "fetch missing or wrong weights (needs a hub), checked before they are placed"),
        ("verify", models_verify, "check every byte of the weights here against what they pin"),
        ("add", models_add, "copy weights from a local folder (a USB stick, ../shared/models), checked first"),
    ):
        sub = models.add_parser(action, help=text)
        if action == "add":
            sub.add_argument("folder", help="a folder holding model files or folders under their names")
            sub.add_argument(
                "--accept-unpinned", action="store_true", help="take model files that are not the pinned release (your own)"
            )
        sub.add_argument("--analyzers", help="comma-separated subset (default: all)")
        sub.set_defaults(handler=handler)
    for sub in (run, doctor, *models.choices.values()):
        sub.add_argument("--models-dir", help=f"where model weights live (default: ${MODELS_DIR_ENV} or {models_dir()})")
    args, extra = parser.parse_known_args(argv)
    # `reelscope analyze -clip.mp4`: argparse takes a name with a leading dash for an option.
    files = [a for a in extra if args.command == "analyze" and os.path.isfile(a)]
    if len(files) < len(extra):
        parser.error(f"unrecognized arguments: {' '.join(a for a in extra if a not in files)}")
    if files:
        args.videos = [*args.videos, *files]
    if args.models_dir:
        os.environ[MODELS_DIR_ENV] = str(Path(args.models_dir).resolve())
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
