"""The unotify backend's guardian: a process between sysemu and the program that ends the
program's whole tree when sysemu dies.

The ptrace backends need none: ``PTRACE_O_EXITKILL`` kills every tracee when its tracer dies.
The unotify backend traces nothing, so a SIGKILLed sysemu would leave the program running on,
its notified calls failing with ENOSYS. The guardian is a fork of sysemu that forks the
program and stays its parent:

- it is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so that every process of the tree, an
  orphan included, stays its descendant and can be found from it through /proc;
- it gets SIGTERM when the thread that started it dies (``PR_SET_PDEATHSIG``), and sysemu
  sends it SIGTERM to end a run early (a timeout, a handler error): either way it SIGKILLs
  its descendants until none is left;
- it reaps them, and reports the program's pid and then its wait status to sysemu on a pipe;
- it ignores every other signal a program may send its parent (``SIGUSR1``, as X servers
  send) or its process group, and ``SIGTERM`` too unless sysemu sent it; sysemu's filter
  refuses signals, ptrace and memory writes aimed at it as at sysemu itself.
"""

from __future__ import annotations

import os
import signal
import struct
from collections.abc import Callable, Mapping, Sequence

from sysemu._contexts import suppress
from sysemu._typing import TYPE_CHECKING
from sysemu.engine.spawn import Spawned, exec_child
from sysemu.kernel.raw import PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, prctl
from sysemu.kernel.seccomp import PreparedFilter

if TYPE_CHECKING:
    from typing import NoReturn

_PID = struct.Struct("=q")
_STATUS = struct.Struct("=i")
# What wait() returns when the guardian died without reporting: as if SIGKILLed.
_KILLED_STATUS = signal.SIGKILL
# The guardian keeps these: SIGTERM is its order to end the tree (when sysemu sends it),
# SIGCHLD must stay at its default for waitpid to report statuses, and SIGKILL and SIGSTOP
# cannot be changed.
_KEPT = frozenset({signal.SIGTERM, signal.SIGCHLD, signal.SIGKILL, signal.SIGSTOP})


def descendants(root: int) -> list[int]:
    """``root`` and every process descended from it, each parent before its children, from
    /proc's parent links (processes that exit meanwhile are simply missing)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found = [root]
    for pid in found:
        found.extend(children.get(pid, ()))
    return found


def kill_descendants(root: int) -> None:
    """SIGKILL every process descended from ``root`` (not ``root`` itself), children before
    their parents: a parent killed first would hand its children to a reaper out of sight."""
    for pid in reversed(descendants(root)[1:]):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class GuardedProgram(Spawned):
    """A program started under a guardian (``pid`` is the program's, 0 if the guardian failed
    before starting it)."""

    def __init__(self, pid: int, error_read: int, guardian: int, report: int) -> None:
        super().__init__(pid, error_read)
        self.guardian = guardian
        self._report = report
        self._status: int | None = None

    def end(self) -> None:
        """Kill the whole tree: its processes now, and the guardian goes on killing any that
        a fork added meanwhile until none is left."""
        kill_descendants(self.guardian)
        with suppress(ProcessLookupError):
            os.kill(self.guardian, signal.SIGTERM)

    def wait(self) -> int:
        """The program's wait status, once the guardian has reaped the whole tree and exited.
        A guardian that died without reporting one (it was SIGKILLed) counts as the program
        SIGKILLed; one that failed before starting it gives its own status."""
        if self._status is not None:
            return self._status
        data = _read_exactly(self._report, _STATUS.size)
        os.close(self._report)
        _, guardian_status = os.waitpid(self.guardian, 0)
        if len(data) == _STATUS.size:
            self._status = int(_STATUS.unpack(data)[0])
        elif self.pid == 0:
            self._status = guardian_status
        else:
            self._status = int(_KILLED_STATUS)
        return self._status


def spawn_guarded(
    argv: Sequence[str],
    *,
    path: str,
    env: Mapping[str, str],
    cwd: str | None,
    make_filter: Callable[[tuple[int, ...]], PreparedFilter],
    stdio: Sequence[int | None] = (None, None, None),
    listener_socket: int | None = None,
    filter_flags: int = 0,
) -> GuardedProgram:
    """Fork a guardian that forks the program (see the module doc); the program installs
    ``make_filter(pids)``, where ``pids`` are sysemu's and the guardian's, and execs ``path``.

    Returns once the guardian has reported the program's pid, or has failed first."""
    supervisor = os.getpid()
    go_read, go_write = os.pipe2(os.O_CLOEXEC)
    error_read, error_write = os.pipe2(os.O_CLOEXEC)
    report_read, report_write = os.pipe2(os.O_CLOEXEC)
    try:
        guardian = os.fork()
    except OSError:
        for fd in (go_read, go_write, error_read, error_write, report_read, report_write):
            os.close(fd)
        raise
    if guardian == 0:  # pragma: no cover - the guardian exits, never returns
        os.close(go_write)
        os.close(error_read)
        os.close(report_read)
        _guard(
            supervisor,
            report_write,
            make_filter,
            {
                "path": path,
                "argv": argv,
                "env": env,
                "cwd": cwd,
                "go_read": go_read,
                "error_write": error_write,
                "stdio": stdio,
                "listener_socket": listener_socket,
                "filter_flags": filter_flags,
            },
        )
    os.close(go_read)
    os.close(error_write)
    os.close(report_write)
    os.write(go_write, b"x")  # nothing to seize: the program may go on at once
    os.close(go_write)
    data = _read_exactly(report_read, _PID.size)
    pid = int(_PID.unpack(data)[0]) if len(data) == _PID.size else 0
    os.set_blocking(error_read, False)
    return GuardedProgram(pid, error_read, guardian, report_read)


