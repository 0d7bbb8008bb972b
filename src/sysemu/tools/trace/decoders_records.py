"""Decoders of more structures (x86-64 layouts, from the uapi headers): ``statfs``, times
with their date as strace comments them, message queue attributes, extended attribute values,
and signal sets whose size is another argument than the last.
"""

from __future__ import annotations

import struct
import time

from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import Context, unterminated
from sysemu.tools.trace.decoders_structs import sigset_text
from sysemu.tools.trace.xlat import Flags

_STATFS = struct.Struct("<7QiiQQQ32x")  # struct statfs (asm-generic/statfs.h, 64-bit)
_TIMEVAL_PAIR = struct.Struct("<qQqQ")
_TIMESPEC_PAIR = struct.Struct("<qQqQ")
_UTIMBUF = struct.Struct("<qq")
_MQ_ATTR = struct.Struct("<qqqq32x")
_XATTR_SIZE_MAX = 65536
_MQ_FLAGS = {0: "0", 0o4000: "O_NONBLOCK"}  # the one flag a queue has
_UTIME_NOW = (1 << 30) - 1
_UTIME_OMIT = (1 << 30) - 2

FS_MAGICS = {
    0xEF53: "EXT2_SUPER_MAGIC", 0x9FA0: "PROC_SUPER_MAGIC", 0x01021994: "TMPFS_MAGIC",
    0x794C7630: "OVERLAYFS_SUPER_MAGIC", 0x9123683E: "BTRFS_SUPER_MAGIC",
    0x58465342: "XFS_SUPER_MAGIC", 0x62656572: "SYSFS_MAGIC", 0x1CD1: "DEVPTS_SUPER_MAGIC",
    0x63677270: "CGROUP2_SUPER_MAGIC", 0x27E0EB: "CGROUP_SUPER_MAGIC", 0x6969: "NFS_SUPER_MAGIC",
    0x73717368: "SQUASHFS_MAGIC", 0x858458F6: "RAMFS_MAGIC", 0x64626720: "DEBUGFS_MAGIC",
    0x65735546: "FUSE_SUPER_MAGIC", 0x9660: "ISOFS_SUPER_MAGIC", 0x4D44: "MSDOS_SUPER_MAGIC",
    0xCAFE4A11: "BPF_FS_MAGIC", 0x73636673: "SECURITYFS_MAGIC", 0x50495045: "PIPEFS_MAGIC",
    0x534F434B: "SOCKFS_MAGIC", 0x6E736673: "NSFS_MAGIC", 0x958458F6: "HUGETLBFS_MAGIC",
    0x19800202: "MQUEUE_MAGIC", 0xF2F52010: "F2FS_SUPER_MAGIC", 0x2FC12FC1: "ZFS_SUPER_MAGIC",
    0x74726163: "TRACEFS_MAGIC", 0x09041934: "ANON_INODE_FS_MAGIC",
}  # fmt: skip
"""File system types (``linux/magic.h``) by the ``f_type`` ``statfs`` gives."""

STATFS_FLAGS: Flags = (
    (0x1, "ST_RDONLY"), (0x2, "ST_NOSUID"), (0x4, "ST_NODEV"), (0x8, "ST_NOEXEC"),
    (0x10, "ST_SYNCHRONOUS"), (0x20, "ST_VALID"), (0x40, "ST_MANDLOCK"), (0x80, "ST_WRITE"),
    (0x100, "ST_APPEND"), (0x200, "ST_IMMUTABLE"), (0x400, "ST_NOATIME"),
    (0x800, "ST_NODIRATIME"), (0x1000, "ST_RELATIME"), (0x2000, "ST_NOSYMFOLLOW"),
)  # fmt: skip
_ST_VALID = 0x20


def dec_statfs(ctx: Context, value: int, _index: int) -> str:
    """``{f_type=EXT2_SUPER_MAGIC, f_bsize=4096, ..., f_flags=ST_VALID|ST_RELATIME}``."""
    data = ctx.fetch(value, _STATFS.size)
    return render.pointer(value) if data is None else statfs_text(data)


