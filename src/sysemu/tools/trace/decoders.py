"""Argument and return-value decoders: one small function per type, one table row per syscall.

A decoder turns one argument register into the text strace would print. Arguments whose
syscall has no row are decoded by their kind from the syscall table (a path is a quoted string,
an fd a number, a pointer hex...). Arguments the kernel fills in (the buffer of ``read``, the
``struct stat`` of ``fstat``) are decoded at syscall exit, the rest at entry: that is what the
``EXIT`` marker in a row says (``BOTH``: at entry, to keep a value the kernel overwrites, and
shown at exit). Adding a syscall is adding a row (in :mod:`.decoders_more`, also its name to
``_MORE_NAMES``: those rows load when a name of theirs is first looked up, so that a trace of
a set loads only the decoder modules its calls need; see :mod:`.on_demand`).

Calls whose shown arguments depend on another argument (``fcntl``'s command, ``futex``'s op,
``prctl``'s option, ``clone``'s flags, ``open``'s ``O_CREAT``) have a layout in
:data:`LAYOUTS` instead (see :mod:`~sysemu.tools.trace.decoders_calls`); results strace
decorates (``umask`` in octal, ``fcntl(F_GETFD)``'s flags, ``poll``'s events) a function in
:data:`RETURNS`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sysemu.abi import ArgKind, Param, Syscall, is_error
from sysemu.abi.syscalls import UNKNOWN_PREFIX
from sysemu.api.call import Call
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import BOTH, ENTRY, EXIT, Context, Decoder, Shown
from sysemu.tools.trace.decoders_calls import (
    FUTEX_CMD,
    OPEN_MODE_FLAGS,
    Layout,
    ReturnDecoder,
    dec_clone_args,
    fcntl_result,
    fcntl_shown,
    futex_shown,
    layout_clone,
    layout_fcntl,
    layout_futex,
    layout_open,
    layout_prctl,
    layout_sigreturn,
    open_shown,
    return_fcntl,
    return_poll,
    return_prctl,
    return_umask,
)
from sysemu.tools.trace.decoders_scalar import (
    dec_access_mode,
    dec_arch_prctl_code,
    dec_argv,
    dec_at_flags,
    dec_buffer_in,
    dec_buffer_out,
    dec_cwd_out,
    dec_dirfd,
    dec_envp,
    dec_fd,
    dec_hex,
    dec_int,
    dec_ioctl_request,
    dec_map_flags,
    dec_mode,
    dec_open_flags_only,
    dec_page_offset,
    dec_path,
    dec_pointer,
    dec_prot,
    dec_random_out,
    dec_signal,
    dec_socket_protocol,
    dec_socket_type,
    dec_statx_flags,
    dec_string,
    dec_u32,
    enum_of,
    flags_of,
)
from sysemu.tools.trace.decoders_structs import (
    dec_cpu_set_in,
    dec_cpu_set_out,
    dec_dirents,
    dec_fd_pair,
    dec_groups_in,
    dec_groups_out,
    dec_pollfds,
    dec_remaining,
    dec_rlimit,
    dec_rlimit64,
    dec_rusage,
    dec_sigaction,
    dec_sigset,
    dec_sockaddr,
    dec_sockaddr_out,
    dec_socklen,
    dec_stat,
    dec_statx,
    dec_sysinfo,
    dec_timespec,
    dec_utsname,
    dec_wait_status,
)
from sysemu.tools.trace.on_demand import LaterModule, OnDemand, add_part

__all__ = [
    "ADDRESS_RETURNING", "BOTH", "ENTRY", "EXIT", "FD_RETURNING", "KEYED_LAYOUTS",
    "KEYED_RETURNS", "LAYOUTS", "NOTES", "NO_RETURN",
    "RETURNS", "SYSCALLS", "Context", "Decoder", "Shown", "arg_decoders", "decode_return",
    "shown_arguments", "shown_arguments_of",
]  # fmt: skip

# --- The table ------------------------------------------------------------------------------

Arg = tuple[Decoder, int]  # (decoder, ENTRY, EXIT or BOTH)

# Layouts of calls few programs make: their modules are imported when one is first made.
_layouts = LaterModule("decoders_layouts")
_quota = LaterModule("decoders_quota")

_PATH = (dec_path, ENTRY)
_FD = (dec_fd, ENTRY)
_DIRFD = (dec_dirfd, ENTRY)
_INT = (dec_int, ENTRY)
_U32 = (dec_u32, ENTRY)
_PTR = (dec_pointer, ENTRY)
_HEX = (dec_hex, ENTRY)
_MODE = (dec_mode, ENTRY)
_SIGNAL = (dec_signal, ENTRY)
_STAT = (dec_stat, EXIT)
_AT_FLAGS = (dec_at_flags, ENTRY)
_WHENCE = (enum_of(xlat.SEEK, "SEEK_???"), ENTRY)
_FAMILY = (enum_of(xlat.ADDRESS_FAMILIES, "AF_???"), ENTRY)
_SOCKADDR_IN = (dec_sockaddr, ENTRY)
_SOCKADDR_OUT = (dec_sockaddr_out, EXIT)
_SOCKLEN = (dec_socklen, BOTH)
_MSG_FLAGS = (flags_of(xlat.MSG_FLAGS, "MSG_???"), ENTRY)
_CLOCK = (enum_of(xlat.CLOCKS, "CLOCK_???"), ENTRY)
_TIMER_FLAGS = (flags_of(xlat.TIMER_FLAGS, "TIMER_???"), ENTRY)
_TIMESPEC_IN = (dec_timespec, ENTRY)
_TIMESPEC_OUT = (dec_timespec, EXIT)
_SLEEP_LEFT = (dec_remaining, EXIT)
_SIGSET_IN = (dec_sigset, ENTRY)
_SIGSET_OUT = (dec_sigset, EXIT)
_RUSAGE = (dec_rusage, EXIT)
_RESOURCE = (enum_of(xlat.RESOURCES, "RLIMIT_???"), ENTRY)

# fmt: off
SYSCALLS: dict[str, tuple[Arg, ...]] = OnDemand({
    # Files.
    "read": (_FD, (dec_buffer_out, EXIT), _INT),
    "pread64": (_FD, (dec_buffer_out, EXIT), _INT, _INT),
    "write": (_FD, (dec_buffer_in, ENTRY), _INT),
    "pwrite64": (_FD, (dec_buffer_in, ENTRY), _INT, _INT),
    "creat": (_PATH, _MODE),
    "access": (_PATH, (dec_access_mode, ENTRY)),
    "faccessat": (_DIRFD, _PATH, (dec_access_mode, ENTRY)),
    "faccessat2": (_DIRFD, _PATH, (dec_access_mode, ENTRY),
                   (flags_of(xlat.FACCESSAT_FLAGS, "AT_???"), ENTRY)),
    "stat": (_PATH, _STAT),
    "lstat": (_PATH, _STAT),
    "fstat": (_FD, _STAT),
    "newfstatat": (_DIRFD, _PATH, _STAT, _AT_FLAGS),
    "statx": (_DIRFD, _PATH, (dec_statx_flags, ENTRY),
              (flags_of(xlat.STATX_MASK, "STATX_???"), ENTRY), (dec_statx, EXIT)),
    "lseek": (_FD, _INT, _WHENCE),
    "ioctl": (_FD, (dec_ioctl_request, ENTRY), _PTR),
    "getdents64": (_FD, (dec_dirents, EXIT), _U32),
    "fadvise64": (_FD, _INT, _INT, (enum_of(xlat.FADVISE, "POSIX_FADV_???"), ENTRY)),
    "readlink": (_PATH, (dec_buffer_out, EXIT), _INT),
    "readlinkat": (_DIRFD, _PATH, (dec_buffer_out, EXIT), _INT),
    "getcwd": ((dec_cwd_out, EXIT), _INT),
    "unlinkat": (_DIRFD, _PATH, _AT_FLAGS),
    "mkdir": (_PATH, _MODE),
    "mkdirat": (_DIRFD, _PATH, _MODE),
    "chmod": (_PATH, _MODE),
    "fchmodat": (_DIRFD, _PATH, _MODE),
    "umask": (_MODE,),
    "dup2": (_FD, _FD),
    "dup3": (_FD, _FD, (dec_open_flags_only, ENTRY)),
    "pipe": ((dec_fd_pair, EXIT),),
    "pipe2": ((dec_fd_pair, EXIT), (dec_open_flags_only, ENTRY)),
    "poll": ((dec_pollfds, ENTRY), _U32, _INT),
    "epoll_create1": ((flags_of(xlat.EPOLL_FLAGS, "EPOLL_???"), ENTRY),),
    # Memory.
    "mmap": (_PTR, _INT, (dec_prot, ENTRY), (dec_map_flags, ENTRY), _FD, _HEX),
    "mmap2": (_PTR, _INT, (dec_prot, ENTRY), (dec_map_flags, ENTRY), _FD, (dec_page_offset, ENTRY)),
    "mprotect": (_PTR, _INT, (dec_prot, ENTRY)),
    "brk": (_PTR,),
    "munmap": (_PTR, _INT),
    "mremap": (_PTR, _INT, _INT, _HEX, _PTR),
    "madvise": (_PTR, _INT, (enum_of(xlat.MADVISE, "MADV_???"), ENTRY)),
    # Processes.
    "execve": (_PATH, (dec_argv, ENTRY), (dec_envp, ENTRY)),
    "execveat": (_DIRFD, _PATH, (dec_argv, ENTRY), (dec_envp, ENTRY), _AT_FLAGS),
    "wait4": (_INT, (dec_wait_status, EXIT),
              (flags_of(xlat.WAIT_OPTIONS, "W???"), ENTRY), _RUSAGE),
    "getrusage": ((enum_of({0: "RUSAGE_SELF", -1: "RUSAGE_CHILDREN", -2: "RUSAGE_BOTH",
                            1: "RUSAGE_THREAD"}, "RUSAGE_???"), ENTRY), _RUSAGE),
    "prlimit64": (_INT, _RESOURCE,
                  (dec_rlimit64, ENTRY), (dec_rlimit64, EXIT)),
    "getgroups": (_INT, (dec_groups_out, EXIT)),
    "setgroups": (_INT, (dec_groups_in, ENTRY)),
    "sched_getaffinity": (_INT, _U32, (dec_cpu_set_out, EXIT)),
    "sched_setaffinity": (_INT, _U32, (dec_cpu_set_in, ENTRY)),
    "getrlimit": (_RESOURCE, (dec_rlimit, EXIT)),
    "ugetrlimit": (_RESOURCE, (dec_rlimit, EXIT)),
    "setrlimit": (_RESOURCE, (dec_rlimit, ENTRY)),
    "arch_prctl": ((dec_arch_prctl_code, ENTRY), _PTR),
    "clone3": ((dec_clone_args, BOTH), _INT),
    "rseq": (_PTR, _HEX, _INT, _HEX),
    "sysinfo": ((dec_sysinfo, EXIT),),
    "uname": ((dec_utsname, EXIT),),
    "getrandom": ((dec_random_out, EXIT), _INT,
                  (flags_of(xlat.GETRANDOM_FLAGS, "GRND_???"), ENTRY)),
    # Signals.
    "kill": (_INT, _SIGNAL),
    "tkill": (_INT, _SIGNAL),
    "tgkill": (_INT, _INT, _SIGNAL),
    "rt_sigaction": (_SIGNAL, (dec_sigaction, ENTRY), (dec_sigaction, EXIT), _INT),
    "rt_sigprocmask": ((enum_of(xlat.SIGPROCMASK, "SIG_???"), ENTRY), _SIGSET_IN, _SIGSET_OUT,
                       _INT),
    # Time.
    "nanosleep": (_TIMESPEC_IN, _SLEEP_LEFT),
    "clock_nanosleep": (_CLOCK, _TIMER_FLAGS, _TIMESPEC_IN, _SLEEP_LEFT),
    "clock_nanosleep_time64": (_CLOCK, _TIMER_FLAGS, _TIMESPEC_IN, _SLEEP_LEFT),
    "clock_gettime": (_CLOCK, _TIMESPEC_OUT),
    "clock_getres": (_CLOCK, _TIMESPEC_OUT),
    # Sockets.
    "socket": (_FAMILY, (dec_socket_type, ENTRY), (dec_socket_protocol, ENTRY)),
    "socketpair": (_FAMILY, (dec_socket_type, ENTRY), _U32, (dec_fd_pair, EXIT)),
    "connect": (_FD, _SOCKADDR_IN, _INT),
    "bind": (_FD, _SOCKADDR_IN, _INT),
    "getsockname": (_FD, _SOCKADDR_OUT, _SOCKLEN),
    "getpeername": (_FD, _SOCKADDR_OUT, _SOCKLEN),
    "accept": (_FD, _SOCKADDR_OUT, _SOCKLEN),
    "accept4": (_FD, _SOCKADDR_OUT, _SOCKLEN,
                (flags_of(xlat.SOCKET_TYPE_FLAGS, "SOCK_???"), ENTRY)),
    "sendto": (_FD, (dec_buffer_in, ENTRY), _U32, _MSG_FLAGS, _SOCKADDR_IN, _INT),
    "recvfrom": (_FD, (dec_buffer_out, EXIT), _U32, _MSG_FLAGS, _SOCKADDR_OUT, _SOCKLEN),
    # io_uring (io_uring_setup's and io_uring_register's rows: _load_uring_rows).
    "io_uring_enter": (_FD, _U32, _U32,
                       (flags_of(xlat.IORING_ENTER_FLAGS, "IORING_ENTER_???"), ENTRY),
                       _SIGSET_IN, _INT),
})
# fmt: on
"""Per-syscall argument decoders, where the generic ones by kind are not enough (the rows of
:mod:`.decoders_more` and :mod:`.decoders_uring` are added when one of their names is first
looked up: see :mod:`.on_demand`)."""

LAYOUTS: dict[str, Layout] = {
    "open": layout_open,
    "openat": layout_open,
    "fcntl": layout_fcntl,
    "fcntl64": layout_fcntl,
    "futex": layout_futex,
    "futex_time64": layout_futex,
    "clone": layout_clone,
    "prctl": layout_prctl,
    "rt_sigreturn": layout_sigreturn,
    "mknod": _layouts.layout_mknod,
    "mknodat": _layouts.layout_mknod,
    "mq_open": _layouts.layout_mq_open,
    "syslog": _layouts.layout_syslog,
    "kcmp": _layouts.layout_kcmp,
    "quotactl_fd": _layouts.layout_quotactl_fd,
    "quotactl": _quota.layout_quotactl,
    "preadv": lambda _call: _layouts.vectored_shown(flags=False, out=True),
    "pwritev": lambda _call: _layouts.vectored_shown(flags=False, out=False),
    "preadv2": lambda _call: _layouts.vectored_shown(flags=True, out=True),
    "pwritev2": lambda _call: _layouts.vectored_shown(flags=True, out=False),
}
"""Calls whose shown arguments (which, in which order, decoded how) depend on the call."""

KeyedLayout = tuple[int, int, Callable[[int], tuple[Shown, ...]]]
"""(register, mask, shown arguments for a key): a layout that depends on one register only,
masked (its key)."""

KEYED_LAYOUTS: dict[str, KeyedLayout] = {
    "open": (1, OPEN_MODE_FLAGS, partial(open_shown, "open")),
    "openat": (2, OPEN_MODE_FLAGS, partial(open_shown, "openat")),
    "fcntl": (1, 0xFFFFFFFF, fcntl_shown),
    "fcntl64": (1, 0xFFFFFFFF, fcntl_shown),
    "futex": (1, FUTEX_CMD, futex_shown),
    "futex_time64": (1, FUTEX_CMD, futex_shown),
    "mknod": (1, 0o170000, partial(_layouts.mknod_shown, 1)),
    "mknodat": (2, 0o170000, partial(_layouts.mknod_shown, 2)),
    "mq_open": (1, xlat.O_CREAT, _layouts.mq_open_shown),
    "syslog": (0, 0xFFFFFFFF, _layouts.syslog_shown),
    "kcmp": (2, 0xFFFFFFFF, _layouts.kcmp_shown),
    "quotactl_fd": (1, 0xFFFFFF00, _layouts.quotactl_fd_shown),
    "quotactl": (0, 0xFFFFFF00, _quota.quotactl_shown),
}
"""The layouts of :data:`LAYOUTS` that are keyed layouts, as such (what the C trace writer uses)."""

KEYED_RETURNS: dict[str, Callable[[int, int], str | None]] = {
    "fcntl": fcntl_result,
    "fcntl64": fcntl_result,
}
"""For keyed layouts whose result :data:`RETURNS` decorates: ``(key, result) -> text``, or None
for the plain number, without ``-y``'s fd paths."""

