"""``--deny-network``: a program that cannot reach the network, and optionally only the
loopback.

Without the loopback, every ``AF_INET`` and ``AF_INET6`` ``socket()`` fails with ``EACCES``,
as a mandatory access control policy (SELinux, AppArmor, a seccomp sandbox) refuses it:
programs report "Permission denied" and give up on the network, while ``AF_UNIX`` (and
every other family) works. The kernel's filter checks the ``domain`` argument, so nothing
else stops the program.

With the loopback, sockets are made as usual, and a ``connect``, ``sendto``, ``sendmsg`` or
``sendmmsg`` to an IPv4 or IPv6 address off this machine fails with ``ENETUNREACH``: what
the kernel says on a machine whose only network is the loopback (a network namespace with
just ``lo`` up). Programs know that error as "offline" (and clients with several addresses
try the next one), where ``EACCES`` from a connect would read as a firewall. A ``bind`` is
not checked: a server listening on every address (``0.0.0.0``) can be reached from other
machines.

32-bit programs whose C library multiplexes these calls through ``socketcall`` are checked
the same way: the engine hands each such operation to the handler of the call it makes (see
``sysemu.abi.socketcall``). In both modes ``io_uring_setup`` fails with
``ENOSYS`` (unless ``--allow-io-uring``), as under every rule on a call an io_uring operation
can do instead (see ``HandlerSet.guarded_against_io_uring``): the kernel's io_uring workers
make sockets, connects and sends that no filter sees.

The addresses are read from the program's memory while the call waits: like any decision to
let a call through on what memory says, this is not a boundary against a program that
changes the address from another thread meanwhile (see the README's Limits).
"""

from __future__ import annotations

import errno

from sysemu.abi import Abi
from sysemu.abi import sockaddr as layout
from sysemu.abi.sockaddr import AF_INET, AF_INET6, SocketAddress
from sysemu.api.call import Call
from sysemu.api.conditions import In, Ne
from sysemu.api.decisions import Decision, Fail
from sysemu.api.handlers import HandlerSet

_INET = (AF_INET, AF_INET6)
_UIO_MAXIOV = 1024  # the most messages one sendmmsg sends


def deny_network(handlers: HandlerSet, *, allow_loopback: bool = False) -> None:
    """Register the handlers that keep the program off the network (see the module
    docstring). They only decide (pass or fail), so every backend runs them, ``unotify``
    included. Register them before handlers that pass calls on their own, since the first
    decision wins."""
    if not allow_loopback:
        handlers.add("socket", _refuse, domain=In(*_INET), decides_only=True)
        return
    handlers.add("connect", _check_connect, addr=Ne(0), decides_only=True)
    handlers.add("sendto", _check_sendto, dest_addr=Ne(0), decides_only=True)
    handlers.add("sendmsg", _check_sendmsg, decides_only=True)
    handlers.add("sendmmsg", _check_sendmmsg, decides_only=True)


def _refuse(_call: Call) -> Decision:
    return Fail(errno.EACCES)


def _off_this_machine(address: SocketAddress | None) -> bool:
    return address is not None and address.family in _INET and not layout.is_loopback(address)


def _check(call: Call, address: int, length: int) -> Decision | None:
    try:
        destination = call.read_sockaddr(address, length)
    except OSError:
        return None  # the kernel's EFAULT
    return Fail(errno.ENETUNREACH) if _off_this_machine(destination) else None


def _check_connect(call: Call) -> Decision | None:
    return _check(call, call.raw[1], call.args.value(2))


def _check_sendto(call: Call) -> Decision | None:
    return _check(call, call.raw[4], call.args.value(5))


def _pointer_bytes(abi: Abi) -> int:
    return abi.pointer_size  # i386 and x32 pass compat structures


def _check_messages(call: Call, vector: int, count: int, stride: int) -> Decision | None:
    head = layout.msghdr_name(_pointer_bytes(call.abi))
    for position in range(min(count, _UIO_MAXIOV)):
        try:
            name, length = head.unpack(call.read(vector + position * stride, head.size))
        except OSError:
            return None  # the kernel's EFAULT (or, past the first message, a short count)
        decision = _check(call, name, length)
        if decision is not None:
            return decision
    return None


def _check_sendmsg(call: Call) -> Decision | None:
    return _check_messages(call, call.raw[1], 1, 0)


def _check_sendmmsg(call: Call) -> Decision | None:
    stride = layout.mmsghdr_size(_pointer_bytes(call.abi))
    return _check_messages(call, call.raw[1], call.args.value(2), stride)
