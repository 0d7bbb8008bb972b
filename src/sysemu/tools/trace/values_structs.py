"""The structured forms of the structures and arrays the text trace decodes in
:mod:`~sysemu.tools.trace.decoders_structs`: objects of their fields, arrays of their
elements (see :mod:`sysemu.tools.trace.values` for the conventions).

Each reads what its text decoder reads, when it reads it (input structures at entry, output
structures at exit of a call that succeeded); where the text shows the address, the form is
the address as a number.
"""

from __future__ import annotations

import os
import struct

from sysemu.abi import layouts
from sysemu.abi import sockaddr as sockaddr_layout
from sysemu.abi.layouts import Layout
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context, Decoder, StructuredDecoder
from sysemu.tools.trace.decoders_scalar import (
    ARCH_PRCTL_CODES,
    IOCTL_REQUESTS,
    dec_arch_prctl_code,
    dec_ioctl_request,
    dec_socket_protocol,
)
from sysemu.tools.trace.decoders_structs import (
    dec_cpu_set_in,
    dec_cpu_set_out,
    dec_dirents,
    dec_groups_in,
    dec_groups_out,
    dec_int_out,
    dec_pollfds,
    dec_remaining,
    dec_rlimit,
    dec_rlimit64,
    dec_rusage,
    dec_sigaction,
    dec_sigreturn_mask,
    dec_sigset,
    dec_sockaddr,
    dec_sockaddr_out,
    dec_socklen,
    dec_statx,
    dec_sysinfo,
    dec_utsname,
    dec_wait_status,
)
from sysemu.tools.trace.values import flag_set, text

_INT = struct.Struct("<i")


def signals(mask: int, size: int = 8) -> list[str]:
    """The names of the signals in a set of ``size`` bytes (bit ``n - 1`` is signal ``n``)."""
    return [render.signal(bit + 1) for bit in range(size * 8) if mask >> bit & 1]


def _sigset(ctx: Context, value: int, _index: int) -> object:
    size = ctx.call.args.value(len(ctx.call.syscall.params) - 1)
    data = ctx.fetch(value, size) if ctx.word <= size <= 8 else None
    return value if data is None else signals(int.from_bytes(data, "little"), len(data))


def _sigaction(ctx: Context, value: int, _index: int) -> object:
    layout = layouts.SIGACTION.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return value
    handler, flags, restorer, mask = fields
    if ctx.call.abi.pointer_size == 4 and handler == 0xFFFFFFFF:
        handler = 0xFFFFFFFFFFFFFFFF
    record: dict[str, object] = {
        "sa_handler": xlat.SA_HANDLERS.get(handler, handler),
        "sa_mask": signals(mask),
        "sa_flags": flag_set(flags, xlat.SA_FLAGS),
    }
    if flags & xlat.SA_RESTORER:
        record["sa_restorer"] = restorer
    return record


def wait_status(status: int) -> dict[str, object]:
    """A wait status as the macros read it: ``{"raw": 256, "exited": true, "status": 1}``,
    ``{"raw": 9, "signaled": true, "signal": "SIGKILL", "core_dumped": false}``,
    ``{"raw": 4991, "stopped": true, "signal": "SIGSTOP"}``, ``{"raw": 65535, "continued":
    true}``."""
    low = status & 0x7F
    if status & 0xFF == 0x7F:
        return {"raw": status, "stopped": True, "signal": render.signal(status >> 8 & 0x7F)}
    if status == 0xFFFF:
        return {"raw": status, "continued": True}
    if low:
        return {"raw": status, "signaled": True, "signal": render.signal(low),
                "core_dumped": bool(status & 0x80)}  # fmt: skip
    return {"raw": status, "exited": True, "status": status >> 8 & 0xFF}


def _wait_status(ctx: Context, value: int, _index: int) -> object:
    fields = ctx.unpack(value, _INT) if ctx.result else None
    return value if fields is None else [wait_status(fields[0] & 0xFFFFFFFF)]


