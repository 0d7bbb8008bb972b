"""What a run returns: the program's exit status and what sysemu did to its calls."""

from __future__ import annotations

from collections.abc import Iterator

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Abi
from sysemu.api.routes import HandlerError, SyscallStats
from sysemu.kernel.arch import native_abi

if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


class Stats:
    """Per-syscall counters of one run (only calls some handler asked for are counted)."""

    def __init__(self, rows: list[SyscallStats]) -> None:
        merged: dict[tuple[str, Abi], SyscallStats] = {}
        for row in rows:
            key = (row.name, row.abi)
            if key not in merged:
                merged[key] = SyscallStats(row.name, row.abi)
            merged[key].add(row)
        # Rows of calls that never stopped (the i386 twin of a handled call, say) are noise.
        self.rows = sorted(
            (row for row in merged.values() if row.stops),
            key=lambda r: (-r.stops, r.name, r.abi.value),
        )

    def __iter__(self) -> Iterator[SyscallStats]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, name: str) -> SyscallStats:
        """The counters of ``name`` summed over ABIs; raises KeyError if it never stopped."""
        matching = [row for row in self.rows if row.name == name]
        if not matching:
            raise KeyError(name)
        total = SyscallStats(name, matching[0].abi)
        for row in matching:
            total.add(row)
        return total

    @property
    def stops(self) -> int:
        """How many times the program stopped for a handler."""
        return sum(row.stops for row in self.rows)

    def table(self) -> str:
        """A table like ``strace -c``'s: one line per syscall, busiest first."""
        header = (f"{'syscall':<24} {'stops':>8} {'passed':>8} {'emulated':>8} {'failed':>8} "
                  f"{'rewritten':>9} {'results':>8} {'errors':>6} {'handler ms':>10}")  # fmt: skip
        lines = [header, "-" * len(header)]
        native = native_abi()
        for row in [*self.rows, self._total()]:
            name = row.name if row.abi is native or row.name == "total" else (
                f"{row.name}/{row.abi}")  # fmt: skip
            if row.name == "total":
                lines.append("-" * len(header))
            lines.append(
                f"{name:<24} {row.stops:>8} {row.passed:>8} {row.emulated:>8} {row.failed:>8} "
                f"{row.rewritten:>9} {row.results_seen:>8} {row.handler_errors:>6} "
                f"{row.handler_ns / 1e6:>10.3f}"
            )
        return "\n".join(lines)

    def _total(self) -> SyscallStats:
        total = SyscallStats("total", native_abi())
        for row in self.rows:
            total.add(row)
        return total

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<Stats {len(self.rows)} syscalls, {self.stops} stops>"


class RunResult:
    """How a run ended.

    ``exit_code`` is what a shell would report: the program's exit status, or 128 + N when
    signal N killed it (``signal`` is then N). ``stats``: the per-syscall counters.
    ``handler_errors``: every handler error of the run; ``fatal_error`` the one for which
    sysemu killed the program (``OnError.KILL``). ``stdout``/``stderr``: the output, with
    ``capture_output=True``. ``processes``/``threads``: how many the run started in all, the
    first one included. ``tools``: each tool's results, by the tool's name (see
    the tool interface; :meth:`tool` checks their type).
    """

    __slots__ = (
        "core_dumped", "exit_code", "fatal_error", "handler_errors", "processes", "signal",
        "stats", "stderr", "stdout", "threads", "tools",
    )  # fmt: skip

    def __init__(
        self,
        exit_code: int,
        *,
        signal: int | None = None,
        core_dumped: bool = False,
        stats: Stats | None = None,
        handler_errors: list[HandlerError] | None = None,
        fatal_error: HandlerError | None = None,
        processes: int = 0,
        threads: int = 0,
    ) -> None:
        self.exit_code = exit_code
        self.signal = signal
        self.core_dumped = core_dumped
        self.stats = Stats([]) if stats is None else stats
        self.handler_errors = [] if handler_errors is None else handler_errors
        self.fatal_error = fatal_error
        self.processes = processes
        self.threads = threads
        self.stdout: bytes | None = None
        self.stderr: bytes | None = None
        # Filled in by the emulator when the run is over, from each tool in use.
        self.tools: dict[str, object] = {}

    def tool(self, name: str, kind: type[T]) -> T:
        """The results of the tool ``name`` (``result.tool("inject", list)``), checked to be
        a ``kind``; raises KeyError when that tool left none, TypeError for another type."""
        value = self.tools[name]
        if not isinstance(value, kind):
            raise TypeError(f"tool {name!r} left a {type(value).__name__}, not {kind.__name__}")
        return value

    @property
    def injections(self) -> list[Any]:
        """What fault injection did (``sysemu.Injection`` records, in order): the results the
        tool named ``"inject"`` left, kept under this name for compatibility; ``[]`` without
        it."""
        value = self.tools.get("inject")
        return value if isinstance(value, list) else []

    def __repr__(self) -> str:
        return (
            f"RunResult(exit_code={self.exit_code}, signal={self.signal}, "
            f"processes={self.processes}, threads={self.threads}, stats={self.stats!r})"
        )
