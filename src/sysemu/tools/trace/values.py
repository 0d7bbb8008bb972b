"""The structured forms of decoded arguments: what the JSON trace and :class:`SyscallEvent`
hold, where the text trace holds strace's text.

A structured decoder sits next to each text decoder (``STRUCTURED[text_decoder]``) and reads
the same memory with the same tables (:func:`render.flag_names` is the text's ``|`` list), so
the two forms agree by construction. The forms, as ``docs/trace-json.md`` documents them:

- numbers (ints, sizes, pointers, fds, modes): JSON numbers;
- strings, paths and buffers: JSON strings, the bytes read as UTF-8 with undecodable bytes as
  ``\\xNN``, up to :data:`STRING_LIMIT` bytes (``-s`` when larger); a longer one is cut and
  its argument named in the event's ``truncated`` list;
- flag sets: ``{"raw": 524288, "flags": ["O_RDONLY", "O_CLOEXEC"]}`` (bits no name covers
  come last, as one hex string); constants: ``{"raw": 1, "name": "SEEK_CUR"}`` (name null
  when unknown); signals the same, with a signal name;
- arrays (``argv``, ``envp``, fd pairs): JSON arrays; structures: objects of their fields
  (those of :mod:`.values_structs` and :mod:`.values_calls`);
- a value a decoder could not read: ``{"text": ...}`` (``context.structured_value`` gives
  a decoder without a structured form the same; every decoder has one).
"""

from __future__ import annotations

import struct

from sysemu.abi import layouts, signal_name
from sysemu.kernel.arch import native_abi
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context, StructuredDecoder, unterminated
from sysemu.tools.trace.decoders_scalar import (
    MAP_FLAGS,
    MAP_TYPES,
    PROT_FLAGS,
    dec_access_mode,
    dec_argv,
    dec_at_flags,
    dec_buffer_in,
    dec_buffer_out,
    dec_clone_flags,
    dec_cwd_out,
    dec_dirfd,
    dec_envp,
    dec_fd,
    dec_hex,
    dec_int,
    dec_map_flags,
    dec_mode,
    dec_open_flags,
    dec_open_flags_only,
    dec_page_offset,
    dec_path,
    dec_pointer,
    dec_prot,
    dec_random_out,
    dec_signal,
    dec_socket_type,
    dec_statx_flags,
    dec_string,
    dec_u32,
)
from sysemu.tools.trace.decoders_structs import dec_fd_pair, dec_stat, dec_timespec
from sysemu.tools.trace.render import flag_names

STRING_LIMIT = 4096
"""Bytes of a string, path or buffer the structured forms keep (``-s`` when it is larger)."""

ARRAY_LIMIT = 4096
"""Elements of an ``argv`` or ``envp`` the structured forms keep."""


def text(data: bytes) -> str:
    """Bytes as a JSON string: UTF-8, with each byte that is not as ``\\xNN``."""
    return data.decode("utf-8", "backslashreplace")


def _cut(ctx: Context, data: bytes, limit: int) -> str:
    if len(data) > limit:
        ctx.cut = True
        data = data[:limit]
    return text(data)


def string_at(ctx: Context, address: int) -> str | int | None:
    """The NUL-terminated string at ``address``; None for NULL, the address if unreadable."""
    if address == 0:
        return None
    try:
        data = ctx.call.memory.read_cstring(address, ctx.limit + 1)
    except OSError:
        return address
    if len(data) <= ctx.limit and unterminated(ctx.call, address + len(data)):
        return address
    return _cut(ctx, data, ctx.limit)


def buffer_at(ctx: Context, address: int, size: int) -> str | int | None:
    """``size`` bytes at ``address``, cut at the limit; None for NULL, the address if
    unreadable."""
    if address == 0:
        return None
    if size <= 0:
        return ""
    try:
        data = ctx.call.memory.read(address, min(size, ctx.limit), partial=True)
    except OSError:
        return address
    if size > ctx.limit:
        ctx.cut = True
    return text(data)


def _number(_ctx: Context, value: int, _index: int) -> object:
    return value


