"""Calls whose arguments depend on another argument: which ones strace shows, and how.

``fcntl`` shows a third argument only for the commands that take one, ``futex`` the arguments
its operation uses, ``prctl`` those of its option, ``clone`` names its arguments and shows
those its flags use, ``open`` a mode only when it creates. Each is a table keyed by the
command, operation or option; a layout function looks the call up and returns the
:class:`~sysemu.tools.trace.context.Shown` arguments. Result decorations that depend on the
command (``fcntl(F_GETFD)`` = ``0x1 (flags FD_CLOEXEC)``) live here too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.abi import layouts
from sysemu.api.call import Call
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import (
    ENTRY,
    EXIT,
    Context,
    Decoder,
    Shown,
    value_only,
)
from sysemu.tools.trace.decoders_scalar import (
    dec_clone_flags,
    dec_dirfd,
    dec_fd,
    dec_hex,
    dec_int,
    dec_mode,
    dec_open_flags,
    dec_path,
    dec_pointer,
    dec_signal,
    dec_u32,
    enum_of,
    flags_of,
    named,
    open_flags,
)
from sysemu.tools.trace.decoders_structs import (
    dec_int_out,
    dec_sigreturn_mask,
    dec_timespec,
    poll_revents,
)

Layout = Callable[[Call], tuple[Shown, ...]]
Arguments = tuple[tuple[int, Decoder], ...]  # (register, decoder), decoded at entry

# --- open, openat ---------------------------------------------------------------------------


def layout_open(call: Call) -> tuple[Shown, ...]:
    """``open``/``openat``: the mode only with ``O_CREAT`` or ``O_TMPFILE`` (strace tests the
    ``__O_TMPFILE`` bit, which ``O_TMPFILE`` includes, as the kernel does)."""
    flags = 2 if call.name == "openat" else 1
    return open_shown(call.name, call.args.value(flags) & OPEN_MODE_FLAGS)


OPEN_MODE_FLAGS = xlat.O_CREAT | xlat.O_TMPFILE_BIT
"""The flags of ``open``/``openat`` with which the mode is shown."""


def open_shown(name: str, mode_flags: int) -> tuple[Shown, ...]:
    """:func:`layout_open` for the call ``name`` whose flags, masked by
    :data:`OPEN_MODE_FLAGS`, are ``mode_flags``."""
    first = 1 if name == "openat" else 0
    shown = [Shown(first, dec_path, ENTRY), Shown(first + 1, dec_open_flags, ENTRY)]
    if name == "openat":
        shown.insert(0, Shown(0, dec_dirfd, ENTRY))
    if mode_flags:
        shown.append(Shown(first + 2, dec_mode, ENTRY))
    return tuple(shown)


# --- fcntl ----------------------------------------------------------------------------------


def _flock(ctx: Context, value: int, with_pid: bool) -> str:
    layout = layouts.FLOCK.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return render.pointer(value)
    kind, whence, start, length, pid = fields
    text = (
        f"{{l_type={render.xval(kind, xlat.LOCK_TYPES, 'F_???')}, "
        f"l_whence={render.xval(whence, xlat.SEEK, 'SEEK_???')}, l_start={start}, l_len={length}"
    )
    return text + (f", l_pid={pid}}}" if with_pid else "}")


def dec_flock_in(ctx: Context, value: int, _index: int) -> str:
    """``{l_type=F_WRLCK, l_whence=SEEK_SET, l_start=0, l_len=0}``: a lock to set."""
    return _flock(ctx, value, False)


def dec_flock_out(ctx: Context, value: int, _index: int) -> str:
    """The lock ``F_GETLK`` found, with its owner: ``..., l_pid=0}``; at exit."""
    return _flock(ctx, value, True)


OWNER = struct.Struct("<ii")


def dec_owner(ctx: Context, value: int, _index: int) -> str:
    """``{type=F_OWNER_PID, pid=1234}`` (``F_SETOWN_EX``, ``F_GETOWN_EX``)."""
    fields = ctx.unpack(value, OWNER)
    if fields is None:
        return render.pointer(value)
    kind = render.xval(fields[0], xlat.OWNER_TYPES, "F_OWNER_???")
    return f"{{type={kind}, pid={fields[1]}}}"


_FCNTL_ARG: dict[int, tuple[Decoder, int] | None] = {
    0: (dec_int, ENTRY),  # F_DUPFD
    1: None,  # F_GETFD
    2: (flags_of(xlat.FD_FLAGS, "FD_???"), ENTRY),  # F_SETFD
    3: None,  # F_GETFL
    4: (dec_open_flags, ENTRY),  # F_SETFL
    5: (dec_flock_out, EXIT),  # F_GETLK
    6: (dec_flock_in, ENTRY),  # F_SETLK
    7: (dec_flock_in, ENTRY),  # F_SETLKW
    8: (dec_int, ENTRY),  # F_SETOWN
    9: None,  # F_GETOWN
    10: (dec_signal, ENTRY),  # F_SETSIG
    11: None,  # F_GETSIG
    15: (dec_owner, ENTRY),  # F_SETOWN_EX
    16: (dec_owner, EXIT),  # F_GETOWN_EX
    36: (dec_flock_out, EXIT),  # F_OFD_GETLK
    37: (dec_flock_in, ENTRY),  # F_OFD_SETLK
    38: (dec_flock_in, ENTRY),  # F_OFD_SETLKW
    1024: (enum_of(xlat.LOCK_TYPES, "F_???"), ENTRY),  # F_SETLEASE
    1025: None,  # F_GETLEASE
    1026: (flags_of(xlat.NOTIFY_FLAGS, "DN_???"), ENTRY),  # F_NOTIFY
    1030: (dec_int, ENTRY),  # F_DUPFD_CLOEXEC
    1031: (dec_int, ENTRY),  # F_SETPIPE_SZ
    1032: None,  # F_GETPIPE_SZ
    1033: (flags_of(xlat.SEALS, "F_SEAL_???"), ENTRY),  # F_ADD_SEALS
    1034: None,  # F_GET_SEALS
}
"""``fcntl``'s third argument per command; ``None``: the command takes none."""


