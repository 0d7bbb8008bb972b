"""The seccomp + ptrace engine: one wait loop for a whole process tree.

Some facts about the kernel that this loop is built on (Linux >= 4.8 ordering):

* The filter returns ``SECCOMP_RET_TRACE | route``, so only calls some handler asked for stop,
  and the stop says which route (which handlers) it is for without any lookup. The tracee stops
  in ``PTRACE_EVENT_SECCOMP`` *after* the syscall-entry report and before the call runs.
* There, a number of -1 makes the kernel skip the call, and the return register is what it
  returns (:meth:`Arch.skip_with_return`). Resuming with ``PTRACE_CONT`` gives no
  syscall-exit stop: ``ptrace_resume`` clears the syscall-trace flag for every request but
  ``PTRACE_SYSCALL``. So a call costs one stop, and two only when a handler asked to see its
  result.
* Between that seccomp stop and the exit stop, other stops of the same thread can come (fork,
  clone and exec events, group-stops); each must be resumed with ``PTRACE_SYSCALL`` too, or
  the exit stop is lost. :class:`TaskState.pending_hook` marks such threads.
* A result of ``-ERESTARTSYS`` and friends at the exit stop means a signal interrupted the call
  and the kernel will restart it: the restarted call enters again, stops at seccomp again and
  is decided afresh, so the hook is not called for the interrupted attempt.
* An exec from a non-leader thread kills the other threads and gives the exec'ing thread the
  leader's id; the exec event arrives under the leader's id and ``PTRACE_GETEVENTMSG`` names
  the former tid. The leader's own exit is never reported.
* With ``PTRACE_SEIZE``, group-stops are reported as ``PTRACE_EVENT_STOP`` with the stop signal,
  and ``PTRACE_LISTEN`` leaves the thread stopped (so job control works) while letting it report
  the ``SIGCONT`` that ends the stop. New children start with a ``PTRACE_EVENT_STOP`` with
  ``SIGTRAP``, which may reach us before the parent's fork event.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import signal
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from sysemu._typing import TYPE_CHECKING, Protocol
from sysemu.abi import syscall_by_name
from sysemu.abi.errnos import RESTART_ERRNOS
from sysemu.api.call import READ_AT_ENTRY, Call
from sysemu.api.decisions import (
    Decision,
    Defer,
    Emulate,
    Fail,
    OpenFile,
    Outcome,
    Pass,
    Result,
    ResultHook,
    Rewrite,
)
from sysemu.api.handlers import CompiledHandlers, HandlerError, OnError, Route
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult
from sysemu.engine import untraced
from sysemu.engine.accelerated import c_trace_writer
from sysemu.engine.common import HandlerAlarm, guard_rules, run_result, tell_observers
from sysemu.engine.errors import (
    ErrorReporter,
    FailurePolicy,
    RunTimeoutError,
    Verdict,
    exec_failure,
    not_a_decision,
)
from sysemu.engine.spawn import Spawned, spawn
from sysemu.engine.tasks import Reexecution, RewriteRecord, TaskState
from sysemu.engine.untraced import UNTRACED_ROUTE, untraced_rules
from sysemu.kernel import ptrace
from sysemu.kernel.arch import Arch, native_abi, native_number
from sysemu.kernel.arch.x86_64 import X86_64
from sysemu.kernel.bpf import SECCOMP_RET_ALLOW, compile_filter
from sysemu.kernel.loop_config import DecisionConfig, DirectRoute, PtraceLoopConfig
from sysemu.kernel.seccomp import PreparedFilter

if TYPE_CHECKING:
    from sysemu.engine.holds import Holds

_SECCOMP_STOP = ptrace.SIGTRAP | (ptrace.PTRACE_EVENT_SECCOMP << 8)
_SYSCALL_STOP = ptrace.SYSCALL_STOP_SIG
_STOP_SIGNALS = frozenset((signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
AT_FDCWD = -100
_WALL_NOHANG = ptrace.WALL | os.WNOHANG
_EXECVE = native_number("execve")  # the child sysemu forks is always a native process
_NATIVE_AUDIT_ARCH = native_abi().audit_arch
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

DEFAULT_SPIN_US = 20


def open_as_rewrite(call: Call, decision: OpenFile) -> Rewrite:
    """:class:`OpenFile` for the ptrace backends: the call becomes an ``openat`` of sysemu's
    own copy of the path (written below the stack pointer, which the program's other threads
    have no business writing), with the decision's flags and mode."""
    path = os.fsencode(decision.path) + b"\0"
    openat = syscall_by_name("openat", call.abi)
    return Rewrite((AT_FDCWD & _MASK64, path, decision.flags, decision.mode), openat.nr)


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

    def beside(
        self, root: int, policy: FailurePolicy, timeout: float | None
    ) -> contextlib.AbstractContextManager[None]:
        """Entered once the program (process ``root``) is spawned and seized, left when the
        wait loop ended (also by an exception); handler errors go to ``policy``, the
        tracer's own."""
        ...


