"""Decoders of the io_uring calls' arguments, text and structured forms side by side.

``io_uring_setup``'s ``struct io_uring_params`` is read twice, as strace 6.1 reads it: at
entry what the program asks for (``flags``, ``sq_thread_cpu``, ``sq_thread_idle``, and
``wq_fd`` with ``IORING_SETUP_ATTACH_WQ``), at exit what the kernel wrote back (the sizes, the
features and the ring offsets) when it made a ring; a call that failed wrote nothing back.

``io_uring_register``'s argument is decoded by its opcode as strace 6.1 decodes it (arrays of
fds, buffers, file updates, the probe, restrictions, resources, worker CPUs and limits, ring
fds, buffer rings), an address for the opcodes strace 6.1 shows by address.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.abi.io_uring import (
    CQ_OFFSET_FIELDS,
    IO_URING_BUF_REG,
    IO_URING_FILES_UPDATE,
    IO_URING_PARAMS,
    IO_URING_PROBE,
    IO_URING_PROBE_MOST_OPS,
    IO_URING_PROBE_OP,
    IO_URING_RESTRICTION,
    IO_URING_RSRC_REGISTER,
    IO_URING_RSRC_UPDATE,
    IO_URING_RSRC_UPDATE2,
    IORING_REGISTER_BUFFERS,
    IORING_REGISTER_BUFFERS2,
    IORING_REGISTER_BUFFERS_UPDATE,
    IORING_REGISTER_EVENTFD,
    IORING_REGISTER_EVENTFD_ASYNC,
    IORING_REGISTER_FILES,
    IORING_REGISTER_FILES2,
    IORING_REGISTER_FILES_UPDATE,
    IORING_REGISTER_FILES_UPDATE2,
    IORING_REGISTER_IOWQ_AFF,
    IORING_REGISTER_IOWQ_MAX_WORKERS,
    IORING_REGISTER_PBUF_RING,
    IORING_REGISTER_PROBE,
    IORING_REGISTER_RESTRICTIONS,
    IORING_REGISTER_RING_FDS,
    IORING_RESTRICTION_REGISTER_OP,
    IORING_RESTRICTION_SQE_FLAGS_ALLOWED,
    IORING_RESTRICTION_SQE_FLAGS_REQUIRED,
    IORING_RESTRICTION_SQE_OP,
    IORING_SETUP_ATTACH_WQ,
    IORING_UNREGISTER_PBUF_RING,
    IORING_UNREGISTER_RING_FDS,
    SQ_OFFSET_FIELDS,
)
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context
from sysemu.tools.trace.decoders_arrays import array_text
from sysemu.tools.trace.decoders_structs import cpu_set
from sysemu.tools.trace.parsing import parsed
from sysemu.tools.trace.values import flag_set

_FD_ARRAY_OPCODES = frozenset(
    {IORING_REGISTER_FILES, IORING_REGISTER_EVENTFD, IORING_REGISTER_EVENTFD_ASYNC}
)
_FD_SIZE = 4
_UINT32 = struct.Struct("<I")
_UINT64 = struct.Struct("<Q")
_IOVEC = struct.Struct("<QQ")
_COMPAT_IOVEC = struct.Struct("<II")


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
            text += f", wq_fd={ctx.fd(_int32(wq_fd))}"
        if any(resv):
            text += f", resv={_hex_list(resv)}"
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
        "wq_fd": _int32(fields[6]),
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


def _hex_list(values: tuple[int, ...]) -> str:
    """``[0, 0x9, 0]``: a reserved array as strace shows it."""
    return "[" + ", ".join(_x(field) for field in values) + "]"


def _int32(value: int) -> int:
    """A 32-bit field read unsigned, as the C ``int`` it is."""
    return value - (1 << 32) if value >> 31 else value


def _files_update_fd(ctx: Context, fd: int) -> str:
    """An fd of ``IORING_REGISTER_FILES_UPDATE``: ``-1`` (a slot cleared), ``3``, or
    ``IORING_REGISTER_FILES_SKIP`` (-2: the slot left as it is)."""
    return xlat.IORING_FILES_UPDATE_FDS.get(fd, str(fd)) if fd < -1 else ctx.fd(fd)


def _fd_array(ctx: Context, address: int, count: int, show: Callable[[int], str]) -> str:
    return array_text(ctx, address, count, _UINT32, show)


def _iovecs(ctx: Context, address: int, count: int) -> str:
    """``[{iov_base=0x10000000, iov_len=4096}]``: buffers the ring pins, by address."""
    layout = _IOVEC if ctx.word == 8 else _COMPAT_IOVEC
    return array_text(
        ctx, address, count, layout,
        lambda base, length: f"{{iov_base={render.pointer(base)}, iov_len={length}}}",
    )  # fmt: skip


def _files_update(ctx: Context, address: int, count: int) -> str:
    """``{offset=1, fds=[-1, 1]}``: ``IORING_REGISTER_FILES_UPDATE``'s slots from ``offset``."""
    fields = ctx.unpack(address, IO_URING_FILES_UPDATE)
    if fields is None:
        return render.pointer(address)
    offset, resv, fds = fields
    text = f"{{offset={offset}" + (f", resv={_x(resv)}" if resv else "")
    fds_text = _fd_array(ctx, fds, count, lambda fd: _files_update_fd(ctx, _int32(fd)))
    return f"{text}, fds={fds_text}}}"