@value_only
def dec_fcntl_cmd(_ctx: Context, value: int, _index: int) -> str:
    return render.xval(value & 0xFFFFFFFF, xlat.FCNTL, "F_???")


def layout_fcntl(call: Call) -> tuple[Shown, ...]:
    """``fcntl(3, F_GETFD)``, ``fcntl(3, F_SETFD, FD_CLOEXEC)``."""
    return fcntl_shown(call.args.value(1) & 0xFFFFFFFF)


def fcntl_shown(cmd: int) -> tuple[Shown, ...]:
    """:func:`layout_fcntl` for the command ``cmd``."""
    head = (Shown(0, dec_fd, ENTRY), Shown(1, dec_fcntl_cmd, ENTRY))
    arg = _FCNTL_ARG.get(cmd, (dec_hex, ENTRY))
    return head if arg is None else (*head, Shown(2, *arg))


def return_fcntl(ctx: Context, value: int) -> str | None:
    """What strace writes for an ``fcntl`` result: an fd for ``F_DUPFD``, the flags after
    ``F_GETFD``/``F_GETFL`` (``0x1 (flags FD_CLOEXEC)``)..."""
    cmd = ctx.call.args.value(1) & 0xFFFFFFFF
    if cmd in (0, 1030):  # F_DUPFD, F_DUPFD_CLOEXEC
        return ctx.fd(value)
    return fcntl_result(cmd, value)


