"""The user-notification side that the ``unotify`` and ``auto`` backends share: the filter
that turns traced routes into notifications, and the hand-over of the listener fd.

The child installs the filter (a filter can only be installed by the thread it applies to)
with ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` and sends the listener back over a socket at
:data:`~sysemu.engine.spawn.LISTENER_SOCKET_FD`. This module must not answer notifications:
that is :mod:`sysemu.engine.notify`'s.
"""

from __future__ import annotations

import _socket
import sys
from collections.abc import Callable, Sequence

from sysemu.api.routes import CompiledHandlers
from sysemu.engine.common import guard_rules
from sysemu.engine.spawn import LISTENER_SOCKET_FD
from sysemu.kernel.arch import native_abi, native_number
from sysemu.kernel.bpf import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_USER_NOTIF,
    ArgTest,
    Op,
    Rule,
    compile_filter,
)
from sysemu.kernel.seccomp import PreparedFilter

_SENDMSG = native_number("sendmsg")  # the child sysemu forks is a native process
_NATIVE_AUDIT_ARCH = native_abi().audit_arch
_ACTION_MASK = 0xFFFF0000
_DATA_MASK = 0xFFFF


def listener_send_rule() -> Rule:
    """The child's own sendmsg of its listener fd must not reach a user rule on sendmsg: the
    supervisor is not listening yet, so a trapped sendmsg would block forever."""
    return Rule(
        _NATIVE_AUDIT_ARCH,
        _SENDMSG,
        SECCOMP_RET_ALLOW,
        (ArgTest(0, Op.EQ, (LISTENER_SOCKET_FD,), bits=32),),
    )


def notification_filter(
    compiled: CompiledHandlers,
    protected: tuple[int, ...],
    notified: Callable[[int], bool],
    *,
    traced: Sequence[Rule] = (),
) -> PreparedFilter:
    """The program's filter: ``compiled``'s rules, where a ``SECCOMP_RET_TRACE`` whose data
    (the route id) ``notified`` accepts becomes ``SECCOMP_RET_USER_NOTIF``; the listener's
    own hand-over, the guard rules for ``protected`` (the pids the program may not
    signal, ptrace or write) and ``traced`` (the engine's own rules of a backend that
    traces the program, taken as they are) come first."""

    def action_for(action: int) -> int:
        if action & _ACTION_MASK == SECCOMP_RET_TRACE and notified(action & _DATA_MASK):
            return SECCOMP_RET_USER_NOTIF
        return action

    rules = [listener_send_rule(), *guard_rules(*protected), *traced]
    rules.extend(
        Rule(rule.arch, rule.nr, action_for(rule.action), rule.tests) for rule in compiled.rules
    )
    defaults = {arch: action_for(action) for arch, action in compiled.arch_defaults.items()}
    return PreparedFilter(compile_filter(rules, arch_defaults=defaults))


def socket_pair() -> tuple[_socket.socket, _socket.socket]:
    """A connected pair of Unix stream sockets for a listener's hand-over. (``_socket``, not
    ``socket``: that module's enum classes cost every run of the notification backends
    several milliseconds of start-up.)"""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)


def receive_listener(ours: _socket.socket, timeout: float | None) -> int | None:
    """The listener fd the child sends over ``ours`` (closed here), or None when the child
    failed before it could send one (an end of file). Raises TimeoutError after
    ``timeout`` seconds without either (None: no limit)."""
    try:
        ours.settimeout(timeout)
        _, ancillary, _, _ = ours.recvmsg(1, _socket.CMSG_SPACE(_FD_SIZE))
    finally:
        ours.close()
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS and len(data) >= _FD_SIZE:
            return int.from_bytes(data[:_FD_SIZE], sys.byteorder, signed=True)
    return None


_FD_SIZE = 4  # an int, as SCM_RIGHTS carries each descriptor
