"""Rendering values the way strace prints them: strings, flag sets, numbers, errors.

Small pure functions, each for one kind of value, so that a decoder is a line that picks one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sysemu.abi import errno_description, errno_name, signal_name

# strace escapes these as \t \n ... and everything else unprintable as octal.
_ESCAPES = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def quote(data: bytes, limit: int, *, more: bool = False) -> str:
    """``data`` as strace prints a string: in double quotes, escaped, cut after ``limit`` bytes
    with ``...`` after the closing quote (also when ``more`` says the string went on)."""
    cut = len(data) > limit
    shown = data[:limit]
    out = []
    for index, byte in enumerate(shown):
        escape = _ESCAPES.get(byte)
        if escape is not None:
            out.append(escape)
        elif 32 <= byte < 127:
            out.append(chr(byte))
        else:
            # Octal with as few digits as strace uses: three if a digit follows.
            following = shown[index + 1 : index + 2]
            width = 3 if following and 48 <= following[0] <= 55 else 1
            out.append(f"\\{byte:0{width}o}")
    return '"' + "".join(out) + '"' + ("..." if cut or more else "")


def flags(value: int, table: Sequence[tuple[int, str]], *, zero: str = "0") -> str:
    """``value`` as ``A|B|0x40`` using ``table`` ((bit mask, name), biggest masks first)."""
    if value == 0:
        return zero
    names = []
    rest = value
    for mask, name in table:
        if mask and rest & mask == mask:
            names.append(name)
            rest &= ~mask
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def enum(value: int, table: dict[int, str]) -> str:
    """A value one of whose names ``table`` gives, or its number."""
    return table.get(value, str(value))


def signal(number: int) -> str:
    """``SIGUSR1``, or the number for one without a name."""
    try:
        return signal_name(number)
    except ValueError:
        return str(number)


def error_return(value: int) -> str:
    """``-1 ENOENT (No such file or directory)`` for a raw ``-errno`` return."""
    number = -value
    try:
        name = errno_name(number)
        description = errno_description(number)
    except ValueError:
        return f"-1 errno {number}"
    if 512 <= number <= 516:
        # Kernel-internal: the call will be restarted (or fail with EINTR) after a signal.
        return f"? {name} ({description})"
    return f"-1 {name} ({description})"


def pointer(value: int) -> str:
    """``NULL`` or ``0x7ffd...``."""
    return "NULL" if value == 0 else hex(value)