def statfs_text(data: bytes) -> str:
    """A ``struct statfs``'s text from its bytes; the flags only when the kernel says they
    are valid."""
    kind, bsize, blocks, bfree, bavail, files, ffree, fsid0, fsid1, namelen, frsize, flags = (
        _STATFS.unpack(data)
    )
    kind &= 0xFFFFFFFF
    text = (
        f"{{f_type={FS_MAGICS.get(kind, hex(kind))}, f_bsize={bsize}, f_blocks={blocks}, "
        f"f_bfree={bfree}, f_bavail={bavail}, f_files={files}, f_ffree={ffree}, "
        f"f_fsid={{val=[{_hex(fsid0)}, {_hex(fsid1)}]}}, "
        f"f_namelen={namelen}, f_frsize={frsize}"
    )
    if flags & _ST_VALID:
        text += f", f_flags={render.flags(flags, STATFS_FLAGS, unknown='ST_???')}"
    return text + "}"


def _hex(value: int) -> str:
    """C's ``%#x``: ``0`` for zero."""
    value &= 0xFFFFFFFF
    return hex(value) if value else "0"


def date_comment(seconds: int, fraction: int = 0, width: int = 0) -> str:
    """`` /* 2017-04-16T15:31:48.567891+0000 */``: a time's date in local time, as strace
    comments it; nothing for the epoch itself or a fraction out of range."""
    if (seconds == 0 and fraction == 0) or fraction >= 10**width:
        return ""
    try:
        moment = time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return ""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", moment)
    if fraction:
        text += f".{fraction:0{width}d}"
    return f" /* {text}{time.strftime('%z', moment)} */"


def _timeval(seconds: int, microseconds: int) -> str:
    dated = date_comment(seconds, microseconds, 6)
    return f"{{tv_sec={seconds}, tv_usec={microseconds}}}{dated}"


def dec_timeval_pair(ctx: Context, value: int, _index: int) -> str:
    """``[{tv_sec=1, tv_usec=2} /* date */, {...}]``: ``utimes``' access and change times."""
    fields = ctx.unpack(value, _TIMEVAL_PAIR)
    if fields is None:
        return render.pointer(value)
    return f"[{_timeval(*fields[:2])}, {_timeval(*fields[2:])}]"


def _timespec_time(seconds: int, nanoseconds: int) -> str:
    if nanoseconds == _UTIME_NOW:
        return "UTIME_NOW"
    if nanoseconds == _UTIME_OMIT:
        return "UTIME_OMIT"
    dated = date_comment(seconds, nanoseconds, 9)
    return f"{{tv_sec={seconds}, tv_nsec={nanoseconds}}}{dated}"


def dec_timespec_pair(ctx: Context, value: int, _index: int) -> str:
    """``utimensat``'s two times: ``[UTIME_NOW, {tv_sec=1, tv_nsec=2} /* date */]``."""
    fields = ctx.unpack(value, _TIMESPEC_PAIR)
    if fields is None:
        return render.pointer(value)
    return f"[{_timespec_time(*fields[:2])}, {_timespec_time(*fields[2:])}]"


def dec_utimbuf(ctx: Context, value: int, _index: int) -> str:
    """``{actime=1492350678 /* date */, modtime=...}``: ``utime``'s times."""
    fields = ctx.unpack(value, _UTIMBUF)
    if fields is None:
        return render.pointer(value)
    access, change = fields
    return f"{{actime={access}{date_comment(access)}, modtime={change}{date_comment(change)}}}"


def dec_mq_attr(ctx: Context, value: int, _index: int) -> str:
    """``{mq_flags=O_NONBLOCK, mq_maxmsg=10, mq_msgsize=8192, mq_curmsgs=0}``."""
    fields = ctx.unpack(value, _MQ_ATTR)
    if fields is None:
        return render.pointer(value)
    flags, most, size, current = fields
    shown_flags = _MQ_FLAGS.get(flags, hex(flags & 0xFFFFFFFFFFFFFFFF))
    return f"{{mq_flags={shown_flags}, mq_maxmsg={most}, mq_msgsize={size}, mq_curmsgs={current}}}"


