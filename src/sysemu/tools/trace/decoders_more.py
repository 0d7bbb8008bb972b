"""More table rows and type functions: ids, output integers, times, and the flags and commands
of the calls everyday programs rarely make (see :mod:`.decoders` for how rows work; the
tables are :mod:`.xlat_more`'s).

The generic decoders by C type (:data:`BY_CTYPE`) cover every call with such a parameter:
``uid_t`` and ``gid_t`` are ``-1`` when all their bits are set (the "unchanged" id of
``chown`` and ``setresuid``), as strace prints them, and ``clockid_t`` is a clock's name.
"""

from __future__ import annotations

import struct

from sysemu.abi.kexec import KEXEC_ARCHES
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace import xlat_more as more
from sysemu.tools.trace.context import BOTH, ENTRY, EXIT, Context, Decoder, value_only
from sysemu.tools.trace.decoders_arrays import (
    dec_futex_waiters,
    dec_iovec_addresses,
    dec_iovec_in,
    dec_iovec_out,
    dec_kexec_segments,
    dec_nodes_in,
    dec_offset_updated,
    dec_page_addresses,
    dec_page_status_out,
    dec_sembufs,
)
from sysemu.tools.trace.decoders_calls import dec_fprog
from sysemu.tools.trace.decoders_layouts import (
    dec_fanotify_init_flags,
    dec_ioprio,
    dec_landlock_rule,
    dec_landlock_ruleset,
    dec_makedev,
    dec_memfd_flags,
    dec_mount_flags,
    dec_sched_attr,
    dec_sched_attr_in,
    dec_sigevent,
    dec_siginfo_in,
    dec_siginfo_out,
    dec_swap_flags,
    dec_sysctl_args,
    dec_user_desc,
    return_ioprio,
    return_ppoll,
    return_signal,
)
from sysemu.tools.trace.decoders_msghdr import (
    dec_mmsghdrs_in,
    dec_mmsghdrs_out,
    dec_msghdr_in,
    dec_msghdr_out,
    return_recvmmsg,
)
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
    dec_open_how,
    dec_sigset_any,
    dec_sigset_next,
    dec_statfs,
    dec_timespec_pair,
    dec_timeval_pair,
    dec_timex,
    dec_utimbuf,
    dec_xattr_value,
    return_clock_state,
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
    dec_signal,
    dec_string,
    dec_u32,
    enum_of,
    flags_of,
)
from sysemu.tools.trace.decoders_select import (
    dec_fd_set,
    dec_sigmask_arg,
    return_pselect6,
    return_select,
)
from sysemu.tools.trace.decoders_select import dec_timeval as dec_select_timeval
from sysemu.tools.trace.decoders_sockopt import (
    dec_socket_level,
    dec_socket_option,
    dec_sockopt_in,
    dec_sockopt_length,
    dec_sockopt_out,
)
from sysemu.tools.trace.decoders_structs import (
    dec_dirents,
    dec_int_out,
    dec_pollfds,
    dec_sigset,
    dec_timespec,
)

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


@value_only
def dec_kexec_flags(_ctx: Context, value: int, _index: int) -> str:
    """``KEXEC_ARCH_DEFAULT|KEXEC_ON_CRASH``: the image's architecture, then the flags."""
    arch = value & 0xFFFF0000
    arch_text = KEXEC_ARCHES.get(arch, f"{arch:#x} /* KEXEC_ARCH_??? */")
    rest = value & ~0xFFFF0000
    return arch_text + (
        "|" + render.flags(rest, more.KEXEC_FLAGS, unknown="KEXEC_???") if rest else ""
    )


def dec_buffer_sized_before(ctx: Context, value: int, index: int) -> str:
    """A buffer passed in, sized by the argument before (``kexec_file_load``'s command line)."""
    return ctx.buffer(value, ctx.call.args.value(index - 1))


