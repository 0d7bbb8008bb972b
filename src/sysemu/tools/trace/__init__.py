"""Tracing like ``strace -f``: decoded arguments, fd paths, JSON lines, marks for what sysemu
decided. :class:`TraceObserver` is an observer; :func:`trace` adds one to a handler set."""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Abi, syscall_by_name
from sysemu.abi.classes import SyscallSet, parse_syscall_set
from sysemu.api.handlers import HandlerSet
from sysemu.tools.trace.tracer import TraceObserver, summary_table

if TYPE_CHECKING:
    from typing import IO


def trace(
    handlers: HandlerSet, stream: IO[str], syscalls: str | SyscallSet = "all", **options: object
) -> TraceObserver:
    """Trace the calls of ``syscalls`` (strace's set syntax) to ``stream``; ``options`` are
    :class:`TraceObserver`'s. Calls outside the set do not stop the program."""
    selected = parse_syscall_set(syscalls) if isinstance(syscalls, str) else syscalls
    observer = TraceObserver(stream, **options)  # type: ignore[arg-type]
    if selected.is_all:
        handlers.observe(observer)
        return observer
    entries = [syscall_by_name(name, abi) for abi in Abi for name in sorted(selected.names(abi))]
    handlers.observe(observer, entries)
    return observer


__all__ = ["TraceObserver", "summary_table", "trace"]
