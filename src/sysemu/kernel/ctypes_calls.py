"""The twins of the C accelerator's system-call functions, through ctypes: loaded only where
the accelerator is not built (or ``SYSEMU_NO_SPEEDUPS`` is set), by :mod:`.raw` and
:mod:`.memory`. Same arguments, same results: the result, or -errno on failure.

glibc's ``syscall`` and ``ptrace`` are variadic and read every argument as a 64-bit word; a
Python ``int`` passed to ctypes without ``argtypes`` would arrive as a 32-bit C ``int``, so each
argument is converted here.
"""

from __future__ import annotations

import ctypes
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long

_MASK64 = (1 << 64) - 1
_IOVEC = struct.Struct("<QQ")


def _word(
    value: int | bytes | bytearray,
) -> ctypes.c_ulong | ctypes.c_char_p | ctypes.Array[ctypes.c_char]:
    if isinstance(value, int):
        return ctypes.c_ulong(value & _MASK64)
    if isinstance(value, bytearray):
        return (ctypes.c_char * len(value)).from_buffer(value)
    return ctypes.c_char_p(bytes(value))


def syscall(number: int, *args: int | bytes | bytearray) -> int:
    """``syscall(number, *args)``: the result or -errno."""
    ctypes.set_errno(0)
    result = int(_syscall(ctypes.c_long(number), *(_word(arg) for arg in args)))
    return -ctypes.get_errno() if result == -1 else result


def ptrace(
    request: int, pid: int, addr: int | bytes | bytearray, data: int | bytes | bytearray
) -> int:
    """``ptrace(request, pid, addr, data)``: the result or -errno (a ``PEEK`` request may
    return -1 itself: errno tells the two apart)."""
    ctypes.set_errno(0)
    result = int(_ptrace(ctypes.c_long(request), ctypes.c_long(pid), _word(addr), _word(data)))
    if result == -1:
        error = ctypes.get_errno()
        if error:
            return -error
    return result


def address_of(buffer: bytes | bytearray) -> int:
    """Where a buffer's memory is (valid while the object lives and is not resized)."""
    if isinstance(buffer, bytearray):
        return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    return ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p).value or 0


def _transfer(number: int, pid: int, local: bytearray, address: int, page_size: int) -> int:
    """One process_vm_* call between ``local`` and ``address``, the remote range split at
    page boundaries (the call then moves what it can up to an unmapped page); bytes moved or
    -errno."""
    remote = bytearray()
    size, at = len(local), address
    while size > 0:
        chunk = min(size, page_size - at % page_size)
        remote += _IOVEC.pack(at, chunk)
        at += chunk
        size -= chunk
    local_iov = bytearray(_IOVEC.pack(address_of(local), len(local)))
    return syscall(number, pid, local_iov, 1, remote, len(remote) // _IOVEC.size, 0)


def read_memory(pid: int, address: int, size: int, *, number: int, page_size: int) -> bytes | int:
    """The C ``read_memory``: bytes (short at an unmapped page), or -errno."""
    buffer = bytearray(size)
    moved = _transfer(number, pid, buffer, address, page_size)
    return moved if moved < 0 else bytes(buffer[:moved])


def write_memory(pid: int, address: int, data: bytes, *, number: int, page_size: int) -> int:
    """The C ``write_memory``: bytes written, or -errno."""
    return _transfer(number, pid, bytearray(data), address, page_size)
