"""Tracing like ``strace -f``: decoded arguments, fd paths, JSON lines, marks for what sysemu
decided. :class:`TraceObserver` is an observer; :func:`trace` adds one to a handler set;
:class:`~sysemu.tools.trace.tool.Trace` is the tool an emulator uses (``--trace``, see
:mod:`.cli`), whose result is strace ``-c``'s table, ``result.tools["trace"]``.

The trace as Python records: ``emu.use(TraceEvents())`` keeps every call as a
:class:`SyscallEvent` (the same fields as a line of ``--json``) and every spawn, exec, signal
and exit (and a :class:`NoteEvent` for what the trace cannot see); :class:`Timeline` writes
them as Trace Event Format (``--timeline``)."""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

if TYPE_CHECKING:
    from typing import IO

    from sysemu.abi.classes import SyscallSet
    from sysemu.api.handlers import HandlerSet
    from sysemu.tools.trace.events import (
        EventObserver,
        ExecEvent,
        ExitEvent,
        NoteEvent,
        SignalEvent,
        SpawnEvent,
        SyscallEvent,
    )
    from sysemu.tools.trace.timeline import Timeline
    from sysemu.tools.trace.tool import TraceEvents
    from sysemu.tools.trace.tracer import TraceObserver, summary_table

_LAZY = {
    "EventObserver": "sysemu.tools.trace.events",
    "ExecEvent": "sysemu.tools.trace.events",
    "ExitEvent": "sysemu.tools.trace.events",
    "NoteEvent": "sysemu.tools.trace.events",
    "SignalEvent": "sysemu.tools.trace.events",
    "SpawnEvent": "sysemu.tools.trace.events",
    "SyscallEvent": "sysemu.tools.trace.events",
    "Timeline": "sysemu.tools.trace.timeline",
    "TraceEvents": "sysemu.tools.trace.tool",
    "TraceObserver": "sysemu.tools.trace.tracer",
    "summary_table": "sysemu.tools.trace.tracer",
}


def trace(
    handlers: HandlerSet, stream: IO[str], syscalls: str | SyscallSet = "all", **options: object
) -> TraceObserver | EventObserver:
    """Trace the calls of ``syscalls`` (strace's set syntax) to ``stream``; ``options`` are
    :class:`TraceObserver`'s, or with ``json_lines=True`` :class:`EventObserver`'s (one JSON
    line per record). Calls outside the set do not stop the program."""
    from sysemu.abi.classes import parse_syscall_set  # noqa: PLC0415 (traced runs only)
    from sysemu.tools.trace.events import EventObserver, JsonLines  # noqa: PLC0415
    from sysemu.tools.trace.tool import observe  # noqa: PLC0415
    from sysemu.tools.trace.tracer import TraceObserver  # noqa: PLC0415

    selected = (
        parse_syscall_set(syscalls, any_number=True) if isinstance(syscalls, str) else syscalls
    )
    observer: TraceObserver | EventObserver
    if options.pop("json_lines", False):
        observer = EventObserver(JsonLines(stream), **options)  # type: ignore[arg-type]
    else:
        observer = TraceObserver(stream, **options)  # type: ignore[arg-type]
    observe(handlers, observer, selected)
    return observer


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "EventObserver", "ExecEvent", "ExitEvent", "NoteEvent", "SignalEvent", "SpawnEvent",
    "SyscallEvent", "Timeline", "TraceEvents", "TraceObserver", "summary_table", "trace",
]  # fmt: skip
