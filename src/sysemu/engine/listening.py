"""The user-notification side that the ``unotify`` and ``auto`` backends share: the filter
that turns traced routes into notifications, and the hand-over of the listener fd.

The child installs the filter (a filter can only be installed by the thread it applies to)
with ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` and sends the listener back over a socket at
:data:`~sysemu.engine.spawn.LISTENER_SOCKET_FD`. This module must not answer notifications:
that is :mod:`sysemu.engine.notify`'s.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

from sysemu.api.handlers import CompiledHandlers
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


def receive_listener(ours: socket.socket, timeout: float | None) -> int | None:
    """The listener fd the child sends over ``ours`` (closed here), or None when the child
    failed before it could send one (an end of file). Raises TimeoutError after
    ``timeout`` seconds without either (None: no limit)."""
    with ours:
        ours.settimeout(timeout)
        _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    return fds[0] if fds else None
