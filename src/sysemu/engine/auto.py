"""The ``auto`` backend: one filter, a mechanism chosen per syscall.

Calls whose handlers all promised to only decide (``decides_only=True``: pass, emulate or fail)
and that no observer wants the result of are answered through seccomp user notification, the
cheapest round trip the kernel offers; every other handled call stops in ptrace
(``SECCOMP_RET_TRACE``), where rewrites and results are possible. The process tree is ptraced
either way, so forks, execs and signals are followed as with the seccomp backend.

Two threads serve it: this one (the one that seized the program) makes every ptrace request
and waits in ``waitpid``; a second one waits for notifications and answers them. Handlers of
decide-only calls therefore run on the second thread. They never run at the same time as the
others: whichever thread runs Python code for a stop (a handler, an observer, a decision
carried out) holds one lock meanwhile, so a handler set written for one thread works
unchanged; each thread waits for the kernel without it.
"""

from __future__ import annotations

import _socket
import _thread
import os
import select
import sys
from collections.abc import Callable

from sysemu._typing import TYPE_CHECKING
from sysemu.api.routes import CompiledHandlers
from sysemu.engine.errors import FailurePolicy
from sysemu.engine.listening import notification_filter, receive_listener, socket_pair
from sysemu.engine.notify import NotifySupervisor
from sysemu.engine.untraced import untraced_rules
from sysemu.kernel.seccomp import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    PreparedFilter,
    filter_flags_known,
    has_user_notification,
)
from sysemu.kernel.unotify import (
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    Listener,
)

if TYPE_CHECKING:
    from _thread import LockType


class NotificationCompanion:
    """The auto backend's second thread (a :class:`~sysemu.engine.tracer.Companion`): the
    decide-only routes of ``compiled`` are answered through user notification while the
    tracer's wait loop serves everything else."""

    def __init__(self, compiled: CompiledHandlers) -> None:
        self._compiled = compiled
        self._ours: _socket.socket | None = None
        self._theirs: _socket.socket | None = None

    def filter(self) -> PreparedFilter:
        """The program's filter: notifiable routes notify, every other route traces."""
        routes = self._compiled.routes
        return notification_filter(
            self._compiled,
            (os.getpid(),),
            lambda route_id: route_id < len(routes) and routes[route_id].notifiable(),
            traced=untraced_rules(),
        )

    def serial(self) -> LockType | None:
        """A lock for both threads when the tracer's may run the user's code too (a handler
        that is not decide-only, an observer: of a call, a process or a signal); else None,
        and nothing to hold (the notification thread alone runs handlers)."""
        compiled = self._compiled
        ptrace_side = any(
            route.registrations or route.observers
            for route in compiled.routes
            if not route.notifiable()
        )
        watched = any(not observer.thread_safe for observer in compiled.observers)
        return _thread.allocate_lock() if ptrace_side or watched else None

    def spawn_arguments(self) -> tuple[int, int]:
        """A fresh socket for the listener's hand-over, and the listener's filter flags."""
        self._ours, self._theirs = socket_pair()
        flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        if not filter_flags_known(flags):  # before Linux 5.19
            flags = SECCOMP_FILTER_FLAG_NEW_LISTENER
        return self._theirs.fileno(), flags

    def beside(
        self, root: int, policy: FailurePolicy, timeout: float | None, serial: LockType | None
    ) -> _Answering:
        """Receive the listener and answer it from a second thread while the block runs,
        holding ``serial`` while a notification runs Python code (as the tracer does for
        its stops): the two threads run the handlers one at a time."""
        ours, theirs = self._ours, self._theirs
        assert ours is not None and theirs is not None  # spawn_arguments() came first
        supervisor = NotifySupervisor(self._compiled, check=False, policy=policy, serial=serial)
        supervisor.root = root
        return _Answering(supervisor, ours, theirs, timeout)


class _Answering:
    """The block of :meth:`NotificationCompanion.beside`: entering it receives the listener
    and starts the thread that answers it; leaving it ends that thread. (A class, not a
    ``contextlib.contextmanager``: importing contextlib costs every such run ~0.8 ms.)"""

    def __init__(
        self,
        supervisor: NotifySupervisor,
        ours: _socket.socket,
        theirs: _socket.socket,
        timeout: float | None,
    ) -> None:
        self._supervisor = supervisor
        self._ours, self._theirs = ours, theirs
        self._timeout = timeout
        self._stop_reading = self._stop_writing = -1
        self._answering: LockType | None = None  # held until the notification thread is done

    def __enter__(self) -> None:
        self._theirs.close()  # so that a child that fails first gives an end of file
        self._stop_reading, self._stop_writing = os.pipe2(os.O_CLOEXEC)
        try:
            # The child is seized: its stops (the exec, a failure) are collected by the
            # tracer's loop, so only the socket is read here; an end of file means the child
            # failed before it could send the listener. A child that never sends it is killed
            # by the loop's own timeout.
            try:
                listener_fd = receive_listener(self._ours, self._timeout)
            except TimeoutError:
                listener_fd = None
            if listener_fd is not None:
                listener = Listener(listener_fd)
                listener.wake_up_on_caller_cpu()
                supervisor, stop_reading = self._supervisor, self._stop_reading
                self._answering = _start_thread(
                    lambda: _answer_until_hangup(supervisor, listener, stop_reading)
                )
        except BaseException:
            self._end()
            raise

    def __exit__(self, *exception: object) -> None:
        self._end()

    def _end(self) -> None:
        os.write(self._stop_writing, b"x")
        answering = self._answering
        if answering is not None and answering.acquire(timeout=10):
            answering.release()
        os.close(self._stop_writing)
        os.close(self._stop_reading)


def companion_for(compiled: CompiledHandlers) -> NotificationCompanion | None:
    """The auto backend's companion for ``compiled``, which has a route to answer through
    notification (``backends.any_notifiable``, checked before this module is loaded), or None
    where the kernel has no user notification (the run is then the seccomp backend's)."""
    return NotificationCompanion(compiled) if has_user_notification() else None


THREAD_NAME = "sysemu notifications"


def _start_thread(target: Callable[[], None]) -> LockType:
    """Run ``target`` on a thread of its own; the lock returned is held until it returns.

    Where :mod:`threading` is loaded, the thread is made by it and named
    :data:`THREAD_NAME`, for handlers that ask which thread runs them. The command line does
    not load it: a ``threading.Thread`` costs the import, and its start waits for the new
    thread to run, both on the way to the program's start.
    """
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            target()
        finally:
            done.release()

    threading = sys.modules.get("threading")
    if threading is not None:
        threading.Thread(target=run, name=THREAD_NAME, daemon=True).start()
    else:
        _thread.start_new_thread(run, ())
    return done


def _answer_until_hangup(supervisor: NotifySupervisor, listener: Listener, stop: int) -> None:
    """The notification thread: answer until no process uses the filter, or told to stop."""
    if supervisor.serves_in_c:
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
