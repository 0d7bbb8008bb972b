"""The tracing tool on an emulator: a :class:`TraceObserver` installed on every run, for the
calls of a set, and its stream closed when the emulator's owner is done with it.

What the engine needs of the trace beyond an observer (the C line writer its wait loop drives
instead of calling the observer) it finds through the observer's ``c_trace_writer`` hook,
documented in :mod:`sysemu.engine.accelerated`.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Syscall, syscall_named
from sysemu.abi.abi import machine_abis
from sysemu.tools.tool import Tool
from sysemu.tools.trace.tracer import TraceObserver, summary_table
from sysemu.tools.trace.values import STRING_LIMIT

if TYPE_CHECKING:
    # (The records, JSON lines and timelines are imported where they are made: their
    # dataclasses and json cost a text trace's start-up about 10 ms it has no use for.)
    from collections.abc import Callable, Iterator
    from typing import IO

    from sysemu.abi.classes import SyscallSet
    from sysemu.api.handlers import HandlerSet
    from sysemu.api.results import RunResult
    from sysemu.tools.trace.events import Event, EventObserver
    from sysemu.tools.trace.timeline import Timeline


def observe(
    handlers: HandlerSet, observer: TraceObserver | EventObserver, syscalls: SyscallSet
) -> None:
    """Add ``observer`` to ``handlers`` for the calls of ``syscalls``, in every ABI (calls
    outside the set do not stop the program)."""
    if syscalls.is_all:
        handlers.observe(observer)
        return
    # syscall_named: a set may name numbers no table has (syscall_1005, experimental calls).
    found = (
        syscall_named(name, abi) for abi in machine_abis() for name in sorted(syscalls.names(abi))
    )
    entries: list[Syscall] = [entry for entry in found if entry is not None]
    handlers.observe(observer, entries)


class Trace(Tool):
    """Trace the calls of ``syscalls`` with ``observer`` in every run (a text trace, or an
    :class:`EventObserver` writing JSON lines).

    The run's result is strace ``-c``'s table so far (per syscall name: calls, errors,
    seconds). ``owned`` is a stream the tool closes in :meth:`close` (``-o FILE``), with
    ``path`` its name for the message if the last lines cannot be written.
    """

    name = "trace"
    stats_first = True

    def __init__(
        self,
        observer: TraceObserver | EventObserver,
        syscalls: SyscallSet,
        *,
        owned: IO[str] | None = None,
        path: str | None = None,
    ) -> None:
        self.observer = observer
        self.syscalls = syscalls
        self._owned = owned
        self._path = path

    def install(self, handlers: HandlerSet) -> None:
        """Observe the set's calls in the run that starts (whose notes are its own)."""
        self.observer.noted.clear()
        observe(handlers, self.observer, self.syscalls)

    def run_finished(self, result: RunResult) -> dict[str, list[float]]:
        """Per syscall name: [calls, errors, seconds between entry and exit] (``-c``)."""
        return self.observer.summary

    def stats_table(self, result: RunResult) -> str | None:
        """strace ``-c``'s table of every traced call, first in ``--stats``."""
        summary = result.tools.get(self.name)
        return summary_table(summary) if isinstance(summary, dict) else None

    def close(self) -> str | None:
        """Close the ``-o`` file; a failure (a full disk) is the message returned."""
        owned, self._owned = self._owned, None
        if owned is None:
            return None
        try:
            owned.close()
        except OSError as error:  # the last lines could not be written
            return f"cannot write the trace to {self._path}: {error}"
        return None


def _syscall_set(syscalls: str | SyscallSet) -> SyscallSet:
    from sysemu.abi.classes import parse_syscall_set  # noqa: PLC0415

    return parse_syscall_set(syscalls) if isinstance(syscalls, str) else syscalls


class TraceEvents(Tool):
    """The trace as Python records: every call of ``syscalls`` (strace's set syntax) as a
    :class:`~sysemu.tools.trace.events.SyscallEvent`, and each spawn, exec, signal and exit,
    kept in order in :attr:`events` (and the run's ``result.tools["events"]``); iterating
    over the tool goes through them. ``on_event``, when given, also sees each as it is made,
    while the program is stopped.

    ``string_limit``: bytes of a string kept (at least 4096); ``show_fd_paths``: resolve fd
    arguments and results too. A raised ValueError names a set that does not parse.
    """

    name = "events"

    def __init__(
        self,
        syscalls: str | SyscallSet = "all",
        *,
        on_event: Callable[[Event], None] | None = None,
        string_limit: int = STRING_LIMIT,
        show_fd_paths: bool = False,
    ) -> None:
        from sysemu.tools.trace.events import EventObserver  # noqa: PLC0415 (see the top)

        self.syscalls = _syscall_set(syscalls)
        self.events: list[Event] = []
        self.on_event = on_event
        self.observer = EventObserver(
            self._keep, string_limit=string_limit, show_fd_paths=show_fd_paths
        )

    def _keep(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def run_started(self) -> None:
        """A new run: a new list of events (the last run's stays in its result)."""
        self.events = []

    def install(self, handlers: HandlerSet) -> None:
        """Observe the set's calls in the run that starts (whose notes are its own)."""
        self.observer.noted.clear()
        observe(handlers, self.observer, self.syscalls)

    def run_finished(self, result: RunResult) -> list[Event]:
        """The run's events."""
        return self.events


class TimelineTool(Tool):
    """Write each run as a Trace Event Format file to ``path`` (``--timeline``): see
    :mod:`sysemu.tools.trace.timeline`. The result is the path."""

    name = "timeline"

    def __init__(self, path: str, syscalls: str | SyscallSet = "all") -> None:
        from sysemu.tools.trace.timeline import Timeline  # noqa: PLC0415 (see the top)

        self.path = path
        self.syscalls = _syscall_set(syscalls)
        self.timeline: Timeline = Timeline()

    def run_started(self) -> None:
        """A new run: a new timeline."""
        self.timeline = type(self.timeline)()

    def install(self, handlers: HandlerSet) -> None:
        """Observe the set's calls in the run that starts."""
        from sysemu.tools.trace.events import EventObserver  # noqa: PLC0415 (see the top)

        observe(handlers, EventObserver(self.timeline), self.syscalls)

    def run_finished(self, result: RunResult) -> str:
        """Write the file; its path is the result."""
        self.timeline.write(self.path)
        return self.path
