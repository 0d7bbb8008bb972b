"""Sparse stops: what an intercepted call costs when the program computes between its calls.

    python3 bench/sparse.py [--quick] [--calls N] [--rounds R] [--placement P,...] [--json FILE]

bench/run.py's micro-benchmarks make one call right after the other, so their tracer never
sleeps. Real programs compute between the calls a tracer wants, and then each stop pays for
waking the tracer up and, after its answer, the program. ``sparse_loop`` (bench/sparse_loop.c)
runs a busy loop calibrated to about 50, 100 and 200 µs before each of its N calls. For every
gap this times native, the C floor of each mechanism and ``sysemu run --backend NAME`` with the
dense benchmark's rules (emulate and pass getpid), and, on openat, the seccomp and unotify
floors with and without reading the path beside sysemu reading ``call.path`` and checking an
``--inject ... path=`` condition. Rounds are interleaved: each runs every row once, each floor
right beside its sysemu row. Prints µs per stop (and the median call) and ratios to the floors;
see bench/README.md, "Sparse stops". The rows and their runs are in sparse_rows.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

import run as dense
from run import BACKENDS, NAME_WIDTH, OPENAT_PATH, TARGET_FLOOR_RATIO, display, fmt, median
from sparse_rows import (
    DEFAULT_CALLS,
    DEFAULT_ROUNDS,
    GAPS_US,
    PATH_BACKENDS,
    PATH_ROLES,
    PLACEMENTS,
    QUICK_CALLS,
    QUICK_ROUNDS,
    TRACE_ROLES,
    Gap,
    SparseRow,
    calibrate,
    make_gap,
    measure,
)

# ---------------------------------------------------------------------------------------------
# Numbers


def samples(row: SparseRow, part: str) -> list[float]:
    """A row's seconds of ``part``: "loop" (the whole loop), "in_calls" or "call_median"."""
    values: list[float] = getattr(row, part)
    return values


def calls_in(row: SparseRow, part: str) -> int:
    """How many calls one sample of ``part`` is the time of: a sum's N, a median's 1."""
    return 1 if part == "call_median" else row.n


def complete(*rows: SparseRow) -> bool:
    """Whether these rows all ran every round without failing."""
    counts = {len(row.loop) for row in rows}
    return all(row.usable() for row in rows) and len(counts) == 1 and counts != {0}


def per_stop(row: SparseRow, native: SparseRow, part: str = "loop") -> float | None:
    """µs per stop over native's: (median of the row's times - median of native's) / N."""
    if not complete(row, native):
        return None
    extra = median(samples(row, part)) - median(samples(native, part))
    return extra / calls_in(row, part) * 1e6


def paired_ratio(
    top: SparseRow, bottom: SparseRow, native: SparseRow, part: str = "loop"
) -> float | None:
    """The median over the rounds of ``top``'s µs per stop over ``bottom``'s, each round's
    from its own runs (the machine drifts between fast and slow spells; one round's runs are
    in the same spell, see bench/run.py's paired_per_call_ratio)."""
    if not complete(top, bottom, native):
        return None
    base = samples(native, part)
    ratios = []
    for mine, theirs, own in zip(samples(top, part), samples(bottom, part), base, strict=True):
        if theirs - own > 0:
            ratios.append((mine - own) / (theirs - own))
    return median(ratios) if ratios else None


def paired_difference(top: SparseRow, bottom: SparseRow, part: str = "loop") -> float | None:
    """The median over the rounds of ``top``'s µs per stop minus ``bottom``'s (native's time
    cancels out)."""
    if not complete(top, bottom):
        return None
    pairs = zip(samples(top, part), samples(bottom, part), strict=True)
    return median([(mine - theirs) / calls_in(top, part) * 1e6 for mine, theirs in pairs])


# ---------------------------------------------------------------------------------------------
# Printing


