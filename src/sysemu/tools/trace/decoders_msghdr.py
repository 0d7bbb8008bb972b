"""``sendmsg``, ``recvmsg``, ``sendmmsg`` and ``recvmmsg``: the ``msghdr`` of each message
(its address, data buffers, control messages, flags) as strace shows them; of the control
messages' data, the socket timestamps only.
"""

from __future__ import annotations

import struct

from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import Context
from sysemu.tools.trace.decoders_arrays import array_text
from sysemu.tools.trace.decoders_structs import read_sockaddr

_MSGHDR = struct.Struct("<QI4xQQQQi4x")
_MMSGHDR = struct.Struct("<QI4xQQQQi4xI4x")
_IOVEC = struct.Struct("<QQ")
_TIMESPEC = struct.Struct("<qQ")


def _iovecs(ctx: Context, address: int, count: int, data_left: int | None) -> str:
    """The buffers: their bytes (at most ``data_left`` in all, when given: what was
    received), read as the program passed the array."""
    left = [data_left]

    def item(base: int, length: int) -> str:
        remaining = left[0]
        if remaining is None:
            return f"{{iov_base={ctx.buffer(base, length)}, iov_len={length}}}"
        shown = min(length, remaining)
        left[0] = remaining - shown
        return f"{{iov_base={ctx.buffer(base, shown)}, iov_len={length}}}"

    return array_text(ctx, address, count, _IOVEC, item)


_CMSGHDR = struct.Struct("<Qii")
_SOL_SOCKET = 1
_TIME_PAIR = struct.Struct("<qq")
# SOL_SOCKET's control messages strace decodes: type -> (name, the second field's name).
_SOCKET_TIMES = {
    29: ("SO_TIMESTAMP_OLD", "tv_usec"), 35: ("SO_TIMESTAMPNS_OLD", "tv_nsec"),
    63: ("SO_TIMESTAMP_NEW", "tv_usec"), 64: ("SO_TIMESTAMPNS_NEW", "tv_nsec"),
}  # fmt: skip
_CONTROL_MAX = 1 << 16


def _control_message(level: int, kind: int, data: bytes) -> str:
    if level != _SOL_SOCKET or kind not in _SOCKET_TIMES:
        return f"cmsg_level={level}, cmsg_type={kind:#x}"
    name, fraction = _SOCKET_TIMES[kind]
    text = f"cmsg_level=SOL_SOCKET, cmsg_type={name}"
    if len(data) >= _TIME_PAIR.size:
        seconds, part = _TIME_PAIR.unpack_from(data)
        text += f", cmsg_data={{tv_sec={seconds}, {fraction}={part}}}"
    return text


def _control(ctx: Context, address: int, length: int) -> str:
    """``[{cmsg_len=32, cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMP_OLD, cmsg_data={...}}]``:
    the control messages (their data for the socket timestamps only), or the address."""
    data = ctx.fetch(address, min(length, _CONTROL_MAX))
    if data is None:
        return render.pointer(address)
    items = []
    offset = 0
    while offset + _CMSGHDR.size <= len(data):
        size, level, kind = _CMSGHDR.unpack_from(data, offset)
        body = data[offset + _CMSGHDR.size : offset + max(size, _CMSGHDR.size)]
        items.append(f"{{cmsg_len={size}, {_control_message(level, kind, body)}}}")
        if size < _CMSGHDR.size:
            break
        offset += (size + 7) & ~7
    return "[" + ", ".join(items) + "]" if items else render.pointer(address)


def msghdr_text(
    ctx: Context, fields: tuple[int, ...], *, received: int | None, offered_namelen: int | None
) -> str:
    """A ``msghdr``'s fields; ``received``: the bytes a receive wrote (None for a send);
    ``offered_namelen``: the address length the program offered, when it changed."""
    name, namelen, iov, iovlen, control, controllen, flags = fields[:7]
    shown_len = min(namelen, offered_namelen) if offered_namelen is not None else namelen
    parts = [
        f"msg_name={'NULL' if not name else read_sockaddr(ctx, name, shown_len)}",
        f"msg_namelen={namelen}"
        if offered_namelen in (None, namelen)
        else f"msg_namelen={offered_namelen} => {namelen}",
        f"msg_iov={_iovecs(ctx, iov, iovlen, received)}",
        f"msg_iovlen={iovlen}",
    ]
    if controllen:
        parts.append(f"msg_control={_control(ctx, control, controllen)}")
    parts.append(f"msg_controllen={controllen}")
    parts.append(f"msg_flags={render.flags(flags & 0xFFFFFFFF, xlat.MSG_FLAGS)}")
    return "{" + ", ".join(parts) + "}"


