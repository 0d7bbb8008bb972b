"""What the engine remembers about each traced thread between its stops."""

from __future__ import annotations

import enum

from sysemu._typing import NamedTuple
from sysemu.api.call import Call
from sysemu.api.decisions import Outcome, ResultHook, Rewrite
from sysemu.api.routes import Route


def read_tgid(tid: int) -> int:
    """The thread group id of ``tid`` from /proc (the kernel reports only thread ids)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return tid


class RewriteRecord(NamedTuple):
    """What a rewrite left in a thread's registers and memory, to repeat on a restart."""

    sp: int
    nr: int
    args: tuple[int, ...]
    blobs: tuple[tuple[int, bytes], ...]  # (address, data) written in the thread's slot
    then: ResultHook | None
    route: Route


class ScratchMapping(NamedTuple):
    """A thread making sysemu's ``mmap`` in place of its own call (engine/scratch.py), whose
    handlers decided to rewrite it: what is needed at the ``mmap``'s exit stop."""

    saved: bytes  # the registers at the call's entry stop (Arch.save_call)
    tgid: int
    size: int  # of the area being mapped
    sp: int
    nr: int
    args: tuple[int, ...]
    decision: Rewrite
    route: Route


class RewriteAgain(NamedTuple):
    """A call sent back to enter again once its process had a scratch area: at its next stop
    the decision taken the first time is carried out, without asking the handlers again."""

    sp: int
    nr: int
    args: tuple[int, ...]
    decision: Rewrite
    route: Route


class Reexecution(enum.IntEnum):
    """Where a call that ``PTRACE_SYSEMU`` skipped and the tracer makes again is
    (:attr:`TaskState.reexecuting`; the C loop uses the same numbers)."""

    NONE = 0
    """No call is being made again."""
    TO_ENTRY = 1
    """The skipped attempt's exit stop, then the real entry stop, are next."""
    TO_EXIT = 2
    """Between the real entry and its exit stop."""


class TaskState:
    """One traced thread.

    ``pending_call`` is set between a seccomp stop whose result someone asked for (a handler's
    hook, an observer) and the syscall-exit stop that delivers it; while it is set every resume
    of this thread must be ``PTRACE_SYSCALL``, or the exit stop would never come.
    """

    __slots__ = (
        "_pid",
        "pending_call",
        "pending_hook",
        "pending_outcome",
        "pending_route",
        "reexecuting",
        "rewritten",
        "spawning",
        "tid",
    )

    def __init__(self, tid: int, pid: int | None = None) -> None:
        self.tid = tid
        self._pid = pid
        self.pending_hook: ResultHook | None = None
        self.pending_call: Call | None = None
        self.pending_route: Route | None = None
        self.pending_outcome: Outcome = Outcome.PASSED
        # Sysemu's own child between fork and the exec of the program (ptrace-only backend).
        self.spawning = False
        # PTRACE_SYSEMU backend: where a skipped call being made again is (see Reexecution;
        # a plain int, which the C loop reads and writes too).
        self.reexecuting: int = Reexecution.NONE
        # The last call rewritten with data, until the thread's next decided call (see
        # CallCycle._restarted_rewrite); or a rewrite waiting for a scratch area. While it is
        # set, the C loop hands the thread's stops to Python.
        self.rewritten: RewriteRecord | ScratchMapping | RewriteAgain | None = None

    @property
    def pid(self) -> int:
        """The thread group id, read from /proc on first use."""
        if self._pid is None:
            self._pid = read_tgid(self.tid)
        return self._pid

    def became_leader(self, new_tid: int) -> None:
        """After an exec from a non-leader thread, the thread takes the leader's id."""
        self.tid = new_tid
        self._pid = new_tid

    def await_result(
        self, call: Call, route: Route, hook: ResultHook | None, outcome: Outcome
    ) -> None:
        """Remember ``call`` until its syscall-exit stop."""
        self.pending_call = call
        self.pending_route = route
        self.pending_hook = hook
        self.pending_outcome = outcome

    def clear_pending(self) -> None:
        """Forget the call awaiting its result."""
        self.pending_hook = None
        self.pending_call = None
        self.pending_route = None
