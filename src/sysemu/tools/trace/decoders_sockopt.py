"""``getsockopt`` and ``setsockopt``: socket option levels and names, and the values of the
``SOL_SOCKET`` options strace decodes (integers, ``SO_LINGER``, ``SO_PEERCRED``,
``SO_ERROR``), cut field by field at the length the call gives, as strace shows them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.abi.errnos import errno_name
from sysemu.tools.trace import render
from sysemu.tools.trace.context import Context
from sysemu.tools.trace.sockopt_levels import LEVEL_OPTIONS, SET_VALUES, option_name

SOCKET_LEVELS = {0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6",
                 255: "SOL_RAW", 263: "SOL_PACKET", 270: "SOL_NETLINK"}  # fmt: skip
SOL_SOCKET = 1
SOCKET_OPTIONS = {number: name for number, name in enumerate((
    None, "SO_DEBUG", "SO_REUSEADDR", "SO_TYPE", "SO_ERROR", "SO_DONTROUTE", "SO_BROADCAST",
    "SO_SNDBUF", "SO_RCVBUF", "SO_KEEPALIVE", "SO_OOBINLINE", "SO_NO_CHECK", "SO_PRIORITY",
    "SO_LINGER", "SO_BSDCOMPAT", "SO_REUSEPORT", "SO_PASSCRED", "SO_PEERCRED", "SO_RCVLOWAT",
    "SO_SNDLOWAT", "SO_RCVTIMEO_OLD", "SO_SNDTIMEO_OLD", "SO_SECURITY_AUTHENTICATION",
    "SO_SECURITY_ENCRYPTION_TRANSPORT", "SO_SECURITY_ENCRYPTION_NETWORK", "SO_BINDTODEVICE",
    "SO_ATTACH_FILTER", "SO_DETACH_FILTER", "SO_PEERNAME", "SO_TIMESTAMP_OLD", "SO_ACCEPTCONN",
    "SO_PEERSEC", "SO_SNDBUFFORCE", "SO_RCVBUFFORCE", "SO_PASSSEC", "SO_TIMESTAMPNS_OLD",
    "SO_MARK", "SO_TIMESTAMPING_OLD", "SO_PROTOCOL", "SO_DOMAIN", "SO_RXQ_OVFL",
    "SO_WIFI_STATUS", "SO_PEEK_OFF", "SO_NOFCS", "SO_LOCK_FILTER", "SO_SELECT_ERR_QUEUE",
    "SO_BUSY_POLL", "SO_MAX_PACING_RATE", "SO_BPF_EXTENSIONS", "SO_INCOMING_CPU",
    "SO_ATTACH_BPF", "SO_ATTACH_REUSEPORT_CBPF", "SO_ATTACH_REUSEPORT_EBPF", "SO_CNX_ADVICE",
    None, "SO_MEMINFO", "SO_INCOMING_NAPI_ID", "SO_COOKIE", None, "SO_PEERGROUPS",
    "SO_ZEROCOPY", "SO_TXTIME", "SO_BINDTOIFINDEX", "SO_TIMESTAMP_NEW", "SO_TIMESTAMPNS_NEW",
    "SO_TIMESTAMPING_NEW", "SO_RCVTIMEO_NEW", "SO_SNDTIMEO_NEW", "SO_DETACH_REUSEPORT_BPF",
    "SO_PREFER_BUSY_POLL", "SO_BUSY_POLL_BUDGET", "SO_NETNS_COOKIE", "SO_BUF_LOCK",
    "SO_RESERVE_MEM", "SO_TXREHASH", "SO_RCVMARK",
)) if name is not None}  # fmt: skip
"""``asm-generic/socket.h``'s ``SO_*`` options by number."""

_INT = struct.Struct("<i")
_UINT = struct.Struct("<I")


def _errno(value: int) -> str:
    try:
        return errno_name(value) if value > 0 else str(value)
    except ValueError:
        return str(value)


def _id(value: int) -> str:
    return "-1" if value == 0xFFFFFFFF else str(value)


