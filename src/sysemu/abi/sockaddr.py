"""Socket addresses as data: address families, the layouts of ``struct sockaddr_in``,
``sockaddr_in6`` and ``sockaddr_un``, and their decoding and encoding.

The layouts are the same in every x86 ABI (no longs, no pointers). ``sa_family`` and
``sin6_scope_id`` are in host byte order (little-endian on x86), the port and
``sin6_flowinfo`` in network order. Text forms of addresses come from the ``socket`` module,
imported on first use: it costs milliseconds of a start-up that names no address.
"""

from __future__ import annotations

import os
import struct

from sysemu._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import TypeAlias

AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17

FAMILY_NAMES = {
    AF_UNSPEC: "AF_UNSPEC",
    AF_UNIX: "AF_UNIX",
    AF_INET: "AF_INET",
    AF_INET6: "AF_INET6",
    AF_NETLINK: "AF_NETLINK",
    AF_PACKET: "AF_PACKET",
}
"""The families sysemu names; others are shown by number."""

# Short names, as ``ss`` and ``--inject family=`` spell them; ``local`` is POSIX's AF_UNIX.
_SHORT_NAMES = {"unix": AF_UNIX, "local": AF_UNIX, "inet": AF_INET, "inet6": AF_INET6}
_SHORT_NAMES.update({name[3:].lower(): number for number, name in FAMILY_NAMES.items()})

SOCKADDR_STORAGE_SIZE = 128
"""``sizeof(struct sockaddr_storage)``: no address the kernel takes or gives is longer."""
SUN_PATH_MAX = 108
"""``sizeof(sun_path)``: a path of this many bytes needs no NUL (the kernel adds one)."""
SOCKADDR_UN_SIZE = 2 + SUN_PATH_MAX
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28

_FAMILY = struct.Struct("<H")
_IN = struct.Struct(">2xH4s8x")  # after sa_family: port, address, sin_zero
_IN6 = struct.Struct(">2xHI16s")  # after sa_family: port, flow info, address
_SCOPE = struct.Struct("<I")  # sin6_scope_id, at offset 24, in host order


def family_number(name: str | int) -> int:
    """``AF_INET`` for ``"inet"``, ``"AF_INET"``, ``"Inet"`` or ``2``; raises ValueError."""
    if isinstance(name, int):
        return name
    key = name.lower().removeprefix("af_")
    if key in _SHORT_NAMES:
        return _SHORT_NAMES[key]
    if key.isdigit() and int(key) < 1 << 16:
        return int(key)
    known = ", ".join(sorted(_SHORT_NAMES))
    raise ValueError(f"unknown address family {name!r} (known: {known})")


def family_name(number: int) -> str:
    """``"AF_INET"``, or ``"AF_<number>"`` for a family sysemu does not name."""
    return FAMILY_NAMES.get(number, f"AF_{number}")


class SocketAddress(NamedTuple):
    """A decoded ``struct sockaddr``: what ``call.args.addr`` gives.

    ``host`` and ``port`` are set for ``AF_INET`` and ``AF_INET6`` (``host`` in its usual
    text form: ``"127.0.0.1"``, ``"::1"``); ``path`` for ``AF_UNIX``: a file name, ``""`` for
    an unnamed socket, and an abstract name starting with ``"\\0"`` (as Python's ``socket``
    module spells it). ``data`` is the address's bytes as the program gave them, the only
    content of other families.
    """

    family: int
    host: str | None = None
    port: int | None = None
    path: str | None = None
    data: bytes = b""
    flowinfo: int = 0
    scope_id: int = 0

    @property
    def family_name(self) -> str:
        """``"AF_INET"``, ``"AF_INET6"``, ``"AF_UNIX"``... (``"AF_<n>"`` for others)."""
        return family_name(self.family)

    @property
    def abstract(self) -> bool:
        """Whether this is an ``AF_UNIX`` name in the abstract namespace (no file)."""
        return self.path is not None and self.path.startswith("\0")

    def __str__(self) -> str:
        if self.host is not None:
            shown = f"[{self.host}]" if ":" in self.host else self.host
            return f"{shown}:{self.port}"
        if self.path is not None:
            return "@" + self.path[1:] if self.abstract else self.path
        return f"{self.family_name}:{self.data[2:].hex()}"


Endpoint: TypeAlias = "SocketAddress | tuple[str, int] | tuple[str, int, int, int] | str | bytes"
"""What :func:`encode` takes: a :class:`SocketAddress`, ``(host, port)`` or ``(host, port,
flowinfo, scope_id)`` with a numeric IPv4 or IPv6 host, or an ``AF_UNIX`` path (``str`` or
``bytes``; a leading NUL makes it an abstract name)."""