def _rlimit_of(layout: Layout | None, ctx: Context, value: int) -> object:
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return value
    infinity = (1 << layout.size * 4) - 1
    current, maximum = (None if field == infinity else field for field in fields)
    return {"rlim_cur": current, "rlim_max": maximum}  # None: RLIM_INFINITY


def _rlimit64(ctx: Context, value: int, _index: int) -> object:
    return _rlimit_of(layouts.RLIMIT64, ctx, value)


def _rlimit(ctx: Context, value: int, _index: int) -> object:
    return _rlimit_of(layouts.RLIMIT.get(ctx.call.abi), ctx, value)


def sockaddr(data: bytes) -> dict[str, object]:
    """A socket address (as :func:`sysemu.abi.sockaddr.decode` reads it): ``{"family":
    "AF_INET", "port": 80, "address": "10.0.0.1"}``, ``{"family": "AF_UNIX", "path":
    "/run/x"}`` (``@name`` for an abstract one), ``AF_INET6`` with ``flowinfo`` and
    ``scope_id``, ``AF_NETLINK`` with ``pid`` and ``groups``, or the family and ``data``, the
    bytes after it in hex."""
    address = sockaddr_layout.decode(data)
    if address is None:
        return {"family": None, "data": data.hex()}
    number = address.family
    record: dict[str, object] = {"family": xlat.ADDRESS_FAMILIES.get(number, number)}
    if address.path is not None:
        # The bytes again, as every string of the trace is written (no lone surrogates).
        path = text(os.fsencode(address.path))
        record["path"] = "@" + path[1:] if address.abstract else path
    elif address.host is not None:
        record["port"] = address.port
        record["address"] = address.host
        if number == sockaddr_layout.AF_INET6:
            record["flowinfo"] = address.flowinfo
            record["scope_id"] = address.scope_id
    elif number == sockaddr_layout.AF_NETLINK and len(data) >= 12:
        record["pid"], record["groups"] = struct.unpack("<iI", data[4:12])
    elif len(data) > 2:
        record["data"] = data[2:].hex()
    return record


_SOCKADDR_MAX = sockaddr_layout.SOCKADDR_STORAGE_SIZE


def _read_sockaddr(ctx: Context, address: int, length: int) -> object:
    data = ctx.fetch(address, min(length, _SOCKADDR_MAX)) if length >= 2 else None
    return address if data is None else sockaddr(data)


def _sockaddr(ctx: Context, value: int, index: int) -> object:
    return _read_sockaddr(ctx, value, ctx.call.args.value(index + 1))


def _sockaddr_out(ctx: Context, value: int, index: int) -> object:
    offered = ctx.saved.get(index + 1)
    fields = ctx.unpack(ctx.call.args.value(index + 1), _INT) if offered else None
    if offered is None or fields is None:
        return value
    return _read_sockaddr(ctx, value, min(int(offered), fields[0]))


def _socklen(ctx: Context, value: int, index: int) -> object:
    """``{"offered": 110, "returned": 16}``: the length in, and as the kernel left it."""
    offered = ctx.saved.get(index)
    fields = ctx.unpack(value, _INT) if offered else None
    if not offered:
        return value
    return {"offered": int(offered), "returned": None if fields is None else fields[0]}


_POLLFD = struct.Struct("<ihh")


def _pollfds(ctx: Context, value: int, index: int) -> object:
    count = ctx.call.args.value(index + 1) & 0xFFFFFFFF
    if value == 0:
        return None
    items: list[object] = []
    for position in range(min(count, 4096)):
        fields = ctx.unpack(value + position * _POLLFD.size, _POLLFD)
        if fields is None:
            return items or value
        fd, events, revents = fields
        item: dict[str, object] = {"fd": fd, "events": flag_set(events & 0xFFFF, xlat.POLL_FLAGS)}
        if ctx.exiting:
            item["revents"] = flag_set(revents & 0xFFFF, xlat.POLL_FLAGS)
        items.append(item)
    if count > 4096:
        ctx.cut = True
    return items


