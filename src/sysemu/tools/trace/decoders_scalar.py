"""Decoders of values held in a register (numbers, flags, fds), of strings and of buffers.

One small function per type; :func:`enum_of` and :func:`flags_of` make the decoders of the
many constants that differ only by their table of names.
"""

from __future__ import annotations

from functools import partial

from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import STRUCTURED, Context, Decoder, structured_value, value_only
from sysemu.tools.trace.render import remembered


@value_only
def dec_int(_ctx: Context, value: int, _index: int) -> str:
    """A number."""
    return str(value)


@value_only
def dec_u32(_ctx: Context, value: int, _index: int) -> str:
    """The low 32 bits of a register, unsigned (a ``u32`` passed in a pointer-sized slot)."""
    return str(value & 0xFFFFFFFF)


@value_only
def dec_hex(_ctx: Context, value: int, _index: int) -> str:
    """A number shown in hex (flag words nobody decodes yet, offsets); 0 as ``0``."""
    return hex(value) if value > 0 else str(value)


@value_only
def dec_pointer(_ctx: Context, value: int, _index: int) -> str:
    """An address: ``NULL`` or hex."""
    return render.pointer(value)


def dec_string(ctx: Context, value: int, _index: int) -> str:
    """A NUL-terminated string that is not a path (a name), cut at the string limit."""
    return ctx.string(value)


def dec_path(ctx: Context, value: int, _index: int) -> str:
    """A path: shown whole, as strace does, whatever the string limit (up to PATH_MAX - 1
    bytes, with ``...`` after a longer one)."""
    return ctx.string(value, limit=4095)


def dec_fd(ctx: Context, value: int, _index: int) -> str:
    """A file descriptor."""
    return ctx.fd(value)


def dec_dirfd(ctx: Context, value: int, _index: int) -> str:
    """A directory fd for a ``*at`` call: ``AT_FDCWD`` (with the cwd under ``-y``)."""
    if value != -100:
        return ctx.fd(value)
    if ctx.verbose_fds:
        cwd = ctx.call.cwd
        return f"AT_FDCWD<{cwd}>" if cwd is not None else "AT_FDCWD"
    return "AT_FDCWD"


@value_only
def dec_mode(_ctx: Context, value: int, _index: int) -> str:
    """Permission bits, in octal as strace prints them (``0644``, ``000``)."""
    return render.octal(value & 0xFFFF)


def enum_of(table: dict[int, str], unknown: str | None = None) -> Decoder:
    """A decoder of one constant of ``table``: its name, or hex with ``unknown`` as a comment
    (``0x63 /* MADV_??? */``)."""

    def decode(_ctx: Context, value: int, _index: int) -> str:
        return render.xval(value, table, unknown)

    decode.__doc__ = f"A constant named by a table ({unknown or 'no default'})."
    STRUCTURED[decode] = lambda _ctx, value, _index: {"raw": value, "name": table.get(value)}
    return value_only(decode)


def flags_of(table: xlat.Flags, unknown: str | None = None, *, zero: str = "0") -> Decoder:
    """A decoder of a set of flags of ``table``: ``A|B|0x40``."""
    text_of = remembered(lambda value: render.flags(value, table, zero=zero, unknown=unknown))

    def decode(_ctx: Context, value: int, _index: int) -> str:
        return text_of(value)

    decode.__doc__ = f"A set of flags named by a table ({unknown or 'no default'})."
    STRUCTURED[decode] = lambda _ctx, value, _index: {
        "raw": value,
        "flags": render.flag_names(value, table),
    }
    return value_only(decode)


def named(name: str, decoder: Decoder) -> Decoder:
    """``decoder``'s text after ``name=``, as strace labels ``clone``'s arguments."""

    def decode(ctx: Context, value: int, index: int) -> str:
        return f"{name}={decoder(ctx, value, index)}"

    decode.__doc__ = f"{name}=..."
    # The structured form has the name already (the argument's key): the value's own form.
    STRUCTURED[decode] = partial(structured_value, decoder)
    return decode


