"""The ``O_*`` flags of ``open`` whose values differ between architectures.

x86 keeps the asm-generic values (``include/uapi/asm-generic/fcntl.h``); arm (32- and 64-bit)
moves four of them (``arch/arm64/include/uapi/asm/fcntl.h``): a flag read from a program
must be named with its machine's values. Every ABI of one machine shares them. Pure data.
"""

from __future__ import annotations

from sysemu.abi.abi import Abi, machine_abis

_GENERIC = {"O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000,
            "O_NOFOLLOW": 0o400000}  # fmt: skip
_ARM = {"O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000,
        "O_LARGEFILE": 0o400000}  # fmt: skip


def moved_open_flags(machine: str | None = None) -> dict[str, int]:
    """``O_DIRECT``, ``O_LARGEFILE``, ``O_DIRECTORY`` and ``O_NOFOLLOW`` of ``machine``
    (default: this one)."""
    return dict(_ARM if machine_abis(machine) == (Abi.AARCH64,) else _GENERIC)


_HERE = moved_open_flags()
O_DIRECT = _HERE["O_DIRECT"]
O_LARGEFILE = _HERE["O_LARGEFILE"]
O_DIRECTORY = _HERE["O_DIRECTORY"]
O_NOFOLLOW = _HERE["O_NOFOLLOW"]
__O_TMPFILE = 0o20000000
O_TMPFILE = __O_TMPFILE | O_DIRECTORY
"""``O_TMPFILE`` is ``__O_TMPFILE`` with ``O_DIRECTORY``, so that old kernels fail it."""