def fcntl_result(cmd: int, value: int) -> str | None:
    """:func:`return_fcntl` for the command ``cmd`` (None: the plain number), but for the
    commands that return an fd, which :func:`return_fcntl` decorates under ``-y``."""
    if cmd == 1 and value:  # F_GETFD
        return f"{value:#x} (flags {render.flags(value, xlat.FD_FLAGS)})"
    if cmd == 3:  # F_GETFL
        return f"{value:#x} (flags {open_flags(value)})" if value else "0 (flags O_RDONLY)"
    if cmd == 1025:  # F_GETLEASE
        name = xlat.LOCK_TYPES.get(value)
        return f"{value:#x} ({name})" if name else f"{value:#x}"
    if cmd == 1034 and value:  # F_GET_SEALS
        return f"{value:#x} (seals {render.flags(value, xlat.SEALS)})"
    if cmd == 11 and value:  # F_GETSIG
        return f"{value} ({render.signal(value)})"
    return None


# --- futex ----------------------------------------------------------------------------------


def futex_op(op: int) -> str:
    """``FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME``, or hex for an op strace has no
    name for."""
    cmd = op & 0x7F
    private = op & xlat.FUTEX_PRIVATE_FLAG
    realtime = op & xlat.FUTEX_CLOCK_REALTIME
    name = xlat.FUTEX_CMDS.get(cmd)
    unknown = op & ~0x1FF or (realtime and cmd not in xlat.FUTEX_REALTIME_CMDS)
    if name is None or unknown:
        return f"{op & 0xFFFFFFFF:#x} /* FUTEX_??? */"
    if private:
        name += "|FUTEX_PRIVATE_FLAG" if cmd == 2 else "_PRIVATE"
    return name + ("|FUTEX_CLOCK_REALTIME" if realtime else "")


@value_only
def dec_futex_op(_ctx: Context, value: int, _index: int) -> str:
    return futex_op(value)


@value_only
def dec_bitset(_ctx: Context, value: int, _index: int) -> str:
    return render.xval(value & 0xFFFFFFFF, xlat.FUTEX_BITSET)


@value_only
def dec_futex_wake_op(_ctx: Context, value: int, _index: int) -> str:
    """``FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_EQ<<24|0``: ``FUTEX_WAKE_OP``'s encoded op."""
    value &= 0xFFFFFFFF
    text = "FUTEX_OP_OPARG_SHIFT<<28|" if value >> 28 & 8 else ""
    op, cmp = value >> 28 & 7, value >> 24 & 0xF
    text += render.xval(op, xlat.FUTEX_WAKE_OPS) + "<<28"
    text += "" if op in xlat.FUTEX_WAKE_OPS else " /* FUTEX_OP_??? */"
    text += f"|{dec_hex(_ctx, value >> 12 & 0xFFF, 0)}<<12|"
    text += render.xval(cmp, xlat.FUTEX_WAKE_CMPS) + "<<24"
    text += "" if cmp in xlat.FUTEX_WAKE_CMPS else " /* FUTEX_OP_CMP_??? */"
    return text + f"|{dec_hex(_ctx, value & 0xFFF, 0)}"


_FUTEX_ARGS: dict[int, Arguments] = {
    0: ((2, dec_u32), (3, dec_timespec)),  # FUTEX_WAIT
    1: ((2, dec_u32),),  # FUTEX_WAKE
    2: ((2, dec_u32),),  # FUTEX_FD
    3: ((2, dec_u32), (3, dec_u32), (4, dec_pointer)),  # FUTEX_REQUEUE
    4: ((2, dec_u32), (3, dec_u32), (4, dec_pointer), (5, dec_u32)),  # FUTEX_CMP_REQUEUE
    5: ((2, dec_u32), (3, dec_u32), (4, dec_pointer), (5, dec_futex_wake_op)),  # FUTEX_WAKE_OP
    6: ((3, dec_timespec),),  # FUTEX_LOCK_PI
    7: (),  # FUTEX_UNLOCK_PI
    8: (),  # FUTEX_TRYLOCK_PI
    9: ((2, dec_u32), (3, dec_timespec), (5, dec_bitset)),  # FUTEX_WAIT_BITSET
    10: ((2, dec_u32), (5, dec_bitset)),  # FUTEX_WAKE_BITSET
    11: ((2, dec_u32), (3, dec_timespec), (4, dec_pointer)),  # FUTEX_WAIT_REQUEUE_PI
    12: ((2, dec_u32), (3, dec_u32), (4, dec_pointer), (5, dec_u32)),  # FUTEX_CMP_REQUEUE_PI
    13: ((3, dec_timespec),),  # FUTEX_LOCK_PI2
}
"""``futex``'s arguments after the op, per command (the op without its flag bits)."""
_FUTEX_OTHER: Arguments = ((2, dec_u32), (3, dec_pointer), (4, dec_pointer), (5, dec_hex))