def within_target(ratios: list[float | None]) -> tuple[bool, str]:
    """Whether every ratio is known and within the target, and a line showing them."""
    judged = [r for r in ratios if r is not None]
    met = len(judged) == len(ratios) and all(r <= TARGET_FLOOR_RATIO for r in judged)
    shown = " ".join(fmt(r, ".2f", 5) for r in ratios)
    within = sum(r <= TARGET_FLOOR_RATIO for r in judged)
    return met, f"{shown}  {within} of {len(ratios)}"


def print_backends(gaps: list[Gap], n: int) -> list[dict[str, Any]]:
    """Per gap, per backend and mode: the floor's and sysemu's µs per stop, their ratio, and the
    same from the median call; then each backend's target line."""
    records: list[dict[str, Any]] = []
    # Per backend, its lines' ratios: of µs per stop (judged) and of the median call.
    verdicts: dict[str, list[float | None]] = {b.name: [] for b in BACKENDS}
    typical_verdicts: dict[str, list[float | None]] = {b.name: [] for b in BACKENDS}
    for gap in gaps:
        native = gap.native
        measured = (
            f"natively {median(native.loop) / n * 1e6:.1f} µs a call,"
            f" rounds {min(native.loop) / n * 1e6:.1f}-{max(native.loop) / n * 1e6:.1f}"
            if complete(native)
            else f"native {native.status or 'n/a'}"
        )
        print(
            f"Backends, {gap.placement}: sparse_loop getpid {n} {gap.iterations}"
            f"   (~{gap.microseconds} µs of work before each call; {measured})"
        )
        print(
            f"{'backend':8}{'handler':9}{'C floor':20} | {'floor µs':>8} {'sysemu µs':>9}"
            f" {'ratio':>6} {'[med]':>6} | {'median: floor':>13} {'sysemu':>7} {'ratio':>6}"
        )
        for pair in gap.pairs:
            floor_name = pair.floor.tracer.prefix[0].rsplit("/", 1)[-1]
            line = f"{pair.backend:8}{pair.mode:9}{floor_name:20}"
            failed = [
                f"{side}: {row.status}"
                for side, row in (("floor", pair.floor), ("sysemu", pair.sysemu))
                if row.status is not None
            ]
            record: dict[str, Any] = {
                "placement": gap.placement,
                "gap_us": gap.microseconds,
                "backend": pair.backend,
                "mode": pair.mode,
                "floor": display(pair.floor.argv),
                "sysemu": display(pair.sysemu.argv),
            }
            records.append(record)
            if failed:
                print(f"{line} | {'; '.join(failed)}")
                record["status"] = failed
                verdicts[pair.backend].append(None)
                typical_verdicts[pair.backend].append(None)
                continue
            floor, sysemu = per_stop(pair.floor, native), per_stop(pair.sysemu, native)
            ratio = paired_ratio(pair.sysemu, pair.floor, native)
            of_medians = sysemu / floor if sysemu is not None and floor else None
            floor_typical, sysemu_typical = (
                per_stop(pair.floor, native, "call_median"),
                per_stop(pair.sysemu, native, "call_median"),
            )
            ratio_typical = paired_ratio(pair.sysemu, pair.floor, native, "call_median")
            verdicts[pair.backend].append(ratio)
            typical_verdicts[pair.backend].append(ratio_typical)
            print(
                f"{line} | {fmt(floor, '.2f', 8)} {fmt(sysemu, '.2f', 9)} {fmt(ratio, '.2f', 6)}"
                f" {fmt(of_medians, '.2f', 6)} | {fmt(floor_typical, '.2f', 13)}"
                f" {fmt(sysemu_typical, '.2f', 7)} {fmt(ratio_typical, '.2f', 6)}"
            )
            record.update(
                floor_us_per_stop=floor,
                sysemu_us_per_stop=sysemu,
                ratio=ratio,
                ratio_of_medians=of_medians,
                floor_median_call_us=floor_typical,
                sysemu_median_call_us=sysemu_typical,
                median_call_ratio=ratio_typical,
            )
        print()
    print(
        f"Target, {gaps[0].placement}: each backend within {TARGET_FLOOR_RATIO}x of its sparse"
        " floor (the ratio of µs per stop; the median call's ratio beside it, for reading)"
    )
    for backend, ratios in verdicts.items():
        met, summary = within_target(ratios)
        _, typical_summary = within_target(typical_verdicts[backend])
        verdict = "met" if met else "missed"
        print(f"  {backend:8} {summary}: {verdict:6} | median {typical_summary}")
        records.append(
            {
                "placement": gaps[0].placement,
                "backend": backend,
                "ratios": ratios,
                "median_call_ratios": typical_verdicts[backend],
                "target": "met" if met else "missed",
            }
        )
    print(
        "  (emulate then pass, for each gap as above; a ratio is the median of the rounds' own"
        " ratios, [med] the\n  ratio of the two medians shown; median = the program's median"
        " call over native's median call, in µs)"
    )
    print()
    return records


