"""Argument and return-value decoders: one small function per type, one table row per syscall.

A decoder turns one argument register into the text strace would print. Arguments whose
syscall has no row are decoded by their kind from the syscall table (a path is a quoted string,
an fd a number, a pointer hex...). Arguments the kernel fills in (the buffer of ``read``, the
``struct stat`` of ``fstat``) are decoded at syscall exit, the rest at entry: that is what the
``EXIT`` marker in a row says. Adding a syscall is adding a row.
"""

from __future__ import annotations

import os
import stat as stat_module
import struct
from collections.abc import Callable

from sysemu.abi import ArgKind, Param
from sysemu.api.call import Call
from sysemu.tools.trace import render

ENTRY = 0
EXIT = 1


class Context:
    """What a decoder may use: the call, its result at exit, and the output options."""

    __slots__ = ("call", "fd_path", "limit", "result", "verbose_fds")

    def __init__(
        self,
        call: Call,
        *,
        limit: int = 32,
        verbose_fds: bool = False,
        fd_path: Callable[[int], str | None] | None = None,
        result: int | None = None,
    ) -> None:
        self.call = call
        self.limit = limit
        self.verbose_fds = verbose_fds
        self.fd_path = fd_path or call.fd_path
        self.result = result

    def string(self, address: int, *, limit: int | None = None) -> str:
        """The NUL-terminated string at ``address``, quoted and cut at the string limit."""
        if address == 0:
            return "NULL"
        shown = self.limit if limit is None else limit
        try:
            data = self.call.memory.read_cstring(address, shown + 1)
        except OSError:
            return hex(address)
        return render.quote(data, shown)

    def buffer(self, address: int, size: int) -> str:
        """``size`` bytes at ``address``, quoted and cut at the string limit."""
        if address == 0:
            return "NULL"
        if size <= 0:
            return '""'
        try:
            data = self.call.memory.read(address, min(size, self.limit), partial=True)
        except OSError:
            return hex(address)
        return render.quote(data, self.limit, more=size > self.limit)

    def fd(self, value: int) -> str:
        """A file descriptor, with ``<path>`` after it when fd paths are shown (``-y``)."""
        if value < 0 or not self.verbose_fds:
            return str(value)
        path = self.fd_path(value)
        return f"{value}<{path}>" if path is not None else str(value)


Decoder = Callable[[Context, int, int], str]
"""``decoder(context, value, index)``: the text for argument ``index`` whose register holds
``value`` (already narrowed and sign-extended as the parameter's C type says)."""


# --- Constants (include/uapi/asm-generic/fcntl.h, mman-common.h, sched.h ...) ---------------

