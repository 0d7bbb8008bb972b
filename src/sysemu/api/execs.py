"""Exec hooks: code that runs when a traced process has exec'd a new image, before that image
runs its first instruction.

A hook (``HandlerSet.on_exec``, ``Emulator.on_exec``) receives an :class:`ExecImage`: the
thread, the new image's ABI and its start-up block (``argc``, ``argv``, ``envp`` and the
auxiliary vector on its stack), which it may edit. sysemu's own hooks hide the vDSO
(:func:`hide_vdso`, for ``Emulator(vdso=False)`` and the time options) and replace the
``AT_RANDOM`` bytes (``--deterministic``). Exec hooks need ptrace (the exec event): the
``unotify`` backend refuses them.
"""

from __future__ import annotations

from collections.abc import Callable

from sysemu.abi import Abi
from sysemu.kernel.auxv import (
    AT_IGNORE,
    AT_RANDOM,
    AT_RANDOM_SIZE,
    AT_SYSINFO_EHDR,
    AuxEntry,
    StartupBlock,
)
from sysemu.kernel.memory import TraceeMemory

__all__ = ["VDSO_CALLS", "ExecHook", "ExecImage", "hide_vdso"]

VDSO_CALLS = frozenset((
    "clock_gettime", "clock_gettime64", "gettimeofday", "time", "clock_getres",
    "clock_getres_time64", "getcpu",
))  # fmt: skip
"""The calls the x86-64 and i386 vDSOs answer without entering the kernel: a handler for
them sees nothing unless the vDSO is hidden (``Emulator(vdso=False)``)."""


class ExecImage:
    """A process that has just exec'd: its new image has not run an instruction yet."""

    __slots__ = ("_block", "abi", "memory", "sp", "tid")

    def __init__(self, tid: int, abi: Abi, sp: int, memory: TraceeMemory | None = None) -> None:
        self.tid = tid
        """The exec'ing thread (now the process's leader: its id is the process id)."""
        self.abi = abi
        """The new image's ABI: ``Abi.I386`` for a 32-bit program."""
        self.sp = sp
        """The new image's stack pointer, at ``argc``."""
        self.memory = memory if memory is not None else TraceeMemory(tid)
        """The new image's memory."""
        self._block: StartupBlock | None = None

    @property
    def auxv(self) -> list[AuxEntry]:
        """The auxiliary vector, read from the stack on first use (``AT_NULL`` left out)."""
        return self._startup().entries

    def aux_value(self, a_type: int) -> int | None:
        """The value of the auxiliary vector's entry of type ``a_type``, or None."""
        return self._startup().value(a_type)

    def ignore_aux(self, a_type: int) -> bool:
        """Hide every entry of type ``a_type`` (it becomes ``AT_IGNORE``); whether one was
        there."""
        block = self._startup()
        found = [entry for entry in block.entries if entry.type == a_type]
        for entry in found:
            block.retype(entry, AT_IGNORE)
        return bool(found)

    def set_random_bytes(self, data: bytes) -> bool:
        """Replace the 16 bytes ``AT_RANDOM`` points at (the seed of the stack canary, the
        pointer guard and the hash seeds of many runtimes); whether the image has them."""
        if len(data) != AT_RANDOM_SIZE:
            raise ValueError(f"AT_RANDOM holds {AT_RANDOM_SIZE} bytes, not {len(data)}")
        address = self.aux_value(AT_RANDOM)
        if not address:
            return False
        self.memory.write(address, data)
        return True

    def _startup(self) -> StartupBlock:
        if self._block is None:
            word = 4 if self.abi is Abi.I386 else 8
            self._block = StartupBlock(self.memory, self.sp, word)
        return self._block

    def __repr__(self) -> str:
        return f"<ExecImage tid={self.tid} {self.abi.value} sp={self.sp:#x}>"


ExecHook = Callable[[ExecImage], None]
"""A function called with the :class:`ExecImage` of every exec of the traced tree."""


def hide_vdso(image: ExecImage) -> None:
    """Hide the vDSO from the new image (``AT_SYSINFO_EHDR`` becomes ``AT_IGNORE``): glibc
    (dynamic and static), musl and Go then make real ``clock_gettime``, ``gettimeofday`` and
    ``time`` calls, which handlers can see."""
    image.ignore_aux(AT_SYSINFO_EHDR)