def cell(
    row: SparseRow, native: SparseRow, ratio: float | None
) -> tuple[str, dict[str, float | None]]:
    """One gap's cell of the path and trace tables (`` | µs [ratio] median``), and its
    numbers for the JSON record."""
    value = per_stop(row, native)
    typical = per_stop(row, native, "call_median")
    shown = f"[{ratio:.2f}]" if ratio is not None else ""
    text = f" | {fmt(value, '.2f', 8)} {shown:>7} {fmt(typical, '.2f', 7)}"
    return text, {"us_per_stop": value, "ratio": ratio, "median_call_us": typical}


def print_paths(gaps: list[Gap], n: int) -> list[dict[str, Any]]:
    """The path rows: µs per stop per gap, ratios to the floor reading the path, and what
    reading the path and the path condition add to a stop."""
    print(
        f"Paths, {gaps[0].placement}: sparse_loop openat {n} WORK {OPENAT_PATH};"
        " µs per stop over native"
    )
    print(
        "  [x] = ratio to the C floor of the same mechanism reading the path (median of the"
        " rounds' own ratios);\n  median = the median call over native's, as in the Backends"
        " tables"
    )
    head = "".join(f" | {f'~{gap.microseconds} µs gap':^24}" for gap in gaps)
    print(f"{'':{NAME_WIDTH}}{head}")
    sub = "".join(f" | {'µs/stop':>8} {'[x]':>7} {'median':>7}" for _ in gaps)
    print(f"{'row':{NAME_WIDTH}}{sub}")
    line = f"{'native (µs a call, rounds min-max)':{NAME_WIDTH}}"
    for gap in gaps:
        loops = [value / n * 1e6 for value in gap.path_native.loop]
        spread = f"{median(loops):.1f} ({min(loops):.0f}-{max(loops):.0f})" if loops else "n/a"
        line += f" | {spread:>24}"
    print(line)
    records: list[dict[str, Any]] = []
    for backend in PATH_BACKENDS:
        for role in PATH_ROLES:
            label = gaps[0].path[backend][role].label
            line = f"{label:{NAME_WIDTH}}"
            record: dict[str, Any] = {
                "placement": gaps[0].placement,
                "backend": backend,
                "row": label,
            }
            for gap in gaps:
                row, reads = gap.path[backend][role], gap.path[backend]["floor reads"]
                if row.status is not None:
                    line += f" | {row.status}"
                    continue
                ratio = None if role == "floor reads" else paired_ratio(row, reads, gap.path_native)
                text, record[f"gap_{gap.microseconds}_us"] = cell(row, gap.path_native, ratio)
                line += text
            print(line)
            records.append(record)
    print()
    print(
        "Extra µs per stop (median of the rounds' own differences), of the µs per stop and of"
        " the median call"
    )
    gap_heads = "".join(f" {f'~{gap.microseconds} µs':>8}" for gap in gaps)
    print(f"{'':58}{gap_heads} |{gap_heads}")
    lines = [
        ("C floor reading the path (reads - not)", "floor reads", "floor"),
        ("sysemu reading call.path (reads - pass handler)", "sysemu reads", "sysemu pass"),
        ("sysemu handler reading it - C floor reading it", "sysemu reads", "floor reads"),
        ("sysemu path condition - C floor not reading", "sysemu condition", "floor"),
        ("sysemu path condition - C floor reading it", "sysemu condition", "floor reads"),
    ]
    for backend in PATH_BACKENDS:
        for text, top, bottom in lines:
            rows = [(gap.path[backend][top], gap.path[backend][bottom]) for gap in gaps]
            values = [paired_difference(*pair) for pair in rows]
            typical = [paired_difference(*pair, part="call_median") for pair in rows]
            print(
                f"  {backend:8}{text:48}"
                + "".join(f" {fmt(v, '+.2f', 8)}" for v in values)
                + " |"
                + "".join(f" {fmt(v, '+.2f', 8)}" for v in typical)
            )
            records.append(
                {
                    "placement": gaps[0].placement,
                    "backend": backend,
                    "extra": text,
                    "us": values,
                    "median_call_us": typical,
                }
            )
    judged = [
        paired_ratio(gap.path[b][role], gap.path[b]["floor reads"], gap.path_native)
        for gap in gaps
        for b in PATH_BACKENDS
        for role in ("sysemu reads", "sysemu condition")
    ]
    within = sum(r is not None and r <= TARGET_FLOOR_RATIO for r in judged)
    print(
        f"Target, {gaps[0].placement}: sysemu reading a path (handler or condition) within"
        f" {TARGET_FLOOR_RATIO}x of"
        f" the C floor reading it: {within} of {len(judged)}"
        f" ({'met' if within == len(judged) else 'missed'})"
    )
    print()
    return records


