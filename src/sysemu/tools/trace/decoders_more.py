"""More table rows and type functions: ids, output integers, times, and the flags and commands
of the calls everyday programs rarely make (see :mod:`.decoders` for how rows work; the
tables are :mod:`.xlat_more`'s).

The generic decoders by C type (:data:`BY_CTYPE`) cover every call with such a parameter:
``uid_t`` and ``gid_t`` are ``-1`` when all their bits are set (the "unchanged" id of
``chown`` and ``setresuid``), as strace prints them, and ``clockid_t`` is a clock's name.
"""

from __future__ import annotations

import struct

from sysemu.api.call import Call
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace import xlat_more as more
from sysemu.tools.trace.context import BOTH, ENTRY, EXIT, Context, Decoder, Shown, value_only
from sysemu.tools.trace.decoders_arrays import (
    dec_iovec_addresses,
    dec_iovec_in,
    dec_iovec_out,
    dec_offset_updated,
    dec_sembufs,
)
from sysemu.tools.trace.decoders_calls import dec_fprog, return_poll
from sysemu.tools.trace.decoders_records import (
    date_comment,
    dec_memfd_name,
    dec_mempolicy_mode,
    dec_mempolicy_out,
    dec_mount_data,
    dec_mount_type,
    dec_mq_attr,
    dec_node_mask_in,
    dec_node_mask_out,
    dec_sigset_any,
    dec_sigset_next,
    dec_statfs,
    dec_timespec_pair,
    dec_timeval_pair,
    dec_utimbuf,
    dec_xattr_value,
    mount_flags,
)
from sysemu.tools.trace.decoders_scalar import (
    dec_at_flags,
    dec_buffer_in,
    dec_buffer_out,
    dec_dirfd,
    dec_fd,
    dec_hex,
    dec_int,
    dec_map_flags,
    dec_mode,
    dec_open_flags,
    dec_path,
    dec_pointer,
    dec_prot,
    dec_string,
    dec_u32,
    enum_of,
    flags_of,
)
from sysemu.tools.trace.decoders_structs import (
    dec_dirents,
    dec_int_out,
    dec_pollfds,
    dec_sigset,
    dec_timespec,
)
from sysemu.tools.trace.values import siginfo_fields

_UINT = struct.Struct("<I")
_SINT = struct.Struct("<i")
_INT64 = struct.Struct("<q")
_TIMEVAL = struct.Struct("<qQ")  # tv_usec shown unsigned, as strace zero-extends it
_TIMEVAL_PAIR = struct.Struct("<qQqQ")  # (it_interval, it_value)
_TIMESPEC_PAIR = struct.Struct("<qQqQ")
_TIMEZONE = struct.Struct("<ii")
_EPOLL_EVENT = struct.Struct("<IQ")  # packed on x86-64
_EPOLL_CTL_DEL = 2
_PAGE = 4096


@value_only
def dec_id(_ctx: Context, value: int, _index: int) -> str:
    """A user or group id: ``-1`` (all bits set: "leave unchanged"), else unsigned."""
    value &= 0xFFFFFFFF
    return "-1" if value == 0xFFFFFFFF else str(value)


def dec_id_out(ctx: Context, value: int, index: int) -> str:
    """``[0]``: an id the kernel stored (``getresuid``)."""
    fields = ctx.unpack(value, _UINT)
    return render.pointer(value) if fields is None else f"[{dec_id(ctx, fields[0], index)}]"


def dec_uint_out(ctx: Context, value: int, _index: int) -> str:
    """``[1]``: an unsigned int the kernel stored (``getcpu``)."""
    fields = ctx.unpack(value, _UINT)
    return render.pointer(value) if fields is None else f"[{fields[0]}]"


def dec_int_in(ctx: Context, value: int, _index: int) -> str:
    """``[-1]``: an int the program passes by address (``sched_setparam``'s priority)."""
    fields = ctx.unpack(value, _SINT)
    return render.pointer(value) if fields is None else f"[{fields[0]}]"


def dec_offset_in(ctx: Context, value: int, _index: int) -> str:
    """``[4096]``: a file offset passed by address (``splice``, ``copy_file_range``)."""
    fields = ctx.unpack(value, _INT64)
    return render.pointer(value) if fields is None else f"[{fields[0]}]"


def dec_sized_out(ctx: Context, value: int, index: int) -> str:
    """A buffer the kernel filled (``dec_buffer_out``), but its address for a size query (a
    size of 0: ``listxattr``, ``getxattr``)."""
    if ctx.call.args.value(index + 1) == 0:
        return render.pointer(value)
    return dec_buffer_out(ctx, value, index)


@value_only
def dec_key_serial(_ctx: Context, value: int, _index: int) -> str:
    """A key or keyring id: a special keyring's name, else the number."""
    return more.KEY_SPECS.get(value, str(value))


@value_only
def dec_makedev(_ctx: Context, value: int, _index: int) -> str:
    """``makedev(0x8, 0x1)``: a device number as its major and minor (``linux/kdev_t.h``'s
    split of a 32-bit ``dev_t``, and glibc's of a 64-bit one)."""
    value &= 0xFFFFFFFFFFFFFFFF
    major = ((value >> 8) & 0xFFF) | ((value >> 32) & ~0xFFF)
    minor = (value & 0xFF) | ((value >> 12) & ~0xFF & 0xFFFFFFFF)
    return f"makedev({major:#x}, {minor:#x})"