def dec_msghdr_in(ctx: Context, value: int, _index: int) -> str:
    """``sendmsg``'s message."""
    fields = ctx.unpack(value, _MSGHDR)
    if fields is None:
        return render.pointer(value)
    return msghdr_text(ctx, fields, received=None, offered_namelen=None)


def dec_msghdr_out(ctx: Context, value: int, index: int) -> str:
    """``recvmsg``'s message as the kernel filled it (a ``BOTH`` decoder: at entry, the
    address length offered)."""
    if not ctx.exiting:
        fields = ctx.unpack(value, _MSGHDR)
        return "" if fields is None else str(fields[1])
    offered = ctx.saved.get(index)
    if not ctx.succeeded:  # the kernel filled nothing: what strace read at entry
        return f"{{msg_namelen={offered}}}" if offered and value else render.pointer(value)
    fields = ctx.unpack(value, _MSGHDR)
    if fields is None:
        return render.pointer(value)
    offered_namelen = int(offered) if offered else None
    return msghdr_text(ctx, fields, received=ctx.result, offered_namelen=offered_namelen)


def _mmsghdrs(ctx: Context, value: int, count: int, offered: list[int]) -> str:
    position = [0]

    def item(*fields: int) -> str:
        here = position[0]
        position[0] += 1
        namelen = offered[here] if here < len(offered) else None
        header = msghdr_text(ctx, fields, received=fields[7], offered_namelen=namelen)
        return f"{{msg_hdr={header}, msg_len={fields[7]}}}"

    return array_text(ctx, value, count, _MMSGHDR, item)


def dec_mmsghdrs_in(ctx: Context, value: int, index: int) -> str:
    """``sendmmsg``'s messages (at exit: as many as were sent, with their lengths)."""
    count = ctx.call.args.value(index + 1) & 0xFFFFFFFF
    if ctx.succeeded and ctx.result is not None:
        return _mmsghdrs_sent(ctx, value, min(count, ctx.result))
    return _mmsghdrs_sent(ctx, value, count, lengths=False)


def _mmsghdrs_sent(ctx: Context, value: int, count: int, *, lengths: bool = True) -> str:
    sent = Context(ctx.call, limit=ctx.limit, exiting=False)  # what was passed in

    def item(*fields: int) -> str:
        header = msghdr_text(sent, fields, received=None, offered_namelen=None)
        return f"{{msg_hdr={header}, msg_len={fields[7]}}}" if lengths else f"{{msg_hdr={header}}}"

    return array_text(ctx, value, count, _MMSGHDR, item)


def dec_mmsghdrs_out(ctx: Context, value: int, index: int) -> str:
    """``recvmmsg``'s messages: as many as were received, with their data and each address
    length offered and returned (a ``BOTH`` decoder: at entry, the lengths offered)."""
    if not ctx.exiting:
        count = min(ctx.call.args.value(index + 1) & 0xFFFFFFFF, ctx.limit + 1)
        lengths = []
        for position in range(count):
            fields = ctx.unpack(value + position * _MMSGHDR.size, _MMSGHDR)
            if fields is None:
                break
            lengths.append(str(fields[1]))
        return ",".join(lengths)
    if not ctx.succeeded or ctx.result is None:
        return render.pointer(value)
    saved = ctx.saved.get(index) or ""
    offered = [int(length) for length in saved.split(",") if length]
    return _mmsghdrs(ctx, value, ctx.result, offered)


def return_recvmmsg(ctx: Context, value: int) -> str | None:
    """``recvmmsg``'s result, with the time left of a timeout."""
    timeout = ctx.call.args.value(4)
    if not timeout:
        return None
    fields = ctx.unpack(timeout, _TIMESPEC)
    if fields is None:
        return None
    return f"{value} (left {{tv_sec={fields[0]}, tv_nsec={fields[1]}}})"
