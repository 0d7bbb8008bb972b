"""Rendering values the way strace prints them: strings, flag sets, numbers, errors.

Small pure functions, each for one kind of value, so that a decoder is a line that picks one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from sysemu.abi import RESTART_ERRNOS, errno_description, errno_name, signal_name
from sysemu.abi.errnos import (
    ERESTART_RESTARTBLOCK,
    ERESTARTNOHAND,
    ERESTARTNOINTR,
    ERESTARTSYS,
)
from sysemu.tools.trace import xlat

# strace escapes these as \t \n ... and everything else unprintable as octal.
_ESCAPES = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


_TABLE = {
    byte: _ESCAPES.get(byte, chr(byte) if 32 <= byte < 127 else f"\\{byte:o}")
    for byte in range(256)
}
# Bytes written as octal escapes, and the case that needs care: one directly before an octal
# digit ("\\0" then "1" would read as "\\01").
_OCTAL = frozenset(b for b in range(256) if b not in _ESCAPES and not 32 <= b < 127)
_OCTAL_BEFORE_DIGIT = re.compile("[" + re.escape("".join(map(chr, sorted(_OCTAL)))) + "](?=[0-7])")


def quote(data: bytes, limit: int, *, more: bool = False, hex_bytes: bool = False) -> str:
    """``data`` as strace prints a string: in double quotes, escaped, cut after ``limit`` bytes
    with ``...`` after the closing quote (also when ``more`` says the string went on).
    ``hex_bytes``: every byte as ``\\xNN``, as strace shows random bytes."""
    cut = len(data) > limit
    shown = data[:limit]
    if hex_bytes:
        body = "".join(f"\\x{byte:02x}" for byte in shown)
        return '"' + body + '"' + ("..." if cut or more else "")
    text = shown.decode("latin-1")
    if shown.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        body = text  # nothing to escape: most paths and names
    elif _OCTAL_BEFORE_DIGIT.search(text) is None:
        body = text.translate(_TABLE)  # one C-level pass, the common case
    else:  # an octal escape before a digit takes three digits, as strace writes it
        body = "".join(
            _TABLE[byte] if not (byte in _OCTAL and next_is_digit) else f"\\{byte:03o}"
            for byte, next_is_digit in zip(
                shown, [48 <= b <= 55 for b in shown[1:]] + [False], strict=True
            )
        )
    return '"' + body + '"' + ("..." if cut or more else "")


def flags(
    value: int, table: Sequence[tuple[int, str]], *, zero: str = "0", unknown: str | None = None
) -> str:
    """``value`` as ``A|B|0x40`` using ``table`` ((bit mask, name), in the order strace prints
    them: a name is taken when all its bits are set, and its bits are then removed).

    ``zero`` is the text for 0; ``unknown``, when given, is the comment strace adds to a value
    none of whose bits has a name: ``0x40 /* SA_??? */``."""
    if value == 0:
        return zero
    names, rest = _named_bits(unsigned(value), table)
    if rest:
        if not names and unknown is not None:
            return f"{hex(rest)} /* {unknown} */"
        names.append(hex(rest))
    return "|".join(names)


def flag_names(value: int, table: Sequence[tuple[int, str]]) -> list[str]:
    """The names of ``value``'s flags in ``table``, in strace's order (see :func:`flags`), and
    the bits none names as one hex number last: what the text joins with ``|`` and the
    structured trace lists."""
    names, rest = _named_bits(unsigned(value), table)
    if rest:
        names.append(hex(rest))
    return names


def unsigned(value: int) -> int:
    """A negative value as the unsigned number of its C type: 32 bits for an ``int`` (the
    values a signed 32-bit type holds), else 64, as strace prints flag words and constants."""
    if value >= 0:
        return value
    return value & (0xFFFFFFFF if value >= -(1 << 31) else 0xFFFFFFFFFFFFFFFF)


def _named_bits(value: int, table: Sequence[tuple[int, str]]) -> tuple[list[str], int]:
    names = []
    rest = value
    for mask, name in table:
        if mask and rest & mask == mask:
            names.append(name)
            rest &= ~mask
            if not rest:
                break
    return names, rest


def enum(value: int, table: Mapping[int, str]) -> str:
    """A value one of whose names ``table`` gives, or its number."""
    return table.get(value, str(value))


def xval(value: int, table: Mapping[int, str], unknown: str | None = None) -> str:
    """A value by its name in ``table``, or in hex with ``unknown`` as a comment:
    ``0x4d /* FUTEX_??? */``, as strace prints a constant it has no name for."""
    name = table.get(value)
    if name is not None:
        return name
    text = hex(unsigned(value)) if value else "0"  # C's %#x
    return f"{text} /* {unknown} */" if unknown else text


def octal(value: int) -> str:
    """A mode as C's ``%#03o`` writes it: ``000``, ``022``, ``0644``, ``01777``."""
    return (f"0{value:o}" if value else "0").rjust(3, "0")


