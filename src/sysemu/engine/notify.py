"""The seccomp user-notification backend: handlers decide, and no ptrace is involved.

The child installs a filter that answers handled calls with ``SECCOMP_RET_USER_NOTIF`` and
sends the listener fd back over a socket; the supervisor then reads notifications, asks the
handlers, and replies with a value, an errno, or "continue" (the kernel runs the call as is).

What this backend cannot do, because the mechanism cannot (seccomp_unotify(2)):

* rewrite a call's arguments or number (there is no register access): ``Rewrite`` decisions;
* see a call's result (a continued call is not reported back): ``Pass(then=...)`` /
  ``observe``, and observers that want results;
* report the life of threads and processes (no ptrace events): observers' life events, and
  the counts of processes and threads in the result.

Handlers registered for it are checked when the run starts (``UnsupportedError``); a handler
that returns such a decision anyway is a handler error (``OnError`` applies). A passed call is
not safe against a second thread changing its memory between the check and the kernel's own
read (TOCTOU): decisions that depend on pointed-to data are not a security boundary here.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import time
from collections.abc import Mapping, Sequence

from sysemu._contexts import suppress
from sysemu._typing import TYPE_CHECKING
from sysemu.abi import is_error
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Defer, Emulate, Fail, OpenFile, Outcome, Pass, Result
from sysemu.api.handlers import OnError
from sysemu.api.results import RunResult
from sysemu.api.routes import CompiledHandlers, DirectEntry, Handler, HandlerError, Route
from sysemu.engine.common import run_result, tell_observers
from sysemu.engine.errors import (
    ErrorReporter,
    ExecError,
    FailurePolicy,
    RunTimeoutError,
    UnsupportedError,
    Verdict,
    exec_failure,
    not_a_decision,
)
from sysemu.engine.guardian import GuardedProgram, kill_descendants, spawn_guarded
from sysemu.engine.listening import notification_filter, receive_listener, socket_pair
from sysemu.engine.tasks import TaskState
from sysemu.kernel.loop_config import DecisionConfig, NotifyLoopConfig
from sysemu.kernel.memory import TraceeMemory
from sysemu.kernel.seccomp import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    PreparedFilter,
    filter_flags_known,
)
from sysemu.kernel.unotify import (
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    SECCOMP_USER_NOTIF_FLAG_CONTINUE,
    Exchanged,
    Listener,
    NotifiedMemory,
    call_key,
    serve_in_c,
)

if TYPE_CHECKING:
    from _thread import LockType

_CONTINUE = SECCOMP_USER_NOTIF_FLAG_CONTINUE
_clock = time.perf_counter_ns


class _NotifiedCall(Call):
    """A :class:`Call` whose memory is checked with ``NOTIF_ID_VALID`` (:class:`NotifiedMemory`).

    The listener and notification id sit in slots, and the memory object is made on first use:
    most handlers read no memory, and a factory object per call (a ``functools.partial``) would
    cost about as much as the rest of the engine's Python per call.
    """

    __slots__ = ("_listener", "_notification")

    _listener: Listener
    _notification: int

    @property
    def memory(self) -> TraceeMemory:
        """The caller's address space; a read fails with ESRCH once the call is gone."""
        memory = self._memory
        if not isinstance(memory, TraceeMemory):
            memory = self._memory = NotifiedMemory(self.tid, self._listener, self._notification)
        return memory


def check_supported(compiled: CompiledHandlers) -> None:
    """Refuse, before anything runs, what user notification cannot do; see the module doc."""
    for observer in compiled.observers:
        if observer.wants_results and any(observer in r.observers for r in compiled.routes):
            raise UnsupportedError(
                f"the unotify backend cannot show call results to {type(observer).__name__} "
                "(set wants_results = False, or use the seccomp backend)"
            )
    if compiled.exec_hooks:
        raise UnsupportedError(
            "the unotify backend cannot run exec hooks (hiding the vDSO, virtual time): they "
            "need ptrace's exec event; use the seccomp or auto backend"
        )
    if compiled.watch_all:
        raise UnsupportedError(
            "the unotify backend cannot observe every call; name the syscalls, or use the "
            "seccomp backend"
        )
    for route in compiled.routes:
        for registration in route.registrations:
            if registration.needs_ptrace:
                name = getattr(registration.handler, "__qualname__", repr(registration.handler))
                raise UnsupportedError(
                    f"the unotify backend cannot run {name} on {route.syscall.name}: it "
                    "rewrites arguments or edits results (use the seccomp or auto backend)"
                )


