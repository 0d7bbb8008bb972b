"""Decoders of the calls whose shown arguments depend on a command or a kind (``syslog``,
``kcmp``, ``quotactl_fd``, ``mq_open``, ``mknod``, ``preadv``...) and of a few more structures
(``sigevent``, ``siginfo``, ``sched_attr``, landlock rules), with the results strace decorates
(``ioprio_get``, ``rt_sigtimedwait``, ``ppoll``). The rows using them are in
:mod:`.decoders_more`.
"""

from __future__ import annotations

import struct

from sysemu.api.call import Call
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace import xlat_more as more
from sysemu.tools.trace.context import ENTRY, EXIT, Context, Shown, value_only
from sysemu.tools.trace.decoders_arrays import (
    dec_iovec_in,
    dec_iovec_out,
)
from sysemu.tools.trace.decoders_calls import return_poll
from sysemu.tools.trace.decoders_records import (
    dec_mq_attr,
    mount_flags,
)
from sysemu.tools.trace.decoders_scalar import (
    dec_buffer_out,
    dec_dirfd,
    dec_fd,
    dec_hex,
    dec_int,
    dec_mode,
    dec_open_flags,
    dec_path,
    dec_pointer,
    enum_of,
    flags_of,
)
from sysemu.tools.trace.decoders_structs import (
    dec_timespec,
)
from sysemu.tools.trace.values import siginfo_fields


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


@value_only
def dec_makedev(_ctx: Context, value: int, _index: int) -> str:
    """``makedev(0x8, 0x1)``: a device number as its major and minor (``linux/kdev_t.h``'s
    split of a 32-bit ``dev_t``, and glibc's of a 64-bit one)."""
    value &= 0xFFFFFFFFFFFFFFFF
    major = ((value >> 8) & 0xFFF) | ((value >> 32) & ~0xFFF)
    minor = (value & 0xFF) | ((value >> 12) & ~0xFF & 0xFFFFFFFF)
    return f"makedev({major:#x}, {minor:#x})"


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
_UINT32 = struct.Struct("<I")
_SCHED_FLAG_KEEP_POLICY = 0x8
_SCHED_FLAG_KEEP_PARAMS = 0x10
_SCHED_FLAGS = ((1, "SCHED_FLAG_RESET_ON_FORK"), (2, "SCHED_FLAG_RECLAIM"),
                (4, "SCHED_FLAG_DL_OVERRUN"), (8, "SCHED_FLAG_KEEP_POLICY"),
                (0x10, "SCHED_FLAG_KEEP_PARAMS"), (0x20, "SCHED_FLAG_UTIL_CLAMP_MIN"),
                (0x40, "SCHED_FLAG_UTIL_CLAMP_MAX"))  # fmt: skip


def sched_attr_text(ctx: Context, value: int) -> str:
    """``{size=48, sched_policy=SCHED_OTHER, sched_flags=0, ..., sched_period=0}``: the
    fields the structure's own size covers, without the policy or the parameters the flags
    say to keep, with the utilization clamps when the size has them."""
    head = ctx.unpack(value, _UINT32)
    if head is None:
        return render.pointer(value)
    size = head[0]
    if 0 < size < _SCHED_ATTR.size:  # (0: the first version's size, to the kernel)
        return f"{{size={size}}}"
    fields = ctx.unpack(value, _SCHED_ATTR)
    if fields is None:
        return render.pointer(value)
    size, policy, flags, nice, priority, runtime, deadline, period = fields
    parts = [f"size={size}"]
    if not flags & (_SCHED_FLAG_KEEP_POLICY | _SCHED_FLAG_KEEP_PARAMS):
        parts.append(f"sched_policy={render.xval(policy, more.SCHED_POLICIES, 'SCHED_???')}")
    parts.append(f"sched_flags={render.flags(flags, _SCHED_FLAGS, unknown='SCHED_FLAG_???')}")
    if not flags & _SCHED_FLAG_KEEP_PARAMS:
        parts += [f"sched_nice={nice}", f"sched_priority={priority}",
                  f"sched_runtime={runtime}", f"sched_deadline={deadline}",
                  f"sched_period={period}"]  # fmt: skip
    if size >= _SCHED_ATTR.size + _SCHED_ATTR_UTIL.size:
        clamps = ctx.unpack(value + _SCHED_ATTR.size, _SCHED_ATTR_UTIL)
        if clamps is not None:
            parts += [f"sched_util_min={clamps[0]}", f"sched_util_max={clamps[1]}"]
    if size > _SCHED_ATTR.size + _SCHED_ATTR_UTIL.size:
        parts.append("...")
    return "{" + ", ".join(parts) + "}"


