"""The virtual filesystem against proot: the same path-heavy programs, natively, under
``sysemu run --bind`` and under ``proot -b``, side by side.

    python3 bench/vfs.py [--runs R] [--tree DIR] [--json FILE]

Cases (each program sees the host directory DIR, /usr by default, at /vfs-bench):

- ``find /vfs-bench -xdev``: a stat and a listing per entry;
- ``git status`` in a repository of a copy of /usr/include (7,900 files here) bound at
  /vfs-bench-repo: an lstat of every tracked file, the index, the object store;
- ``ls -la /``, whose listing must show the bind point (a behaviour check, not timed).

Every timed command's output is compared with native's (paths renamed back) first: a row whose
output differs is reported and not timed. Prints the best of R runs (5) and the ratios
sysemu/native and proot/sysemu; the issue's target is sysemu at least as fast as proot.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

VIRT = "/vfs-bench"
VIRT_REPO = "/vfs-bench-repo"
SYSEMU = [sys.executable, "-m", "sysemu", "run"]


def timed(argv: Sequence[str], cwd: str | None = None) -> tuple[float, str]:
    """Wall time of one run of ``argv`` and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return elapsed, done.stdout


def best(argv: Sequence[str], runs: int, cwd: str | None = None) -> float:
    return min(timed(argv, cwd)[0] for _ in range(runs))


def make_repository(repo: str, files: str) -> None:
    """A git repository at ``repo`` with a copy of ``files`` committed, one file changed and
    one untracked: ``git status`` then lstats every tracked file."""
    shutil.copytree(files, Path(repo) / "files", symlinks=True)
    author = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for command in (["init", "-q"], ["add", "-A"], [*author, "commit", "-q", "-m", "files"]):
        subprocess.run(["git", "-C", repo, *command], check=True)
    (Path(repo) / "untracked.txt").write_text("not in git\n")
    with open(next((Path(repo) / "files").rglob("*.h")), "a") as changed:
        changed.write("/* changed */\n")


def case_rows(tree: str, repo: str) -> list[tuple[str, dict[str, list[str]], str, str]]:
    """(case, {row: argv}, the output's virtual prefix, its host prefix)."""
    find = ["find", VIRT, "-xdev"]
    git = ["git", "-C", VIRT_REPO, "status", "--porcelain", "--untracked-files=all"]
    return [
        (
            "find",
            {
                "native": ["find", tree, "-xdev"],
                "sysemu --bind": [*SYSEMU, "--bind", f"{VIRT}={tree}", "--", *find],
                "proot -b": ["proot", "-b", f"{tree}:{VIRT}", *find],
            },
            VIRT,
            tree,
        ),
        (
            "git status",
            {
                "native": ["git", "-C", repo, "status", "--porcelain", "--untracked-files=all"],
                "sysemu --bind": [*SYSEMU, "--bind", f"{VIRT_REPO}={repo}", "--", *git],
                "proot -b": ["proot", "-b", f"{repo}:{VIRT_REPO}", *git],
            },
            VIRT_REPO,
            repo,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, metavar="R", help="runs per row (5)")
    parser.add_argument("--tree", default="/usr", metavar="DIR", help="tree for find (/usr)")
    parser.add_argument(
        "--repo-files",
        default="/usr/include",
        metavar="DIR",
        help="the files committed to the repository of `git status` (/usr/include)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if shutil.which("proot") is None:
        print("bench/vfs.py: proot is not installed (apt-get install proot)", file=sys.stderr)
        return 2
    results: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory(prefix="sysemu-bench-") as scratch:
        repo = str(Path(scratch) / "repo")
        make_repository(repo, args.repo_files)
        print(f"sysemu vfs benchmark: best of {args.runs} runs; find over {args.tree}")
        print(f"{'case':<12} {'row':<14} {'best s':>8} {'x native':>9}")
        for case, rows, virtual, host in case_rows(args.tree, repo):
            _, expected = timed(rows["native"])
            results[case] = {}
            for row, command in rows.items():
                _, out = timed(command)
                if out.replace(virtual, host) != expected:
                    results[case][row] = "output differs from native"
                    print(f"{case:<12} {row:<14} output differs from native's: not timed")
                    continue
                results[case][row] = best(command, args.runs)
            base = results[case]["native"]
            for row, value in results[case].items():
                if isinstance(value, float) and isinstance(base, float):
                    print(f"{case:<12} {row:<14} {value:8.3f} {value / base:9.2f}")
            ours, peer = results[case].get("sysemu --bind"), results[case].get("proot -b")
            if isinstance(ours, float) and isinstance(peer, float):
                verdict = "met" if ours <= peer else "missed"
                print(f"{case:<12} proot / sysemu = {peer / ours:.2f} (target >= 1: {verdict})")
        listing = subprocess.run(
            [*SYSEMU, "--bind", f"{VIRT}={args.tree}", "--", "ls", "-a", "/"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        shown = VIRT.lstrip("/") in listing.stdout.split()
        print(f"bind point listed by `ls -a /` under sysemu: {'yes' if shown else 'NO'}")
        results["ls"] = {"bind point listed": "yes" if shown else "no"}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
