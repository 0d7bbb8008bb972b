"""The auxiliary vector of a freshly exec'd image, found on its stack and edited in place.

At ``PTRACE_EVENT_EXEC`` the new image has not run an instruction yet (the kernel reports the
event on its way back to user space), and its stack pointer points at the start-up block the
kernel built (``fs/binfmt_elf.c::create_elf_tables``)::

    argc, argv[0..argc-1], NULL, envp[...], NULL, (a_type, a_val)..., (AT_NULL, 0)

Each slot is one word of the *new image's* ABI: 8 bytes for x86-64, 4 for a 32-bit (i386)
image, even under a 64-bit tracer. The dynamic loader, a static libc and the Go runtime all
read the vector from there (``/proc/PID/auxv`` is the kernel's own copy, which nobody reads at
start-up), so an entry rewritten here is what the program sees.
"""

from __future__ import annotations

import struct

from sysemu._typing import NamedTuple
from sysemu.kernel.memory import TraceeMemory, TraceeMemoryError

# include/uapi/linux/auxvec.h
AT_NULL = 0
AT_IGNORE = 1  # "entry should be ignored": every reader skips it
AT_PAGESZ = 6
AT_RANDOM = 25  # address of 16 random bytes (stack canary, pointer guard, hash seeds)
AT_SYSINFO_EHDR = 33  # address of the vDSO's ELF header
AT_RANDOM_SIZE = 16

# The start-up block is small (arguments and environment are pointers into the strings above
# it); this much is read at once, more only for a huge environment.
_FIRST_READ = 8192
_MOST = 1 << 20  # ARG_MAX-sized environments stay far below this many bytes of pointers


class AuxEntry(NamedTuple):
    """One ``(a_type, a_val)`` pair of the vector and the address of its type word."""

    type: int
    value: int
    address: int


class StartupBlock:
    """The words at the new image's stack pointer: argc, argv, envp and the auxv."""

    def __init__(self, memory: TraceeMemory, sp: int, word_size: int) -> None:
        """``word_size``: 8 for a 64-bit image, 4 for a 32-bit one. Raises
        :class:`TraceeMemoryError` if the block cannot be read or does not end."""
        self._memory = memory
        self._word = word_size
        self._format = "<Q" if word_size == 8 else "<I"
        self.sp = sp
        self.entries = self._read_auxv()

    def _words(self, size: int) -> tuple[int, ...]:
        data = self._memory.read(self.sp, size, partial=True)
        count = len(data) // self._word
        code = "Q" if self._word == 8 else "I"
        return struct.unpack(f"<{count}{code}", data[: count * self._word])

    def _read_auxv(self) -> list[AuxEntry]:
        size = _FIRST_READ
        while size <= _MOST:
            words = self._words(size)
            entries = self._parse(words)
            if entries is not None:
                return entries
            if len(words) * self._word < size:  # the stack ended before the vector did
                break
            size *= 4
        raise TraceeMemoryError(0, f"no auxiliary vector at {self.sp:#x}")

    def _parse(self, words: tuple[int, ...]) -> list[AuxEntry] | None:
        """The vector's entries, or None if ``words`` ends before ``AT_NULL``."""
        if not words:
            return None
        index = 1 + words[0] + 1  # argc, argv[], its NULL
        while index < len(words) and words[index] != 0:  # envp[]
            index += 1
        index += 1
        entries: list[AuxEntry] = []
        while index + 1 < len(words):
            a_type, a_value = words[index], words[index + 1]
            if a_type == AT_NULL:
                return entries
            entries.append(AuxEntry(a_type, a_value, self.sp + index * self._word))
            index += 2
        return None

    def value(self, a_type: int) -> int | None:
        """The value of the first entry of type ``a_type``, or None."""
        return next((entry.value for entry in self.entries if entry.type == a_type), None)

    def retype(self, entry: AuxEntry, a_type: int) -> None:
        """Give ``entry`` another type (``AT_IGNORE`` hides it from every reader)."""
        self._memory.write(entry.address, struct.pack(self._format, a_type))
        index = self.entries.index(entry)
        self.entries[index] = entry._replace(type=a_type)
