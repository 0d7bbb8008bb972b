"""Reading and writing a stopped tracee's memory.

``process_vm_readv``/``process_vm_writev`` (Linux 3.2) copy in one system call; they are
refused in some sandboxes (EPERM, ENOSYS) and cannot write read-only pages (EFAULT), where
``/proc/PID/mem`` still works because the kernel forces the access for a tracer. Remote ranges
are split at page boundaries so that a string ending just before an unmapped page is read up to
the page end instead of failing as a whole.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

from sysemu.kernel.libc import SYS_PROCESS_VM_READV, SYS_PROCESS_VM_WRITEV, syscall

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# include/uapi/linux/limits.h: a path the kernel accepts is at most this long, NUL included.
PATH_MAX = 4096


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class TraceeMemoryError(OSError):
    """Tracee memory could not be read or written (the address is not mapped)."""


# process_vm_* refused (a sandbox) or, for writes, a read-only page: /proc/PID/mem may work.
_FALLBACK_ERRNOS = (errno.ENOSYS, errno.EPERM)


def _page_split(address: int, size: int) -> list[tuple[int, int]]:
    pieces = []
    while size > 0:
        chunk = min(size, PAGE_SIZE - address % PAGE_SIZE)
        pieces.append((address, chunk))
        address += chunk
        size -= chunk
    return pieces


def _transfer(number: int, pid: int, local: ctypes.Array[ctypes.c_char], address: int) -> int:
    """One process_vm_* call between ``local`` and ``address``; bytes moved or -errno."""
    pieces = _page_split(address, len(local))
    remote = (_Iovec * len(pieces))(*(_Iovec(base, length) for base, length in pieces))
    local_iov = _Iovec(ctypes.cast(local, ctypes.c_void_p).value, len(local))
    moved = syscall(
        ctypes.c_long(number),
        ctypes.c_long(pid),
        ctypes.byref(local_iov),
        ctypes.c_ulong(1),
        remote,
        ctypes.c_ulong(len(pieces)),
        ctypes.c_ulong(0),
    )
    return int(moved) if moved >= 0 else -ctypes.get_errno()


# The C accelerator's readers, if it was built (see csrc/tracee.c); both return -errno on failure.
_read_memory: Callable[[int, int, int], bytes | int] | None = None
_read_cstring: Callable[[int, int, int], bytes | int] | None = None
_write_memory: Callable[[int, int, bytes], int] | None = None
if not os.environ.get("SYSEMU_NO_SPEEDUPS"):
    try:
        from sysemu.kernel import _speedups  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        _read_memory = _speedups.read_memory
        _read_cstring = _speedups.read_cstring
        # (getattr: an in-place build older than this function still loads.)
        _write_memory = getattr(_speedups, "write_memory", None)


class TraceeMemory:
    """The address space of one stopped tracee, by any of its thread ids."""

    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def read(self, address: int, size: int, *, partial: bool = False) -> bytes:
        """Read ``size`` bytes at ``address``.

        With ``partial``, return what could be read before the first unmapped page instead of
        raising. Raises :class:`TraceeMemoryError` (an OSError with EFAULT) otherwise.
        """
        if size <= 0:
            return b""
        if _read_memory is not None:
            data = _read_memory(self.tid, address, size)
            if isinstance(data, bytes) and (partial or len(data) == size):
                return data
            if isinstance(data, bytes) or (partial and data == -errno.EFAULT):
                if partial:
                    return b""
                raise TraceeMemoryError(errno.EFAULT, f"cannot read {size} bytes at {address:#x}")
            if -data not in _FALLBACK_ERRNOS:
                raise TraceeMemoryError(-data, f"cannot read tracee {self.tid} at {address:#x}")
        buffer = ctypes.create_string_buffer(size)
        moved = _transfer(SYS_PROCESS_VM_READV, self.tid, buffer, address)
        if moved < 0 and -moved in _FALLBACK_ERRNOS:
            moved = self._proc_mem_read(buffer, address)
        if moved < 0 and not (partial and -moved == errno.EFAULT):
            raise TraceeMemoryError(-moved, f"cannot read tracee {self.tid} at {address:#x}")
        moved = max(moved, 0)
        if moved < size and not partial:
            raise TraceeMemoryError(errno.EFAULT, f"cannot read {size} bytes at {address:#x}")
        return buffer.raw[:moved]

    def read_cstring(self, address: int, limit: int = PATH_MAX) -> bytes:
        """Read a NUL-terminated string at ``address`` (without the NUL), at most ``limit``
        bytes; a longer string is cut at ``limit``."""
        if address == 0:
            raise TraceeMemoryError(errno.EFAULT, "NULL string pointer")
        if _read_cstring is not None:
            found = _read_cstring(self.tid, address, limit)
            if isinstance(found, bytes):
                return found
            if -found not in _FALLBACK_ERRNOS:
                raise TraceeMemoryError(-found, f"cannot read string at {address:#x}")
        data = b""
        while len(data) < limit:
            # First up to the page end, then a page at a time: most strings end in one read.
            chunk = min(limit - len(data), PAGE_SIZE - (address + len(data)) % PAGE_SIZE)
            piece = self.read(address + len(data), chunk, partial=True)
            end = piece.find(b"\0")
            if end >= 0:
                return data + piece[:end]
            data += piece
            if len(piece) < chunk:
                if not data:
                    raise TraceeMemoryError(errno.EFAULT, f"cannot read string at {address:#x}")
                break
        return data[:limit]

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` at ``address``, through /proc/PID/mem if the page is read-only."""
        if not data:
            return
        if _write_memory is not None:
            moved = _write_memory(self.tid, address, bytes(data))
        else:
            buffer = ctypes.create_string_buffer(data, len(data))
            moved = _transfer(SYS_PROCESS_VM_WRITEV, self.tid, buffer, address)
        if moved != len(data):
            moved = self._proc_mem_write(data, address)
        if moved != len(data):
            raise TraceeMemoryError(errno.EFAULT, f"cannot write tracee {self.tid} at {address:#x}")

    def _proc_mem_read(self, buffer: ctypes.Array[ctypes.c_char], address: int) -> int:
        try:
            fd = os.open(f"/proc/{self.tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            return -(error.errno or errno.EIO)
        try:
            data = b""
            for piece_address, length in _page_split(address, len(buffer)):
                try:
                    piece = os.pread(fd, length, piece_address)
                except OSError:
                    break
                data += piece
                if len(piece) < length:
                    break
        finally:
            os.close(fd)
        ctypes.memmove(buffer, data, len(data))
        return len(data)

    def _proc_mem_write(self, data: bytes, address: int) -> int:
        try:
            fd = os.open(f"/proc/{self.tid}/mem", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return -1
        try:
            return os.pwrite(fd, data, address)
        except OSError:
            return -1
        finally:
            os.close(fd)