_UTSNAME_FIELD = 65
_UTSNAME_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")


def _utsname(ctx: Context, value: int, _index: int) -> object:
    data = ctx.fetch(value, len(_UTSNAME_FIELDS) * _UTSNAME_FIELD)
    if data is None:
        return value
    return {
        name: text(data[i * _UTSNAME_FIELD : (i + 1) * _UTSNAME_FIELD].split(b"\0", 1)[0])
        for i, name in enumerate(_UTSNAME_FIELDS)
    }


def _statx(ctx: Context, value: int, _index: int) -> object:
    fields = ctx.unpack(value, layouts.STATX.codec)
    if fields is None:
        return value
    mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks = fields
    return {"stx_mask": flag_set(mask, xlat.STATX_MASK), "stx_blksize": blksize,
            "stx_attributes": flag_set(attributes, xlat.STATX_ATTRS), "stx_nlink": nlink,
            "stx_uid": uid, "stx_gid": gid, "stx_mode": mode, "stx_ino": ino,
            "stx_size": size, "stx_blocks": blocks}  # fmt: skip


_DIRENT64 = struct.Struct("<QqHB")  # d_ino, d_off, d_reclen, d_type


def _dirents(ctx: Context, value: int, _index: int) -> object:
    """The entries ``getdents64`` wrote: ``[{"d_ino", "d_type", "d_name"}, ...]``."""
    result = ctx.result
    if not ctx.succeeded or result is None or result > ctx.call.args.value(2):
        return value
    try:
        data = ctx.call.memory.read(value, result, partial=True) if result else b""
    except OSError:
        return value
    items: list[object] = []
    offset = 0
    while offset + _DIRENT64.size <= len(data):
        ino, _off, reclen, kind = _DIRENT64.unpack_from(data, offset)
        if reclen < _DIRENT64.size:
            break
        name = data[offset + _DIRENT64.size : offset + reclen].split(b"\0", 1)[0]
        items.append({"d_ino": ino, "d_type": kind, "d_name": text(name)})
        offset += reclen
    return items


def _rusage(ctx: Context, value: int, _index: int) -> object:
    if ctx.call.name == "wait4" and not (ctx.result and ctx.result > 0):
        return value
    layout = layouts.RUSAGE_TIMES.get(ctx.call.abi) if ctx.native else None
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return value
    return {"ru_utime": {"tv_sec": fields[0], "tv_usec": fields[1]},
            "ru_stime": {"tv_sec": fields[2], "tv_usec": fields[3]}}  # fmt: skip


def _int_array(ctx: Context, address: int, count: int) -> object:
    if address == 0:
        return None
    data = ctx.fetch(address, 4 * min(count, 65536))
    if data is None:
        return address
    return [-1 if gid == 0xFFFFFFFF else gid for gid in struct.unpack(f"<{len(data) // 4}I", data)]


def _groups_out(ctx: Context, value: int, _index: int) -> object:
    count = ctx.result
    if not ctx.succeeded or count is None:
        return value
    return _int_array(ctx, value, count)


def _groups_in(ctx: Context, value: int, index: int) -> object:
    return _int_array(ctx, value, ctx.call.args.value(index - 1) & 0xFFFFFFFF)


def _cpus(ctx: Context, address: int, size: int) -> object:
    data = ctx.fetch(address, size) if size else b""
    if data is None:
        return address
    mask = int.from_bytes(data, "little")
    return [cpu for cpu in range(size * 8) if mask >> cpu & 1]


def _cpu_set_out(ctx: Context, value: int, _index: int) -> object:
    result = ctx.result
    if not ctx.succeeded or result is None or value == 0:
        return value
    return _cpus(ctx, value, result)