def _u32(_ctx: Context, value: int, _index: int) -> object:
    return value & 0xFFFFFFFF


def _string(ctx: Context, value: int, _index: int) -> object:
    return string_at(ctx, value)


def _buffer_in(ctx: Context, value: int, index: int) -> object:
    return buffer_at(ctx, value, ctx.call.args.value(index + 1))


def _buffer_out(ctx: Context, value: int, _index: int) -> object:
    result = ctx.result
    if result is None or result < 0:
        return value  # the kernel filled nothing: the address, as the text shows it
    return buffer_at(ctx, value, result)


def _cwd_out(ctx: Context, value: int, _index: int) -> object:
    result = ctx.result
    if not ctx.succeeded or result is None or result <= 0:
        return value
    found = buffer_at(ctx, value, result - 1)
    return found.split("\0", 1)[0] if isinstance(found, str) else found


def _strings(ctx: Context, value: int, _index: int) -> object:
    """A NULL-terminated array of strings (``argv``, ``envp``)."""
    if value == 0:
        return None
    word = ctx.word
    items: list[object] = []
    memory = ctx.call.memory
    for position in range(ARRAY_LIMIT + 1):
        try:
            pointer = int.from_bytes(memory.read(value + position * word, word), "little")
        except OSError:
            return value
        if pointer == 0:
            return items
        if position == ARRAY_LIMIT:
            ctx.cut = True
            return items
        items.append(string_at(ctx, pointer))
    return items


def flag_set(value: int, table: xlat.Flags) -> dict[str, object]:
    """``{"raw": value, "flags": [names...]}``."""
    return {"raw": value, "flags": flag_names(value, table) if value else []}


def _signal(_ctx: Context, value: int, _index: int) -> object:
    try:
        name: str | None = signal_name(value)
    except ValueError:
        name = None
    return {"raw": value, "name": name}


def _open_flags(_ctx: Context, value: int, _index: int) -> object:
    value &= 0xFFFFFFFF
    names = [xlat.OPEN_ACCESS[value & 3]]
    rest = value & ~3
    return {"raw": value, "flags": names + (flag_names(rest, xlat.OPEN_FLAGS) if rest else [])}


def _flags(table: xlat.Flags, mask: int = -1) -> StructuredDecoder:
    return lambda _ctx, value, _index: flag_set(value & mask, table)


def _kind_and_flags(kinds: dict[int, str], table: xlat.Flags, kind_mask: int) -> StructuredDecoder:
    """A type in the low bits and flags above (``mmap``'s ``MAP_PRIVATE|...``, a socket's
    ``SOCK_STREAM|SOCK_CLOEXEC``)."""

    def decode(_ctx: Context, value: int, _index: int) -> object:
        kind = value & kind_mask
        rest = value & ~kind_mask
        names = [kinds.get(kind, hex(kind))]
        return {"raw": value, "flags": names + (flag_names(rest, table) if rest else [])}

    return decode


def _clone_flags(_ctx: Context, value: int, _index: int) -> object:
    exit_signal = value & 0xFF
    names = flag_names(value & ~0xFF, xlat.CLONE_FLAGS) if value & ~0xFF else []
    if exit_signal:
        names.append(render.signal(exit_signal))
    return {"raw": value, "flags": names}


def _statx_flags(_ctx: Context, value: int, _index: int) -> object:
    sync = value & 0x6000
    rest = value & ~0x6000 & 0xFFFFFFFF
    names = [xlat.AT_STATX_SYNC.get(sync, hex(sync))]
    return {"raw": value, "flags": names + (flag_names(rest, xlat.AT_FLAGS) if rest else [])}


_STAT_FIELDS = (
    "st_dev", "st_ino", "st_nlink", "st_mode", "st_uid", "st_gid", "st_rdev", "st_size",
    "st_blksize", "st_blocks",
)  # fmt: skip


