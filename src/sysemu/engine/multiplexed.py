"""Socket calls a 32-bit C library makes through ``socketcall``, as the engine carries them out.

The routes find the operation and read its arguments (``Route.demultiplex``); this module
holds the call the handlers then see and the one decision that differs from a direct call's:
a rewrite, which goes back into the program's array. It must not decide anything itself.
"""

from __future__ import annotations

from sysemu.abi import socketcall
from sysemu.api.call import Call, Task
from sysemu.api.decisions import Rewrite
from sysemu.api.routes import Route
from sysemu.kernel.arch import Arch


class MultiplexedCall(Call):
    """A socket call that a 32-bit C library made through ``socketcall``: the handlers see the
    direct call (``Route.demultiplex``), whose arguments are words of an array in the
    caller's memory. ``registers``: the ``socketcall``'s own; ``words``: the array's length."""

    __slots__ = ("registers", "words")

    registers: tuple[int, ...]
    words: int


def demultiplexed(route: Route, call: Call, task: Task) -> tuple[Route, MultiplexedCall] | None:
    """For a ``socketcall`` stopped on ``route`` whose operation another route wants: that
    route, and the call handlers see (see ``Route.demultiplex``); None for any other."""
    found = route.demultiplex(call)
    if found is None:
        return None
    target, direct, words = found
    made = MultiplexedCall(target.syscall, direct, task, call.ip, call.sp)
    made.registers, made.words = call.raw, words
    return target, made


def rewrite_multiplexed(
    arch: Arch, call: Call, decision: Rewrite, nr: int, args: list[int], *, seccomp: bool
) -> None:
    """Rewrite a socket call made through ``socketcall``: its new arguments go into the
    caller's own array, where the kernel reads them, and the registers stay as they were
    (the program keeps live values in the argument registers the operation does not use,
    which the direct call's zero padding would overwrite). Another call instead
    (``change_to``) gets the registers the program had where the decision gives no value."""
    assert isinstance(call, MultiplexedCall)  # (the only kind of call the engine makes so)
    if nr == call.nr:
        words = b"".join(
            (value & 0xFFFF_FFFF).to_bytes(socketcall.WORD_BYTES, "little")
            for value in args[: call.words]
        )
        call.memory.write(call.registers[1], words)
        return
    registers = [
        kept if given is None else value
        for kept, given, value in zip(call.registers, decision.args, args, strict=True)
    ]
    arch.rewrite(call.tid, call.abi, nr, registers, seccomp=seccomp)