def _probe(ctx: Context, address: int, count: int, *, exiting: bool) -> str | None:
    """``{last_op=IORING_OP_..., ops_len=4, ops=[{op=IORING_OP_NOP, flags=...}]}``, with
    ``count`` ops at entry and at exit as many as the kernel filled in (``...`` when there
    were more than asked for); None when it cannot be read."""
    size = IO_URING_PROBE.size + count * IO_URING_PROBE_OP.size
    data = ctx.fetch(address, size)
    if data is None:
        return None
    last_op, ops_len, resv, *resv2 = IO_URING_PROBE.unpack_from(data)
    text = f"{{last_op={_op_u(last_op)}, ops_len={ops_len}"
    if resv:
        text += f", resv={_x(resv)}"
    if any(resv2):
        text += f", resv2={_hex_list(tuple(resv2))}"
    shown = min(ops_len, count) if exiting else count
    ops = [_probe_op(data, position) for position in range(min(shown, ctx.limit))]
    if shown > ctx.limit or (exiting and count < ops_len):  # (the kernel has more to say)
        ops.append("...")
    return f"{text}, ops=[{', '.join(ops)}]}}"


def _probe_op(data: bytes, position: int) -> str:
    """``{op=IORING_OP_NOP, flags=IO_URING_OP_SUPPORTED}``: the probe's ``position``-th op."""
    offset = IO_URING_PROBE.size + position * IO_URING_PROBE_OP.size
    op, resv, flags, resv2 = IO_URING_PROBE_OP.unpack_from(data, offset)
    text = f"{{op={_op_u(op)}" + (f", resv={_x(resv)}" if resv else "")
    text += f", flags={render.flags(flags, xlat.IO_URING_OP_FLAGS, unknown='IO_URING_OP_???')}"
    return text + (f", resv2={_x(resv2)}" if resv2 else "") + "}"


def _op_u(op: int) -> str:
    """An io_uring operation by name, or ``62 /* IORING_OP_??? */`` (strace's decimal form)."""
    name = xlat.IORING_OPS.get(op)
    return name if name is not None else f"{op} /* IORING_OP_??? */"


def _restriction(opcode: int, value: int, resv: int, *resv2: int) -> str:
    """``{opcode=IORING_RESTRICTION_SQE_OP, sqe_op=IORING_OP_READV}``."""
    text = "{opcode=" + render.xval(opcode, xlat.IORING_RESTRICTION_OPCODES,
                                   "IORING_RESTRICTION_???")  # fmt: skip
    if opcode == IORING_RESTRICTION_REGISTER_OP:
        shown = render.xval(value, xlat.IORING_REGISTER_OPCODES, "IORING_REGISTER_???")
        text += f", register_op={shown}"
    elif opcode == IORING_RESTRICTION_SQE_OP:
        text += f", sqe_op={render.xval(value, xlat.IORING_OPS, 'IORING_OP_???')}"
    elif opcode in (IORING_RESTRICTION_SQE_FLAGS_ALLOWED, IORING_RESTRICTION_SQE_FLAGS_REQUIRED):
        text += f", sqe_flags={render.flags(value, xlat.IOSQE_FLAGS, unknown='IOSQE_???')}"
    else:
        text += f" /* op: {_x(value)} */"
    if resv:
        text += f", resv={_x(resv)}"
    if any(resv2):
        text += f", resv2={_hex_list(resv2)}"
    return text + "}"


def _resources(ctx: Context, opcode: int, data: int, tags: int, count: int) -> str:
    """``data=[0, 1], tags=NULL``: what ``IORING_REGISTER_FILES2``/``BUFFERS2`` and their
    updates register, ``count`` of each."""
    if opcode in (IORING_REGISTER_FILES2, IORING_REGISTER_FILES_UPDATE2):
        show = ctx.fd if opcode == IORING_REGISTER_FILES2 else (
            lambda fd: _files_update_fd(ctx, fd))  # fmt: skip
        data_text = _fd_array(ctx, data, count, lambda fd: show(_int32(fd)))
    else:
        data_text = _iovecs(ctx, data, count)
    tags_text = array_text(ctx, tags, count, _UINT64, _x)
    return f"data={data_text}, tags={tags_text}"


