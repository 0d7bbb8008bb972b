"""Memory that sysemu owns in each traced process, for the bytes a rewrite passes.

A rewrite with new data (a path that ``--bind`` or ``--root`` maps, ``call.rewrite(path=...)``,
:class:`~sysemu.api.decisions.Rewrite` with bytes) needs that data in the calling process,
where the kernel reads it when the call runs. The calling thread's stack is no place for it:
a Go goroutine's stack may end just below the stack pointer. So the first rewrite with data in
an address space maps a scratch area there: the stopped thread makes an ``mmap`` of sysemu's
instead of its own call (anonymous, shared, read-write, :data:`AREA_SIZE` bytes), then
enters its own call again, and the decision its handlers took the first time is carried out
with the data in the new area (:class:`~sysemu.engine.call_cycle.CallCycle` does the stops).

The kernel facts it relies on:

* At a seccomp or syscall-entry stop the tracer may change the call's number and arguments;
  the kernel runs the new call (seccomp checks it again, where a ``SECCOMP_RET_TRACE`` of the
  same filter now counts as an allow) and, resumed with ``PTRACE_SYSCALL``, stops at its exit.
  At a ``PTRACE_SYSEMU`` stop nothing runs whatever the registers say, so the thread is sent
  back over its syscall instruction to make the ``mmap`` (as ``Arch.reexecute`` makes any
  skipped call).
* At that exit stop, the registers saved at the entry with the program counter back over the
  syscall instruction make the thread enter its own call again when resumed, as the kernel's
  own restart of an interrupted call does. A signal that arrives first runs its handler, and
  the call is decided afresh after it (as after a restart).
* The mapping belongs to the address space: the threads of a process share it, a ``fork``
  child has it at the same address, a ``vfork`` child shares its parent's memory and so its
  areas, and ``exec`` drops it. It is shared (``MAP_SHARED``) so that a fork child's copy is
  the same memory, not a copy: parent and child then take their slots of it from one table
  (:class:`Area`), and never write the same bytes. An area mapped after the fork is in one
  of them only, so each process has its own list of areas (:class:`AddressSpace`), which a
  fork child starts as a copy of its parent's and a vfork child shares. Being shared also
  keeps the kernel from merging the area with a neighbouring private mapping, so
  ``/proc/PID/maps`` shows it apart, as a ``rw-s`` mapping of ``/dev/zero (deleted)`` of
  256 KiB.

Each thread holds one slot of an area while it has one, so that threads stopped in rewrites
at the same time never share bytes. A slot is
:data:`SLOT_SIZE` bytes, room for the two paths of a ``rename`` at their longest; a rewrite
that needs more maps an area of its own size for that thread. When no slot is free another
area is mapped. A thread keeps its slot until it exits (its rewritten call may be restarted
and its data written again). When the mapping fails (a filter of the program's own refuses
``mmap``), the data goes below the stack pointer as before.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from sysemu._typing import NamedTuple

PAGE = 4096
SLOT_SIZE = 16 * 1024
"""Bytes of a thread's slot: two ``PATH_MAX`` paths with room to spare."""
SLOTS_PER_AREA = 16
AREA_SIZE = SLOT_SIZE * SLOTS_PER_AREA
"""Bytes of the area mapped when a thread needs a slot and none is free (256 KiB)."""
_PROT_READ_WRITE = 0x3
_MAP_SHARED_ANONYMOUS = 0x21  # MAP_SHARED | MAP_ANONYMOUS, the same on x86 and arm64
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_MAX_ERRNO = 4095


def map_arguments(size: int) -> tuple[int, ...]:
    """The six arguments of the ``mmap`` (or ``mmap2``: the offset is 0) of an area."""
    return (0, size, _PROT_READ_WRITE, _MAP_SHARED_ANONYMOUS, _MASK64, 0)


def area_size(needed: int) -> int:
    """Bytes of the area to map for a rewrite needing ``needed`` bytes."""
    if needed <= SLOT_SIZE:
        return AREA_SIZE
    return (needed + PAGE - 1) & ~(PAGE - 1)


def mapped_address(rval: int) -> int | None:
    """The address an ``mmap`` returned in ``rval`` (its exit stop's raw value), or None for
    an error or anything that cannot be a fresh mapping."""
    value = rval & _MASK64
    if value > _MASK64 - _MAX_ERRNO or value == 0 or value % PAGE:
        return None
    return value


class Slot(NamedTuple):
    """Part of an area: its address and size."""

    address: int
    size: int


class Area:
    """One mapped area, and which of its slots are free (the others are held by threads of
    the processes that have it: the one that mapped it and its fork children)."""

    __slots__ = ("address", "free", "size")

    def __init__(self, address: int, size: int) -> None:
        self.address = address
        self.size = size
        step = SLOT_SIZE if size == AREA_SIZE else size
        self.free = [Slot(at, step) for at in range(address, address + size, step)]