class NotifySupervisor:
    """Runs one program under a compiled handler set, answering user notifications."""

    def __init__(
        self,
        compiled: CompiledHandlers,
        *,
        on_error: OnError = OnError.KILL,
        error_errno: int = errno.EIO,
        report: ErrorReporter | None = None,
        check: bool = True,
        policy: FailurePolicy | None = None,
        serial: LockType | None = None,
    ) -> None:
        """``policy``: the ``on_error`` policy to share (the auto backend's tracer shares its
        own); made from ``on_error``, ``error_errno`` and ``report`` when not given.
        ``serial``: a lock held while a notification runs Python code, shared with another
        loop serving the same handlers (the auto backend's tracer), so that its handlers run
        one at a time."""
        if check:
            check_supported(compiled)
        self._compiled = compiled
        self._by_call = {
            call_key(route.syscall.abi.audit_arch, route.syscall.filter_nr): route
            for route in compiled.routes
        }
        # Emptied when a handler error ends the run (OnError.KILL), so that every later call
        # takes the general path, which refuses it.
        self._direct: dict[int, DirectEntry] = {
            key: entry
            for key, route in self._by_call.items()
            if (entry := route.direct()) is not None
        }
        self._policy = policy or FailurePolicy(on_error, error_errno, report)
        self._tasks: dict[int, TaskState] = {}
        self._timed_out = False
        self.root = 0
        self._program: GuardedProgram | None = None
        self._serial = serial

    def _filter(self, protected: tuple[int, ...]) -> PreparedFilter:
        """The program's filter; ``protected``: the pids it may not signal, ptrace or write
        (sysemu's and the guardian's; it is compiled in the guardian, which knows both)."""
        return notification_filter(self._compiled, protected, lambda _route_id: True)

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
        """Start ``argv`` and answer its notifications until every process using the filter
        has exited; see :class:`~sysemu.engine.tracer.Tracer.run`."""
        flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        if not filter_flags_known(flags):  # before Linux 5.19
            flags = SECCOMP_FILTER_FLAG_NEW_LISTENER
        ours, theirs = socket_pair()
        # Between us and the program, a guardian kills its tree if we die (no ptrace
        # here: nothing else would) and reports its status (see engine/guardian.py).
        spawned = self._program = spawn_guarded(
            argv,
            path=path,
            env=env,
            cwd=cwd,
            make_filter=self._filter,
            stdio=stdio,
            listener_socket=theirs.fileno(),
            filter_flags=flags,
        )
        theirs.close()  # so that a child that fails first gives an end of file here
        try:
            listener_fd = receive_listener(ours, timeout)
        except BaseException as error:  # (Ctrl-C meanwhile): nothing may outlive us
            spawned.end()
            spawned.wait()
            if isinstance(error, TimeoutError):
                # A child that never sends its listener must not hold the run for ever.
                raise RunTimeoutError(argv, timeout or 0.0, self._result(signal.SIGKILL)) from None
            raise
        if listener_fd is None:
            spawned.wait()  # it failed before sending the listener
            failure = spawned.exec_error() or ""
            raise ExecError(errno.ENOEXEC, f"cannot start {path}: {failure}")
        listener = Listener(listener_fd)
        listener.wake_up_on_caller_cpu()
        root = self.root = spawned.pid
        status: int | None = None
        finished = False
        try:
            status = self._serve(listener, root, timeout)
            finished = True
        finally:
            os.close(listener.fd)
            if not finished:  # left by an exception: nothing may outlive us
                spawned.end()
                spawned.wait()
        if status is None:
            raise RunTimeoutError(argv, timeout or 0.0, self._result(signal.SIGKILL))
        message = spawned.exec_error()
        exec_failed = exec_failure(status, message, path, spawned.exec_errno)
        if exec_failed is not None:
            raise exec_failed
        return self._result(status)

    def _serve(self, listener: Listener, root: int, timeout: float | None) -> int | None:
        """Answer notifications until no process uses the filter any more; the root's wait
        status, or None on timeout.

        The loop blocks in ``NOTIF_RECV`` itself: a ``poll`` first would cost a system call and
        a wake-up per call. Once every process using the filter is gone, ``NOTIF_RECV`` fails
        with ENOENT at once (as it does for a single call whose thread died meanwhile: the
        listener's ``POLLHUP`` tells the two apart). A timeout kills the tree, which ends the
        loop the same way.
        """
        watchdog = None
        if timeout is not None:
            import threading  # noqa: PLC0415 (only for a timeout: start-up without it)

            watchdog = threading.Timer(timeout, self._time_out, (root,))
            watchdog.daemon = True
            watchdog.start()
        try:
            self._loop(listener)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        assert self._program is not None
        status = self._program.wait()
        return None if self._timed_out else status

    @property
    def serves_in_c(self) -> bool:
        """Whether :meth:`serve` runs its loop in C (the accelerator is built)."""
        return serve_in_c is not None

    def serve(self, listener: Listener) -> None:
        """Receive and answer notifications until the listener hangs up (every process
        using the filter is gone); the ``auto`` backend's notification thread runs this."""
        self._loop(listener)

    def _loop(self, listener: Listener) -> None:
        """Receive and answer notifications until the listener hangs up: in C where the
        accelerator is built, else in :meth:`_loop_python`, which is the reference."""
        if serve_in_c is None:
            self._loop_python(listener)
            return
        # After each context switch to the program and back, Python's code runs from cold
        # caches and branch predictors, at about 3 times its speed in a warm loop: so the loop
        # itself is in C, and per call only the Call, the handler and its decision are Python.
        serve_in_c(
            NotifyLoopConfig(
                decision=DecisionConfig(
                    tasks=self._tasks,
                    call_type=_NotifiedCall,
                    emulate_type=Emulate,
                    fail_type=Fail,
                    pass_type=None,  # a Pass goes to _carry_out, as in _loop_python
                    raised=functools.partial(self._handler_raised, listener),
                    carry_out=functools.partial(self._carry_out, listener),
                    serial=self._serial,
                ),
                fd=listener.fd,
                poll_first=listener.poll_first,
                direct=self._direct,
                task_type=TaskState,
                listener=listener,
                general=functools.partial(self._answer, listener),
            )
        )

    def _loop_python(self, listener: Listener) -> None:
        """Receive and answer notifications until the listener hangs up.

        This is the whole per-call cost of the backend in Python, so it is written flat: one
        :meth:`Listener.exchange` per call sends the previous reply and receives the next
        notification; a call of a direct route (see ``Route.direct``) is decided here, and its
        reply left for that exchange. Anything else (several handlers, observers, OpenFile,
        handler errors, a run being killed) goes through :meth:`_answer`, which replies at once.
        What is counted, and when a handler error is raised, is the same on both paths.
        """
        exchange = listener.exchange
        direct = self._direct
        tasks = self._tasks
        clock = _clock
        make_call = _NotifiedCall
        reply: int | None = None
        value = error = flags = 0
        while True:
            notification = exchange(reply, value, error, flags)
            reply = None
            if notification is None:
                if listener.hung_up():
                    return
                continue
            notification_id, tid, key, ip, raw = notification
            route = direct.get(key)
            if route is None:
                self._answer(listener, notification)
                continue
            syscall, handler, stats = route[0], route[1], route[2]
            state = tasks.get(tid)
            if state is None:
                state = tasks[tid] = TaskState(tid)
            call = make_call(syscall, raw, state, ip)
            call._listener = listener
            call._notification = notification_id
            stats.stops += 1
            start = clock()
            try:
                decision = handler(call)
            except Exception as failure:
                stats.handler_ns += clock() - start
                self._handler_raised(listener, call, route[3], handler, failure)
                continue
            stats.handler_ns += clock() - start
            if type(decision) is Emulate:
                value = decision.value
                if is_error(value):
                    value, error, flags = 0, value, 0
                else:
                    error = flags = 0
                stats.emulated += 1
            elif decision is None:
                value, error, flags = 0, 0, _CONTINUE
                stats.passed += 1
            elif type(decision) is Fail:
                value, error, flags = 0, -decision.errno, 0
                stats.failed += 1
            else:
                self._carry_out(listener, notification_id, call, route[3], decision)
                continue
            reply = notification_id

    def _time_out(self, root: int) -> None:
        self._timed_out = True
        self._kill_tree(root)

    def answer(self, listener: Listener, notification: tuple[int, ...] | None = None) -> None:
        """Reply to ``notification`` (read one first if it is None) as the handlers decide."""
        if notification is None:
            notification = listener.receive()
            if notification is None:
                return
        notification_id, tid, _flags, nr, arch, ip = notification[:6]
        exchanged = (notification_id, tid, call_key(arch, nr), ip, notification[6:])
        if self._serial is None:
            self._answer(listener, exchanged)
            return
        with self._serial:
            self._answer(listener, exchanged)

    def _answer(self, listener: Listener, notification: Exchanged) -> None:
        """The general path: any route, observers, a run being killed; replies at once."""
        notification_id, tid, key, ip, raw = notification
        route = self._by_call.get(key)
        if route is None:  # cannot happen with our filter; never leave a caller blocked
            listener.respond(notification_id, flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE)
            return
        state = self._tasks.get(tid)
        if state is None:
            state = self._tasks[tid] = TaskState(tid)
        call = _NotifiedCall(route.syscall, raw, state, ip)
        call._listener = listener
        call._notification = notification_id
        kernel_checked = True
        if route.subcalls is not None:  # socketcall: decided as the call it makes
            demultiplexed = route.demultiplex(call)
            if demultiplexed is not None:
                route, raw, _ = demultiplexed
                kernel_checked = False
                call = _NotifiedCall(route.syscall, raw, state, ip)
                call._listener = listener
                call._notification = notification_id
        stats = route.stats
        stats.stops += 1
        if self._policy.fatal is not None:  # a process the first kill missed (forked meanwhile)
            with suppress(ProcessLookupError):
                os.kill(call.pid, signal.SIGKILL)
            listener.respond(notification_id, error=-errno.EPERM)
            return
        if route.observers:
            call.keep_entry()  # once the call is answered, its memory cannot be read
            self._tell(route, "call_entered", call)
        try:
            decision = (
                route.decide(call, kernel_checked=kernel_checked) if route.registrations else None
            )
            if type(decision) is Emulate and not is_error(decision.value):
                # The common case, kept short.
                value, outcome = decision.value, Outcome.EMULATED
                listener.respond(notification_id, value=value)
                stats.emulated += 1
            else:
                value, outcome = self._reply(listener, notification_id, call, route, decision)
                stats.count(outcome)
        except HandlerError as error:
            self._failed(listener, notification_id, route, error)
            return
        if route.observers:
            result = None if outcome is Outcome.PASSED else Result(value)
            self._tell(route, "call_finished", call, outcome, result)

    def _handler_raised(
        self,
        listener: Listener,
        call: _NotifiedCall,
        route: Route,
        handler: Handler,
        error: Exception,
    ) -> None:
        """A direct route's handler raised: the same HandlerError as Route.decide makes."""
        try:
            raise HandlerError(call.name, handler, call.tid) from error
        except HandlerError as failure:
            self._failed(listener, call._notification, route, failure)

    def _carry_out(
        self, listener: Listener, notification_id: int, call: Call, route: Route, decision: object
    ) -> None:
        """A direct route's decision the loop does not reply to itself; replies at once."""
        try:
            _, outcome = self._reply(listener, notification_id, call, route, decision)
        except HandlerError as error:
            self._failed(listener, notification_id, route, error)
            return
        route.stats.count(outcome)

    def _reply(
        self, listener: Listener, notification_id: int, call: Call, route: Route, decision: object
    ) -> tuple[int, Outcome]:
        if isinstance(decision, Defer):
            # No per-thread stop here: this thread waits, and with it every notified call.
            resolution = decision.wait()
            if resolution is not None and not isinstance(resolution, Decision):
                raise not_a_decision(
                    call.name, route.registrations[0].handler, call.tid, resolution
                )
            return self._reply(listener, notification_id, call, route, resolution)
        if decision is None or (isinstance(decision, Pass) and decision.then is None):
            listener.respond(notification_id, flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE)
            return 0, Outcome.PASSED
        if isinstance(decision, Emulate):
            value = decision.value
            if is_error(value):
                listener.respond(notification_id, error=value)
            else:
                listener.respond(notification_id, value=value)
            return value, Outcome.EMULATED
        if isinstance(decision, Fail):
            listener.respond(notification_id, error=-decision.errno)
            return -decision.errno, Outcome.FAILED
        if isinstance(decision, OpenFile):
            return self._open_for(listener, notification_id, decision), Outcome.REWRITTEN
        handler = route.registrations[0].handler
        if not isinstance(decision, Decision):
            raise not_a_decision(call.name, handler, call.tid, decision)
        failure = HandlerError(call.name, handler, call.tid)
        failure.__cause__ = UnsupportedError(
            f"the unotify backend cannot carry out {type(decision).__name__} decisions "
            "(rewrites and results need the seccomp or ptrace backend)"
        )
        raise failure

    def _open_for(self, listener: Listener, notification_id: int, decision: OpenFile) -> int:
        """Open the file here and hand the descriptor over with the reply (race-free: the
        program's memory is not read again)."""
        try:
            fd = os.open(decision.path, decision.flags & ~os.O_CLOEXEC, decision.mode)
        except OSError as error:
            code = error.errno or errno.EIO
            listener.respond(notification_id, error=-code)
            return -code
        try:
            return listener.send_fd(
                notification_id, fd, cloexec=bool(decision.flags & os.O_CLOEXEC)
            )
        finally:
            os.close(fd)

    def _failed(
        self, listener: Listener, notification_id: int, route: Route, error: HandlerError
    ) -> None:
        verdict = self._policy.handler_failed(error, route)
        if verdict is Verdict.KILL:
            self._direct.clear()  # every later call takes the path that refuses it
            # Kill first: the caller is blocked in this notification and cannot fork meanwhile.
            self._kill_tree(self.root)
            listener.respond(notification_id, error=-errno.EPERM)
        elif verdict is Verdict.FAIL:
            listener.respond(notification_id, error=-self._policy.error_errno)
        else:
            listener.respond(notification_id, flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE)

    def _tell(self, route: Route, method: str, *args: object) -> None:
        tell_observers(route.observers, method, args, self._policy)

    def _kill_tree(self, root: int) -> None:
        """SIGKILL the root and every process descended from it (there is no ptrace to know
        them by; /proc's parent links do): through the guardian when this supervisor started
        the program, else (the auto backend's, whose tracer also kills) from the root."""
        if self._program is not None:
            # The root at once, too: the guardian ends the tree asynchronously, and a shell
            # could otherwise see its child fail and go on before the guardian reaches it.
            # (The guardian is a subreaper: the root's children stay within its reach.)
            if root > 0:
                with suppress(ProcessLookupError):
                    os.kill(root, signal.SIGKILL)
            self._program.end()
            return
        if root <= 0:  # not started: kill(0) would hit our own process group
            return
        kill_descendants(root)
        with suppress(ProcessLookupError):
            os.kill(root, signal.SIGKILL)

    def _result(self, status: int) -> RunResult:
        # Without ptrace, the processes and threads of the tree are not counted.
        return run_result(
            status,
            self._compiled.routes,
            errors=self._policy.errors,
            fatal=self._policy.fatal,
            processes=1,
            threads=1,
        )
