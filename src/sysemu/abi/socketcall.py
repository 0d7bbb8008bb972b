"""``socketcall(2)``: the socket calls of a 32-bit x86 C library, multiplexed through one number.

i386 had no system call per socket operation until Linux 4.3: ``socketcall(call, args)`` names
the operation (``SYS_CONNECT``...) and points at an array of its arguments, one 32-bit word
each. Debian's i386 C library still makes every socket call this way. A rule on ``connect``
must see those calls too, or a 32-bit build of a program walks past it.

The kernel carries out each operation as one of the direct calls i386 has since 4.3
(``net/socket.c``, ``__sys_socketcall``): ``accept`` is ``accept4`` with no flags, ``send`` and
``recv`` are ``sendto`` and ``recvfrom`` without an address. :data:`SUBCALLS` says which, and
how many words of the array it reads; the rest of that call's arguments are zero.
"""

from __future__ import annotations

from sysemu.abi.abi import Abi
from sysemu.abi.syscalls import Syscall, syscall_by_name

MULTIPLEXER = "socketcall"

# SYS_* (include/uapi/linux/net.h) -> (the direct call the kernel makes, words it reads).
SUBCALLS: dict[int, tuple[str, int]] = {
    1: ("socket", 3),
    2: ("bind", 3),
    3: ("connect", 3),
    4: ("listen", 2),
    5: ("accept4", 3),  # SYS_ACCEPT: accept4 with flags 0
    6: ("getsockname", 3),
    7: ("getpeername", 3),
    8: ("socketpair", 4),
    9: ("sendto", 4),  # SYS_SEND: no address
    10: ("recvfrom", 4),  # SYS_RECV: no address
    11: ("sendto", 6),
    12: ("recvfrom", 6),
    13: ("shutdown", 2),
    14: ("setsockopt", 5),
    15: ("getsockopt", 5),
    16: ("sendmsg", 3),
    17: ("recvmsg", 3),
    18: ("accept4", 4),
    19: ("recvmmsg", 5),  # the time32 recvmmsg, as socketcall passes an old timespec
    20: ("sendmmsg", 4),
}

DIRECT_NAMES = frozenset(name for name, _ in SUBCALLS.values())

WORD_BYTES = 4  # the array's words are the compat ABI's unsigned long


def multiplexer_of(abi: Abi) -> Syscall | None:
    """``abi``'s ``socketcall``, if it has one (i386 does; 64-bit ABIs do not)."""
    try:
        return syscall_by_name(MULTIPLEXER, abi)
    except KeyError:
        return None


def subcalls_for(abi: Abi, wanted: set[str] | frozenset[str]) -> dict[int, tuple[Syscall, int]]:
    """The operations of ``abi``'s ``socketcall`` whose direct call is named in ``wanted``:
    SYS_* -> (that call, the words it reads)."""
    found = {}
    for number, (name, words) in SUBCALLS.items():
        if name in wanted:
            found[number] = (syscall_by_name(name, abi), words)
    return found


def direct_args(data: bytes) -> tuple[int, ...]:
    """The six arguments of the direct call, from the words of the array (``data``)."""
    words = [
        int.from_bytes(data[i : i + WORD_BYTES], "little")
        for i in range(0, len(data) - len(data) % WORD_BYTES, WORD_BYTES)
    ]
    return (*words, *(0,) * (6 - len(words)))
