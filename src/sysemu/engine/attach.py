"""Attaching to a running process, and detaching from it cleanly.

Attach is ptrace only: a seccomp filter cannot be removed again, and once sysemu detached,
every call it trapped would fail with ENOSYS. So every call stops (twice) while attached, and
the syscall number decides first whether anything else is read.

Detaching must leave the process running exactly as before. A thread can only be detached
while it is stopped, and a stop that the wait loop has collected must be resumed by it; so a
detach request (Ctrl-C, SIGTERM, :meth:`Attacher.request_detach`) only sets a flag and sends
``PTRACE_INTERRUPT`` so that the blocked ``waitpid`` returns. Between two stops the loop sees
the flag, interrupts every thread, and detaches each at its next stop: a signal it was about
to receive is handed back with ``PTRACE_DETACH``, a thread stopped at a syscall entry goes on
to run that call, and one in a group-stop stays stopped, as it would have without sysemu.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Iterator

from sysemu.api.results import RunResult
from sysemu.engine.errors import AttachError
from sysemu.engine.tracer import OPTIONS, Tracer
from sysemu.kernel import ptrace

ATTACH_OPTIONS = OPTIONS & ~ptrace.PTRACE_O_EXITKILL & ~ptrace.PTRACE_O_TRACESECCOMP


def _threads(pid: int) -> Iterator[int]:
    try:
        entries = os.listdir(f"/proc/{pid}/task")
    except OSError as error:
        raise AttachError(errno.ESRCH, f"no process {pid}") from error
    yield from (int(entry) for entry in entries)


class Attacher:
    """An attached run: seizes every thread of a running process, serves it with a
    :class:`Tracer` (``Stops.EVERY_CALL``) and detaches cleanly (see the module doc)."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.detached = False

    def request_detach(self) -> None:
        """Ask the loop to detach (safe from a signal handler of the tracing thread)."""
        tracer = self._tracer
        tracer.request_release()
        if tracer.root:
            ptrace.interrupt(tracer.root)  # wakes the loop's waitpid with a stop

    def attach(self, pid: int) -> RunResult:
        """Seize every thread of ``pid``, decide its calls until it exits or a detach is
        requested; the result's ``exit_code`` is the process's if it exited."""
        tracer = self._tracer
        tracer.check_alarm()  # (before anything is seized)
        seized = _seize_threads(pid)
        tracer.take(dict.fromkeys(seized, pid), pid)
        return tracer.serve(self._detach_all)

    def _detach_all(self) -> None:
        """Interrupt every thread and detach each at its next stop (see the module doc)."""
        _detach(self._tracer.task_ids, self._tracer.task_exited)
        self.detached = True


def _seize_threads(pid: int) -> set[int]:
    """Seize every thread of ``pid`` and interrupt it at once, so that the loop can resume
    it with PTRACE_SYSCALL: its calls are unseen until that first stop, so the moment is kept
    short (not the time it takes to seize the others). Raises AttachError (with every thread
    it seized let go again) if one cannot be seized."""
    seized: set[int] = set()
    # Threads may be created while we seize: scan until a pass finds no new one (new
    # threads of seized ones are followed by the kernel itself, TRACECLONE).
    while True:
        new = [tid for tid in _threads(pid) if tid not in seized]
        if not new:
            return seized
        for tid in new:
            try:
                ptrace.seize(tid, ATTACH_OPTIONS)
            except OSError as error:
                if error.errno == errno.ESRCH:
                    continue  # it exited meanwhile
                _detach(list(seized), lambda _tid, _status: None)
                code = error.errno or errno.EPERM
                message = f"cannot attach to {pid}: {os.strerror(code)}"
                raise AttachError(code, message) from error
            seized.add(tid)
            ptrace.interrupt(tid)


def _detach(tids: list[int], gone: Callable[[int, int | None], None]) -> None:
    """Interrupt each of ``tids`` and detach it at its next stop, handing back a signal it
    was about to receive; ``gone(tid, status)`` hears of each thread that exited meanwhile
    (with its wait status) or was detached (None)."""
    for tid in tids:
        ptrace.interrupt(tid)
    left = set(tids)
    while left:
        try:
            tid, status = os.waitpid(-1, ptrace.WALL)
        except ChildProcessError:
            break
        if status & 0xFF != 0x7F:
            left.discard(tid)
            gone(tid, status)
            continue
        stop = status >> 8
        signal_to_deliver = 0
        if stop >> 8 == 0 and stop != ptrace.SYSCALL_STOP_SIG:
            signal_to_deliver = stop & 0xFF  # a signal-delivery-stop: hand it back
        elif stop >> 8 == ptrace.PTRACE_EVENT_STOP and stop & 0xFF in _GROUP_STOP_SIGNALS:
            signal_to_deliver = 0  # group-stop: it stays stopped after detach
        ptrace.detach(tid, signal_to_deliver)
        left.discard(tid)
        gone(tid, None)


_GROUP_STOP_SIGNALS = (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
