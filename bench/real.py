"""Whole real commands, start-up included, under strace, proot and sysemu: ratios to native.

    python3 bench/real.py [--rounds R] [--quick] [--only NAME[,NAME]] [--json FILE] [--src DIR]
                          [--all-calls] [--base DIR]

Workloads (their inputs are generated under bench/out/real/, deterministically, when missing):

- python:  ``python3 -c 'import json, email, http.client, asyncio'``
- git:     ``git -C REPO status`` in a repository of 2,000 committed files, 5 of them modified
- tar:     ``tar cf /dev/null /usr/include``
- make:    ``make -C PROJECT -j2`` of a 60-file C project (``make clean`` before each run, not
  timed)

Each is run natively, under ``strace -f --seccomp-bpf -e trace=openat -o /dev/null``, under
``sysemu run`` (the console script) with no rule, with ``--inject
'openat:error=EACCES:path=/nonexistent/*'`` and with ``--trace=openat -o /dev/null``; git,
tar and make also with their input directory bound at another path, by ``proot -b
HOST:VIRT`` and by ``sysemu run --bind VIRT=HOST``.
``--all-calls`` adds every call traced: ``strace -f -o /dev/null`` against ``sysemu run --trace
-o /dev/null``; ``--base DIR`` adds the trace columns run from another source tree (before and
after a change, paired in the same rounds). A round runs every column of a workload once, in
turn, rounds alternating the order; each cell is the median over the rounds of the run's time
over native's in the same round. Every run must exit 0 and print what native prints (make's
lines sorted, and its program must print what native's build prints). See bench/README.md,
"Real workloads".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run as bench  # bench/run.py: how runs are timed, checked and shown

REAL = bench.OUT / "real"
DEFAULT_ROUNDS = 5
QUICK_ROUNDS = 3
INJECT = "openat:error=EACCES:path=/nonexistent/*"  # every openat stops; none matches

# Generated inputs. Bump GENERATION when what is generated changes, so old copies are redone.
GENERATION = "1"
REPO_FILES = 2000
REPO_DIRS = 20
REPO_MODIFIED = 5
C_FILES = 60  # 59 modules and main.c
PAST = 1_600_000_000  # the committed files' mtime: older than the index, so git trusts it

# Where the bind columns show each input directory (it need not exist on the host).
VIRTUAL_ROOT = "/bench-real"


@dataclass(frozen=True)
class Column:
    """A way of running a workload: a table column."""

    key: str
    heading: str
    binds: bool = False  # runs the workload on its input's virtual path


COLUMNS = [
    Column("native", "native"),
    Column("strace", "strace"),
    Column("sysemu", "sysemu"),
    Column("inject", "inject"),
    Column("trace", "trace"),
    Column("proot", "proot -b", binds=True),
    Column("bind", "sysemu --bind", binds=True),
]
# Columns of --all-calls, and the trace columns --base runs from another tree (the same
# command prefix, with that tree's src on PYTHONPATH).
ALL_CALLS = [Column("strace_all", "strace -f"), Column("trace_all", "trace all")]
BASE_OF = {"trace": Column("trace_base", "trace (base)"),
           "trace_all": Column("trace_all_base", "trace all (b)")}  # fmt: skip
# Each sysemu variant against the peer it should cost no more than.
VERDICTS = [
    ("sysemu", "strace"), ("inject", "strace"), ("trace", "strace"), ("bind", "proot"),
    ("trace_all", "strace_all"), ("trace_base", "strace"), ("trace_all_base", "strace_all"),
    ("trace", "trace_base"), ("trace_all", "trace_all_base"),
]  # fmt: skip


def chosen_columns(all_calls: bool, base: bool) -> list[Column]:
    """The table's columns: COLUMNS, the --all-calls pair, each trace column's --base twin."""
    columns = list(COLUMNS)
    at = next(i for i, c in enumerate(columns) if c.binds)
    extra = list(ALL_CALLS) if all_calls else []
    if base:
        extra += [BASE_OF[c.key] for c in [*columns, *extra] if c.key in BASE_OF]
    return columns[:at] + extra + columns[at:]


def sysemu_command(python: str) -> list[str]:
    """``sysemu`` as users start it: the console script installed beside ``python`` (it
    imports sysemu from PYTHONPATH first, so ``--src`` and ``--base`` still choose the tree),
    or ``python -m sysemu`` where none is installed (runpy's start costs ~1.5 ms more)."""
    script = Path(python).parent / "sysemu"
    return [str(script)] if script.exists() else [python, "-m", "sysemu"]


def column_prefixes(
    python: str, base: str | None = None
) -> dict[str, Callable[[str, str], list[str]]]:
    """Per column key, the command prefix, given the bound (host, virtual) directories."""
    sysemu = [*sysemu_command(python), "run"]
    based = ["env", f"PYTHONPATH={base}", *sysemu]
    return {
        "native": lambda _host, _virtual: [],
        "strace": lambda _host, _virtual: [
            "strace", "-f", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null",
        ],
        "sysemu": lambda _host, _virtual: [*sysemu, "--"],
        "inject": lambda _host, _virtual: [*sysemu, "--inject", INJECT, "--"],
        "trace": lambda _host, _virtual: [*sysemu, "--trace=openat", "-o", "/dev/null", "--"],
        "proot": lambda host, virtual: ["proot", "-b", f"{host}:{virtual}"],
        "bind": lambda host, virtual: [*sysemu, "--bind", f"{virtual}={host}", "--"],
        "strace_all": lambda _host, _virtual: ["strace", "-f", "-o", "/dev/null"],
        "trace_all": lambda _host, _virtual: [*sysemu, "--trace", "-o", "/dev/null", "--"],
        "trace_base": lambda _host, _virtual: [*based, "--trace=openat", "-o", "/dev/null", "--"],
        "trace_all_base": lambda _host, _virtual: [*based, "--trace", "-o", "/dev/null", "--"],
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Generated inputs


def generated(path: Path, create: Callable[[Path], None]) -> Path:
    """``path``, made by ``create`` unless an earlier run finished making this GENERATION of it."""
    marker = path.with_name(path.name + ".done")
    if path.is_dir() and marker.exists() and marker.read_text() == GENERATION:
        return path
    print(f"  generating {path.relative_to(bench.ROOT)}...", file=sys.stderr, flush=True)
    marker.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    create(path)
    marker.write_text(GENERATION)
    return path


def git(repo: Path, *args: str) -> None:
    """Run a git command in ``repo`` as a fixed author at a fixed date (a repeatable commit)."""
    date = f"@{PAST} +0000"
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost", GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost",
        GIT_COMMITTER_DATE=date,
    )  # fmt: skip
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


def create_repository(repo: Path) -> None:
    """REPO_FILES small text files in REPO_DIRS directories, committed; then REPO_MODIFIED of
    them changed (a line more), so that ``git status`` lists them."""
    files = []
    for i in range(REPO_FILES):
        directory = repo / f"dir{i % REPO_DIRS:02d}"
        directory.mkdir(exist_ok=True)
        file = directory / f"file{i:04d}.txt"
        file.write_text("".join(f"line {j} of file {i}\n" for j in range(3 + i % 17)))
        # Files as new as the index are "racily clean": git would read them on every status.
        os.utime(file, (PAST, PAST))
        files.append(file)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{REPO_FILES} files")
    for file in files[:: REPO_FILES // REPO_MODIFIED]:
        with file.open("a") as changed:
            changed.write("changed\n")
    git(repo, "status", "--porcelain")  # refreshes and writes the index once


def create_c_project(project: Path) -> None:
    """C_FILES - 1 modules, each a function over a table, and a main.c that prints their sum;
    a Makefile with one rule per object and ``clean``."""
    modules = [f"m{i:02d}" for i in range(C_FILES - 1)]
    declarations = "".join(f"unsigned long {m}_sum(unsigned long seed);\n" for m in modules)
    (project / "project.h").write_text(f"#pragma once\n{declarations}")
    for index, module in enumerate(modules):
        table = ", ".join(str((index * 131 + k * 17) % 1000) for k in range(64))
        (project / f"{module}.c").write_text(
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
            '#include "project.h"\n\n'
            f"static const unsigned long table[64] = {{{table}}};\n\n"
            f"unsigned long {module}_sum(unsigned long seed)\n{{\n"
            "    unsigned long total = seed;\n"
            "    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)\n"
            "        total = total * 31 + table[k];\n"
            "    return total;\n}\n"
        )
    calls = "".join(f"    total += {m}_sum(total);\n" for m in modules)
    (project / "main.c").write_text(
        '#include <stdio.h>\n#include "project.h"\n\nint main(void)\n{\n'
        f"    unsigned long total = 0;\n{calls}"
        '    printf("total %lu\\n", total);\n    return 0;\n}\n'
    )
    objects = " ".join(f"{name}.o" for name in [*modules, "main"])
    (project / "Makefile").write_text(
        f"CC = cc\nCFLAGS = -O2 -Wall\nOBJECTS = {objects}\n\n"
        "prog: $(OBJECTS)\n\t$(CC) -o $@ $(OBJECTS)\n\n"
        "%.o: %.c project.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\n"
        "clean:\n\trm -f prog $(OBJECTS)\n\n.PHONY: clean\n"
    )


# ---------------------------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    """A real command, and how to prepare, bind and check its runs."""

    name: str  # for --only
    command: list[str]
    bound: str | None = None  # the host directory the bind columns show elsewhere
    prepare: list[str] | None = None  # run before each timed run, not timed
    sort_output: bool = False  # its lines come in any order (make -j2): compare them sorted
    product: list[str] | None = None  # run after each run; must print what native's prints
    rows: dict[str, bench.Row] = field(default_factory=dict)  # by column key
    expected: dict[str, str] = field(default_factory=dict)  # native's output and product's

    @property
    def virtual(self) -> str:
        """Where the bind columns show ``bound``."""
        return f"{VIRTUAL_ROOT}-{self.name}"

    def command_for(self, column: Column) -> list[str]:
        """The command a column runs: on the virtual path if the column binds."""
        if not column.binds or self.bound is None:
            return self.command
        return [arg.replace(self.bound, self.virtual) for arg in self.command]

    def check(self, column: Column) -> bench.Check:
        """The check of one column's runs against native's (``bench.Row``'s ``check``)."""

        def same_as_native(_n: int, stdout: str) -> str | None:
            if column.binds and self.bound is not None:
                stdout = stdout.replace(self.virtual, self.bound)
            if self.sort_output:
                stdout = "\n".join(sorted(stdout.splitlines()))
            problem = self.compare("output", stdout)
            if problem is None and self.product is not None:
                built = subprocess.run(
                    self.product, capture_output=True, text=True, timeout=60, check=False
                )
                problem = self.compare("built program's output", built.stdout)
            return problem

        return same_as_native

    def compare(self, what: str, output: str) -> str | None:
        """None if ``output`` is native's (the first one seen, native runs first), else why."""
        reference = self.expected.setdefault(what, output)
        return None if output == reference else f"{what} differs from native's first run"


def workloads(python: str) -> list[Workload]:
    """The four workloads, their inputs generated if missing."""
    repo = generated(REAL / "repo", create_repository)
    project = generated(REAL / "cproject", create_c_project)
    return [
        Workload("python", [python, "-c", "import json, email, http.client, asyncio"]),
        Workload("git", ["git", "-C", str(repo), "status"], bound=str(repo)),
        Workload("tar", ["tar", "cf", "/dev/null", "/usr/include"], bound="/usr/include"),
        Workload(
            "make",
            ["make", "-C", str(project), "-j2"],
            bound=str(project),
            prepare=["make", "-C", str(project), "-s", "clean"],
            sort_output=True,
            product=[str(project / "prog")],
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Measuring


def tool_missing() -> dict[str, str | None]:
    """Per column key, why it cannot run here (None if it can)."""
    strace = None if shutil.which("strace") else "not installed (apt-get install strace)"
    proot = None if shutil.which("proot") else "not installed (apt-get install proot)"
    return {"strace": strace, "proot": proot}


def make_rows(
    workload: Workload, python: str, columns: list[Column], base: str | None = None
) -> None:
    """The workload's row per column (a bind column only if it has a directory to bind)."""
    prefixes = column_prefixes(python, base)
    missing = tool_missing()
    missing["strace_all"] = missing["strace"]
    host = workload.bound or ""
    for column in columns:
        if column.binds and workload.bound is None:
            continue
        tracer = bench.Tracer(
            column.heading, prefixes[column.key](host, workload.virtual), missing.get(column.key)
        )
        workload.rows[column.key] = bench.Row(
            tracer, workload.command_for(column), workload.check(column), 1
        )


def run_once(workload: Workload, row: bench.Row, env: dict[str, str]) -> float | None:
    """One checked run of a row (after the workload's untimed preparation): its seconds, or
    None if it failed (the row's status then says why)."""
    if workload.prepare is not None:
        subprocess.run(workload.prepare, env=env, check=True, capture_output=True)
    timing = bench.attempt(row, row.argv, 1, False, env)
    return None if timing is None else timing.seconds


def measure(workload: Workload, rounds: int, env: dict[str, str]) -> None:
    """A first, untimed round checks every row (native first: it sets the expected output) and
    warms caches; then ``rounds`` timed rounds, each running every row once, alternating order.

    A row that fails a run keeps its status and loses its samples: every row left has one
    sample per round, so that per-round ratios pair runs of the same round.
    """
    rows = workload.rows
    for row in rows.values():
        if row.tracer.missing is not None:
            row.status = row.tracer.missing
        elif rows["native"].status is None:
            run_once(workload, row, env)
    if rows["native"].status is not None:
        return  # nothing to compare with
    for index in range(rounds):
        print(f"  {workload.name}: round {index + 1}/{rounds}", file=sys.stderr, flush=True)
        order = list(rows.values()) if index % 2 == 0 else list(rows.values())[::-1]
        for row in order:
            if row.status is None:
                seconds = run_once(workload, row, env)
                if seconds is not None:
                    row.samples.setdefault("unpinned", bench.Samples()).run.append(seconds)
    for row in rows.values():
        if row.status is not None:
            row.samples.clear()


# ---------------------------------------------------------------------------------------------
# Ratios and printing


def runs(row: bench.Row | None) -> list[float] | None:
    """The row's timed runs, one per round, or None if it has none."""
    if row is None or row.status is not None or "unpinned" not in row.samples:
        return None
    return row.samples["unpinned"].run


def paired_ratio(top: bench.Row | None, bottom: bench.Row | None) -> float | None:
    """The median over the rounds of ``top``'s time over ``bottom``'s in the same round."""
    mine, theirs = runs(top), runs(bottom)
    if mine is None or theirs is None or len(mine) != len(theirs) or not mine:
        return None
    return bench.median([a / b for a, b in zip(mine, theirs, strict=True)])


def ratio_of_medians(top: bench.Row | None, bottom: bench.Row | None) -> float | None:
    """``top``'s median time over ``bottom``'s."""
    mine, theirs = runs(top), runs(bottom)
    if not mine or not theirs:
        return None
    return bench.median(mine) / bench.median(theirs)


def short_status(row: bench.Row | None) -> str:
    """What a cell shows for a row without ratio."""
    if row is None:
        return "-"  # the workload has no such column (nothing to bind)
    if row.status is None:
        return "n/a"
    return "missing" if row.status.startswith("not installed") else "FAILED"


CELL = 15  # "12.34 [12.34]" and a gap
NAME = 8


def cell(workload: Workload, key: str) -> str:
    """A column's cell: the paired ratio to native, then the ratio of medians in brackets."""
    row, native = workload.rows.get(key), workload.rows["native"]
    paired = paired_ratio(row, native)
    if paired is None:
        return f"{short_status(row):>{CELL}}"
    return f"{paired:.2f} [{ratio_of_medians(row, native):.2f}]".rjust(CELL)


def verdicts(workload: Workload) -> list[dict[str, Any]]:
    """Each sysemu variant's paired ratio to its peer, and whether it is at most 1."""
    out = []
    for ours, theirs in VERDICTS:
        if ours not in workload.rows or theirs not in workload.rows:
            continue
        value = paired_ratio(workload.rows[ours], workload.rows[theirs])
        met = None if value is None else value <= 1.0
        out.append({"sysemu": ours, "peer": theirs, "ratio": value, "met": met})
    return out


def print_table(done: list[Workload], rounds: int, columns: list[Column]) -> None:
    """The ratio table, a verdict line per workload, the failures and the commands."""
    tracers = [c for c in columns if c.key != "native" and not c.binds]
    binders = [c for c in columns if c.binds]
    print(
        f"Ratio to native of each whole command: median of the {rounds} rounds' own ratios"
        " [ratio of the medians]"
    )
    print(
        f"{'workload':{NAME}} {'native s':>8} |"
        + "".join(f"{c.heading:>{CELL}}" for c in tracers)
        + " |"
        + "".join(f"{c.heading:>{CELL}}" for c in binders)
    )
    for workload in done:
        native = runs(workload.rows["native"])
        seconds = f"{bench.median(native):8.3f}" if native else f"{'FAILED':>8}"
        print(
            f"{workload.name:{NAME}} {seconds} |"
            + "".join(cell(workload, c.key) for c in tracers)
            + " |"
            + "".join(cell(workload, c.key) for c in binders)
        )
    print()
    print("At most its peer (median of the rounds' ratios sysemu variant / peer, met if <= 1):")
    for workload in done:
        parts = []
        for verdict in verdicts(workload):
            label = f"{verdict['sysemu']} <= {verdict['peer']}"
            if verdict["ratio"] is None:
                parts.append(f"{label}: not judged")
            else:
                met = "met" if verdict["met"] else "missed"
                parts.append(f"{label}: {verdict['ratio']:.2f} {met}")
        print(f"  {workload.name:{NAME}} " + ", ".join(parts))
    problems = [
        (w.name, row)
        for w in done
        for row in w.rows.values()
        if row.status is not None and not row.status.startswith("not installed")
    ]
    missing = {row.status for w in done for row in w.rows.values() if row.status}
    missing = {status for status in missing if status.startswith("not installed")}
    if problems or missing:
        print()
    for name, row in problems:
        print(f"  {name} {row.tracer.name}: {row.status}")
    for status in sorted(missing):
        print(f"  a column shows 'missing': {status}")
    print()
    print("Commands (from the repository root; python3 is the interpreter in the header):")
    for workload in done:
        for key, row in workload.rows.items():
            print(f"  {workload.name:{NAME}} {key:7} {bench.display(row.argv)}")
        if workload.prepare is not None:
            print(
                f"  {workload.name:{NAME}} {'untimed':7} {bench.display(workload.prepare)}"
                " (before every run)"
            )


def header(src: Path, rounds: int, started: str, loads: list[float]) -> None:
    """What was measured, on what, and how busy the machine was (1-minute load average at the
    start and at the end: other work on a 2-CPU machine moves every ratio)."""
    info = bench.machine()
    commit = bench.first_line(["git", "-C", str(src), "rev-parse", "--short", "HEAD"])
    status = ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "."]
    if commit and bench.first_line(status):
        commit += ", uncommitted changes"
    accelerator = list((src / "sysemu" / "kernel").glob("_speedups*.so"))
    proot = bench.first_line(["sh", "-c", "proot --version | grep -o '[0-9][0-9.]*$'"])
    print(f"sysemu real workloads: bench/real.py, {rounds} rounds, started {started}")
    print(f"  machine  Linux {info['kernel']} {info['arch']}, nproc {info['nproc']}, {info['cpu']}")
    print(f"  python3  {info['python']} ({info['python_path']})")
    print(
        f"  sysemu   PYTHONPATH={src} (git {commit or 'none'}),"
        f" C accelerator {'built' if accelerator else 'NOT built: pure-Python loops'}"
    )
    print(f"  strace   {info['strace']}; proot {proot or 'not installed'}")
    print(f"  load     {loads[0]:.2f} at the start, {loads[1]:.2f} at the end (1-minute average)")
    print(
        f"  inputs   {REAL.relative_to(bench.ROOT)}/ (generated); bind columns show a"
        f" workload's directory at {VIRTUAL_ROOT}-NAME"
    )
    print()


def report(done: list[Workload], rounds: int, src: Path, elapsed: float) -> dict[str, Any]:
    """Every sample and derived number, for --json."""
    result: dict[str, Any] = {
        "machine": bench.machine(), "src": str(src), "rounds": rounds, "elapsed_s": elapsed,
    }  # fmt: skip
    result["workloads"] = [
        {
            "name": w.name,
            "command": bench.display(w.command),
            "columns": {
                key: {
                    "command": bench.display(row.argv),
                    "status": row.status,
                    "run_s": runs(row) or [],
                    "ratio_paired": paired_ratio(row, w.rows["native"]),
                    "ratio_of_medians": ratio_of_medians(row, w.rows["native"]),
                }
                for key, row in w.rows.items()
            },
            "verdicts": verdicts(w),
        }
        for w in done
    ]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, metavar="R", help=f"timed rounds ({DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="python, git, tar and/or make")
    parser.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    parser.add_argument(
        "--src",
        default=str(bench.ROOT / "src"),
        metavar="DIR",
        help="the sysemu source tree to run (PYTHONPATH; default: this repository's src)",
    )
    parser.add_argument(
        "--all-calls",
        action="store_true",
        help="also every call traced: strace -f against sysemu run --trace",
    )
    parser.add_argument(
        "--base",
        metavar="DIR",
        help="also the trace columns run from this other source tree (its src directory)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    src = Path(args.src).resolve()
    if rounds <= 0:
        parser.error("--rounds must be positive")
    if not (src / "sysemu" / "__init__.py").exists():
        parser.error(f"--src {src}: no sysemu package there")
    started = time.strftime("%Y-%m-%d %H:%M")
    begin = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    python = sys.executable
    env = dict(bench.CHILD_ENV, PYTHONPATH=str(src))
    chosen = workloads(python)
    if args.only:
        names = set(re.split(r"[,\s]+", args.only.strip()))
        unknown = names - {w.name for w in chosen}
        if unknown:
            parser.error(f"--only: unknown workload {', '.join(sorted(unknown))}")
        chosen = [w for w in chosen if w.name in names]
    base = str(Path(args.base).resolve()) if args.base else None
    columns = chosen_columns(args.all_calls, base is not None)
    for workload in chosen:
        make_rows(workload, python, columns, base)
        measure(workload, rounds, env)
    elapsed = time.perf_counter() - begin
    header(src, rounds, started, [load_at_start, os.getloadavg()[0]])
    if base is not None:
        print(f"  base     the (base) columns run PYTHONPATH={base}\n")
    print_table(chosen, rounds, columns)
    print(f"\nwhole run took {elapsed:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report(chosen, rounds, src, elapsed), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
