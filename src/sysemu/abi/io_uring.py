"""The system calls whose work an io_uring submission can do instead (pure data).

The kernel's io_uring workers carry out ``IORING_OP_*`` operations themselves: no system
call of the program's own is made for them, so no seccomp filter, ptrace stop or user
notification sees them. A rule on one of these calls is therefore bypassed by a program that
submits the operation through a ring. The list follows ``include/uapi/linux/io_uring.h``
(Linux 6.12: opcodes up to ``IORING_OP_LISTEN``), each opcode named by the call it stands for;
``IORING_OP_FTRUNCATE`` (6.9), ``IORING_OP_WAITID`` and ``IORING_OP_FUTEX_*`` (6.7),
``IORING_OP_BIND``/``LISTEN`` (6.11) included.
"""

from __future__ import annotations

IO_URING_OPERATIONS = frozenset(
    {
        # Files and descriptors.
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "open", "openat", "openat2", "creat", "close", "statx",
        "fsync", "fdatasync", "sync_file_range", "fallocate", "fadvise64", "madvise",
        "splice", "tee", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir",
        "mkdir", "mkdirat", "symlink", "symlinkat", "link", "linkat", "ftruncate",
        "truncate", "getxattr", "setxattr", "fgetxattr", "fsetxattr", "epoll_ctl",
        # Sockets.
        "socket", "connect", "accept", "accept4", "bind", "listen", "shutdown", "send",
        "sendto", "sendmsg", "recv", "recvfrom", "recvmsg",
        # Processes and waiting.
        "waitid", "futex",
    }
)  # fmt: skip
"""Names of the calls an io_uring operation can stand in for."""
