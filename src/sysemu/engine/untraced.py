"""Children made with ``CLONE_UNTRACED`` are followed like any other.

Some facts about the kernel behind this module:

* ``CLONE_UNTRACED`` makes the kernel start the child untraced, whatever its parent's tracer
  asked for with ``PTRACE_O_TRACECLONE``, ``TRACEFORK`` or ``TRACEVFORK`` (``kernel_clone``
  reports no trace event for it). The child keeps the parent's seccomp filter, as every child
  does. With no tracer, each call that filter sends to ``SECCOMP_RET_TRACE`` fails with
  ``ENOSYS`` (strace's issue 303 is the same escape from ``--seccomp-bpf``). Without a filter (the
  ptrace backend) the child runs past every rule. strace's own test ``ioctl_nsfs`` clones
  with ``CLONE_NEWUSER | CLONE_UNTRACED``.
* So the engine clears the flag before the kernel runs the call. For ``clone`` the flags are a
  register, and a filter rule that tests the bit stops only the calls that set it. Programs
  that never pass the flag pay nothing. For ``clone3`` the flags are the first field of
  ``struct clone_args`` in the caller's memory, which a filter cannot read, so every
  ``clone3`` stops once (glibc 2.34 and later makes its threads with it). The flag is cleared
  in the caller's own struct, which the kernel copies when the call runs. A restarted call
  (``-ERESTARTNOINTR`` when a signal comes during a fork) reads the struct with the flag
  already cleared, and the struct shows it cleared to the program afterwards too.
* The ptrace-only backends (``ptrace``, ``sysemu``, attach) stop at every call's entry
  anyway; there the number decides.
* Under user notification no process is traced: the flag changes nothing, and no rule is
  installed.

Handlers and observers of ``clone`` and ``clone3`` see the call as the kernel runs it, without
the flag.
"""

from __future__ import annotations

from sysemu.abi.abi import machine_abis
from sysemu.abi.clone import (
    CLONE3_NUMBERS,
    CLONE_ARGS_FLAGS,
    CLONE_FLAGS_ARG,
    CLONE_NUMBERS,
    CLONE_UNTRACED,
)
from sysemu.kernel.arch import Arch
from sysemu.kernel.bpf import SECCOMP_RET_TRACE, ArgTest, Op, Rule
from sysemu.kernel.memory import TraceeMemory

UNTRACED_ROUTE = 0xFFFE
"""The filter's data for the engine's own stops of ``clone`` and ``clone3`` (``DYNAMIC_ROUTE``,
0xFFFF, is the one above; routes count up from 0)."""

CALLS = frozenset(
    (arch, nr) for numbers in (CLONE_NUMBERS, CLONE3_NUMBERS) for arch, nrs in numbers.items()
    for nr in nrs
)  # fmt: skip
"""``(audit arch, number as the filter sees it)`` of every ``clone`` and ``clone3``."""

_CLONE3 = frozenset((arch, nr) for arch, nrs in CLONE3_NUMBERS.items() for nr in nrs)

__all__ = ["CALLS", "CLONE_UNTRACED", "UNTRACED_ROUTE", "follow", "native_clone3", "untraced_rules"]


def native_clone3(audit_arch: int) -> tuple[int, int] | None:
    """``(audit arch, number)`` of the ``clone3`` of the ABI with ``audit_arch`` that has no
    number bias (x86-64's, not x32's), or None where there is none."""
    numbers = CLONE3_NUMBERS.get(audit_arch, ())
    return (audit_arch, min(numbers)) if numbers else None  # (a bias is a high bit)


def untraced_rules() -> list[Rule]:
    """The filter rules that stop a ``clone`` with ``CLONE_UNTRACED`` and every ``clone3``.

    They go before the handlers' rules (the first rule that matches decides), and only into
    the filters of backends that trace: the stop needs a tracer. Only the machine's
    architectures get rules: a filter never sees another's calls.
    """
    machine = {abi.audit_arch for abi in machine_abis()}
    action = SECCOMP_RET_TRACE | UNTRACED_ROUTE
    untraced = ArgTest(
        CLONE_FLAGS_ARG, Op.MASKED_EQ, (CLONE_UNTRACED,), mask=CLONE_UNTRACED, bits=32
    )
    rules = [Rule(arch, nr, action, (untraced,)) for arch, nrs in CLONE_NUMBERS.items()
             if arch in machine for nr in nrs]  # fmt: skip
    rules += [Rule(arch, nr, action, ()) for arch, nrs in CLONE3_NUMBERS.items()
              if arch in machine for nr in nrs]  # fmt: skip
    return rules


def follow(
    regs: Arch, tid: int, arch: int, nr: int, args: tuple[int, ...], *, seccomp: bool
) -> tuple[int, ...]:
    """At the seccomp stop (``seccomp``) or entry stop of a call of :data:`CALLS`: clear
    ``CLONE_UNTRACED`` where the kernel will read it. Returns the arguments as the kernel will
    now see them.

    A ``clone3`` whose struct cannot be read is left alone: the kernel fails it (``EFAULT``)
    for the same reason.
    """
    abi = regs.abi_of(arch, nr)
    if (arch, nr) in _CLONE3:
        address = args[0] & ((1 << abi.word_bits) - 1)
        if args[1] < CLONE_ARGS_FLAGS.size:
            return args  # too small to hold the flags: the kernel refuses it (EINVAL)
        memory = TraceeMemory(tid)
        try:
            (flags,) = CLONE_ARGS_FLAGS.unpack(memory.read(address, CLONE_ARGS_FLAGS.size))
            if flags & CLONE_UNTRACED:
                memory.write(address, CLONE_ARGS_FLAGS.pack(flags & ~CLONE_UNTRACED))
        except OSError:
            pass
        return args
    if not args[CLONE_FLAGS_ARG] & CLONE_UNTRACED:
        return args
    cleared = list(args)
    cleared[CLONE_FLAGS_ARG] &= ~CLONE_UNTRACED
    regs.rewrite(tid, abi, nr & ~abi.nr_bias, cleared, seccomp=seccomp)
    return tuple(cleared)
