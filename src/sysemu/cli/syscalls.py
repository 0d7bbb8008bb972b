"""``sysemu syscalls [SET]``: the system calls sysemu knows, from the tables handlers are checked
against: numbers per ABI, arguments (name, C type, kind) and strace's classes.

SET is strace's syscall-set syntax (a name, ``/regex``, ``%class``, a number, a list of them);
an unknown name is answered with the nearest known ones, as everywhere else.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Abi, Param, Syscall, class_names, syscall_by_name, syscalls_in_class
from sysemu.abi.abi import machine_abis
from sysemu.abi.classes import parse_syscall_set

if TYPE_CHECKING:
    from typing import Any


def add_command(commands: argparse._SubParsersAction[Any]) -> None:
    """The ``syscalls`` subcommand's parser."""
    listing = commands.add_parser(
        "syscalls",
        help="list the system calls sysemu knows: numbers, arguments, classes",
        description="List the calls of SET (a name, /REGEX, %%CLASS, a number, or a "
        "comma-separated list of them; every call when left out) with their number in each "
        "ABI, their arguments' names, C types and kinds, and strace's classes.",
    )
    listing.add_argument("set", nargs="?", default="all", metavar="NAME|/REGEX|%CLASS")


def print_syscalls(text: str) -> int:
    """Print the calls ``text`` selects; raises ValueError for a set that does not parse."""
    selected = parse_syscall_set(text)
    chosen = {abi: selected.names(abi) for abi in machine_abis()}
    classes = _classes_by_name()
    for name in _ordered(chosen):
        entries = [syscall_by_name(name, abi) for abi in machine_abis() if name in chosen[abi]]
        for group in _by_signature(entries):
            print(_describe(group, classes.get(name, ())))
    return 0


def _ordered(chosen: dict[Abi, frozenset[str]]) -> list[str]:
    """The chosen names, by x86_64 number, then those only other ABIs have, by theirs."""
    order: dict[str, None] = {}
    for abi in machine_abis():
        numbered = sorted((syscall_by_name(name, abi).nr, name) for name in chosen[abi])
        order.update((name, None) for _nr, name in numbered)
    return list(order)


def _by_signature(entries: Iterable[Syscall]) -> list[list[Syscall]]:
    """``entries`` grouped by what a reader sees of their arguments (names, C types, kinds;
    widths differ between ABIs by design), in ABI order."""
    groups: dict[tuple[tuple[str, str, str], ...], list[Syscall]] = {}
    for entry in entries:
        key = tuple((p.name, p.ctype, p.kind.value) for p in entry.params)
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


def _describe(group: list[Syscall], classes: Iterable[str]) -> str:
    numbers = ", ".join(f"{entry.abi} {entry.nr}" for entry in group)
    missing = [str(entry.abi) for entry in group if not entry.implemented]
    head = f"{group[0].name} ({numbers})"
    if classes:
        head += "  " + " ".join(classes)
    if missing:
        head += f"  [not implemented: {', '.join(missing)}]"
    return "\n".join([head, *_argument_lines(group[0].params)])


def _argument_lines(params: tuple[Param, ...]) -> list[str]:
    if not params:
        return ["    (no arguments)"]
    name_width = max(len(p.name) for p in params)
    type_width = max(len(p.ctype) for p in params)
    return [f"    {p.name:<{name_width}}  {p.ctype:<{type_width}}  {p.kind.value}" for p in params]


def _classes_by_name() -> dict[str, tuple[str, ...]]:
    """Each call's classes (``%%stat`` and ``%%statfs`` left out: they only join others)."""
    found: dict[str, list[str]] = {}
    for name in class_names():
        if name.startswith("%%"):
            continue
        members = frozenset().union(*(syscalls_in_class(name, abi) for abi in machine_abis()))
        for member in members:
            found.setdefault(member, []).append(name)
    return {member: tuple(names) for member, names in found.items()}
