"""How the display options rewrite the arguments a call shows: ``-X raw|verbose`` (named
constants and flags as numbers, or numbers with the names as a comment), ``-e raw=`` (every
argument and the result in hex), ``-e verbose=`` (structures of other calls by address) and
``-e abbrev=`` / ``-v`` (structures in full where a decoder has a full form).

They work on the decoders the tables pick, not inside them: a decoder that is a pure function
of its value (:func:`~sysemu.tools.trace.context.value_only`: flag sets, constants) gives its
text, and :func:`styled` turns that text into the number, or the number and the text as a
comment, as strace's ``-X`` does: ``O_RDONLY|O_CLOEXEC`` is ``0x80000`` or ``0x80000 /*
O_RDONLY|O_CLOEXEC */``, ``AT_FDCWD`` is ``-100``. A text that is a number already (a mode,
``0``) is left as it is, as strace leaves them.
"""

from __future__ import annotations

import re
import struct

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.trace import render
from sysemu.tools.trace.context import ENTRY, VALUE_ONLY, Context, Decoder, Shown
from sysemu.tools.trace.decoders_scalar import dec_dirfd, dec_socket_protocol
from sysemu.tools.trace.decoders_structs import dec_stat

if TYPE_CHECKING:
    from collections.abc import Callable

    from sysemu.abi import Syscall
    from sysemu.tools.trace.selection import TraceSelection

AT_FDCWD = -100

_NUMBER = re.compile(r"-?(?:0x[0-9a-f]+|[0-9]+)")
# "0x40 /* SA_??? */": the number strace prints for a value without a name, commented.
_UNNAMED = re.compile(r"(-?(?:0x[0-9a-f]+|[0-9]+)) /\* .*\?\?\? \*/")
_STYLED: dict[tuple[Decoder, str], Decoder] = {}
# Decoders that name a constant from their value and the call's other arguments.
_NAMING = frozenset({dec_socket_protocol})


def hex_number(value: int) -> str:
    """C's ``%#x`` of the value as its unsigned C type: ``0`` for zero, ``0x80000``."""
    return hex(render.unsigned(value)) if value else "0"


def styled(decoder: Decoder, style: str, number: Callable[[int], str] = hex_number) -> Decoder:
    """``decoder`` (a pure function of its value) writing constants in ``style`` (``raw`` or
    ``verbose``), with ``number`` the numeral strace prints (hex but for fds)."""
    key = (decoder, style)
    found = _STYLED.get(key)
    if found is not None:
        return found

    def text(ctx: Context, value: int, index: int) -> str:
        named = decoder(ctx, value, index)
        if named == "NULL" or _NUMBER.fullmatch(named):
            return named
        unnamed = _UNNAMED.fullmatch(named)
        if unnamed is not None:
            return unnamed[1] if style == "raw" else named
        shown = number(value)
        return shown if style == "raw" else f"{shown} /* {named} */"

    text.__doc__ = decoder.__doc__
    if decoder in VALUE_ONLY:
        VALUE_ONLY.add(text)
    _STYLED[key] = text
    return text


def _dirfd_styled(style: str) -> Decoder:
    """A dirfd whose ``AT_FDCWD`` is ``-100`` (raw) or ``-100 /* AT_FDCWD */`` (verbose)."""

    def text(ctx: Context, value: int, index: int) -> str:
        if value != AT_FDCWD:
            return dec_dirfd(ctx, value, index)
        return "-100" if style == "raw" else "-100 /* AT_FDCWD */"

    return text


def restyled(arguments: tuple[Shown, ...], style: str) -> tuple[Shown, ...]:
    """``arguments`` with every pure decoder :func:`styled`, and a dirfd's ``AT_FDCWD``."""
    shown = []
    for argument in arguments:
        decoder = argument.decoder
        replaced = None
        if decoder is dec_dirfd:
            replaced = _STYLED.get((decoder, style))
            if replaced is None:
                replaced = _STYLED[decoder, style] = _dirfd_styled(style)
        elif decoder in VALUE_ONLY or decoder in _NAMING:
            replaced = styled(decoder, style)
        shown.append(argument if replaced is None else argument._replace(decoder=replaced))
    return tuple(shown)


