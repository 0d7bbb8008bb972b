"""Kernel structure layouts, once per ABI: where the fields are that sysemu reads or writes.

A :class:`Layout` is one C structure as the kernel copies it to or from a program of one ABI
(little-endian, packed as the kernel's own definition lays it out; padding is skipped). The
tables map an ABI to its layout; an ABI missing from a table has no such structure (or one
sysemu does not know), and users print the address or leave the call alone. The trace
decoders, the virtual filesystem's live files and anything else that reads a structure take
it from here, so that each layout is written down exactly once.

Pure data, standard library only, like the rest of :mod:`sysemu.abi`.
"""

from __future__ import annotations

import re
import struct

from sysemu.abi.abi import Abi

_TOKEN = re.compile(r"(\d*)([xcbB?hHiIlLqQs])")


class Layout:
    """One structure of one ABI: its :mod:`struct` format and the names of its fields, in the
    order :meth:`unpack` returns them (a repeated item such as ``3Q`` names each one)."""

    __slots__ = ("_fields", "_fmt", "_index", "_names", "codec", "size")

    def __init__(self, fmt: str, names: str) -> None:
        self._fmt = fmt
        self._names = names
        self.codec = struct.Struct("<" + fmt)
        self.size = self.codec.size  # bytes read or written of the structure
        if len(names.split()) != len(self.codec.unpack(bytes(self.size))):
            raise ValueError(f"names {names!r} do not fit format {fmt!r}")
        # Where each field is, worked out at the first question (most runs ask none).
        self._fields: dict[str, tuple[int, int]] | None = None
        self._index: dict[str, int] | None = None

    def _place_fields(self) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        """(offset, width) and unpacked position of each field, by name."""
        if self._fields is None or self._index is None:
            spans: list[tuple[int, int]] = []  # (offset, width) of each unpacked value
            offset = 0
            for count_text, code in _TOKEN.findall(self._fmt):
                count = int(count_text or 1)
                if code == "x":
                    offset += count
                elif code == "s":
                    spans.append((offset, count))
                    offset += count
                else:
                    width = struct.calcsize("<" + code)
                    spans += [(offset + width * i, width) for i in range(count)]
                    offset += width * count
            labels = self._names.split()
            self._fields = dict(zip(labels, spans, strict=True))
            self._index = {name: position for position, name in enumerate(labels)}
        return self._fields, self._index

    def unpack(self, data: bytes) -> tuple[int, ...]:
        """The field values of ``data`` (exactly :attr:`size` bytes)."""
        return self.codec.unpack(data)

    def index(self, name: str) -> int:
        """Where field ``name`` is in :meth:`unpack`'s tuple; KeyError if there is none."""
        return self._place_fields()[1][name]

    def field(self, name: str) -> tuple[int, int]:
        """``(byte offset, width)`` of field ``name``; KeyError if there is none."""
        return self._place_fields()[0][name]

    def head(self, last: str) -> Layout:
        """The structure's first fields, up to and including ``last`` (for a reader that needs
        no more, and must not read past them). Raises KeyError for an unknown field and
        ValueError for one inside a repeated item (``3Q``)."""
        labels = self._names.split()
        count = labels.index(last) + 1 if last in self._place_fields()[1] else -1
        if count < 0:
            raise KeyError(last)
        taken, fmt = 0, ""
        for count_text, code in _TOKEN.findall(self._fmt):
            if taken == count:
                break
            items = 0 if code == "x" else 1 if code == "s" else int(count_text or 1)
            if taken + items > count:
                raise ValueError(f"{last} is inside the repeated item {count_text}{code}")
            taken += items
            fmt += count_text + code
        return Layout(fmt, " ".join(labels[:count]))

    def __repr__(self) -> str:
        return f"<Layout {self.codec.format!r} {self._names}>"


# --- Files -----------------------------------------------------------------------------------

