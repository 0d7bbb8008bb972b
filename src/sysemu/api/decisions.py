"""What a handler decides about a call: values, not exceptions.

A handler returns one of these (usually made by the :class:`~sysemu.Call` helper of the same
name) or ``None``, which means "no opinion": the next matching handler is asked, and if none has
an opinion the kernel runs the call unchanged. How a decision is carried out is the backend's
business; the handler does not know which backend runs it.
"""

from __future__ import annotations

import enum
import errno as errno_module
from collections.abc import Callable

from sysemu._typing import NamedTuple
from sysemu.api.records import Record


class Outcome(enum.Enum):
    """What happened to an intercepted call, as counted in statistics and shown in traces."""

    PASSED = "passed"  # the kernel ran it unchanged
    EMULATED = "emulated"  # the tracer answered it; the kernel never ran it
    FAILED = "failed"  # the tracer failed it with an errno; the kernel never ran it
    REWRITTEN = "rewritten"  # the kernel ran it with other arguments or as another call
    KILLED = "killed"  # a handler raised and the program was killed


class Result(NamedTuple):
    """The value a call returned, as seen at syscall exit.

    ``value`` is the raw kernel return: ``-errno`` on failure. Values above -4096 and below
    zero are errors, as in the kernel's ``IS_ERR_VALUE``.
    """

    value: int

    @property
    def failed(self) -> bool:
        """Whether the call failed."""
        return -4096 < self.value < 0

    @property
    def errno(self) -> int | None:
        """The errno of a failed call, ``None`` on success."""
        return -self.value if self.failed else None

    @property
    def errno_name(self) -> str | None:
        """``"ENOENT"`` and so on for a failed call."""
        number = self.errno
        if number is None:
            return None
        return errno_module.errorcode.get(number, str(number))


ResultHook = Callable[[Result], int | None]
"""Called with a call's result after the kernel ran it; may return a replacement value
(``-errno`` to make it fail), or ``None`` to keep the kernel's."""


class Decision(Record):
    """Base of every decision; see :class:`Pass`, :class:`Emulate`, :class:`Fail`,
    :class:`Rewrite`.

    Decisions are plain slotted records (one is made per intercepted call; a dataclass would
    cost more to build and to import); two are equal when their class and fields are.
    """

    __slots__ = ()
    outcome: Outcome


class Pass(Decision):
    """Let the kernel run the call as it is; with ``then``, see its result afterwards."""

    __slots__ = ("then",)
    outcome = Outcome.PASSED

    def __init__(self, then: ResultHook | None = None) -> None:
        self.then = then


class Emulate(Decision):
    """The kernel skips the call, which returns ``value`` (negative values are errors)."""

    __slots__ = ("value",)
    outcome = Outcome.EMULATED

    def __init__(self, value: int) -> None:
        self.value = value


class Fail(Decision):
    """The kernel skips the call, which fails with ``errno`` (a positive errno number)."""

    __slots__ = ("errno",)
    outcome = Outcome.FAILED

    def __init__(self, errno: int) -> None:
        if not 0 < errno < 4096:
            raise ValueError(f"errno must be between 1 and 4095, not {errno}")
        self.errno = errno


ArgValue = int | bytes | tuple[bytes, ...]
"""A new argument: a register value, a NUL-terminated string to place in the caller's memory,
or NUL-terminated strings to place with a NULL-terminated array of pointers to them."""
"""A rewritten argument: a register value, or bytes to place in the tracee's memory (the
register then points at them; :meth:`Call.rewrite` adds the NUL a string needs)."""


class Rewrite(Decision):
    """The kernel runs the call with other arguments, or as another call.

    ``nr`` is the new syscall number in the call's ABI (``None``: unchanged); ``args`` has one
    entry per argument register, ``None`` keeping the original. ``then`` sees the result.
    """

    __slots__ = ("args", "nr", "then")
    outcome = Outcome.REWRITTEN

    def __init__(
        self,
        args: tuple[ArgValue | None, ...] = (),
        nr: int | None = None,
        then: ResultHook | None = None,
    ) -> None:
        self.args = args
        self.nr = nr
        self.then = then


class OpenFile(Decision):
    """The call's result is a new file descriptor on ``path``, which sysemu opened after the
    handler checked it: the safe way to allow an open by path.

    A pass-through would let the kernel read the path from the program's memory again, after
    the check, where another thread may have changed it. With the user-notification backends
    (``unotify``, ``auto`` for ``decides_only`` handlers) sysemu opens the file itself (with
    its own credentials) and hands the descriptor over atomically with the reply
    (``SECCOMP_IOCTL_NOTIF_ADDFD`` with ``SECCOMP_ADDFD_FLAG_SEND``, Linux 5.14). With the
    ptrace backends the call is rewritten to open sysemu's own copy of ``path``, written below
    the calling thread's stack pointer. ``flags`` and ``mode`` are ``open(2)``'s;
    ``path`` is made absolute against the caller's working directory.
    """

    __slots__ = ("flags", "mode", "path")
    outcome = Outcome.REWRITTEN

    def __init__(self, path: str, flags: int, mode: int = 0) -> None:
        self.path = path
        self.flags = flags
        self.mode = mode
