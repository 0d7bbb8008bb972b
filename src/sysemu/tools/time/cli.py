"""Command-line options of the time tool: ``--time WHEN``, ``--time-freeze``, ``--time-rate R``
and ``--deterministic`` (with the inject tool's ``--seed N``).

``configure`` checks the values (one line, exit status 2, for an unparseable time, a rate
that is not more than 0, or the unotify backend, which has no exec event to hide the vDSO at);
``apply`` puts a :class:`~.tool.TimeTool` on the emulator. The tool itself is imported only
when an option is given.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.tools.tool import Invocation, ToolHost, ToolOptions

if TYPE_CHECKING:
    import argparse

DEFAULT_SEED = 0


class TimeConfig(NamedTuple):
    """What the time options asked for."""

    start: float | None  # seconds since the epoch; None: the real time
    rate: float
    frozen: bool
    deterministic: bool
    seed: int
    stop_reads: bool = False
    files: bool = False


class TimeOptions(ToolOptions):
    """The time options of ``run``."""

    name = "time"
    commands = ("run",)

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add the time options to ``parser``, in a group of their own."""
        group = parser.add_argument_group("virtual time (hides the vDSO; ptrace backends)")
        group.add_argument(
            "--time",
            default=None,
            metavar="WHEN",
            help="the program's clock starts at WHEN and runs on: 2030-01-01T00:00:00Z, "
            "@EPOCH or +3d / -2h (relative to now)",
        )
        group.add_argument(
            "--time-freeze", action="store_true", help="the program's realtime clock stands still"
        )
        group.add_argument(
            "--time-rate",
            type=float,
            default=None,
            metavar="R",
            help="the program's clocks run R times as fast; its sleeps and timeouts shrink "
            "to match",
        )
        group.add_argument(
            "--time-stop-reads",
            action="store_true",
            help="answer every clock read in a stop of the program, instead of in the "
            "program's own vDSO (where 64-bit programs compute the virtual time themselves)",
        )
        group.add_argument(
            "--time-files",
            action="store_true",
            help="file times read on the program's clock too (stat's times moved by its "
            "distance from the real time, utimensat's explicit times moved back); every stat "
            "then stops",
        )
        group.add_argument(
            "--deterministic",
            action="store_true",
            help="repeatable runs: a clock that steps at each read (from --time, or "
            "2020-01-01), getrandom and /dev/urandom from --seed (default 0), AT_RANDOM "
            "from it, no address-space randomization",
        )

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> TimeConfig | None:
        """The clock asked for, or None without a time option; ValueError for bad input."""
        when: str | None = getattr(args, "time", None)
        rate: float | None = getattr(args, "time_rate", None)
        frozen: bool = getattr(args, "time_freeze", False)
        deterministic: bool = getattr(args, "deterministic", False)
        files: bool = getattr(args, "time_files", False)
        if when is None and rate is None and not frozen and not deterministic:
            if files:
                raise ValueError("--time-files: give the clock too (--time, --time-rate...)")
            return None
        option = (
            "--deterministic" if deterministic
            else "--time" if when is not None
            else "--time-rate" if rate is not None
            else "--time-freeze"
        )  # fmt: skip
        if invocation.backend == "unotify":
            raise ValueError(
                f"{option}: the unotify backend cannot fake time (hiding the vDSO needs "
                "ptrace's exec event); use --backend seccomp, ptrace, sysemu or auto"
            )
        if rate is not None and not rate > 0:
            raise ValueError(f"--time-rate: must be more than 0, not {rate:g}")
        start = None
        if when is not None:
            from sysemu.tools.time.clock import parse_time  # noqa: PLC0415 (only when asked)

            try:
                start = parse_time(when)
            except ValueError as error:
                raise ValueError(f"--time: {error}") from None
        seed = getattr(args, "seed", None)
        return TimeConfig(
            start,
            rate or 1.0,
            frozen,
            deterministic,
            DEFAULT_SEED if seed is None else seed,
            getattr(args, "time_stop_reads", False),
            getattr(args, "time_files", False),
        )

    def apply(self, config: object, host: ToolHost) -> None:
        """Put a :class:`~.tool.TimeTool` with the clock asked for on the emulator."""
        assert isinstance(config, TimeConfig)
        from sysemu.tools.time.clock import SteppedClock, VirtualClock  # noqa: PLC0415
        from sysemu.tools.time.tool import TimeTool  # noqa: PLC0415

        if config.deterministic:
            stepped = SteppedClock() if config.start is None else SteppedClock(config.start)
            host.use(TimeTool(stepped, seed=config.seed, files=config.files))
            return
        clock = VirtualClock(config.start, rate=config.rate, frozen=config.frozen)
        host.use(TimeTool(clock, in_process=not config.stop_reads, files=config.files))


OPTIONS = TimeOptions()
