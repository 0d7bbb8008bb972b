"""Faked time at vDSO speed: the program's own vDSO adds the offset, with no stop per read.

With the vDSO hidden, every clock read is a ptrace stop (tens of microseconds). When the fake
realtime is the real one plus a constant (``--time`` without a rate or a freeze), the program
can compute it itself. At exec, before the image runs, sysemu copies a small blob
(kernel/arch/vdso_clock_x86_64.S: ``fake_clock_gettime``, ``fake_gettimeofday``,
``fake_time`` and their parameters) into the free tail of the image's vDSO, and points the
vDSO's dynamic symbols
(``__vdso_clock_gettime`` and the others, which glibc, musl and Go look up by name when they
start) at it. Each replacement calls the vDSO's own function and adds the offset to the
realtime clocks; the monotonic clocks are the vDSO's own.

The vDSO is mapped read-and-execute but may be written by a tracer (``VM_MAYWRITE``, for a
debugger's breakpoints): the write through ``/proc/PID/mem`` gives the process its own copy
of the page, which its forks inherit. The kernel maps the whole image, page-rounded, so the
bytes after its last section (about 1.4 KiB on Linux 6.x) are the process's to use.

Only images of the native ABI whose vDSO is of the machine the blob is code for: a 32-bit
image, or a vDSO without room or symbols, is left to the stops (the vDSO is hidden instead).
"""

from __future__ import annotations

import struct

from sysemu.api.execs import ExecImage
from sysemu.kernel.arch import _vdso_clock_x86_64 as blob
from sysemu.kernel.arch import native_abi
from sysemu.kernel.auxv import AT_SYSINFO_EHDR
from sysemu.kernel.memory import PAGE_SIZE, TraceeMemoryError

_NS = 1_000_000_000
_ELF64_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_SHT_DYNSYM = 11
_SHT_NOBITS = 8
_REPLACED = {
    b"__vdso_clock_gettime": blob.FAKE_CLOCK_GETTIME,
    b"clock_gettime": blob.FAKE_CLOCK_GETTIME,
    b"__vdso_gettimeofday": blob.FAKE_GETTIMEOFDAY,
    b"gettimeofday": blob.FAKE_GETTIMEOFDAY,
    b"__vdso_time": blob.FAKE_TIME,
    b"time": blob.FAKE_TIME,
}
_PARAMETERS = struct.Struct("<QQqqq")  # real clock_gettime, real gettimeofday, offsets


def parameters(real_clock_gettime: int, real_gettimeofday: int, offset_ns: int) -> bytes:
    """The blob's parameter block for a realtime offset of ``offset_ns``."""
    seconds, nanoseconds = divmod(offset_ns, _NS)
    return _PARAMETERS.pack(
        real_clock_gettime, real_gettimeofday, seconds, nanoseconds, nanoseconds // 1000
    )


def patch_vdso(image: ExecImage, offset_ns: int) -> bool:
    """Make ``image``'s vDSO add ``offset_ns`` to its realtime reads; whether it could (else
    nothing was changed)."""
    base = image.aux_value(AT_SYSINFO_EHDR)
    if image.abi is not native_abi() or not base:
        return False
    memory = image.memory
    try:
        header = _ELF64_HEADER.unpack(memory.read(base, _ELF64_HEADER.size))
        if header[0][:5] != b"\x7fELF\x02" or header[2] != blob.ELF_MACHINE:
            return False  # not a 64-bit vDSO of the machine the blob is code for
        section_offset, section_size, sections = header[6], header[11], header[12]
        table = memory.read(base + section_offset, section_size * sections)
        entries = [_SECTION.unpack_from(table, k * section_size) for k in range(sections)]
        end = max(section_offset + section_size * sections,
                  *(e[4] + e[5] for e in entries if e[1] != _SHT_NOBITS))  # fmt: skip
        start = (end + 63) & ~63
        mapped = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if start + len(blob.CODE) > mapped or not _maps_at_least(image.tid, base, mapped):
            return False
        dynsym = next((e for e in entries if e[1] == _SHT_DYNSYM), None)
        if dynsym is None:
            return False
        strtab = entries[dynsym[6]]
        names = memory.read(base + strtab[4], strtab[5])
        symbols = memory.read(base + dynsym[4], dynsym[5])
        found: dict[bytes, tuple[int, int]] = {}  # name: (symbol's offset, its value)
        for at in range(0, len(symbols) - _SYMBOL.size + 1, _SYMBOL.size):
            name_at, _info, _other, _index, value, _size = _SYMBOL.unpack_from(symbols, at)
            name = names[name_at : names.index(b"\0", name_at)]
            if name in _REPLACED and value:
                found[name] = (dynsym[4] + at, value)
        real_clock, real_day = found.get(b"__vdso_clock_gettime"), found.get(b"__vdso_gettimeofday")
        if real_clock is None or real_day is None:
            return False
        code = parameters(base + real_clock[1], base + real_day[1], offset_ns)
        memory.write(base + start, code + blob.CODE[len(code) :])
        for name, (symbol_at, _value) in found.items():
            replacement = start + _REPLACED[name]
            memory.write(base + symbol_at + 8, struct.pack("<Q", replacement))
    except (TraceeMemoryError, ValueError, struct.error):
        return False
    return True


def _maps_at_least(tid: int, base: int, size: int) -> bool:
    """Whether the kernel mapped the vDSO at ``base`` for at least ``size`` bytes."""
    try:
        with open(f"/proc/{tid}/maps") as maps:
            for line in maps:
                if line.endswith("[vdso]\n"):
                    low, high = (int(part, 16) for part in line.split()[0].split("-"))
                    return low == base and high - low >= size
    except OSError:
        return False
    return False
