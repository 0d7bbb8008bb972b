"""The one place sysemu loads libc and turns a failed libc call into an ``OSError``.

Everything else in :mod:`sysemu.kernel` goes through :func:`check` (or the equivalent inline
test on a hot path) so that errors carry ``errno`` and ``strerror`` exactly as the standard
library's own ``OSError`` does.
"""

from __future__ import annotations

import ctypes
import os

from sysemu.kernel.arch import native_number

libc = ctypes.CDLL(None, use_errno=True)

# ``syscall(2)`` for calls glibc has no wrapper for (seccomp, process_vm_*: glibc has those, but
# going through syscall(2) keeps one calling convention for all of them).
syscall = libc.syscall
syscall.restype = ctypes.c_long

# The machine's numbers for the calls the kernel layer makes itself.
SYS_SECCOMP = native_number("seccomp")
SYS_PROCESS_VM_READV = native_number("process_vm_readv")
SYS_PROCESS_VM_WRITEV = native_number("process_vm_writev")
SYS_PIDFD_OPEN = native_number("pidfd_open")
SYS_PRCTL = native_number("prctl")
SYS_TGKILL = native_number("tgkill")


def raise_errno(what: str) -> None:
    """Raise ``OSError`` for the errno the last libc call left, naming ``what`` failed."""
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def check(result: int, what: str) -> int:
    """Return ``result`` unless it is -1, in which case raise the errno as ``OSError``."""
    if result == -1:
        raise_errno(what)
    return result


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
