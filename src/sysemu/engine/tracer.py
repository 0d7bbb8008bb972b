"""The ptrace engine: one wait loop for a whole process tree, from its start (spawned, or taken
by attach) to its end.

:class:`Tracer` owns the run's lifecycle (spawn, timeout, release, kill and reap on the way
out), the Python wait loop, and the tree's own events; a call's stops are
:class:`~sysemu.engine.call_cycle.CallCycle`'s, and handing the loop to C is
:class:`~sysemu.engine.c_loop.CLoopServing`'s. Facts about the kernel that the events rest on:

* An exec from a non-leader thread kills the other threads and gives the exec'ing thread the
  leader's id; the exec event arrives under the leader's id and ``PTRACE_GETEVENTMSG`` names
  the former tid. The leader's own exit is never reported.
* With ``PTRACE_SEIZE``, group-stops are reported as ``PTRACE_EVENT_STOP`` with the stop signal,
  and ``PTRACE_LISTEN`` leaves the thread stopped (so job control works) while letting it report
  the ``SIGCONT`` that ends the stop. New children start with a ``PTRACE_EVENT_STOP`` with
  ``SIGTRAP``, which may reach us before the parent's fork event.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence

from sysemu._typing import TYPE_CHECKING, Protocol
from sysemu.abi import Abi
from sysemu.api.execs import ExecImage
from sysemu.api.handlers import OnError
from sysemu.api.results import RunResult
from sysemu.api.routes import CompiledHandlers, HandlerError
from sysemu.engine.c_loop import CLoopServing, Dispatch
from sysemu.engine.common import HandlerAlarm, Stops, guard_rules, kill_if_alive, run_result
from sysemu.engine.errors import (
    ErrorReporter,
    FailurePolicy,
    RunTimeoutError,
    exec_failure,
)
from sysemu.engine.spawn import Spawned, spawn
from sysemu.engine.tasks import TaskState
from sysemu.engine.untraced import untraced_rules
from sysemu.kernel import ptrace
from sysemu.kernel.arch import Arch
from sysemu.kernel.bpf import SECCOMP_RET_ALLOW, compile_filter
from sysemu.kernel.seccomp import PreparedFilter

if TYPE_CHECKING:
    from _thread import LockType
    from contextlib import AbstractContextManager

__all__ = ["OPTIONS", "Companion", "Stops", "Tracer"]

_SECCOMP_STOP = ptrace.SIGTRAP | (ptrace.PTRACE_EVENT_SECCOMP << 8)
_SYSCALL_STOP = ptrace.SYSCALL_STOP_SIG
_STOP_SIGNALS = frozenset((signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
_WALL_NOHANG = ptrace.WALL | os.WNOHANG
# The spin checks of _loop_python, as the C loop makes them (kernel/csrc/ptrace_loop.c).
_SPIN_WINDOW = 128
_SPIN_CONTENDED = 4
_SPIN_MISSES = 8
_SPIN_BACKOFF = 4096
_CHILD_EVENTS = {
    ptrace.PTRACE_EVENT_FORK: "fork",
    ptrace.PTRACE_EVENT_VFORK: "vfork",
    ptrace.PTRACE_EVENT_CLONE: "clone",
}

OPTIONS = (
    ptrace.PTRACE_O_TRACESYSGOOD
    | ptrace.PTRACE_O_TRACESECCOMP
    | ptrace.PTRACE_O_TRACEFORK
    | ptrace.PTRACE_O_TRACEVFORK
    | ptrace.PTRACE_O_TRACECLONE
    | ptrace.PTRACE_O_TRACEEXEC
    # A seccomp filter outlives its tracer: if sysemu dies, every trapped call of an orphaned
    # tree would fail with ENOSYS. Kill the tree instead.
    | ptrace.PTRACE_O_EXITKILL
)

# Longer than the gaps between the calls of most traced programs (tar has one every ~45 µs,
# bench/sparse.py's loops every 50-200 µs): a poll that finds its stop saves the cross-CPU
# wake-up, 50-60 µs on this project's VM; a 20 µs budget caught only the exits of calls, and
# a traced openat cost more than under strace. What a long poll risks is bounded by the
# checks in _loop_python (and ptrace_loop.c): it stops at once when it is preempted, and
# after a few polls that ran out.
DEFAULT_SPIN_US = 250


def _involuntary_switches() -> int:
    """How many times the scheduler has preempted this thread (``ru_nivcsw``)."""
    import resource  # noqa: PLC0415 (the Python loop's only: start-up does not pay for it)

    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


class Companion(Protocol):
    """Something that serves the program beside the ptrace wait loop, from the program's
    start to its end: the auto backend's user-notification thread. It supplies the filter and
    the spawn arguments that connect it to the program."""

    def filter(self) -> PreparedFilter:
        """The program's seccomp filter (made before the program is spawned)."""
        ...

    def spawn_arguments(self) -> tuple[int, int]:
        """The listener socket the child sends its listener over, and the filter's flags."""
        ...

    def serial(self) -> LockType | None:
        """A lock for the two threads to hold while they run Python code for a stop, or None
        where the tracer's side runs none of the user's (only decide-only handlers, no
        observer): see ``CallCycle._serial``."""
        ...

    def beside(
        self, root: int, policy: FailurePolicy, timeout: float | None, serial: LockType | None
    ) -> AbstractContextManager[None]:
        """Entered once the program (process ``root``) is spawned and seized, left when the
        wait loop ended (also by an exception); handler errors go to ``policy``, the
        tracer's own. ``serial`` is held by whichever of the two runs Python code for a stop
        (see ``CallCycle._serial``): the handlers run one at a time, as on one thread."""
        ...


