"""The rows of bench/sparse.py and how they are run: ``sparse_loop`` under native, the C
floors and sysemu, at each gap and placement, timed in interleaved rounds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import run as dense
from run import (
    BACKENDS,
    MODES,
    OPENAT_NR,
    OPENAT_PATH,
    RULES,
    Check,
    Tracer,
    display,
    median,
    program,
)

GAPS_US = (50, 100, 200)  # CPU work before each call, about
# Many short runs rather than a few long ones: which CPU the tracer wakes on is settled per run
# more than per call, so the runs of a row differ more than their calls average out.
DEFAULT_CALLS, QUICK_CALLS = 500, 200
DEFAULT_ROUNDS, QUICK_ROUNDS = 15, 3
# The path condition of the path rows: it never matches OPENAT_PATH, so every open succeeds,
# but sysemu must stop each openat and compare its path to know that.
PATH_CONDITION = "openat:error=EACCES:path=/nonexistent/*"
CALL_REPORT = re.compile(r"^call ns (\d+)$", re.MULTILINE)
MEDIAN_REPORT = re.compile(r"^call median ns (\d+)$", re.MULTILINE)
# Where the tracer and the program run. A sparse stop's cost here is mostly its wake-ups, and
# those depend on whether the tracer sleeps on the program's CPU (a context switch) or on
# another one (waking a halted virtual CPU, several times dearer on a small VM): "unpinned"
# leaves that to the scheduler, as users get it; "same" puts both on CPU 0 (taskset around the
# whole command); "split" puts the tracer on CPU 0 and the program on CPU 1.
PLACEMENTS = ("unpinned", "same", "split")


@dataclass
class SparseRow:
    """One tracer running ``sparse_loop`` at one gap, with its samples, one per round."""

    label: str
    tracer: Tracer
    command: list[str]
    check: Check
    n: int
    placement: str  # one of PLACEMENTS
    status: str | None = None  # "not installed ..." or "FAILED: ..."; None while all is well
    loop: list[float] = field(default_factory=list)  # seconds of the whole loop
    in_calls: list[float] = field(default_factory=list)  # seconds of it inside the calls
    call_median: list[float] = field(default_factory=list)  # seconds of the median call
    run: list[float] = field(default_factory=list)  # seconds of the whole command

    @property
    def argv(self) -> list[str]:
        """The row's command line, with its placement's taskset commands."""
        if self.placement == "same":
            return [*dense.TASKSET, *self.tracer.wrap(self.command)]
        if self.placement == "split":
            return [*dense.TASKSET, *self.tracer.wrap(["taskset", "-c", "1", *self.command])]
        return self.tracer.wrap(self.command)

    def usable(self) -> bool:
        """Whether the row has run without a failure so far."""
        return self.status is None


def run_once(row: SparseRow) -> tuple[float, float, float, float] | None:
    """Run the row once: (whole command, loop, in calls, median call) in seconds; None, with
    the row marked failed, on a wrong output or a missing loop report."""
    argv = row.argv
    try:
        seconds, status, stdout, stderr = dense.timed(argv, pinned=False)
    except subprocess.TimeoutExpired:
        row.status = f"FAILED: no exit after {dense.RUN_TIMEOUT_S:.0f} s (killed): {display(argv)}"
        return None
    problem = f"exit status {status}" if status != 0 else row.check(row.n, stdout)
    loops, calls = dense.LOOP_REPORT.findall(stderr), CALL_REPORT.findall(stderr)
    medians = MEDIAN_REPORT.findall(stderr)
    if problem is None and not (loops and calls and medians):
        problem = "no 'loop ns', 'call ns' and 'call median ns' report on stderr"
    if problem is not None:
        detail = stderr.strip().splitlines()[-1:] if stderr.strip() else []
        row.status = f"FAILED: {problem}" + (f" ({detail[0]})" if detail else "")
        return None
    return seconds, int(loops[-1]) / 1e9, int(calls[-1]) / 1e9, int(medians[-1]) / 1e9


# ---------------------------------------------------------------------------------------------
# The rows


@dataclass
class Pair:
    """sysemu under one backend with one handler mode, beside the C floor of its mechanism."""

    backend: str
    mode: str  # "emulate" or "pass"
    floor: SparseRow
    sysemu: SparseRow


# The path rows of one mechanism, by role: the stop alone, the stop reading the path (C), and
# sysemu with a handler reading nothing, one reading call.path, and a path condition.
PATH_ROLES = ("floor", "floor reads", "sysemu pass", "sysemu reads", "sysemu condition")
PATH_BACKENDS = ("seccomp", "unotify")
# The trace rows: a set traced with its results (two stops a call), by strace and by sysemu.
TRACE_ROLES = ("strace", "sysemu")


@dataclass
class Gap:
    """Every row at one amount of work between calls."""

    placement: str
    microseconds: int  # asked for
    iterations: int  # of sparse_loop's busy loop, calibrated once, the same for every row
    native: SparseRow
    pairs: list[Pair]
    path_native: SparseRow
    path: dict[str, dict[str, SparseRow]]  # backend -> role -> row
    trace: dict[str, SparseRow]  # role (TRACE_ROLES) -> row; over path_native

    def rows(self) -> list[SparseRow]:
        """All rows, in the order a round runs them: each floor right before its sysemu row."""
        out = [self.native]
        for pair in self.pairs:
            out += [pair.floor, pair.sysemu]
        out.append(self.path_native)
        for roles in self.path.values():
            out += [roles[role] for role in PATH_ROLES]
        out += [self.trace[role] for role in TRACE_ROLES]
        return out


def sysemu_tracers(missing: str | None) -> dict[str, Tracer]:
    """The tracers of the path rows that the dense benchmark does not have."""
    sysemu = [sys.executable, "-m", "sysemu", "run"]
    out: dict[str, Tracer] = {}
    for backend, floor in (("seccomp", "floor_tracer"), ("unotify", "floor_unotify")):
        chosen = [*sysemu, "--backend", backend]
        rules = ["--rules", str(RULES.relative_to(dense.ROOT))]
        out[f"{backend} floor"] = Tracer(
            f"C floor {backend}, pass", [program(floor), "pass", str(OPENAT_NR), "--"]
        )
        out[f"{backend} floor reads"] = Tracer(
            f"C floor {backend}, pass, reads path",
            [program(floor), "pass+path", str(OPENAT_NR), "--"],
        )
        out[f"{backend} sysemu pass"] = Tracer(
            f"sysemu {backend}, pass handler",
            [*chosen, rules[0], f"{rules[1]}/pass_openat.py", "--"],
            missing,
        )
        out[f"{backend} sysemu reads"] = Tracer(
            f"sysemu {backend}, reads call.path",
            [*chosen, rules[0], f"{rules[1]}/read_openat_path.py", "--"],
            missing,
        )
        out[f"{backend} sysemu condition"] = Tracer(
            f"sysemu {backend}, --inject path=",
            [*chosen, "--inject", PATH_CONDITION, "--"],
            missing,
        )
    return out


def trace_tracers(sysemu_missing: str | None) -> dict[str, Tracer]:
    """The trace rows' tracers: ``openat`` traced with its results to /dev/null."""
    strace_missing = None if shutil.which("strace") else "not installed (apt-get install strace)"
    return {
        "strace": Tracer(
            "strace --seccomp-bpf -e trace=openat",
            ["strace", "-f", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null"],
            strace_missing,
        ),
        "sysemu": Tracer(
            "sysemu --trace=openat",
            [sys.executable, "-m", "sysemu", "run", "--trace=openat", "-o", "/dev/null", "--"],
            sysemu_missing,
        ),
    }


def make_gap(
    placement: str, microseconds: int, iterations: int, n: int, sysemu_missing: str | None
) -> Gap:
    """The rows of one gap and placement."""
    t = dense.tracers(sysemu_missing, None, None)
    getpid = [program("sparse_loop"), "getpid", str(n), str(iterations)]
    openat = [program("sparse_loop"), "openat", str(n), str(iterations), OPENAT_PATH]
    pairs = []
    for b in BACKENDS:
        for mode in MODES:
            check = dense.prints_emulated if mode == "emulate" else dense.prints_pid
            floor, sysemu = t[dense.floor_key(b, mode)], t[dense.sysemu_key(b, mode)]
            if b.name == "seccomp":  # the dense tables name these after the default backend
                floor = Tracer(f"C floor seccomp, {mode}", floor.prefix, floor.missing)
                sysemu = Tracer(f"sysemu seccomp, {mode}", sysemu.prefix, sysemu.missing)
            pairs.append(
                Pair(
                    b.name,
                    mode,
                    SparseRow(floor.name, floor, getpid, check, n, placement),
                    SparseRow(sysemu.name, sysemu, getpid, check, n, placement),
                )
            )
    paths = sysemu_tracers(sysemu_missing)
    path = {
        backend: {
            role: SparseRow(
                paths[f"{backend} {role}"].name,
                paths[f"{backend} {role}"],
                openat,
                dense.prints_count,
                n,
                placement,
            )
            for role in PATH_ROLES
        }
        for backend in PATH_BACKENDS
    }
    return Gap(
        placement,
        microseconds,
        iterations,
        SparseRow("native", t["native"], getpid, dense.prints_pid, n, placement),
        pairs,
        SparseRow("native", t["native"], openat, dense.prints_count, n, placement),
        path,
        {
            role: SparseRow(tracer.name, tracer, openat, dense.prints_count, n, placement)
            for role, tracer in trace_tracers(sysemu_missing).items()
        },
    )


def calibrate(microseconds: int) -> int:
    """sparse_loop's iterations for about ``microseconds`` of work: the median of 3 tries."""
    counts = []
    for _ in range(3):
        done = subprocess.run(
            [str(dense.OUT / "sparse_loop"), "calibrate", str(microseconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        counts.append(int(done.stdout))
    return int(median([float(c) for c in counts]))


def measure(gaps: list[Gap], rounds: int) -> None:
    """A checking (untimed) run of every row, then ``rounds`` rounds that each run every row
    once. Odd rounds run each gap's rows backwards, so that neither side of a pair always
    runs first."""
    every = [row for gap in gaps for row in gap.rows()]
    print(f"  checking {len(every)} rows...", file=sys.stderr, flush=True)
    for row in every:
        row.status = row.tracer.missing
        if row.usable():
            run_once(row)
    for index in range(rounds):
        print(f"  round {index + 1}/{rounds}", file=sys.stderr, flush=True)
        for gap in gaps:
            for row in gap.rows()[:: -1 if index % 2 else 1]:
                if not row.usable():
                    continue
                sample = run_once(row)
                if sample is not None:
                    row.run.append(sample[0])
                    row.loop.append(sample[1])
                    row.in_calls.append(sample[2])
                    row.call_median.append(sample[3])
