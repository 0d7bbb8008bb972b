"""Which calls and signals a trace shows, and how: strace's ``-P PATH`` / ``--trace-path``,
``--trace-fds``, ``-e signal=``, ``-e raw=``, ``-e verbose=``, ``-e abbrev=`` (``-v``) and
``-X raw|abbrev|verbose``, parsed once into a :class:`TraceSelection` that the tracer asks.

``-P`` and ``--trace-fds`` are decided at a call's entry, as strace decides them: a call is
shown when one of its path arguments names a selected path (as the program wrote it, or the
path's real path when it existed at the start), one of its fd arguments is open on such a path,
or one of its fd arguments is in the ``--trace-fds`` set (for ``select`` and ``poll``: one of
the fds of their sets). A call with neither is not shown.
"""

from __future__ import annotations

import os
import struct

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.abi import ArgKind

if TYPE_CHECKING:
    from sysemu.abi.classes import SyscallSet
    from sysemu.api.call import Call

CONSTANT_STYLES = ("abbrev", "raw", "verbose")
"""``-X``'s styles: names (strace's default), numbers, or numbers with the names as a comment."""

_PATH_MAX = 4096
_FD_KINDS = (ArgKind.FD, ArgKind.DIRFD)
_POLLS = frozenset({"poll", "ppoll", "ppoll_time64"})
_SETS_OF_FDS = _POLLS | {"select", "_newselect", "pselect6", "pselect6_time64"}
_MANY_FDS = 1 << 16  # read no more of a set or array than this many fds


class NumberSet(NamedTuple):
    """A set of numbers as strace spells one (``3,4``, ``!3``, ``all``, ``none``)."""

    numbers: frozenset[int]
    negated: bool = False

    def __contains__(self, number: object) -> bool:
        return (number in self.numbers) != self.negated


def parse_number_set(text: str, option: str) -> NumberSet:
    """``text`` as a :class:`NumberSet` of non-negative numbers; ValueError names ``option``."""
    negated = text.startswith("!")
    body = text.removeprefix("!").strip()
    if body in ("all", "none"):
        return NumberSet(frozenset(), negated != (body == "all"))
    numbers = set()
    for word in filter(None, body.split(",")):
        if not word.strip().isdigit():
            raise ValueError(f"{option}: {word!r} is not a non-negative number")
        numbers.add(int(word))
    if not numbers:
        raise ValueError(f"{option}: empty set")
    return NumberSet(frozenset(numbers), negated)


def parse_signal_set(text: str) -> NumberSet:
    """``-e signal=SET``: names (``SIGIO``, ``io``), numbers, ``all``, ``none``, ``!`` first to
    negate; ValueError for a name no signal has."""
    from sysemu.abi import signal_number  # noqa: PLC0415 (loaded already)

    negated = text.startswith("!")
    body = text.removeprefix("!").strip()
    if body.lower() in ("all", "none"):
        return NumberSet(frozenset(), negated != (body.lower() == "all"))
    numbers = set()
    for word in filter(None, body.split(",")):
        try:
            numbers.add(signal_number(word))
        except ValueError as error:
            raise ValueError(f"-e signal=: {error}") from None
    if not numbers:
        raise ValueError("-e signal=: empty set")
    return NumberSet(frozenset(numbers), negated)


class TraceSelection(NamedTuple):
    """What the trace shows beyond the set of calls (every field's default shows everything,
    as strace does without the option)."""

    paths: tuple[str, ...] = ()
    """``-P``: the paths whose calls are shown (with ``fds``: shown if either matches)."""
    fds: NumberSet | None = None
    """``--trace-fds``: the fds whose calls are shown; None: no fd filter."""
    signals: NumberSet | None = None
    """``-e signal=``: the signals whose delivery is shown; None: every one."""
    raw: SyscallSet | None = None
    """``-e raw=``: calls whose arguments and result are shown as numbers (hex)."""
    abbreviated: SyscallSet | None = None
    """``-e abbrev=`` (``-v``: none): calls whose large structures are abbreviated; None: all."""
    verbose: SyscallSet | None = None
    """``-e verbose=``: calls whose structures are decoded; None: all (else the address)."""
    constants: str = "abbrev"
    """``-X``: one of :data:`CONSTANT_STYLES`."""
    fd_details: bool = False
    """``-yy``: sockets' endpoints, devices' numbers and pidfds' processes after fds."""

    @property
    def filters_calls(self) -> bool:
        """Whether ``-P`` or ``--trace-fds`` leaves calls out."""
        return bool(self.paths) or self.fds is not None

    @property
    def restyles(self) -> bool:
        """Whether any option changes how an argument is written (the C trace writer then
        leaves the calls it concerns to the Python tracer)."""
        return (
            self.raw is not None
            or self.abbreviated is not None
            or self.verbose is not None
            or self.constants != "abbrev"
            or self.fd_details
        )