class _TreeMustEndError(Exception):
    """sysemu died, or asks for the tree's end (by SIGTERM)."""


# The guardian takes these with sigwaitinfo, blocked: SIGTERM to learn its sender, SIGCHLD to
# wake when a child can be reaped.
_WAITED = frozenset({signal.SIGTERM, signal.SIGCHLD})


def _guard(
    supervisor: int,
    report: int,
    make_filter: Callable[[tuple[int, ...]], PreparedFilter],
    child: dict[str, object],
) -> NoReturn:
    """The guardian's whole life; see the module doc."""
    program = 0
    reported = False
    try:
        # Set, not added to: sysemu's CLI blocks the signals it takes in a thread of its own,
        # and the guardian inherits that mask.
        signal.pthread_sigmask(signal.SIG_SETMASK, _WAITED)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != supervisor:  # sysemu died before the line above
            raise _TreeMustEndError
        saved = {}
        for number in signal.valid_signals():
            if number not in _KEPT:  # (glibc's own two real-time signals refuse: left alone)
                with suppress(OSError, ValueError):
                    saved[number] = signal.signal(number, signal.SIG_IGN)
        program_filter = make_filter((supervisor, os.getpid()))
        program = os.fork()
        if program == 0:
            for number, handler in saved.items():
                with suppress(OSError, ValueError, TypeError):
                    signal.signal(number, signal.SIG_DFL if handler is None else handler)
            exec_child(filter_=program_filter, **child)  # type: ignore[arg-type]
        with suppress(OSError):
            os.write(report, _PID.pack(program))
        # Hold nothing of sysemu's: the caller's pipes, the listener's socket, the program's
        # go-ahead and error pipes, which tell sysemu of their end by being closed.
        os.closerange(3, report)
        os.closerange(report + 1, os.sysconf("SC_OPEN_MAX"))
        while True:
            reported = _reap(program, report) or reported  # ChildProcessError once none is left
            info = signal.sigwaitinfo(_WAITED)
            # SIGTERM is an order from sysemu only: kill(2) by sysemu when it ends a run early,
            # or PR_SET_PDEATHSIG, which the kernel sends in the name of the dying sysemu (and
            # after re-parenting us). The program shares our process group: its own
            # ``kill -TERM 0`` reaches us too, and must not end its tree.
            if info.si_signo == signal.SIGTERM and (
                info.si_pid == supervisor or os.getppid() != supervisor
            ):
                raise _TreeMustEndError
    except ChildProcessError:  # the whole tree is gone
        os._exit(0)
    except BaseException as error:  # sysemu's order, or a failure: either way, the end
        if program == 0 and not isinstance(error, _TreeMustEndError):
            # Not started: sysemu reads why where the program's own errors go.
            message = f"{getattr(error, 'errno', 0) or 0}:{error}".encode(errors="replace")
            with suppress(OSError, TypeError):
                os.write(child["error_write"], message)  # type: ignore[arg-type]
            os._exit(127)
        _end_tree(program, report, reported)
        os._exit(0)


def _reap(program: int, report: int) -> bool:
    """Reap every child that has ended; True once the program's status was reported. Raises
    ChildProcessError when no child is left."""
    reported = False
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return reported
        if pid == program:
            reported = _report_status(report, status)


def _end_tree(program: int, report: int, reported: bool) -> None:
    """SIGKILL every descendant and reap them, until none is left (a fork can add one until
    its parent is killed)."""
    me = os.getpid()
    while True:
        kill_descendants(me)
        try:
            pid, status = os.waitpid(-1, 0)
            while pid:
                if pid == program and not reported:
                    reported = _report_status(report, status)
                pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return


def _report_status(report: int, status: int) -> bool:
    with suppress(OSError):  # sysemu is gone: nobody to tell
        os.write(report, _STATUS.pack(status))
    return True


def _read_exactly(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes from the pipe ``fd``: fewer only at its end."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data
