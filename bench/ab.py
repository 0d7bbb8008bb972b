"""Two source trees of sysemu against each other on the getpid micro-benchmark, interleaved.

    python3 bench/ab.py BASE_SRC HEAD_SRC [--calls N] [--rounds R] [--backends B,...]
    python3 bench/ab.py BASE_SRC HEAD_SRC --instructions [--backends ptrace,sysemu]
    python3 bench/ab.py BASE_SRC HEAD_SRC --bind [--backends seccomp,ptrace,sysemu,auto]

Each tree is a ``src`` directory (with its accelerator built in place), put first on
PYTHONPATH for ``python3 -m sysemu run --backend B --rules bench/rules/emulate_getpid.py --
bench/out/getpid_loop N`` (and ``pass_getpid.py``). Rounds alternate which tree goes first, so
that a machine that slows down or speeds up meanwhile moves both alike.

Default: the program's own loop time per call (``LOOP_NS``), as ``bench/run.py`` reads it, the
median over the rounds of each tree and the median of the per-round ratios. ``--instructions``:
the instructions the tracer process executes per call, counted by valgrind's callgrind as
the difference between N and N/10 calls (start-up cancels out), with ``--spin-us 0`` (polling
for a stop is timing); on a loaded machine this is the steady number. Valgrind does not
implement seccomp(2), so only the backends without a filter (ptrace, sysemu) can be counted.
``--bind``: the cost of a path rewrite instead, ``openat_loop N /sysemu-ab/file`` under
``--bind /sysemu-ab=DIR`` (a temporary DIR holding ``file``): every open is rewritten to the
host path, whose bytes sysemu writes into the program (not on unotify, which cannot rewrite).
A second row per backend, "spawn", runs ``sh`` starting ``cat /sysemu-ab/file`` N/20 times
under the same bind and divides the run's wall time by the number of ``cat`` processes: the
cost of a process whose rewrites are few (the first rewrite in a process maps sysemu's
scratch area there, engine/scratch.py).
Run ``bench/run.py`` once first: it builds ``bench/out/getpid_loop`` and ``openat_loop``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "bench" / "rules"
LOOP = ROOT / "bench" / "out" / "getpid_loop"
OPENAT_LOOP = ROOT / "bench" / "out" / "openat_loop"
BOUND = "/sysemu-ab"
DECIDES_ONLY = {"auto"}  # backends whose rules must declare decides_only


def command(
    src: str, backend: str, mode: str, calls: int, *extra: str
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one run of ``src`` (a tree's ``src`` directory)."""
    suffix = "_decides_only" if backend in DECIDES_ONLY else ""
    argv = [
        sys.executable, "-m", "sysemu", "run", *extra, "--backend", backend,
        "--rules", str(RULES / f"{mode}_getpid{suffix}.py"), "--", str(LOOP), str(calls),
    ]  # fmt: skip
    kind, _, host = mode.partition("=")  # the host directory follows a bind mode's name
    if kind in ("bind", "spawn"):
        program = [str(OPENAT_LOOP), str(calls), f"{BOUND}/file"]
        if kind == "spawn":
            loop = f"i=0; while [ $i -lt {calls} ]; do cat {BOUND}/file; i=$((i+1)); done"
            program = ["sh", "-c", loop]
        argv = [
            sys.executable, "-m", "sysemu", "run", *extra, "--backend", backend,
            "--bind", f"{BOUND}={host}", "--", *program,
        ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), LOOP_NS="1", PYTHONHASHSEED="0")
    env.pop("SYSEMU_NO_SPEEDUPS", None)
    return argv, env


def loop_us(src: str, backend: str, mode: str, calls: int) -> float:
    """The program's loop time per call, in µs."""
    argv, env = command(src, backend, mode, calls)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if mode.startswith("spawn="):
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-500:]}")
        return (time.perf_counter() - started) / calls * 1e6
    found = re.search(r"loop ns (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no loop time from {' '.join(argv)}:\n{done.stderr[-500:]}")
    return int(found.group(1)) / calls / 1000


def instructions(src: str, backend: str, mode: str, calls: int) -> float:
    """The tracer's instructions per call (callgrind), from ``calls`` and ``calls // 10``."""
    counts = []
    for n in (calls // 10, calls):
        argv, env = command(src, backend, mode, n, "--spin-us", "0")
        valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
        done = subprocess.run(valgrind, env=env, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"no count from {' '.join(valgrind)}:\n{done.stderr[-500:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (calls - calls // 10)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the first tree's src directory")
    parser.add_argument("head", help="the second tree's src directory")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--backends", default="seccomp,ptrace,sysemu,unotify,auto")
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--bind", action="store_true", help="time a rewritten openat instead")
    args = parser.parse_args()
    for needed in (OPENAT_LOOP,) if args.bind else (LOOP,):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run bench/run.py --quick once to build it")
    measure = instructions if args.instructions else loop_us
    unit = "instructions/call" if args.instructions else "µs/call (loop wall clock)"
    backends = args.backends.split(",")
    if args.bind:
        host = tempfile.mkdtemp(prefix="sysemu-ab-")
        Path(host, "file").write_text("bound\n")
        rewriting = [b for b in backends if b != "unotify"]
        rows = [(b, f"{kind}={host}") for b in rewriting for kind in ("bind", "spawn")]
    else:
        rows = [(b, m) for b in backends for m in ("emulate", "pass")]
    for tree in ("base", "head"):  # a first run writes each tree's bytecode cache: not timed
        loop_us(getattr(args, tree), rows[0][0], rows[0][1], 1)
    samples: dict[tuple[str, str, str], list[float]] = {}
    for round_ in range(args.rounds):
        trees = ("base", "head") if round_ % 2 == 0 else ("head", "base")
        for backend, mode in rows:
            for tree in trees:
                calls = args.calls // 20 if mode.startswith("spawn=") else args.calls
                value = measure(getattr(args, tree), backend, mode, calls)
                samples.setdefault((tree, backend, mode), []).append(value)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    program = f"openat_loop {args.calls} under --bind" if args.bind else f"getpid_loop {args.calls}"
    print(f"{program}, {args.rounds} interleaved rounds: {unit}, medians")
    if args.bind:
        per_cat = "instructions" if args.instructions else "µs of wall time"
        print(f"(spawn: sh starting cat {args.calls // 20} times, {per_cat} per cat)")
    print(f"base {args.base}\nhead {args.head}")
    for backend, mode in rows:
        base, head = samples[("base", backend, mode)], samples[("head", backend, mode)]
        paired = statistics.median(h / b for b, h in zip(base, head, strict=True))
        print(
            f"{backend:8} {mode.split('=')[0]:8} base {statistics.median(base):10.3f}  "
            f"head {statistics.median(head):10.3f}  head/base {paired:.3f}"
        )


if __name__ == "__main__":
    main()
