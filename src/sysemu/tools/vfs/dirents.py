"""Directory listings as the kernel returns them, and leaving names out of them.

``getdents64`` fills a buffer with ``struct linux_dirent64`` records, ``getdents`` with the
older ``struct linux_dirent`` (whose ``d_ino``/``d_off`` are ``unsigned long``: 4 bytes for
i386, 8 for x86-64 and x32), and i386's ``readdir`` returns one ``struct old_linux_dirent``.
Only the record length and the name's place differ, so one walker serves all of them.
"""

from __future__ import annotations

import struct

from sysemu._typing import NamedTuple
from sysemu.abi import Abi


class DirentLayout(NamedTuple):
    """Where the fields of one kind of directory record are."""

    off_at: int  # d_off
    off_size: int
    reclen_at: int  # d_reclen, a u16
    name_at: int  # d_name, NUL-terminated inside the record
    type_at: int | None = 18  # d_type's offset; None: the record's last byte (linux_dirent)


DIRENT64 = DirentLayout(off_at=8, off_size=8, reclen_at=16, name_at=19)
DIRENT_64BIT = DirentLayout(off_at=8, off_size=8, reclen_at=16, name_at=18, type_at=None)
DIRENT_32BIT = DirentLayout(off_at=4, off_size=4, reclen_at=8, name_at=10, type_at=None)

# d_type values (<dirent.h>).
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12


def record(layout: DirentLayout, inode: int, name: bytes, d_type: int) -> bytes:
    """One directory record as the kernel writes it: ``d_off`` 0 (a ``seekdir`` to it starts
    the listing again), the name NUL-terminated, the length aligned as the kernel aligns it
    (8 bytes, or ``sizeof(long)`` for ``linux_dirent``, whose ``d_type`` is its last byte)."""
    align = 8 if layout.type_at is not None else layout.off_size
    extra = 1 if layout.type_at is not None else 2  # the NUL, and linux_dirent's d_type
    reclen = -(-(layout.name_at + len(name) + extra) // align) * align
    buffer = bytearray(reclen)
    inode &= (1 << (8 * layout.off_size)) - 1
    struct.pack_into("<Q" if layout.off_size == 8 else "<I", buffer, 0, inode)
    struct.pack_into("<H", buffer, layout.reclen_at, reclen)
    buffer[layout.name_at : layout.name_at + len(name)] = name
    buffer[layout.type_at if layout.type_at is not None else reclen - 1] = d_type
    return bytes(buffer)


def layout_for(syscall: str, abi: Abi) -> DirentLayout:
    """The record layout ``syscall`` (``getdents64`` or ``getdents``) fills in ``abi``."""
    if syscall == "getdents64":
        return DIRENT64
    # linux_dirent's fields are the kernel's unsigned long for that ABI: a register's width.
    return DIRENT_32BIT if abi.word_bits == 32 else DIRENT_64BIT


def names(buffer: bytes, layout: DirentLayout) -> list[bytes]:
    """The names of the records in ``buffer``, in order (for tests and diagnostics)."""
    return [name for _, _, name in _records(buffer, layout) or ()]


def drop_names(buffer: bytes, layout: DirentLayout, hidden: frozenset[bytes]) -> bytes | None:
    """``buffer`` without the records whose name is in ``hidden``; ``None`` if none was.

    The record before a dropped one takes over its ``d_off`` (the position after it), so that
    ``telldir``/``seekdir`` on the kept record do not bring the dropped one back.
    """
    records = _records(buffer, layout)
    if records is None:
        return None  # not a buffer of records as we know them: leave it alone
    kept: list[bytearray] = []
    dropped = False
    at, size = layout.off_at, layout.off_size
    for start, end, name in records:
        if name in hidden:
            dropped = True
            if kept:
                kept[-1][at : at + size] = buffer[start + at : start + at + size]
            continue
        kept.append(bytearray(buffer[start:end]))
    if not dropped:
        return None
    return b"".join(bytes(record) for record in kept)


def _records(buffer: bytes, layout: DirentLayout) -> list[tuple[int, int, bytes]] | None:
    """(start, end, name) of each record; ``None`` if the buffer is not whole records."""
    found = []
    position = 0
    size = len(buffer)
    while position + layout.name_at <= size:
        (reclen,) = struct.unpack_from("<H", buffer, position + layout.reclen_at)
        if reclen <= layout.name_at or position + reclen > size:
            return None
        name_end = buffer.find(b"\0", position + layout.name_at, position + reclen)
        if name_end < 0:
            name_end = position + reclen
        found.append((position, position + reclen, buffer[position + layout.name_at : name_end]))
        position += reclen
    return found if position == size else None