RETURNS: dict[str, ReturnDecoder] = OnDemand({
    "fcntl": return_fcntl,
    "fcntl64": return_fcntl,
    "prctl": return_prctl,
    "umask": return_umask,
    "poll": return_poll,
})  # fmt: skip
"""Calls whose successful result strace writes in its own way (with :mod:`.decoders_more`'s,
added as :data:`SYSCALLS`' rows are)."""

BY_CTYPE: dict[str, Decoder] = OnDemand()
"""Decoders of parameters by their C type, before the generic ones by kind (all of them
:mod:`.decoders_more`'s)."""

# --- Rows loaded by name ----------------------------------------------------------------------
# The names whose rows (or results, or C types) are in decoders_more, which imports most other
# decoder modules: a trace of a set without them never loads those. (tests/test_trace_tables.py
# checks this index against the module.)
_MORE_NAMES = frozenset({
    "_sysctl", "add_key", "adjtimex", "chown", "clock_settime", "copy_file_range",
    "delete_module", "epoll_ctl", "eventfd2", "fallocate", "fanotify_init", "fanotify_mark",
    "fchown", "fchownat", "fgetxattr", "finit_module", "flistxattr", "flock", "fsetxattr",
    "fsopen", "fstatfs", "futex_waitv", "futimesat", "get_mempolicy", "getcpu", "getdents",
    "getitimer", "getpriority", "getresgid", "getresuid", "getsockopt", "gettimeofday",
    "getxattr", "init_module", "inotify_add_watch", "inotify_init1", "io_pgetevents", "ioperm",
    "ioprio_get", "ioprio_set", "kexec_file_load", "kexec_load", "landlock_add_rule",
    "landlock_create_ruleset", "lchown", "lgetxattr", "linkat", "listxattr", "llistxattr",
    "lookup_dcookie", "lsetxattr", "mbind", "memfd_create", "memfd_secret", "mincore", "mlock2",
    "mlockall", "modify_ldt", "mount", "move_pages", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedsend", "mq_unlink", "openat2", "perf_event_open", "pidfd_open",
    "pidfd_send_signal", "pkey_alloc", "pkey_mprotect", "ppoll", "process_madvise",
    "process_vm_readv", "process_vm_writev", "pselect6", "readv", "recvmmsg", "recvmsg",
    "remap_file_pages", "renameat2", "request_key", "rt_sigpending", "rt_sigqueueinfo",
    "rt_sigtimedwait", "sched_get_priority_max", "sched_get_priority_min", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "seccomp", "select", "semop", "semtimedop",
    "sendfile", "sendmmsg", "sendmsg", "set_mempolicy", "setitimer", "setns", "setpriority",
    "setsockopt", "settimeofday", "setxattr", "shmat", "shutdown", "signalfd", "signalfd4",
    "splice", "statfs", "swapon", "sync_file_range", "tee", "time", "timer_create",
    "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime",
    "umount2", "unshare", "userfaultfd", "ustat", "utime", "utimensat", "utimes", "vmsplice",
    "writev"
})  # fmt: skip
_MORE_CTYPES = frozenset({"uid_t", "gid_t", "old_uid_t", "old_gid_t", "clockid_t",
                          "const clockid_t"})  # fmt: skip
