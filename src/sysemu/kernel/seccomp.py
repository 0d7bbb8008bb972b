"""Installing seccomp filters, and probing what the kernel's seccomp offers.

A filter is irreversible and inherited across fork and exec. Every ``SECCOMP_RET_TRACE`` call in
a tree whose tracer died fails with ENOSYS, which is why the engine always sets
``PTRACE_O_EXITKILL`` when it installs one.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from sysemu.kernel.bpf import SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF, Insn
from sysemu.kernel.libc import SYS_PRCTL, SYS_SECCOMP, check, syscall

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3  # Linux 5.0
SECCOMP_GET_ACTION_AVAIL = 2  # Linux 4.14
SECCOMP_GET_NOTIF_SIZES = 3  # Linux 5.0
PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class PreparedFilter:
    """A filter packed into C memory ahead of time, so that the child process that installs it
    between fork and exec only makes the two system calls and allocates nothing."""

    def __init__(self, program: Sequence[Insn]) -> None:
        code = b"".join(insn.pack() for insn in program)
        self._code = ctypes.create_string_buffer(code, len(code))
        self._prog = _SockFprog(len(program), ctypes.cast(self._code, ctypes.c_void_p).value)
        self.length = len(program)

    def install(self, *, no_new_privs: bool, flags: int = 0) -> int:
        """Install in the calling thread; returns the listener fd when ``flags`` ask for one
        (``SECCOMP_FILTER_FLAG_NEW_LISTENER``), else 0. Raises OSError.

        Without CAP_SYS_ADMIN the kernel requires no_new_privs first (seccomp(2)).
        """
        if no_new_privs:
            check(
                syscall(
                    ctypes.c_long(SYS_PRCTL),
                    ctypes.c_long(PR_SET_NO_NEW_PRIVS),
                    ctypes.c_long(1),
                    ctypes.c_long(0),
                    ctypes.c_long(0),
                    ctypes.c_long(0),
                ),
                "prctl(PR_SET_NO_NEW_PRIVS)",
            )
        return check(
            syscall(
                ctypes.c_long(SYS_SECCOMP),
                ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                ctypes.c_long(flags),
                ctypes.byref(self._prog),
            ),
            "seccomp(SECCOMP_SET_MODE_FILTER)",
        )


def action_available(action: int) -> bool:
    """Whether the kernel knows the filter return ``action`` (SECCOMP_GET_ACTION_AVAIL)."""
    value = ctypes.c_uint32(action)
    result = syscall(
        ctypes.c_long(SYS_SECCOMP),
        ctypes.c_long(SECCOMP_GET_ACTION_AVAIL),
        ctypes.c_long(0),
        ctypes.byref(value),
    )
    return bool(result == 0)


def has_trace_action() -> bool:
    """Whether ``SECCOMP_RET_TRACE`` filters can be installed here."""
    return action_available(SECCOMP_RET_TRACE)


def has_user_notification() -> bool:
    """Whether ``SECCOMP_RET_USER_NOTIF`` (Linux 5.0) is available."""
    return action_available(SECCOMP_RET_USER_NOTIF)
