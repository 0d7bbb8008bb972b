"""x86-64 registers: ``struct user_regs_struct`` as a 64-bit tracer sees every tracee.

A 64-bit tracer sees the same 64-bit register layout for 32-bit tracees and for ``int $0x80``
calls; only which registers carry the arguments differs by ABI.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Sequence

from sysemu.abi.abi import Abi
from sysemu.kernel import ptrace

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
_ORIG_RAX = _OFFSET["orig_rax"]
_RAX = _OFFSET["rax"]
# The C accelerator's copy of these facts is kernel/arch/x86_64.h (tests/test_structure.py
# checks that the two agree).
_WORD = struct.Struct("<q")
_UWORD = struct.Struct("<Q")

# The System V x86-64 ABI lets a function use 128 bytes below %rsp without moving it (the red
# zone), and a libc syscall wrapper may do so across the ``syscall`` instruction.
RED_ZONE = 128


class X86_64:  # noqa: N801 (the architecture's name)
    """The x86-64 architecture (with its i386 and x32 compat ABIs)."""

    name = "x86_64"
    abis: tuple[Abi, ...] = (Abi.X86_64, Abi.I386, Abi.X32)

    def __init__(self) -> None:
        self._regs = ctypes.create_string_buffer(USER_REGS_SIZE)

    def skip_with_return(self, tid: int, value: int) -> bool:
        """Set orig_rax to -1 (the kernel then skips the call without touching rax, see
        do_syscall_64) and rax to the value the call returns."""
        return ptrace.poke_user(tid, _ORIG_RAX, -1) and ptrace.poke_user(tid, _RAX, value)

    def skip_and_continue(self, tid: int, value: int, request: int = ptrace.PTRACE_CONT) -> bool:
        """:meth:`skip_with_return`, then resume with ``request``: the whole of an emulated
        call."""
        return ptrace.poke_user_twice_then(request, tid, _ORIG_RAX, -1, _RAX, value)

    def set_return(self, tid: int, value: int) -> bool:
        """Set rax at a syscall-exit stop."""
        return ptrace.poke_user(tid, _RAX, value)

    def rewrite(self, tid: int, abi: Abi, nr: int, args: Sequence[int]) -> bool:
        """Rewrite orig_rax and the argument registers with one GETREGS/SETREGS pair."""
        regs = self._regs
        if not ptrace.get_regs(tid, regs):
            return False
        _UWORD.pack_into(regs, _OFFSET["orig_rax"], (nr + abi.nr_bias) & 0xFFFF_FFFF_FFFF_FFFF)
        for register, value in zip(ARG_REGISTERS[abi], args, strict=False):
            _UWORD.pack_into(regs, _OFFSET[register], value & 0xFFFF_FFFF_FFFF_FFFF)
        return ptrace.set_regs(tid, regs)

    def reexecute(self, tid: int) -> bool:
        """Make a call that ``PTRACE_SYSEMU`` skipped run after all: back over the two-byte
        ``syscall`` (or ``int $0x80``) instruction, with the number back in rax, as the kernel
        itself does to restart a call."""
        regs = self._regs
        if not ptrace.get_regs(tid, regs):
            return False
        rip = _UWORD.unpack_from(regs, _OFFSET["rip"])[0]
        _UWORD.pack_into(regs, _OFFSET["rip"], rip - 2)
        _UWORD.pack_into(regs, _OFFSET["rax"], _UWORD.unpack_from(regs, _ORIG_RAX)[0])
        return ptrace.set_regs(tid, regs)

    def user_stack_limit(self, sp: int) -> int:
        """Below the red zone of the interrupted frame."""
        return sp - RED_ZONE

    def read_register(self, tid: int, register: str) -> int | None:
        """One register of a stopped tracee by name (slow path: diagnostics and tests)."""
        if not ptrace.get_regs(tid, self._regs):
            return None
        return int(_WORD.unpack_from(self._regs, _OFFSET[register])[0])