def _stat(ctx: Context, value: int, _index: int) -> object:
    # As the text decoder: 64-bit programs' struct stat only.
    layout = layouts.stat_layout(ctx.call.name, ctx.call.abi) if ctx.native else None
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return value
    record: dict[str, object] = {name: fields[layout.index(name)] for name in _STAT_FIELDS}
    for name in ("st_atime", "st_mtime", "st_ctime"):
        record[name] = {"tv_sec": fields[layout.index(name)],
                        "tv_nsec": fields[layout.index(name + "_nsec")]}  # fmt: skip
    return record


def _timespec(ctx: Context, value: int, _index: int) -> object:
    call = ctx.call
    time64 = call.name.endswith("_time64")
    layout = layouts.TIMESPEC64 if time64 else layouts.TIMESPEC.get(call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    return value if fields is None else {"tv_sec": fields[0], "tv_nsec": fields[1]}


def _fd_pair(ctx: Context, value: int, _index: int) -> object:
    data = ctx.fetch(value, 8)
    return value if data is None else list(struct.unpack("<ii", data))


_CLD_CODES = {1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED",
              5: "CLD_STOPPED", 6: "CLD_CONTINUED"}  # fmt: skip
_SI_KERNEL = 0x80
_SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -6: "SI_TKILL"}
# The siginfo PTRACE_GETSIGINFO gives sysemu is in sysemu's own ABI's layout.
_SIGINFO_KILL = layouts.SIGINFO_KILL[native_abi()].codec
_SIGINFO_CHLD = layouts.SIGINFO_CHLD[native_abi()].codec


def siginfo_fields(info: bytes) -> dict[str, object]:
    """The fields strace shows of a ``siginfo_t``, in its order: names for the signal and the
    code (``si_code`` as a number when it has none), numbers for the rest (``si_status`` a
    signal name when a signal ended the child). The text trace joins them as
    ``si_signo=SIGCHLD, si_code=CLD_EXITED, ...``."""
    signo, _errno, code, pid, uid = _SIGINFO_KILL.unpack_from(info)
    name = render.signal(signo)
    if code == _SI_KERNEL:  # no sender to name
        return {"si_signo": name, "si_code": "SI_KERNEL"}
    if name == "SIGCHLD" and code > 0:
        _, _, _, pid, uid, status, utime, stime = _SIGINFO_CHLD.unpack_from(info)
        shown_status: object = render.signal(status) if code in (2, 3, 5) else status
        return {"si_signo": name, "si_code": _CLD_CODES.get(code, code), "si_pid": pid,
                "si_uid": uid, "si_status": shown_status, "si_utime": utime,
                "si_stime": stime}  # fmt: skip
    if code <= 0:
        return {"si_signo": name, "si_code": _SI_CODES.get(code, code), "si_pid": pid,
                "si_uid": uid}  # fmt: skip
    return {"si_signo": name, "si_code": code}


STRUCTURED.update({
    dec_int: _number,
    dec_hex: _number,
    dec_pointer: _number,
    dec_fd: _number,
    dec_dirfd: _number,
    dec_mode: _number,
    dec_u32: _u32,
    dec_page_offset: lambda _ctx, value, _index: value * 4096,
    dec_string: _string,
    dec_path: _string,
    dec_buffer_in: _buffer_in,
    dec_buffer_out: _buffer_out,
    dec_random_out: _buffer_out,
    dec_cwd_out: _cwd_out,
    dec_argv: _strings,
    dec_envp: _strings,
    dec_signal: _signal,
    dec_open_flags: _open_flags,
    dec_open_flags_only: _flags(xlat.OPEN_FLAGS),
    dec_at_flags: _flags(xlat.AT_FLAGS),
    dec_access_mode: _flags(xlat.ACCESS_MODES),
    dec_statx_flags: _statx_flags,
    dec_prot: _flags(PROT_FLAGS),
    dec_map_flags: _kind_and_flags(MAP_TYPES, MAP_FLAGS, 0xF),
    dec_socket_type: _kind_and_flags(xlat.SOCKET_TYPES, xlat.SOCKET_TYPE_FLAGS, 0xF),
    dec_clone_flags: _clone_flags,
    dec_stat: _stat,
    dec_timespec: _timespec,
    dec_fd_pair: _fd_pair,
})  # fmt: skip