def _open_flags(value: int) -> str:
    """``O_RDONLY|O_CLOEXEC``: an access mode, then the flags in strace's order."""
    value &= 0xFFFFFFFF  # an unsigned int, whatever register it came in
    access = xlat.OPEN_ACCESS[value & 3]
    rest = render.flags(value & ~3, xlat.OPEN_FLAGS, zero="")
    return access + ("|" + rest if rest else "")


open_flags = remembered(_open_flags)


@value_only
def dec_open_flags(_ctx: Context, value: int, _index: int) -> str:
    """``O_RDONLY|O_CLOEXEC``."""
    return open_flags(value)


@value_only
def dec_open_flags_only(_ctx: Context, value: int, _index: int) -> str:
    """``O_CLOEXEC`` (flags of dup3 or pipe2, without an access mode)."""
    return render.flags(value, xlat.OPEN_FLAGS, unknown="O_???")


_at_flags = remembered(lambda value: render.flags(value, xlat.AT_FLAGS, unknown="AT_???"))


@value_only
def dec_at_flags(_ctx: Context, value: int, _index: int) -> str:
    """``AT_*`` flags."""
    return _at_flags(value)


@value_only
def dec_statx_flags(_ctx: Context, value: int, _index: int) -> str:
    """``AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW``: a sync type (always shown, also 0),
    then the ``AT_*`` flags."""
    sync = value & 0x6000
    text = render.xval(sync, xlat.AT_STATX_SYNC)
    rest = value & ~0x6000 & 0xFFFFFFFF
    return f"{text}|{render.flags(rest, xlat.AT_FLAGS)}" if rest else text


@value_only
def dec_access_mode(_ctx: Context, value: int, _index: int) -> str:
    """``F_OK`` or ``R_OK|W_OK``."""
    return render.flags(value, xlat.ACCESS_MODES, zero="F_OK")