def layout_futex(call: Call) -> tuple[Shown, ...]:
    """``futex(0x7f..., FUTEX_WAKE_PRIVATE, 1)``: the arguments the op uses."""
    return futex_shown(call.args.value(1) & FUTEX_CMD)


FUTEX_CMD = 0x7F
"""The bits of ``futex``'s op that are its command (the rest are flags)."""


def futex_shown(cmd: int) -> tuple[Shown, ...]:
    """:func:`layout_futex` for the command ``cmd``."""
    args = _FUTEX_ARGS.get(cmd, _FUTEX_OTHER)
    head = (Shown(0, dec_pointer, ENTRY), Shown(1, dec_futex_op, ENTRY))
    return head + tuple(Shown(index, decoder, ENTRY) for index, decoder in args)


# --- clone ----------------------------------------------------------------------------------


def dec_parent_tid(ctx: Context, value: int, index: int) -> str:
    """``[1234]``: where ``CLONE_PARENT_SETTID`` stored the child's id (``CLONE_PIDFD``: its
    pidfd), at exit."""
    if ctx.call.args.value(0) & xlat.CLONE_PARENT_SETTID:
        return dec_int_out(ctx, value, index)
    return dec_fd_at(ctx, value, index)


_CHILD_STACK = named("child_stack", dec_pointer)
_FLAGS = named("flags", dec_clone_flags)
_PARENT_TID = named("parent_tid", dec_parent_tid)
_TLS = named("tls", dec_pointer)
_CHILD_TIDPTR = named("child_tidptr", dec_pointer)


def layout_clone(call: Call) -> tuple[Shown, ...]:
    """``clone(child_stack=NULL, flags=...|SIGCHLD, child_tidptr=0x7f...)``: named, the
    stack first, and ``parent_tid``/``tls``/``child_tidptr`` only when the flags use them."""
    flags = call.args.value(0)
    # Where tls and child_tidptr are differs by ABI (i386 passes tls first): the tables say.
    syscall = call.syscall
    tls, child_tid = syscall.param_index("tls"), syscall.param_index("child_tidptr")
    shown = [Shown(1, _CHILD_STACK, ENTRY), Shown(0, _FLAGS, ENTRY)]
    if flags & (xlat.CLONE_PARENT_SETTID | xlat.CLONE_PIDFD):
        shown.append(Shown(2, _PARENT_TID, EXIT))
    if flags & xlat.CLONE_SETTLS:
        shown.append(Shown(tls, _TLS, ENTRY))
    if flags & (xlat.CLONE_CHILD_SETTID | xlat.CLONE_CHILD_CLEARTID):
        shown.append(Shown(child_tid, _CHILD_TIDPTR, ENTRY))
    return tuple(shown)


CLONE_ARGS = struct.Struct("<8Q")  # struct clone_args up to tls: the size strace requires
CLONE3_FLAGS = (*xlat.CLONE_FLAGS, (0x100000000, "CLONE_CLEAR_SIGHAND"),
                 (0x200000000, "CLONE_INTO_CGROUP"))  # fmt: skip


