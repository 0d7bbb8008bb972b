"""What every backend does the same way: telling observers, and building the run's result;
and how the ptrace backends make calls stop (:class:`Stops`)."""

from __future__ import annotations

import enum
import errno
import os
import signal
import sys
from collections.abc import Iterable, Mapping

from sysemu.abi.abi import FOREIGN_CALLS, Abi
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult, Stats
from sysemu.api.routes import HandlerError, Route
from sysemu.engine.errors import FailurePolicy
from sysemu.kernel.arch import host_arch_type
from sysemu.kernel.bpf import SECCOMP_RET_ERRNO, ArgTest, Op, Rule
from sysemu.kernel.ptrace import PTRACE_ATTACH, PTRACE_SEIZE
from sysemu.kernel.seccomp import SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER


class Stops(enum.IntEnum):
    """How the kernel is made to stop the calls handlers asked for (the value is the C wait
    loop's ``mode``)."""

    FILTER = 0
    """A seccomp filter stops only the handled calls (``SECCOMP_RET_TRACE``): the seccomp
    backend."""
    EVERY_CALL = 1
    """No filter: every call of every thread stops at entry and exit (``PTRACE_SYSCALL``), and
    the syscall number decides in Python whether anyone wants it. Slower by far, but needs no
    seccomp and leaves nothing behind in the program, which is what attaching to a running
    process requires: the ptrace backend, and attach."""
    EMULATE_ALL = 2
    """``PTRACE_SYSEMU``: every call stops, and none runs unless the tracer makes it run. A
    call a handler emulates or fails costs one stop; one that is passed (or rewritten, or has
    no handler) is made again from its entry stop (:meth:`Arch.reexecute`), which costs three
    more: the skipped attempt's exit, then the real call's entry and exit
    (``bench/floor_sysemu.c`` counts 4 stops a call). The sysemu backend."""


def kill_if_alive(pid: int) -> None:
    """``SIGKILL`` ``pid``; nothing when it is gone already (a normal race at teardown)."""
    # (try rather than contextlib.suppress: contextlib would cost every start a millisecond.)
    try:  # noqa: SIM105
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def killed_if_foreign(
    abis: Iterable[Abi], audit_arch: int, pid: int, told: set[int] | None = None
) -> bool:
    """Whether a call of ``audit_arch`` is of none of ``abis`` (AArch32 on arm64), and its
    process ``pid`` was killed for it: no filter of the ptrace-only backends stops such calls,
    and no rule names them, so like the filters of the other backends they must not run.

    The kill is said on stderr, one line per process: ``told`` holds the pids already named
    (each of its threads can stop at such a call before the kill lands). The filters'
    ``SIGSYS`` kill on the other backends is the kernel's, which sysemu is not told of."""
    if any(abi.audit_arch == audit_arch for abi in abis):
        return False
    tell = told is None or pid not in told
    name = _command_name(pid) if tell else ""  # (read before the kill: then it is gone)
    kill_if_alive(pid)
    if tell:
        if told is not None:
            told.add(pid)
        what = FOREIGN_CALLS.get(audit_arch, f"a system call of architecture {audit_arch:#x}")
        print(
            f"sysemu: killed {pid}{name}: {what}, which sysemu's rules cannot vet",
            file=sys.stderr,
        )
    return True


