"""Faked time: what a clock read costs natively, under ``sysemu run --time`` and under
libfaketime.

    python3 bench/time.py [--calls N] [--rounds R] [--quick]

Two loops of N clock reads (default 1,000,000): ``time.time()`` in Python and
``clock_gettime(CLOCK_REALTIME)`` in C (bench/clock_loop.c). Each runs natively, under
``sysemu run --time=+1d`` in its two designs (the default: the program's vDSO adds the offset
itself; ``--time-stop-reads``: the vDSO hidden, one ptrace stop per read) and under libfaketime
(Debian's ``faketime`` package: ``LD_PRELOAD`` with ``FAKETIME=+1d``). Per-call time = the
loop's time / N, measured by the program on the monotonic clock (which neither design changes
the rate of, and sysemu does not stop at rate 1), so start-up stays out; median over R
interleaved rounds (each round runs every row once). Every run is
checked to have read the faked day. Prints ns per read and the ratios to native and to
libfaketime, measured in this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FAKETIME_LIBRARIES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)
PYTHON_LOOP = """import sys, time
t, n = time.time, int(sys.argv[1])
started = time.perf_counter_ns()
for _ in range(n): t()
print(time.perf_counter_ns() - started, int(t()))"""
DAY = 86400


def build() -> str:
    """bench/out/clock_loop, compiled when its source is newer."""
    OUT.mkdir(exist_ok=True)
    source, binary = ROOT / "bench" / "clock_loop.c", OUT / "clock_loop"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return str(binary)


def faketime_library() -> str | None:
    """libfaketime's path, or None where the faketime package is not installed."""
    return next((path for path in FAKETIME_LIBRARIES if os.path.exists(path)), None)


class Row:
    """One way to run a loop: a command prefix, extra environment, and the timings."""

    def __init__(self, name: str, prefix: list[str], env: dict[str, str], offset: int) -> None:
        self.name = name
        self.prefix = prefix
        self.env = {**os.environ, **env}
        self.offset = offset  # seconds the run's clock is ahead of the real one
        self.per_call_ns: list[float] = []
        self.status: str | None = None

    def timed(self, program: list[str], calls: int) -> float | None:
        """The loop's seconds, or None (status set) if the run failed or read the wrong day."""
        result = subprocess.run(
            [*self.prefix, *program, str(calls)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            self.status = f"exit {result.returncode}: {result.stderr.strip()[-200:]}"
            return None
        loop_ns, read = (int(word) for word in result.stdout.split()[-2:])
        if abs(read - time.time() - self.offset) > 600:
            self.status = f"read {read}, not the real time + {self.offset} s"
            return None
        return loop_ns / 1e9

    def measure(self, program: list[str], calls: int) -> None:
        """One round: one run of N reads."""
        took = self.timed(program, calls)
        if took is not None:
            self.per_call_ns.append(took / calls * 1e9)

    def median(self) -> float | None:
        return statistics.median(self.per_call_ns) if self.per_call_ns else None


def rows(python: str) -> list[Row]:
    sysemu = [python, "-m", "sysemu", "run", "--time=+1d"]
    made = [
        Row("native", [], {}, 0),
        Row("sysemu --time (in the vDSO)", [*sysemu, "--"], {}, DAY),
        Row("sysemu --time (a stop per read)", [*sysemu, "--time-stop-reads", "--"], {}, DAY),
    ]
    library = faketime_library()
    faked = Row("libfaketime (LD_PRELOAD)", [], {"LD_PRELOAD": library or "", "FAKETIME": "+1d"},
                DAY)  # fmt: skip
    if library is None:
        faked.status = "not installed (apt-get install faketime)"
    made.append(faked)
    return made


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(title: str, loop_rows: list[Row]) -> None:
    native = loop_rows[0].median()
    faked = loop_rows[-1].median()
    print(title)
    print(f"  {'':34} {'ns/read':>10} {'x native':>9} {'x libfaketime':>14}")
    for row in loop_rows:
        value = row.median()
        if value is None:
            print(f"  {row.name:34} {row.status or 'failed'}")
            continue
        to_native = value / native if native else None
        to_faked = value / faked if faked else None
        print(f"  {row.name:34} {value:10.1f} {fmt(to_native, '9.2f')} {fmt(to_faked, '14.2f')}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 reads, 2 rounds")
    args = parser.parse_args(argv)
    calls, rounds = (100_000, 2) if args.quick else (args.calls, args.rounds)
    python = sys.executable
    os.environ["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    loops = {
        "Python: time.time()": ([python, "-c", PYTHON_LOOP], rows(python)),
        "C: clock_gettime(CLOCK_REALTIME)": ([build()], rows(python)),
    }
    started = time.monotonic()
    for round_number in range(rounds):
        print(f"round {round_number + 1} of {rounds}", file=sys.stderr)
        for program, loop_rows in loops.values():
            for row in loop_rows:
                if row.status is None:
                    row.measure(program, calls)
    took = time.monotonic() - started
    print(f"bench/time.py: {calls} reads per loop, {rounds} interleaved rounds, median ns per "
          f"read = the loop's time / N; {took:.0f} s")  # fmt: skip
    print(f"machine: {os.uname().release}, {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print()
    for title, (program, loop_rows) in loops.items():
        report(f"{title}   ({' '.join(program[-1:]) if len(program) == 1 else 'python3 -c'})",
               loop_rows)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
