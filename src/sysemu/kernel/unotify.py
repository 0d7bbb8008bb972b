"""Seccomp user notification (Linux 5.0+): the listener's ioctls and structures.

A filter installed with ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` hands back a file descriptor; each
call the filter answers with ``SECCOMP_RET_USER_NOTIF`` blocks the calling thread until the
supervisor reads the notification (``NOTIF_RECV``) and replies (``NOTIF_SEND``): with a value,
an errno, or ``SECCOMP_USER_NOTIF_FLAG_CONTINUE`` (5.5) to let the kernel run the call as it is.
No ptrace is involved, so the program can still be debugged while sysemu decides its calls.

What the man page (seccomp_unotify(2)) warns about, and how this module answers it:

* The calling thread can die, or a signal can interrupt the call, between the notification and
  the reply; its thread id may then be reused. Memory read for a notification is trusted only
  if ``NOTIF_ID_VALID`` still holds after the read (:class:`NotifiedMemory`), and a reply to a
  notification that is gone fails with ENOENT, which is normal.
* By default a signal with ``SA_RESTART`` restarts an interrupted call, which notifies again:
  a late reply to the first notification then fails with ENOENT. With
  ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`` (5.19) a received notification waits for its
  reply through every signal but SIGKILL; the engine asks for it when the kernel has it.
* ``SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`` (6.6) makes the kernel wake the supervisor on the
  caller's CPU, which cuts a round trip from about 12 µs to about 3 µs.
* Before Linux 6.6 a ``NOTIF_RECV`` blocked in the kernel is not woken when the last process
  using the filter exits: it waits on a semaphore that only a new notification raises, while
  only ``poll`` hears the hang-up (``POLLHUP``). 6.6 made the receive wait on the listener's
  wait queue ("seccomp: don't use semaphore and wait_queue together"), in the series that
  added ``SYNC_WAKE_UP``: so where that flag is refused, :attr:`Listener.poll_first` is set and
  each receive polls first (one more system call per notification, on those kernels only).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import select
import struct
from collections.abc import Callable

from sysemu._typing import TYPE_CHECKING
from sysemu.kernel import raw
from sysemu.kernel.memory import TraceeMemory

if TYPE_CHECKING:
    from typing import Any

    from sysemu.kernel.loop_config import NotifyLoopConfig

SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5  # Linux 5.19
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1  # Linux 5.5
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1  # Linux 6.6, for NOTIF_SET_FLAGS

# struct seccomp_notif: id u64, pid u32, flags u32, data {nr s32, arch u32, ip u64, args[6]}.
NOTIF = struct.Struct("<QIIiIQ6Q")
# struct seccomp_notif_resp: id u64, val s64, error s32, flags u32.
RESPONSE = struct.Struct("<QqiI")
_WORD, _SIGN = 1 << 64, 1 << 63


Exchanged = tuple[int, int, int, int, tuple[int, ...]]
"""A notification as :meth:`Listener.exchange` returns it: ``(id, tid, key, ip, args)``."""


def call_key(arch: int, nr: int) -> int:
    """One int for an (audit arch, syscall number) pair, as :meth:`Listener.exchange` gives it
    (a dict keyed by it costs one int hash per lookup, not a tuple's)."""
    return arch << 32 | (nr & 0xFFFFFFFF)


def _ioc(direction: int, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("!") << 8) | number


_WRITE, _READ_WRITE = 1, 3
NOTIF_RECV = _ioc(_READ_WRITE, 0, NOTIF.size)
NOTIF_SEND = _ioc(_READ_WRITE, 1, RESPONSE.size)
NOTIF_ID_VALID = _ioc(_WRITE, 2, 8)
NOTIF_SET_FLAGS = _ioc(_WRITE, 4, 8)
# struct seccomp_notif_addfd: id u64, flags u32, srcfd u32, newfd u32, newfd_flags u32.
ADDFD = struct.Struct("<QIIII")
NOTIF_ADDFD = _ioc(_WRITE, 3, ADDFD.size)
SECCOMP_ADDFD_FLAG_SEND = 1 << 1  # Linux 5.14: install the fd and reply with it, atomically


class Listener:
    """A seccomp notification listener fd, with buffers reused for every notification."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.poll_first = False
        """Whether a receive polls the listener first, so that a hang-up ends it (set by
        :meth:`wake_up_on_caller_cpu` on kernels before 6.6: see the module docstring)."""
        self.addfd_send = True
        """Whether ``SECCOMP_ADDFD_FLAG_SEND`` (5.14) is taken; cleared at its first refusal."""
        self._receive = bytearray(NOTIF.size)
        self._zero = bytes(NOTIF.size)
        self._respond = bytearray(RESPONSE.size)
        if _speedups is not None:  # the C versions: one call each, no buffer to fill
            self.receive = functools.partial(_speedups.notif_recv, fd)  # type: ignore[method-assign]
            self.respond = functools.partial(_send, _speedups.notif_send, fd)  # type: ignore[method-assign]
            self.exchange = functools.partial(_speedups.notif_exchange, fd)  # type: ignore[method-assign]

    def receive(self) -> tuple[int, ...] | None:
        """The next notification as ``(id, tid, flags, nr, arch, ip, a0..a5)``; ``None`` if it
        vanished before it could be read (its thread died: ENOENT)."""
        if self.poll_first and not _readable(self.fd):
            return None
        buffer = self._receive
        buffer[:] = self._zero  # the kernel refuses a buffer that is not zeroed
        try:
            fcntl.ioctl(self.fd, NOTIF_RECV, buffer, True)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.EINTR):
                return None
            raise
        return NOTIF.unpack(buffer)

    def respond(self, notification_id: int, value: int = 0, error: int = 0, flags: int = 0) -> bool:
        """Answer a notification; False if it is no longer pending (ENOENT). ``value`` is the
        64-bit pattern the call returns: 2**63 and more read as the negative numbers they are
        to the program, as the C accelerator sends them."""
        signed = (value + _SIGN) % _WORD - _SIGN
        RESPONSE.pack_into(self._respond, 0, notification_id, signed, error, flags)
        try:
            fcntl.ioctl(self.fd, NOTIF_SEND, self._respond, False)
        except OSError as failure:
            if failure.errno == errno.ENOENT:
                return False
            raise
        return True

    def exchange(
        self, reply_id: int | None, value: int, error: int, flags: int
    ) -> Exchanged | None:
        """Send the reply to ``reply_id`` (unless it is None; a call that is gone is ignored),
        then receive the next notification as ``(id, tid, key, ip, args)``, where ``key`` is
        :func:`call_key` of its arch and number; ``None`` as :meth:`receive` returns it.

        The supervisor's loop makes this one call per notification: with the C accelerator it
        is one crossing into C, with the GIL released in both ioctls."""
        if reply_id is not None:
            self.respond(reply_id, value, error, flags)
        notification = self.receive()
        if notification is None:
            return None
        nid, tid, _flags, nr, arch, ip, *args = notification
        return nid, tid, call_key(arch, nr), ip, tuple(args)

    def send_fd(self, notification_id: int, fd: int, *, cloexec: bool) -> int:
        """Install our ``fd`` in the caller and make it the call's result, atomically; returns
        the caller's fd number, or ``-errno`` (ENOENT if the call is gone)."""
        # A mutable buffer with mutate_flag: fcntl.ioctl then returns the ioctl's result (the
        # new fd), where an immutable one would return the buffer.
        newfd_flags = os.O_CLOEXEC if cloexec else 0
        if self.addfd_send:
            request = bytearray(
                ADDFD.pack(notification_id, SECCOMP_ADDFD_FLAG_SEND, fd, 0, newfd_flags)
            )
            try:
                return int(fcntl.ioctl(self.fd, NOTIF_ADDFD, request, True))
            except OSError as failure:
                if failure.errno != errno.EINVAL:
                    return -(failure.errno or errno.EIO)
            self.addfd_send = False  # Linux 5.9 to 5.13: no SEND flag
        # Add the descriptor, then reply with its number. Not atomic: a call interrupted in
        # between leaves the descriptor open in the caller.
        request = bytearray(ADDFD.pack(notification_id, 0, fd, 0, newfd_flags))
        try:
            added = int(fcntl.ioctl(self.fd, NOTIF_ADDFD, request, True))
        except OSError as failure:
            # Before 5.9 (no ADDFD) the call must still be answered, or it waits for ever.
            code = failure.errno or errno.EIO
            if code == errno.ENOENT or not self.respond(notification_id, error=-code):
                return -errno.ENOENT
            return -code
        return added if self.respond(notification_id, value=added) else -errno.ENOENT

    def hung_up(self) -> bool:
        """Whether no process uses the filter any more (``POLLHUP`` on the listener)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return any(event & (select.POLLHUP | select.POLLERR) for _, event in poller.poll(0))

    def is_valid(self, notification_id: int) -> bool:
        """Whether the notification is still pending (its thread still blocked in the call)."""
        try:
            fcntl.ioctl(self.fd, NOTIF_ID_VALID, struct.pack("<Q", notification_id))
        except OSError:
            return False
        return True

    def wake_up_on_caller_cpu(self) -> bool:
        """Ask for ``SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`` (6.6); False where unsupported, and
        then every receive polls first (:attr:`poll_first`)."""
        try:
            # The kernel takes these flags as the ioctl argument itself, not through a pointer.
            fcntl.ioctl(self.fd, NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
        except OSError:
            self.poll_on_older_kernels()
            return False
        return True

    def poll_on_older_kernels(self) -> None:
        """Poll before each receive (:attr:`poll_first`), with the C versions too."""
        self.poll_first = True
        if _speedups is not None:
            fd, receive, exchange = self.fd, _speedups.notif_recv, _speedups.notif_exchange

            def polled_receive() -> tuple[int, ...] | None:
                return receive(fd) if _readable(fd) else None

            def polled_exchange(
                reply_id: int | None, value: int, error: int, flags: int
            ) -> Exchanged | None:
                return exchange(fd, reply_id, value, error, flags, True)  # type: ignore[no-any-return]

            self.receive = polled_receive  # type: ignore[method-assign]
            self.exchange = polled_exchange  # type: ignore[method-assign]


def _readable(fd: int) -> bool:
    """Block until the listener has a notification (True) or hangs up (False)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        try:
            events = poller.poll()
        except InterruptedError:  # (PEP 475 retries it; a handler that raised did not)
            continue
        return any(event & select.POLLIN for _, event in events)


def _send(
    send: Callable[[int, int, int, int, int], bool],
    fd: int,
    notification_id: int,
    *,
    value: int = 0,
    error: int = 0,
    flags: int = 0,
) -> bool:
    return send(fd, notification_id, value, error, flags)


_speedups: Any = raw.speedups

# The C twin of NotifySupervisor._loop_python (see notif_serve in csrc/notify_loop.c; it takes
# a NotifyLoopConfig), or None.
serve_in_c: Callable[[NotifyLoopConfig], None] | None = (
    None if _speedups is None else _speedups.notif_serve
)


class NotifiedMemory(TraceeMemory):
    """A notifying thread's memory: every read is checked afterwards with ``NOTIF_ID_VALID``,
    so data read from a thread id that was reused by another process is never trusted."""

    __slots__ = ("_id", "_listener")

    def __init__(self, tid: int, listener: Listener, notification_id: int) -> None:
        super().__init__(tid)
        self._listener = listener
        self._id = notification_id

    def _check(self) -> None:
        if not self._listener.is_valid(self._id):
            raise self._error(errno.ESRCH, f"thread {self.tid} left the call")

    def read(self, address: int, size: int, *, partial: bool = False) -> bytes:
        """See :meth:`TraceeMemory.read`; raises ESRCH if the call is gone."""
        data = super().read(address, size, partial=partial)
        self._check()
        return data

    def read_cstring(self, address: int, limit: int = 4096) -> bytes:
        """See :meth:`TraceeMemory.read_cstring`; raises ESRCH if the call is gone."""
        data = super().read_cstring(address, limit)
        self._check()
        return data