def dec_xattr_value(ctx: Context, value: int, index: int) -> str:
    """An extended attribute's value, sized by the next argument: its bytes (a final NUL
    left out), or the address when larger than the kernel takes."""
    size = ctx.call.args.value(index + 1)
    if size > _XATTR_SIZE_MAX or size < 0:
        return render.pointer(value)
    if value == 0:
        return "NULL"
    want = min(size, ctx.limit)
    data = ctx.fetch(value, want) if want else b""
    if data is None:
        return render.pointer(value)
    if size <= ctx.limit and data.endswith(b"\0"):
        return render.quote(data[:-1], ctx.limit)
    return render.quote(data, ctx.limit, more=size > ctx.limit)


def dec_sigset_next(ctx: Context, value: int, index: int) -> str:
    """A signal set sized by the next argument (``signalfd4``), taken when it is 8 bytes."""
    size = ctx.call.args.value(index + 1)
    if size != 8:
        return render.pointer(value)
    data = ctx.fetch(value, size)
    return render.pointer(value) if data is None else sigset_text(data)


def dec_sigset_any(ctx: Context, value: int, index: int) -> str:
    """A signal set the kernel stored, of the size the next argument gives, up to 8 bytes
    (``rt_sigpending`` stores as many as asked for)."""
    size = ctx.call.args.value(index + 1)
    if not 0 < size <= 8:
        return render.pointer(value)
    data = ctx.fetch(value, size)
    return render.pointer(value) if data is None else sigset_text(data)


_MS_MGC_VAL = 0xC0ED0000
_MS_MGC_MASK = 0xFFFF0000
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_MOVE = 0x2000
_MS_PROPAGATION = 0x20000 | 0x40000 | 0x80000 | 0x100000  # UNBINDABLE PRIVATE SLAVE SHARED


def mount_flags(value: int, table: Flags) -> str:
    """``MS_MGC_VAL|MS_RDONLY``: the flags, after the magic number old programs put in the
    high half."""
    value &= 0xFFFFFFFFFFFFFFFF
    parts = []
    if value & _MS_MGC_MASK == _MS_MGC_VAL:
        parts.append("MS_MGC_VAL")
        value &= ~_MS_MGC_MASK
    if value or not parts:
        parts.append(render.flags(value, table, unknown="MS_???"))
    return "|".join(parts)


def _without_magic(flags: int) -> int:
    return flags & ~_MS_MGC_MASK if flags & _MS_MGC_MASK == _MS_MGC_VAL else flags


def dec_mount_type(ctx: Context, value: int, _index: int) -> str:
    """``mount``'s file system type: unused (its address) when remounting, binding, moving or
    changing propagation."""
    flags = _without_magic(ctx.call.args.value(3))
    if flags & (_MS_REMOUNT | _MS_BIND | _MS_MOVE | _MS_PROPAGATION):
        return render.pointer(value)
    return ctx.string(value)


def dec_mount_data(ctx: Context, value: int, _index: int) -> str:
    """``mount``'s data, a string of options: unused (its address) when binding, moving or
    changing propagation."""
    flags = _without_magic(ctx.call.args.value(3))
    if flags & (_MS_BIND | _MS_MOVE | _MS_PROPAGATION) and not flags & _MS_REMOUNT:
        return render.pointer(value)
    return ctx.string(value)


_MEMFD_NAME_MAX = 250  # 255 bytes of a dentry name, less "memfd:", and one to see it go on


def dec_memfd_name(ctx: Context, value: int, _index: int) -> str:
    """``memfd_create``'s name: up to the longest the kernel takes, with ``...`` after a
    longer one; the address when unreadable before its end."""
    if value == 0:
        return "NULL"
    try:
        data = ctx.call.memory.read_cstring(value, _MEMFD_NAME_MAX)
    except OSError:
        return render.pointer(value)
    if len(data) < _MEMFD_NAME_MAX and unterminated(ctx.call, value + len(data)):
        return render.pointer(value)
    return render.quote(data, _MEMFD_NAME_MAX, more=len(data) == _MEMFD_NAME_MAX)


