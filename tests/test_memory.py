"""Tracee memory access, on this process's own memory (process_vm_readv works on oneself),
with the C accelerator and with the ctypes fallback."""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
from collections.abc import Iterator

import pytest

from sysemu.kernel import ctypes_calls, memory, raw
from sysemu.kernel.memory import TraceeMemory, TraceeMemoryError

_libc = ctypes.CDLL(None)
_ctypes_read = functools.partial(
    ctypes_calls.read_memory, number=raw.SYS_PROCESS_VM_READV, page_size=mmap.PAGESIZE
)
_ctypes_write = functools.partial(
    ctypes_calls.write_memory, number=raw.SYS_PROCESS_VM_WRITEV, page_size=mmap.PAGESIZE
)


@pytest.fixture(autouse=True, params=["speedups", "ctypes"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "ctypes":
        monkeypatch.setattr(memory, "_read_memory", _ctypes_read)
        monkeypatch.setattr(memory, "_read_cstring", None)
        monkeypatch.setattr(memory, "_write_memory", _ctypes_write)
    elif raw.speedups is None:
        pytest.skip("the C accelerator is not built")
    return str(request.param)


@pytest.fixture
def edge() -> Iterator[int]:
    """The address of the last 6 bytes of a mapped page ("abcdef") whose next page is unmapped."""
    region = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    _libc.munmap(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE)
    ctypes.memmove(base + mmap.PAGESIZE - 6, b"abcdef", 6)
    yield base + mmap.PAGESIZE - 6


def test_read_and_write_round_trip() -> None:
    buffer = ctypes.create_string_buffer(b"hello, tracee\0", 64)
    address = ctypes.addressof(buffer)
    own = TraceeMemory(os.getpid())
    assert own.read(address, 5) == b"hello"
    assert own.read_cstring(address) == b"hello, tracee"
    own.write(address, b"HELLO")
    assert buffer.value == b"HELLO, tracee"


def test_strings_are_cut_at_the_limit() -> None:
    buffer = ctypes.create_string_buffer(b"x" * 10000 + b"\0")
    own = TraceeMemory(os.getpid())
    assert own.read_cstring(ctypes.addressof(buffer), limit=4096) == b"x" * 4096
    assert own.read_cstring(ctypes.addressof(buffer), limit=20000) == b"x" * 10000


def test_a_string_running_into_an_unmapped_page(edge: int) -> None:
    own = TraceeMemory(os.getpid())
    assert own.read_cstring(edge) == b"abcdef"
    assert own.read(edge, 100, partial=True) == b"abcdef"
    with pytest.raises(TraceeMemoryError) as caught:
        own.read(edge, 100)
    assert caught.value.errno == errno.EFAULT
    with pytest.raises(TraceeMemoryError):
        own.read_cstring(edge + 6)


def test_null_pointer() -> None:
    with pytest.raises(TraceeMemoryError):
        TraceeMemory(os.getpid()).read_cstring(0)


def test_writes_across_pages_and_into_an_unmapped_one(edge: int) -> None:
    own = TraceeMemory(os.getpid())
    region = mmap.mmap(-1, 3 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    data = bytes(range(256)) * (2 * mmap.PAGESIZE // 256)
    own.write(base + 100, data)  # three pages touched
    assert region[100 : 100 + len(data)] == data
    with pytest.raises(TraceeMemoryError) as caught:
        own.write(edge, b"0123456789")  # the last 4 bytes would land on the unmapped page
    assert caught.value.errno == errno.EFAULT
    del region
