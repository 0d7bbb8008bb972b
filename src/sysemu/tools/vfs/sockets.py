"""``AF_UNIX`` socket names as paths: checked and mapped in ``bind``/``connect``/``sendto``,
mapped back in ``getsockname``/``getpeername``.

Owns the reading and writing of ``struct sockaddr_un`` in the tracee and the handlers of the
socket calls that carry one. Where a name leads and whether it is hidden or read-only are
asked of the resolver and the path map (the read-only test is passed in); no other call is
handled here.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from sysemu.abi.sockaddr import AF_UNIX, SOCKADDR_UN_SIZE, SUN_PATH_MAX
from sysemu.api.call import AT_FDCWD, Call
from sysemu.api.decisions import Decision, Result
from sysemu.tools.vfs.paths import PathMap
from sysemu.tools.vfs.resolve import PathError, Resolved, Resolver, to_virtual

# The parameter that holds the address of each call that may name an AF_UNIX socket's file
# (its length is "addrlen").
_ADDRESS_PARAM = {"bind": "addr", "connect": "addr", "sendto": "dest_addr"}

ReadonlyTest = Callable[[Call, int, Resolved], bool]
"""Whether a change through path argument ``index`` of a call, resolved so, is refused."""


class SocketPaths:
    """The socket-address handlers of one view."""

    def __init__(self, paths: PathMap, resolver: Resolver, readonly_hit: ReadonlyTest) -> None:
        self.paths = paths
        self.resolver = resolver
        self.readonly_hit = readonly_hit

    def on_address(self, call: Call) -> Decision | None:
        """``bind``, ``connect`` or ``sendto`` with an ``AF_UNIX`` address: its path is checked
        and mapped as a path argument is, and a mapped one rewritten into a new address
        (in sysemu's scratch area of the process). Abstract and unnamed addresses are left alone."""
        param = _ADDRESS_PARAM[call.name]
        index = call.syscall.param_index(param)
        length_index = call.syscall.param_index("addrlen")
        address, length = call.raw[index], _int32(call.raw[length_index])
        if address == 0 or not 2 < length <= SOCKADDR_UN_SIZE:
            return None  # no address, or one the kernel refuses (EINVAL)
        try:
            data = call.read(address, length)
        except OSError:
            return None  # the kernel's EFAULT
        if int.from_bytes(data[:2], "little") != AF_UNIX or data[2] == 0:
            return None  # another family, or an abstract name (no file)
        raw = os.fsdecode(data[2:].split(b"\0", 1)[0])
        try:
            where = self.resolver.resolve(call, raw, AT_FDCWD, index)
        except PathError as error:
            return call.fail(error.errno)
        if where is None:
            return None
        if self.paths.hidden(where.virtual, where.host):
            return call.fail(errno.ENOENT)
        if call.name == "bind" and self.readonly_hit(call, index, where):
            return call.fail(errno.EROFS)
        if where.rewrite is None:
            return None
        host = os.fsencode(where.rewrite)
        if len(host) >= SUN_PATH_MAX:
            # The host path does not fit in sun_path; the kernel has no call that takes a
            # socket's name relative to a directory.
            return call.fail(errno.ENAMETOOLONG)
        return call.rewrite(addr=where.rewrite)  # encoded, with its length

    def on_name(self, call: Call) -> Decision | None:
        """``getsockname``/``getpeername``: an ``AF_UNIX`` name the kernel writes back (the
        host path a mapped ``bind`` gave it) is made the virtual one at syscall exit."""
        address, length_at = call.raw[1], call.raw[2]
        if address == 0 or length_at == 0:
            return None
        try:
            room = int.from_bytes(call.read(length_at, 4), "little", signed=True)
        except OSError:
            return None  # the kernel's EFAULT
        if room <= 2:
            return None
        paths = self.paths

        def virtual_name(result: Result) -> int | None:
            if result.failed:
                return None
            try:
                length = int.from_bytes(call.read(length_at, 4), "little", signed=True)
                data = call.read(address, min(length, room))
            except OSError:
                return None
            if len(data) <= 2 or int.from_bytes(data[:2], "little") != AF_UNIX or not data[2]:
                return None  # another family, unnamed, or abstract
            host = os.fsdecode(data[2:].split(b"\0", 1)[0])
            virtual = to_virtual(paths, host)
            if virtual is None or virtual == host:
                return None
            name = data[:2] + os.fsencode(virtual) + b"\0"
            # As the kernel does: the full length is told, what fits is written.
            call.write(address, name[: min(len(name), room)])
            call.write(length_at, len(name).to_bytes(4, "little"))
            return None

        return call.observe(virtual_name)


def _int32(register: int) -> int:
    """An ``int`` argument as the kernel reads it: the low 32 bits, signed."""
    return ((register & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
