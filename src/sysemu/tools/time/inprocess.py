"""Faked time at vDSO speed: the program's own vDSO computes it, with no stop per read.

With the vDSO hidden, every clock read is a stop (microseconds). A :class:`VirtualClock`'s
time is a linear function of the real one (an offset, a rate, a freeze: ``r + a + (r - b) *
k``), which the program can compute itself. At exec, before the image runs, sysemu copies a
small blob (kernel/arch/vdso_clock_x86_64.S: ``fake_clock_gettime``, ``fake_gettimeofday``,
``fake_time`` and their parameters) into the free tail of the image's vDSO, and points the
vDSO's dynamic symbols (``__vdso_clock_gettime`` and the others, which glibc, musl and Go look
up by name when they start) at it. Each replacement calls the vDSO's own function and maps
its answer; clocks the virtual clock leaves alone (monotonic at rate 1, the CPU clocks) are
read as they are.
sysemu can change the parameters while the program runs (:func:`update`, for
``VirtualClock.advance``).

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
from sysemu.kernel.memory import PAGE_SIZE, TraceeMemory, TraceeMemoryError

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
_POINTERS = struct.Struct("<QQ")  # the vDSO's own clock_gettime and gettimeofday
_CLOCK_ENTRY = struct.Struct("<qqq")  # a, b, k (see the blob's source)
_CLOCKS = (blob.FAKE_CLOCK_GETTIME - blob.CLOCK_TABLE) // _CLOCK_ENTRY.size
_FIXED_POINT = 1 << 32

LinearClocks = dict[int, tuple[int, int, float]]
"""Per clock id, ``(a, b, k)``: the virtual time is ``r + a + (r - b) * k`` for real ``r``."""


def clock_table(clocks: LinearClocks) -> bytes:
    """The blob's table of clocks (ids it has no row for read as they are)."""
    rows = []
    for clock_id in range(min(_CLOCKS, 12)):
        a, b, k = clocks.get(clock_id, (0, 0, 0.0))
        rows.append(_CLOCK_ENTRY.pack(a, b, round(k * _FIXED_POINT)))
    return b"".join(rows)


def update(tid: int, table_address: int, clocks: LinearClocks) -> bool:
    """Write new clock parameters into a patched process; False if it is gone."""
    try:
        TraceeMemory(tid).write(table_address, clock_table(clocks))
    except OSError:
        return False
    return True


def patch_vdso(image: ExecImage, clocks: LinearClocks) -> int | None:
    """Make ``image``'s vDSO read ``clocks``; the address of its clock table (for
    :func:`update`), or None if it could not (then nothing was changed)."""
    base = image.aux_value(AT_SYSINFO_EHDR)
    if image.abi is not native_abi() or not base:
        return None
    memory = image.memory
    try:
        header = _ELF64_HEADER.unpack(memory.read(base, _ELF64_HEADER.size))
        if header[0][:5] != b"\x7fELF\x02" or header[2] != blob.ELF_MACHINE:
            return None  # not a 64-bit vDSO of the machine the blob is code for
        section_offset, section_size, sections = header[6], header[11], header[12]
        table = memory.read(base + section_offset, section_size * sections)
        entries = [_SECTION.unpack_from(table, k * section_size) for k in range(sections)]
        end = max(section_offset + section_size * sections,
                  *(e[4] + e[5] for e in entries if e[1] != _SHT_NOBITS))  # fmt: skip
        start = (end + 63) & ~63
        mapped = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if start + len(blob.CODE) > mapped or not _maps_at_least(image.tid, base, mapped):
            return None
        dynsym = next((e for e in entries if e[1] == _SHT_DYNSYM), None)
        if dynsym is None:
            return None
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
            return None
        head = _POINTERS.pack(base + real_clock[1], base + real_day[1]) + clock_table(clocks)
        memory.write(base + start, head + blob.CODE[len(head) :])
        for name, (symbol_at, _value) in found.items():
            replacement = start + _REPLACED[name]
            memory.write(base + symbol_at + 8, struct.pack("<Q", replacement))
    except (TraceeMemoryError, ValueError, struct.error):
        return None
    return int(base + start + blob.CLOCK_TABLE)


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
