"""System-call ABIs: which calling convention and number space a call came from.

One x86-64 process can enter the kernel through three number spaces: the 64-bit ``syscall``
instruction, ``int $0x80`` (the i386 table, also used by every 32-bit program), and x32 (the
64-bit table with bit 30 of the number set). The same number means different calls in each, so
every call sysemu sees carries its ABI, and every rule is compiled per ABI. An aarch64 process
has one number space, the asm-generic table (``svc #0``); a 32-bit ARM program (AArch32,
``AUDIT_ARCH_ARM``) is not one of sysemu's ABIs: its filters refuse such calls.
"""

from __future__ import annotations

import enum
import os

# From include/uapi/linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE, EM_386 | LE.
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7  # EM_AARCH64 | 64BIT | LE
AUDIT_ARCH_ARM = 0x40000028  # EM_ARM | LE: AArch32 programs on an arm64 kernel

# What the calls of an architecture that is none of sysemu's ABIs are, in a message.
FOREIGN_CALLS = {AUDIT_ARCH_ARM: "a 32-bit ARM (AArch32) system call"}

# arch/x86/include/uapi/asm/unistd.h: x32 calls are x86-64 calls with this bit in the number.
X32_SYSCALL_BIT = 0x40000000


class Abi(enum.Enum):
    """A system-call number space: the table a call's number is looked up in."""

    X86_64 = "x86_64"
    I386 = "i386"
    X32 = "x32"
    AARCH64 = "aarch64"

    @property
    def audit_arch(self) -> int:
        """The ``AUDIT_ARCH_*`` value the kernel reports for calls of this ABI."""
        return _AUDIT_ARCH[self]

    @property
    def machine(self) -> str:
        """The machine (``uname -m``) whose kernel has this ABI."""
        return "aarch64" if self is Abi.AARCH64 else "x86_64"

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
        return 4 if self in {Abi.I386, Abi.X32} else 8

    @classmethod
    def of(cls, audit_arch: int, nr: int) -> Abi:
        """The ABI of a call, from the ``arch`` and raw ``nr`` the kernel reports.

        Raises ValueError for an architecture this build does not know.
        """
        if audit_arch == AUDIT_ARCH_X86_64:
            return cls.X32 if nr & X32_SYSCALL_BIT else cls.X86_64
        if audit_arch == AUDIT_ARCH_I386:
            return cls.I386
        if audit_arch == AUDIT_ARCH_AARCH64:
            return cls.AARCH64
        raise ValueError(f"unknown audit arch {audit_arch:#x}")

    def __str__(self) -> str:
        return self.value


def machine_abis(machine: str | None = None) -> tuple[Abi, ...]:
    """The ABIs a program can use on ``machine`` (default: this one's ``uname -m``), native
    first; empty for a machine sysemu does not know. Names in rules, sets and listings are
    looked up in these ABIs only: ``open`` is an x86 call that aarch64 lacks."""
    machine = os.uname().machine if machine is None else machine
    return tuple(abi for abi in Abi if abi.machine == machine)


_AUDIT_ARCH = {
    Abi.X86_64: AUDIT_ARCH_X86_64,
    Abi.X32: AUDIT_ARCH_X86_64,
    Abi.I386: AUDIT_ARCH_I386,
    Abi.AARCH64: AUDIT_ARCH_AARCH64,
}
