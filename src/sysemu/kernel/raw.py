"""System calls and ptrace requests as functions of ints and buffers that return the result,
or ``-errno`` on failure: the C accelerator's when it is built, ctypes' otherwise.

Everything else in :mod:`sysemu.kernel` calls the kernel through here, so a run with the
accelerator never imports :mod:`ctypes` (a tenth of the command line's start-up). Arguments are
ints (64-bit patterns: -1 and values up to 2**64 - 1 alike) or buffers, passed as the address
of their memory: a ``bytearray`` where the kernel writes, ``bytes`` where it only reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sysemu._typing import TYPE_CHECKING
from sysemu.kernel.arch import native_number

if TYPE_CHECKING:
    from types import ModuleType
    from typing import TypeAlias

    Argument: TypeAlias = int | bytes | bytearray

speedups: ModuleType | None = None
"""The C accelerator module (``sysemu.kernel._speedups``), or None where it is not built or
``SYSEMU_NO_SPEEDUPS`` is set."""
if not os.environ.get("SYSEMU_NO_SPEEDUPS"):
    try:
        from sysemu.kernel import _speedups as speedups  # type: ignore[attr-defined,no-redef]
    except ImportError:  # not built (no C compiler at install): ctypes serves
        speedups = None

syscall: Callable[..., int]
"""``syscall(number, *args)``: up to six arguments; the result or -errno."""
ptrace: Callable[[int, int, Argument, Argument], int]
"""``ptrace(request, pid, addr, data)``: the result or -errno."""
address_of: Callable[[bytes | bytearray], int]
"""Where a buffer's memory is, for a structure that points to it (valid while the object
lives and is not resized)."""
# (getattr: an in-place build older than these functions still loads.)
if speedups is not None and getattr(speedups, "syscall", None) is not None:
    syscall = speedups.syscall
    ptrace = speedups.ptrace
    address_of = speedups.address_of
else:
    from sysemu.kernel import ctypes_calls

    syscall = ctypes_calls.syscall
    ptrace = ctypes_calls.ptrace
    address_of = ctypes_calls.address_of

# The machine's numbers for the calls the kernel layer makes itself.
SYS_SECCOMP = native_number("seccomp")
SYS_PROCESS_VM_READV = native_number("process_vm_readv")
SYS_PROCESS_VM_WRITEV = native_number("process_vm_writev")
SYS_PIDFD_OPEN = native_number("pidfd_open")
SYS_PRCTL = native_number("prctl")
SYS_TGKILL = native_number("tgkill")
SYS_PERSONALITY = native_number("personality")


def check(result: int, what: str) -> int:
    """Return ``result`` unless it is -errno, in which case raise that errno as an
    ``OSError`` naming ``what`` failed (errno and strerror as the standard library's own)."""
    if result < 0:
        raise OSError(-result, f"{what}: {os.strerror(-result)}")
    return result


def tgkill(tgid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to thread ``tid`` of process ``tgid`` (kill(2) would pick any thread)."""
    check(syscall(SYS_TGKILL, tgid, tid, sig), f"tgkill({tgid}, {tid}, {sig})")


# prctl(2) options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36  # Linux 3.4
PR_SET_NO_NEW_PRIVS = 38


def prctl(option: int, argument: int = 0) -> None:
    """``prctl(option, argument, 0, 0, 0)``; raises OSError."""
    check(syscall(SYS_PRCTL, option, argument, 0, 0, 0), f"prctl({option}, {argument})")
