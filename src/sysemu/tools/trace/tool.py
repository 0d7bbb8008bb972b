"""The tracing tool on an emulator: a :class:`TraceObserver` installed on every run, for the
calls of a set, and its stream closed when the emulator's owner is done with it.

What the engine needs of the trace beyond an observer (the C line writer its wait loop drives
instead of calling the observer) it finds through the observer's ``c_trace_writer`` hook,
documented in :mod:`sysemu.engine.accelerated`.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Abi, syscall_by_name
from sysemu.tools.tool import Tool
from sysemu.tools.trace.tracer import TraceObserver, summary_table

if TYPE_CHECKING:
    from typing import IO

    from sysemu.abi.classes import SyscallSet
    from sysemu.api.handlers import HandlerSet
    from sysemu.api.results import RunResult


def observe(handlers: HandlerSet, observer: TraceObserver, syscalls: SyscallSet) -> None:
    """Add ``observer`` to ``handlers`` for the calls of ``syscalls``, in every ABI (calls
    outside the set do not stop the program)."""
    if syscalls.is_all:
        handlers.observe(observer)
        return
    entries = [syscall_by_name(name, abi) for abi in Abi for name in sorted(syscalls.names(abi))]
    handlers.observe(observer, entries)


class Trace(Tool):
    """Trace the calls of ``syscalls`` with ``observer`` in every run.

    The run's result is strace ``-c``'s table so far (per syscall name: calls, errors,
    seconds). ``owned`` is a stream the tool closes in :meth:`close` (``-o FILE``), with
    ``path`` its name for the message if the last lines cannot be written.
    """

    name = "trace"
    stats_first = True

    def __init__(
        self,
        observer: TraceObserver,
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
        """Observe the set's calls in the run that starts."""
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
