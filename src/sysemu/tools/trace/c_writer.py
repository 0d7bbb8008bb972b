"""What the C trace writer (the C wait loop writing trace lines itself, ``kernel/csrc/trace.h``)
needs to know of each syscall: how every shown argument is decoded, as one of the kinds C
implements, and how the result is written.

C knows kinds, not syscalls: this module maps the decoder tables onto those kinds, so a
syscall is served natively exactly when every one of its shown arguments has a kind here, or
is decoded by a :func:`~sysemu.tools.trace.context.value_only` function (whose text C asks for
once per distinct value). C also implements the tracer's options ``-s``, ``-y`` (fds and
``AT_FDCWD`` with their paths), ``-t``/``-tt`` (timestamps) and ``-T`` (durations), given once
in a :class:`~sysemu.kernel.loop_config.TraceWriterConfig`. JSON lines, ``execve``, calls that
may not return and every argument of another kind stay with the Python tracer, which is the
reference: the tests compare both on the same programs, with each of those options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from types import ModuleType

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import ArgKind, Syscall
from sysemu.kernel import ptrace
from sysemu.tools.trace.context import BOTH, ENTRY, EXIT, VALUE_ONLY, Decoder
from sysemu.tools.trace.decoders import (
    ADDRESS_RETURNING,
    FD_RETURNING,
    KEYED_LAYOUTS,
    KEYED_RETURNS,
    LAYOUTS,
    NO_RETURN,
    RETURNS,
    shown_arguments_of,
)
from sysemu.tools.trace.decoders_scalar import (
    dec_buffer_in,
    dec_buffer_out,
    dec_cwd_out,
    dec_dirfd,
    dec_fd,
    dec_hex,
    dec_int,
    dec_path,
    dec_pointer,
    dec_string,
    dec_u32,
)
from sysemu.tools.trace.decoders_structs import (
    dec_dirents,
    dec_remaining,
    dec_rlimit64,
    dec_sigaction,
    dec_sigset,
    dec_stat,
    dec_sysinfo,
    dec_timespec,
    rlimit64_text,
    sigaction_text,
    sigset_text,
    sysinfo_text,
)

if TYPE_CHECKING:
    from sysemu.tools.trace.selection import TraceSelection

# Argument kinds, as numbered in kernel/csrc/trace_text.h.
(K_INT, K_U32, K_HEX, K_PTR, K_FD, K_DIRFD, K_PATH, K_STRING, K_BUF_IN, K_BUF_OUT, K_STAT,
 K_DIRENTS, K_PURE, K_TIMESPEC, K_REMAINING, K_MEMORY, K_CWD) = range(17)  # fmt: skip
# Result kinds.
R_INT, R_HEX, R_FD, R_PURE = range(4)

# Decoder -> (kind, the phases it may be decoded in).
_KINDS: dict[Decoder, tuple[int, tuple[int, ...]]] = {
    dec_int: (K_INT, (ENTRY,)),
    dec_u32: (K_U32, (ENTRY,)),
    dec_hex: (K_HEX, (ENTRY,)),
    dec_pointer: (K_PTR, (ENTRY,)),
    dec_fd: (K_FD, (ENTRY,)),
    dec_dirfd: (K_DIRFD, (ENTRY,)),
    dec_path: (K_PATH, (ENTRY,)),
    dec_string: (K_STRING, (ENTRY,)),
    dec_buffer_in: (K_BUF_IN, (ENTRY,)),
    dec_buffer_out: (K_BUF_OUT, (EXIT,)),
    dec_stat: (K_STAT, (EXIT,)),
    dec_dirents: (K_DIRENTS, (EXIT,)),
    dec_timespec: (K_TIMESPEC, (ENTRY, EXIT)),
    # The time left of a sleep is shown for restarted calls only, which Python's tracer writes.
    dec_remaining: (K_REMAINING, (EXIT,)),
    dec_cwd_out: (K_CWD, (EXIT,)),
}
# A K_BUF_OUT whose size argument of 0 is a query, shown by address: its "smallest size" is 1.
SIZE_QUERY = (0, 1, 0)
# Structures whose text is a function of their bytes alone (x86-64 layouts): decoder -> (that
# function, their size; 0 when the call's last argument gives it, within min..max).
_MEMORY: dict[Decoder, tuple[Callable[[bytes], str], int, int, int]] = {
    dec_sigaction: (sigaction_text, 32, 0, 0),
    dec_sigset: (sigset_text, 0, 8, 8),  # dec_sigset: a size the kernel takes, word to 8
    dec_rlimit64: (rlimit64_text, 16, 0, 0),  # prlimit64's (gcc sets its stack's on start)
    dec_sysinfo: (sysinfo_text, 112, 0, 0),
}
# Decoders of modules the tables load on demand (decoders.py): their entries are added once the
# module is loaded, which it is before any row can name one of them.
_SIZED_OUT: list[Decoder] = []  # decoders_more.dec_sized_out, once loaded


def _add_more_kinds(more: ModuleType) -> None:
    sized_out = more.dec_sized_out
    _KINDS[sized_out] = (K_BUF_OUT, (EXIT,))  # with SIZE_QUERY (see c_writer_spec)
    _SIZED_OUT.append(sized_out)


def _add_records_kinds(records: ModuleType) -> None:
    _MEMORY[records.dec_statfs] = (records.statfs_text, 120, 0, 0)


_LATER_KINDS: dict[str, Callable[[ModuleType], None]] = {
    "sysemu.tools.trace.decoders_more": _add_more_kinds,
    "sysemu.tools.trace.decoders_records": _add_records_kinds,
}


def _add_loaded_kinds() -> None:
    """Add the kinds of the decoders of the modules in :data:`_LATER_KINDS` loaded so far."""
    for name in [name for name in _LATER_KINDS if name in sys.modules]:
        _LATER_KINDS.pop(name)(sys.modules[name])


# Kinds of parameters read as signed whatever their C type says (Args.value).
SIGNED_KINDS = frozenset({ArgKind.FD, ArgKind.DIRFD, ArgKind.PID})
_ALL_BITS = (1 << 64) - 1

# Keyed calls whose result, for these keys, is a new fd (fcntl's F_DUPFD, F_DUPFD_CLOEXEC):
# shown with its path under -y, which KEYED_RETURNS leaves to the fd decoder.
FD_RESULT_KEYS = {"fcntl": (0, 1030), "fcntl64": (0, 1030)}

Narrowing = tuple[int, int]
"""How :meth:`Args.value` narrows a register: (mask, sign bit), the sign bit 0 if unsigned."""

ArgSpec = tuple[int, int, int, int, int, int, int, int, Callable[..., str] | None, int, int, int]
"""(register, kind, phase, mask, sign, size register, its mask, its sign, decoder or None, and
for a structure: its size (0: from the size register), the smallest and largest size taken)."""

Spec = tuple[bytes, int, Callable[[int], str | None] | None, tuple[ArgSpec, ...]]
"""(name, result kind, the result's text or None for the number (``R_PURE``), the shown
arguments in order): what ``CTraceWriter`` takes."""


def narrowing(syscall: Syscall) -> tuple[Narrowing | None, ...]:
    """Per register, how its argument is narrowed to its C type (None: the raw register)."""
    narrow: list[Narrowing | None] = [None] * 6
    for index, param in enumerate(syscall.params[:6]):
        signed = param.signed or param.kind in SIGNED_KINDS
        narrow[index] = ((1 << param.bits) - 1, 1 << (param.bits - 1) if signed else 0)
    return tuple(narrow)


def c_writer_key(syscall: Syscall) -> tuple[int, int]:
    """(register, mask) whose masked value picks the shown arguments of ``syscall`` (a keyed
    layout, see :data:`KEYED_LAYOUTS`); (0, 0) when they do not depend on the call."""
    keyed = KEYED_LAYOUTS.get(syscall.name)
    return (keyed[0], keyed[1]) if keyed is not None else (0, 0)


def c_writer_spec(syscall: Syscall, key: int) -> Spec | None:
    """How the C trace writer writes the calls of ``syscall`` whose key (see :func:`c_writer_key`)
    is ``key``, or None where only the Python tracer can: another ABI, arguments picked by a
    layout other than a keyed one, decorated results, calls that may not return, or an
    argument of a kind C does not decode."""
    name = syscall.name
    # (The C writer decodes the native ABI of the architecture it was built for.)
    if (
        syscall.abi.audit_arch != ptrace.ACCELERATED_AUDIT_ARCH
        or name in NO_RETURN
        or name in ("execve", "execveat")
    ):
        return None
    keyed = KEYED_LAYOUTS.get(name)
    if keyed is not None:
        shown = keyed[2](key)
    elif name in LAYOUTS:
        return None
    else:
        shown = shown_arguments_of(syscall)
    returns = KEYED_RETURNS.get(name)
    if returns is None and name in RETURNS:
        return None
    narrow = narrowing(syscall)
    if _LATER_KINDS:
        _add_loaded_kinds()
    arguments: list[ArgSpec] = []
    for index, decoder, phase in shown:
        if phase == BOTH:
            return None
        kind_phases = _KINDS.get(decoder)
        memory = _MEMORY.get(decoder)
        if memory is not None:
            kind_phases = (K_MEMORY, (ENTRY, EXIT))
        elif kind_phases is None:
            if decoder not in VALUE_ONLY or phase != ENTRY:
                return None
            kind_phases = (K_PURE, (ENTRY,))
        kind, phases = kind_phases
        if phase not in phases:
            return None
        # The size of a buffer passed in is the next argument; getdents64's limit the third; a
        # signal set's the call's last.
        size_register = (
            index + 1 if kind in (K_BUF_IN, K_BUF_OUT)
            else 2 if kind == K_DIRENTS
            else len(syscall.params) - 1 if memory is not None and memory[1] == 0
            else 0
        )  # fmt: skip
        if not 0 <= size_register <= 5:
            return None
        mask, sign = narrow[index] or (_ALL_BITS, 0)
        size_mask, size_sign = narrow[size_register] or (_ALL_BITS, 0)
        function: Callable[..., str] | None = None
        sizes = (0, 0, 0)
        if kind == K_PURE:
            function = decoder
        elif memory is not None:
            function, sizes = memory[0], memory[1:]
        elif decoder in _SIZED_OUT:
            sizes = SIZE_QUERY
        arguments.append((index, kind, phase, mask, sign, size_register, size_mask, size_sign,
                          function, *sizes))  # fmt: skip
    if returns is not None and key not in FD_RESULT_KEYS.get(name, ()):
        return name.encode(), R_PURE, partial(returns, key), tuple(arguments)
    if returns is not None:
        return name.encode(), R_FD, None, tuple(arguments)
    result = R_FD if name in FD_RETURNING else R_HEX if name in ADDRESS_RETURNING else R_INT
    return name.encode(), result, None, tuple(arguments)


_FD_KINDS = frozenset({K_FD, K_DIRFD})
# Kinds that read a structure.
_STRUCTURE_KINDS = frozenset({K_STAT, K_DIRENTS, K_TIMESPEC, K_REMAINING, K_MEMORY})
# Kinds whose text C writes with constants in it (not through a Python function).
_NAMING_KINDS = frozenset({K_DIRFD, K_STAT, K_DIRENTS, K_MEMORY})


def spec_for(selection: TraceSelection) -> Callable[[Syscall, int], Spec | None]:
    """:func:`c_writer_spec` under the display options of ``selection``: the calls whose text
    they change in a way C does not implement are left to the Python tracer (None)."""
    if not selection.restyles:
        return c_writer_spec
    from sysemu.tools.trace.styles import styled  # noqa: PLC0415 (restyled traces only)

    def spec(syscall: Syscall, key: int) -> Spec | None:
        found = c_writer_spec(syscall, key)
        if found is None or (selection.raw is not None and syscall.name in selection.raw):
            return None
        kinds = {argument[1] for argument in found[3]}
        if selection.fd_details and (kinds & _FD_KINDS or found[1] == R_FD):
            return None  # -yy: sockets' endpoints and devices' numbers are Python's
        name = syscall.name
        verbose, abbreviated = selection.verbose, selection.abbreviated
        if verbose is not None and name not in verbose and kinds & _STRUCTURE_KINDS:
            return None  # -e verbose=: structures by address, which Python writes
        if abbreviated is not None and name not in abbreviated and K_STAT in kinds:
            return None  # -v: every field of a stat, which Python writes
        style = selection.constants
        if style != "abbrev":
            if kinds & _NAMING_KINDS:
                return None  # AT_FDCWD, st_mode's type, d_type: constants C writes itself
            arguments = tuple(
                (*argument[:8], styled(argument[8], style), *argument[9:])
                if argument[1] == K_PURE and argument[8] is not None else argument
                for argument in found[3]
            )  # fmt: skip
            found = (*found[:3], arguments)
        return found

    return spec


__all__ = [
    "ArgSpec",
    "Narrowing",
    "Spec",
    "c_writer_key",
    "c_writer_spec",
    "narrowing",
    "spec_for",
]