@value_only
def dec_fanotify_dirfd(_ctx: Context, value: int, _index: int) -> str:
    """``fanotify_mark``'s directory: ``FAN_NOFD`` (-1), ``AT_FDCWD`` or the fd."""
    return {-1: "FAN_NOFD", -100: "AT_FDCWD"}.get(value, str(value))


def return_ldt(_ctx: Context, value: int) -> str | None:
    """``modify_ldt``'s result, which the kernel zero-extends from an int: a failure is a
    large number, shown with its errno as strace does (``4294967258 ENOSYS (...)``)."""
    if 0xFFFFF000 < value <= 0xFFFFFFFF:
        return f"{value} {render.error_return(value - (1 << 32))[3:]}"
    return None


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
_MSG = _f(xlat.MSG_FLAGS, "MSG_???")

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
    "_sysctl": ((dec_sysctl_args, ENTRY),),
    "modify_ldt": (_INT, (dec_user_desc, ENTRY), _INT),
    "fanotify_mark": (_FD, _f(more.FAN_MARK_FLAGS, "FAN_MARK_???"),
                      _f(more.FAN_EVENTS, "FAN_???"), (dec_fanotify_dirfd, ENTRY), _PATH),
    "kexec_load": (_PTR, _INT, (dec_kexec_segments, ENTRY), (dec_kexec_flags, ENTRY)),
    "kexec_file_load": (_FD, _FD, _INT, (dec_buffer_sized_before, ENTRY),
                        _f(more.KEXEC_FILE_FLAGS, "KEXEC_FILE_???")),
    "pidfd_send_signal": (_FD, (dec_signal, ENTRY), (dec_siginfo_in, ENTRY), _HEX),
    "rt_sigqueueinfo": (_INT, (dec_signal, ENTRY), (dec_siginfo_in, ENTRY)),
    "io_pgetevents": (_HEX, _INT, _INT, _PTR, (dec_timespec, ENTRY), (dec_sigmask_arg, ENTRY)),
    "futex_waitv": ((dec_futex_waiters, ENTRY), _U32, _HEX, (dec_timespec, ENTRY), _CLOCK),
    "move_pages": (_INT, _INT, (dec_page_addresses, ENTRY), (dec_nodes_in, ENTRY),
                   (dec_page_status_out, EXIT), _f(more.MBIND_FLAGS, "MPOL_MF_???")),
    "sendmsg": (_FD, (dec_msghdr_in, ENTRY), _MSG),
    "recvmsg": (_FD, (dec_msghdr_out, BOTH), _MSG),
    "sendmmsg": (_FD, (dec_mmsghdrs_in, EXIT), _U32, _MSG),
    "recvmmsg": (_FD, (dec_mmsghdrs_out, BOTH), _U32, _MSG, (dec_timespec, ENTRY)),
    "getsockopt": (_FD, (dec_socket_level, ENTRY), (dec_socket_option, ENTRY),
                   (dec_sockopt_out, EXIT), (dec_sockopt_length, BOTH)),
    "setsockopt": (_FD, (dec_socket_level, ENTRY), (dec_socket_option, ENTRY),
                   (dec_sockopt_in, ENTRY), _INT),
    "openat2": (_DIRFD, _PATH, (dec_open_how, ENTRY), _INT),
    "adjtimex": ((dec_timex, EXIT),),
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
    "sched_setattr": (_INT, (dec_sched_attr_in, BOTH), _U32),
    "select": (_INT, (dec_fd_set, ENTRY), (dec_fd_set, ENTRY), (dec_fd_set, ENTRY),
               (dec_select_timeval, ENTRY)),
    "pselect6": (_INT, (dec_fd_set, ENTRY), (dec_fd_set, ENTRY), (dec_fd_set, ENTRY),
                 (dec_timespec, ENTRY), (dec_sigmask_arg, ENTRY)),
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
    "recvmmsg": return_recvmmsg,
    "adjtimex": return_clock_state,
    "modify_ldt": return_ldt,
    "select": return_select,
    "pselect6": return_pselect6,
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
