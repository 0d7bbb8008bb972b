"""The structured forms of the decoders of :mod:`~sysemu.tools.trace.decoders_calls` (the
arguments of ``fcntl``, ``futex``, ``clone3``, ``prctl``), as :mod:`sysemu.tools.trace.values`
describes them: each reads what its text decoder reads, when it reads it."""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.abi import layouts
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context, Decoder, StructuredDecoder
from sysemu.tools.trace.decoders_calls import (
    CLONE3_FLAGS,
    CLONE_ARGS,
    OWNER,
    dec_address_out,
    dec_bitset,
    dec_clone_args,
    dec_comm_any,
    dec_comm_in,
    dec_comm_out,
    dec_fcntl_cmd,
    dec_fd_at,
    dec_flock_in,
    dec_flock_out,
    dec_fprog,
    dec_futex_op,
    dec_futex_wake_op,
    dec_owner,
    dec_parent_tid,
    dec_pdeathsig,
    dec_signal_out,
    dec_uint_out,
    dec_ulong,
)
from sysemu.tools.trace.values import string_at


def _futex_op_value(_ctx: Context, value: int, _index: int) -> object:
    """``{"raw": 129, "flags": ["FUTEX_WAKE", "FUTEX_PRIVATE_FLAG"]}``: the command, then
    the option bits."""
    cmd = value & 0x7F
    names = [xlat.FUTEX_CMDS.get(cmd, hex(cmd))]
    if value & xlat.FUTEX_PRIVATE_FLAG:
        names.append("FUTEX_PRIVATE_FLAG")
    if value & xlat.FUTEX_CLOCK_REALTIME:
        names.append("FUTEX_CLOCK_REALTIME")
    if value & ~0x1FF:
        names.append(hex(value & ~0x1FF & 0xFFFFFFFF))
    return {"raw": value & 0xFFFFFFFF, "flags": names}


def _stored(layout: struct.Struct, form: Callable[[int], object] = int) -> StructuredDecoder:
    """A value the kernel stored at the address, in a one-element array as strace shows it."""

    def decode(ctx: Context, value: int, _index: int) -> object:
        fields = ctx.unpack(value, layout) if layout.size == 4 or ctx.native else None
        return value if fields is None else [form(fields[0])]

    return decode


def _clone_args_value(ctx: Context, value: int, _index: int) -> object:
    """``struct clone_args``'s fields; at exit of a call that succeeded, ``stored``: the
    ids the kernel wrote where ``pidfd`` and ``parent_tid`` point."""
    fields = ctx.unpack(value, CLONE_ARGS) if ctx.call.args.value(1) >= CLONE_ARGS.size else None
    if fields is None and ctx.exiting:
        # The structure is the program's and unchanged: read it as at entry.
        entry = Context(ctx.call, limit=ctx.limit, exiting=False)
        fields = entry.unpack(value, CLONE_ARGS) if ctx.call.args.value(1) >= 64 else None
    if fields is None:
        return value
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = fields
    record: dict[str, object] = {
        "flags": {"raw": flags, "flags": render.flag_names(flags, CLONE3_FLAGS) if flags else []},
        "pidfd": pidfd, "child_tid": child_tid, "parent_tid": parent_tid,
        "exit_signal": _signal_value(exit_signal), "stack": stack, "stack_size": stack_size,
        "tls": tls,
    }  # fmt: skip
    if ctx.succeeded:
        stored = {}
        targets = (("pidfd", xlat.CLONE_PIDFD, pidfd),
                   ("parent_tid", xlat.CLONE_PARENT_SETTID, parent_tid))  # fmt: skip
        for name, bit, address in targets:
            found = ctx.unpack(address, struct.Struct("<i")) if flags & bit else None
            if found is not None:
                stored[name] = found[0]
        record["stored"] = stored
    return record


