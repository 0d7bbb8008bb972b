"""Installing seccomp filters, and probing what the kernel's seccomp offers.

A filter is irreversible and inherited across fork and exec. Every ``SECCOMP_RET_TRACE`` call in
a tree whose tracer died fails with ENOSYS, which is why the engine always sets
``PTRACE_O_EXITKILL`` when it installs one.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence

from sysemu.kernel.bpf import SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF, Insn
from sysemu.kernel.raw import (
    PR_SET_NO_NEW_PRIVS,
    SYS_PRCTL,
    SYS_SECCOMP,
    address_of,
    check,
    syscall,
)

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3  # Linux 5.0
SECCOMP_GET_ACTION_AVAIL = 2  # Linux 4.14
SECCOMP_GET_NOTIF_SIZES = 3  # Linux 5.0
PR_GET_SECCOMP = 21

# struct sock_fprog: the program's length (unsigned short) and a pointer to its instructions.
_SOCK_FPROG = struct.Struct("<H6xQ")


class PreparedFilter:
    """A filter packed ahead of time, so that the child process that installs it between
    fork and exec only makes the two system calls and allocates nothing."""

    def __init__(self, program: Sequence[Insn]) -> None:
        # Both stay alive (and unresized) for as long as the filter may be installed: the
        # sock_fprog points into the code.
        self._code = b"".join(insn.pack() for insn in program)
        self._prog = _SOCK_FPROG.pack(len(program), address_of(self._code))
        self.length = len(program)

    def install(self, *, no_new_privs: bool, flags: int = 0) -> int:
        """Install in the calling thread; returns the listener fd when ``flags`` ask for one
        (``SECCOMP_FILTER_FLAG_NEW_LISTENER``), else 0. Raises OSError.

        Without CAP_SYS_ADMIN the kernel requires no_new_privs first (seccomp(2)).
        """
        if no_new_privs:
            check(syscall(SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        return check(
            syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, self._prog),
            "seccomp(SECCOMP_SET_MODE_FILTER)",
        )


def action_available(action: int) -> bool:
    """Whether the kernel knows the filter return ``action`` (SECCOMP_GET_ACTION_AVAIL)."""
    value = struct.pack("<I", action)
    return syscall(SYS_SECCOMP, SECCOMP_GET_ACTION_AVAIL, 0, value) == 0


def filter_flags_known(flags: int) -> bool:
    """Whether this kernel takes every one of the filter ``flags``, asked without a filter
    (nothing is installed): the kernel checks the flags (EINVAL) before it reads the program
    (EFAULT)."""
    return syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, 0) == -errno.EFAULT


def has_trace_action() -> bool:
    """Whether ``SECCOMP_RET_TRACE`` filters can be installed here."""
    return action_available(SECCOMP_RET_TRACE)


def has_user_notification() -> bool:
    """Whether ``SECCOMP_RET_USER_NOTIF`` (Linux 5.0) is available."""
    return action_available(SECCOMP_RET_USER_NOTIF)
