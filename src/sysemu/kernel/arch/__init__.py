"""Per-architecture register access, behind one small interface.

An architecture is a module that provides an :class:`Arch`: which ABIs its tracees can use, and
the three register edits the engine needs (skip a call with a return value, set a return value
at syscall exit, rewrite a call's number and arguments). Adding aarch64 means adding one module
and one line in :func:`host_arch`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sysemu._typing import Protocol
from sysemu.abi.abi import Abi


class Arch(Protocol):
    """What the engine needs from an architecture."""

    name: str
    abis: tuple[Abi, ...]

    def skip_with_return(self, tid: int, value: int) -> bool:
        """At a seccomp or syscall-entry stop: the kernel skips the call, which returns
        ``value``. False if the tracee is gone."""
        ...

    def skip_and_continue(self, tid: int, value: int, request: int = 7) -> bool:
        """:meth:`skip_with_return` and resume with ``request`` (``PTRACE_CONT`` by default:
        no exit stop), in as few requests as the architecture allows. False if gone."""
        ...

    def set_return(self, tid: int, value: int) -> bool:
        """At a syscall-exit stop: replace the call's return value. False if gone."""
        ...

    def rewrite(self, tid: int, abi: Abi, nr: int, args: Sequence[int]) -> bool:
        """At a seccomp or syscall-entry stop: change the call's number and six arguments.
        False if the tracee is gone."""
        ...

    def reexecute(self, tid: int) -> bool:
        """At a ``PTRACE_SYSEMU`` stop: arrange for the skipped call to be made again when the
        thread resumes (its instruction pointer back on the syscall instruction). False if
        the tracee is gone."""
        ...

    def user_stack_limit(self, sp: int) -> int:
        """The highest address below ``sp`` that the interrupted code cannot be using.

        Scratch data written for a rewritten call goes below this address.
        """
        ...


def host_arch() -> Arch:
    """The :class:`Arch` for the machine sysemu runs on.

    Raises OSError for an architecture sysemu does not support yet.
    """
    machine = os.uname().machine
    if machine == "x86_64":
        from sysemu.kernel.arch.x86_64 import X86_64  # noqa: PLC0415 (only the host's arch)

        return X86_64()
    raise OSError(f"sysemu does not support the {machine} architecture yet")