def _clone_args(ctx: Context, value: int) -> str:
    fields = ctx.unpack(value, CLONE_ARGS) if ctx.call.args.value(1) >= CLONE_ARGS.size else None
    if fields is None:
        return render.pointer(value)
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = fields
    parts = [f"flags={render.flags(flags, CLONE3_FLAGS, unknown='CLONE_???')}"]
    if flags & xlat.CLONE_PIDFD:
        parts.append(f"pidfd={render.pointer(pidfd)}")
    if flags & (xlat.CLONE_CHILD_SETTID | xlat.CLONE_CHILD_CLEARTID):
        parts.append(f"child_tid={render.pointer(child_tid)}")
    if flags & xlat.CLONE_PARENT_SETTID:
        parts.append(f"parent_tid={render.pointer(parent_tid)}")
    signal = dec_signal(ctx, exit_signal, 0) if exit_signal < 0x7FFFFFFF else str(exit_signal)
    parts += [f"exit_signal={signal}", f"stack={render.pointer(stack)}"]
    parts.append(f"stack_size={dec_hex(ctx, stack_size, 0)}")
    if flags & xlat.CLONE_SETTLS:
        # An address on x86-64 (i386 would point at a struct user_desc strace decodes).
        parts.append(f"tls={render.pointer(tls)}")
    return "{" + ", ".join(parts) + "}"


def dec_clone_args(ctx: Context, value: int, index: int) -> str:
    """``clone3``'s ``struct clone_args``: ``{flags=CLONE_VM|..., exit_signal=SIGCHLD,
    stack=NULL, stack_size=0}``, and after ``=>`` at exit the ids the kernel stored there
    (``{parent_tid=[1234]}``); a :data:`~sysemu.tools.trace.context.BOTH` decoder."""
    if not ctx.exiting:
        return _clone_args(ctx, value)
    text = ctx.saved.get(index, render.pointer(value))
    fields = ctx.unpack(value, CLONE_ARGS) if text.startswith("{") else None
    if fields is None:
        return text
    flags, pidfd, _child, parent_tid = fields[:4]
    stored = []
    if flags & xlat.CLONE_PIDFD:
        stored.append(f"pidfd={dec_fd_at(ctx, pidfd, 0)}")
    if flags & xlat.CLONE_PARENT_SETTID:
        stored.append(f"parent_tid={dec_int_out(ctx, parent_tid, 0)}")
    return f"{text} => {{{', '.join(stored)}}}" if stored else text


def dec_fd_at(ctx: Context, value: int, _index: int) -> str:
    """``[3<anon_inode:[pidfd]>]``: an fd the kernel stored (a pidfd)."""
    fields = ctx.unpack(value, struct.Struct("<i"))
    return render.pointer(value) if fields is None else f"[{ctx.fd(fields[0])}]"


# --- prctl ----------------------------------------------------------------------------------


def dec_comm_in(ctx: Context, value: int, _index: int) -> str:
    """``"name"``: a task name (at most 15 bytes) for ``PR_SET_NAME``."""
    return ctx.string(value, limit=min(15, ctx.limit))


def dec_comm_out(ctx: Context, value: int, _index: int) -> str:
    """The task name ``PR_GET_NAME`` wrote, at exit."""
    data = ctx.fetch(value, 16)
    if data is None:
        return render.pointer(value)
    return render.quote(data.split(b"\0", 1)[0], 16)


def dec_signal_out(ctx: Context, value: int, _index: int) -> str:
    """``[SIGTERM]``: a signal number the kernel stored (``PR_GET_PDEATHSIG``)."""
    fields = ctx.unpack(value, struct.Struct("<i"))
    return render.pointer(value) if fields is None else f"[{dec_signal(ctx, fields[0], 0)}]"


def dec_uint_out(ctx: Context, value: int, _index: int) -> str:
    """``[1]``: an unsigned int the kernel stored."""
    fields = ctx.unpack(value, struct.Struct("<I"))
    return render.pointer(value) if fields is None else f"[{fields[0]}]"


def dec_address_out(ctx: Context, value: int, _index: int) -> str:
    """``[0x7f...]``: an address the kernel stored (``PR_GET_TID_ADDRESS``)."""
    fields = ctx.unpack(value, struct.Struct("<Q")) if ctx.native else None
    return render.pointer(value) if fields is None else f"[{render.pointer(fields[0])}]"