class Tracer:
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
        stops come faster than that (``None``: 20 µs when this process may run on more than one
        CPU, else 0; 0 never polls). Polling trades that much CPU time per stop for the
        cross-CPU wake-up a sleeping tracer pays, which dominates the cost of a stop on VMs."""
        self._compiled = compiled
        self._routes = compiled.routes
        self._route_count = len(compiled.routes)
        self._dynamic: dict[tuple[int, int], Route] = {}
        self._route_arch = [route.syscall.abi.audit_arch for route in compiled.routes]
        self._route_nr = [route.syscall.filter_nr for route in compiled.routes]
        self._arch = arch
        # A time limit on handlers (SIGALRM); see HandlerAlarm.
        self._alarm = HandlerAlarm(handler_timeout) if handler_timeout is not None else None
        self._stops = stops
        self._emulate_all = emulate_all = stops is Stops.EMULATE_ALL
        self._ptrace_only = ptrace_only = stops is not Stops.FILTER
        self._companion = companion
        # Set by request_release(): the loop then releases every thread (attach detaches).
        self._release_requested = False
        self._release: Callable[[], None] | None = None
        # The request that resumes a thread nobody waits on: PTRACE_CONT lets it run until the
        # filter stops it again; without a filter, PTRACE_SYSCALL is what stops it at all, and
        # PTRACE_SYSEMU also keeps the kernel from running its next call.
        self._plain = (
            ptrace.PTRACE_SYSEMU
            if emulate_all
            else ptrace.PTRACE_SYSCALL
            if ptrace_only
            else ptrace.PTRACE_CONT
        )
        self._by_call = {
            (route.syscall.abi.audit_arch, route.syscall.filter_nr): route
            for route in compiled.routes
        }
        if ptrace_only:
            for route in compiled.routes:
                # No kernel checked the conditions: Python must.
                if any(r.tests for r in route.registrations):
                    route.prechecked = False
        if spin_us is None:
            spin_us = DEFAULT_SPIN_US if len(os.sched_getaffinity(0)) > 1 else 0
        self._spin_ns = spin_us * 1000
        self._policy = FailurePolicy(on_error, error_errno, report)
        self._tasks: dict[int, TaskState] = {}
        self._root = 0
        self._root_status: int | None = None
        self._processes = 0
        self._threads = 0
        self._timed_out = False
        # Set (to 1) when the run is ending (timed out, or a handler error kills the tree): the
        # C loop then hands every stop to Python.
        self._stop_native = bytearray(1)
        # Threads held at a stop by a Defer (see engine/holds.py), made at the first hold.
        self._holds: Holds | None = None
        # The observer whose native trace the C loop drives (see _native_trace).
        self._traced_by: Observer | None = None

    # Running.
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
        )
        with self._owning(spawned):
            if companion is None:
                self._serve(timeout)
            else:
                with companion.beside(spawned.pid, self._policy, timeout):
                    self._serve(timeout)
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
        self._stop_native[0] = 1  # the C wait loop hands the next stop to _after_stop

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

    @contextlib.contextmanager
    def _owning(self, spawned: Spawned) -> Iterator[None]:
        """Take the freshly spawned child as the tree's root for the block; a block left by
        an exception (Ctrl-C before the wait loop's own cleanup is in place, say) kills and
        reaps every traced thread first, so that none stays seized and stopped."""
        started = False
        try:
            self._started(spawned.pid)
            started = True
            yield
        except BaseException:
            if not started:
                os.kill(spawned.pid, signal.SIGKILL)  # unreaped: the pid is still ours
                os.waitpid(spawned.pid, ptrace.WALL)
            elif self._tasks:
                self._kill_all()
            raise

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
        self._stop_native[0] = 1
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
        serve = self._native_serve()
        if serve is not None:
            serve()
            return
        self._loop_python()

    def _native_serve(self) -> Callable[[], None] | None:
        """The C wait loop (``ptrace.serve_seccomp_stops``) for this run, or None where the
        Python loop must serve: no accelerator, observers of every call without a filter
        (unless the tracing tool's native trace is the one, outside PTRACE_SYSEMU), a
        handler time limit, or an architecture other than x86-64. (A release request sets
        ``_stop_native[0]`` first: the C loop then hands every stop to :meth:`_after_stop`.)"""
        serve = ptrace.serve_seccomp_stops
        mode = int(self._stops)
        # Without a filter, an observer of every call needs every stop seen: in C only by the
        # native trace (the tracing tool's), and not under PTRACE_SYSEMU.
        traced_natively = mode < 2 and any(map(c_trace_writer, self._compiled.observers))
        if (
            serve is None
            or (self._ptrace_only and self._compiled.watch_all and not traced_natively)
            or self._alarm is not None
            or not isinstance(self._arch, X86_64)
        ):
            return None
        direct: list[DirectRoute | None] = [
            (route.syscall, route.registrations[0].handler, route.stats, route,
             route.syscall.abi.audit_arch, route.syscall.filter_nr)
            if route.prechecked and len(route.registrations) == 1 and not route.observers
            else None
            for route in self._routes
        ]  # fmt: skip
        # For syscall stops (no filter data): the same by ABI and number.
        by_number = {
            route.syscall.abi.audit_arch << 32 | route.syscall.filter_nr: entry
            for route, entry in zip(self._routes, direct, strict=True)
        }
        if self._ptrace_only:  # clone and clone3 go to Python, which follows untraced children
            by_number.update(dict.fromkeys((arch << 32 | nr for arch, nr in untraced.CALLS)))
        dispatch = self._dispatch
        # Built once per run; the C loop reads it at each call, never per stop.
        config = PtraceLoopConfig(
            decision=DecisionConfig(
                tasks=self._tasks,
                call_type=Call,
                emulate_type=Emulate,
                fail_type=Fail,
                pass_type=Pass,
                raised=self._native_raised,
                carry_out=self._carry_out,
            ),
            mode=mode,
            direct=direct,
            by_number=by_number,
            stop=self._stop_native,
            spin_ns=self._spin_ns,
            resume_request=self._plain,
            trace=self._native_trace() if mode < 2 else None,
            resolve=self._native_route,
            adopt=self._native_adopted,
        )

        def loop() -> None:
            # Between two events the C loop serves direct stops itself; the rest comes here.
            # (False: no event, but a thread is held now, which Python's wait serves.)
            while True:
                event = serve(config)
                if event is None:
                    return
                if isinstance(event, tuple) and dispatch(*event):
                    return
                if self._holds and self._serve_holds():
                    return

        return loop

    def _native_trace(self) -> object | None:
        """The native trace of the one observer that has one (the tracing tool), ready for
        this run; None without one."""
        for observer in self._compiled.observers:
            native = c_trace_writer(observer)
            if native is not None:
                native.begin(self._native_trace_failed)  # type: ignore[attr-defined]
                self._traced_by = observer
                return native
        return None

    def _native_trace_failed(self, error: Exception) -> None:
        """Writing the native trace's lines raised (a full disk): reported as the observer's
        own ``call_finished`` would have been, never fatal (see ``notify``)."""
        observer = self._traced_by
        assert observer is not None  # set with the native trace
        failure = HandlerError("call_finished", observer.call_finished, 0)
        failure.__cause__ = error
        self._policy.observer_failed(failure)

    def _native_route(self, nr: int) -> tuple[object, object] | bool | None:
        """For the native trace, on the first x86-64 call ``nr`` it sees: (stats, syscall)
        when the call's route has no handler and the native trace's observer is its only
        observer (so writing its line is all there is to do); False when Python must serve
        the call; None when nobody watches it (a syscall stop of the ptrace backend)."""
        if (_NATIVE_AUDIT_ARCH, nr) in untraced.CALLS:
            return False  # Python follows the children of CLONE_UNTRACED
        route = self._by_call.get((_NATIVE_AUDIT_ARCH, nr))
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(_NATIVE_AUDIT_ARCH, nr)
        if route is None:
            return None
        if (
            route.registrations
            or route.observers != (self._traced_by,)
            or not route.observe_results
        ):
            return False
        return route.stats, route.syscall

    def _native_adopted(
        self, tid: int, nr: int, raw: tuple[int, ...], ip: int, sp: int
    ) -> Call | None:
        """A call the native trace served at entry, handed over before its exit stop: from
        now on it is Python's, waiting for its result as if :meth:`_decide` had passed it."""
        state = self._tasks.get(tid)
        route = self._by_call.get((_NATIVE_AUDIT_ARCH, nr)) or self._dynamic.get(
            (_NATIVE_AUDIT_ARCH, nr)
        )
        if state is None or route is None:
            return None
        call = Call(route.syscall, raw, state, ip, sp)
        state.await_result(call, route, None, Outcome.PASSED)
        return call

    def _native_raised(
        self, call: Call, route: Route, handler: Callable[..., object], error: Exception
    ) -> None:
        """A direct route's handler raised (the C loop's ``except Exception``)."""
        failure = HandlerError(call.name, handler, call.tid)
        failure.__cause__ = error
        self._handler_failed(failure, call.tid, route, call, at_exit=False)

    def _dispatch(self, tid: int, status: int) -> bool:
        """Handle one event of ``waitpid``; True ends the loop."""
        if status & 0xFF == 0x7F:  # stopped
            if self._timed_out:  # a thread the watchdog could not know of yet
                os.kill(tid, signal.SIGKILL)
                return False
            stop = status >> 8
            if stop == _SECCOMP_STOP:
                self._on_seccomp(tid)
            elif stop == _SYSCALL_STOP:
                self._on_syscall_stop(tid)
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
        spinning = False
        while True:
            # Waiting for a stop by sleeping costs a cross-CPU wake-up of this process when the
            # stop comes, which on a VM is most of the price of a stop. While stops come fast
            # (the last wait was shorter than the spin budget), poll instead for up to that
            # budget; when they thin out, sleep again. See Tracer.__init__'s ``spin_us``.
            try:
                if spinning:
                    deadline = clock() + spin_ns
                    while True:
                        tid, status = waitpid(-1, _WALL_NOHANG)
                        if tid or clock() > deadline:
                            break
                    if not tid:
                        started = clock()
                        tid, status = waitpid(-1, ptrace.WALL)
                        spinning = clock() - started < spin_ns
                elif spin_ns:
                    started = clock()
                    tid, status = waitpid(-1, ptrace.WALL)
                    spinning = clock() - started < spin_ns
                else:
                    tid, status = waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                return
            if self._dispatch(tid, status):
                return
            if self._holds and self._serve_holds():
                return

    def _serve_holds(self) -> bool:
        """Serve the tree while threads are held (see engine/holds.py); True ends the loop.
        The C loop hands every stop to Python meanwhile, and gets them back afterwards
        unless the run is ending."""
        self._stop_native[0] = 1
        ended = self._held().serve(self._dispatch)
        if not (ended or self._timed_out or self._policy.fatal or self._release_requested):
            self._stop_native[0] = 0
        return ended

    def _held(self) -> Holds:
        """The held threads (made at the first hold: a run that holds none never loads it)."""
        if self._holds is None:
            from sysemu.engine.holds import Holds  # noqa: PLC0415 (only runs that hold)

            self._holds = Holds()
        return self._holds

    def _hold(self, state: TaskState, call: Call, route: Route, defer: Defer) -> None:
        """A handler deferred its decision: the thread stays at its entry stop until the
        Defer is resolved, then the resolution is carried out as the handler's decision."""

        def carry_out(resolution: object) -> None:
            if resolution is not None and not isinstance(resolution, Decision):
                handler = route.registrations[0].handler
                error = not_a_decision(call.name, handler, call.tid, resolution)
                self._handler_failed(error, state.tid, route, call, at_exit=False)
                return
            self._carry_out(state, call, route, resolution)

        self._held().hold(state.tid, defer, carry_out)
        self._stop_native[0] = 1  # the C loop returns to Python, whose wait serves holds

    def _after_stop(self) -> bool:
        """Called between two stops, when every collected stop has been resumed; True ends
        the loop (after a release was requested, once every thread is let go). The C wait
        loop calls it only for the stops it hands back, which request_release makes all."""
        if not self._release_requested or self._release is None:
            return False
        for tid in self._holds.release_all() if self._holds is not None else ():
            # Already stopped, so no interrupt would stop it again: let it go from here (at
            # its entry, the call runs as the kernel would have run it).
            with contextlib.suppress(ProcessLookupError):
                ptrace.detach(tid, 0)
            self._tasks.pop(tid, None)
        self._release()
        return True

    # Stops.
    def _on_seccomp(self, tid: int) -> None:
        info = ptrace.syscall_info(tid)
        if info is None:
            return
        op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, route_id = info
        if op != ptrace.SYSCALL_INFO_SECCOMP:
            self._resume(tid, 0)
            return
        if (
            route_id < self._route_count
            and self._route_arch[route_id] == arch
            and self._route_nr[route_id] == nr
        ):
            self._decide(tid, self._routes[route_id], (a0, a1, a2, a3, a4, a5), ip, sp)
            return
        # The data is not one of our routes: the filter trapped everything (DYNAMIC_ROUTE), or
        # a filter the program installed itself returned SECCOMP_RET_TRACE with its own data,
        # which overrides ours for the same action, or this is a clone the engine stopped.
        # Find the route by number then, and check every condition in Python: a program's
        # filter must not let a call slip past a rule.
        args: tuple[int, ...] = (a0, a1, a2, a3, a4, a5)
        if route_id == UNTRACED_ROUTE and (arch, nr) in untraced.CALLS:
            args = untraced.follow(self._arch, tid, arch, nr, args)
        route = self._by_call.get((arch, nr))
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(arch, nr)
        if route is None:
            self._resume(tid, 0)
            return
        self._decide(tid, route, args, ip, sp, kernel_checked=False)

    def _decide(
        self,
        tid: int,
        route: Route,
        args: tuple[int, ...],
        ip: int,
        sp: int,
        *,
        kernel_checked: bool = True,
    ) -> None:
        """A call on its way into the kernel that some handler or observer wants: ask, and
        carry out the decision."""
        state = self._tasks.get(tid) or self._adopt(tid)
        call = Call(route.syscall, args, state, ip, sp)
        stats = route.stats
        stats.stops += 1
        if self._policy.fatal is not None:  # the tree is being killed; let nothing else run
            self._arch.skip_and_continue(tid, -errno.EPERM, self._plain)
            return
        if state.rewritten is not None and self._restarted_rewrite(state, call):
            return
        observers = route.observers
        if observers:
            if call.syscall.name in READ_AT_ENTRY:  # changed by call_finished
                call.keep_entry()
            self._tell("call_entered", observers, call)
        try:
            if not route.registrations:
                decision = None
            elif self._alarm is None:
                decision = route.decide(call, kernel_checked=kernel_checked)
            else:
                with self._alarm:
                    decision = route.decide(call, kernel_checked=kernel_checked)
        except HandlerError as error:
            self._handler_failed(error, tid, route, call, at_exit=False)
            return
        self._carry_out(state, call, route, decision)

    def _carry_out(
        self, state: TaskState, call: Call, route: Route, decision: Decision | None
    ) -> None:
        """Carry out a handler's decision on a call stopped at its entry."""
        tid = state.tid
        stats = route.stats
        observers = route.observers
        try:
            if decision is None:
                stats.passed += 1
                self._pass(state, call, route, None, Outcome.PASSED)
            elif type(decision) is Emulate:
                stats.emulated += 1
                # Observers hear of it while the thread is still stopped, so that they can read
                # what the handler wrote into its memory.
                if observers:
                    self._emulated(call, route, decision.value, Outcome.EMULATED)
                self._arch.skip_and_continue(tid, decision.value, self._plain)
            elif type(decision) is Fail:
                stats.failed += 1
                if observers:
                    self._emulated(call, route, -decision.errno, Outcome.FAILED)
                self._arch.skip_and_continue(tid, -decision.errno, self._plain)
            elif type(decision) is Pass:
                stats.passed += 1
                self._pass(state, call, route, decision.then, Outcome.PASSED)
            else:
                self._apply_other(state, call, route, decision)
        except HandlerError as error:
            self._handler_failed(error, tid, route, call, at_exit=False)

    def _on_entry(self, tid: int, info: tuple[int, ...]) -> None:
        """A syscall-entry stop of the ptrace-only backend: every call stops here, so the
        number decides first whether anything else is read."""
        _op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, _data = info
        state = self._tasks.get(tid) or self._adopt(tid)
        key = (arch, nr)
        if key in untraced.CALLS:
            a0, a1, a2, a3, a4, a5 = untraced.follow(
                self._arch, tid, arch, nr, (a0, a1, a2, a3, a4, a5)
            )
        route = self._by_call.get(key)
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(arch, nr)
        if route is None or (state.spawning and nr != _EXECVE):
            # Not asked for; or sysemu's own child still on its way to exec the program.
            state.rewritten = None  # no restart of a rewritten call: that has a route
            if self._emulate_all:
                self._run_after_all(state)
            else:
                ptrace.resume(ptrace.PTRACE_SYSCALL, tid, 0)
            return
        self._decide(tid, route, (a0, a1, a2, a3, a4, a5), ip, sp)

    def _run_after_all(self, state: TaskState) -> None:
        """PTRACE_SYSEMU skipped the call: make it again, this time for the kernel to run."""
        if self._arch.reexecute(state.tid):
            state.reexecuting = Reexecution.TO_ENTRY
            ptrace.resume(ptrace.PTRACE_SYSCALL, state.tid, 0)

    def _dynamic_route(self, arch: int, nr: int) -> Route:
        key = (arch, nr)
        route = self._dynamic.get(key)
        if route is None:
            abi = self._arch.abi_of(arch, nr)
            route = self._compiled.dynamic_route(abi, nr & ~abi.nr_bias)
            self._dynamic[key] = route
        return route

    def _apply_other(self, state: TaskState, call: Call, route: Route, decision: object) -> None:
        """Rewrites, holds, and the slow path for subclasses of the decision types."""
        if isinstance(decision, Defer):
            self._hold(state, call, route, decision)
            return
        if isinstance(decision, Emulate | Fail):
            outcome = Outcome.EMULATED if isinstance(decision, Emulate) else Outcome.FAILED
            value = decision.value if isinstance(decision, Emulate) else -decision.errno
            if route.observers:
                self._emulated(call, route, value, outcome)
            self._arch.skip_and_continue(state.tid, value, self._plain)
        elif isinstance(decision, Pass):
            self._pass(state, call, route, decision.then, Outcome.PASSED)
        elif isinstance(decision, Rewrite):
            self._rewrite(state, call, route, decision)
        elif isinstance(decision, OpenFile):
            self._rewrite(state, call, route, open_as_rewrite(call, decision))
        else:
            raise not_a_decision(call.name, route.registrations[0].handler, call.tid, decision)
        route.stats.count(decision.outcome)

    def _emulated(self, call: Call, route: Route, value: int, outcome: Outcome) -> None:
        self._tell("call_finished", route.observers, call, outcome, Result(value))

    def _pass(
        self,
        state: TaskState,
        call: Call,
        route: Route,
        then: ResultHook | None,
        outcome: Outcome,
    ) -> None:
        if self._emulate_all:
            if then is not None or route.observe_results:
                state.await_result(call, route, then, outcome)
            elif route.observers:
                self._tell("call_finished", route.observers, call, outcome, None)
            self._run_after_all(state)
            return
        if then is None and not route.observe_results:
            ptrace.resume(self._plain, state.tid, 0)
            if route.observers:
                self._tell("call_finished", route.observers, call, outcome, None)
            return
        state.await_result(call, route, then, outcome)
        ptrace.resume(ptrace.PTRACE_SYSCALL, state.tid, 0)

    def _rewrite(self, state: TaskState, call: Call, route: Route, decision: Rewrite) -> None:
        args = list(call.raw)
        scratch = self._arch.user_stack_limit(call.sp)
        blobs: list[tuple[int, bytes]] = []
        try:
            for index, value in enumerate(decision.args):
                if value is None:
                    continue
                if isinstance(value, bytes):
                    scratch = (scratch - len(value)) & ~15
                    blobs.append((scratch, value))
                elif isinstance(value, tuple):
                    scratch, data = _pointer_array(call, scratch, value)
                    blobs.append((scratch, data))
                else:
                    args[index] = value & _MASK64
                    continue
                call.memory.write(*blobs[-1])
                args[index] = scratch
        except OSError as error:
            raise HandlerError(call.name, route.registrations[0].handler, call.tid) from error
        nr = call.nr if decision.nr is None else decision.nr
        self._arch.rewrite(state.tid, call.abi, nr, args)
        if blobs:
            record = RewriteRecord(call.sp, nr, tuple(args), tuple(blobs), decision.then, route)
            state.rewritten = record
        self._pass(state, call, route, decision.then, Outcome.REWRITTEN)

    def _restarted_rewrite(self, state: TaskState, call: Call) -> bool:
        """Whether ``call`` is the thread's last rewritten call, run again by the kernel after
        a signal (``-ERESTART*``): then it is carried out as rewritten once more, its data
        written again first. A signal handler runs on the stack below the stack pointer,
        where the rewrite put its strings, and the kernel restarts the call with the
        rewritten registers, which would point at whatever the handler left there."""
        record = state.rewritten
        state.rewritten = None
        if record is None or record.sp != call.sp or record.args != call.raw:
            return False
        if record.nr != call.nr:
            return False
        try:
            for address, data in record.blobs:
                call.memory.write(address, data)
        except OSError:
            return False  # decided afresh
        state.rewritten = record  # it may be interrupted again
        record.route.stats.rewritten += 1
        self._pass(state, call, record.route, record.then, Outcome.REWRITTEN)
        return True

    def _on_syscall_stop(self, tid: int) -> None:
        state = self._tasks.get(tid)
        call = state.pending_call if state is not None else None
        if call is None and not self._ptrace_only:
            self._resume(tid, 0)
            return
        info = ptrace.syscall_info(tid)
        if info is None:
            return
        if state is not None and state.reexecuting:
            # A call PTRACE_SYSEMU skipped, being made again: first the exit of the skipped
            # attempt, then the real entry, then the real exit (handled below as any other).
            if state.reexecuting == Reexecution.TO_ENTRY:
                if info[0] == ptrace.SYSCALL_INFO_ENTRY:
                    state.reexecuting = Reexecution.TO_EXIT
                ptrace.resume(ptrace.PTRACE_SYSCALL, tid, 0)
                return
            if info[0] == ptrace.SYSCALL_INFO_EXIT:
                state.reexecuting = Reexecution.NONE
        if info[0] == ptrace.SYSCALL_INFO_ENTRY and self._ptrace_only:
            self._on_entry(tid, info)
            return
        if state is None or call is None:
            self._resume(tid, 0)
            return
        if info[0] != ptrace.SYSCALL_INFO_EXIT:
            ptrace.syscall(tid)  # still on the way to the exit stop
            return
        rval = info[4]
        route, hook, outcome = state.pending_route, state.pending_hook, state.pending_outcome
        state.clear_pending()
        assert route is not None
        if -rval in RESTART_ERRNOS:
            if route.observers:  # (the hook is not told: the program never sees this result)
                self._tell("call_interrupted", route.observers, call, Result(rval))
            ptrace.resume(self._plain, tid, 0)  # it will enter again and be decided again
            return
        if hook is not None:
            route.stats.results_seen += 1
            try:
                if self._alarm is None:
                    replacement = hook(Result(rval))
                else:
                    with self._alarm:
                        replacement = hook(Result(rval))
                _check_replacement(replacement)
            except Exception as error:  # the hook is a handler too: same policy
                self._hook_failed(error, hook, tid, route, call)
                return
            if isinstance(replacement, Defer):
                # Held at its exit stop; the resolution is what the hook would have returned.
                def carry_out(resolution: object) -> None:
                    try:
                        _check_replacement(resolution, deferred=True)
                    except TypeError as error:
                        assert hook is not None
                        self._hook_failed(error, hook, tid, route, call)
                        return
                    self._finish_exit(tid, call, route, outcome, rval, resolution)

                self._held().hold(tid, replacement, carry_out)
                self._stop_native[0] = 1
                return
            self._finish_exit(tid, call, route, outcome, rval, replacement)
            return
        self._finish_exit(tid, call, route, outcome, rval, None)

    def _hook_failed(
        self, error: Exception, hook: ResultHook, tid: int, route: Route, call: Call
    ) -> None:
        handler_error = HandlerError(route.syscall.name, hook, tid)
        handler_error.__cause__ = error
        self._handler_failed(handler_error, tid, route, call, at_exit=True)

    def _finish_exit(  # noqa: PLR0917 (the exit stop's own state, passed on as it is)
        self, tid: int, call: Call, route: Route, outcome: Outcome, rval: int, replacement: object
    ) -> None:
        """The end of a call's exit stop: its result replaced (an int), observers told, and
        the thread resumed."""
        if isinstance(replacement, int):
            self._arch.set_return(tid, replacement)
            rval = replacement
        if route.observers:  # before resuming: the buffers the call filled are still intact
            self._tell("call_finished", route.observers, call, outcome, Result(rval))
        ptrace.resume(self._plain, tid, 0)

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
            state = self._tasks.get(tid) or self._adopt(tid)
            state.became_leader(tid)
            state.spawning = False
            if observers:
                self._tell("exec_done", observers, tid, former)
        self._resume(tid, 0)

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

    def _adopt(self, tid: int) -> TaskState:
        """A thread seen before its parent's fork/clone event (the kernel may report a new
        child's first stop first)."""
        state = TaskState(tid)
        self._tasks[tid] = state
        return state

    def _resume(self, tid: int, sig: int) -> None:
        state = self._tasks.get(tid)
        if state is not None and (state.pending_call is not None or state.reexecuting):
            ptrace.syscall(tid, sig)
        else:
            ptrace.resume(self._plain, tid, sig)

    def _tell(self, method: str, observers: Iterable[Observer], *args: object) -> None:
        tell_observers(observers, method, args, self._policy)

    # Failures.
    def _handler_failed(
        self, error: HandlerError, tid: int, route: Route, call: Call, *, at_exit: bool
    ) -> None:
        verdict = self._policy.handler_failed(error, route)
        if verdict is Verdict.KILL:
            self._stop_native[0] = 1
            # Make sure the call cannot run, then kill the tree (SIGKILL also ends the stop).
            if at_exit:
                self._arch.set_return(tid, -errno.EIO)
            else:
                self._arch.skip_with_return(tid, -errno.EPERM)
            self._kill_tasks()
            return
        if verdict is Verdict.FAIL:
            value = -self._policy.error_errno
            if at_exit:
                self._arch.set_return(tid, value)
            else:
                self._arch.skip_with_return(tid, value)
            outcome, result = Outcome.FAILED, Result(value)
        else:
            outcome, result = Outcome.PASSED, None
        ptrace.cont(tid)
        if route.observers:
            self._tell("call_finished", route.observers, call, outcome, result)

    def _kill_tasks(self) -> None:
        for tid in list(self._tasks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(tid, signal.SIGKILL)

    def _kill_all(self) -> None:
        """Kill every traced thread and reap until none is left (the finally of a run)."""
        self._kill_tasks()
        while True:
            try:
                tid, status = os.waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                break
            if status & 0xFF == 0x7F:  # a thread we had not heard of yet
                with contextlib.suppress(ProcessLookupError):
                    os.kill(tid, signal.SIGKILL)
            else:
                self._on_exit(tid, status)
        self._tasks.clear()


def _pointer_array(call: Call, below: int, strings: tuple[bytes, ...]) -> tuple[int, bytes]:
    """Where and what to write below ``below`` in the caller's memory for ``strings``: a
    NULL-terminated array of pointers to them (in the call's ABI), then the strings."""
    word = call.abi.pointer_size
    size = sum(len(item) for item in strings) + word * (len(strings) + 1)
    start = (below - size) & ~15
    at = start + word * (len(strings) + 1)
    pointers = []
    for item in strings:
        pointers.append(at)
        at += len(item)
    pointers.append(0)
    array = struct.pack(f"<{len(pointers)}{'Q' if word == 8 else 'I'}", *pointers)
    return start, array + b"".join(strings)


def _check_replacement(value: object, *, deferred: bool = False) -> None:
    """Raise TypeError unless ``value`` is what a result hook may return: an int, None, or
    (not as a Defer's own resolution) a Defer."""
    if value is None or isinstance(value, int) or (not deferred and isinstance(value, Defer)):
        return
    kinds = "an int or None" if deferred else "an int, a Defer or None"
    raise TypeError(f"a result hook must return {kinds}, not {type(value).__name__}")