_URING_NAMES = frozenset({"io_uring_setup", "io_uring_register"})


def _load_more() -> None:
    from sysemu.tools.trace import decoders_more as more  # noqa: PLC0415 (on demand)

    dict.update(SYSCALLS, more.MORE_SYSCALLS)
    dict.update(RETURNS, more.MORE_RETURNS)
    dict.update(BY_CTYPE, more.BY_CTYPE)


def _load_uring_rows() -> None:
    from sysemu.tools.trace import decoders_uring as uring  # noqa: PLC0415 (on demand)

    # fmt: off
    dict.update(SYSCALLS, {
        "io_uring_setup": (_U32, (uring.dec_uring_params, BOTH)),
        "io_uring_register": (_FD, (enum_of(xlat.IORING_REGISTER_OPCODES, "IORING_REGISTER_???"),
                                    ENTRY),
                              (uring.dec_uring_register_arg, BOTH), _U32),
    })
    # fmt: on


add_part(_MORE_NAMES | _MORE_CTYPES, _load_more)
add_part(_URING_NAMES, _load_uring_rows)

_BY_KIND: dict[ArgKind, Decoder] = {
    ArgKind.PATH: dec_path,
    ArgKind.STRING: dec_string,
    ArgKind.FD: dec_fd,
    ArgKind.DIRFD: dec_dirfd,
    ArgKind.POINTER: dec_pointer,
    ArgKind.MODE: dec_mode,
    ArgKind.FLAGS: dec_hex,
    ArgKind.SIGNAL: dec_signal,
}

