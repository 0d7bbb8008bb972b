"""Start-up: what ``sysemu run`` costs on a program that does nothing (``true``), per variant.

    python3 bench/startup.py [--rounds R] [--base SRC] [--instructions]

Every variant runs ``true``, so the whole command is start-up and tear-down: parsing, imports,
the tools, the filter, fork, seize, exec and the wait for the exit. Rounds interleave every
command (the order rotates each round), and each figure is the median over the rounds; the
ratios are medians of each round's own ratio to ``python3 -c pass`` measured in the same
round, so a machine that speeds up or slows down moves both alike. The peers' rows start
``true`` the same way: ``strace -f`` with a seccomp filter and ``proot -b``.

``--base SRC`` adds the same sysemu variants run from another source tree (a ``src``
directory with its accelerator built in place), for an A/B of two versions in one run.

``--instructions`` also counts the sysemu process's instructions (valgrind's callgrind,
``PYTHONHASHSEED=0``, address-space randomization off): repeatable on a loaded machine. Valgrind
does not implement seccomp(2), so there the variants run with ``--backend ptrace`` (no filter
is installed; one is still built when the variant has rules), except the bare run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "bench" / "rules"
TRUE = shutil.which("true") or "/bin/true"

# name -> sysemu options before "--" (the program is always `true`).
VARIANTS: dict[str, list[str]] = {
    "no option": [],
    "--rules (a handler on openat)": ["--rules", str(RULES / "pass_openat.py")],
    "--inject path=": ["--inject", "openat:error=EACCES:path=/nonexistent/*"],
    "--trace=openat": ["--trace=openat", "-o", "/dev/null"],
    "--bind": ["--bind", "/mnt=/tmp"],
}
TARGET_RATIO = {"no option": 1.5, "--bind": 2.0}  # issue goals, to python3 -c pass


def sysemu_argv(options: list[str], *, instructions: bool = False) -> list[str]:
    """``sysemu run OPTIONS -- true`` (the console script's own start: no runpy). Counted,
    a variant with options gets ``--spin-us 0`` too (polling for a stop is timing, not
    work); the bare run stays bare (an option would load the tools' options)."""
    counted = ["--spin-us", "0", "--backend", "ptrace"] if instructions and options else []
    script = "from sysemu.cli.main import entry; entry()"
    return [sys.executable, "-c", script, "run", *counted, *options, "--", TRUE]


def environment(src: Path | None) -> dict[str, str]:
    """The environment of a run from ``src`` (None: the installed sysemu)."""
    env = dict(os.environ)
    env.pop("SYSEMU_NO_SPEEDUPS", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit; exits on failure (a broken variant measures nothing)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return elapsed


def instructions(argv: list[str], env: dict[str, str], *, repeats: int = 3) -> int | None:
    """The first process's instructions under callgrind, the least of ``repeats`` runs, or
    None without valgrind. A run whose tracer waits for its program polls more often when
    the machine is busy (seen: 155M to 174M for the same ``--trace`` run); the least count
    is the work itself."""
    if shutil.which("valgrind") is None:
        return None
    counted = dict(env, PYTHONHASHSEED="0")
    command = ["setarch", "-R", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    counts = []
    for _ in range(repeats):
        done = subprocess.run([*command, *argv], env=counted, capture_output=True, text=True,
                              check=False)  # fmt: skip
        found = re.search(r"==(\d+)== Collected : (\d+)", done.stderr)
        if found:
            counts.append(int(found.group(2)))
    return min(counts) if counts else None


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--base", type=Path, help="another tree's src directory, for an A/B")
    parser.add_argument("--instructions", action="store_true", help="also count (callgrind)")
    args = parser.parse_args()
    env = environment(ROOT / "src")
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "python3 -c pass": ([sys.executable, "-c", "pass"], dict(os.environ)),
    }
    for name, options in VARIANTS.items():
        commands[f"sysemu {name}"] = (sysemu_argv(options), env)
        if args.base is not None:
            commands[f"base {name}"] = (sysemu_argv(options), environment(args.base))
    if shutil.which("strace"):
        strace = ["strace", "-f", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null"]
        commands["strace --seccomp-bpf -e trace=openat"] = ([*strace, TRUE], dict(os.environ))
    if shutil.which("proot"):
        commands["proot -b"] = (["proot", "-b", "/tmp:/mnt", TRUE], dict(os.environ))
    for argv, run_env in commands.values():  # warm the caches (bytecode, page cache)
        wall(argv, run_env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    ratios: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        times = {name: wall(*commands[name]) for name in order}
        for name in names:
            samples[name].append(times[name])
            ratios[name].append(times[name] / times["python3 -c pass"])
    print(f"start-up of `true`, {args.rounds} interleaved rounds, medians")
    print(f"{'command':45} {'ms':>8} {'/ python3 -c pass':>18}  goal")
    for name in names:
        goal = TARGET_RATIO.get(name.removeprefix("sysemu "))
        mark = "" if goal is None or not name.startswith("sysemu ") else f"<= {goal}"
        ms = statistics.median(samples[name]) * 1000
        print(f"{name:45} {ms:8.1f} {statistics.median(ratios[name]):18.2f}  {mark}")
    if args.instructions:
        print("\ninstructions of the sysemu process (callgrind; variants with options on "
              "--backend ptrace)")  # fmt: skip
        trees = [("sysemu", ROOT / "src")] + ([("base", args.base)] if args.base else [])
        for label, src in trees:
            for name, options in VARIANTS.items():
                count = instructions(sysemu_argv(options, instructions=True), environment(src))
                shown = "valgrind missing" if count is None else f"{count / 1e6:8.2f} M"
                print(f"{label + ' ' + name:47} {shown}")
        count = instructions([sys.executable, "-c", "pass"], dict(os.environ))
        if count is not None:
            print(f"{'python3 -c pass':47} {count / 1e6:8.2f} M")


if __name__ == "__main__":
    main()
