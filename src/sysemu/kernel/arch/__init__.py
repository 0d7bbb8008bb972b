"""Per-architecture facts and register access, behind one small interface.

An architecture is a module that provides an :class:`Arch`: which ABIs its tracees can use and
which of them is native, the numbers of the calls sysemu names itself, and the register edits
the engine needs (skip a call with a return value, set a return value at syscall exit, rewrite
a call's number and arguments, make a skipped call again). The edits are written once, in
:mod:`sysemu.kernel.arch.registers`, from the module's register layout. x86-64 and aarch64
have one module each, picked by :func:`host_arch_type`. No module outside this package and
:mod:`sysemu.abi` may name an architecture's registers, audit values or syscall numbers
(``tests/test_structure.py`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from sysemu._typing import Protocol
from sysemu.abi.abi import Abi
from sysemu.kernel.arch.registers import RegisterArch


class Arch(Protocol):
    """What the engine needs from an architecture."""

    name: str
    abis: tuple[Abi, ...]
    native_abi: Abi
    """The ABI of the programs sysemu itself runs as (and starts the traced program with)."""
    numbers: Mapping[str, Mapping[Abi, int]]
    """Table numbers, per ABI, of the calls sysemu makes, guards or waits for itself."""
    map_numbers: Mapping[Abi, int]
    """Per ABI, the number of the call that maps anonymous memory with an offset of 0
    (``mmap``, or ``mmap2`` where ``mmap`` takes its arguments in a structure): sysemu makes
    it in a traced thread for its scratch memory (engine/scratch.py)."""

    def abi_of(self, audit_arch: int, nr: int) -> Abi:
        """The ABI of a call, from the ``arch`` and raw ``nr`` the kernel reports; raises
        ValueError for an audit value none of :attr:`abis` has."""
        ...

    def skip_with_return(self, tid: int, value: int) -> bool:
        """At a seccomp or syscall-entry stop: the kernel skips the call, which returns
        ``value``. False if the tracee is gone."""
        ...

    def skip_and_continue(self, tid: int, value: int, request: int) -> bool:
        """:meth:`skip_with_return` and resume with ``request`` (``PTRACE_CONT``: no exit
        stop), in as few requests as the architecture allows. False if gone."""
        ...

    def set_return(self, tid: int, value: int) -> bool:
        """At a syscall-exit stop: replace the call's return value. False if gone."""
        ...

    def rewrite(self, tid: int, abi: Abi, nr: int, args: Sequence[int], *, seccomp: bool) -> bool:
        """At a seccomp stop (``seccomp``) or a syscall-entry stop (a ``PTRACE_SYSEMU`` stop is
        one): change the call's number and six arguments. False if the tracee is gone.

        Which stop it is matters to ``PTRACE_SET_SYSCALL_INFO``, which refuses a change
        described as another stop's."""
        ...

    def reexecute(self, tid: int) -> bool:
        """At a ``PTRACE_SYSEMU`` stop: arrange for the skipped call to be made again when the
        thread resumes (its instruction pointer back on the syscall instruction). False if
        the tracee is gone."""
        ...

    def save_call(self, tid: int) -> bytes | None:
        """At a seccomp, syscall-entry or ``PTRACE_SYSEMU`` stop: the thread's registers, for
        :meth:`reenter`. None if the thread is gone."""
        ...

    def reenter(self, tid: int, saved: bytes) -> bool:
        """At the exit stop of a call made in place of the one :meth:`save_call` saw: restore
        that call's registers with the program counter back on its syscall instruction, so
        that the thread enters it again when resumed. False if the thread is gone."""
        ...

    def user_stack_limit(self, sp: int) -> int:
        """The highest address below ``sp`` that the interrupted code cannot be using.

        Scratch data written for a rewritten call goes below this address.
        """
        ...


_host: type[RegisterArch] | None = None


def host_arch_type() -> type[RegisterArch]:
    """The class of the machine's architecture: its facts (class attributes) without a
    register buffer.

    Raises OSError for an architecture sysemu does not support yet.
    """
    global _host  # found once per process
    if _host is None:
        machine = os.uname().machine
        if machine == "x86_64":
            from sysemu.kernel.arch.x86_64 import X86_64  # noqa: PLC0415 (only the host's arch)

            _host = X86_64
        elif machine == "aarch64":
            from sysemu.kernel.arch.aarch64 import Aarch64  # noqa: PLC0415

            _host = Aarch64
        else:
            raise OSError(f"sysemu does not support the {machine} architecture yet")
    return _host


def native_abi() -> Abi:
    """The ABI of sysemu's own process: what a syscall number means when no ABI is named.

    Raises OSError for an architecture sysemu does not support yet.
    """
    return host_arch_type().native_abi


def native_number(name: str) -> int:
    """The native ABI's number of call ``name``, one of those the architecture lists in
    :attr:`Arch.numbers` (a KeyError for any other: look those up in the tables)."""
    arch = host_arch_type()
    return arch.numbers[name][arch.native_abi]