class Tracer(CLoopServing):
    """Runs one program tree under a compiled handler set, with ptrace: the seccomp, ptrace
    and sysemu backends (:class:`Stops`), and attach (:meth:`take` and :meth:`serve`, used
    by :mod:`sysemu.engine.attach`)."""

    def __init__(
        self,
        compiled: CompiledHandlers,
        arch: Arch,
        *,
        on_error: OnError = OnError.KILL,
        error_errno: int = errno.EIO,
        report: ErrorReporter | None = None,
        spin_us: int | None = None,
        handler_timeout: float | None = None,
        stops: Stops = Stops.FILTER,
        companion: Companion | None = None,
    ) -> None:
        """``stops``: how calls are made to stop (see :class:`Stops`). ``companion``: serves
        the program beside the wait loop (:class:`Companion`; with ``Stops.FILTER`` only).

        ``spin_us``: how long the loop may poll for the next stop instead of sleeping, while
        stops come faster than that (``None``: 250 µs when this process may run on more than one
        CPU, else 0; 0 never polls). Polling trades that much CPU time per stop for the
        cross-CPU wake-up a sleeping tracer pays, which dominates the cost of a stop on VMs."""
        if spin_us is None:
            spin_us = DEFAULT_SPIN_US if len(os.sched_getaffinity(0)) > 1 else 0
        # A time limit on handlers (SIGALRM); see HandlerAlarm.
        alarm = HandlerAlarm(handler_timeout) if handler_timeout is not None else None
        super().__init__(compiled, arch, stops, FailurePolicy(on_error, error_errno, report), alarm)
        self._spin_ns = spin_us * 1000
        self._companion = companion
        # Set by request_release(): the loop then releases every thread (attach detaches).
        self._release_requested = False
        self._release: Callable[[], None] | None = None
        self._root = 0
        self._root_status: int | None = None
        self._processes = 0
        self._threads = 0
        self._timed_out = False

    def run(
        self,
        argv: Sequence[str],
        *,
        path: str,
        env: Mapping[str, str],
        cwd: str | None = None,
        stdio: Sequence[int | None] = (None, None, None),
        timeout: float | None = None,
    ) -> RunResult:
        """Start ``argv`` (``path`` is the resolved executable) and trace it to the end.

        Returns when every process of the tree has exited. If this method is left by an
        exception (KeyboardInterrupt included), every traced thread is killed and reaped first.
        After ``timeout`` seconds the whole tree is killed and :class:`RunTimeoutError` raised.
        """
        self._check_alarm()
        companion = self._companion
        listener_socket, filter_flags = None, 0
        if companion is not None:
            filter_: PreparedFilter | None = companion.filter()
            listener_socket, filter_flags = companion.spawn_arguments()
        else:
            filter_ = self._filter()
        options = OPTIONS & ~ptrace.PTRACE_O_TRACESECCOMP if self._ptrace_only else OPTIONS
        spawned = spawn(
            argv,
            path=path,
            env=env,
            cwd=cwd,
            filter_=filter_,
            options=options,
            stdio=stdio,
            interrupt=self._ptrace_only,
            listener_socket=listener_socket,
            filter_flags=filter_flags,
            personality=self._compiled.personality,
        )
        # The freshly spawned child is the tree's root from here; a run left by an exception
        # (Ctrl-C before the wait loop's own cleanup is in place, say) kills and reaps every
        # traced thread first, so that none stays seized and stopped.
        started = False
        try:
            self._started(spawned.pid)
            started = True
            if companion is None:
                self._serve(timeout)
            else:
                self._serial = companion.serial()
                with companion.beside(spawned.pid, self._policy, timeout, self._serial):
                    self._serve(timeout)
        except BaseException:
            if not started:
                os.kill(spawned.pid, signal.SIGKILL)  # unreaped: the pid is still ours
                os.waitpid(spawned.pid, ptrace.WALL)
            elif self._tasks:
                self._kill_all()
            raise
        return self._ended(argv, path, spawned, timeout)

    def _filter(self) -> PreparedFilter | None:
        """The program's filter, or None where no call needs one (or calls stop without)."""
        rules = self._compiled.rules
        defaults = self._compiled.arch_defaults
        needed = rules or any(action != SECCOMP_RET_ALLOW for action in defaults.values())
        if self._ptrace_only or not needed:
            return None
        ours = [*guard_rules(os.getpid(), numbers=self._arch.numbers), *untraced_rules()]
        program = compile_filter([*ours, *rules], arch_defaults=defaults)
        return PreparedFilter(program)

    def take(self, tasks: Mapping[int, int], root: int) -> None:
        """Take threads seized by another start than :meth:`run` (attach): ``tasks`` maps
        each thread id to its process id, ``root`` is the process whose exit is the run's."""
        for tid, pid in tasks.items():
            self._tasks[tid] = TaskState(tid, pid)
        self._root = root
        self._processes, self._threads = 1, len(tasks)
        if self._compiled.observers:
            self._tell("task_started", self._compiled.observers, root, 0, "attach")

    def serve(self, release: Callable[[], None]) -> RunResult:
        """Serve the taken threads until they are gone or :meth:`request_release` is called;
        then, or when left by an exception, ``release`` lets every thread go (attach
        detaches). The run's result."""
        self._release = release
        try:
            if self._alarm is not None:
                self._alarm.install()
            self._loop()
        except BaseException:
            release()
            raise
        finally:
            if self._alarm is not None:
                self._alarm.restore()
        return self._result()

    def request_release(self) -> None:
        """Ask the wait loop to release every thread between two stops (safe from a signal
        handler of the tracing thread); the caller wakes the loop's wait itself."""
        self._release_requested = True
        self._hand_back[0] = 1  # the C wait loop hands the next stop to _after_stop

    @property
    def task_ids(self) -> list[int]:
        """The threads traced now."""
        return list(self._tasks)

    @property
    def root(self) -> int:
        """The process whose exit is the run's (0 before the start)."""
        return self._root

    def task_exited(self, tid: int, status: int | None) -> None:
        """``tid`` ended (wait ``status``) or was let go (None) outside the wait loop."""
        if status is None:
            self._tasks.pop(tid, None)
        else:
            self._on_exit(tid, status)

    def check_alarm(self) -> None:
        """Refuse a handler time limit off the main thread before anything is started or
        seized (see HandlerAlarm.check)."""
        self._check_alarm()

    def _check_alarm(self) -> None:
        """Refuse a handler time limit off the main thread before anything is started or
        seized (see HandlerAlarm.check)."""
        if self._alarm is not None:
            self._alarm.check()

    def _started(self, root: int) -> None:
        """Take the freshly spawned child as the root of the tree."""
        self._root = root
        state = self._tasks[root] = TaskState(root, root)
        # Without a filter the child's own calls before exec would stop too; they are not the
        # program's, so only its execve is shown to handlers (see _on_entry).
        state.spawning = self._ptrace_only
        self._processes = self._threads = 1
        if self._compiled.observers:
            self._tell("task_started", self._compiled.observers, root, 0, "spawn")

    def _serve(self, timeout: float | None) -> None:
        """The wait loop, bounded by ``timeout`` and with the handler time limit armed; every
        traced thread is killed and reaped if it is left by an exception."""
        # The watchdog only sends SIGKILL, which any thread may do; the loop then collects the
        # deaths as usual (ptrace requests, which only this thread may make, are not needed).
        watchdog = None
        if timeout is not None:
            import threading  # noqa: PLC0415  (only for a timeout: start-up without it)

            watchdog = threading.Timer(timeout, self._time_out)
            watchdog.daemon = True
            watchdog.start()
        try:
            if self._alarm is not None:
                self._alarm.install()
            self._loop()
        finally:
            if self._alarm is not None:
                self._alarm.restore()
            if watchdog is not None:
                watchdog.cancel()
            if self._tasks:
                self._kill_all()

    def _ended(
        self, argv: Sequence[str], path: str, spawned: Spawned, timeout: float | None
    ) -> RunResult:
        """The run's result, or the timeout or exec failure that ended it."""
        if self._timed_out:
            raise RunTimeoutError(argv, timeout or 0.0, self._result())
        message = spawned.exec_error()
        failure = exec_failure(self._root_status, message, path, spawned.exec_errno)
        if failure is not None:
            raise failure
        return self._result()

    def _time_out(self) -> None:
        self._timed_out = True
        self._hand_back[0] = 1
        self._kill_tasks()

    def _result(self) -> RunResult:
        return run_result(
            self._root_status,
            (*self._routes, *self._dynamic.values()),
            errors=self._policy.errors,
            fatal=self._policy.fatal,
            processes=self._processes,
            threads=self._threads,
        )

    def _loop(self) -> None:
        serve = self._c_serve()
        if serve is not None:
            serve()
            return
        self._loop_python()

    def _dispatcher(self) -> Dispatch:
        """What the wait loops hand each event to: :meth:`_dispatch`, holding the serial lock
        meanwhile when there is one (see ``CallCycle._serial``). Chosen once per loop, so
        that a run without the lock pays nothing per stop."""
        serial = self._serial
        if serial is None:
            return self._dispatch
        dispatch = self._dispatch

        def serially(tid: int, status: int, info: tuple[int, ...] | None = None) -> bool:
            with serial:
                return dispatch(tid, status, info)

        return serially

    def _dispatch(self, tid: int, status: int, info: tuple[int, ...] | None = None) -> bool:
        """Handle one event of ``waitpid``; True ends the loop (``info``: see Dispatch)."""
        if status & 0xFF == 0x7F:  # stopped
            if self._timed_out:  # a thread the watchdog could not know of yet
                os.kill(tid, signal.SIGKILL)
                return False
            stop = status >> 8
            if stop == _SECCOMP_STOP:
                self._on_seccomp(tid, info)
            elif stop == _SYSCALL_STOP:
                self._on_syscall_stop(tid, info)
            elif stop >> 8:
                self._on_event(tid, stop >> 8, stop & 0xFF)
            else:
                self._on_signal(tid, stop & 0xFF)
        else:
            self._on_exit(tid, status)
        return self._after_stop()

    def _loop_python(self) -> None:
        waitpid = os.waitpid
        clock = time.perf_counter_ns
        spin_ns = self._spin_ns
        dispatch = self._dispatcher()
        spinning = False
        # Spins that found their stop and spins that ran out, in the current window of
        # _SPIN_WINDOW spins. _SPIN_MISSES more out than found, or _SPIN_CONTENDED involuntary
        # switches of this thread within the window (a spinning tracer preempted: it shares
        # its CPU), pause the spinning for _SPIN_BACKOFF waits, as the C loop does (whose
        # window counts stops: a spin that runs out kept a program on the same CPU from
        # running).
        found = out = paused = 0
        preempted = _involuntary_switches()
        while True:
            # Waiting for a stop by sleeping costs a cross-CPU wake-up of this process when the
            # stop comes, which on a VM is most of the price of a stop. While stops come fast
            # (the last wait was shorter than the spin budget), poll instead for up to that
            # budget; when they thin out, sleep again. See Tracer.__init__'s ``spin_us``.
            try:
                if paused:
                    paused -= 1
                    if not paused:
                        preempted = _involuntary_switches()
                    tid, status = waitpid(-1, ptrace.WALL)
                elif spinning:
                    deadline = clock() + spin_ns
                    while True:
                        tid, status = waitpid(-1, _WALL_NOHANG)
                        if tid or clock() > deadline:
                            break
                    contended = False
                    if tid:
                        found += 1
                    else:
                        # A spin that ran out cost its whole budget: the window's contention
                        # check is made now, not at the window's end (see ptrace_loop.c).
                        out += 1
                        contended = _involuntary_switches() - preempted >= _SPIN_CONTENDED
                        started = clock()
                        tid, status = waitpid(-1, ptrace.WALL)
                        spinning = clock() - started < spin_ns
                    if contended or out >= found + _SPIN_MISSES:
                        paused = _SPIN_BACKOFF
                    elif found + out == _SPIN_WINDOW:
                        switches = _involuntary_switches()
                        if switches - preempted >= _SPIN_CONTENDED:
                            paused = _SPIN_BACKOFF
                        preempted = switches
                    if paused or found + out == _SPIN_WINDOW:
                        found = out = 0
                elif spin_ns:
                    started = clock()
                    tid, status = waitpid(-1, ptrace.WALL)
                    spinning = clock() - started < spin_ns
                else:
                    tid, status = waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                return
            if dispatch(tid, status):
                return
            if self._holds and self._serve_holds():
                return

    def _serve_holds(self) -> bool:
        """Serve the tree while threads are held (see engine/holds.py); True ends the loop.
        The C loop hands every stop to Python meanwhile, and gets them back afterwards
        unless the run is ending."""
        self._hand_back[0] = 1
        ended = self._held().serve(self._dispatcher())
        if not (ended or self._timed_out or self._policy.fatal or self._release_requested):
            self._hand_back[0] = 0
        return ended

    def _after_stop(self) -> bool:
        """Called between two stops, when every collected stop has been resumed; True ends
        the loop (after a release was requested, once every thread is let go). The C wait
        loop calls it only for the stops it hands back, which request_release makes all."""
        if not self._release_requested or self._release is None:
            return False
        for tid in self._holds.release_all() if self._holds is not None else ():
            # Already stopped, so no interrupt would stop it again: let it go from here (at
            # its entry, the call runs as the kernel would have run it).
            ptrace.detach(tid, 0)  # (False if it is gone meanwhile)
            self._tasks.pop(tid, None)
        self._release()
        return True

    def _on_event(self, tid: int, event: int, sig: int) -> None:
        if event == ptrace.PTRACE_EVENT_STOP:
            if sig in _STOP_SIGNALS:
                ptrace.listen(tid)  # group-stop: stay stopped until SIGCONT, like untraced
            else:
                self._tasks.get(tid) or self._adopt(tid)
                self._resume(tid, 0)
            return
        observers = self._compiled.observers
        if event in _CHILD_EVENTS:
            child = ptrace.event_message(tid)
            if child is not None:
                kind = _CHILD_EVENTS[event]
                self._threads += 1
                if kind == "clone":
                    self._tasks.setdefault(child, TaskState(child))
                else:
                    self._processes += 1
                    # The child has its parent's scratch areas, unless it ran before this
                    # event came (it was adopted): it may have exec'd or mapped its own.
                    if self._scratch is not None and child not in self._tasks:
                        parent = (self._tasks.get(tid) or self._adopt(tid)).pid
                        self._scratch.forked(parent, child, shares_memory=kind == "vfork")
                    self._tasks.setdefault(child, TaskState(child, child))
                if observers:
                    self._tell("task_started", observers, child, tid, kind)
        elif event == ptrace.PTRACE_EVENT_EXEC:
            former = ptrace.event_message(tid) or tid
            if former != tid:
                # The old leader vanished without an exit report; its pending call is over.
                self._forget(tid, None)
                moved = self._tasks.pop(former, None)
                if moved is not None:
                    self._tasks[tid] = moved
            if self._scratch is not None:
                self._scratch.forget(tid)  # a new address space
            state = self._tasks.get(tid) or self._adopt(tid)
            state.became_leader(tid)
            state.spawning = False
            if self._compiled.exec_hooks:
                self._run_exec_hooks(tid)
            if observers:
                self._tell("exec_done", observers, tid, former)
        self._resume(tid, 0)

    def _run_exec_hooks(self, tid: int) -> None:
        """The exec hooks (see api/execs.py), at the exec event: the new image has not run
        an instruction yet. Every event but a call's stop comes to Python, from the C wait
        loop too, so this is the one place for both. A hook's error is a handler error of
        ``execve``: under ``OnError.KILL`` the tree is killed before the image runs."""
        info = ptrace.syscall_info(tid)
        if info is None:  # killed meanwhile
            return
        _op, audit_arch, _ip, sp = info[:4]
        image = ExecImage(tid, Abi.of(audit_arch, 0), sp)
        for hook in self._compiled.exec_hooks:
            try:
                hook(image)
            except Exception as error:
                failure = HandlerError("execve", hook, tid)
                failure.__cause__ = error
                if self._policy.hook_failed(failure):
                    self._hand_back[0] = 1
                    self._kill_tasks()
                    return

    def _on_signal(self, tid: int, sig: int) -> None:
        """A signal-delivery-stop: deliver the signal as the kernel would have."""
        if self._compiled.observers:
            self._tell("signal_delivered", self._compiled.observers, tid, sig)
        self._resume(tid, sig)

    def _on_exit(self, tid: int, status: int) -> None:
        self._forget(tid, status)
        if tid == self._root:
            self._root_status = status

    def _forget(self, tid: int, status: int | None) -> None:
        """``tid`` is gone: finish its pending call for the observers, then report it."""
        state = self._tasks.pop(tid, None)
        if self._scratch is not None:
            self._scratch.thread_gone(tid)
        if self._holds is not None:
            self._holds.forget(tid)
        observers = self._compiled.observers
        if state is None or not observers:
            return
        call, route = state.pending_call, state.pending_route
        if call is not None and route is not None and route.observers:
            self._tell("call_finished", route.observers, call, state.pending_outcome, None)
        if status is not None:
            self._tell("task_exited", observers, tid, status)

    def _kill_all(self) -> None:
        """Kill every traced thread and reap until none is left (the finally of a run)."""
        self._kill_tasks()
        while True:
            try:
                tid, status = os.waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                break
            if status & 0xFF == 0x7F:  # a thread we had not heard of yet
                kill_if_alive(tid)
            else:
                self._on_exit(tid, status)
        self._tasks.clear()