def _register_resources(ctx: Context, address: int, size: int, opcode: int) -> str:
    """``{nr=2, flags=0, data=[0, 1], tags=NULL}``: ``struct io_uring_rsrc_register``, whose
    size is ``nr_args``."""
    fields = ctx.unpack(address, IO_URING_RSRC_REGISTER) if size >= 32 else None
    if fields is None:
        return render.pointer(address)
    count, flags, resv2, data, tags = fields
    shown = render.flags(flags, xlat.IORING_RSRC_REGISTER_FLAGS,
                         unknown="IORING_RSRC_REGISTER_???")  # fmt: skip
    text = f"{{nr={count}, flags={shown}" + (f", resv2={_x(resv2)}" if resv2 else "")
    return f"{text}, {_resources(ctx, opcode, data, tags, count)}}}"


def _update_resources(ctx: Context, address: int, size: int, opcode: int) -> str:
    """``{offset=0, data=[-1], tags=NULL, nr=1}``: ``struct io_uring_rsrc_update2``."""
    fields = ctx.unpack(address, IO_URING_RSRC_UPDATE2) if size >= 32 else None
    if fields is None:
        return render.pointer(address)
    offset, resv, data, tags, count, resv2 = fields
    text = f"{{offset={offset}" + (f", resv={_x(resv)}" if resv else "")
    text += f", {_resources(ctx, opcode, data, tags, count)}, nr={count}"
    return text + (f", resv2={_x(resv2)}" if resv2 else "") + "}"


def _ring_fds(ctx: Context, address: int, count: int) -> str:
    """``[{offset=-1, data=5}]``: ring fds to register (at the first free slot with -1)."""

    def item(offset: int, resv: int, data: int) -> str:
        shown = "-1" if offset == 0xFFFFFFFF else str(offset)
        text = f"{{offset={shown}" + (f", resv={_x(resv)}" if resv else "")
        return f"{text}, data={ctx.fd(_int32(data & 0xFFFFFFFF))}}}"

    return array_text(ctx, address, count, IO_URING_RSRC_UPDATE, item)


def _ring_fd_slot(offset: int, resv: int, data: int) -> str:
    """``{offset=3}``: a registered ring fd to drop."""
    text = f"{{offset={offset}" + (f", resv={_x(resv)}" if resv else "")
    return text + (f", data={_x(data)}" if data else "") + "}"


def _buffer_ring(ctx: Context, address: int) -> str:
    """``{ring_addr=0x10000000, ring_entries=8, bgid=3}``: a ring of provided buffers (read
    whatever ``nr_args`` says, as strace 6.1 does)."""
    fields = ctx.unpack(address, IO_URING_BUF_REG)
    if fields is None:
        return render.pointer(address)
    ring, entries, group, pad, *resv = fields
    text = f"{{ring_addr={render.pointer(ring)}, ring_entries={entries}, bgid={group}"
    if pad:
        text += f", pad={_x(pad)}"
    if any(resv):
        text += f", resv={_hex_list(tuple(resv))}"
    return text + "}"


def _workers(ctx: Context, address: int, count: int) -> str | None:
    """``[[IO_WQ_BOUND]=4, [IO_WQ_UNBOUND]=8]``: the most workers of each kind; None when
    they cannot be read."""
    if address == 0:
        return None
    items: list[str] = []
    for position in range(count):
        fields = ctx.unpack(address + 4 * position, _UINT32)
        if fields is None:
            if not items:
                return None
            items.append(f"... /* {address + 4 * position:#x} */")
            break
        if position >= ctx.limit:
            items.append("...")
            break
        kind = xlat.IO_WQ_ACCOUNTS.get(position, f"{position} /* IO_WQ_??? */")
        items.append(f"[{kind}]={fields[0]}")
    return "[" + ", ".join(items) + "]"


