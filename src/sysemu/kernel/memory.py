"""Reading and writing a stopped tracee's memory.

``process_vm_readv``/``process_vm_writev`` (Linux 3.2) copy in one system call; they are
refused in some sandboxes (EPERM, ENOSYS) and cannot write read-only pages (EFAULT), where
``/proc/PID/mem`` still works because the kernel forces the access for a tracer. Remote ranges
are split at page boundaries so that a string ending just before an unmapped page is read up to
the page end instead of failing as a whole.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from sysemu.kernel.raw import SYS_PROCESS_VM_READV, SYS_PROCESS_VM_WRITEV, speedups

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# include/uapi/linux/limits.h: a path the kernel accepts is at most this long, NUL included.
PATH_MAX = 4096


class TraceeMemoryError(OSError):
    """Tracee memory could not be read or written (the address is not mapped; ESRCH: the
    thread is gone). ``tid``: the thread whose memory it was, where known (else 0)."""

    tid: int = 0


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


# The readers and the writer, the C accelerator's (see csrc/tracee.c) or their ctypes twins;
# each returns -errno on failure. Without the accelerator strings are read by read() below.
_read_memory: Callable[[int, int, int], bytes | int]
_read_cstring: Callable[[int, int, int], bytes | int] | None
_write_memory: Callable[[int, int, bytes], int]
if speedups is not None:
    _read_memory = speedups.read_memory
    _read_cstring = speedups.read_cstring
    _write_memory = speedups.write_memory
else:
    from functools import partial as _bind

    from sysemu.kernel import ctypes_calls

    _read_memory = _bind(ctypes_calls.read_memory, number=SYS_PROCESS_VM_READV, page_size=PAGE_SIZE)
    _read_cstring = None
    _write_memory = _bind(
        ctypes_calls.write_memory, number=SYS_PROCESS_VM_WRITEV, page_size=PAGE_SIZE
    )


class TraceeMemory:
    """The address space of one stopped tracee, by any of its thread ids."""

    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def _error(self, code: int, message: str) -> TraceeMemoryError:
        error = TraceeMemoryError(code, message)
        error.tid = self.tid
        return error

    def read(self, address: int, size: int, *, partial: bool = False) -> bytes:
        """Read ``size`` bytes at ``address``.

        With ``partial``, return what could be read before the first unmapped page instead of
        raising. Raises :class:`TraceeMemoryError` (an OSError with EFAULT) otherwise.
        """
        if size <= 0:
            return b""
        data = _read_memory(self.tid, address, size)
        if isinstance(data, int):
            if -data in _FALLBACK_ERRNOS:
                data = self._proc_mem_read(address, size)
            if isinstance(data, int):
                if partial and data == -errno.EFAULT:
                    return b""
                raise self._error(-data, f"cannot read tracee {self.tid} at {address:#x}")
        if len(data) < size and not partial:
            raise TraceeMemoryError(errno.EFAULT, f"cannot read {size} bytes at {address:#x}")
        return data

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
                raise self._error(-found, f"cannot read string at {address:#x}")
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
        moved = first = _write_memory(self.tid, address, bytes(data))
        if moved != len(data):
            moved = self._proc_mem_write(data, address)
        if moved != len(data):
            # ESRCH: the thread is gone (killed while stopped), not the address unmapped.
            code = errno.ESRCH if first == -errno.ESRCH else errno.EFAULT
            raise self._error(code, f"cannot write tracee {self.tid} at {address:#x}")

    def _proc_mem_read(self, address: int, size: int) -> bytes | int:
        """Up to ``size`` bytes at ``address`` through /proc/PID/mem (short at an unmapped
        page), or -errno when it cannot be opened."""
        try:
            fd = os.open(f"/proc/{self.tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            return -(error.errno or errno.EIO)
        try:
            data = b""
            for piece_address, length in _page_split(address, size):
                try:
                    piece = os.pread(fd, length, piece_address)
                except OSError:
                    break
                data += piece
                if len(piece) < length:
                    break
        finally:
            os.close(fd)
        return data if data else -errno.EFAULT

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
