"""aarch64 (arm64): its one ABI, its registers (``struct user_pt_regs``, read and written as
the ``NT_PRSTATUS`` register set), and the numbers of the calls sysemu makes or guards itself.

arm64 has no ``PTRACE_GETREGS`` or ``PTRACE_POKEUSER``: registers go through
``PTRACE_GETREGSET``/``PTRACE_SETREGSET``, and the call's number is not a register of that set.
The kernel keeps it in ``pt_regs.syscallno``, which the ``NT_ARM_SYSTEM_CALL`` set (one
``int``) reads and writes; -1 there skips the call (``arch/arm64/kernel/syscall.c``,
``el0_svc_common``). The number the program chose stays in ``x8``.

``x0`` holds the first argument and, once the call returns, its result. The kernel saves the
argument in ``orig_x0`` at entry, which no register set shows, so the engine takes arguments
from ``PTRACE_GET_SYSCALL_INFO`` at the entry or seccomp stop and keeps them for decoders and
hooks; only :meth:`Aarch64.rewrite` writes ``x0`` as an argument, and only at entry. A skipped
call returns whatever ``x0`` holds (the kernel writes ``-ENOSYS`` there before the entry stop
only for a program's own ``syscall(-1)``), so a skip always writes ``x0``.

Without it, registers are written without reading them first: a write of ``NT_PRSTATUS``
shorter than the set changes only its first registers (the kernel's ``gpr_set`` copies the
buffer over the thread's current ones), so ``x0`` is an 8-byte write and ``x0..x5`` a 48-byte
one. A skip is then two requests (the number, ``x0``), a result one, a rewrite two (``x0..x5``,
the number). Where the kernel has ``PTRACE_SET_SYSCALL_INFO`` (6.16), a rewrite is that one
request (it also sets ``orig_x0``, which a restart reads, and a register write does not), and
a result at an exit stop one either way. A skip stays on register sets: the request with a
number of -1 sets no argument and writes ``-ENOSYS`` into ``x0`` (arm64's
``syscall_set_nr``), so ``x0`` needs its own write after it anyway.

32-bit ARM programs (AArch32, ``AUDIT_ARCH_ARM``) run on arm64 kernels built with
``CONFIG_COMPAT``, with their own numbers. They are not one of :attr:`Aarch64.abis`: every
filter sysemu installs kills a call of an architecture it has no rules for, and the backends
without a filter kill the process at such a call (``engine.common.killed_if_foreign``), so no
rule can be bypassed by running the 32-bit build of a program. Those backends say so on stderr,
once per process; a filter's kill (``SIGSYS``) is the kernel's, and sysemu is not told of it.

The C accelerator's copy of these facts is ``kernel/arch/aarch64.h``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from sysemu._typing import Protocol
from sysemu.abi.abi import Abi
from sysemu.kernel.arch.registers import RegisterArch, RegisterLayout, call_access

# Notes (register set types) of include/uapi/linux/elf.h.
NT_PRSTATUS = 1
NT_ARM_SYSTEM_CALL = 0x404

USER_PT_REGS_SIZE = 272  # x0..x30, sp, pc, pstate (arch/arm64/include/uapi/asm/ptrace.h)
_OFFSET = {f"x{n}": 8 * n for n in range(31)} | {"sp": 248, "pc": 256, "pstate": 264}
# AAPCS64 has no red zone: code below the stack pointer is not promised to survive. A margin
# costs nothing, and a libc's hand-written syscall stub is the one place that could differ.
RED_ZONE = 128

LAYOUT = RegisterLayout(
    size=USER_PT_REGS_SIZE,
    offsets=_OFFSET,
    # x8 is where the program puts the number; the kernel reads it once, into syscallno, and
    # a tracer changes the call through NT_ARM_SYSTEM_CALL (see the module docstring).
    number="x8",
    result="x0",
    program_counter="pc",
    syscall_insn_size=4,  # svc #0
    # At a PTRACE_SYSEMU stop x0..x5 are what the call is to be made with (the kernel skipped
    # it without writing a result); svc #0 reads its number from x8 again, which
    # Aarch64.reexecute sets from syscallno (a rewrite changed that, not x8).
    reentry=(),
    arguments={Abi.AARCH64: ("x0", "x1", "x2", "x3", "x4", "x5")},
    red_zone=RED_ZONE,
)

# Table numbers (asm-generic) of the calls that sysemu makes itself, names in its own
# filters, or waits for; tests/test_arch_seam.py checks them against the generated table.
SYSCALL_NUMBERS: dict[str, dict[Abi, int]] = {
    "execve": {Abi.AARCH64: 221},
    "sendmsg": {Abi.AARCH64: 211},
    "prctl": {Abi.AARCH64: 167},
    "seccomp": {Abi.AARCH64: 277},
    "ptrace": {Abi.AARCH64: 117},
    "process_vm_readv": {Abi.AARCH64: 270},
    "process_vm_writev": {Abi.AARCH64: 271},
    "kill": {Abi.AARCH64: 129},
    "tkill": {Abi.AARCH64: 130},
    "tgkill": {Abi.AARCH64: 131},
    "rt_sigqueueinfo": {Abi.AARCH64: 138},
    "rt_tgsigqueueinfo": {Abi.AARCH64: 240},
    "pidfd_open": {Abi.AARCH64: 434},
    "personality": {Abi.AARCH64: 92},
}

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_UWORD = struct.Struct("<Q")
_WORD = struct.Struct("<q")
_INT = struct.Struct("<i")


class RegsetAccess(Protocol):
    """How a stopped thread's register sets are read and written (the :mod:`ptrace` module's
    functions of these names; each returns False when the thread is gone)."""

    def get_regset(self, tid: int, note: int, buffer: bytearray, /) -> bool:
        """Copy register set ``note`` into ``buffer`` (as many bytes as it holds)."""
        ...

    def set_regset(self, tid: int, note: int, buffer: bytearray, /) -> bool:
        """Load register set ``note`` from ``buffer``."""
        ...

    def resume(self, request: int, tid: int, sig: int, /) -> bool:
        """Resume the thread with ``request``."""
        ...


class Aarch64(RegisterArch):
    """The aarch64 architecture: one ABI, registers through register sets."""

    name = "aarch64"
    abis: tuple[Abi, ...] = (Abi.AARCH64,)
    native_abi = Abi.AARCH64
    layout = LAYOUT
    numbers: Mapping[str, Mapping[Abi, int]] = SYSCALL_NUMBERS
    map_numbers: Mapping[Abi, int] = {Abi.AARCH64: 222}  # mmap (engine/scratch.py)

    def __init__(self, access: RegsetAccess) -> None:
        self._sets = access
        self._calls = call_access(access)
        self._regs = bytearray(USER_PT_REGS_SIZE)
        self._number_set = bytearray(_INT.size)
        # The first registers of NT_PRSTATUS alone: x0, and x0..x5 (see _set_first).
        self._x0 = bytearray(_UWORD.size)
        self._x0_to_x5 = bytearray(6 * _UWORD.size)

    def _set_number(self, tid: int, nr: int) -> bool:
        _INT.pack_into(self._number_set, 0, nr)
        return self._sets.set_regset(tid, NT_ARM_SYSTEM_CALL, self._number_set)

    def _set_first(self, tid: int, buffer: bytearray) -> bool:
        """Write the first ``len(buffer) / 8`` registers (x0 onwards) and leave the others: the
        kernel's NT_PRSTATUS write (gpr_set) copies a shorter buffer over the thread's current
        registers, so no read is needed first (one request where a read and a write were two)."""
        return self._sets.set_regset(tid, NT_PRSTATUS, buffer)

    def _set_x0(self, tid: int, value: int) -> bool:
        _UWORD.pack_into(self._x0, 0, value & _MASK64)
        return self._set_first(tid, self._x0)

    def skip_with_return(self, tid: int, value: int) -> bool:
        """syscallno = -1 (the kernel skips the call) and x0 = the value it returns."""
        return self._set_number(tid, -1) and self._set_x0(tid, value)

    def skip_and_continue(self, tid: int, value: int, request: int) -> bool:
        """:meth:`skip_with_return`, then resume with ``request``."""
        return self.skip_with_return(tid, value) and self._sets.resume(request, tid, 0)

    def set_return(self, tid: int, value: int) -> bool:
        """x0 at a syscall-exit stop: ``PTRACE_SET_SYSCALL_INFO`` where the kernel has it."""
        if self._calls is not None:
            done = self._calls.set_syscall_return(tid, value)
            if done is not None:
                return done
        return self._set_x0(tid, value)

    def rewrite(self, tid: int, abi: Abi, nr: int, args: Sequence[int], *, seccomp: bool) -> bool:
        """``PTRACE_SET_SYSCALL_INFO`` where the kernel has it; else the arguments x0..x5
        through the first registers of NT_PRSTATUS, the number through NT_ARM_SYSTEM_CALL."""
        if self._calls is not None and len(args) == 6:
            done = self._calls.set_syscall_call(tid, nr, args, seccomp=seccomp)
            if done is not None:
                return done
        arguments = self._x0_to_x5
        count = min(len(args), 6)
        for index in range(count):
            _UWORD.pack_into(arguments, 8 * index, args[index] & _MASK64)
        if count < 6 and not self._sets.get_regset(tid, NT_PRSTATUS, self._regs):
            return False
        if count < 6:  # the registers past the given arguments stay as they are
            arguments[8 * count :] = self._regs[8 * count : 48]
        if not self._set_first(tid, arguments):
            return False
        return self._set_number(tid, nr)

    def reexecute(self, tid: int) -> bool:
        """Back over ``svc #0``, with x8 = syscallno: the call as it stands (rewritten or
        not) is made when the thread resumes (see LAYOUT)."""
        regs, number = self._regs, self._number_set
        if not self._sets.get_regset(tid, NT_ARM_SYSTEM_CALL, number):
            return False
        if not self._sets.get_regset(tid, NT_PRSTATUS, regs):
            return False
        pc_offset = _OFFSET["pc"]
        pc = _UWORD.unpack_from(regs, pc_offset)[0]
        _UWORD.pack_into(regs, pc_offset, pc - LAYOUT.syscall_insn_size)
        _UWORD.pack_into(regs, _OFFSET["x8"], _INT.unpack_from(number)[0] & _MASK64)
        return self._sets.set_regset(tid, NT_PRSTATUS, regs)

    def save_call(self, tid: int) -> bytes | None:
        """NT_PRSTATUS (x0 is still the first argument at an entry stop), then syscallno."""
        regs, number = bytearray(USER_PT_REGS_SIZE), bytearray(_INT.size)
        if not self._sets.get_regset(tid, NT_PRSTATUS, regs):
            return None
        if not self._sets.get_regset(tid, NT_ARM_SYSTEM_CALL, number):
            return None
        return bytes(regs + number)

    def reenter(self, tid: int, saved: bytes) -> bool:
        """The saved registers, back over ``svc #0``, with x8 = the saved syscallno."""
        regs = self._regs
        regs[:] = saved[:USER_PT_REGS_SIZE]
        pc_offset = _OFFSET["pc"]
        pc = _UWORD.unpack_from(regs, pc_offset)[0]
        _UWORD.pack_into(regs, pc_offset, pc - LAYOUT.syscall_insn_size)
        number = _INT.unpack_from(saved, USER_PT_REGS_SIZE)[0]
        _UWORD.pack_into(regs, _OFFSET["x8"], number & _MASK64)
        return self._sets.set_regset(tid, NT_PRSTATUS, regs)

    def read_register(self, tid: int, register: str) -> int | None:
        """One register of a stopped tracee by name (slow path: diagnostics and tests)."""
        if not self._sets.get_regset(tid, NT_PRSTATUS, self._regs):
            return None
        return int(_WORD.unpack_from(self._regs, _OFFSET[register])[0])