def dec_pdeathsig(ctx: Context, value: int, _index: int) -> str:
    return str(value) if value > 128 else dec_signal(ctx, value, 0)


def dec_fprog(ctx: Context, value: int, _index: int) -> str:
    layout = layouts.SOCK_FPROG.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return render.pointer(value)
    return f"{{len={fields[0]}, filter={render.pointer(fields[1])}}}"


_HEX_FROM_2: Arguments = ((2, dec_hex), (3, dec_hex), (4, dec_hex))
_CAP = enum_of(xlat.CAPABILITIES, "CAP_???")
_CAP_AMBIENT = enum_of(xlat.CAP_AMBIENT, "PR_CAP_AMBIENT_???")
_SECCOMP_MODE = enum_of(xlat.SECCOMP_MODES, "SECCOMP_MODE_???")
_SET_VMA = enum_of(xlat.SET_VMA, "PR_SET_VMA_???")


def _prctl_args(call: Call) -> tuple[tuple[int, Decoder, int], ...]:
    option, arg2 = call.args.value(0) & 0xFFFFFFFF, call.args.value(1)
    if option == 47:  # PR_CAP_AMBIENT: a capability only for RAISE, LOWER and IS_SET
        rest = ((2, _CAP), (3, dec_hex), (4, dec_hex)) if arg2 in (1, 2, 3) else _HEX_FROM_2
        return tuple((i, d, ENTRY) for i, d in ((1, _CAP_AMBIENT), *rest))
    if option == 22:  # PR_SET_SECCOMP: a filter program, or nothing more in strict mode
        rest = {1: (), 2: ((2, dec_fprog),)}.get(arg2, _HEX_FROM_2)
        return tuple((i, d, ENTRY) for i, d in ((1, _SECCOMP_MODE), *rest))
    if option == 0x53564D41:  # PR_SET_VMA
        rest = ((2, dec_pointer), (3, dec_int), (4, dec_comm_any)) if arg2 == 0 else _HEX_FROM_2
        return tuple((i, d, ENTRY) for i, d in ((1, _SET_VMA), *rest))
    return _PRCTL_ARGS.get(option, _PRCTL_OTHER)


def dec_comm_any(ctx: Context, value: int, _index: int) -> str:
    """A string cut at the string limit (``PR_SET_VMA``'s name)."""
    return ctx.string(value)


def dec_ulong(_ctx: Context, value: int, _index: int) -> str:
    return str(value & 0xFFFFFFFFFFFFFFFF)