# Calls whose result is a new file descriptor (shown with its path under -y).
FD_RETURNING = frozenset({
    "open", "openat", "openat2", "creat", "dup", "dup2", "dup3", "socket", "accept", "accept4",
    "epoll_create", "epoll_create1", "eventfd", "eventfd2", "signalfd", "signalfd4",
    "timerfd_create", "inotify_init", "inotify_init1", "memfd_create", "pidfd_open",
    "fanotify_init", "perf_event_open", "userfaultfd", "open_tree", "fsopen", "fspick",
    "fsmount", "pidfd_getfd", "open_by_handle_at", "memfd_secret", "io_uring_setup",
})  # fmt: skip
# Calls whose result is an address.
ADDRESS_RETURNING = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
# Calls that never return when they succeed.
NO_RETURN = frozenset({"exit", "exit_group", "rt_sigreturn", "sigreturn"})

NOTES: dict[str, tuple[str, str]] = {
    "io_uring_setup": ("io_uring", "Operations submitted through io_uring are not traced"),
}
"""Calls whose first success in a run is followed by a note on what the trace cannot see:
``(topic, text)``. The text trace writes it as strace writes its own notes (``[ Process
PID=1 runs in 32 bit mode. ]``), a line no call's line can be mistaken for; the JSON trace as
an event of its own (``"event": "note"``). A ring's operations are carried out by the kernel's
workers, with no system call of the program's own to stop at."""