def dec_time_out(ctx: Context, value: int, _index: int) -> str:
    """``[1796607068 /* 2026-12-07T01:31:08+0000 */]``: the time ``time`` stored."""
    fields = ctx.unpack(value, _INT64)
    if fields is None:
        return render.pointer(value)
    return f"[{fields[0]}{date_comment(fields[0])}]"


def return_time(_ctx: Context, value: int) -> str | None:
    """``time``'s result with its date: ``1796607068 (2026-12-07T01:31:08+0000)``."""
    dated = date_comment(value)
    return f"{value} ({dated.removeprefix(' /* ').removesuffix(' */')})" if dated else None


def return_sched_policy(_ctx: Context, value: int) -> str | None:
    """``sched_getscheduler``'s result with the policy's name: ``0 (SCHED_OTHER)``."""
    name = more.SCHED_POLICIES.get(value & ~0x40000000)
    return None if name is None else f"{value} ({name})"


def _timeval(seconds: int, microseconds: int) -> str:
    return f"{{tv_sec={seconds}, tv_usec={microseconds}}}"


def dec_timeval(ctx: Context, value: int, _index: int) -> str:
    """``{tv_sec=1, tv_usec=2}``."""
    fields = ctx.unpack(value, _TIMEVAL)
    return render.pointer(value) if fields is None else _timeval(*fields)


def dec_itimerval(ctx: Context, value: int, _index: int) -> str:
    """``{it_interval={tv_sec=0, tv_usec=0}, it_value={...}}``."""
    fields = ctx.unpack(value, _TIMEVAL_PAIR)
    if fields is None:
        return render.pointer(value)
    return f"{{it_interval={_timeval(*fields[:2])}, it_value={_timeval(*fields[2:])}}}"


def dec_itimerspec(ctx: Context, value: int, _index: int) -> str:
    """``{it_interval={tv_sec=0, tv_nsec=0}, it_value={...}}``."""
    fields = ctx.unpack(value, _TIMESPEC_PAIR)
    if fields is None:
        return render.pointer(value)
    interval, current = fields[:2], fields[2:]
    return (
        f"{{it_interval={{tv_sec={interval[0]}, tv_nsec={interval[1]}}}, "
        f"it_value={{tv_sec={current[0]}, tv_nsec={current[1]}}}}}"
    )


def dec_timezone(ctx: Context, value: int, _index: int) -> str:
    """``{tz_minuteswest=0, tz_dsttime=0}``."""
    fields = ctx.unpack(value, _TIMEZONE)
    if fields is None:
        return render.pointer(value)
    return f"{{tz_minuteswest={fields[0]}, tz_dsttime={fields[1]}}}"


def dec_epoll_event(ctx: Context, value: int, _index: int) -> str:
    """``{events=EPOLLIN, data={u32=1, u64=1}}``; the address for ``EPOLL_CTL_DEL``, which
    reads none."""
    if ctx.call.args.value(1) == _EPOLL_CTL_DEL:
        return render.pointer(value)
    fields = ctx.unpack(value, _EPOLL_EVENT)
    if fields is None:
        return render.pointer(value)
    events = render.flags(fields[0], more.EPOLL_EVENTS, unknown="EPOLL???")
    data = fields[1]
    return f"{{events={events}, data={{u32={data & 0xFFFFFFFF}, u64={data}}}}}"


def dec_mincore_vec(ctx: Context, value: int, index: int) -> str:
    """``[1, 0, ...]``: one residency bit per page of the range, as many as ``-s`` allows."""
    length = ctx.call.args.value(index - 1) & 0xFFFFFFFFFFFFFFFF
    pages = (length + _PAGE - 1) // _PAGE
    shown = min(pages, ctx.limit)
    data = ctx.fetch(value, shown) if shown else b""
    if data is None:
        return render.pointer(value)
    items = [str(byte & 1) for byte in data]
    return "[" + ", ".join(items) + (", ..." if pages > shown else "") + "]"


def dec_seccomp_flags(ctx: Context, value: int, index: int) -> str:
    """``seccomp``'s flags: the filter flags for ``SECCOMP_SET_MODE_FILTER``, else hex."""
    if ctx.call.args.value(0) == 1:
        return _SECCOMP_FLAGS(ctx, value, index)
    return dec_hex(ctx, value & 0xFFFFFFFF, index)


_SECCOMP_FLAGS = flags_of(more.SECCOMP_FILTER_FLAGS, "SECCOMP_FILTER_FLAG_???")
_SECCOMP_RET_ACTIONS = {0: "SECCOMP_RET_KILL_THREAD", 0x80000000: "SECCOMP_RET_KILL_PROCESS",
                        0x00030000: "SECCOMP_RET_TRAP", 0x00050000: "SECCOMP_RET_ERRNO",
                        0x7FC00000: "SECCOMP_RET_USER_NOTIF", 0x7FF00000: "SECCOMP_RET_TRACE",
                        0x7FFC0000: "SECCOMP_RET_LOG", 0x7FFF0000: "SECCOMP_RET_ALLOW"}  # fmt: skip
_SECCOMP_NOTIF_SIZES = struct.Struct("<HHH")


