"""What a decoder sees: the call, its result at exit, the output options, and memory helpers.

Decoders are ``decoder(context, value, index) -> str``; the phase of a table row says when one
runs: at entry (what the program passes in), at exit (what the kernel filled in), or at both,
when the text at exit depends on a value the kernel overwrites (``getsockname``'s length).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from sysemu._typing import NamedTuple
from sysemu.abi import is_error
from sysemu.api.call import Call
from sysemu.tools.trace import render

ENTRY = 0
EXIT = 1
BOTH = 2
"""Decoded at entry (the text is kept in :attr:`Context.saved`, not shown) and again at exit."""


_DELETED = " (deleted)"


class Context:
    """What a decoder may use: the call, its result at exit, and the output options.

    ``exiting`` says whether the call has returned (its result is ``result``, ``None`` when it
    never came back); ``saved`` holds, by argument index, the texts the :data:`BOTH` decoders
    returned at entry.
    """

    __slots__ = (
        "call", "cut", "dereference", "exiting", "fd_path", "limit", "result", "saved",
        "verbose_fds",
    )  # fmt: skip

    def __init__(
        self,
        call: Call,
        *,
        limit: int = 32,
        verbose_fds: bool = False,
        fd_path: Callable[[int], str | None] | None = None,
        result: int | None = None,
        exiting: bool | None = None,
        saved: dict[int, str] | None = None,
    ) -> None:
        self.call = call
        self.limit = limit
        self.verbose_fds = verbose_fds
        self.fd_path = fd_path or call.fd_path
        self.result = result
        self.exiting = result is not None if exiting is None else exiting
        self.saved = {} if saved is None else saved
        # Set by a structured decoder that cut a string or an array at the limit.
        self.cut = False
        # False for the calls -e verbose= leaves out: their structures are shown by address.
        self.dereference = True

    @property
    def failed(self) -> bool:
        """Whether the call returned an error."""
        return self.result is not None and is_error(self.result)

    @property
    def succeeded(self) -> bool:
        """Whether the call has returned, without an error."""
        return self.exiting and self.result is not None and not self.failed

    @property
    def native(self) -> bool:
        """Whether the call comes from a 64-bit program: the only ABI whose structure layouts
        (longs and pointers of 8 bytes) the structure decoders implement."""
        return self.call.abi.pointer_size == 8

    @property
    def word(self) -> int:
        """Size of a pointer or ``long`` of the calling program (i386 and x32: 4)."""
        return self.call.abi.pointer_size

    def fetch(self, address: int, size: int) -> bytes | None:
        """``size`` bytes at ``address``, or ``None`` when strace would print the address
        instead: NULL, unreadable, at exit of a call that failed (the kernel wrote nothing), or
        in a call ``-e verbose=`` leaves out."""
        result = self.result
        # (not self.succeeded, inline: this runs for every structure shown)
        if (
            address == 0
            or (self.exiting and (result is None or is_error(result)))
            or not self.dereference
        ):
            return None
        try:
            data = self.call.memory.read(address, size)
        except OSError:
            return None
        return data if len(data) == size else None

    def unpack(self, address: int, layout: struct.Struct) -> tuple[int, ...] | None:
        """The fields of a structure at ``address`` (see :meth:`fetch` for ``None``)."""
        data = self.fetch(address, layout.size)
        return None if data is None else layout.unpack(data)

    def string(self, address: int, *, limit: int | None = None) -> str:
        """The NUL-terminated string at ``address``, quoted and cut at the string limit."""
        if address == 0:
            return "NULL"
        shown = self.limit if limit is None else limit
        try:
            data = self.call.memory.read_cstring(address, shown + 1)
        except OSError:
            return hex(address)
        if len(data) <= shown and unterminated(self.call, address + len(data)):
            return hex(address)
        return render.quote(data, shown)

    def buffer(self, address: int, size: int, *, hex_bytes: bool = False) -> str:
        """``size`` bytes at ``address``, quoted and cut at the string limit."""
        if address == 0:
            return "NULL"
        if size <= 0:
            return '""'
        # (One byte past the limit is read too, as strace does to see the buffer go on.)
        want = size if size <= self.limit else self.limit + 1
        try:
            data = self.call.memory.read(address, want, partial=True)
        except OSError:
            return hex(address)
        if len(data) < want:  # strace reads all it shows, or shows the address
            return hex(address)
        return render.quote(data, self.limit, more=size > self.limit, hex_bytes=hex_bytes)

    def fd(self, value: int) -> str:
        """A file descriptor, with ``<path>`` after it when fd paths are shown (``-y``)."""
        if value < 0 or not self.verbose_fds:
            return str(value)
        path = self.fd_path(value)
        if path is None:
            return str(value)
        # The kernel appends " (deleted)" to the link of an unlinked file; strace moves it out
        # of the brackets: 4</tmp/#123>(deleted).
        if path.endswith(_DELETED) and not os.path.lexists(path):
            return f"{value}<{path.removesuffix(_DELETED)}>(deleted)"
        return f"{value}<{path}>"


def unterminated(call: Call, end: int) -> bool:
    """Whether a string read up to ``end`` stopped at an unreadable page rather than at its
    NUL: strace then shows the string's address, not the bytes before the fault. (A read stops
    early at a page boundary only, so only there is the byte at ``end`` looked at.)"""
    if end % 4096:
        return False
    try:
        call.memory.read(end, 1)
    except OSError:
        return True
    return False


Decoder = Callable[[Context, int, int], str]
"""``decoder(context, value, index)``: the text for argument ``index`` whose register holds
``value`` (already narrowed and sign-extended as the parameter's C type says)."""

VALUE_ONLY: set[Decoder] = set()
"""Decoders whose text depends on the value alone (see :func:`value_only`)."""


def value_only(decoder: Decoder) -> Decoder:
    """Mark ``decoder`` as reading neither its context nor its index: a pure function of the
    value. The C trace writer (``sysemu.tools.trace.c_writer``) then calls it once per distinct
    value, with ``None`` for the context, and remembers the text."""
    VALUE_ONLY.add(decoder)
    return decoder


StructuredDecoder = Callable[[Context, int, int], object]
"""``decoder(context, value, index)``: the structured form of a value (a number, a string, a
list, a dict of fields: what the JSON trace writes), where :data:`Decoder` gives its text."""

STRUCTURED: dict[Decoder, StructuredDecoder] = {}
"""The structured form of each text decoder that has one (filled by the decoder modules and
:mod:`sysemu.tools.trace.values`); a decoder without one is given as its text."""


def structured_value(decoder: Decoder, ctx: Context, value: int, index: int) -> object:
    """The structured form of argument ``index`` (register ``value``) that ``decoder`` shows:
    its :data:`STRUCTURED` form, or ``{"text": ...}`` with the text for a decoder without one."""
    form = STRUCTURED.get(decoder)
    if form is None:
        return {"text": decoder(ctx, value, index)}
    return form(ctx, value, index)


class Shown(NamedTuple):
    """One argument as strace shows it: which register, decoded how, and when."""

    register: int
    """The argument's position in the call (the register it is in)."""
    decoder: Decoder
    phase: int
    """:data:`ENTRY`, :data:`EXIT` or :data:`BOTH`."""