_MPOL_MODE_FLAGS = ((1 << 15, "MPOL_F_STATIC_NODES"), (1 << 14, "MPOL_F_RELATIVE_NODES"),
                    (1 << 13, "MPOL_F_NUMA_BALANCING"))  # fmt: skip
_MPOL_MODES = ("MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL",
               "MPOL_PREFERRED_MANY")  # fmt: skip
_WORD = struct.Struct("<Q")


def mempolicy_mode(value: int) -> str:
    """``MPOL_BIND|MPOL_F_STATIC_NODES``: a memory policy and its mode flags."""
    value = render.unsigned(value)
    flags = [name for bit, name in _MPOL_MODE_FLAGS if value & bit]
    mode = value & ~0xE000
    if mode < len(_MPOL_MODES):
        return "|".join([_MPOL_MODES[mode], *flags])
    if flags:
        return "|".join([*flags, hex(mode)])
    return f"{hex(mode)} /* MPOL_??? */"


def dec_mempolicy_mode(_ctx: Context, value: int, _index: int) -> str:
    """See :func:`mempolicy_mode`."""
    return mempolicy_mode(value)


def _node_mask(ctx: Context, value: int, index: int, reader: Context) -> str:
    """A node mask of as many bits as the next argument says, less one (the kernel's count),
    as 64-bit words in hex."""
    nodes = ctx.call.args.value(index + 1) & 0xFFFFFFFFFFFFFFFF
    if value == 0:
        return "NULL"
    if nodes == 0:
        return "[]"
    words = (nodes - 1 + 63) // 64
    if words == 0:
        return render.pointer(value)
    items: list[str] = []
    for position in range(words):
        here = value + position * _WORD.size
        fields = reader.unpack(here, _WORD)
        if fields is None:
            if not items:
                return render.pointer(value)
            items.append(f"... /* {here:#x} */")
            break
        if position >= ctx.limit:
            items.append("...")
            break
        items.append(f"{fields[0]:016x}")
    return "[" + ", ".join(items) + "]"


def dec_node_mask_in(ctx: Context, value: int, index: int) -> str:
    """A node mask the program passes (``set_mempolicy``, ``mbind``)."""
    return _node_mask(ctx, value, index, Context(ctx.call, limit=ctx.limit, exiting=False))


def dec_node_mask_out(ctx: Context, value: int, index: int) -> str:
    """A node mask the kernel filled (``get_mempolicy``)."""
    if not ctx.succeeded:
        return render.pointer(value)
    return _node_mask(ctx, value, index, ctx)


def dec_mempolicy_out(ctx: Context, value: int, _index: int) -> str:
    """``[MPOL_DEFAULT]``: the policy ``get_mempolicy`` stored."""
    fields = ctx.unpack(value, struct.Struct("<i"))
    return render.pointer(value) if fields is None else f"[{mempolicy_mode(fields[0])}]"


_OPEN_HOW = struct.Struct("<QQQ")
_OPEN_HOW_FLAGS_WITH_MODE = 0o100 | 0o20000000  # O_CREAT, __O_TMPFILE
RESOLVE_FLAGS: Flags = (
    (0x1, "RESOLVE_NO_XDEV"), (0x2, "RESOLVE_NO_MAGICLINKS"), (0x4, "RESOLVE_NO_SYMLINKS"),
    (0x8, "RESOLVE_BENEATH"), (0x10, "RESOLVE_IN_ROOT"), (0x20, "RESOLVE_CACHED"),
)  # fmt: skip


def extra_bytes(ctx: Context, address: int, start: int, size: int) -> str:
    """What strace shows of a structure's bytes past those it knows (a size the program
    gives): nothing when they are zero, ``???`` when unreadable, else the bytes in hex."""
    if size <= start:
        return ""
    data = ctx.fetch(address + start, min(size - start, ctx.limit + 1))
    if data is None:
        return ", ???"
    if not any(data):
        return ""
    shown = render.quote(data, ctx.limit, hex_bytes=True, more=size - start > ctx.limit)
    return f", /* bytes {start}..{size - 1} */ {shown}"