def decode(data: bytes) -> SocketAddress | None:
    """The address in ``data`` (as many bytes as its length said); ``None`` when shorter
    than its family. An IPv4 or IPv6 address too short for its layout keeps only ``data``."""
    if len(data) < _FAMILY.size:
        return None
    (family,) = _FAMILY.unpack_from(data)
    if family == AF_UNIX:
        name = data[2:]
        if name[:1] == b"\0":  # abstract: every byte counts, NULs included
            return SocketAddress(family, path=os.fsdecode(name), data=data)
        return SocketAddress(family, path=os.fsdecode(name.split(b"\0", 1)[0]), data=data)
    if family == AF_INET and len(data) >= SOCKADDR_IN_SIZE:
        import socket  # noqa: PLC0415 (see the module docstring)

        port, packed = _IN.unpack_from(data)
        return SocketAddress(family, socket.inet_ntoa(packed), port, data=data)
    if family == AF_INET6 and len(data) >= _IN6.size:
        import socket  # noqa: PLC0415

        port, flow, packed = _IN6.unpack_from(data)
        scope = _SCOPE.unpack_from(data, 24)[0] if len(data) >= SOCKADDR_IN6_SIZE else 0
        host = socket.inet_ntop(socket.AF_INET6, packed)
        return SocketAddress(family, host, port, data=data, flowinfo=flow, scope_id=scope)
    return SocketAddress(family, data=data)


def encode(endpoint: Endpoint | object) -> bytes:
    """The bytes of a ``struct sockaddr`` for ``endpoint`` (see :data:`Endpoint`), exactly as
    long as the kernel needs (the length argument to give with it); raises ValueError for
    anything else (handlers pass what they like: it is checked here, at run time)."""
    if isinstance(endpoint, SocketAddress):
        if endpoint.host is not None:
            return encode((endpoint.host, endpoint.port or 0, endpoint.flowinfo, endpoint.scope_id))
        if endpoint.path is not None:
            return encode(endpoint.path)
        return endpoint.data
    if isinstance(endpoint, (str, bytes)):
        return _encode_unix(os.fsencode(endpoint))
    if isinstance(endpoint, tuple) and len(endpoint) in (2, 4):
        return _encode_inet(*endpoint)
    raise ValueError(
        f"a socket address is (host, port), (host, port, flowinfo, scope_id) or an AF_UNIX "
        f"path, not {endpoint!r}"
    )


def _encode_unix(path: bytes) -> bytes:
    if len(path) > SUN_PATH_MAX:
        raise ValueError(f"an AF_UNIX path has at most {SUN_PATH_MAX} bytes: {path!r}")
    head = _FAMILY.pack(AF_UNIX)
    if path[:1] == b"\0" or len(path) == SUN_PATH_MAX:
        return head + path  # abstract, or a full sun_path: no NUL
    if not path:
        return head  # unnamed: bind() then picks an abstract name (autobind)
    return head + path + b"\0"


def _encode_inet(host: object, port: object, flowinfo: object = 0, scope_id: object = 0) -> bytes:
    import socket  # noqa: PLC0415 (see the module docstring)

    if not isinstance(host, str):
        raise ValueError(f"a host is a str with a numeric address, not {host!r}")
    for what, value, bits in (
        ("port", port, 16),
        ("flowinfo", flowinfo, 32),
        ("scope_id", scope_id, 32),
    ):
        if not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"{what} must be an int from 0 to {(1 << bits) - 1}, not {value!r}")
    assert isinstance(port, int) and isinstance(flowinfo, int) and isinstance(scope_id, int)
    try:
        if ":" in host:
            packed = socket.inet_pton(socket.AF_INET6, host)
            body = _IN6.pack(port, flowinfo, packed)
            return _FAMILY.pack(AF_INET6) + body[2:] + _SCOPE.pack(scope_id)
        if flowinfo or scope_id:
            raise ValueError("flowinfo and scope_id are IPv6 fields")
        packed = socket.inet_pton(socket.AF_INET, host)
    except OSError:
        raise ValueError(f"not a numeric IPv4 or IPv6 address: {host!r}") from None
    return _FAMILY.pack(AF_INET) + _IN.pack(port, packed)[2:]


def is_loopback(address: SocketAddress) -> bool:
    """Whether an ``AF_INET``/``AF_INET6`` address stays on this machine: the loopback
    networks (``127.0.0.0/8``, ``::1``, and ``::ffff:127.0.0.0/104``) and the unspecified
    addresses (``0.0.0.0``, ``::``), which Linux connects to the local host."""
    host = address.host
    if host is None:
        return False
    if address.family == AF_INET6 and host.startswith("::ffff:") and "." in host:
        host = host[7:]  # an IPv4-mapped address is the IPv4 address
    if "." in host:
        return host.startswith("127.") or host == "0.0.0.0"
    return host in ("::1", "::")


# Where a message's destination is: the head of struct msghdr (msg_name, msg_namelen), and the
# size of struct mmsghdr (a msghdr and an unsigned int, padded to pointer alignment), in the
# 64-bit ABI and in the compat ABIs (i386, x32) whose pointers are 4 bytes.
_MSGHDR_NAME = {8: struct.Struct("<QI"), 4: struct.Struct("<II")}
_MMSGHDR_SIZE = {8: 64, 4: 32}


def msghdr_name(pointer_bytes: int) -> struct.Struct:
    """The layout of ``msg_name`` and ``msg_namelen`` at the start of a ``struct msghdr``
    whose pointers have ``pointer_bytes`` bytes (8: x86-64, 4: i386 and x32)."""
    return _MSGHDR_NAME[pointer_bytes]


def mmsghdr_size(pointer_bytes: int) -> int:
    """``sizeof(struct mmsghdr)`` (``sendmmsg``'s array) with ``pointer_bytes`` pointers."""
    return _MMSGHDR_SIZE[pointer_bytes]
