"""Signal numbers by name and back, as the kernel numbers them on x86.

Real-time signals use the kernel's range, 32 to 64, and strace's spelling: 32 is
``SIGRTMIN``, 33 to 64 are ``SIGRT_1`` to ``SIGRT_32``. (The C library keeps 32 and 33 for
itself, so a C program's ``SIGRTMIN`` is 34, which this module calls ``SIGRT_2``.) Names are
accepted with or without the ``SIG`` prefix, in any case, and as ``SIGRTMIN+n`` or
``SIGRTMAX-n`` offsets; a decimal string (``"10"``) is taken as the number.
"""

from __future__ import annotations

import re

SIGRTMIN = 32
"""The kernel's first real-time signal."""
SIGRTMAX = 64
"""The last signal (``_NSIG``)."""

# arch/x86/include/uapi/asm/signal.h
_NAMES: dict[int, str] = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
    16: "SIGSTKFLT",
    17: "SIGCHLD",
    18: "SIGCONT",
    19: "SIGSTOP",
    20: "SIGTSTP",
    21: "SIGTTIN",
    22: "SIGTTOU",
    23: "SIGURG",
    24: "SIGXCPU",
    25: "SIGXFSZ",
    26: "SIGVTALRM",
    27: "SIGPROF",
    28: "SIGWINCH",
    29: "SIGIO",
    30: "SIGPWR",
    31: "SIGSYS",
}
_BY_NAME: dict[str, int] = {
    **{name: number for number, name in _NAMES.items()},
    "SIGIOT": 6,
    "SIGCLD": 17,
    "SIGPOLL": 29,
    "SIGUNUSED": 31,
}
# Compiled on first use (re caches it): start-up does not pay for it.
_RT = r"^SIG(?:RT_(?P<rt>\d+)|(?P<base>RTMIN|RTMAX)(?:(?P<sign>[+-])(?P<offset>\d+))?)$"


def signal_number(name: str) -> int:
    """The number of signal ``name``: ``"SIGUSR1"``, ``"usr1"``, ``"10"``, ``"SIGRTMIN+3"``,
    ``"SIGRT_5"``.

    Raises ValueError for an unknown name or a number outside 1..64.
    """
    text = name.strip().upper()
    if text.isdigit():
        number = int(text)
    else:
        if not text.startswith("SIG"):
            text = "SIG" + text
        number = _BY_NAME.get(text, 0)
        match = re.match(_RT, text) if not number else None
        if match:
            if match["rt"] is not None:
                number = SIGRTMIN + int(match["rt"])
            else:
                number = SIGRTMIN if match["base"] == "RTMIN" else SIGRTMAX
                offset = int(match["offset"] or 0)
                number += -offset if match["sign"] == "-" else offset
            if not SIGRTMIN <= number <= SIGRTMAX:
                raise ValueError(f"signal {name!r} out of range {SIGRTMIN}..{SIGRTMAX}")
        elif not number:
            raise ValueError(f"unknown signal name {name!r}")
    if not 1 <= number <= SIGRTMAX:
        raise ValueError(f"signal {name!r} out of range 1..{SIGRTMAX}")
    return number


def signal_name(number: int) -> str:
    """The name strace prints for signal ``number`` (``"SIGUSR1"``, ``"SIGRT_2"``).

    Raises ValueError for a number outside 1..64.
    """
    if number in _NAMES:
        return _NAMES[number]
    if number == SIGRTMIN:
        return "SIGRTMIN"
    if SIGRTMIN < number <= SIGRTMAX:
        return f"SIGRT_{number - SIGRTMIN}"
    raise ValueError(f"unknown signal number {number}")
