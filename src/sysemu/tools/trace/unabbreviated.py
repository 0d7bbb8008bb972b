"""The full forms strace's ``-v`` (``-e abbrev=none``) shows where it abbreviates by default:
every field of a ``struct stat`` (``{st_dev=makedev(0xfe, 0), st_ino=605, st_mode=...,
st_ctime_nsec=761061207}``) and of a ``struct rusage``, and every string of an environment
(``execve``'s third argument).

:data:`FULL_FORMS` maps each abbreviating decoder to its full form; the tracer uses the full
one for the calls ``-e abbrev=`` leaves out (see :mod:`sysemu.tools.trace.styles`).
"""

from __future__ import annotations

import os
import struct
from functools import partial

from sysemu.abi import layouts as abi_layouts
from sysemu.tools.trace import render
from sysemu.tools.trace.context import Context, Decoder
from sysemu.tools.trace.decoders_records import date_comment
from sysemu.tools.trace.decoders_scalar import dec_argv, dec_envp
from sysemu.tools.trace.decoders_structs import dec_rusage, dec_stat


def _signed(value: int) -> int:
    """A 64-bit field as the signed ``long`` it is (times before 1970 are negative)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _device(number: int) -> str:
    """``makedev(0xfe, 0)``: strace's ``%#x`` of each part (``0`` for zero)."""
    major, minor = os.major(number), os.minor(number)
    return f"makedev({hex(major) if major else 0}, {hex(minor) if minor else 0})"


_STAT_FIELDS = (
    "st_dev", "st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_blksize", "st_blocks",
    "st_rdev", "st_size", "st_atime", "st_atime_nsec", "st_mtime", "st_mtime_nsec", "st_ctime",
    "st_ctime_nsec",
)  # fmt: skip


def _styled(number: str, named: str, style: str) -> str:
    """A constant in ``-X``'s ``style``: its name, its number, or both."""
    if style == "abbrev":
        return named
    return number if style == "raw" else f"{number} /* {named} */"


def dec_stat_full(ctx: Context, value: int, index: int, style: str = "abbrev") -> str:
    """Every field of a ``struct stat``, in strace's order, times with their dates; the device
    numbers and the mode in ``-X``'s ``style``."""
    layout = abi_layouts.stat_layout(ctx.call.name, ctx.call.abi) if ctx.native else None
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return dec_stat(ctx, value, index)
    field = {name: fields[layout.index(name)] for name in _STAT_FIELDS}
    mode = field["st_mode"]
    octal_mode = f"0{mode:o}" if mode else "0"
    parts = [
        f"st_dev={_styled(hex(field['st_dev']), _device(field['st_dev']), style)}",
        f"st_ino={field['st_ino']}",
        f"st_mode={_styled(octal_mode, render.mode(mode), style)}",
        f"st_nlink={field['st_nlink']}",
        f"st_uid={field['st_uid']}",
        f"st_gid={field['st_gid']}",
        f"st_blksize={field['st_blksize']}",
        f"st_blocks={field['st_blocks']}",
    ]
    if mode & 0o170000 in (0o20000, 0o60000):  # devices show their numbers, not a size
        parts.append(f"st_rdev={_styled(hex(field['st_rdev']), _device(field['st_rdev']), style)}")
    else:
        parts.append(f"st_size={field['st_size']}")
    for name in ("st_atime", "st_mtime", "st_ctime"):
        seconds, nanoseconds = _signed(field[name]), field[f"{name}_nsec"]
        dated = date_comment(seconds, nanoseconds, 9)
        parts.append(f"{name}={seconds}{dated}")
        parts.append(f"{name}_nsec={nanoseconds}")
    return "{" + ", ".join(parts) + "}"


# Seconds signed, the rest as strace prints them: unsigned.
_RUSAGE = struct.Struct("<qQqQ14Q")
_RUSAGE_COUNTS = (
    "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt", "ru_nswap",
    "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw",
)  # fmt: skip


def dec_rusage_full(ctx: Context, value: int, index: int) -> str:
    """Every field of a ``struct rusage`` (x86-64 layout: two timevals, then 14 longs)."""
    short = dec_rusage(ctx, value, index)
    fields = ctx.unpack(value, _RUSAGE) if short.startswith("{") else None
    if fields is None:
        return short
    user = f"{{tv_sec={fields[0]}, tv_usec={fields[1]}}}"
    system = f"{{tv_sec={fields[2]}, tv_usec={fields[3]}}}"
    counts = ", ".join(
        f"{name}={count}" for name, count in zip(_RUSAGE_COUNTS, fields[4:], strict=True)
    )
    return f"{{ru_utime={user}, ru_stime={system}, {counts}}}"


def stat_full_styled(style: str) -> Decoder:
    """:func:`dec_stat_full` with its constants in ``-X``'s ``style``."""
    return partial(dec_stat_full, style=style)


FULL_FORMS: dict[Decoder, Decoder] = {
    dec_stat: dec_stat_full,
    dec_envp: dec_argv,
    dec_rusage: dec_rusage_full,
}
"""Each decoder that abbreviates, and the decoder of its full form."""

__all__ = ["FULL_FORMS", "dec_rusage_full", "dec_stat_full", "stat_full_styled"]