def print_trace(gaps: list[Gap], n: int) -> list[dict[str, Any]]:
    """The trace rows: ``openat`` traced with its results, µs per call over native, sysemu
    against strace (a paired ratio, the goal: at most 1)."""
    print(
        f"Tracing a set, {gaps[0].placement}: sparse_loop openat {n} WORK {OPENAT_PATH} traced"
        " to /dev/null with results (two stops a call); µs per call over native"
    )
    head = "".join(f" | {f'~{gap.microseconds} µs gap':^24}" for gap in gaps)
    print(f"{'':{NAME_WIDTH}}{head}")
    sub = "".join(f" | {'µs/call':>8} {'[x]':>7} {'median':>7}" for _ in gaps)
    print(f"{'row':{NAME_WIDTH}}{sub}")
    records: list[dict[str, Any]] = []
    ratios: list[float | None] = []
    for role in TRACE_ROLES:
        label = gaps[0].trace[role].label
        line = f"{label:{NAME_WIDTH}}"
        record: dict[str, Any] = {"placement": gaps[0].placement, "row": label}
        for gap in gaps:
            row, strace = gap.trace[role], gap.trace["strace"]
            if row.status is not None:
                line += f" | {row.status}"
                continue
            ratio = None
            if role != "strace" and strace.status is None:
                ratio = paired_ratio(row, strace, gap.path_native)
                ratios.append(ratio)
            text, record[f"gap_{gap.microseconds}_us"] = cell(row, gap.path_native, ratio)
            line += text
        print(line)
        records.append(record)
    within = sum(r is not None and r <= 1 for r in ratios)
    print(
        f"  [x] = sysemu / strace, the median of the rounds' own ratios; target: at most 1:"
        f" {within} of {len(ratios)} ({'met' if ratios and within == len(ratios) else 'missed'})"
    )
    print()
    return records