def dec_seccomp_args(ctx: Context, value: int, _index: int) -> str:
    """``seccomp``'s third argument: an action for ``SECCOMP_GET_ACTION_AVAIL``, the sizes the
    kernel stored for ``SECCOMP_GET_NOTIF_SIZES``, else the address (a filter program is
    shown by prctl's decoder only)."""
    op = ctx.call.args.value(0)
    if op == 1:  # the filter program, read as at entry
        return dec_fprog(Context(ctx.call, limit=ctx.limit, exiting=False), value, _index)
    if op == 2:  # an input the kernel leaves as is: read as at entry
        fields = Context(ctx.call, limit=ctx.limit, exiting=False).unpack(value, _UINT)
        if fields is None:
            return render.pointer(value)
        return f"[{render.xval(fields[0], _SECCOMP_RET_ACTIONS, 'SECCOMP_RET_???')}]"
    if op == 3 and ctx.exiting:
        sizes = ctx.unpack(value, _SECCOMP_NOTIF_SIZES)
        if sizes is None:
            return render.pointer(value)
        return (f"{{seccomp_notif={sizes[0]}, seccomp_notif_resp={sizes[1]}, "
                f"seccomp_data={sizes[2]}}}")  # fmt: skip
    return render.pointer(value)


@value_only
def dec_ioprio(_ctx: Context, value: int, _index: int) -> str:
    """``IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 4)``: a class (the bits above 13) and its data."""
    value &= 0xFFFFFFFF
    kind = value >> 13
    name = more.IOPRIO_CLASSES.get(kind, f"{kind:#x} /* IOPRIO_CLASS_??? */")
    return f"IOPRIO_PRIO_VALUE({name}, {value & 0x1FFF})"


def return_ioprio(_ctx: Context, value: int) -> str | None:
    """``ioprio_get``'s result with its class and data."""
    return f"{value} ({dec_ioprio(_ctx, value, 0)})"


@value_only
def dec_swap_flags(_ctx: Context, value: int, _index: int) -> str:
    """``SWAP_FLAG_PREFER|42``: the flags, then the priority when one is given."""
    value &= 0xFFFFFFFF
    names = render.flag_names(value & ~0x7FFF, more.SWAP_FLAGS)
    priority = value & 0x7FFF
    if priority or value & 0x8000 or not names:
        names.append(str(priority))
    return "|".join(names)


@value_only
def dec_syslog_action(_ctx: Context, value: int, _index: int) -> str:
    """``2 /* SYSLOG_ACTION_READ */``: the number, with its name as a comment."""
    name = more.SYSLOG_ACTIONS.get(value)
    return f"{value} /* {name} */" if name else f"{value} /* SYSLOG_ACTION_??? */"


@value_only
def dec_memfd_flags(_ctx: Context, value: int, _index: int) -> str:
    """``MFD_CLOEXEC|MFD_HUGETLB|21<<MFD_HUGE_SHIFT``: flags, then a huge page size's log."""
    value &= 0xFFFFFFFF
    huge = value >> 26
    text = render.flags(value & 0x3FFFFFF, more.MFD_FLAGS, zero="")
    if huge:
        text = f"{text}|{huge}<<MFD_HUGE_SHIFT" if text else f"{huge}<<MFD_HUGE_SHIFT"
    return text or "0"


def mknod_shown(register: int, kind: int) -> tuple[Shown, ...]:
    """``mknod``'s arguments (``mknodat``'s from ``register`` 1): the device number only for
    a character or block device."""
    head = (Shown(0, dec_dirfd, ENTRY),) if register == 2 else ()
    path, mode, dev = register - 1, register, register + 1
    shown = (*head, Shown(path, dec_path, ENTRY), Shown(mode, dec_file_mode, ENTRY))
    if kind in (0o20000, 0o60000):  # S_IFCHR, S_IFBLK
        shown += (Shown(dev, dec_makedev, ENTRY),)
    return shown


@value_only
def dec_file_mode(_ctx: Context, value: int, _index: int) -> str:
    """``S_IFREG|0644``: a file's type and permissions."""
    return render.mode(value & 0xFFFF)


