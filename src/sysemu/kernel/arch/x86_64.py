"""x86-64: its ABIs, its registers (``struct user_regs_struct`` as a 64-bit tracer sees every
tracee), and the numbers of the calls sysemu makes or guards itself.

A 64-bit tracer sees the same 64-bit register layout for 32-bit tracees and for ``int $0x80``
calls; only which registers carry the arguments differs by ABI. Every x86 fact sysemu's Python
needs outside :mod:`sysemu.abi` is here. The C accelerator's copy of these facts is
``kernel/arch/x86_64.h`` (``tests/test_structure.py`` checks that the two agree).
"""

from __future__ import annotations

from sysemu.abi.abi import Abi
from sysemu.kernel.arch.registers import RegisterArch, RegisterLayout

USER_REGS_SIZE = 216
# Offsets in struct user_regs_struct (arch/x86/include/asm/user_64.h).
_OFFSET = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56,
    "r9": 64, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112,
    "orig_rax": 120, "rip": 128, "cs": 136, "eflags": 144, "rsp": 152, "ss": 160,
}  # fmt: skip
ARG_REGISTERS = {
    Abi.X86_64: ("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    Abi.X32: ("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    Abi.I386: ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp"),
}
# The System V x86-64 ABI lets a function use 128 bytes below %rsp without moving it (the red
# zone), and a libc syscall wrapper may do so across the ``syscall`` instruction.
RED_ZONE = 128

LAYOUT = RegisterLayout(
    size=USER_REGS_SIZE,
    offsets=_OFFSET,
    # The kernel reads the number from orig_rax after a stop (do_syscall_64): -1 skips the
    # call and leaves rax, the return value, as the tracer set it.
    number="orig_rax",
    result="rax",
    program_counter="rip",
    # ``syscall`` and ``int $0x80`` are both two bytes, and both take the number from rax.
    syscall_insn_size=2,
    reentry=(("rax", "orig_rax"),),
    arguments=ARG_REGISTERS,
    red_zone=RED_ZONE,
)

# Table numbers (x32's without the x32 bit) of the calls that sysemu makes itself (libc
# wrappers glibc lacks), names in its own filters (guard rules, the listener hand-over), or
# waits for (the exec of the program): written out rather than looked up, because loading the
# i386 and x32 tables would cost every run with a filter about 7 ms. tests/test_engine.py
# checks them against the generated tables.
SYSCALL_NUMBERS: dict[str, dict[Abi, int]] = {
    "execve": {Abi.X86_64: 59, Abi.X32: 520, Abi.I386: 11},
    "sendmsg": {Abi.X86_64: 46, Abi.X32: 518, Abi.I386: 370},
    "prctl": {Abi.X86_64: 157, Abi.X32: 157, Abi.I386: 172},
    "seccomp": {Abi.X86_64: 317, Abi.X32: 317, Abi.I386: 354},
    "ptrace": {Abi.X86_64: 101, Abi.X32: 521, Abi.I386: 26},
    "process_vm_readv": {Abi.X86_64: 310, Abi.X32: 539, Abi.I386: 347},
    "process_vm_writev": {Abi.X86_64: 311, Abi.X32: 540, Abi.I386: 348},
    "kill": {Abi.X86_64: 62, Abi.X32: 62, Abi.I386: 37},
    "tkill": {Abi.X86_64: 200, Abi.X32: 200, Abi.I386: 238},
    "tgkill": {Abi.X86_64: 234, Abi.X32: 234, Abi.I386: 270},
    "rt_sigqueueinfo": {Abi.X86_64: 129, Abi.X32: 524, Abi.I386: 178},
    "rt_tgsigqueueinfo": {Abi.X86_64: 297, Abi.X32: 536, Abi.I386: 335},
    "pidfd_open": {Abi.X86_64: 434, Abi.X32: 434, Abi.I386: 434},
    "personality": {Abi.X86_64: 135, Abi.X32: 135, Abi.I386: 136},
}

# The anonymous mapping of engine/scratch.py: i386's own ``mmap`` (90) takes a pointer to its
# arguments, so its ``mmap2`` (whose offset is in pages; sysemu's is 0) is the one.
MAP_NUMBERS: dict[Abi, int] = {Abi.X86_64: 9, Abi.X32: 9, Abi.I386: 192}


class X86_64(RegisterArch):  # noqa: N801 (the architecture's name)
    """The x86-64 architecture (with its i386 and x32 compat ABIs)."""

    name = "x86_64"
    abis: tuple[Abi, ...] = (Abi.X86_64, Abi.I386, Abi.X32)
    native_abi = Abi.X86_64
    layout = LAYOUT
    numbers = SYSCALL_NUMBERS
    map_numbers = MAP_NUMBERS
