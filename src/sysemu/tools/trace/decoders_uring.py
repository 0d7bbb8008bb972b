"""Decoders of the io_uring calls' arguments, text and structured forms side by side.

``io_uring_setup``'s ``struct io_uring_params`` is read twice, as strace 6.1 reads it: at
entry what the program asks for (``flags``, ``sq_thread_cpu``, ``sq_thread_idle``, and
``wq_fd`` with ``IORING_SETUP_ATTACH_WQ``), at exit what the kernel wrote back (the sizes, the
features and the ring offsets) when it made a ring; a call that failed wrote nothing back.

``io_uring_register``'s argument is an array of fds for the opcodes that register files or an
eventfd, an address otherwise (the probe, buffers and restrictions structures are not
decoded).
"""

from __future__ import annotations

from sysemu.abi.io_uring import (
    CQ_OFFSET_FIELDS,
    IO_URING_PARAMS,
    IORING_REGISTER_EVENTFD,
    IORING_REGISTER_EVENTFD_ASYNC,
    IORING_REGISTER_FILES,
    IORING_SETUP_ATTACH_WQ,
    SQ_OFFSET_FIELDS,
)
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context
from sysemu.tools.trace.values import flag_set

_FD_ARRAY_OPCODES = frozenset(
    {IORING_REGISTER_FILES, IORING_REGISTER_EVENTFD, IORING_REGISTER_EVENTFD_ASYNC}
)
_FD_SIZE = 4


def _x(value: int) -> str:
    """C's ``%#x``: ``0`` for zero, ``0x1f`` otherwise (strace's hex fields)."""
    return hex(value) if value else "0"


def _offsets(fields: tuple[int, ...], names: tuple[str, ...]) -> str:
    """``{head=0, tail=4, ...}``: numbers (``flags`` too: the offset of the flags, not flags),
    the reserved fields in hex and only when they are not zero."""
    shown = [f"{name}={field}" for name, field in zip(names[:7], fields[:7], strict=True)]
    shown += [f"{name}={_x(field)}" for name, field in zip(names[7:], fields[7:], strict=True)
              if field]  # fmt: skip
    return "{" + ", ".join(shown) + "}"


def dec_uring_params(ctx: Context, value: int, index: int) -> str:
    """``{flags=0, sq_thread_cpu=0, sq_thread_idle=0, sq_entries=8, cq_entries=16,
    features=IORING_FEAT_SINGLE_MMAP|..., sq_off={head=0, ...}, cq_off={...}}``: a
    :data:`~sysemu.tools.trace.context.BOTH` decoder (the request at entry, the ring at
    exit)."""
    if not ctx.exiting:
        fields = ctx.unpack(value, IO_URING_PARAMS)
        if fields is None:
            return render.pointer(value)
        flags, cpu, idle, wq_fd, resv = fields[2], fields[3], fields[4], fields[6], fields[7:10]
        shown = render.flags(flags, xlat.IORING_SETUP_FLAGS, unknown="IORING_SETUP_???")
        text = f"{{flags={shown}, sq_thread_cpu={_x(cpu)}, sq_thread_idle={idle}"
        if flags & IORING_SETUP_ATTACH_WQ:
            text += f", wq_fd={ctx.fd(wq_fd - (1 << 32) if wq_fd >> 31 else wq_fd)}"
        if any(resv):
            text += f", resv=[{', '.join(_x(field) for field in resv)}]"
        return text
    text = ctx.saved.get(index, render.pointer(value))
    if not text.startswith("{"):
        return text  # unreadable at entry: the address alone
    fields = ctx.unpack(value, IO_URING_PARAMS)
    if fields is None:  # the call failed: nothing more to show
        return text + "}"
    features = render.flags(fields[5], xlat.IORING_FEATURES, unknown="IORING_FEAT_???")
    return (f"{text}, sq_entries={fields[0]}, cq_entries={fields[1]}, features={features}"
            f", sq_off={_offsets(fields[10:19], SQ_OFFSET_FIELDS)}"
            f", cq_off={_offsets(fields[19:28], CQ_OFFSET_FIELDS)}}}")  # fmt: skip


def _uring_params(ctx: Context, value: int, _index: int) -> object:
    """The request's fields, and for a ring that was made the kernel's (sizes, features, the
    offsets of the rings' fields as objects)."""
    # Read as at entry: the request's fields are there whatever the result.
    entry = Context(ctx.call, limit=ctx.limit, exiting=False)
    fields = entry.unpack(value, IO_URING_PARAMS)
    if fields is None:
        return value
    record: dict[str, object] = {
        "flags": flag_set(fields[2], xlat.IORING_SETUP_FLAGS),
        "sq_thread_cpu": fields[3],
        "sq_thread_idle": fields[4],
        "wq_fd": fields[6] - (1 << 32) if fields[6] >> 31 else fields[6],
        "resv": list(fields[7:10]),
    }
    if ctx.succeeded:
        record["sq_entries"] = fields[0]
        record["cq_entries"] = fields[1]
        record["features"] = flag_set(fields[5], xlat.IORING_FEATURES)
        record["sq_off"] = dict(zip(SQ_OFFSET_FIELDS, fields[10:19], strict=True))
        record["cq_off"] = dict(zip(CQ_OFFSET_FIELDS, fields[19:28], strict=True))
    return record


def _registered_fds(ctx: Context, value: int) -> list[int] | None:
    """The fds of an ``io_uring_register`` that registers files or an eventfd, at most the
    string limit of them; None when the opcode takes something else or they cannot be read."""
    args = ctx.call.args
    if args.value(1) & 0xFFFFFFFF not in _FD_ARRAY_OPCODES or value == 0:
        return None
    count = min(args.value(3) & 0xFFFFFFFF, ctx.limit)
    data = ctx.fetch(value, count * _FD_SIZE) if count else b""
    if data is None:
        return None
    return [int.from_bytes(data[i : i + _FD_SIZE], "little", signed=True)
            for i in range(0, len(data), _FD_SIZE)]  # fmt: skip


def dec_uring_register_arg(ctx: Context, value: int, _index: int) -> str:
    """``[3, 4]``: the fds ``IORING_REGISTER_FILES`` or ``IORING_REGISTER_EVENTFD`` registers
    (``...`` past the string limit); the address for the other opcodes."""
    fds = _registered_fds(ctx, value)
    if fds is None:
        return render.pointer(value)
    more = ", ..." if len(fds) < ctx.call.args.value(3) & 0xFFFFFFFF else ""
    return "[" + ", ".join(ctx.fd(fd) for fd in fds) + more + "]"


def _uring_register_arg(ctx: Context, value: int, _index: int) -> object:
    fds = _registered_fds(ctx, value)
    if fds is not None and len(fds) < ctx.call.args.value(3) & 0xFFFFFFFF:
        ctx.cut = True
    return value if fds is None else fds


STRUCTURED.update({
    dec_uring_params: _uring_params,
    dec_uring_register_arg: _uring_register_arg,
})  # fmt: skip
