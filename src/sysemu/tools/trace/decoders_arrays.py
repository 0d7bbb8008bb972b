"""Decoders of arrays of structures: ``iovec`` lists (``readv``, ``writev``, ``process_vm_*``),
``sembuf`` operations, as strace prints arrays: at most ``-s`` elements then ``...``, and where
the array runs into unreadable memory ``... /* 0x7f... */`` with the first unreadable address
(the address alone when not even the first element is readable).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.tools.trace import render
from sysemu.tools.trace.context import Context

_IOVEC = struct.Struct("<QQ")
_SEMBUF = struct.Struct("<Hhh")
_UINT64 = struct.Struct("<Q")
SEM_FLAGS = ((0x1000, "SEM_UNDO"), (0o4000, "IPC_NOWAIT"))


def array_text(
    ctx: Context, address: int, count: int, layout: struct.Struct, item: Callable[..., str]
) -> str:
    """``count`` elements of ``layout`` at ``address``, each shown by ``item(*fields)``, read as
    the program passed them (also at exit of a failed call)."""
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
        if position >= ctx.limit:  # (strace reads the element it leaves out)
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
