"""``clone`` and ``clone3``: the facts the engine needs to follow every child they make.

``CLONE_UNTRACED`` asks the kernel not to make the child a tracee, whatever its parent's
tracer asked for (``kernel/fork.c``, ``kernel_clone``: no trace event is reported for it). The
child keeps its parent's seccomp filter all the same; see ``sysemu.engine.untraced``.
"""

from __future__ import annotations

import struct

from sysemu.abi.abi import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    X32_SYSCALL_BIT,
)

CLONE_UNTRACED = 0x00800000
"""include/uapi/linux/sched.h. ``clone`` takes its flags from the low 32 bits of the register
(``kernel/fork.c``: ``lower_32_bits(clone_flags)``)."""

CLONE_FLAGS_ARG = 0
"""The argument of ``clone`` that holds the flags, in every ABI (i386 and x86-64 differ only in
the order of the later ones)."""

CLONE_ARGS_FLAGS = struct.Struct("<Q")
"""``struct clone_args`` (``clone3``'s first argument; its size is the second) starts with
``__aligned_u64 flags``: the same 8 bytes at offset 0 for 32- and 64-bit callers."""

# The calls' numbers per audit arch (x86_64's include x32's, with the x32 bit), written out
# rather than looked up: loading the i386 and x32 tables would cost every run with a filter
# several milliseconds (tests/test_untraced.py checks them against the tables).
CLONE_NUMBERS: dict[int, tuple[int, ...]] = {
    AUDIT_ARCH_X86_64: (56, 56 | X32_SYSCALL_BIT),
    AUDIT_ARCH_I386: (120,),
    AUDIT_ARCH_AARCH64: (220,),
}
CLONE3_NUMBERS: dict[int, tuple[int, ...]] = {
    AUDIT_ARCH_X86_64: (435, 435 | X32_SYSCALL_BIT),
    AUDIT_ARCH_I386: (435,),
    AUDIT_ARCH_AARCH64: (435,),
}