def row_json(row: SparseRow, native: SparseRow) -> dict[str, Any]:
    """A row's raw samples and derived numbers."""
    return {
        "row": row.label,
        "command": display(row.argv),
        "status": row.status,
        "run_s": row.run,
        "loop_s": row.loop,
        "in_calls_s": row.in_calls,
        "median_call_s": row.call_median,
        "us_per_stop": per_stop(row, native) if row is not native else None,
        "in_call_us_per_stop": per_stop(row, native, "in_calls") if row is not native else None,
        "median_call_us": per_stop(row, native, "call_median") if row is not native else None,
    }


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0 unless the benchmark could not run at all."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (< 1 min)")
    parser.add_argument(
        "--calls", type=int, metavar="N", help=f"calls per run ({DEFAULT_CALLS}; {QUICK_CALLS})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        metavar="R",
        help=f"interleaved rounds, median ({DEFAULT_ROUNDS}; {QUICK_ROUNDS})",
    )
    parser.add_argument(
        "--placement",
        default="unpinned",
        metavar="P[,P...]",
        help="unpinned (default), same (tracer and program on CPU 0), split (tracer on CPU 0,"
        " program on CPU 1); several: each is a set of rows of every round",
    )
    parser.add_argument("--json", metavar="FILE", help="write the raw numbers to FILE")
    args = parser.parse_args(argv)
    n = args.calls or (QUICK_CALLS if args.quick else DEFAULT_CALLS)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if n <= 0 or rounds <= 0:
        parser.error("--calls and --rounds must be positive")
    placements = list(dict.fromkeys(args.placement.split(",")))
    if any(p not in PLACEMENTS for p in placements):
        parser.error(f"--placement takes {', '.join(PLACEMENTS)}")
    if placements != ["unpinned"] and not shutil.which("taskset"):
        parser.error("--placement same or split needs taskset (util-linux)")
    if "split" in placements and (os.cpu_count() or 1) < 2:
        parser.error("--placement split needs two CPUs")
    started = time.perf_counter()
    dense.build({"sparse_loop": dense.BENCH / "sparse_loop.c"})
    info = dense.machine()
    load_before = os.getloadavg()
    missing = None if importlib.util.find_spec("sysemu") else "not installed (pip install -e .)"
    print("calibrating and measuring (progress on stderr)...", file=sys.stderr)
    work = {us: calibrate(us) for us in GAPS_US}
    gaps = [make_gap(p, us, work[us], n, missing) for p in placements for us in GAPS_US]
    measure(gaps, rounds)
    load_after = os.getloadavg()

    print(
        f"sysemu sparse-stop benchmark: bench/sparse.py{' --quick' if args.quick else ''}"
        f" (N = {n} calls a run, R = {rounds} interleaved rounds; {', '.join(placements)})"
    )
    print(
        f"  machine   Linux {info['kernel']} {info['arch']}, nproc {info['nproc']}, {info['cpu']};"
        f" load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f'  python    {info["python"]} ({info["python_path"]}; "python3" below)')
    print(f"  sysemu    {info['sysemu']}")
    print(
        "  work      "
        + ", ".join(f"~{us} µs = {count} iterations" for us, count in work.items())
        + " (calibrated once, the same for every row)"
    )
    print(
        "  µs/stop = (the row's loop time - native's loop time) / N, loop = work and calls, as"
        " sparse_loop times it (LOOP_NS=1)"
    )
    print()
    backends, paths, traces = [], [], []
    for placement in placements:
        placed = [gap for gap in gaps if gap.placement == placement]
        backends += print_backends(placed, n)
        paths += print_paths(placed, n)
        traces += print_trace(placed, n)
    firsts = [next(gap for gap in gaps if gap.placement == placement) for placement in placements]
    dense.print_commands(
        f"Commands of the first gap (run from the repository root; N = {n}; the other gaps"
        " differ in WORK only)",
        ((first.placement, [(row.label, row.argv) for row in first.rows()]) for first in firsts),
    )

    def report(elapsed: float) -> dict[str, Any]:
        return {
            "machine": info,
            "calls": n,
            "rounds": rounds,
            "load_average": [load_before, load_after],
            "elapsed_s": elapsed,
            "backends": backends,
            "paths": paths,
            "traces": traces,
            "gaps": [
                {
                    "placement": gap.placement,
                    "gap_us": gap.microseconds,
                    "iterations": gap.iterations,
                    "rows": [
                        row_json(row, gap.native if row.command[1] == "getpid" else gap.path_native)
                        for row in gap.rows()
                    ],
                }
                for gap in gaps
            ],
        }

    dense.finish(started, args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
