"""``sysemu sweep --inject SPEC [--inject SPEC...] [OPTIONS] -- CMD [ARG...]``: fail each call
the specs match, one per run, and report how the program took each failure.

Bad input (a spec with ``when=``, an unknown syscall or errno, a command that fails or makes
no matching call without injection) is one line on stderr and exit status 2, before any run.
The exit status is 1 when some run crashed, hung, printed a traceback or failed the check
(or sysemu could not carry it out), else 0.
"""

from __future__ import annotations

import argparse
import json
import sys

from sysemu._typing import TYPE_CHECKING
from sysemu.engine.errors import ExecError
from sysemu.engine.spawn import ProgramNotFoundError

if TYPE_CHECKING:
    from typing import Any

    from sysemu.tools.sweep.runs import SweepOutcome

FOUND_SOMETHING = 1


def add_command(commands: argparse._SubParsersAction[Any]) -> None:
    """The ``sweep`` subcommand's parser."""
    sweep = commands.add_parser(
        "sweep",
        help="fail each call that --inject specs match, one run each, and report the outcomes",
        description="Run CMD once without injection, recording every call the --inject specs "
        "match; then once per call with that call failed (the spec with when=K), and say how "
        "each run ended: same, clean failure, silent failure, crash, hang, traceback, check "
        "failed. Exit status 1 when any run crashed, hung, printed a traceback or failed "
        "--check.",
    )
    sweep.add_argument("--inject", action="append", default=[], metavar="SPEC", required=True,
                       help="an --inject spec without when=, as for run (repeatable)")  # fmt: skip
    sweep.add_argument("--check", metavar="CMD",
                       help="a shell command run after each run in its directory; a non-zero "
                       "exit is a finding (e.g. the file is either old or new)")  # fmt: skip
    sweep.add_argument("--json", action="store_true",
                       help="print one JSON document instead of the table")  # fmt: skip
    sweep.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="runs at a time (default: the CPU count)")  # fmt: skip
    sweep.add_argument("--workdir", metavar="DIR",
                       help="give each run a scratch copy of DIR to start in (DIR itself is "
                       "never written)")  # fmt: skip
    sweep.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                       help="a run still going after this long is a hang (default 30)")  # fmt: skip
    sweep.add_argument("--per-site", action="store_true",
                       help="fail only the first call of each call site (return address into "
                       "the program)")  # fmt: skip
    sweep.add_argument("--sample", type=int, default=None, metavar="N",
                       help="run N points spread evenly, drawn with --seed")  # fmt: skip
    sweep.add_argument("--seed", type=int, default=0, metavar="N",
                       help="the seed of --sample (default 0)")  # fmt: skip
    sweep.add_argument("--max-runs", type=int, default=None, metavar="N",
                       help="run at most N points (the first ones)")  # fmt: skip
    sweep.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")


def run_sweep(args: argparse.Namespace) -> int:
    """Carry out ``sysemu sweep``; returns the exit status. Raises ValueError (one line, exit
    status 2) for bad input."""
    from sysemu.testing.sweep import Sweep  # noqa: PLC0415
    from sysemu.tools.sweep.report import outcome_table, summary_line, sweep_json  # noqa: PLC0415
    from sysemu.tools.sweep.sweep import SweepError  # noqa: PLC0415

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise ValueError("sweep: no command given (usage: sysemu sweep --inject SPEC -- CMD)")
    try:
        sweep = Sweep(
            args.inject, command, check=args.check, jobs=args.jobs, workdir=args.workdir,
            timeout=args.timeout, per_site=args.per_site, sample=args.sample,
            seed=args.seed, max_runs=args.max_runs,
        )  # fmt: skip
        sweep.reference()
    except (ProgramNotFoundError, ExecError) as error:
        raise ValueError(f"sweep: {error.strerror or error}") from None
    except SweepError as error:
        raise ValueError(str(error)) from None
    total = len(sweep.points)
    progress = _Progress(total) if sys.stderr.isatty() and not args.json else None
    outcomes: list[SweepOutcome] = []
    for outcome in sweep:
        outcomes.append(outcome)
        if progress is not None:
            progress.show(outcomes)
    if progress is not None:
        progress.clear()
    matching = len(sweep.observed)
    if args.json:
        document = sweep_json(outcomes, command, [str(s) for s in sweep.specs], matching,
                              sweep.workdir)  # fmt: skip
        print(json.dumps(document, indent=1))
    else:
        print(outcome_table(outcomes, command, sweep.workdir))
        print(summary_line(outcomes, matching))
    return FOUND_SOMETHING if any(outcome.kind.failing for outcome in outcomes) else 0


class _Progress:
    """A line on the terminal that says how far the sweep is, rewritten in place."""

    def __init__(self, total: int) -> None:
        self.total = total

    def show(self, outcomes: list[SweepOutcome]) -> None:
        """Show the count of runs done and of findings so far."""
        done = len(outcomes)
        found = sum(1 for outcome in outcomes if outcome.kind.failing)
        filled = 30 * done // max(1, self.total)
        bar = "#" * filled + "." * (30 - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} runs, {found} findings")
        sys.stderr.flush()

    def clear(self) -> None:
        """Remove the line before the table is printed."""
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
