"""Which calls change the filesystem, and whether they follow a final symbolic link.

Read-only trees need both answers: a call that changes something under a read-only path
fails with ``EROFS``, and the check on the canonical host path (symbolic links resolved) must
resolve the last component only when the kernel would. Flag values are the asm-generic ones
every architecture shares, but for ``O_NOFOLLOW`` (:mod:`sysemu.abi.fcntl`).
"""

from __future__ import annotations

from sysemu.abi import ArgKind, Syscall, fcntl
from sysemu.api.call import Call

O_ACCMODE = 0o3
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_NOFOLLOW = fcntl.O_NOFOLLOW  # (arm's differs from x86's)
O_PATH = 0o10000000
AT_SYMLINK_NOFOLLOW = 0x100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
RESOLVE_NO_SYMLINKS = 0x04


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


OPEN_CALLS = frozenset({"open", "openat", "openat2"})

# Calls that change what their path arguments name, whatever their flags.
_CHANGING = _names(
    """
    creat mkdir mkdirat mknod mknodat rmdir unlink unlinkat rename renameat renameat2
    link linkat symlink symlinkat truncate truncate64 chmod fchmodat fchmodat2 chown lchown
    chown32 lchown32 fchownat utime utimes futimesat utimensat utimensat_time64 setxattr
    lsetxattr removexattr lremovexattr setxattrat removexattrat file_setattr
    """
)

# Calls that change the file behind a file descriptor (one opened read-only, or O_PATH, is
# enough for these), so read-only trees must check the descriptor too.
FD_CHANGING = frozenset({"fchmod", "fchown", "fchown32", "fsetxattr", "fremovexattr"})

# Calls that never follow a symbolic link in the last component.
_NEVER_FOLLOW = _names(
    """
    mkdir mkdirat mknod mknodat rmdir unlink unlinkat rename renameat renameat2 symlink
    symlinkat link lchown lchown32 lsetxattr lremovexattr lgetxattr llistxattr lstat lstat64
    oldlstat readlink readlinkat bind
    """
)
# Calls whose flags argument may carry AT_SYMLINK_NOFOLLOW.
_AT_NOFOLLOW = _names(
    """
    fchownat fchmodat2 utimensat utimensat_time64 setxattrat removexattrat file_setattr
    newfstatat fstatat64 statx faccessat2 execveat getxattrat listxattrat file_getattr
    open_tree open_tree_attr mount_setattr
    """
)
# Calls that follow a link in the last component only when asked (AT_SYMLINK_FOLLOW).
_AT_FOLLOW = _names("name_to_handle_at")
_IN_DONT_FOLLOW = 0x02000000  # inotify_add_watch's mask bit

CHANGING_CALLS = _CHANGING | OPEN_CALLS
"""Every call that may change the filesystem through a path argument."""


def open_flags(call: Call) -> int | None:
    """The ``O_*`` flags of an open call (read from ``struct open_how`` for ``openat2``), or
    ``None`` if they cannot be read."""
    if call.name != "openat2":
        value: int = call.args.flags
        return value
    try:
        size = call.args.size
        if size < 8:
            return None
        return int.from_bytes(call.read(call.args.how, 8), "little")
    except OSError:
        return None


def open_resolve(call: Call) -> int:
    """``openat2``'s ``RESOLVE_*`` flags (0 for other calls or when unreadable)."""
    if call.name != "openat2":
        return 0
    try:
        if call.args.size < 24:
            return 0
        return int.from_bytes(call.read(call.args.how + 16, 8), "little")
    except OSError:
        return 0


def open_writes(flags: int) -> bool:
    """Whether an open with ``flags`` may change the file: write access, ``O_CREAT`` or
    ``O_TRUNC`` (``O_PATH`` ignores all three)."""
    if flags & O_PATH:
        return False
    return bool(flags & O_ACCMODE or flags & (O_CREAT | O_TRUNC))


def changes(call: Call) -> bool:
    """Whether ``call`` changes what its path arguments name (for opens: by its flags)."""
    name = call.name
    if name in _CHANGING:
        return True
    if name in OPEN_CALLS:
        flags = open_flags(call)
        return flags is None or open_writes(flags)
    return False


def follows_last(call: Call, index: int) -> bool:
    """Whether the kernel follows a symbolic link in the last component of path argument
    ``index`` of ``call``."""
    name = call.name
    if name in _NEVER_FOLLOW:
        if name == "linkat" and index == _first_path(call):
            return bool(_flags(call) & AT_SYMLINK_FOLLOW)
        return False
    if name in _AT_NOFOLLOW:
        return not _flags(call) & AT_SYMLINK_NOFOLLOW
    if name in _AT_FOLLOW:
        return bool(_flags(call) & AT_SYMLINK_FOLLOW)
    if name == "inotify_add_watch":
        return not call.args.value(2) & _IN_DONT_FOLLOW
    if name in OPEN_CALLS:
        flags = open_flags(call) or 0
        if flags & O_NOFOLLOW or flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
            return False
        return not open_resolve(call) & RESOLVE_NO_SYMLINKS
    return True


NEVER = -1
"""What :func:`nofollow_test` gives for a call that never follows a link in the last component."""


def nofollow_test(syscall: Syscall) -> tuple[int, int] | None:
    """How to tell from the registers alone that ``syscall`` does not follow a link in the last
    component of its path: ``(NEVER, 0)`` when it never does, ``(index, bit)`` when it does
    not with ``bit`` set in argument ``index``, ``None`` when it may (or it takes more than a
    register to tell: ``linkat``, ``openat2``)."""
    name = syscall.name
    if name == "linkat":
        return None
    if name in _NEVER_FOLLOW:
        return (NEVER, 0)
    bit = O_NOFOLLOW if name in ("open", "openat") else AT_SYMLINK_NOFOLLOW
    if name not in _AT_NOFOLLOW and bit != O_NOFOLLOW:
        return None
    for index, param in enumerate(syscall.params):
        if param.kind is ArgKind.FLAGS:
            return (index, bit)
    return None


def _first_path(call: Call) -> int:
    for index, param in enumerate(call.syscall.params):
        if param.kind is ArgKind.PATH:
            return index
    return -1


def _flags(call: Call) -> int:
    for index, param in enumerate(call.syscall.params):
        if param.kind is ArgKind.FLAGS:
            return call.args.value(index)
    return 0