def dec_open_how(ctx: Context, value: int, index: int) -> str:
    """``{flags=O_RDONLY|O_CREAT, mode=0644, resolve=RESOLVE_NO_XDEV}``: ``openat2``'s
    request, sized by the next argument (the mode only when it matters or is set)."""
    size = ctx.call.args.value(index + 1)
    if value == 0 or size < _OPEN_HOW.size:
        return render.pointer(value)
    fields = ctx.unpack(value, _OPEN_HOW)
    if fields is None:
        return render.pointer(value)
    flags, mode, resolve = fields
    access = xlat.OPEN_ACCESS[flags & 3]
    text = "|".join([access, *render.flag_names(flags & ~3, xlat.OPEN_FLAGS)])
    parts = [f"flags={text}"]
    if flags & _OPEN_HOW_FLAGS_WITH_MODE or mode:
        parts.append(f"mode={render.octal(mode)}")
    parts.append(f"resolve={render.flags(resolve, RESOLVE_FLAGS, unknown='RESOLVE_???')}")
    return "{" + ", ".join(parts) + extra_bytes(ctx, value, _OPEN_HOW.size, size) + "}"


_TIMEX = struct.Struct("<I4xqqqqi4xqqqqqqqqi4xqqqqqi44x")
_ADJ_MODES: Flags = (
    (0xA001, "ADJ_OFFSET_SS_READ"), (0x8001, "ADJ_OFFSET_SINGLESHOT"), (0x1, "ADJ_OFFSET"),
    (0x2, "ADJ_FREQUENCY"), (0x4, "ADJ_MAXERROR"), (0x8, "ADJ_ESTERROR"), (0x10, "ADJ_STATUS"),
    (0x20, "ADJ_TIMECONST"), (0x80, "ADJ_TAI"), (0x100, "ADJ_SETOFFSET"), (0x1000, "ADJ_MICRO"),
    (0x2000, "ADJ_NANO"), (0x4000, "ADJ_TICK"),
)  # fmt: skip
_STA_STATUS: Flags = tuple((1 << bit, "STA_" + name) for bit, name in enumerate((
    "PLL", "PPSFREQ", "PPSTIME", "FLL", "INS", "DEL", "UNSYNC", "FREQHOLD", "PPSSIGNAL",
    "PPSJITTER", "PPSWANDER", "PPSERROR", "CLOCKERR", "NANO", "MODE", "CLK")))  # fmt: skip
CLOCK_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT",
                5: "TIME_ERROR"}  # fmt: skip


def dec_timex(ctx: Context, value: int, _index: int) -> str:
    """``{modes=0, offset=0, ..., status=STA_UNSYNC, ..., time={...}, ..., tai=0}``: the clock
    state ``adjtimex`` read and set."""
    fields = ctx.unpack(value, _TIMEX)
    if fields is None:
        return render.pointer(value)
    (modes, offset, freq, maxerror, esterror, status, constant, precision, tolerance, seconds,
     microseconds, tick, ppsfreq, jitter, shift, stabil, jitcnt, calcnt, errcnt, stbcnt,
     tai) = fields  # fmt: skip
    return (
        f"{{modes={render.flags(modes, _ADJ_MODES, unknown='ADJ_???')}, offset={offset}, "
        f"freq={freq}, maxerror={maxerror}, esterror={esterror}, "
        f"status={render.flags(status, _STA_STATUS, unknown='STA_???')}, "
        f"constant={constant}, precision={precision}, tolerance={tolerance}, "
        f"time={{tv_sec={seconds}, tv_usec={microseconds}}}, tick={tick}, ppsfreq={ppsfreq}, "
        f"jitter={jitter}, shift={shift}, stabil={stabil}, jitcnt={jitcnt}, calcnt={calcnt}, "
        f"errcnt={errcnt}, stbcnt={stbcnt}, tai={tai}}}"
    )


def return_clock_state(_ctx: Context, value: int) -> str | None:
    """``adjtimex``'s result: the clock's state by name."""
    name = CLOCK_STATES.get(value)
    return f"{value} ({name})" if name else None