def _flock_value(with_pid: bool) -> StructuredDecoder:
    def decode(ctx: Context, value: int, _index: int) -> object:
        layout = layouts.FLOCK.get(ctx.call.abi)
        fields = ctx.unpack(value, layout.codec) if layout is not None else None
        if fields is None:
            return value
        kind, whence, start, length, pid = fields
        record: dict[str, object] = {
            "l_type": {"raw": kind, "name": xlat.LOCK_TYPES.get(kind)},
            "l_whence": {"raw": whence, "name": xlat.SEEK.get(whence)},
            "l_start": start, "l_len": length,
        }  # fmt: skip
        if with_pid:
            record["l_pid"] = pid
        return record

    return decode


def _owner_value(ctx: Context, value: int, _index: int) -> object:
    fields = ctx.unpack(value, OWNER)
    if fields is None:
        return value
    return {"type": {"raw": fields[0], "name": xlat.OWNER_TYPES.get(fields[0])}, "pid": fields[1]}


def _wake_op_value(_ctx: Context, value: int, _index: int) -> object:
    """``FUTEX_WAKE_OP``'s encoded operation, field by field."""
    value &= 0xFFFFFFFF
    op, cmp = value >> 28 & 7, value >> 24 & 0xF
    return {"raw": value, "op": {"raw": op, "name": xlat.FUTEX_WAKE_OPS.get(op)},
            "oparg_shift": bool(value >> 28 & 8), "oparg": value >> 12 & 0xFFF,
            "cmp": {"raw": cmp, "name": xlat.FUTEX_WAKE_CMPS.get(cmp)},
            "cmparg": value & 0xFFF}  # fmt: skip


def _parent_tid_value(ctx: Context, value: int, _index: int) -> object:
    fields = ctx.unpack(value, struct.Struct("<i"))
    return value if fields is None else [fields[0]]


def _fprog_value(ctx: Context, value: int, _index: int) -> object:
    layout = layouts.SOCK_FPROG.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    return value if fields is None else {"len": fields[0], "filter": fields[1]}


def _comm_in(ctx: Context, value: int, _index: int) -> object:
    if value == 0:
        return None
    try:
        data = ctx.call.memory.read_cstring(value, 16)
    except OSError:
        return value
    return data.decode("utf-8", "backslashreplace")


def _comm_out(ctx: Context, value: int, _index: int) -> object:
    data = ctx.fetch(value, 16)
    return value if data is None else data.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def _signal_value(number: int) -> object:
    return {"raw": number, "name": render.signal(number) if number else None}


CALLS: dict[Decoder, StructuredDecoder] = {
    dec_fcntl_cmd: lambda _ctx, value, _index: {
        "raw": value & 0xFFFFFFFF, "name": xlat.FCNTL.get(value & 0xFFFFFFFF)
    },
    dec_futex_op: _futex_op_value,
    dec_bitset: lambda _ctx, value, _index: value & 0xFFFFFFFF,
    dec_ulong: lambda _ctx, value, _index: value & 0xFFFFFFFFFFFFFFFF,
    dec_pdeathsig: lambda _ctx, value, _index: _signal_value(value),
    dec_fd_at: _stored(struct.Struct("<i")),
    dec_uint_out: _stored(struct.Struct("<I")),
    dec_address_out: _stored(struct.Struct("<Q")),
    dec_signal_out: _stored(struct.Struct("<i"), _signal_value),
    dec_comm_out: _comm_out,
    dec_clone_args: _clone_args_value,
    dec_flock_in: _flock_value(False),
    dec_flock_out: _flock_value(True),
    dec_owner: _owner_value,
    dec_futex_wake_op: _wake_op_value,
    dec_parent_tid: _parent_tid_value,
    dec_fprog: _fprog_value,
    dec_comm_in: _comm_in,
    dec_comm_any: lambda ctx, value, _index: string_at(ctx, value),
}  # fmt: skip
"""The structured form of each decoder of :mod:`~sysemu.tools.trace.decoders_calls` that has
one (in :data:`~sysemu.tools.trace.context.STRUCTURED` too)."""
STRUCTURED.update(CALLS)
