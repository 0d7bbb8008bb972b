"""The structured forms of the decoders of :mod:`.decoders_more` and its neighbours that show
numbers, ids and values stored at an address (as :mod:`sysemu.tools.trace.values` describes
the forms); the structures of those modules keep their text (``{"text": ...}``)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from sysemu.tools.trace.context import STRUCTURED, Context, Decoder, StructuredDecoder
from sysemu.tools.trace.decoders_layouts import dec_file_mode, dec_makedev, dec_signed64
from sysemu.tools.trace.decoders_more import (
    dec_id,
    dec_id_out,
    dec_int_in,
    dec_key_serial,
    dec_offset_in,
    dec_time_out,
    dec_uint_out,
)
from sysemu.tools.trace.xlat_more import KEY_SPECS


def _id(value: int) -> int:
    value &= 0xFFFFFFFF
    return -1 if value == 0xFFFFFFFF else value


def _stored(layout: struct.Struct, form: Callable[[int], object] = int) -> StructuredDecoder:
    """A value at the address, in a one-element array as strace shows it; the address when
    it cannot be read."""

    def decode(ctx: Context, value: int, _index: int) -> object:
        fields = ctx.unpack(value, layout)
        return value if fields is None else [form(fields[0])]

    return decode


def _makedev(_ctx: Context, value: int, _index: int) -> object:
    value &= 0xFFFFFFFFFFFFFFFF
    major = ((value >> 8) & 0xFFF) | ((value >> 32) & ~0xFFF)
    minor = (value & 0xFF) | ((value >> 12) & ~0xFF & 0xFFFFFFFF)
    return {"major": major, "minor": minor}


MORE: dict[Decoder, StructuredDecoder] = {
    dec_id: lambda _ctx, value, _index: _id(value),
    dec_id_out: _stored(struct.Struct("<I"), _id),
    dec_uint_out: _stored(struct.Struct("<I")),
    dec_int_in: _stored(struct.Struct("<i")),
    dec_offset_in: _stored(struct.Struct("<q")),
    dec_time_out: _stored(struct.Struct("<q")),
    dec_signed64: lambda _ctx, value, _index: value - ((value >> 63 & 1) << 64),
    dec_key_serial: lambda _ctx, value, _index: {"raw": value, "name": KEY_SPECS.get(value)},
    dec_makedev: _makedev,
    dec_file_mode: lambda _ctx, value, _index: value & 0xFFFF,
}
"""The structured form of each of those decoders (in
:data:`~sysemu.tools.trace.context.STRUCTURED` too)."""
STRUCTURED.update(MORE)