# Calls whose prototype grew after strace settled how many arguments it shows: the first ones
# only. (Linux 7.x gave bpf two more, attr_common and size_common, which older kernels ignore
# and most programs leave holding whatever the registers held.)
_SHOWN_FIRST = {"bpf": 3}


def arg_decoders(name: str, params: tuple[Param, ...]) -> tuple[Arg, ...]:
    """The decoders of a syscall's arguments: its row, or one per parameter by kind."""
    if name.startswith(UNKNOWN_PREFIX):  # a number no table names: in hex, as strace does
        return tuple((dec_hex, ENTRY) for _param in params)
    shown_first = _SHOWN_FIRST.get(name)
    if shown_first is not None:
        params = params[:shown_first]
    row = SYSCALLS.get(name)
    # A row is for the signature it was written for: an ABI whose call of the same name takes
    # other arguments gets the generic decoders.
    # (A call the table knows no parameters of, one the kernel no longer implements, takes
    # its row's.)
    if row is not None and (len(row) == len(params) or not params):
        return row
    return tuple((_by_param(param), ENTRY) for param in params)


def shown_arguments(call: Call) -> tuple[Shown, ...]:
    """The arguments strace shows for ``call``, in its order: the call's layout, or its row
    (or the generic decoders) for every parameter."""
    layout = LAYOUTS.get(call.name)
    if layout is not None:
        return layout(call)
    return shown_arguments_of(call.syscall)


