"""``select`` and ``pselect6``: fd sets as strace shows them (``[3 4]``) at entry, and the
sets the kernel left, with the time left, after the result (``1 (in [3], left {...})``).
"""

from __future__ import annotations

import struct

from sysemu.tools.trace import render
from sysemu.tools.trace.context import Context
from sysemu.tools.trace.decoders_structs import sigset_text

_WORD = 8
_TIMEVAL = struct.Struct("<qQ")
_TIMESPEC = struct.Struct("<qQ")
_SIGMASK_ARG = struct.Struct("<QQ")
_SET_NAMES = ("in", "out", "except")


_NFDS_MAX = 1 << 20  # what is read of a set at most, whatever nfds claims (2**31 - 1...)


def _fd_set(ctx: Context, address: int, nfds: int) -> str | None:
    """The fds below ``nfds`` set in the ``fd_set`` at ``address`` (None: unreadable or
    empty)."""
    nfds = min(max(nfds, 0), _NFDS_MAX)
    size = (nfds + 8 * _WORD - 1) // (8 * _WORD) * _WORD
    data = ctx.fetch(address, size) if size else None
    if data is None:
        return None
    bits = int.from_bytes(data, "little") & ((1 << nfds) - 1)
    fds = []
    while bits:
        lowest = bits & -bits
        fds.append(str(lowest.bit_length() - 1))
        bits ^= lowest
    return "[" + " ".join(fds) + "]"


def dec_fd_set(ctx: Context, value: int, _index: int) -> str:
    """``[3 4]``: an fd set as the program passes it, as wide as the first argument says."""
    if value == 0:
        return "NULL"
    shown = _fd_set(ctx, value, ctx.call.args.value(0))
    return render.pointer(value) if shown is None else shown


def dec_timeval(ctx: Context, value: int, _index: int) -> str:
    """``{tv_sec=0, tv_usec=123}``."""
    fields = ctx.unpack(value, _TIMEVAL)
    return render.pointer(value) if fields is None else _timeval(fields)


def _timeval(fields: tuple[int, ...]) -> str:
    return f"{{tv_sec={fields[0]}, tv_usec={fields[1]}}}"


def _timespec(fields: tuple[int, ...]) -> str:
    return f"{{tv_sec={fields[0]}, tv_nsec={fields[1]}}}"


def dec_sigmask_arg(ctx: Context, value: int, _index: int) -> str:
    """``{sigmask=[HUP CHLD], sigsetsize=8}``: ``pselect6``'s signal mask and its size."""
    fields = ctx.unpack(value, _SIGMASK_ARG)
    if fields is None:
        return render.pointer(value)
    mask, size = fields
    shown = render.pointer(mask)
    if mask and size == 8:
        data = ctx.fetch(mask, size)
        shown = shown if data is None else sigset_text(data)
    return f"{{sigmask={shown}, sigsetsize={size}}}"


def _return_sets(ctx: Context, value: int, *, nanoseconds: bool) -> str | None:
    if value == 0:
        return "0 (Timeout)"
    args = ctx.call.args
    nfds = args.value(0)
    parts = []
    for name, register in zip(_SET_NAMES, (1, 2, 3), strict=True):
        address = args.value(register)
        if not address or nfds <= 0:
            continue
        shown = _fd_set(ctx, address, nfds)
        if shown is not None and shown != "[]":
            parts.append(f"{name} {shown}")
    timeout = args.value(4)
    if timeout:
        fields = ctx.unpack(timeout, _TIMESPEC if nanoseconds else _TIMEVAL)
        if fields is not None:
            parts.append("left " + (_timespec(fields) if nanoseconds else _timeval(fields)))
    return f"{value} ({', '.join(parts)})"


def return_select(ctx: Context, value: int) -> str | None:
    """``select``'s result: the fds ready in each set, and the time left."""
    return _return_sets(ctx, value, nanoseconds=False)


def return_pselect6(ctx: Context, value: int) -> str | None:
    """``pselect6``'s result: the fds ready in each set, and the time left."""
    return _return_sets(ctx, value, nanoseconds=True)