@value_only
def dec_signed64(_ctx: Context, value: int, _index: int) -> str:
    """A 64-bit signed number passed in an unsigned register (``preadv``'s offset)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return str(value - (1 << 64) if value >> 63 else value)


_RWF_FLAGS = flags_of(more.RWF_FLAGS, "RWF_???")


def vectored_shown(flags: bool, out: bool) -> tuple[Shown, ...]:
    """``preadv``'s and ``pwritev``'s arguments (with ``flags``: the ``2`` calls'): the fd, the
    buffers, their count, the offset (``pos_l``, all of it on a 64-bit machine)."""
    buffers = Shown(1, dec_iovec_out, EXIT) if out else Shown(1, dec_iovec_in, ENTRY)
    shown = (Shown(0, dec_fd, ENTRY), buffers, Shown(2, dec_int, ENTRY),
             Shown(3, dec_signed64, ENTRY))  # fmt: skip
    return (*shown, Shown(5, _RWF_FLAGS, ENTRY)) if flags else shown


_LOGLEVELS = ("LOGLEVEL_EMERG", "LOGLEVEL_ALERT", "LOGLEVEL_CRIT", "LOGLEVEL_ERR",
              "LOGLEVEL_WARNING", "LOGLEVEL_NOTICE", "LOGLEVEL_INFO", "LOGLEVEL_DEBUG",
              "LOGLEVEL_DEBUG+1")  # fmt: skip


@value_only
def dec_log_level(_ctx: Context, value: int, _index: int) -> str:
    """``7 /* LOGLEVEL_DEBUG */``: a console log level."""
    name = _LOGLEVELS[value] if 0 <= value < len(_LOGLEVELS) else "LOGLEVEL_???"
    return f"{value} /* {name} */"


def syslog_shown(action: int) -> tuple[Shown, ...]:
    """``syslog``'s arguments for ``action``: the action alone for those that take no buffer,
    the buffer read and its size for the reads (and unknown actions), the level for
    ``SYSLOG_ACTION_CONSOLE_LEVEL``."""
    head = Shown(0, dec_syslog_action, ENTRY)
    if action in (0, 1, 5, 6, 7, 9, 10):
        return (head,)
    if action == 8:
        return (head, Shown(1, dec_hex, ENTRY), Shown(2, dec_log_level, ENTRY))
    buffer = Shown(1, dec_buffer_out, EXIT) if action in (2, 3, 4) else Shown(1, dec_pointer, ENTRY)
    return (head, buffer, Shown(2, dec_int, ENTRY))


def layout_syslog(call: Call) -> tuple[Shown, ...]:
    """See :func:`syslog_shown`."""
    return syslog_shown(call.args.value(0) & 0xFFFFFFFF)


_SIGEVENT = struct.Struct("<QiiQQ")
_SIGEV_NOTIFY = {0: "SIGEV_SIGNAL", 1: "SIGEV_NONE", 2: "SIGEV_THREAD", 4: "SIGEV_THREAD_ID"}
_SIGEV_THREAD = 2
_SIGEV_THREAD_ID = 4
_SIGNAL_MAX = 64


def dec_sigevent(ctx: Context, value: int, _index: int) -> str:
    """``{sigev_value={sival_int=1, sival_ptr=0x1}, sigev_signo=SIGALRM,
    sigev_notify=SIGEV_SIGNAL}``: how a timer or a queue notifies (the value only when set)."""
    fields = ctx.unpack(value, _SIGEVENT)
    if fields is None:
        return render.pointer(value)
    sival, signo, notify, function, attributes = fields
    parts = []
    if sival:
        sival_int = sival & 0xFFFFFFFF
        sival_int -= (sival_int >> 31) << 32
        parts.append(f"sigev_value={{sival_int={sival_int}, sival_ptr={hex(sival)}}}")
    signo &= 0xFFFFFFFF
    parts.append(f"sigev_signo={render.signal(signo) if 0 < signo <= _SIGNAL_MAX else signo}")
    parts.append(f"sigev_notify={render.xval(notify, _SIGEV_NOTIFY, 'SIGEV_???')}")
    if notify == _SIGEV_THREAD:
        parts.append(f"sigev_notify_function={render.pointer(function)}")
        parts.append(f"sigev_notify_attributes={render.pointer(attributes)}")
    elif notify == _SIGEV_THREAD_ID:
        thread = function & 0xFFFFFFFF
        parts.append(f"sigev_notify_thread_id={thread - ((thread >> 31) << 32)}")
    return "{" + ", ".join(parts) + "}"


_SIGINFO_SIZE = 128


def dec_siginfo_out(ctx: Context, value: int, _index: int) -> str:
    """``{si_signo=SIGALRM, si_code=SI_TKILL, si_pid=2, si_uid=0}``: a signal's details the
    kernel stored (``rt_sigtimedwait``)."""
    data = ctx.fetch(value, _SIGINFO_SIZE)
    if data is None:
        return render.pointer(value)
    return "{" + ", ".join(f"{name}={field}" for name, field in siginfo_fields(data).items()) + "}"


def return_signal(_ctx: Context, value: int) -> str | None:
    """A signal number returned (``rt_sigtimedwait``): ``14 (SIGALRM)``."""
    return f"{value} ({render.signal(value)})" if 0 < value <= _SIGNAL_MAX else None


def return_ppoll(ctx: Context, value: int) -> str | None:
    """``ppoll``'s result: ``poll``'s, and the time left when a timeout was given."""
    if value == 0:
        return "0 (Timeout)"
    polled = return_poll(ctx, value)
    events = polled[len(str(value)) + 2 : -1] if polled else ""
    left = ""
    if ctx.call.args.value(2):
        left = "left " + dec_timespec(ctx, ctx.call.args.value(2), 2)
    inner = ", ".join(part for part in (events, left) if part)
    return f"{value} ({inner})" if inner else None


_SCHED_ATTR = struct.Struct("<IIQiIQQQ")
_SCHED_ATTR_UTIL = struct.Struct("<II")
_SCHED_FLAGS = ((1, "SCHED_FLAG_RESET_ON_FORK"), (2, "SCHED_FLAG_RECLAIM"),
                (4, "SCHED_FLAG_DL_OVERRUN"), (8, "SCHED_FLAG_KEEP_POLICY"),
                (0x10, "SCHED_FLAG_KEEP_PARAMS"), (0x20, "SCHED_FLAG_UTIL_CLAMP_MIN"),
                (0x40, "SCHED_FLAG_UTIL_CLAMP_MAX"))  # fmt: skip


def dec_sched_attr(ctx: Context, value: int, _index: int) -> str:
    """``{size=48, sched_policy=SCHED_OTHER, sched_flags=0, ..., sched_period=0}``, with the
    utilization clamps when the structure's size has them."""
    fields = ctx.unpack(value, _SCHED_ATTR)
    if fields is None:
        return render.pointer(value)
    size, policy, flags, nice, priority, runtime, deadline, period = fields
    text = (
        f"{{size={size}, sched_policy={render.xval(policy, more.SCHED_POLICIES, 'SCHED_???')}, "
        f"sched_flags={render.flags(flags, _SCHED_FLAGS, unknown='SCHED_FLAG_???')}, "
        f"sched_nice={nice}, sched_priority={priority}, sched_runtime={runtime}, "
        f"sched_deadline={deadline}, sched_period={period}"
    )
    if size >= _SCHED_ATTR.size + _SCHED_ATTR_UTIL.size:
        clamps = ctx.unpack(value + _SCHED_ATTR.size, _SCHED_ATTR_UTIL)
        if clamps is not None:
            text += f", sched_util_min={clamps[0]}, sched_util_max={clamps[1]}"
    return text + "}"


_KCMP_FILE = 0
_KCMP_EPOLL_TFD = 7
_KCMP_EPOLL_SLOT = struct.Struct("<III")


def dec_epoll_slot(ctx: Context, value: int, _index: int) -> str:
    """``{efd=3, tfd=4, toff=0}``: the epoll target ``kcmp`` compares."""
    fields = ctx.unpack(value, _KCMP_EPOLL_SLOT)
    if fields is None:
        return render.pointer(value)
    efd, tfd, offset = fields
    return f"{{efd={efd - ((efd >> 31) << 32)}, tfd={tfd - ((tfd >> 31) << 32)}, toff={offset}}}"


def _fd_in_register(ctx: Context, value: int, _index: int) -> str:
    value &= 0xFFFFFFFF
    return ctx.fd(value - ((value >> 31) << 32))


def kcmp_shown(kind: int) -> tuple[Shown, ...]:
    """``kcmp``'s arguments for comparison ``kind``: two fds for ``KCMP_FILE``, an fd and an
    epoll slot for ``KCMP_EPOLL_TFD``, none for the rest, and hex for unknown kinds."""
    head = (Shown(0, dec_int, ENTRY), Shown(1, dec_int, ENTRY), Shown(2, _KCMP_TYPE, ENTRY))
    if kind == _KCMP_FILE:
        return (*head, Shown(3, _fd_in_register, ENTRY), Shown(4, _fd_in_register, ENTRY))
    if kind == _KCMP_EPOLL_TFD:
        return (*head, Shown(3, _fd_in_register, ENTRY), Shown(4, dec_epoll_slot, ENTRY))
    if kind in more.KCMP_TYPES:
        return head
    return (*head, Shown(3, dec_hex, ENTRY), Shown(4, dec_hex, ENTRY))


_KCMP_TYPE = enum_of(more.KCMP_TYPES, "KCMP_???")


def layout_kcmp(call: Call) -> tuple[Shown, ...]:
    """See :func:`kcmp_shown`."""
    return kcmp_shown(call.args.value(2) & 0xFFFFFFFF)


_FAN_CLASS_MASK = 0xC


@value_only
def dec_fanotify_init_flags(_ctx: Context, value: int, _index: int) -> str:
    """``FAN_CLASS_NOTIF|FAN_CLOEXEC``: a notification class, then the flags."""
    value &= 0xFFFFFFFF
    kind = value & _FAN_CLASS_MASK
    name = more.FAN_CLASSES.get(kind, f"{kind:#x} /* FAN_CLASS_??? */")
    rest = value & ~_FAN_CLASS_MASK
    if not rest:
        return name
    return f"{name}|{render.flags(rest, more.FAN_INIT_FLAGS, unknown='FAN_???')}"


_LANDLOCK_RULESET = struct.Struct("<Q")
_LANDLOCK_PATH_BENEATH = struct.Struct("<Qi")
_LANDLOCK_ACCESS = flags_of(more.LANDLOCK_ACCESS_FS, "LANDLOCK_ACCESS_FS_???")


def dec_landlock_ruleset(ctx: Context, value: int, index: int) -> str:
    """``{handled_access_fs=LANDLOCK_ACCESS_FS_EXECUTE}``, sized by the next argument (``...``
    for bytes past the fields known; the address when smaller than they are)."""
    size = ctx.call.args.value(index + 1)
    if value == 0 or size < _LANDLOCK_RULESET.size:
        return render.pointer(value)
    fields = ctx.unpack(value, _LANDLOCK_RULESET)
    if fields is None:
        return render.pointer(value)
    more_bytes = ", ..." if size > _LANDLOCK_RULESET.size else ""
    return f"{{handled_access_fs={_LANDLOCK_ACCESS(ctx, fields[0], index)}{more_bytes}}}"


def dec_landlock_rule(ctx: Context, value: int, index: int) -> str:
    """``{allowed_access=..., parent_fd=3}``: a rule of the kind the argument before names."""
    if ctx.call.args.value(index - 1) != 1:
        return render.pointer(value)
    fields = ctx.unpack(value, _LANDLOCK_PATH_BENEATH)
    if fields is None:
        return render.pointer(value)
    access, parent = fields
    return f"{{allowed_access={_LANDLOCK_ACCESS(ctx, access, index)}, parent_fd={ctx.fd(parent)}}}"


@value_only
def dec_quota_command(_ctx: Context, value: int, _index: int) -> str:
    """``QCMD(Q_GETFMT, USRQUOTA)``: a quota command and the quota type it is for."""
    value &= 0xFFFFFFFF
    command, kind = value >> 8, value & 0xFF
    command_name = more.QUOTA_COMMANDS.get(command, f"{command:#x} /* Q_??? */")
    kind_name = more.QUOTA_TYPES.get(kind, f"{kind:#x} /* ???QUOTA */")
    return f"QCMD({command_name}, {kind_name})"


_QUOTA_WITHOUT_ID = frozenset({0x800001, 0x800003, 0x800004})  # Q_SYNC, Q_QUOTAOFF, Q_GETFMT


def quotactl_fd_shown(command: int) -> tuple[Shown, ...]:
    """``quotactl_fd``'s arguments: the id only for the commands about one user or group."""
    head = (Shown(0, dec_fd, ENTRY), Shown(1, dec_quota_command, ENTRY))
    if command >> 8 in _QUOTA_WITHOUT_ID:
        return (*head, Shown(3, dec_pointer, ENTRY))
    return (*head, Shown(2, dec_int, ENTRY), Shown(3, dec_pointer, ENTRY))


def layout_quotactl_fd(call: Call) -> tuple[Shown, ...]:
    """See :func:`quotactl_fd_shown`."""
    return quotactl_fd_shown(call.args.value(1) & 0xFFFFFF00)


def mq_open_shown(creating: int) -> tuple[Shown, ...]:
    """``mq_open``'s arguments: the mode and attributes only with ``O_CREAT``."""
    row = MORE_SYSCALLS["mq_open"]
    count = 4 if creating else 2
    return tuple(Shown(index, *row[index]) for index in range(count))


def layout_mq_open(call: Call) -> tuple[Shown, ...]:
    """See :func:`mq_open_shown`."""
    return mq_open_shown(call.args.value(1) & xlat.O_CREAT)


def layout_mknod(call: Call) -> tuple[Shown, ...]:
    """See :func:`mknod_shown`."""
    register = 2 if call.name == "mknodat" else 1
    return mknod_shown(register, call.args.value(register) & 0o170000)


@value_only
def dec_mount_flags(_ctx: Context, value: int, _index: int) -> str:
    """``MS_MGC_VAL|MS_RDONLY|MS_NOSUID``."""
    return mount_flags(value, more.MOUNT_FLAGS)


def _f(table: xlat.Flags, unknown: str) -> tuple[Decoder, int]:
    return (flags_of(table, unknown), ENTRY)


def _e(table: dict[int, str], unknown: str) -> tuple[Decoder, int]:
    return (enum_of(table, unknown), ENTRY)


_FD = (dec_fd, ENTRY)
_DIRFD = (dec_dirfd, ENTRY)
_PATH = (dec_path, ENTRY)
_STR = (dec_string, ENTRY)
_INT = (dec_int, ENTRY)
_U32 = (dec_u32, ENTRY)
_PTR = (dec_pointer, ENTRY)
_HEX = (dec_hex, ENTRY)
_SIZE = (dec_int, ENTRY)
_ID = (dec_id, ENTRY)
_ID_OUT = (dec_id_out, EXIT)
_CLOCK = _e(xlat.CLOCKS, "CLOCK_???")
_ITIMERSPEC_IN = (dec_itimerspec, ENTRY)
_ITIMERSPEC_OUT = (dec_itimerspec, EXIT)
_SPLICE = _f(more.SPLICE_FLAGS, "SPLICE_F_???")
_OFFSET_IN = (dec_offset_in, ENTRY)
_SCHED_POLICY = _e(more.SCHED_POLICIES, "SCHED_???")
_PRIO_WHICH = _e(more.PRIORITY_WHICH, "PRIO_???")
_KEY = (dec_key_serial, ENTRY)

# fmt: off
MORE_SYSCALLS: dict[str, tuple[tuple[Decoder, int], ...]] = {
    "flock": (_FD, _f(more.FLOCK_OPS, "LOCK_???")),
    "mlockall": (_f(more.MCL_FLAGS, "MCL_???"),),
    "mlock2": (_PTR, _INT, _f(more.MLOCK_FLAGS, "MLOCK_???")),
    "memfd_secret": ((flags_of(more.CLOEXEC_ONLY), ENTRY),),
    "memfd_create": ((dec_memfd_name, ENTRY), (dec_memfd_flags, ENTRY)),
    "inotify_init1": (_f(more.INOTIFY_INIT_FLAGS, "IN_???"),),
    "inotify_add_watch": (_FD, _PATH, _f(more.INOTIFY_MASK, "IN_???")),
    "linkat": (_DIRFD, _PATH, _DIRFD, _PATH, (dec_at_flags, ENTRY)),
    "renameat2": (_DIRFD, _PATH, _DIRFD, _PATH, _f(more.RENAME_FLAGS, "RENAME_???")),
    "fchownat": (_DIRFD, _PATH, _ID, _ID, (dec_at_flags, ENTRY)),
    "fallocate": (_FD, _f(more.FALLOC_FLAGS, "FALLOC_FL_???"), _INT, _INT),
    "epoll_ctl": (_FD, _e(more.EPOLL_CTL_OPS, "EPOLL_CTL_???"), _FD, (dec_epoll_event, ENTRY)),
    "shutdown": (_FD, _e(more.SHUTDOWN_HOW, "SHUT_???")),
    "sched_get_priority_min": (_SCHED_POLICY,),
    "sched_get_priority_max": (_SCHED_POLICY,),
    "sched_setscheduler": (_INT, _SCHED_POLICY, (dec_int_in, ENTRY)),
    "sched_getparam": (_INT, (dec_int_out, EXIT)),
    "sched_setparam": (_INT, (dec_int_in, ENTRY)),
    "sched_rr_get_interval": (_INT, (dec_timespec, EXIT)),
    "sync_file_range": (_FD, _INT, _INT, _f(more.SYNC_FILE_RANGE_FLAGS, "SYNC_FILE_RANGE_???")),
    "tee": (_FD, _FD, _SIZE, _SPLICE),
    "splice": (_FD, _OFFSET_IN, _FD, _OFFSET_IN, _SIZE, _SPLICE),
    "copy_file_range": (_FD, _OFFSET_IN, _FD, _OFFSET_IN, _SIZE, _U32),
    "setns": (_FD, _f(more.NAMESPACE_TYPES, "CLONE_NEW???")),
    "unshare": (_f(more.UNSHARE_FLAGS, "CLONE_???"),),
    "pkey_alloc": (_HEX, _f(more.PKEY_ACCESS, "PKEY_???")),
    "pkey_mprotect": (_PTR, _INT, (dec_prot, ENTRY), _INT),
    "shmat": (_INT, _PTR, _f(more.SHMAT_FLAGS, "SHM_???")),
    "fsopen": (_STR, _f(more.FSOPEN_FLAGS, "FSOPEN_???")),
    "pidfd_open": (_INT, _f(more.PIDFD_OPEN_FLAGS, "PIDFD_???")),
    "userfaultfd": (_f(more.USERFAULTFD_FLAGS, "UFFD_???"),),
    "getpriority": (_PRIO_WHICH, _INT),
    "setpriority": (_PRIO_WHICH, _INT, _INT),
    "delete_module": (_STR, _f(more.DELETE_MODULE_FLAGS, "O_???")),
    "finit_module": (_FD, _STR, _f(more.MODULE_INIT_FLAGS, "MODULE_INIT_???")),
    "init_module": (_PTR, _INT, _STR),
    "perf_event_open": (_PTR, _INT, _INT, _FD, _f(more.PERF_FLAGS, "PERF_FLAG_???")),
    "getitimer": (_e(more.ITIMERS, "ITIMER_???"), (dec_itimerval, EXIT)),
    "setitimer": (_e(more.ITIMERS, "ITIMER_???"), (dec_itimerval, ENTRY), (dec_itimerval, EXIT)),
    "gettimeofday": ((dec_timeval, EXIT), (dec_timezone, EXIT)),
    "settimeofday": ((dec_timeval, ENTRY), (dec_timezone, ENTRY)),
    "utimes": (_PATH, (dec_timeval_pair, ENTRY)),
    "utime": (_PATH, (dec_utimbuf, ENTRY)),
    "utimensat": (_DIRFD, _PATH, (dec_timespec_pair, ENTRY), (dec_at_flags, ENTRY)),
    "futimesat": (_DIRFD, _PATH, (dec_timeval_pair, ENTRY)),
    "add_key": (_STR, _STR, (dec_buffer_in, ENTRY), _INT, _KEY),
    "request_key": (_STR, _STR, _STR, _KEY),
    "seccomp": (_e(more.SECCOMP_OPS, "SECCOMP_???"), (dec_seccomp_flags, ENTRY),
                (dec_seccomp_args, EXIT)),
    "timerfd_create": (_CLOCK, _f(more.TIMERFD_CREATE_FLAGS, "TFD_???")),
    "timerfd_settime": (_FD, _f(more.TIMERFD_SETTIME_FLAGS, "TFD_TIMER_???"), _ITIMERSPEC_IN,
                        _ITIMERSPEC_OUT),
    "timerfd_gettime": (_FD, _ITIMERSPEC_OUT),
    "timer_settime": (_INT, _f(xlat.TIMER_FLAGS, "TIMER_???"), _ITIMERSPEC_IN, _ITIMERSPEC_OUT),
    "timer_gettime": (_INT, _ITIMERSPEC_OUT),
    "landlock_create_ruleset": ((dec_landlock_ruleset, ENTRY), _INT,
                                _f(more.LANDLOCK_CREATE_FLAGS, "LANDLOCK_CREATE_RULESET_???")),
    "ioperm": (_HEX, _HEX, _INT),
    "getcpu": ((dec_uint_out, EXIT), (dec_uint_out, EXIT), _PTR),
    "getresuid": (_ID_OUT, _ID_OUT, _ID_OUT),
    "getresgid": (_ID_OUT, _ID_OUT, _ID_OUT),
    "mincore": (_PTR, _INT, (dec_mincore_vec, EXIT)),
    "time": ((dec_time_out, EXIT),),
    "ustat": ((dec_makedev, ENTRY), _PTR),
    "remap_file_pages": (_PTR, _INT, (dec_prot, ENTRY), _INT, (dec_map_flags, ENTRY)),
    "ioprio_get": (_e(more.IOPRIO_WHO, "IOPRIO_WHO_???"), _INT),
    "ioprio_set": (_e(more.IOPRIO_WHO, "IOPRIO_WHO_???"), _INT, (dec_ioprio, ENTRY)),
    "swapon": (_PATH, (dec_swap_flags, ENTRY)),
    "signalfd4": (_FD, (dec_sigset_next, ENTRY), _INT, _f(more.SIGNALFD_FLAGS, "SFD_???")),
    "signalfd": (_FD, (dec_sigset_next, ENTRY), _INT),
    "eventfd2": (_U32, _f(more.EVENTFD_FLAGS, "EFD_???")),
    "rt_sigpending": ((dec_sigset_any, EXIT), _INT),
    "rt_sigtimedwait": ((dec_sigset, ENTRY), (dec_siginfo_out, EXIT), (dec_timespec, ENTRY),
                        _INT),
    "timer_create": (_CLOCK, (dec_sigevent, ENTRY), (dec_int_out, EXIT)),
    "mq_notify": (_FD, (dec_sigevent, ENTRY)),
    "mq_unlink": (_PATH,),
    "set_mempolicy": ((dec_mempolicy_mode, ENTRY), (dec_node_mask_in, ENTRY), _INT),
    "get_mempolicy": ((dec_mempolicy_out, EXIT), (dec_node_mask_out, EXIT), _INT, _PTR,
                      _f(more.GET_MEMPOLICY_FLAGS, "MPOL_F_???")),
    "mbind": (_PTR, _INT, (dec_mempolicy_mode, ENTRY), (dec_node_mask_in, ENTRY), _INT,
              _f(more.MBIND_FLAGS, "MPOL_MF_???")),
    "lookup_dcookie": (_INT, _PTR, _INT),
    "mount": (_PATH, _PATH, (dec_mount_type, ENTRY), (dec_mount_flags, ENTRY),
              (dec_mount_data, ENTRY)),
    "clock_settime": (_CLOCK, (dec_timespec, ENTRY)),
    "getdents": (_FD, (dec_dirents, EXIT), _U32),
    "umount2": (_PATH, _f(more.UMOUNT_FLAGS, "MNT_???")),
    "fsetxattr": (_FD, _STR, (dec_xattr_value, ENTRY), _INT, _f(more.XATTR_FLAGS, "XATTR_???")),
    "setxattr": (_PATH, _STR, (dec_xattr_value, ENTRY), _INT, _f(more.XATTR_FLAGS, "XATTR_???")),
    "lsetxattr": (_PATH, _STR, (dec_xattr_value, ENTRY), _INT, _f(more.XATTR_FLAGS, "XATTR_???")),
    "fanotify_init": ((dec_fanotify_init_flags, ENTRY), (dec_open_flags, ENTRY)),
    "landlock_add_rule": (_FD, _e(more.LANDLOCK_RULES, "LANDLOCK_RULE_???"),
                          (dec_landlock_rule, ENTRY), _HEX),
    "mq_open": (_PATH, (dec_open_flags, ENTRY), (dec_mode, ENTRY), (dec_mq_attr, ENTRY)),
    "mq_getsetattr": (_FD, (dec_mq_attr, ENTRY), (dec_mq_attr, EXIT)),
    "statfs": (_PATH, (dec_statfs, EXIT)),
    "readv": (_FD, (dec_iovec_out, EXIT), _INT),
    "writev": (_FD, (dec_iovec_in, ENTRY), _INT),
    "vmsplice": (_FD, (dec_iovec_in, ENTRY), _INT, _SPLICE),
    "process_vm_readv": (_INT, (dec_iovec_out, EXIT), _INT,
                         (dec_iovec_addresses, ENTRY), _INT, _INT),
    "process_vm_writev": (_INT, (dec_iovec_in, ENTRY), _INT,
                          (dec_iovec_addresses, ENTRY), _INT, _INT),
    "process_madvise": (_FD, (dec_iovec_addresses, ENTRY), _INT,
                        _e(xlat.MADVISE, "MADV_???"), _HEX),
    "sendfile": (_FD, _FD, (dec_offset_updated, BOTH), _INT),
    "semop": (_INT, (dec_sembufs, ENTRY), _U32),
    "semtimedop": (_INT, (dec_sembufs, ENTRY), _U32, (dec_timespec, ENTRY)),
    "listxattr": (_PATH, (dec_sized_out, EXIT), _INT),
    "llistxattr": (_PATH, (dec_sized_out, EXIT), _INT),
    "flistxattr": (_FD, (dec_sized_out, EXIT), _INT),
    "getxattr": (_PATH, _STR, (dec_sized_out, EXIT), _INT),
    "lgetxattr": (_PATH, _STR, (dec_sized_out, EXIT), _INT),
    "fgetxattr": (_FD, _STR, (dec_sized_out, EXIT), _INT),
    "mq_timedsend": (_FD, (dec_buffer_in, ENTRY), _INT, _U32, (dec_timespec, ENTRY)),
    "mq_timedreceive": (_FD, (dec_buffer_out, EXIT), _INT, (dec_uint_out, EXIT),
                        (dec_timespec, ENTRY)),
    "fstatfs": (_FD, (dec_statfs, EXIT)),
    "sched_getattr": (_INT, (dec_sched_attr, EXIT), _U32, _U32),
    "sched_setattr": (_INT, (dec_sched_attr, ENTRY), _U32),
    "ppoll": ((dec_pollfds, ENTRY), _U32, (dec_timespec, ENTRY), (dec_sigset, ENTRY), _INT),
    "chown": (_PATH, _ID, _ID),
    "lchown": (_PATH, _ID, _ID),
    "fchown": (_FD, _ID, _ID),
}
# fmt: on
"""Rows added to :data:`~sysemu.tools.trace.decoders.SYSCALLS`."""

MORE_RETURNS = {
    "time": return_time,
    "sched_getscheduler": return_sched_policy,
    "ioprio_get": return_ioprio,
    "rt_sigtimedwait": return_signal,
    "ppoll": return_ppoll,
}
"""Results written in strace's own way, added to :data:`~.decoders.RETURNS`."""

BY_CTYPE: dict[str, Decoder] = {
    "uid_t": dec_id,
    "gid_t": dec_id,
    "old_uid_t": dec_id,
    "old_gid_t": dec_id,
    "clockid_t": _CLOCK[0],
    "const clockid_t": _CLOCK[0],
}
"""Decoders of parameters by their C type, before the generic ones by kind."""
