"""Decoders of arrays of structures: ``iovec`` lists (``readv``, ``writev``, ``process_vm_*``),
``sembuf`` operations, as strace prints arrays: at most ``-s`` elements then ``...``, and where
the array runs into unreadable memory ``... /* 0x7f... */`` with the first unreadable address
(the address alone when not even the first element is readable).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.abi.errnos import errno_name
from sysemu.tools.trace import render
from sysemu.tools.trace.context import Context

_IOVEC = struct.Struct("<QQ")
_SEMBUF = struct.Struct("<Hhh")
_UINT64 = struct.Struct("<Q")
SEM_FLAGS = ((0x1000, "SEM_UNDO"), (0o4000, "IPC_NOWAIT"))


def array_text(
    ctx: Context,
    address: int,
    count: int,
    layout: struct.Struct,
    item: Callable[..., str],
    *,
    most: int | None = None,
) -> str:
    """``count`` elements of ``layout`` at ``address``, each shown by ``item(*fields)``, read as
    the program passed them (also at exit of a failed call); at most ``-s`` of them, or
    ``most`` when fewer (the most the kernel takes)."""
    limit = ctx.limit if most is None else min(ctx.limit, most)
    if address == 0:
        return "NULL"
    if count <= 0:
        return "[]"
    reader = Context(ctx.call, limit=ctx.limit, exiting=False)
    items: list[str] = []
    for position in range(count):
        here = address + position * layout.size
        fields = reader.unpack(here, layout)
        if fields is None:
            if not items:
                return render.pointer(address)
            items.append(f"... /* {here:#x} */")
            break
        if position >= limit:  # (strace reads the element it leaves out)
            items.append("...")
            break
        items.append(item(*fields))
    return "[" + ", ".join(items) + "]"


def _count(ctx: Context, index: int) -> int:
    return ctx.call.args.value(index + 1)


def dec_iovec_in(ctx: Context, value: int, index: int) -> str:
    """``[{iov_base="data", iov_len=4}]``: the buffers a program writes (``writev``), each cut
    at the string limit; counted by the next argument."""

    def item(base: int, length: int) -> str:
        return f"{{iov_base={ctx.buffer(base, length)}, iov_len={length}}}"

    return array_text(ctx, value, _count(ctx, index), _IOVEC, item)


def dec_iovec_out(ctx: Context, value: int, index: int) -> str:
    """The buffers the kernel filled (``readv``): as many bytes in all as the result says;
    their addresses when the call failed."""
    result = ctx.result
    left = [result if result is not None and result >= 0 else -1]

    def item(base: int, length: int) -> str:
        if left[0] < 0:
            return f"{{iov_base={render.pointer(base)}, iov_len={length}}}"
        shown = min(length, left[0])
        left[0] -= shown
        return f"{{iov_base={ctx.buffer(base, shown)}, iov_len={length}}}"

    return array_text(ctx, value, _count(ctx, index), _IOVEC, item)


def dec_iovec_addresses(ctx: Context, value: int, index: int) -> str:
    """``[{iov_base=0x7f..., iov_len=8}]``: buffers of another process or ranges of memory
    (``process_vm_readv``, ``process_madvise``), shown by address."""

    def item(base: int, length: int) -> str:
        return f"{{iov_base={render.pointer(base)}, iov_len={length}}}"

    return array_text(ctx, value, _count(ctx, index), _IOVEC, item)


def dec_sembufs(ctx: Context, value: int, index: int) -> str:
    """``[{sem_num=0, sem_op=-1, sem_flg=SEM_UNDO}]``: ``semop``'s operations."""

    def item(number: int, operation: int, flags: int) -> str:
        shown = render.flags(flags & 0xFFFF, SEM_FLAGS)
        return f"{{sem_num={number}, sem_op={operation}, sem_flg={shown}}}"

    return array_text(ctx, value, _count(ctx, index), _SEMBUF, item)


def dec_offset_updated(ctx: Context, value: int, index: int) -> str:
    """``[0] => [4096]``: a file offset the kernel moves (``sendfile``, shown unsigned as strace
    does); a ``BOTH`` decoder, whose text at entry is the offset passed in."""
    if not ctx.exiting:
        fields = ctx.unpack(value, _UINT64)
        return "" if fields is None else str(fields[0])
    offered = ctx.saved.get(index)
    if not offered:
        return render.pointer(value)
    fields = ctx.unpack(value, _UINT64)
    if fields is None or str(fields[0]) == offered:
        return f"[{offered}]"
    return f"[{offered}] => [{fields[0]}]"


_FUTEX_WAITV = struct.Struct("<QQII")
_FUTEX_WAITV_MAX = 128
FUTEX2_FLAGS = ((2, "FUTEX_32"), (128, "FUTEX_PRIVATE_FLAG"))
_WORD = struct.Struct("<Q")
_INT = struct.Struct("<i")


def _hex0(value: int) -> str:
    return hex(value) if value else "0"


def dec_futex_waiters(ctx: Context, value: int, index: int) -> str:
    """``[{val=0x1, uaddr=0x7f..., flags=FUTEX_32|FUTEX_PRIVATE_FLAG}]``: ``futex_waitv``'s
    futexes (the reserved word only when set)."""

    def item(expected: int, address: int, flags: int, reserved: int) -> str:
        text = (f"{{val={_hex0(expected)}, uaddr={render.pointer(address)}, "
                f"flags={render.flags(flags, FUTEX2_FLAGS)}")  # fmt: skip
        return text + (f", __reserved={_hex0(reserved)}}}" if reserved else "}")

    count = _count(ctx, index) & 0xFFFFFFFF
    return array_text(ctx, value, count, _FUTEX_WAITV, item, most=_FUTEX_WAITV_MAX)


def dec_page_addresses(ctx: Context, value: int, index: int) -> str:
    """``[0x7f...]``: ``move_pages``' pages, as many as the argument before says."""
    count = ctx.call.args.value(index - 1)
    return array_text(ctx, value, count, _WORD, render.pointer)


def dec_nodes_in(ctx: Context, value: int, index: int) -> str:
    """``[0, 1]``: ``move_pages``' target nodes, one per page."""
    count = ctx.call.args.value(index - 2)
    return array_text(ctx, value, count, _INT, str)


def dec_page_status_out(ctx: Context, value: int, index: int) -> str:
    """``[0]``: the node or error ``move_pages`` stored per page."""
    if not ctx.succeeded:
        return render.pointer(value)
    count = ctx.call.args.value(index - 3)
    return array_text(ctx, value, count, _INT, _node_or_error)


def _node_or_error(value: int) -> str:
    if value >= 0:
        return str(value)
    try:
        return f"-{errno_name(-value)}"
    except ValueError:
        return str(value)


_KEXEC_SEGMENT = struct.Struct("<QQQQ")
_KEXEC_SEGMENT_MAX = 16


def dec_kexec_segments(ctx: Context, value: int, index: int) -> str:
    """``[{buf=..., bufsz=..., mem=..., memsz=...}]``: ``kexec_load``'s segments, as many as
    the argument before says (the address when more than the kernel takes)."""
    count = ctx.call.args.value(index - 1)
    if count > _KEXEC_SEGMENT_MAX:
        return render.pointer(value)

    def item(buffer: int, size: int, memory: int, memory_size: int) -> str:
        return (f"{{buf={render.pointer(buffer)}, bufsz={size}, mem={render.pointer(memory)}, "
                f"memsz={memory_size}}}")  # fmt: skip

    return array_text(ctx, value, count, _KEXEC_SEGMENT, item)