_U, _X = (1, dec_ulong, ENTRY), (1, dec_hex, ENTRY)
_PRCTL_OTHER = (_X, (2, dec_hex, ENTRY), (3, dec_hex, ENTRY), (4, dec_hex, ENTRY))
_U_THEN_HEX = (_U, (2, dec_hex, ENTRY), (3, dec_hex, ENTRY), (4, dec_hex, ENTRY))
_PRCTL_ARGS: dict[int, tuple[tuple[int, Decoder, int], ...]] = {
    1: ((1, dec_pdeathsig, ENTRY),),  # PR_SET_PDEATHSIG
    2: ((1, dec_signal_out, EXIT),),  # PR_GET_PDEATHSIG
    3: (),  # PR_GET_DUMPABLE
    4: ((1, enum_of(xlat.DUMPABLE, "SUID_DUMP_???"), ENTRY),),  # PR_SET_DUMPABLE
    7: (),  # PR_GET_KEEPCAPS
    8: (_U,),  # PR_SET_KEEPCAPS
    9: ((1, dec_uint_out, EXIT),),  # PR_GET_FPEMU
    10: (_U,),  # PR_SET_FPEMU
    11: ((1, dec_uint_out, EXIT),),  # PR_GET_FPEXC
    12: (_U,),  # PR_SET_FPEXC
    13: (),  # PR_GET_TIMING
    14: (_U,),  # PR_SET_TIMING
    15: ((1, dec_comm_in, ENTRY),),  # PR_SET_NAME
    16: ((1, dec_comm_out, EXIT),),  # PR_GET_NAME
    19: ((1, dec_uint_out, EXIT),),  # PR_GET_ENDIAN
    20: (_U,),  # PR_SET_ENDIAN
    21: (),  # PR_GET_SECCOMP
    23: ((1, _CAP, ENTRY),),  # PR_CAPBSET_READ
    24: ((1, _CAP, ENTRY),),  # PR_CAPBSET_DROP
    27: (),  # PR_GET_SECUREBITS
    28: ((1, flags_of(xlat.SECUREBITS, "SECBIT_???"), ENTRY),),  # PR_SET_SECUREBITS
    29: ((1, dec_int, ENTRY),),  # PR_SET_TIMERSLACK
    30: (),  # PR_GET_TIMERSLACK
    31: (),  # PR_TASK_PERF_EVENTS_DISABLE
    32: (),  # PR_TASK_PERF_EVENTS_ENABLE
    36: (_U,),  # PR_SET_CHILD_SUBREAPER
    37: ((1, dec_uint_out, EXIT),),  # PR_GET_CHILD_SUBREAPER
    38: _U_THEN_HEX,  # PR_SET_NO_NEW_PRIVS
    40: ((1, dec_address_out, EXIT),),  # PR_GET_TID_ADDRESS
    41: _U_THEN_HEX,  # PR_SET_THP_DISABLE
    57: _U_THEN_HEX,  # PR_SET_IO_FLUSHER
}
"""``prctl``'s arguments after the option, per option: (register, decoder, phase). Options
without a row show the other four registers in hex, as strace does for them."""


_PRCTL_OPTION = Shown(0, enum_of(xlat.PRCTL, "PR_???"), ENTRY)


def layout_prctl(call: Call) -> tuple[Shown, ...]:
    """``prctl(PR_SET_NAME, "worker")``, ``prctl(PR_CAPBSET_READ, CAP_MAC_OVERRIDE)``."""
    return (_PRCTL_OPTION, *(Shown(*arg) for arg in _prctl_args(call)))


def return_prctl(ctx: Context, value: int) -> str | None:
    """``1 (SUID_DUMP_USER)`` after ``PR_GET_DUMPABLE``, the bits of ``PR_GET_SECUREBITS``."""
    option = ctx.call.args.value(0) & 0xFFFFFFFF
    if option == 3 and value in xlat.DUMPABLE:
        return f"{value} ({xlat.DUMPABLE[value]})"
    if option == 27 and value:
        return f"{value:#x} ({render.flags(value, xlat.SECUREBITS)})"
    return None


# --- The rest -------------------------------------------------------------------------------


def layout_sigreturn(call: Call) -> tuple[Shown, ...]:
    """``rt_sigreturn({mask=[]})``: the mask being restored, read from the signal frame
    (where its layout is known: other ABIs show no argument)."""
    known = call.abi in layouts.SIGRETURN_MASK_FROM_SP
    return (Shown(0, dec_sigreturn_mask, ENTRY),) if known else ()


def return_umask(_ctx: Context, value: int) -> str | None:
    """The previous mask, in octal: ``022``."""
    return render.octal(value)


def return_poll(ctx: Context, value: int) -> str | None:
    """``0 (Timeout)``, ``1 ([{fd=3, revents=POLLIN}])``."""
    if value == 0:
        return "0 (Timeout)"
    address, count = ctx.call.args.value(0), ctx.call.args.value(1) & 0xFFFFFFFF
    events = poll_revents(ctx, address, count) if address and count else ""
    return f"{value} ({events})" if events else None


ReturnDecoder = Callable[[Context, int], "str | None"]
"""``decoder(context, result)``: the text after ``=`` for a successful result, or ``None``
for the default one."""
