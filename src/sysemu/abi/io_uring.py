"""io_uring: the system calls whose work a submission can do instead, and the layouts of the
io_uring calls' arguments (pure data).

The kernel's io_uring workers carry out ``IORING_OP_*`` operations themselves: no system
call of the program's own is made for them, so no seccomp filter, ptrace stop or user
notification sees them. A rule on one of these calls is therefore bypassed by a program that
submits the operation through a ring. The list follows ``include/uapi/linux/io_uring.h``
(Linux 6.12: opcodes up to ``IORING_OP_LISTEN``), each opcode named by the call it stands for;
``IORING_OP_FTRUNCATE`` (6.9), ``IORING_OP_WAITID`` and ``IORING_OP_FUTEX_*`` (6.7),
``IORING_OP_BIND``/``LISTEN`` (6.11) included.
"""

from __future__ import annotations

import struct

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

# --- Layouts (include/uapi/linux/io_uring.h) -------------------------------------------------

IO_URING_PARAMS = struct.Struct("<10I7IIQ7IIQ")
"""``struct io_uring_params`` (120 bytes, the same for 32- and 64-bit callers): ``sq_entries,
cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3]``, then
``sq_off`` (``struct io_sqring_offsets``: ``head, tail, ring_mask, ring_entries, flags,
dropped, array, resv1``, and a u64 ``resv2``, named ``user_addr`` since Linux 6.5) and
``cq_off`` (``struct io_cqring_offsets``: ``head, tail, ring_mask, ring_entries, overflow,
cqes, flags, resv1`` and the same u64). The kernel reads ``flags``, ``sq_thread_cpu``,
``sq_thread_idle``, ``wq_fd`` (and ``cq_entries`` with ``IORING_SETUP_CQSIZE``) and, when the
ring is made, writes the rest back."""

SQ_OFFSET_FIELDS = ("head", "tail", "ring_mask", "ring_entries", "flags", "dropped", "array",
                    "resv1", "resv2")  # fmt: skip
"""The fields of ``struct io_sqring_offsets``, in their order in :data:`IO_URING_PARAMS`."""
CQ_OFFSET_FIELDS = ("head", "tail", "ring_mask", "ring_entries", "overflow", "cqes", "flags",
                    "resv1", "resv2")  # fmt: skip
"""The fields of ``struct io_cqring_offsets``, in their order in :data:`IO_URING_PARAMS`."""

IORING_SETUP_ATTACH_WQ = 0x20
"""``io_uring_params.flags``: ``wq_fd`` names a ring whose workers the new one shares."""

IORING_REGISTER_FILES = 2
IORING_REGISTER_EVENTFD = 4
IORING_REGISTER_EVENTFD_ASYNC = 7
"""``io_uring_register`` opcodes whose argument is an array of ``nr_args`` fds."""

# The other opcodes whose argument the trace decodes, and the layouts it reads for them.
IORING_REGISTER_BUFFERS = 0
IORING_REGISTER_FILES_UPDATE = 6
IORING_REGISTER_PROBE = 8
IORING_REGISTER_RESTRICTIONS = 11
IORING_REGISTER_FILES2 = 13
IORING_REGISTER_FILES_UPDATE2 = 14
IORING_REGISTER_BUFFERS2 = 15
IORING_REGISTER_BUFFERS_UPDATE = 16
IORING_REGISTER_IOWQ_AFF = 17
IORING_REGISTER_IOWQ_MAX_WORKERS = 19
IORING_REGISTER_RING_FDS = 20
IORING_UNREGISTER_RING_FDS = 21
IORING_REGISTER_PBUF_RING = 22
IORING_UNREGISTER_PBUF_RING = 23

IORING_RESTRICTION_REGISTER_OP = 0
IORING_RESTRICTION_SQE_OP = 1
IORING_RESTRICTION_SQE_FLAGS_ALLOWED = 2
IORING_RESTRICTION_SQE_FLAGS_REQUIRED = 3
"""``struct io_uring_restriction.opcode``: what the union after it holds."""

IO_URING_FILES_UPDATE = struct.Struct("<IIQ")
"""``struct io_uring_files_update``: ``offset, resv, fds`` (a u64 address of ``nr_args``
ints)."""
IO_URING_PROBE = struct.Struct("<BBH3I")
"""``struct io_uring_probe`` (16 bytes): ``last_op, ops_len, resv, resv2[3]``, then
``ops[]`` of :data:`IO_URING_PROBE_OP`."""
IO_URING_PROBE_OP = struct.Struct("<BBHI")
"""``struct io_uring_probe_op`` (8 bytes): ``op, resv, flags, resv2``."""
IO_URING_PROBE_MOST_OPS = 256
"""The most ``ops`` a probe asks about that strace decodes (the kernel's own limit too)."""
IO_URING_RESTRICTION = struct.Struct("<HBB3I")
"""``struct io_uring_restriction`` (16 bytes): ``opcode``, a byte that is ``register_op``,
``sqe_op`` or ``sqe_flags`` by the opcode, ``resv, resv2[3]``."""
IO_URING_RSRC_REGISTER = struct.Struct("<IIQQQ")
"""``struct io_uring_rsrc_register`` (32 bytes): ``nr, flags, resv2, data, tags``."""
IO_URING_RSRC_UPDATE2 = struct.Struct("<IIQQII")
"""``struct io_uring_rsrc_update2`` (32 bytes): ``offset, resv, data, tags, nr, resv2``."""
IO_URING_RSRC_UPDATE = struct.Struct("<IIQ")
"""``struct io_uring_rsrc_update`` (16 bytes): ``offset, resv, data`` (ring fds)."""
IO_URING_BUF_REG = struct.Struct("<QIHH3Q")
"""``struct io_uring_buf_reg`` (40 bytes): ``ring_addr, ring_entries, bgid, pad, resv[3]``
(``pad`` is ``flags`` since Linux 6.7)."""
