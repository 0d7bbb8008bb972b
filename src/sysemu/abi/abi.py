"""System-call ABIs: which calling convention and number space a call came from.

One x86-64 process can enter the kernel through three number spaces: the 64-bit ``syscall``
instruction, ``int $0x80`` (the i386 table, also used by every 32-bit program), and x32 (the
64-bit table with bit 30 of the number set). The same number means different calls in each, so
every call sysemu sees carries its ABI, and every rule is compiled per ABI.
"""

from __future__ import annotations

import enum

# From include/uapi/linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE, EM_386 | LE.
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7

# arch/x86/include/uapi/asm/unistd.h: x32 calls are x86-64 calls with this bit in the number.
X32_SYSCALL_BIT = 0x40000000


class Abi(enum.Enum):
    """A system-call number space: the table a call's number is looked up in."""

    X86_64 = "x86_64"
    I386 = "i386"
    X32 = "x32"

    @property
    def audit_arch(self) -> int:
        """The ``AUDIT_ARCH_*`` value the kernel reports for calls of this ABI."""
        return AUDIT_ARCH_I386 if self is Abi.I386 else AUDIT_ARCH_X86_64

    @property
    def nr_bias(self) -> int:
        """What the kernel adds to a table number to form the number the filter sees."""
        return X32_SYSCALL_BIT if self is Abi.X32 else 0

    @property
    def word_bits(self) -> int:
        """Width of one argument register as the kernel reads it for this ABI."""
        return 32 if self is Abi.I386 else 64

    @property
    def pointer_size(self) -> int:
        """Bytes in a pointer of this ABI's programs (x32 has 4-byte pointers in 64-bit
        registers), as in an ``argv`` array or a ``struct iovec``."""
        return 8 if self is Abi.X86_64 else 4

    @classmethod
    def of(cls, audit_arch: int, nr: int) -> Abi:
        """The ABI of a call, from the ``arch`` and raw ``nr`` the kernel reports.

        Raises ValueError for an architecture this build does not know.
        """
        if audit_arch == AUDIT_ARCH_X86_64:
            return cls.X32 if nr & X32_SYSCALL_BIT else cls.X86_64
        if audit_arch == AUDIT_ARCH_I386:
            return cls.I386
        raise ValueError(f"unknown audit arch {audit_arch:#x}")

    def __str__(self) -> str:
        return self.value