_OPEN_ACCESS = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}
_OPEN_FLAGS = (
    (0o20200000, "O_TMPFILE"), (0o4010000, "O_SYNC"), (0o100, "O_CREAT"), (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
)  # fmt: skip
_AT_FLAGS = (
    (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE"),
)  # fmt: skip
_ACCESS_MODES = ((4, "R_OK"), (2, "W_OK"), (1, "X_OK"))
_PROT = ((1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (0x8, "PROT_SEM"),
         (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"))  # fmt: skip
_MAP_TYPE = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
_MAP_FLAGS = (
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
)  # fmt: skip
_CLONE_FLAGS = (
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
)  # fmt: skip
_SEEK = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
_FCNTL = {
    0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
    6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 1024: "F_SETLEASE",
    1025: "F_GETLEASE", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
    1033: "F_ADD_SEALS", 1034: "F_GET_SEALS",
}  # fmt: skip
_SOCKET_FAMILY = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
_SOCKET_TYPE = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"}
_SOCKET_TYPE_FLAGS = ((0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC"))
_SIGPROCMASK = {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}
_WAIT_OPTIONS = ((1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"),
                 (0x1000000, "WNOWAIT"), (0x20000000, "__WNOTHREAD"), (0x40000000, "__WALL"),
                 (0x80000000, "__WCLONE"))  # fmt: skip
_IOCTL = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x540F: "TIOCGPGRP",
          0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
          0x5421: "FIONBIO", 0x5451: "FIOCLEX", 0x5450: "FIONCLEX"}  # fmt: skip


# --- One decoder per type -------------------------------------------------------------------


def dec_int(_ctx: Context, value: int, _index: int) -> str:
    """A number."""
    return str(value)


def dec_hex(_ctx: Context, value: int, _index: int) -> str:
    """A number shown in hex (flag words nobody decodes yet, offsets); 0 as ``0``."""
    return hex(value) if value > 0 else str(value)


def dec_pointer(_ctx: Context, value: int, _index: int) -> str:
    """An address: ``NULL`` or hex."""
    return render.pointer(value)


def dec_string(ctx: Context, value: int, _index: int) -> str:
    """A NUL-terminated string that is not a path (a name), cut at the string limit."""
    return ctx.string(value)


def dec_path(ctx: Context, value: int, _index: int) -> str:
    """A path: shown whole, as strace does, whatever the string limit (up to PATH_MAX)."""
    return ctx.string(value, limit=4096)


def dec_fd(ctx: Context, value: int, _index: int) -> str:
    """A file descriptor."""
    return ctx.fd(value)


def dec_dirfd(ctx: Context, value: int, _index: int) -> str:
    """A directory fd for a ``*at`` call: ``AT_FDCWD`` (with the cwd under ``-y``)."""
    if value != -100:
        return ctx.fd(value)
    if ctx.verbose_fds:
        cwd = ctx.call.cwd
        return f"AT_FDCWD<{cwd}>" if cwd is not None else "AT_FDCWD"
    return "AT_FDCWD"


def dec_mode(_ctx: Context, value: int, _index: int) -> str:
    """Permission bits, in octal as strace prints them."""
    return f"0{value & 0o7777:o}" if value & 0o7777 else "000"


def dec_open_flags(_ctx: Context, value: int, _index: int) -> str:
    """``O_RDONLY|O_CLOEXEC``."""
    access = _OPEN_ACCESS.get(value & 3, hex(value & 3))
    rest = render.flags(value & ~3, _OPEN_FLAGS, zero="")
    return access + ("|" + rest if rest else "")


def dec_at_flags(_ctx: Context, value: int, _index: int) -> str:
    """``AT_*`` flags."""
    return render.flags(value, _AT_FLAGS)


def dec_access_mode(_ctx: Context, value: int, _index: int) -> str:
    """``F_OK`` or ``R_OK|W_OK``."""
    return render.flags(value, _ACCESS_MODES, zero="F_OK")


def dec_prot(_ctx: Context, value: int, _index: int) -> str:
    """``PROT_READ|PROT_WRITE``."""
    return render.flags(value, _PROT, zero="PROT_NONE")


def dec_map_flags(_ctx: Context, value: int, _index: int) -> str:
    """``MAP_PRIVATE|MAP_ANONYMOUS``."""
    kind = _MAP_TYPE.get(value & 0xF, hex(value & 0xF))
    rest = render.flags(value & ~0xF, _MAP_FLAGS, zero="")
    return kind + ("|" + rest if rest else "")


def dec_clone_flags(_ctx: Context, value: int, _index: int) -> str:
    """``CLONE_VM|CLONE_FS|...|SIGCHLD``: the low byte is the exit signal."""
    exit_signal = value & 0xFF
    parts = [render.flags(value & ~0xFF, _CLONE_FLAGS, zero="")] if value & ~0xFF else []
    if exit_signal:
        parts.append(render.signal(exit_signal))
    return "|".join(parts) or "0"


def dec_signal(_ctx: Context, value: int, _index: int) -> str:
    """``SIGTERM``."""
    return render.signal(value) if value else "0"


def dec_whence(_ctx: Context, value: int, _index: int) -> str:
    """``SEEK_SET``."""
    return render.enum(value, _SEEK)


def dec_fcntl_cmd(_ctx: Context, value: int, _index: int) -> str:
    """``F_GETFL``."""
    return render.enum(value, _FCNTL)


def dec_ioctl_request(_ctx: Context, value: int, _index: int) -> str:
    """``TCGETS``, or hex."""
    return _IOCTL.get(value & 0xFFFFFFFF, hex(value & 0xFFFFFFFF))


def dec_socket_family(_ctx: Context, value: int, _index: int) -> str:
    """``AF_INET``."""
    return render.enum(value, _SOCKET_FAMILY)


def dec_socket_type(_ctx: Context, value: int, _index: int) -> str:
    """``SOCK_STREAM|SOCK_CLOEXEC``."""
    kind = render.enum(value & 0xF, _SOCKET_TYPE)
    rest = render.flags(value & ~0xF, _SOCKET_TYPE_FLAGS, zero="")
    return kind + ("|" + rest if rest else "")


def dec_sigprocmask_how(_ctx: Context, value: int, _index: int) -> str:
    """``SIG_BLOCK``."""
    return render.enum(value, _SIGPROCMASK)


def dec_wait_options(_ctx: Context, value: int, _index: int) -> str:
    """``WNOHANG|__WALL``."""
    return render.flags(value, _WAIT_OPTIONS)


_ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
               0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID",
               0x3001: "ARCH_CET_STATUS"}  # fmt: skip


def dec_arch_prctl_code(_ctx: Context, value: int, _index: int) -> str:
    """``ARCH_SET_FS``."""
    return _ARCH_PRCTL.get(value, hex(value))


def dec_open_flags_only(_ctx: Context, value: int, _index: int) -> str:
    """``O_CLOEXEC`` (flags of dup3 or pipe2, without an access mode)."""
    return render.flags(value, _OPEN_FLAGS)


def dec_buffer_in(ctx: Context, value: int, index: int) -> str:
    """A buffer the program passes in, sized by the next argument (``write``)."""
    return ctx.buffer(value, ctx.call.args.value(index + 1))


def dec_buffer_out(ctx: Context, value: int, _index: int) -> str:
    """A buffer the kernel filled, as long as the call's result (``read``); at exit."""
    result = ctx.result
    if result is None or result < 0:
        return render.pointer(value)
    return ctx.buffer(value, result)


def dec_argv(ctx: Context, value: int, _index: int) -> str:
    """``["ls", "-l"]``: a NULL-terminated array of strings."""
    if value == 0:
        return "NULL"
    word = 4 if ctx.call.abi.word_bits == 32 else 8
    items: list[str] = []
    for position in range(256):
        try:
            raw = ctx.call.memory.read(value + position * word, word)
        except OSError:
            return hex(value)
        pointer = int.from_bytes(raw, "little")
        if pointer == 0:
            return "[" + ", ".join(items) + "]"
        items.append(ctx.string(pointer))
    return "[" + ", ".join(items) + ", ...]"


def dec_envp(ctx: Context, value: int, _index: int) -> str:
    """``0x7ffd... /* 23 vars */`` as strace prints an environment."""
    if value == 0:
        return "NULL"
    word = 4 if ctx.call.abi.word_bits == 32 else 8
    count = 0
    try:
        while int.from_bytes(ctx.call.memory.read(value + count * word, word), "little"):
            count += 1
            if count > 4096:
                break
    except OSError:
        return hex(value)
    return f"{hex(value)} /* {count} vars */"


_STAT_64 = struct.Struct("<QQQIIIxxxxQqqqQQQQQQ")  # struct stat on x86-64


def dec_stat(ctx: Context, value: int, _index: int) -> str:
    """``{st_mode=S_IFREG|0644, st_size=12, ...}``: a ``struct stat`` filled by the kernel."""
    result = ctx.result
    if value == 0 or result is None or result < 0 or ctx.call.abi.word_bits != 64:
        return render.pointer(value)
    try:
        data = ctx.call.memory.read(value, _STAT_64.size)
    except OSError:
        return hex(value)
    fields = _STAT_64.unpack(data)
    mode, size = fields[3], fields[7]
    kind = {
        stat_module.S_IFREG: "S_IFREG", stat_module.S_IFDIR: "S_IFDIR",
        stat_module.S_IFLNK: "S_IFLNK", stat_module.S_IFCHR: "S_IFCHR",
        stat_module.S_IFBLK: "S_IFBLK", stat_module.S_IFIFO: "S_IFIFO",
        stat_module.S_IFSOCK: "S_IFSOCK",
    }.get(stat_module.S_IFMT(mode), f"{stat_module.S_IFMT(mode):#o}")  # fmt: skip
    if stat_module.S_ISCHR(mode) or stat_module.S_ISBLK(mode):
        rdev = fields[6]
        major, minor = os.major(rdev), os.minor(rdev)
        return (
            f"{{st_mode={kind}|{mode & 0o7777:04o}, st_rdev=makedev({major:#x}, {minor:#x}), ...}}"
        )
    return f"{{st_mode={kind}|{mode & 0o7777:04o}, st_size={size}, ...}}"


# --- The table ------------------------------------------------------------------------------

Arg = tuple[Decoder, int]  # (decoder, ENTRY or EXIT)

_PATH = (dec_path, ENTRY)
_FD = (dec_fd, ENTRY)
_DIRFD = (dec_dirfd, ENTRY)
_INT = (dec_int, ENTRY)
_PTR = (dec_pointer, ENTRY)
_HEX = (dec_hex, ENTRY)

SYSCALLS: dict[str, tuple[Arg, ...]] = {
    "read": (_FD, (dec_buffer_out, EXIT), _INT),
    "pread64": (_FD, (dec_buffer_out, EXIT), _INT, _INT),
    "write": (_FD, (dec_buffer_in, ENTRY), _INT),
    "pwrite64": (_FD, (dec_buffer_in, ENTRY), _INT, _INT),
    "open": (_PATH, (dec_open_flags, ENTRY), (dec_mode, ENTRY)),
    "openat": (_DIRFD, _PATH, (dec_open_flags, ENTRY), (dec_mode, ENTRY)),
    "creat": (_PATH, (dec_mode, ENTRY)),
    "access": (_PATH, (dec_access_mode, ENTRY)),
    "faccessat": (_DIRFD, _PATH, (dec_access_mode, ENTRY)),
    "faccessat2": (_DIRFD, _PATH, (dec_access_mode, ENTRY), (dec_at_flags, ENTRY)),
    "stat": (_PATH, (dec_stat, EXIT)),
    "lstat": (_PATH, (dec_stat, EXIT)),
    "fstat": (_FD, (dec_stat, EXIT)),
    "newfstatat": (_DIRFD, _PATH, (dec_stat, EXIT), (dec_at_flags, ENTRY)),
    "mmap": (_PTR, _INT, (dec_prot, ENTRY), (dec_map_flags, ENTRY), _FD, _HEX),
    "mprotect": (_PTR, _INT, (dec_prot, ENTRY)),
    "lseek": (_FD, _INT, (dec_whence, ENTRY)),
    "fcntl": (_FD, (dec_fcntl_cmd, ENTRY), _HEX),
    "ioctl": (_FD, (dec_ioctl_request, ENTRY), _PTR),
    "clone": ((dec_clone_flags, ENTRY), _PTR, _PTR, _PTR, _HEX),
    "kill": (_INT, (dec_signal, ENTRY)),
    "tkill": (_INT, (dec_signal, ENTRY)),
    "tgkill": (_INT, _INT, (dec_signal, ENTRY)),
    "rt_sigaction": ((dec_signal, ENTRY), _PTR, _PTR, _INT),
    "rt_sigprocmask": ((dec_sigprocmask_how, ENTRY), _PTR, _PTR, _INT),
    "socket": ((dec_socket_family, ENTRY), (dec_socket_type, ENTRY), _INT),
    "wait4": (_INT, _PTR, (dec_wait_options, ENTRY), _PTR),
    "execve": (_PATH, (dec_argv, ENTRY), (dec_envp, ENTRY)),
    "execveat": (_DIRFD, _PATH, (dec_argv, ENTRY), (dec_envp, ENTRY), (dec_at_flags, ENTRY)),
    "unlinkat": (_DIRFD, _PATH, (dec_at_flags, ENTRY)),
    "mkdir": (_PATH, (dec_mode, ENTRY)),
    "mkdirat": (_DIRFD, _PATH, (dec_mode, ENTRY)),
    "chmod": (_PATH, (dec_mode, ENTRY)),
    "fchmodat": (_DIRFD, _PATH, (dec_mode, ENTRY)),
    "umask": ((dec_mode, ENTRY),),
    "brk": (_PTR,),
    "munmap": (_PTR, _INT),
    "mremap": (_PTR, _INT, _INT, _HEX, _PTR),
    "madvise": (_PTR, _INT, _INT),
    "arch_prctl": ((dec_arch_prctl_code, ENTRY), _PTR),
    "getrandom": ((dec_buffer_out, EXIT), _INT, _HEX),
    "readlink": (_PATH, (dec_buffer_out, EXIT), _INT),
    "readlinkat": (_DIRFD, _PATH, (dec_buffer_out, EXIT), _INT),
    "rseq": (_PTR, _HEX, _INT, _HEX),
    "getcwd": ((dec_buffer_out, EXIT), _INT),
    "dup2": (_FD, _FD),
    "dup3": (_FD, _FD, (dec_open_flags_only, ENTRY)),
    "pipe2": (_PTR, (dec_open_flags_only, ENTRY)),
}
"""Per-syscall argument decoders, where the generic ones by kind are not enough."""

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
    "fsmount", "pidfd_getfd", "open_by_handle_at", "memfd_secret",
})  # fmt: skip
# Calls whose result is an address.
ADDRESS_RETURNING = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
# Calls that never return when they succeed.
NO_RETURN = frozenset({"exit", "exit_group", "rt_sigreturn", "sigreturn"})


def arg_decoders(name: str, params: tuple[Param, ...]) -> tuple[Arg, ...]:
    """The decoders of a syscall's arguments: its row, or one per parameter by kind."""
    row = SYSCALLS.get(name)
    if row is not None and len(row) == len(params):
        # Special cases the table cannot express: a mode is only an argument with O_CREAT.
        return row
    return tuple((_by_param(param), ENTRY) for param in params)


# Unsigned register-wide parameters that hold addresses although their C type is a number.
_ADDRESS_NAMES = frozenset({"addr", "start", "brk", "new_addr", "old_addr", "address"})


def _by_param(param: Param) -> Decoder:
    if param.kind is ArgKind.ULONG and param.name in _ADDRESS_NAMES:
        return dec_pointer
    return _BY_KIND.get(param.kind, dec_int)


def decode_return(ctx: Context, name: str, value: int) -> str:
    """The text after ``=``."""
    if -4096 < value < 0:
        return render.error_return(value)
    if name in FD_RETURNING:
        return ctx.fd(value)
    if name in ADDRESS_RETURNING:
        return hex(value)
    return str(value)