def selected_paths(paths: list[str]) -> tuple[str, ...]:
    """``-P``'s paths as given, and the real path of each that exists now (strace matches
    both: ``-P /tmp/x`` also shows calls on ``/private/tmp/x`` it resolves to)."""
    shown: list[str] = []
    for path in paths:
        shown.append(path)
        if os.path.lexists(path):
            real = os.path.realpath(path)
            if real != path:
                shown.append(real)
    return tuple(dict.fromkeys(shown))


class CallFilter:
    """``-P`` and ``--trace-fds``: whether a call is shown, decided at its entry."""

    __slots__ = ("_encoded", "fds", "paths")

    def __init__(self, paths: tuple[str, ...], fds: NumberSet | None) -> None:
        self.paths = frozenset(paths)
        self._encoded = frozenset(os.fsencode(path) for path in paths)
        self.fds = fds

    def _selects_fd(self, call: Call, fd: int) -> bool:
        if self.fds is not None and fd in self.fds:
            return True
        return bool(self.paths) and call.fd_path(fd) in self.paths

    def _fds_in_sets(self, call: Call) -> list[int]:
        """The fds of a ``select``'s sets or a ``poll``'s array, which strace looks in too."""
        raw = call.raw
        found: list[int] = []
        try:
            if call.syscall.name in _POLLS:
                count = min(raw[1] & 0xFFFFFFFF, _MANY_FDS)
                data = call.memory.read(raw[0], 8 * count) if raw[0] and count else b""
                found = [fd for (fd,) in struct.iter_unpack("<i4x", data) if fd >= 0]
            else:
                count = min(raw[0] & 0x7FFFFFFF, _MANY_FDS)
                for address in raw[1:4]:
                    if address and count:
                        bits = int.from_bytes(call.memory.read(address, (count + 7) // 8), "little")
                        found += [fd for fd in range(count) if bits >> fd & 1]
        except OSError:
            pass
        return found

    def shows(self, call: Call) -> bool:
        """Whether ``call`` names a selected path or fd in its arguments (see the module)."""
        raw = call.raw
        if call.syscall.name in _SETS_OF_FDS:
            return any(self._selects_fd(call, fd) for fd in self._fds_in_sets(call))
        for index, param in enumerate(call.syscall.params[:6]):
            kind = param.kind
            if kind in _FD_KINDS:
                fd = raw[index] & 0xFFFFFFFF
                if fd >= 1 << 31:  # negative: AT_FDCWD, -1
                    continue
                if self._selects_fd(call, fd):
                    return True
            elif kind is ArgKind.PATH and self.paths and raw[index]:
                try:
                    name = call.memory.read_cstring(raw[index], _PATH_MAX)
                except OSError:
                    continue
                if name in self._encoded:
                    return True
        return False


def call_filter(selection: TraceSelection) -> CallFilter | None:
    """The filter ``selection`` asks for, or None when every call is shown."""
    return CallFilter(selection.paths, selection.fds) if selection.filters_calls else None


def shows_signal(selection: TraceSelection | None, signal: int) -> bool:
    """Whether the delivery of ``signal`` is shown (``-e signal=``)."""
    return selection is None or selection.signals is None or signal in selection.signals


__all__ = [
    "CONSTANT_STYLES",
    "CallFilter",
    "NumberSet",
    "TraceSelection",
    "call_filter",
    "parse_number_set",
    "parse_signal_set",
    "selected_paths",
    "shows_signal",
]
