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
from collections.abc import Iterator

from sysemu.api.results import RunResult
from sysemu.engine.tasks import TaskState
from sysemu.engine.tracer import OPTIONS, Tracer
from sysemu.kernel import ptrace

ATTACH_OPTIONS = OPTIONS & ~ptrace.PTRACE_O_EXITKILL & ~ptrace.PTRACE_O_TRACESECCOMP


class AttachError(OSError):
    """The process could not be attached to (it does not exist, or ptrace is refused)."""


def _threads(pid: int) -> Iterator[int]:
    try:
        entries = os.listdir(f"/proc/{pid}/task")
    except OSError as error:
        raise AttachError(errno.ESRCH, f"no process {pid}") from error
    yield from (int(entry) for entry in entries)


class Attacher(Tracer):
    """The ptrace-only tracer, attached to a running process instead of starting one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["ptrace_only"] = True
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._detach_requested = False
        self.detached = False

    def request_detach(self) -> None:
        """Ask the loop to detach (safe from a signal handler of the tracing thread)."""
        self._detach_requested = True
        self._stop_native[0] = 1  # the C wait loop hands the next stop to _after_stop
        if self._root:
            ptrace.interrupt(self._root)  # wakes the loop's waitpid with a stop

    def attach(self, pid: int) -> RunResult:
        """Seize every thread of ``pid``, decide its calls until it exits or a detach is
        requested; the result's ``exit_code`` is the process's if it exited."""
        self._check_alarm()  # (before anything is seized)
        seized: set[int] = set()
        # Threads may be created while we seize: scan until a pass finds no new one (new
        # threads of seized ones are followed by the kernel itself, TRACECLONE).
        while True:
            new = [tid for tid in _threads(pid) if tid not in seized]
            if not new:
                break
            for tid in new:
                try:
                    ptrace.seize(tid, ATTACH_OPTIONS)
                except OSError as error:
                    if error.errno == errno.ESRCH:
                        continue  # it exited meanwhile
                    self._detach_seized(seized)
                    code = error.errno or errno.EPERM
                    message = f"cannot attach to {pid}: {os.strerror(code)}"
                    raise AttachError(code, message) from error
                seized.add(tid)
                self._tasks[tid] = TaskState(tid, pid)
        self._root = pid
        self._processes, self._threads = 1, len(seized)
        for tid in seized:
            # A stop, so that the loop can resume each with PTRACE_SYSCALL.
            ptrace.interrupt(tid)
        if self._compiled.observers:
            self._notify("task_started", self._compiled.observers, pid, 0, "attach")
        try:
            if self._alarm is not None:
                self._alarm.install()
            self._loop()
        except BaseException:
            self._detach_all()
            raise
        finally:
            if self._alarm is not None:
                self._alarm.restore()
        return self._result()

    def _after_stop(self) -> bool:
        if not self._detach_requested:
            return False
        self._detach_all()
        return True

    def _detach_seized(self, tids: set[int]) -> None:
        for tid in tids:
            ptrace.interrupt(tid)
        self._tasks = {tid: TaskState(tid) for tid in tids}
        self._detach_all()

    def _detach_all(self) -> None:
        """Interrupt every thread and detach each at its next stop (see the module doc)."""
        for tid in list(self._tasks):
            ptrace.interrupt(tid)
        while self._tasks:
            try:
                tid, status = os.waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                break
            if status & 0xFF != 0x7F:
                self._on_exit(tid, status)
                continue
            stop = status >> 8
            signal_to_deliver = 0
            if stop >> 8 == 0 and stop != ptrace.SYSCALL_STOP_SIG:
                signal_to_deliver = stop & 0xFF  # a signal-delivery-stop: hand it back
            elif stop >> 8 == ptrace.PTRACE_EVENT_STOP and stop & 0xFF in (
                signal.SIGSTOP,
                signal.SIGTSTP,
                signal.SIGTTIN,
                signal.SIGTTOU,
            ):
                signal_to_deliver = 0  # group-stop: it stays stopped after detach
            ptrace.detach(tid, signal_to_deliver)
            self._tasks.pop(tid, None)
        self.detached = True