def styled_siginfo(fields: dict[str, object], info: bytes, style: str) -> dict[str, object]:
    """A signal's ``siginfo`` fields with ``si_signo`` and ``si_code`` in ``style`` (strace
    writes the signal's number in decimal, its code in hex)."""
    signo, _errno, code = struct.unpack_from("<iii", info)
    for name, number in (("si_signo", str(signo)), ("si_code", hex_number(code))):
        if name in fields:
            fields[name] = number if style == "raw" else f"{number} /* {fields[name]} */"
    return fields


class Display:
    """The display options of one trace, asked per call: how its arguments are decoded
    (:meth:`arguments`, remembered per syscall and layout) and its result written."""

    __slots__ = ("_arguments", "selection")

    def __init__(self, selection: TraceSelection) -> None:
        self.selection = selection
        self._arguments: dict[tuple[str, tuple[Shown, ...]], tuple[Shown, ...]] = {}

    def arguments(self, syscall: Syscall, arguments: tuple[Shown, ...]) -> tuple[Shown, ...]:
        """The arguments a call of ``syscall`` shows, decoded as the options say."""
        key = (syscall.name, arguments)
        found = self._arguments.get(key)
        if found is None:
            found = arguments
            if self.raw_result(syscall.name):
                # strace's raw form: every parameter's register, in hex.
                found = tuple(Shown(index, dec_raw, ENTRY) for index in range(len(syscall.params)))
            else:
                if not self.abbreviates(syscall.name):
                    found = self._unabbreviated(found)
                if self.selection.constants != "abbrev":
                    found = restyled(found, self.selection.constants)
            self._arguments[key] = found
        return found

    def _unabbreviated(self, arguments: tuple[Shown, ...]) -> tuple[Shown, ...]:
        from sysemu.tools.trace import unabbreviated  # noqa: PLC0415 (-v only)

        forms = dict(unabbreviated.FULL_FORMS)
        style = self.selection.constants
        if style != "abbrev":
            forms[dec_stat] = unabbreviated.stat_full_styled(style)
        return tuple(
            argument._replace(decoder=forms.get(argument.decoder, argument.decoder))
            for argument in arguments
        )

    def abbreviates(self, name: str) -> bool:
        """Whether ``name``'s large structures are abbreviated (``-e abbrev=``, ``-v``)."""
        abbreviated = self.selection.abbreviated
        return abbreviated is None or name in abbreviated

    def dereferences(self, name: str) -> bool:
        """Whether ``name``'s structures are decoded (``-e verbose=``), not shown by address."""
        verbose = self.selection.verbose
        return verbose is None or name in verbose

    def raw_text(self, value: int) -> str:
        """A result of a call shown raw: in hex (``0`` for zero)."""
        return hex_number(value)

    def raw_result(self, name: str) -> bool:
        """Whether ``name``'s calls are shown raw (``-e raw=``): its result in hex too."""
        raw = self.selection.raw
        return raw is not None and name in raw


def dec_raw(ctx: Context, _value: int, index: int) -> str:
    """The register of argument ``index`` as it is, in hex (``-e raw=``)."""
    return hex_number(ctx.call.raw[index])


def display_for(selection: TraceSelection) -> Display | None:
    """The :class:`Display` of ``selection``, or None when it changes no call's text."""
    rewrites = (
        selection.constants != "abbrev"
        or selection.raw is not None
        or selection.verbose is not None
        or selection.abbreviated is not None
    )
    return Display(selection) if rewrites else None


__all__ = [
    "Display",
    "dec_raw",
    "display_for",
    "hex_number",
    "restyled",
    "styled",
    "styled_siginfo",
]
