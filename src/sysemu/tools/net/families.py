"""Which address family a call concerns, for conditions such as ``family=inet``.

``socket`` and ``socketpair`` name it in their ``domain`` argument, which the kernel's filter
can compare; ``connect``, ``bind`` and ``sendto`` in the first bytes of the address they pass,
which only a look at the program's memory can tell (a filter cannot follow pointers). Calls
whose address the kernel fills (``accept``, ``recvfrom``) say nothing about it at entry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sysemu._typing import NamedTuple
from sysemu.abi import ArgKind, Syscall
from sysemu.api.call import Call
from sysemu.api.conditions import Condition, In, Ne

_SOCKADDR = "struct sockaddr *"


class FamilySelector(NamedTuple):
    """How one syscall is limited to some address families: ``conditions`` for the filter
    (by argument name) and, where the family is in memory, a ``check`` on the stopped call."""

    conditions: dict[str, Condition]
    check: Callable[[Call], bool] | None


def family_selector(syscall: Syscall, families: Collection[int]) -> FamilySelector | None:
    """The selector of ``families`` for ``syscall``; ``None`` if the call names no family
    before it runs."""
    params = syscall.params
    names = [param.name for param in params]
    if "domain" in names:
        return FamilySelector({"domain": In(*sorted(families))}, None)
    for index, param in enumerate(params):
        length = params[index + 1] if index + 1 < len(params) else None
        if param.ctype == _SOCKADDR and length is not None and length.kind is not ArgKind.POINTER:
            return FamilySelector({param.name: Ne(0)}, _address_check(index, frozenset(families)))
    return None


def _address_check(index: int, families: frozenset[int]) -> Callable[[Call], bool]:
    def check(call: Call) -> bool:
        try:
            data = call.read(call.raw[index], 2) if call.args.value(index + 1) >= 2 else b""
        except OSError:
            return False  # the kernel's EFAULT: no family
        return len(data) == 2 and int.from_bytes(data, "little") in families

    return check