def dec_sched_attr(ctx: Context, value: int, _index: int) -> str:
    """``sched_getattr``'s structure (see :func:`sched_attr_text`)."""
    return sched_attr_text(ctx, value)


_E2BIG = -7


def dec_sched_attr_in(ctx: Context, value: int, index: int) -> str:
    """``sched_setattr``'s structure, and after ``E2BIG`` the size the kernel wrote back:
    ``{size=1} => {size=56}`` (a ``BOTH`` decoder)."""
    if not ctx.exiting:
        return sched_attr_text(ctx, value)
    passed = ctx.saved.get(index) or render.pointer(value)
    if ctx.result != _E2BIG:
        return passed
    size = Context(ctx.call, limit=ctx.limit, exiting=False).unpack(value, _UINT32)
    return passed if size is None else f"{passed} => {{size={size[0]}}}"


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
    command_name = render.xval(command, more.QUOTA_COMMANDS, "Q_???")
    kind_name = render.xval(kind, more.QUOTA_TYPES, "???QUOTA")
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
    shown = (Shown(0, dec_path, ENTRY), Shown(1, dec_open_flags, ENTRY))
    if not creating:
        return shown
    return (*shown, Shown(2, dec_mode, ENTRY), Shown(3, dec_mq_attr, ENTRY))


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


_SYSCTL_ARGS = struct.Struct("<Qi4xQQQQ")


def dec_sysctl_args(ctx: Context, value: int, _index: int) -> str:
    """``{name=..., nlen=2, oldval=..., oldlenp=..., newval=..., newlen=0}``: ``_sysctl``'s
    request."""
    fields = ctx.unpack(value, _SYSCTL_ARGS)
    if fields is None:
        return render.pointer(value)
    name, length, old, old_length, new, new_length = fields
    return (
        f"{{name={render.pointer(name)}, nlen={length}, oldval={render.pointer(old)}, "
        f"oldlenp={render.pointer(old_length)}, newval={render.pointer(new)}, "
        f"newlen={new_length}}}"
    )


_SIGINFO_QUEUE = struct.Struct("<iii4xiIQ")
_SI_QUEUE = -1


def dec_siginfo_in(ctx: Context, value: int, _index: int) -> str:
    """A signal's details the program passes (``pidfd_send_signal``, ``rt_sigqueueinfo``):
    for ``SI_QUEUE`` the sender and the value sent too."""
    data = ctx.fetch(value, _SIGINFO_SIZE)
    if data is None:
        return render.pointer(value)
    signo, errno, code, pid, uid, sival = _SIGINFO_QUEUE.unpack_from(data)
    if code != _SI_QUEUE:
        fields = siginfo_fields(data)
        return "{" + ", ".join(f"{name}={field}" for name, field in fields.items()) + "}"
    parts = [f"si_signo={render.signal(signo)}", "si_code=SI_QUEUE"]
    if errno:
        parts.append(f"si_errno={errno & 0xFFFFFFFF}")
    sival_int = sival & 0xFFFFFFFF
    sival_int -= (sival_int >> 31) << 32
    parts += [f"si_pid={pid}", f"si_uid={'-1' if uid == 0xFFFFFFFF else uid}",
              f"si_int={sival_int}", f"si_ptr={render.pointer(sival)}"]  # fmt: skip
    return "{" + ", ".join(parts) + "}"


_USER_DESC = struct.Struct("<IIII")


def _hex08(value: int) -> str:
    """C's ``%#08x``."""
    return f"{value:#08x}" if value else "00000000"


def dec_user_desc(ctx: Context, value: int, index: int) -> str:
    """``{entry_number=6, base_addr=0x..., limit=0xfffff, seg_32bit=1, ...}``: the LDT entry
    ``modify_ldt`` reads, when its size is what the next argument gives."""
    if ctx.call.args.value(index + 1) != _USER_DESC.size:
        return render.pointer(value)
    fields = ctx.unpack(value, _USER_DESC)
    if fields is None:
        return render.pointer(value)
    entry, base, limit, bits = fields
    flags = (("seg_32bit", 0, 1), ("contents", 1, 2), ("read_exec_only", 3, 1),
             ("limit_in_pages", 4, 1), ("seg_not_present", 5, 1), ("useable", 6, 1),
             ("lm", 7, 1))  # fmt: skip
    shown = ", ".join(
        f"{name}={(bits >> shift) & ((1 << width) - 1)}" for name, shift, width in flags
    )
    number = "-1" if entry == 0xFFFFFFFF else str(entry)
    return f"{{entry_number={number}, base_addr={_hex08(base)}, limit={_hex08(limit)}, {shown}}}"