def _command_name(pid: int) -> str:
    """`` (comm)`` of ``pid``, its command name as the kernel keeps it; empty when gone."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return f" ({comm.read().decode(errors='replace').strip()})"
    except OSError:
        return ""


def tell_observers(
    observers: Iterable[Observer], method: str, args: tuple[object, ...], policy: FailurePolicy
) -> None:
    """Call ``method`` of each observer; an observer's error goes to ``policy``, never
    fatal: observers only watch, and the program must not pay for a broken one."""
    for observer in observers:
        bound = getattr(observer, method)
        try:
            bound(*args)
        except Exception as error:
            failure = HandlerError(method, bound, 0)
            failure.__cause__ = error
            policy.observer_failed(failure)


def run_result(
    status: int | None,
    routes: Iterable[Route],
    *,
    errors: list[HandlerError],
    fatal: HandlerError | None,
    processes: int,
    threads: int,
) -> RunResult:
    """The :class:`RunResult` of a run whose first process ended with wait ``status``."""
    exit_code, sig, core = 0, None, False
    if status is not None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            exit_code = 128 + sig
            core = os.WCOREDUMP(status)
        else:
            exit_code = os.WEXITSTATUS(status)
    return RunResult(
        exit_code,
        signal=sig,
        core_dumped=core,
        stats=Stats([route.stats for route in routes]),
        handler_errors=list(errors),
        fatal_error=fatal,
        processes=processes,
        threads=threads,
    )


Numbers = Mapping[str, Mapping[Abi, int]]
"""Table numbers per ABI of the calls sysemu names itself (an architecture's ``numbers``)."""


def _rules(numbers: Numbers, name: str, action: int, tests: tuple[ArgTest, ...]) -> list[Rule]:
    """One rule per ABI for call ``name``, in the number space the filter sees."""
    return [
        Rule(abi.audit_arch, nr + abi.nr_bias, action, tests) for abi, nr in numbers[name].items()
    ]


def guard_rules(*supervisors: int, numbers: Numbers | None = None) -> list[Rule]:
    """Rules every filter of sysemu starts with.

    The program may not create a seccomp notification listener of its own (EPERM):
    ``SECCOMP_RET_USER_NOTIF`` outranks ``SECCOMP_RET_TRACE``, so a program that answered its
    own notifications with "continue" would make calls that sysemu never sees, past any rule.
    (Filters without a listener are harmless: their notifications fail with ENOSYS; and
    stronger actions, ERRNO, TRAP, KILL, never let a call run.) For each pid of
    ``supervisors`` (sysemu's, and the unotify backend's guardian's), the program may not
    ptrace it or write its memory either: a tracee that
    seized its tracer would hang both (each waits for the other's stop) and could undo any rule.
    Nor may it signal that pid (``kill``, ``tkill``, ``tgkill``, ``rt_(tg)sigqueueinfo``, or
    ``pidfd_open`` for ``pidfd_send_signal``): ``kill -STOP $PPID`` would stop sysemu while
    the program waits for it, for ever, and a ``SIGUSR1`` to a parent (as X servers send)
    would end sysemu. Signal 0, the check that a process exists, still works, and signals to
    sysemu's process group (job control: Ctrl-Z) are not touched.

    ``numbers`` are the architecture's (the machine's unless given).
    """
    if numbers is None:
        numbers = host_arch_type().numbers
    refuse = SECCOMP_RET_ERRNO | errno.EPERM
    tests = (
        ArgTest(0, Op.EQ, (SECCOMP_SET_MODE_FILTER,), bits=32),
        ArgTest(1, Op.MASKED_EQ, (SECCOMP_FILTER_FLAG_NEW_LISTENER,),
                mask=SECCOMP_FILTER_FLAG_NEW_LISTENER, bits=32),
    )  # fmt: skip
    rules = _rules(numbers, "seccomp", refuse, tests)
    if supervisors:
        attach = ArgTest(0, Op.IN, (PTRACE_ATTACH, PTRACE_SEIZE), bits=32)
        us = ArgTest(1, Op.IN, supervisors, bits=32)
        rules += _rules(numbers, "ptrace", refuse, (attach, us))
        first_is_us = ArgTest(0, Op.IN, supervisors, bits=32)
        rules += _rules(numbers, "process_vm_writev", refuse, (first_is_us,))
        rules += _signal_guards(supervisors, refuse, numbers)
    return rules


# Calls that send a signal to the pid in argument 0, and where their signal number is (None:
# no signal, pidfd_open). Their numbers are the architecture's (Arch.numbers).
SIGNALLING_CALLS: dict[str, int | None] = {
    "kill": 1,
    "tkill": 1,
    "tgkill": 2,
    "rt_sigqueueinfo": 1,
    "rt_tgsigqueueinfo": 2,
    "pidfd_open": None,
}


def _signal_guards(supervisors: tuple[int, ...], action: int, numbers: Numbers) -> list[Rule]:
    us = ArgTest(0, Op.IN, supervisors, bits=32)
    rules = []
    for name, signal_arg in SIGNALLING_CALLS.items():
        tests = (us,) if signal_arg is None else (us, ArgTest(signal_arg, Op.NE, (0,), bits=32))
        rules += _rules(numbers, name, action, tests)
    return rules


class HandlerTimeoutError(Exception):
    """A handler ran longer than the emulator's ``handler_timeout``."""


class HandlerAlarm:
    """A time limit on handlers, by ``SIGALRM``: ``with alarm:`` around a handler call.

    The alarm interrupts a handler blocked in a system call as well as one computing (Python
    runs the signal handler, which raises :class:`HandlerTimeoutError` in the handler's
    frame; :meth:`Route.decide` turns that into a handler error, so the ``on_error`` policy
    applies). Signal handlers live in the main thread: runs with a time limit must be made
    from it.
    """

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"handler_timeout must be more than 0, not {seconds}")
        self.seconds = seconds
        self._armed = False
        self._installed = False
        self._previous: object = None

    @staticmethod
    def check() -> None:
        """Raise ValueError outside the main thread, where no signal handler can run: called
        before a run starts anything."""
        import threading  # noqa: PLC0415 (runs with a handler time limit only)

        if threading.current_thread() is not threading.main_thread():
            raise ValueError("handler_timeout needs runs made from the main thread")

    def install(self) -> None:
        """Take over SIGALRM for the run (raises ValueError outside the main thread)."""
        self.check()
        self._previous = signal.signal(signal.SIGALRM, self._expired)
        self._installed = True

    def restore(self) -> None:
        """Give SIGALRM back (if it was taken)."""
        if not self._installed:
            return
        self._installed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]

    def _expired(self, _number: int, _frame: object) -> None:
        if self._armed:  # a late alarm after the handler returned is ignored
            self._armed = False
            raise HandlerTimeoutError(f"the handler ran longer than {self.seconds:g} s")

    def __enter__(self) -> None:
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *_exc: object) -> None:
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
