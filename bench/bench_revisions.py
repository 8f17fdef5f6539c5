"""One benchmark, two revisions of reelscope, side by side in one run.

    python bench/bench_revisions.py BEFORE [--after REV] [--bench bench/bench_cpu.py] [--rounds 2] [BENCH ARGS]

Checks BEFORE (and AFTER, default: this working tree) out as temporary git worktrees, then runs
this tree's copy of the benchmark script in each (both measured the same way), alternating (before, after, before, after, …) so that both see the
same machine load, and prints every "x realtime" row and ratio line of each, the median over the
rounds beside each other. Both run in this interpreter's environment.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d+\.\d+")


def checkout(revision: str, into: Path, bench: str) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), revision], check=True, capture_output=True)
    shutil.copy(REPO / bench, into / bench)  # this tree's benchmark measures that revision's code
    return into


def figures(output: str) -> dict[str, list[float]]:
    """The numbers of each row that reports seconds or a ratio, keyed by the row's words."""
    rows = {}
    for line in output.splitlines():
        if "realtime" in line or line.startswith("("):
            key = NUMBER.sub("#", line).strip()
            rows[key] = [float(n) for n in NUMBER.findall(line)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("--after", help="a revision (default: this working tree as it is)")
    parser.add_argument("--bench", default="bench/bench_cpu.py")
    parser.add_argument("--rounds", type=int, default=2)
    args, bench_args = parser.parse_known_args()  # the rest goes to the benchmark (a clip, say)

    with tempfile.TemporaryDirectory(prefix="reelscope-revisions-") as scratch:
        trees = {"before": checkout(args.before, Path(scratch) / "before", args.bench)}
        trees["after"] = checkout(args.after, Path(scratch) / "after", args.bench) if args.after else REPO
        runs: dict[str, list[dict[str, list[float]]]] = {"before": [], "after": []}
        try:
            for round_ in range(args.rounds):
                for side, tree in trees.items():
                    # PYTHONPATH: the bench's Ray workers import this tree's code too, not the installed one.
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    done = subprocess.run(
                        [sys.executable, str(tree / args.bench), *bench_args], cwd=tree, capture_output=True, text=True, env=env
                    )
                    if done.returncode:
                        sys.exit(f"{side} ({tree}) failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
                    runs[side].append(figures(done.stdout))
                    if round_ == 0:
                        print(f"--- {side}: {args.before if side == 'before' else args.after or 'working tree'}")
                        print("\n".join(line for line in done.stdout.splitlines() if line.startswith(("clip:", "machine:"))))
        finally:
            for side, tree in trees.items():
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    print(f"\nmedian of {args.rounds} alternating rounds: before | after")
    for key in runs["before"][0]:
        if key not in runs["after"][0]:
            continue
        before = [statistics.median(r[key][i] for r in runs["before"]) for i in range(len(runs["before"][0][key]))]
        after = [statistics.median(r[key][i] for r in runs["after"]) for i in range(len(runs["after"][0][key]))]
        print(f"  {key}\n      before {before}\n      after  {after}")


if __name__ == "__main__":
    main()