def shown_arguments_of(syscall: Syscall) -> tuple[Shown, ...]:
    """The arguments strace shows for every call of ``syscall``, a call without a layout in
    :data:`LAYOUTS`: its row, or the generic decoders."""
    key = (syscall.abi.value, syscall.nr, syscall.name)
    shown = _SHOWN.get(key)
    if shown is None:
        decoders = arg_decoders(syscall.name, syscall.params)
        shown = tuple(Shown(i, decoder, phase) for i, (decoder, phase) in enumerate(decoders))
        _SHOWN[key] = shown
    return shown


_SHOWN: dict[tuple[str, int, str], tuple[Shown, ...]] = {}


# Unsigned register-wide parameters that hold addresses although their C type is a number.
_ADDRESS_NAMES = frozenset({"addr", "start", "brk", "new_addr", "old_addr", "address"})


def _by_param(param: Param) -> Decoder:
    by_type = BY_CTYPE.get(param.ctype)
    if by_type is not None:
        return by_type
    if param.kind is ArgKind.ULONG and param.name in _ADDRESS_NAMES:
        return dec_pointer
    return _BY_KIND.get(param.kind, dec_int)


def decode_return(ctx: Context, name: str, value: int) -> str:
    """The text after ``=``."""
    if is_error(value):
        return render.error_return(value)
    special = RETURNS.get(name)
    if special is not None:
        text = special(ctx, value)
        if text is not None:
            return text
    if name in FD_RETURNING:
        return ctx.fd(value)
    if name in ADDRESS_RETURNING:
        return hex(value)
    return str(value)