class AddressSpace:
    """The areas one process (and the vfork children sharing its memory) has mapped."""

    __slots__ = ("areas", "refused")

    def __init__(self, areas: Sequence[Area] = (), *, refused: bool = False) -> None:
        self.areas = list(areas)
        # True once the mapping failed: rewrites then put their data below the stack pointer.
        self.refused = refused


def data_size(values: Sequence[object], word: int) -> int:
    """Bytes that the data of a rewrite's arguments ``values`` take in a slot (bytes, and
    tuples of strings as a NULL-terminated array of ``word``-byte pointers), each 16-aligned."""
    size = 0
    for value in values:
        if isinstance(value, bytes):
            size += (len(value) + 15) & ~15
        elif isinstance(value, tuple):
            size += (sum(map(len, value)) + word * (len(value) + 1) + 15) & ~15
    return size


def lay_out(
    raw: Sequence[int], values: Sequence[object], base: int, word: int
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """A rewrite's argument registers and the ``(address, data)`` to write from ``base`` up:
    each argument of ``values`` that is None stays as in ``raw``, an int replaces it, and
    data (see :func:`data_size`) is written at an address that replaces it."""
    args = list(raw)
    blobs: list[tuple[int, bytes]] = []
    at = base
    for index, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, tuple):
            data = _pointer_array(at, value, word)
        else:
            args[index] = int(value) & _MASK64  # type: ignore[call-overload]
            continue
        blobs.append((at, data))
        args[index] = at
        at += (len(data) + 15) & ~15
    return args, blobs


def _pointer_array(start: int, strings: tuple[bytes, ...], word: int) -> bytes:
    """What to write at ``start`` for ``strings``: a NULL-terminated array of pointers to
    them (``word`` bytes each, the call's ABI's), then the strings."""
    at = start + word * (len(strings) + 1)
    pointers = []
    for item in strings:
        pointers.append(at)
        at += len(item)
    pointers.append(0)
    array = struct.pack(f"<{len(pointers)}{'Q' if word == 8 else 'I'}", *pointers)
    return array + b"".join(strings)


class ScratchSpaces:
    """The scratch areas of every traced process, by its thread group id (a vfork child's
    id names its parent's list until it execs), and the slot each thread holds."""

    # The layout and mmap facts, for the engine, which imports this module only when a
    # run rewrites.
    data_size = staticmethod(data_size)
    lay_out = staticmethod(lay_out)
    area_size = staticmethod(area_size)
    map_arguments = staticmethod(map_arguments)
    mapped_address = staticmethod(mapped_address)

    def __init__(self) -> None:
        self._spaces: dict[int, AddressSpace] = {}
        self._held: dict[int, tuple[Area, Slot]] = {}  # each thread's slot, and its area

    def slot(self, tgid: int, tid: int, size: int) -> int | None:
        """The address of ``tid``'s slot of at least ``size`` bytes in an area of process
        ``tgid``: the one it holds, or a free one it now holds instead; None when an area
        must be mapped first (see :meth:`refused`)."""
        space = self._spaces.get(tgid)
        if space is None:
            return None
        held = self._held.get(tid)
        if held is not None and held[1].size >= size and held[0] in space.areas:
            return held[1].address
        for area in space.areas:
            for index, free in enumerate(area.free):
                if free.size >= size:
                    del area.free[index]
                    if held is not None:  # (too small, or of the image before an exec)
                        held[0].free.append(held[1])
                    self._held[tid] = (area, free)
                    return free.address
        return None

    def refused(self, tgid: int) -> bool:
        """Whether mapping an area failed in process ``tgid`` (then data goes on the stack)."""
        space = self._spaces.get(tgid)
        return space is not None and space.refused

    def mapped(self, tgid: int, address: int | None, size: int) -> None:
        """The ``mmap`` made for process ``tgid`` returned ``address`` (None: it failed)."""
        space = self._spaces.get(tgid)
        if space is None:
            space = self._spaces[tgid] = AddressSpace()
        if address is None:
            space.refused = True
        else:
            space.areas.append(Area(address, size))

    def forked(self, parent: int, child: int, *, shares_memory: bool) -> None:
        """Process ``child`` was made by process ``parent``: a fork child has the parent's
        areas now (the same memory: the same slot tables), a vfork child shares its
        parent's memory, so also the areas either maps later."""
        space = self._spaces.get(parent)
        if space is not None:
            self._spaces[child] = (
                space if shares_memory else AddressSpace(space.areas, refused=space.refused)
            )

    def forget(self, tgid: int) -> None:
        """Process ``tgid`` runs a new image, in a new address space without areas (or its
        areas cannot be written: the program unmapped them)."""
        self._spaces.pop(tgid, None)

    def thread_gone(self, tid: int) -> None:
        """Thread ``tid`` exited: its slot is free, and if it led its process, the process's
        id no longer names that space (ids are used again)."""
        held = self._held.pop(tid, None)
        if held is not None:
            held[0].free.append(held[1])
        self._spaces.pop(tid, None)
