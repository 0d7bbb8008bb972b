"""What an error-path sweep costs against the runs it makes, and against a shell loop.

    python3 bench/sweep.py [--files N] [--points N] [--jobs N] [--rounds R]

Makes a tree of N files (200) and sweeps ``tar cf out.tar src`` over ``openat`` of the files
(``openat:error=EIO:path=*/src/*``, --points runs, 200) with ``sysemu sweep --jobs 2
--workdir``. Each round, interleaved, times:

- the sweep (wall time; its JSON gives the seconds of each run: copy, trace, classify);
- one ``sysemu run --inject '...:when=K:pid=root'`` of tar (5 times, the median), and tar
  alone: "points x single run" is what the same runs cost one after the other from the
  command line;
- the same sweep written as a shell loop over ``when=`` with ``sysemu run``, a fresh copy of
  the tree per run: once sequential, once two at a time (``xargs -P 2``);
- both again without the copies (``sysemu sweep`` without ``--workdir``, the loop in the tree
  itself), which shows what the sweep's own machinery costs: on a loaded machine copying
  200 files takes longer than tar does. (Two runs then write the same out.tar at once, which
  nothing reads.)

Prints medians over the rounds and the ratios of the same rounds; the goal (README) is a sweep
at most 1.1x the runs it makes, i.e. its wall time over the sum of its runs' seconds divided
by the jobs. Bytecode is cached as after an install (see run.child_environment).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import child_environment, median

ROOT = Path(__file__).resolve().parent.parent
SYSEMU = [sys.executable, "-m", "sysemu"]
SPEC = "openat:error=EIO:path=*/src/*"
TAR = ["tar", "cf", "out.tar", "src"]
SINGLE_RUNS = 5


def make_tree(where: Path, files: int) -> Path:
    """``where/work/src`` with ``files`` files of 1 KiB."""
    work = where / "work"
    (work / "src").mkdir(parents=True)
    for index in range(files):
        (work / "src" / f"file{index:04}.txt").write_bytes(os.urandom(512).hex().encode())
    return work


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    """Seconds of ``command`` and its stdout; exits on a status other than 0, 1 or 2 (tar's
    for a file it could not read, which the injected runs are)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        sys.exit(f"{shlex.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, done.stdout


def shell_loop(work: Path, points: int, parallel: int, *, copies: bool = True) -> str:
    """The sweep as a user would write it in sh: a copy (with ``copies``) and a ``sysemu
    run`` per ``when=``."""
    sysemu = shlex.join(SYSEMU)
    tar = shlex.join(TAR)
    run = f"{sysemu} run --inject '{SPEC}:when='\"$1\"':pid=root' -- {tar} >/dev/null 2>&1"
    if copies:
        copy = f'd=$(mktemp -d) && cp -r {shlex.quote(str(work))} "$d/work" && cd "$d/work"'
        one = f'{copy} && {run}; rm -rf "$d"'
    else:
        one = f"cd {shlex.quote(str(work))} && {run}; true"
    return f"seq 1 {points} | xargs -P {parallel} -I K sh -c {shlex.quote(one)} sh K"


def main() -> None:
    """Time the rows, print the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    env = child_environment()
    env["PYTHONPATH"] = str(ROOT / "src")
    rows: dict[str, list[float]] = {}
    run_sums: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as scratch:
        work = make_tree(Path(scratch), options.files)
        sweep = [*SYSEMU, "sweep", "--jobs", str(options.jobs), "--json", "--workdir", str(work),
                 "--max-runs", str(options.points), "--inject", SPEC, "--", *TAR]  # fmt: skip
        single = [*SYSEMU, "run", "--inject", f"{SPEC}:when={options.files // 2}:pid=root",
                  "--", *TAR]  # fmt: skip
        in_place = [arg for arg in sweep if arg not in ("--workdir", str(work))]
        loops = {f"shell loop, -P {p}": shell_loop(work, options.points, p) for p in (1, 2)}
        loops["shell loop, -P 2, no copy"] = shell_loop(work, options.points, 2, copies=False)
        timed(single, env, work)  # warm the bytecode cache and the page cache
        for round_number in range(options.rounds):
            seconds, output = timed(sweep, env)
            rows.setdefault("sysemu sweep", []).append(seconds)
            document = json.loads(output)
            if document["runs"] != options.points:
                sys.exit(f"the sweep made {document['runs']} runs, not {options.points}")
            run_sums.append(sum(point["seconds"] for point in document["points"]))
            rows.setdefault("sysemu sweep, no copy", []).append(timed(in_place, env, work)[0])
            for name, command in (("sysemu run, one", single), ("tar alone, one", TAR)):
                samples = []
                for _ in range(SINGLE_RUNS):
                    samples.append(timed(command, env, work)[0])
                    (work / "out.tar").unlink(missing_ok=True)
                rows.setdefault(name, []).append(median(samples))
            for name, loop in loops.items():
                rows.setdefault(name, []).append(timed(["/bin/sh", "-c", loop], env)[0])
            print(f"round {round_number + 1}/{options.rounds} done", file=sys.stderr)
    report(rows, run_sums, options.points, options.jobs)
    # The rows share the machine with whatever else runs: say how busy it was.
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\nsweep:  {shlex.join(sweep)}")
    print(f"single: {shlex.join(single)}   (in the tree)")
    print(f"loop:   {loops['shell loop, -P 1']}")


def report(rows: dict[str, list[float]], run_sums: list[float], points: int, jobs: int) -> None:
    """Medians, then the ratios of each round's numbers (medians of the per-round ratios)."""
    print(f"{'row':<24} {'median s':>9}")
    for name, values in rows.items():
        print(f"{name:<24} {median(values):>9.3f}")
    print(f"{'runs inside the sweep':<24} {median(run_sums):>9.3f}   (sum of their seconds)")
    sweep = rows["sysemu sweep"]
    single = rows["sysemu run, one"]

    def ratio(top: list[float], bottom: list[float], scale: float = 1.0) -> float:
        return median([t / (b * scale) for t, b in zip(top, bottom, strict=True)])

    def line(label: str, value: float, note: str = "") -> None:
        print(f"{label:<46} {value:6.3f}{note}")

    print()
    line(f"sweep / ({points} x sysemu run)", ratio(sweep, single, points))
    line(f"sweep / ({points} x sysemu run / {jobs} jobs)", ratio(sweep, single, points / jobs))
    line(f"sweep / (its runs' seconds / {jobs} jobs)", ratio(sweep, run_sums, 1 / jobs),
         "   (goal: at most 1.1)")  # fmt: skip
    for name in ("shell loop, -P 1", "shell loop, -P 2"):
        line(f"sweep / {name}", ratio(sweep, rows[name]))
    in_place, loop = rows["sysemu sweep, no copy"], rows["shell loop, -P 2, no copy"]
    line("sweep, no copy / shell loop, -P 2, no copy", ratio(in_place, loop))
    line(f"sweep, no copy / ({points} x sysemu run / {jobs} jobs)",
         ratio(in_place, single, points / jobs))  # fmt: skip
    line("sysemu run / tar alone (one run)", ratio(single, rows["tar alone, one"]))


if __name__ == "__main__":
    main()
