"""The ``auto`` backend: one filter, a mechanism chosen per syscall.

Calls whose handlers all promised to only decide (``decides_only=True``: pass, emulate or fail)
and that no observer wants the result of are answered through seccomp user notification, the
cheapest round trip the kernel offers; every other handled call stops in ptrace
(``SECCOMP_RET_TRACE``), where rewrites and results are possible. The process tree is ptraced
either way, so forks, execs and signals are followed as with the seccomp backend.

Two threads serve it: this one (the one that seized the program) makes every ptrace request
and waits in ``waitpid``; a second one waits for notifications and answers them. Handlers of
decide-only calls therefore run on the second thread, concurrently with the others (the GIL
makes each Python operation atomic, not a handler's sequence of them): guard state that
handlers of both kinds share.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
from collections.abc import Mapping, Sequence

from sysemu.api.handlers import Route
from sysemu.api.results import RunResult
from sysemu.engine.common import guard_rules
from sysemu.engine.notify import NotifySupervisor, listener_send_rule
from sysemu.engine.spawn import spawn
from sysemu.engine.tasks import TaskState
from sysemu.engine.tracer import OPTIONS, ExecError, RunTimeoutError, Tracer
from sysemu.kernel.bpf import SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF, Rule, compile_filter
from sysemu.kernel.seccomp import PreparedFilter
from sysemu.kernel.unotify import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    Listener,
)


def notifiable(route: Route) -> bool:
    """Whether a route's calls can be decided through user notification."""
    return (
        bool(route.registrations)
        and all(r.decides_only for r in route.registrations)
        and not route.observe_results
    )


class AutoTracer(Tracer):
    """The seccomp backend, with decide-only routes moved to user notification."""

    def _rules(self) -> list[Rule]:
        rules = [listener_send_rule(), *guard_rules(os.getpid())]
        for rule in self._compiled.rules:
            action = rule.action
            route_id = action & 0xFFFF
            if (
                action & 0xFFFF0000 == SECCOMP_RET_TRACE
                and route_id < len(self._routes)
                and notifiable(self._routes[route_id])
            ):
                action = SECCOMP_RET_USER_NOTIF
            rules.append(Rule(rule.arch, rule.nr, action, rule.tests))
        return rules

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
        """See :meth:`Tracer.run`."""
        if not any(notifiable(route) for route in self._routes):
            return super().run(argv, path=path, env=env, cwd=cwd, stdio=stdio, timeout=timeout)
        program = PreparedFilter(
            compile_filter(self._rules(), arch_defaults=self._compiled.arch_defaults)
        )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spawned = spawn(
            argv,
            path=path,
            env=env,
            cwd=cwd,
            filter_=program,
            options=OPTIONS,
            stdio=stdio,
            listener_socket=theirs.fileno(),
            filter_flags=SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        )
        theirs.close()
        self._root = spawned.pid
        self._tasks[spawned.pid] = TaskState(spawned.pid, spawned.pid)
        self._processes = self._threads = 1
        supervisor = NotifySupervisor(
            self._compiled,
            on_error=self._on_error,
            error_errno=self._error_errno,
            report=self._report,
            check=False,
        )
        supervisor.root = spawned.pid
        stop_reading, stop_writing = os.pipe2(os.O_CLOEXEC)
        answering: threading.Thread | None = None
        try:
            # The child is seized: its stops (the exec, a failure) are collected by the loop
            # below, so only the socket is read here; an empty read means the child failed
            # before it could send the listener.
            with ours:
                _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            if fds:
                listener = Listener(fds[0])
                listener.wake_up_on_caller_cpu()
                answering = threading.Thread(
                    target=_answer_until_hangup,
                    args=(supervisor, listener, stop_reading),
                    name="sysemu notifications",
                    daemon=True,
                )
                answering.start()
            watchdog = threading.Timer(timeout, self._time_out) if timeout is not None else None
            if watchdog is not None:
                watchdog.daemon = True
                watchdog.start()
            if self._alarm is not None:
                self._alarm.install()
            try:
                self._loop()
            finally:
                if self._alarm is not None:
                    self._alarm.restore()
                if watchdog is not None:
                    watchdog.cancel()
                if self._tasks:
                    self._kill_all()
        finally:
            os.write(stop_writing, b"x")
            if answering is not None:
                answering.join(timeout=10)
            os.close(stop_writing)
            os.close(stop_reading)
        self._errors.extend(supervisor.errors)
        if self._fatal is None:
            self._fatal = supervisor.fatal
        if self._timed_out:
            raise RunTimeoutError(argv, timeout or 0.0, self._result())
        status = self._root_status
        if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 127:
            message = spawned.exec_error()
            if message is not None:
                raise ExecError(errno.ENOEXEC, f"cannot execute {path}: {message}")
        else:
            spawned.exec_error()
        return self._result()


def _answer_until_hangup(supervisor: NotifySupervisor, listener: Listener, stop: int) -> None:
    """The notification thread: answer until no process uses the filter, or told to stop."""
    poller = select.poll()
    poller.register(listener.fd, select.POLLIN)
    poller.register(stop, select.POLLIN)
    try:
        while True:
            for fd, event in poller.poll():
                if fd == stop:
                    return
                if event & select.POLLIN:
                    supervisor.answer(listener)
                elif event & (select.POLLHUP | select.POLLERR):
                    return
    finally:
        os.close(listener.fd)