def _cpu_set_in(ctx: Context, value: int, index: int) -> object:
    return _cpus(ctx, value, ctx.call.args.value(index - 1) & 0xFFFFFFFF) if value else None


def _int_out(ctx: Context, value: int, _index: int) -> object:
    fields = ctx.unpack(value, _INT)
    return value if fields is None else [fields[0]]


def _remaining(ctx: Context, value: int, index: int) -> object:
    result = ctx.result
    restarted = result is not None and -516 <= result <= -512
    if not restarted:
        return value
    entry = Context(ctx.call, limit=ctx.limit, exiting=False)
    old = ctx.call.abi.word_bits == 32 and not ctx.call.name.endswith("_time64")
    fields = entry.unpack(value, struct.Struct("<iI" if old else "<qq"))
    return value if fields is None else {"tv_sec": fields[0], "tv_nsec": fields[1]}


_SYSINFO_FIELDS = ("totalram", "freeram", "sharedram", "bufferram", "totalswap", "freeswap",
                   "procs", "pad", "totalhigh", "freehigh", "mem_unit")  # fmt: skip


def _sysinfo(ctx: Context, value: int, _index: int) -> object:
    layout = layouts.SYSINFO.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return value
    record: dict[str, object] = {"uptime": fields[0], "loads": list(fields[1:4])}
    record.update(zip(_SYSINFO_FIELDS, fields[4:], strict=True))
    del record["pad"]
    return record


def _sigreturn_mask(ctx: Context, _value: int, _index: int) -> object:
    from_sp = layouts.SIGRETURN_MASK_FROM_SP.get(ctx.call.abi)
    address = ctx.call.sp + (from_sp or 0)
    data = ctx.fetch(address, 8) if from_sp is not None and ctx.call.sp else None
    return {"mask": address if data is None else signals(int.from_bytes(data, "little"))}


def _ioctl_request(_ctx: Context, value: int, _index: int) -> object:
    return {"raw": value & 0xFFFFFFFF, "name": IOCTL_REQUESTS.get(value & 0xFFFFFFFF)}


def _arch_prctl_code(_ctx: Context, value: int, _index: int) -> object:
    return {"raw": value, "name": ARCH_PRCTL_CODES.get(value)}


def _socket_protocol(ctx: Context, value: int, _index: int) -> object:
    family = ctx.call.args.value(0)
    names = {2: xlat.INET_PROTOCOLS, 10: xlat.INET_PROTOCOLS, 16: xlat.NETLINK_PROTOCOLS}
    return {"raw": value & 0xFFFFFFFF, "name": names.get(family, {}).get(value)}


STRUCTURES: dict[Decoder, StructuredDecoder] = {
    dec_sigset: _sigset,
    dec_sigaction: _sigaction,
    dec_wait_status: _wait_status,
    dec_rlimit64: _rlimit64,
    dec_rlimit: _rlimit,
    dec_sockaddr: _sockaddr,
    dec_sockaddr_out: _sockaddr_out,
    dec_socklen: _socklen,
    dec_pollfds: _pollfds,
    dec_utsname: _utsname,
    dec_sysinfo: _sysinfo,
    dec_sigreturn_mask: _sigreturn_mask,
    dec_statx: _statx,
    dec_dirents: _dirents,
    dec_rusage: _rusage,
    dec_groups_out: _groups_out,
    dec_groups_in: _groups_in,
    dec_cpu_set_out: _cpu_set_out,
    dec_cpu_set_in: _cpu_set_in,
    dec_int_out: _int_out,
    dec_remaining: _remaining,
    dec_ioctl_request: _ioctl_request,
    dec_arch_prctl_code: _arch_prctl_code,
    dec_socket_protocol: _socket_protocol,
}  # fmt: skip
"""The structured form of each text decoder of a structure, by decoder (in
:data:`~sysemu.tools.trace.context.STRUCTURED` too)."""
STRUCTURED.update(STRUCTURES)