def dec_uring_register_arg(ctx: Context, value: int, index: int) -> str:
    """``io_uring_register``'s argument by its opcode, as strace 6.1 shows it: the fds of
    ``IORING_REGISTER_FILES`` or ``EVENTFD``, the buffers of ``IORING_REGISTER_BUFFERS``, the
    slots of ``FILES_UPDATE``, the probe (``{last_op=..., ops=[...]}``), restrictions, the
    resources of ``FILES2``/``BUFFERS2`` and their updates, the workers' CPUs and limits, ring
    fds and buffer rings; the address for the other opcodes. A
    :data:`~sysemu.tools.trace.context.BOTH` decoder: what the kernel writes back (the probe,
    the old worker limits) shows at exit, after ``=>`` where the program passed something."""
    args = ctx.call.args
    opcode = args.value(1) & 0xFFFFFFFF
    count = args.value(3) & 0xFFFFFFFF
    if opcode == IORING_REGISTER_PROBE:
        return _probe_text(ctx, value, index, count)
    if opcode == IORING_REGISTER_IOWQ_MAX_WORKERS:
        return _workers_text(ctx, value, index, count)
    if ctx.exiting:
        return ctx.saved.get(index, render.pointer(value))
    if opcode in _FD_ARRAY_OPCODES:
        fds = _registered_fds(ctx, value)
        if fds is None:
            return render.pointer(value)
        more = ", ..." if len(fds) < count else ""
        return "[" + ", ".join(ctx.fd(fd) for fd in fds) + more + "]"
    text_of = _ARGUMENT_TEXTS.get(opcode)
    return render.pointer(value) if text_of is None else text_of(ctx, value, count, opcode)


def _probe_text(ctx: Context, value: int, index: int, count: int) -> str:
    # At entry the probe shows only when the program put something in it (the kernel wants
    # it zeroed): "" keeps it for the exit.
    if count > IO_URING_PROBE_MOST_OPS:
        return render.pointer(value)
    if not ctx.exiting:
        data = ctx.fetch(value, IO_URING_PROBE.size + count * IO_URING_PROBE_OP.size)
        if data is None:
            return render.pointer(value)
        if not any(data):
            return ""
        return _probe(ctx, value, count, exiting=False) or render.pointer(value)
    entered = ctx.saved.get(index, "")
    if not ctx.succeeded:
        return entered or render.pointer(value)
    if entered.startswith("0x") or entered == "NULL":
        return entered
    returned = _probe(ctx, value, count, exiting=True) or render.pointer(value)
    return f"{entered} => {returned}" if entered else returned


def _workers_text(ctx: Context, value: int, index: int, count: int) -> str:
    if not ctx.exiting:
        return _workers(ctx, value, count) or render.pointer(value)
    entered = ctx.saved.get(index, render.pointer(value))
    if not entered.startswith("["):
        return entered
    return f"{entered} => {_workers(ctx, value, count) or render.pointer(value)}"


_ARGUMENT_TEXTS: dict[int, Callable[[Context, int, int, int], str]] = {
    IORING_REGISTER_BUFFERS: lambda ctx, value, count, _opcode: _iovecs(ctx, value, count),
    IORING_REGISTER_FILES_UPDATE: (
        lambda ctx, value, count, _opcode: _files_update(ctx, value, count)),
    IORING_REGISTER_RESTRICTIONS: lambda ctx, value, count, _opcode: array_text(
        ctx, value, count, IO_URING_RESTRICTION, _restriction),
    IORING_REGISTER_FILES2: _register_resources,
    IORING_REGISTER_BUFFERS2: _register_resources,
    IORING_REGISTER_FILES_UPDATE2: _update_resources,
    IORING_REGISTER_BUFFERS_UPDATE: _update_resources,
    IORING_REGISTER_IOWQ_AFF: lambda ctx, value, count, _opcode: (
        cpu_set(ctx, value, count) if value else "NULL"),
    IORING_REGISTER_RING_FDS: lambda ctx, value, count, _opcode: _ring_fds(ctx, value, count),
    IORING_UNREGISTER_RING_FDS: lambda ctx, value, count, _opcode: array_text(
        ctx, value, count, IO_URING_RSRC_UPDATE, _ring_fd_slot),
    IORING_REGISTER_PBUF_RING: lambda ctx, value, _count, _opcode: _buffer_ring(ctx, value),
    IORING_UNREGISTER_PBUF_RING: lambda ctx, value, _count, _opcode: _buffer_ring(ctx, value),
}  # fmt: skip


def _uring_register_arg(ctx: Context, value: int, index: int) -> object:
    """The registered fds as a list; for the other opcodes the text, parsed (``{"entered":
    ..., "returned": ...}`` for what the kernel wrote back); the address where nothing was
    read."""
    args = ctx.call.args
    if args.value(1) & 0xFFFFFFFF in _FD_ARRAY_OPCODES:
        fds = _registered_fds(ctx, value)
        if fds is not None and len(fds) < args.value(3) & 0xFFFFFFFF:
            ctx.cut = True
        return value if fds is None else fds
    text = dec_uring_register_arg(ctx, value, index)
    if text.startswith("0x") or text == "NULL":
        return value
    entered, arrow, returned = text.partition(" => ")
    if arrow:
        return {"entered": parsed(entered), "returned": parsed(returned)}
    return parsed(text)


STRUCTURED.update({
    dec_uring_params: _uring_params,
    dec_uring_register_arg: _uring_register_arg,
})  # fmt: skip