_SPECIAL_BITS = ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX"))


def remembered(text_of: Callable[[int], str]) -> Callable[[int], str]:
    """``text_of`` (a pure function of a value), remembering the texts of the first
    :data:`REMEMBERED` values: a program passes the same few flag sets, modes and errnos over
    and over, and working their text out again costs more than looking it up."""
    texts: dict[int, str] = {}

    def lookup(value: int) -> str:
        text = texts.get(value)
        if text is None:
            text = text_of(value)
            if len(texts) < REMEMBERED:
                texts[value] = text
        return text

    lookup.__doc__ = text_of.__doc__
    return lookup


REMEMBERED = 1024
"""Distinct values whose text :func:`remembered` keeps, per function (a bound on memory)."""


def _mode(value: int) -> str:
    """A file's type and permissions: ``S_IFDIR|S_ISVTX|0777``, ``S_IFREG|0644``, ``0755``."""
    kind = value & 0o170000
    name = xlat.MODE_TYPES.get(kind) if kind else ""
    if name is None:
        return octal(value)
    parts = [name] if name else []
    parts += [label for bit, label in _SPECIAL_BITS if value & bit]
    return "|".join([*parts, octal(value & ~0o177000)])


# Every stat shows a mode, and a tree has few distinct ones: each is worked out once.
mode = remembered(_mode)


def hex0(value: int, width: int) -> str:
    """C's ``%#0*x`` with ``width`` digits and prefix together: ``0x000001`` for 1 in 8,
    ``00000000`` for 0 (``#`` adds no prefix to zero)."""
    return f"{value:0{width}x}" if value == 0 else "0x" + f"{value:x}".rjust(width - 2, "0")


def signal_short(number: int) -> str:
    """A signal as a signal set lists it: ``INT``, ``RTMIN``, ``RT_1``, or its number."""
    return signal(number).removeprefix("SIG")


def sigset(mask: int, size: int = 8) -> str:
    """A signal set of ``size`` bytes (bit ``n - 1`` is signal ``n``): ``[INT CHLD]``, or the
    signals it lacks after ``~`` when two thirds or more are set (``~[RTMIN RT_1]``)."""
    bits = (size + 3) // 4 * 32
    mask &= (1 << bits) - 1
    prefix = ""
    if bin(mask).count("1") >= bits * 2 // 3:
        mask = ~mask & ((1 << bits) - 1)
        prefix = "~"
    names = [signal_short(bit + 1) for bit in range(bits) if mask >> bit & 1]
    return prefix + "[" + " ".join(names) + "]"


def signal(number: int) -> str:
    """``SIGUSR1``, or the number for one without a name."""
    try:
        return signal_name(number)
    except ValueError:
        return str(number)


# What strace says of the kernel-internal restart values (its own words, not the kernel's).
_RESTART_TEXTS = {
    ERESTARTSYS: "To be restarted if SA_RESTART is set",
    ERESTARTNOINTR: "To be restarted",
    ERESTARTNOHAND: "To be restarted if no handler",
    ERESTART_RESTARTBLOCK: "Interrupted by signal",
}


def error_return(value: int) -> str:
    """``-1 ENOENT (No such file or directory)`` for a raw ``-errno`` return."""
    number = -value
    try:
        name = errno_name(number)
        description = errno_description(number)
    except ValueError:
        return f"-1 errno {number}"
    if number in RESTART_ERRNOS:
        # Kernel-internal: the call will be restarted (or fail with EINTR) after a signal.
        return f"? {name} ({_RESTART_TEXTS.get(number, description)})"
    return f"-1 {name} ({description})"


def pointer(value: int) -> str:
    """``NULL`` or ``0x7ffd...``."""
    return "NULL" if value == 0 else hex(value)