# struct stat of the 64-bit ABI (arch/x86/include/uapi/asm/stat.h); x32 uses it too. The three
# reserved longs at its end are not read.
_STAT_64 = Layout(
    "QQQIII4xQqqqQQQQQQ",
    "st_dev st_ino st_nlink st_mode st_uid st_gid st_rdev st_size st_blksize st_blocks"
    " st_atime st_atime_nsec st_mtime st_mtime_nsec st_ctime st_ctime_nsec",
)
# i386's struct stat as a 64-bit kernel writes it (struct compat_stat, asm/compat.h).
_STAT_I386 = Layout(
    "H2xIHHHHH2x11I",
    "st_dev st_ino st_mode st_nlink st_uid st_gid st_rdev st_size st_blksize st_blocks"
    " st_atime st_atime_nsec st_mtime st_mtime_nsec st_ctime st_ctime_nsec __unused4 __unused5",
)
# i386's struct stat64, packed (arch/x86/include/uapi/asm/stat.h).
_STAT64_I386 = Layout(
    "Q4xIIIIIQ4xqIQIIIIIIQ",
    "st_dev __st_ino st_mode st_nlink st_uid st_gid st_rdev st_size st_blksize st_blocks"
    " st_atime st_atime_nsec st_mtime st_mtime_nsec st_ctime st_ctime_nsec st_ino",
)
# The asm-generic struct stat (include/uapi/asm-generic/stat.h) of aarch64: st_mode before
# st_nlink, both 32-bit, a padded st_rdev and a 32-bit st_blksize; 128 bytes, of which the two
# reserved ints at the end are not read.
_STAT_GENERIC = Layout(
    "QQIIIIQ8xqi4xqQQQQQQ",
    "st_dev st_ino st_mode st_nlink st_uid st_gid st_rdev st_size st_blksize st_blocks"
    " st_atime st_atime_nsec st_mtime st_mtime_nsec st_ctime st_ctime_nsec",
)
STAT: dict[Abi, Layout] = {
    Abi.X86_64: _STAT_64,
    Abi.X32: _STAT_64,
    Abi.I386: _STAT_I386,
    Abi.AARCH64: _STAT_GENERIC,
}
"""``struct stat``, which ``stat``, ``fstat``, ``lstat`` and ``newfstatat`` fill."""
STAT64: dict[Abi, Layout] = {Abi.I386: _STAT64_I386}
"""``struct stat64``, which the 32-bit ``stat64`` family fills."""
STATX = Layout(
    "IIQIIIH2xQQQ",
    "stx_mask stx_blksize stx_attributes stx_nlink stx_uid stx_gid stx_mode stx_ino stx_size"
    " stx_blocks",
)
"""The head of ``struct statx`` (the same on every ABI), up to ``stx_blocks``."""
STATX_TIMESTAMPS = (0x40, 0x50, 0x60, 0x70)
"""Offsets of ``struct statx``'s ``stx_atime``, ``stx_btime``, ``stx_ctime`` and ``stx_mtime``,
each a ``struct statx_timestamp`` (``__s64 tv_sec; __u32 tv_nsec``; include/uapi/linux/stat.h)."""


def stat_layout(call: str, abi: Abi) -> Layout | None:
    """The structure the stat call named ``call`` fills for a program of ``abi``, or None."""
    if call == "statx":
        return STATX
    return (STAT64 if call.endswith("64") else STAT).get(abi)


IOVEC: dict[Abi, Layout] = {
    Abi.X86_64: Layout("QQ", "iov_base iov_len"),
    Abi.X32: Layout("II", "iov_base iov_len"),  # x32's vector calls are the compat ones
    Abi.I386: Layout("II", "iov_base iov_len"),
    Abi.AARCH64: Layout("QQ", "iov_base iov_len"),
}
"""``struct iovec``."""

_FLOCK_64 = Layout("hh4xqqi4x", "l_type l_whence l_start l_len l_pid")
FLOCK: dict[Abi, Layout] = {Abi.X86_64: _FLOCK_64, Abi.X32: _FLOCK_64, Abi.AARCH64: _FLOCK_64}
"""``struct flock`` (and ``flock64``, the same there) of the 64-bit ABIs; i386's compat
layouts are not described."""

# --- Time ------------------------------------------------------------------------------------

TIMESPEC64 = Layout("qq", "tv_sec tv_nsec")
"""``struct __kernel_timespec``, which the ``*_time64`` calls of 32-bit programs use too."""
TIMESPEC: dict[Abi, Layout] = {
    Abi.X86_64: TIMESPEC64,
    Abi.X32: TIMESPEC64,
    Abi.I386: Layout("ii", "tv_sec tv_nsec"),  # struct old_timespec32
    Abi.AARCH64: TIMESPEC64,
}
"""The ``struct timespec`` of an ABI's calls without ``_time64`` in their name."""
RUSAGE_TIMES: dict[Abi, Layout] = {
    Abi.X86_64: Layout("qqqq", "utime_sec utime_usec stime_sec stime_usec"),
    Abi.X32: Layout("qqqq", "utime_sec utime_usec stime_sec stime_usec"),
    Abi.I386: Layout("iiii", "utime_sec utime_usec stime_sec stime_usec"),
    Abi.AARCH64: Layout("qqqq", "utime_sec utime_usec stime_sec stime_usec"),
}
"""The head of ``struct rusage``: ``ru_utime`` and ``ru_stime``, two ``struct timeval``."""

