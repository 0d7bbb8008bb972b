"""The system-call ABI as data: tables, signatures, error and signal numbers.

This is sysemu's lowest layer. It is pure data and lookups, uses only the standard library
(no ctypes, no other sysemu module), and importing it is cheap: the syscall tables are built
the first time a lookup needs them.

- :class:`Abi`: the three x86 number spaces (x86_64, i386, x32).
- :class:`Syscall`, :class:`Param`, :class:`ArgKind`: a call's number and typed signature, from
  :func:`syscall_by_name`, :func:`syscall_by_number`, :func:`syscalls`, :func:`abis_for_name`.
- :func:`errno_number` / :func:`errno_name`, :func:`is_error` (a return is ``-errno``),
  :func:`signal_number` / :func:`signal_name`.
- :func:`parse_syscall_set` reads strace's ``-e trace=`` syntax into a :class:`SyscallSet`;
  :func:`class_names` and :func:`syscalls_in_class` give strace's classes (``%file``...).
"""

from sysemu._typing import TYPE_CHECKING
from sysemu.abi.abi import X32_SYSCALL_BIT, Abi
from sysemu.abi.errnos import (
    MAX_ERRNO,
    RESTART_ERRNOS,
    errno_description,
    errno_name,
    errno_number,
    is_error,
)
from sysemu.abi.signals import SIGRTMAX, SIGRTMIN, signal_name, signal_number
from sysemu.abi.syscalls import (
    ArgKind,
    Param,
    Syscall,
    abis_for_name,
    linux_version,
    name_of,
    names,
    path_calls,
    syscall_by_name,
    syscall_by_number,
    syscall_named,
    syscalls,
    unknown_syscall,
)

__all__ = [
    "MAX_ERRNO",
    "RESTART_ERRNOS",
    "SIGRTMAX",
    "SIGRTMIN",
    "X32_SYSCALL_BIT",
    "Abi",
    "ArgKind",
    "Param",
    "Syscall",
    "SyscallSet",
    "abis_for_name",
    "class_names",
    "errno_description",
    "errno_name",
    "errno_number",
    "is_error",
    "linux_version",
    "name_of",
    "names",
    "parse_syscall_set",
    "path_calls",
    "signal_name",
    "signal_number",
    "syscall_by_name",
    "syscall_by_number",
    "syscall_named",
    "syscalls",
    "syscalls_in_class",
    "unknown_syscall",
]

if TYPE_CHECKING:
    from sysemu.abi.classes import (
        SyscallSet,
        class_names,
        parse_syscall_set,
        syscalls_in_class,
    )

_CLASSES = frozenset({"SyscallSet", "class_names", "parse_syscall_set", "syscalls_in_class"})


def __getattr__(name: str) -> object:
    # The syscall sets and classes are loaded on first use: most runs name no set.
    if name in _CLASSES:
        from sysemu.abi import classes  # noqa: PLC0415

        return getattr(classes, name)
    raise AttributeError(f"module 'sysemu.abi' has no attribute {name!r}")
