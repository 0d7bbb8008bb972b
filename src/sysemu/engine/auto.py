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

import os
import select
import socket
import threading
from collections.abc import Mapping, Sequence

from sysemu.api.handlers import Route
from sysemu.api.results import RunResult
from sysemu.engine.listening import notification_filter, receive_listener
from sysemu.engine.notify import NotifySupervisor
from sysemu.engine.spawn import spawn
from sysemu.engine.tracer import OPTIONS, Tracer
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
        self._check_alarm()
        routes = self._routes
        program = notification_filter(
            self._compiled,
            (os.getpid(),),
            lambda route_id: route_id < len(routes) and notifiable(routes[route_id]),
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
        supervisor = NotifySupervisor(
            self._compiled,
            check=False,
            policy=self._policy,
        )
        supervisor.root = spawned.pid
        stop_reading, stop_writing = os.pipe2(os.O_CLOEXEC)
        answering: threading.Thread | None = None
        try:
            with self._owning(spawned):
                # The child is seized: its stops (the exec, a failure) are collected by the
                # loop below, so only the socket is read here; an empty read means the child
                # failed before it could send the listener.
                # A child that never sends it is killed by the loop's own timeout below.
                try:
                    listener_fd = receive_listener(ours, timeout)
                except TimeoutError:
                    listener_fd = None
                if listener_fd is not None:
                    listener = Listener(listener_fd)
                    listener.wake_up_on_caller_cpu()
                    answering = threading.Thread(
                        target=_answer_until_hangup,
                        args=(supervisor, listener, stop_reading),
                        name="sysemu notifications",
                        daemon=True,
                    )
                    answering.start()
                self._serve(timeout)
        finally:
            os.write(stop_writing, b"x")
            if answering is not None:
                answering.join(timeout=10)
            os.close(stop_writing)
            os.close(stop_reading)
        return self._ended(argv, path, spawned, timeout)


def _answer_until_hangup(supervisor: NotifySupervisor, listener: Listener, stop: int) -> None:
    """The notification thread: answer until no process uses the filter, or told to stop."""
    if supervisor.serves_natively:
        # The C loop blocks in the kernel with the GIL released and ends when the listener
        # hangs up, which the end of a run (every process gone, or the tree killed) brings.
        try:
            supervisor.serve(listener)
        finally:
            os.close(listener.fd)
        return
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