# --- Processes -------------------------------------------------------------------------------

RLIMIT64 = Layout("QQ", "rlim_cur rlim_max")
"""``struct rlimit64`` (``prlimit64``), the same on every ABI."""
RLIMIT: dict[Abi, Layout] = {
    Abi.X86_64: RLIMIT64,
    Abi.X32: RLIMIT64,
    Abi.I386: Layout("II", "rlim_cur rlim_max"),  # struct compat_rlimit
    Abi.AARCH64: RLIMIT64,
}
"""``struct rlimit`` (``getrlimit``, ``setrlimit``)."""
_SYSINFO_NAMES = (
    "uptime load1 load5 load15 totalram freeram sharedram bufferram totalswap freeswap"
    " procs pad totalhigh freehigh mem_unit"
)
SYSINFO: dict[Abi, Layout] = {
    Abi.X86_64: Layout("Q3Q6QHH4xQQI4x", _SYSINFO_NAMES),
    Abi.X32: Layout("Q3Q6QHH4xQQI4x", _SYSINFO_NAMES),
    Abi.I386: Layout("I3I6IHHIII8x", _SYSINFO_NAMES),
    Abi.AARCH64: Layout("Q3Q6QHH4xQQI4x", _SYSINFO_NAMES),
}
"""``struct sysinfo``."""

SOCK_FPROG: dict[Abi, Layout] = {
    Abi.X86_64: Layout("H6xQ", "len filter"),
    Abi.AARCH64: Layout("H6xQ", "len filter"),
}
"""``struct sock_fprog``, the filter ``seccomp`` and ``prctl`` install (compat ABIs use
``compat_sock_fprog``, not described)."""

# --- Signals ---------------------------------------------------------------------------------

SIGACTION: dict[Abi, Layout] = {
    Abi.X86_64: Layout("QQQQ", "sa_handler sa_flags sa_restorer sa_mask"),
    Abi.I386: Layout("IIIQ", "sa_handler sa_flags sa_restorer sa_mask"),  # compat_sigaction
    # arm64 defines SA_RESTORER, so its asm-generic struct sigaction has sa_restorer too.
    Abi.AARCH64: Layout("QQQQ", "sa_handler sa_flags sa_restorer sa_mask"),
}
"""The kernel's ``struct sigaction`` (``rt_sigaction``)."""

SIGRETURN_MASK_FROM_SP: dict[Abi, int] = {Abi.X86_64: 296, Abi.AARCH64: 168}
"""Where ``rt_sigreturn`` finds the signal mask it restores, from the stack pointer at the
call. x86-64: in the signal frame above the return address the handler popped, 8
(``pretcode``) + ``offsetof(struct ucontext, uc_sigmask)`` bytes from the frame, which starts 8
bytes below that stack pointer. aarch64: the stack pointer is the frame (``struct
rt_sigframe``: a 128-byte ``siginfo``, then the ``ucontext``, whose ``uc_sigmask`` follows
``uc_flags``, ``uc_link`` and a 24-byte ``stack_t``: 128 + 40)."""

# siginfo_t as PTRACE_GETSIGINFO hands it to a 64-bit tracer (include/uapi/asm-generic/
# siginfo.h): three ints, then the union, aligned to 8 bytes; in _sigchld, _utime and _stime
# are longs, aligned to 8 after _status.
SIGINFO_KILL: dict[Abi, Layout] = {
    Abi.X86_64: Layout("iii4xiI", "si_signo si_errno si_code si_pid si_uid"),
    Abi.AARCH64: Layout("iii4xiI", "si_signo si_errno si_code si_pid si_uid"),
}
"""The head of a ``siginfo_t`` sent by ``kill`` (and ``SI_USER``-like codes)."""
SIGINFO_CHLD: dict[Abi, Layout] = {
    Abi.X86_64: Layout(
        "iii4xiIi4xqq",
        "si_signo si_errno si_code si_pid si_uid si_status si_utime si_stime",
    ),
    Abi.AARCH64: Layout(
        "iii4xiIi4xqq",
        "si_signo si_errno si_code si_pid si_uid si_status si_utime si_stime",
    ),
}
"""The head of a ``SIGCHLD``'s ``siginfo_t``."""
