"""What ``-yy`` shows of an fd, as strace's ``--decode-fds=all``: a socket's protocol and
endpoints (``TCP:[127.0.0.1:5000->127.0.0.1:41234]``, ``UNIX-STREAM:[2463000->2463001]``), a
device's type and numbers (``/dev/null<char 1:3>``), a pidfd's process (``pid:1234``), else the
path ``-y`` shows.

The kernel names a socket's protocol in the ``system.sockprotoname`` attribute of its
``/proc/PID/fd/N`` link; inet endpoints come from ``/proc/PID/net/{tcp,udp}{,6}`` (the
tracee's network namespace), a Unix socket's peer and name from a ``NETLINK_SOCK_DIAG`` query
(which the tracer's namespace answers: the tracee's is the same one unless it made its own).
A socket none of those know is shown by its inode, as strace does: ``TCP:[2462991]``.
"""

from __future__ import annotations

import os
import socket
import stat
import struct

_INET_TABLES = {"TCP": "tcp", "UDP": "udp", "TCPv6": "tcp6", "UDPv6": "udp6"}
_ZERO_ADDRESSES = ("00000000:0000", "00000000000000000000000000000000:0000")

# <linux/sock_diag.h>, <linux/unix_diag.h>.
_SOCK_DIAG_BY_FAMILY = 20
_UDIAG_SHOW_NAME = 0x1
_UDIAG_SHOW_PEER = 0x4
_UNIX_DIAG_NAME = 0
_UNIX_DIAG_PEER = 2
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_REQUEST = struct.Struct("=IHHIIBBHIIIII")  # nlmsghdr + unix_diag_req
_MESSAGE_HEADER = struct.Struct("=IHHII")
_UNIX_DIAG_MSG = struct.Struct("=BBBBIII")  # family, type, state, pad, ino, cookie[2]
_ATTRIBUTE = struct.Struct("=HH")


def fd_details(tid: int, fd: int) -> str | None:
    """What ``-yy`` shows between ``<`` and ``>`` after fd ``fd`` of thread ``tid``, or None
    when it is not open."""
    link = f"/proc/{tid}/fd/{fd}"
    try:
        target = os.readlink(link)
    except OSError:
        return None
    if target.startswith("socket:["):
        inode = int(target[8:-1])
        try:
            protocol = os.getxattr(link, "system.sockprotoname").rstrip(b"\0").decode()
        except OSError:
            return target
        return f"{protocol}:[{_endpoints(tid, protocol, inode)}]"
    if target == "anon_inode:[pidfd]":
        pid = _fdinfo_field(tid, fd, "Pid:")
        return f"pid:{pid}" if pid is not None else target
    if target.startswith("/"):
        try:
            mode = os.stat(link).st_rdev, os.stat(link).st_mode
        except OSError:
            return target
        device, kind = mode
        if stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            label = "char" if stat.S_ISCHR(kind) else "block"
            return f"{target}<{label} {os.major(device)}:{os.minor(device)}>"
    return target


def _fdinfo_field(tid: int, fd: int, name: str) -> str | None:
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}") as info:
            for line in info:
                if line.startswith(name):
                    return line[len(name) :].strip()
    except OSError:
        pass
    return None


def _endpoints(tid: int, protocol: str, inode: int) -> str:
    """``local->remote``, ``local`` while unconnected, ``inode[->peer][,"name"]`` for Unix
    sockets; the inode alone when nothing says more."""
    table = _INET_TABLES.get(protocol)
    if table is not None:
        found = _inet_endpoints(tid, table, inode)
        return found if found is not None else str(inode)
    if protocol.startswith("UNIX"):
        return _unix_endpoints(inode)
    return str(inode)


def _inet_endpoints(tid: int, table: str, inode: int) -> str | None:
    try:
        with open(f"/proc/{tid}/net/{table}") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if len(fields) > 9 and fields[9] == str(inode):
                    local = _inet_address(fields[1])
                    if fields[2] in _ZERO_ADDRESSES:
                        return local
                    return f"{local}->{_inet_address(fields[2])}"
    except (OSError, StopIteration, ValueError):
        pass
    return None


def _inet_address(field: str) -> str:
    """``0100007F:1388`` (the address's 32-bit words in the machine's byte order, the port in
    hex) as ``127.0.0.1:5000``, an IPv6 one as ``[::1]:5000``."""
    address, port = field.split(":")
    words = bytes.fromhex(address)
    packed = b"".join(
        struct.pack("=I", int.from_bytes(words[i : i + 4], "big")) for i in range(0, len(words), 4)
    )
    if len(packed) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, packed)}:{int(port, 16)}"
    return f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{int(port, 16)}"


def _unix_endpoints(inode: int) -> str:
    """``inode->peer`` and ``,"name"`` (``@`` first for an abstract one), as far as a
    ``NETLINK_SOCK_DIAG`` query for ``inode`` tells."""
    request = _REQUEST.pack(
        _REQUEST.size, _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 0, 0,
        socket.AF_UNIX, 0, 0, 0xFFFFFFFF, inode, _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER,
        0xFFFFFFFF, 0xFFFFFFFF,
    )  # fmt: skip
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as diag:  # NETLINK_SOCK_DIAG
            diag.settimeout(1.0)
            diag.send(request)
            reply = diag.recv(8192)
    except OSError:
        return str(inode)
    if len(reply) < _MESSAGE_HEADER.size + _UNIX_DIAG_MSG.size:
        return str(inode)
    length, kind = _MESSAGE_HEADER.unpack_from(reply)[:2]
    if kind == _NLMSG_ERROR:
        return str(inode)
    text = str(inode)
    name = ""
    offset = _MESSAGE_HEADER.size + _UNIX_DIAG_MSG.size
    while offset + _ATTRIBUTE.size <= min(length, len(reply)):
        size, attribute = _ATTRIBUTE.unpack_from(reply, offset)
        if size < _ATTRIBUTE.size:
            break
        payload = reply[offset + _ATTRIBUTE.size : offset + size]
        if attribute == _UNIX_DIAG_PEER and len(payload) >= 4:
            peer = struct.unpack_from("=I", payload)[0]
            if peer:
                text += f"->{peer}"
        elif attribute == _UNIX_DIAG_NAME and payload:
            abstract = payload[:1] == b"\0"
            shown = (payload[1:] if abstract else payload.split(b"\0")[0]).decode(
                "utf-8", "backslashreplace"
            )
            name = f',{"@" if abstract else ""}"{shown}"'
        offset += (size + 3) & ~3
    return text + name


__all__ = ["fd_details"]
