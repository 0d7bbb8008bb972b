"""What a handler decides about a call: values, not exceptions.

A handler returns one of these (usually made by the :class:`~sysemu.Call` helper of the same
name) or ``None``, which means "no opinion": the next matching handler is asked, and if none has
an opinion the kernel runs the call unchanged. How a decision is carried out is the backend's
business; the handler does not know which backend runs it.
"""

from __future__ import annotations

import enum
import errno as errno_module
import os
from collections.abc import Callable

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.abi import syscall_by_name
from sysemu.abi.errnos import MAX_ERRNO, is_error
from sysemu.api.records import Record

if TYPE_CHECKING:
    from sysemu.abi import Abi

_AT_FDCWD = -100
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


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
        return is_error(self.value)

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


ResultHook = Callable[[Result], "int | Defer | None"]
"""Called with a call's result after the kernel ran it; may return a replacement value
(``-errno`` to make it fail), ``None`` to keep the kernel's, or a :class:`Defer` that holds the
thread until one of those is known."""


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
        if not 0 < errno <= MAX_ERRNO:
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
    ptrace backends the call is rewritten to open sysemu's own copy of ``path``, written in
    the calling thread's slot of sysemu's scratch area in the process. ``flags`` and
    ``mode`` are ``open(2)``'s; ``path`` is made absolute against the caller's working directory.
    """

    __slots__ = ("flags", "mode", "path")
    outcome = Outcome.REWRITTEN

    def __init__(self, path: str, flags: int, mode: int = 0) -> None:
        self.path = path
        self.flags = flags
        self.mode = mode

    def as_openat(self, abi: Abi) -> Rewrite:
        """This answer as the ptrace backends carry it out: the call rewritten into an
        ``openat`` of sysemu's copy of :attr:`path` (``AT_FDCWD``: the path is absolute), with
        the flags and mode."""
        path = os.fsencode(self.path) + b"\0"
        args = (_AT_FDCWD & _MASK64, path, self.flags, self.mode)
        return Rewrite(args, syscall_by_name("openat", abi).nr)


class Defer(Decision):
    """Hold the calling thread, and only it, until the decision is known; every other thread
    and process of the program runs on meanwhile (on the ptrace backends).

    A handler returns a ``Defer`` (made by :meth:`Call.defer` or :meth:`Call.delay`) and
    someone resolves it later, from any thread, with :meth:`resolve`: at a call's entry with
    what the handler would have returned (a :class:`Decision` or ``None``), in a result hook
    with what the hook would have returned (a replacement value or ``None``). ``timeout``
    seconds after the stop, an unresolved ``Defer`` is resolved with ``default``: a delay is a
    ``Defer`` that nobody else resolves. If the run ends meanwhile (the program is killed, or
    sysemu is), the held thread goes with it.

    The ``unotify`` backend has no per-thread stop: there the handler's thread waits for the
    resolution, which holds every other notified call meanwhile.
    """

    __slots__ = (
        "_lock",
        "_on_resolved",
        "default",
        "resolution",
        "resolved",
        "then_others",
        "timeout",
    )
    outcome = Outcome.PASSED  # (counted as the decision it is resolved with)

    def __init__(
        self, timeout: float | None = None, default: object = None, *, then_others: bool = False
    ) -> None:
        """``then_others``: a delay with no opinion of its own: the handlers registered after
        the one that returned it are asked at once, and their decision is the default."""
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must not be negative, not {timeout}")
        import threading  # noqa: PLC0415 (only runs that defer pay for it)

        self.timeout = timeout
        self.default = default
        self.then_others = then_others
        self.resolution: object = None
        self.resolved = False
        self._lock = threading.Lock()
        self._on_resolved: Callable[[Defer], None] | None = None

    def resolve(self, resolution: object = None) -> bool:
        """Give the held call its decision (or a result hook's replacement value); thread-safe.
        False if it was resolved already (by another resolve, or by its timeout)."""
        with self._lock:
            if self.resolved:
                return False
            self.resolution = resolution
            self.resolved = True
            wake = self._on_resolved
        if wake is not None:
            wake(self)
        return True

    def when_resolved(self, wake: Callable[[Defer], None]) -> None:
        """For backends: call ``wake(self)`` once resolved (at once if it is already)."""
        with self._lock:
            self._on_resolved = wake
            done = self.resolved
        if done:
            wake(self)

    def wait(self, timeout: float | None = None) -> object:
        """For the ``unotify`` backend: block until resolved (or ``timeout``, else
        :attr:`timeout`, has passed: then resolved with :attr:`default`); the resolution."""
        import threading  # noqa: PLC0415

        done = threading.Event()
        self.when_resolved(lambda _defer: done.set())
        if not done.wait(self.timeout if timeout is None else timeout):
            self.resolve(self.default)
        return self.resolution
