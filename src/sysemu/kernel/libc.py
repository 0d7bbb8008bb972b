"""The one place sysemu loads libc and turns a failed libc call into an ``OSError``.

Everything else in :mod:`sysemu.kernel` goes through :func:`check` (or the equivalent inline
test on a hot path) so that errors carry ``errno`` and ``strerror`` exactly as the standard
library's own ``OSError`` does.
"""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)

# ``syscall(2)`` for calls glibc has no wrapper for (seccomp, process_vm_*: glibc has those, but
# going through syscall(2) keeps one calling convention for all of them).
syscall = libc.syscall
syscall.restype = ctypes.c_long

# x86-64 and i386 numbers for the calls the kernel layer makes itself (asm/unistd_64.h).
SYS_SECCOMP = 317
SYS_PROCESS_VM_READV = 310
SYS_PROCESS_VM_WRITEV = 311
SYS_PIDFD_OPEN = 434
SYS_PRCTL = 157


def raise_errno(what: str) -> None:
    """Raise ``OSError`` for the errno the last libc call left, naming ``what`` failed."""
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def check(result: int, what: str) -> int:
    """Return ``result`` unless it is -1, in which case raise the errno as ``OSError``."""
    if result == -1:
        raise_errno(what)
    return result


SYS_TGKILL = 234


def tgkill(tgid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to thread ``tid`` of process ``tgid`` (kill(2) would pick any thread)."""
    check(
        syscall(
            ctypes.c_long(SYS_TGKILL), ctypes.c_long(tgid), ctypes.c_long(tid), ctypes.c_long(sig)
        ),
        f"tgkill({tgid}, {tid}, {sig})",
    )


# prctl(2) options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36  # Linux 3.4


def prctl(option: int, argument: int = 0) -> None:
    """``prctl(option, argument, 0, 0, 0)``; raises OSError."""
    check(
        syscall(
            ctypes.c_long(SYS_PRCTL),
            ctypes.c_long(option),
            ctypes.c_ulong(argument),
            ctypes.c_long(0),
            ctypes.c_long(0),
            ctypes.c_long(0),
        ),
        f"prctl({option}, {argument})",
    )
