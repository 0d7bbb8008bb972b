"""Register edits written once, for any architecture described by a :class:`RegisterLayout`.

An architecture module gives the layout of its ``struct user_regs_struct`` (which register
holds the call's number, which its return value, which its arguments per ABI, where the
program counter and stack pointer are) and :class:`RegisterArch` does the engine's three edits
with it. How the registers are read and written is passed in: the :mod:`sysemu.kernel.ptrace`
module for a real tracee, anything with the same four functions for a test's fake one. This
module must not name any architecture's registers or numbers.

Where the access also has :class:`CallAccess`'s functions (the ptrace module does) and the
kernel has ``PTRACE_SET_SYSCALL_INFO`` (6.16), a rewrite is that one request instead of a
register read and write; the other edits stay on registers, where the request would not save
one (see each method).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from sysemu._typing import NamedTuple, Protocol
from sysemu.abi.abi import Abi

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_WORD = struct.Struct("<q")
_UWORD = struct.Struct("<Q")


class RegisterAccess(Protocol):
    """How a stopped thread's registers are read and written (the :mod:`ptrace` module's
    functions of these names; each returns False when the thread is gone)."""

    def poke_user(self, tid: int, offset: int, value: int, /) -> bool:
        """Write one register (one word of ``struct user``) at byte ``offset``."""
        ...

    def poke_user_twice_then(  # noqa: PLR0917 (the C version's signature)
        self, request: int, tid: int, offset_a: int, value_a: int, offset_b: int, value_b: int, /
    ) -> bool:
        """Write two registers, then resume the thread with ``request``."""
        ...

    def get_regs(self, tid: int, buffer: bytearray, /) -> bool:
        """Copy every general register into ``buffer``."""
        ...

    def set_regs(self, tid: int, buffer: bytearray, /) -> bool:
        """Load every general register from ``buffer``."""
        ...


class CallAccess(Protocol):
    """How a stopped thread's call is changed without registers (the :mod:`ptrace` module's
    ``PTRACE_SET_SYSCALL_INFO`` functions). Each returns True when done, False when the
    thread is gone, None when the kernel lacks the request: registers serve then."""

    def set_syscall_call(
        self, tid: int, nr: int, args: Sequence[int], /, *, seccomp: bool
    ) -> bool | None:
        """At a seccomp (``seccomp``) or syscall-entry stop: the raw number and six arguments."""
        ...

    def set_syscall_return(self, tid: int, value: int, /) -> bool | None:
        """At a syscall-exit stop: the return value."""
        ...


def call_access(access: object) -> CallAccess | None:
    """``access`` where it changes calls without registers too; None for one that only has
    registers (a test's fake tracee), which is then treated as a kernel without the request."""
    if hasattr(access, "set_syscall_call") and hasattr(access, "set_syscall_return"):
        return access
    return None


class RegisterLayout(NamedTuple):
    """Where a system call's registers are in an architecture's ``struct user_regs_struct``
    (little-endian 64-bit words, as on every architecture sysemu knows)."""

    size: int
    """Bytes of the whole register set that ``PTRACE_GETREGS`` copies."""
    offsets: Mapping[str, int]
    """Byte offset of each register by its name."""
    number: str
    """The register the kernel takes the call's number from after the tracer's stop; -1 in
    it makes the kernel skip the call."""
    result: str
    """The register the call's return value is left in."""
    program_counter: str
    syscall_insn_size: int
    """Bytes of the instruction that entered the kernel: the program counter is that far past
    it at the stop, and going back by as much makes the thread enter again."""
    reentry: tuple[tuple[str, str], ...]
    """(destination, source) register pairs copied before the thread enters again: what the
    instruction reads that the skipped call's return overwrote."""
    arguments: Mapping[Abi, tuple[str, ...]]
    """The six argument registers of each ABI, in order."""
    red_zone: int
    """Bytes below the stack pointer that the interrupted code may use without moving it."""


class RegisterArch:
    """The engine's register edits for one architecture, from its layout.

    Subclasses (one per architecture module) set the class attributes; an instance holds one
    register buffer, so one instance serves one thread of sysemu at a time.
    """

    name: str = ""
    abis: tuple[Abi, ...] = ()
    native_abi: Abi
    layout: RegisterLayout
    numbers: Mapping[str, Mapping[Abi, int]] = {}
    map_numbers: Mapping[Abi, int] = {}

    def __init__(self, access: RegisterAccess) -> None:
        layout = self.layout
        self._access = access
        self._calls = call_access(access)
        self._regs = bytearray(layout.size)
        self._number = layout.offsets[layout.number]
        self._result = layout.offsets[layout.result]
        self._pc = layout.offsets[layout.program_counter]
        self._reentry = tuple(
            (layout.offsets[destination], layout.offsets[source])
            for destination, source in layout.reentry
        )
        self._arguments = {
            abi: tuple(layout.offsets[register] for register in registers)
            for abi, registers in layout.arguments.items()
        }

    @classmethod
    def abi_of(cls, audit_arch: int, nr: int) -> Abi:
        """The ABI of a call from the ``arch`` and raw ``nr`` the kernel reports: of this
        architecture's ABIs with that audit value, the one whose number bias ``nr`` carries
        (x32's bit), else the one without a bias. Raises ValueError for any other call."""
        plain = None
        for abi in cls.abis:
            if abi.audit_arch != audit_arch:
                continue
            if not abi.nr_bias:
                plain = abi
            elif nr & abi.nr_bias == abi.nr_bias:
                return abi
        if plain is None:
            raise ValueError(f"no ABI of {cls.name} has audit arch {audit_arch:#x}")
        return plain

    def skip_with_return(self, tid: int, value: int) -> bool:
        """Set the number register to -1 (the kernel then skips the call without touching the
        result register) and the result register to the value the call returns.

        Two register writes: ``PTRACE_SET_SYSCALL_INFO`` with a number of -1 sets the number
        only (no argument, so no result register that doubles as one), and the result would
        still need a write of its own.
        """
        access = self._access
        return access.poke_user(tid, self._number, -1) and access.poke_user(
            tid, self._result, value
        )

    def skip_and_continue(self, tid: int, value: int, request: int) -> bool:
        """:meth:`skip_with_return`, then resume with ``request`` (``PTRACE_CONT``, or the
        request the run resumes every thread with): the whole of an emulated call."""
        return self._access.poke_user_twice_then(
            request, tid, self._number, -1, self._result, value
        )

    def set_return(self, tid: int, value: int) -> bool:
        """Set the result register at a syscall-exit stop (one write, as the request's exit
        form would be)."""
        return self._access.poke_user(tid, self._result, value)

    def rewrite(self, tid: int, abi: Abi, nr: int, args: Sequence[int], *, seccomp: bool) -> bool:
        """Rewrite the number and six arguments at a seccomp (``seccomp``) or syscall-entry
        stop: one ``PTRACE_SET_SYSCALL_INFO`` where the kernel has it (it puts the arguments
        in the registers of the ABI the call was made with), else a GETREGS/SETREGS pair."""
        if self._calls is not None and len(args) == 6:
            done = self._calls.set_syscall_call(tid, nr + abi.nr_bias, args, seccomp=seccomp)
            if done is not None:
                return done
        regs = self._regs
        if not self._access.get_regs(tid, regs):
            return False
        _UWORD.pack_into(regs, self._number, (nr + abi.nr_bias) & _MASK64)
        for offset, value in zip(self._arguments[abi], args, strict=False):
            _UWORD.pack_into(regs, offset, value & _MASK64)
        return self._access.set_regs(tid, regs)

    def reexecute(self, tid: int) -> bool:
        """Make a call that ``PTRACE_SYSEMU`` skipped run after all: back over the instruction
        that entered the kernel, with the registers it reads restored (see
        :attr:`RegisterLayout.reentry`), as the kernel itself does to restart a call."""
        regs = self._regs
        if not self._access.get_regs(tid, regs):
            return False
        pc = _UWORD.unpack_from(regs, self._pc)[0]
        _UWORD.pack_into(regs, self._pc, pc - self.layout.syscall_insn_size)
        for destination, source in self._reentry:
            _UWORD.pack_into(regs, destination, _UWORD.unpack_from(regs, source)[0])
        return self._access.set_regs(tid, regs)

    def save_call(self, tid: int) -> bytes | None:
        """The registers of a thread stopped at a call's entry, for :meth:`reenter`; None if
        the thread is gone."""
        regs = bytearray(self.layout.size)
        return bytes(regs) if self._access.get_regs(tid, regs) else None

    def reenter(self, tid: int, saved: bytes) -> bool:
        """At the exit stop of another call made in its place: the registers saved at the
        call's entry stop, back over the instruction that entered the kernel, so that the
        thread enters the same call again when it resumes (as a restart does)."""
        regs = self._regs
        regs[:] = saved
        pc = _UWORD.unpack_from(regs, self._pc)[0]
        _UWORD.pack_into(regs, self._pc, pc - self.layout.syscall_insn_size)
        for destination, source in self._reentry:
            _UWORD.pack_into(regs, destination, _UWORD.unpack_from(regs, source)[0])
        return self._access.set_regs(tid, regs)

    def user_stack_limit(self, sp: int) -> int:
        """Below the red zone of the interrupted frame."""
        return sp - self.layout.red_zone

    def read_register(self, tid: int, register: str) -> int | None:
        """One register of a stopped tracee by name (slow path: diagnostics and tests)."""
        if not self._access.get_regs(tid, self._regs):
            return None
        return int(_WORD.unpack_from(self._regs, self.layout.offsets[register])[0])