PROT_FLAGS = ((1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (0x8, "PROT_SEM"),
         (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"))  # fmt: skip
MAP_HUGE_SHIFT = 26
MAP_TYPES = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
MAP_FLAGS = (
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
)  # fmt: skip


@value_only
def dec_prot(_ctx: Context, value: int, _index: int) -> str:
    """``PROT_READ|PROT_WRITE``."""
    return render.flags(value, PROT_FLAGS, zero="PROT_NONE", unknown="PROT_???")


@value_only
def dec_map_flags(_ctx: Context, value: int, _index: int) -> str:
    """``MAP_PRIVATE|MAP_ANONYMOUS``."""
    kind = MAP_TYPES.get(value & 0xF, f"{value & 0xF:#x} /* MAP_??? */")
    huge = (value >> MAP_HUGE_SHIFT) & 0x3F  # log2 of the huge page size, with MAP_HUGETLB
    rest = render.flags(value & ~0xF & ~(0x3F << MAP_HUGE_SHIFT), MAP_FLAGS, zero="")
    return "|".join(
        part for part in (kind, rest, f"{huge}<<MAP_HUGE_SHIFT" if huge else "") if part
    )


@value_only
def dec_page_offset(ctx: Context, value: int, index: int) -> str:
    """``mmap2``'s offset, counted in pages: strace shows it in bytes, in hex."""
    return dec_hex(ctx, value * 4096, index)


@value_only
def dec_clone_flags(_ctx: Context, value: int, _index: int) -> str:
    """``CLONE_VM|CLONE_FS|...|SIGCHLD``: the low byte is the exit signal."""
    exit_signal = value & 0xFF
    flags = value & ~0xFF
    if not flags:
        return render.signal(exit_signal) if exit_signal else "0"
    text = render.flags(flags, xlat.CLONE_FLAGS, unknown="CLONE_???")
    return f"{text}|{render.signal(exit_signal)}" if exit_signal else text


@value_only
def dec_signal(_ctx: Context, value: int, _index: int) -> str:
    """``SIGTERM``."""
    return render.signal(value) if value else "0"


IOCTL_REQUESTS = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x540F: "TIOCGPGRP",
          0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
          0x5421: "FIONBIO", 0x5451: "FIOCLEX", 0x5450: "FIONCLEX"}  # fmt: skip


@value_only
def dec_ioctl_request(_ctx: Context, value: int, _index: int) -> str:
    """``TCGETS``, or hex."""
    return IOCTL_REQUESTS.get(value & 0xFFFFFFFF, hex(value & 0xFFFFFFFF))


@value_only
def dec_socket_type(_ctx: Context, value: int, _index: int) -> str:
    """``SOCK_STREAM|SOCK_CLOEXEC``."""
    kind = render.xval(value & 0xF, xlat.SOCKET_TYPES, "SOCK_???")
    rest = render.flags(value & ~0xF, xlat.SOCKET_TYPE_FLAGS, zero="")
    return kind + ("|" + rest if rest else "")


def dec_socket_protocol(ctx: Context, value: int, _index: int) -> str:
    """``IPPROTO_TCP``, ``NETLINK_ROUTE``: named by the socket's family (the first argument)."""
    family = ctx.call.args.value(0)
    if family in (2, 10):  # AF_INET, AF_INET6
        return render.xval(value, xlat.INET_PROTOCOLS, "IPPROTO_???")
    if family == 16:  # AF_NETLINK
        return render.xval(value, xlat.NETLINK_PROTOCOLS, "NETLINK_???")
    return str(value & 0xFFFFFFFF)


ARCH_PRCTL_CODES = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
               0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID",
               0x3001: "ARCH_CET_STATUS"}  # fmt: skip


@value_only
def dec_arch_prctl_code(_ctx: Context, value: int, _index: int) -> str:
    """``ARCH_SET_FS``."""
    return ARCH_PRCTL_CODES.get(value, hex(value))


def dec_buffer_in(ctx: Context, value: int, index: int) -> str:
    """A buffer the program passes in, sized by the next argument (``write``)."""
    return ctx.buffer(value, ctx.call.args.value(index + 1))


def dec_buffer_out(ctx: Context, value: int, index: int) -> str:
    """A buffer the kernel filled, as long as the call's result (``read``); at exit."""
    result = ctx.result
    if result is None or result < 0:
        return render.pointer(value)
    # (Not more than the buffer holds: recv with MSG_TRUNC returns the datagram's size.)
    return ctx.buffer(value, min(result, ctx.call.args.value(index + 1)))


def dec_random_out(ctx: Context, value: int, _index: int) -> str:
    """``"\\x27\\x69..."``: the bytes ``getrandom`` wrote, every one in hex as strace has it."""
    if not ctx.succeeded or ctx.result is None:
        return render.pointer(value)
    return ctx.buffer(value, ctx.result, hex_bytes=True)


def dec_cwd_out(ctx: Context, value: int, _index: int) -> str:
    """``"/home/user"``: the directory ``getcwd`` wrote; its result counts the final NUL."""
    result = ctx.result
    if not ctx.succeeded or result is None or result <= 0:
        return render.pointer(value)
    try:
        data = ctx.call.memory.read(value, result - 1, partial=True)
    except OSError:
        return hex(value)
    return render.quote(data.split(b"\0", 1)[0], 4096)


def dec_argv(ctx: Context, value: int, _index: int) -> str:
    """``["ls", "-l"]``: a NULL-terminated array of strings, at most ``-s`` of them (``...``
    after), ``... /* 0x7f... */`` where the array runs into unreadable memory."""
    if value == 0:
        return "NULL"
    word = ctx.word
    items: list[str] = []
    for position in range(ctx.limit + 1):
        here = value + position * word
        try:
            raw = ctx.call.memory.read(here, word)
        except OSError:
            if not items:
                return hex(value)
            items.append(f"... /* {here:#x} */")
            break
        pointer = int.from_bytes(raw, "little")
        if pointer == 0:
            break
        if position == ctx.limit:
            items.append("...")
            break
        items.append(ctx.string(pointer))
    return "[" + ", ".join(items) + "]"


def dec_envp(ctx: Context, value: int, _index: int) -> str:
    """``0x7ffd... /* 23 vars */`` as strace prints an environment (``unterminated`` when
    it runs into unreadable memory)."""
    if value == 0:
        return "NULL"
    word = ctx.word
    count = 0
    ending = ""
    try:
        while int.from_bytes(ctx.call.memory.read(value + count * word, word), "little"):
            count += 1
            if count > 4096:
                break
    except OSError:
        if not count:
            return hex(value)
        ending = ", unterminated"
    return f"{hex(value)} /* {count} var{'' if count == 1 else 's'}{ending} */"