Field = tuple[str, struct.Struct, Callable[[int], str]]
# Options whose value is a structure: its fields; the rest of SOL_SOCKET's are an int.
_STRUCTS: dict[int, tuple[Field, ...]] = {
    13: (("l_onoff", _INT, str), ("l_linger", _INT, str)),  # SO_LINGER
    17: (("pid", _INT, str), ("uid", _UINT, _id), ("gid", _UINT, _id)),  # SO_PEERCRED
}
_INT_FORMATS: dict[int, Callable[[int], str]] = {4: _errno}  # SO_ERROR


def dec_socket_level(_ctx: Context, value: int, _index: int) -> str:
    """``SOL_SOCKET``, or the number."""
    return SOCKET_LEVELS.get(value, str(value))


def dec_socket_option(ctx: Context, value: int, _index: int) -> str:
    """``SO_LINGER``, ``IP_ADD_MEMBERSHIP``: an option by its level's name for it; the number
    at a level without names."""
    level = ctx.call.args.value(1)
    if level == SOL_SOCKET:
        return render.xval(value, SOCKET_OPTIONS, "SO_???")
    if level in LEVEL_OPTIONS:
        return option_name(level, value)
    return str(value)


def option_value(ctx: Context, address: int, length: int, *, whole: bool) -> str:
    """The value of the option the call names, ``length`` bytes at ``address``; ``whole``:
    the address unless all of it is there (what ``setsockopt`` passes)."""
    args = ctx.call.args
    if address == 0:
        return "NULL"
    level_value = SET_VALUES.get((args.value(1), args.value(2)))
    if level_value is not None and whole:
        size, least, most, text_of = level_value
        if not least <= length <= most:
            return render.pointer(address)
        data = ctx.fetch(address, size)
        return render.pointer(address) if data is None else text_of(data)
    if length <= 0 or args.value(1) != SOL_SOCKET:
        return render.pointer(address)
    option = args.value(2)
    fields = _STRUCTS.get(option, (("", _INT, _INT_FORMATS.get(option, str)),))
    size = sum(field[1].size for field in fields)
    if whole and length < size:
        return render.pointer(address)
    data = ctx.fetch(address, min(length, size))
    if data is None:
        return render.pointer(address)
    parts = []
    offset = 0
    for name, layout, shown in fields:
        piece = data[offset : offset + layout.size]
        if not piece:
            break
        if len(piece) < layout.size:  # a field cut short: its bytes
            text = render.quote(piece, len(piece), hex_bytes=True)
        else:
            text = shown(layout.unpack(piece)[0])
        parts.append(f"{name}={text}" if name else text)
        offset += layout.size
    if option in _STRUCTS:
        return "{" + ", ".join(parts) + "}"
    return f"[{parts[0]}]" if len(data) >= size else parts[0]


def dec_sockopt_in(ctx: Context, value: int, index: int) -> str:
    """``setsockopt``'s value, as long as the next argument says."""
    return option_value(ctx, value, ctx.call.args.value(index + 1), whole=True)


def dec_sockopt_out(ctx: Context, value: int, index: int) -> str:
    """``getsockopt``'s value, as long as the kernel says it wrote."""
    if not ctx.succeeded:
        return render.pointer(value)
    fields = ctx.unpack(ctx.call.args.value(index + 1), _INT)
    if fields is None:
        return render.pointer(value)
    return option_value(ctx, value, fields[0], whole=False)


def dec_sockopt_length(ctx: Context, value: int, index: int) -> str:
    """``[4]`` or ``[5 => 4]``: ``getsockopt``'s length, offered and returned (a ``BOTH``
    decoder: its text at entry is the length offered)."""
    if not ctx.exiting:
        fields = ctx.unpack(value, _INT)
        return "" if fields is None else str(fields[0])
    offered = ctx.saved.get(index)
    if not offered:
        return render.pointer(value)
    fields = ctx.unpack(value, _INT) if ctx.succeeded else None
    if fields is None or str(fields[0]) == offered:
        return f"[{offered}]"
    return f"[{offered} => {fields[0]}]"
