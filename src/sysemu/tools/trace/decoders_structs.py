"""Decoders of structures and arrays in the tracee's memory, one small function per type.

Each reads what strace reads when strace reads it: structures the program passes in at entry,
structures the kernel fills in at exit and only when the call succeeded (strace prints the
address otherwise, as it does for NULL or unreadable memory).

Structure layouts come from :mod:`sysemu.abi.layouts`, per ABI; where an ABI has no layout
there, the decoder prints the address. Layouts made of fixed-size fields (``rlimit64``,
``statx``, ``sockaddr``, ``pollfd``, signal sets, ``int`` arrays, ``utsname``) are decoded for
every ABI.
"""

from __future__ import annotations

import os
import struct

from sysemu.abi import RESTART_ERRNOS, Abi
from sysemu.abi import layouts as abi_layouts
from sysemu.abi import sockaddr as sockaddr_layout
from sysemu.abi.layouts import Layout
from sysemu.kernel.arch import native_abi
from sysemu.tools.trace import render, xlat
from sysemu.tools.trace.context import Context

_INT = struct.Struct("<i")

# --- Files ----------------------------------------------------------------------------------


def dec_stat(ctx: Context, value: int, _index: int) -> str:
    """``{st_mode=S_IFREG|0644, st_size=12, ...}``: a ``struct stat`` filled by the kernel."""
    # 32-bit programs get the address: their stat layouts differ by call, and strace-like
    # output for them is not implemented (tests/test_trace_decoders.py holds it).
    layout = abi_layouts.stat_layout(ctx.call.name, ctx.call.abi) if ctx.native else None
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return render.pointer(value)
    mode = fields[layout.index("st_mode")]
    rdev = fields[layout.index("st_rdev")]
    size = fields[layout.index("st_size")]
    kind = mode & 0o170000
    if kind in (0o20000, 0o60000):  # character and block devices show their numbers
        device = f"makedev({os.major(rdev):#x}, {os.minor(rdev):#x})"
        return f"{{st_mode={render.mode(mode)}, st_rdev={device}, ...}}"
    return f"{{st_mode={render.mode(mode)}, st_size={size}, ...}}"


_STATX_HEAD = abi_layouts.STATX.head("stx_size")  # what strace reads of it
_STATX_TYPE_OR_MODE = 0x3
_STATX_SIZE = 0x200


def dec_statx(ctx: Context, value: int, _index: int) -> str:
    """``{stx_mask=STATX_BASIC_STATS, stx_attributes=0, stx_mode=S_IFDIR|0755, stx_size=4096,
    ...}``: the fields strace shows of a ``struct statx`` (the same layout on every ABI)."""
    fields = ctx.unpack(value, _STATX_HEAD.codec)
    if fields is None:
        return render.pointer(value)
    mask, _blksize, attributes, _nlink, _uid, _gid, mode, _ino, size = fields
    parts = [
        f"stx_mask={render.flags(mask, xlat.STATX_MASK, unknown='STATX_???')}",
        f"stx_attributes={render.flags(attributes, xlat.STATX_ATTRS, unknown='STATX_ATTR_???')}",
    ]
    if mask & _STATX_TYPE_OR_MODE:
        parts.append(f"stx_mode={render.mode(mode)}")
    if mask & _STATX_SIZE:
        parts.append(f"stx_size={size}")
    return "{" + ", ".join(parts) + ", ...}"


_DIRENT64_HEAD = 19  # offsetof(struct linux_dirent64, d_name)


def dec_dirents(ctx: Context, value: int, _index: int) -> str:
    """``0x55... /* 15 entries */``: the entries ``getdents64`` wrote, counted."""
    result = ctx.result
    count_limit = ctx.call.args.value(2)
    if not ctx.succeeded or result is None or result > count_limit:
        return render.pointer(value)
    try:
        data = ctx.call.memory.read(value, result, partial=True) if result else b""
    except OSError:
        data = b""
    count = offset = 0
    left = result
    while left >= _DIRENT64_HEAD and offset + _DIRENT64_HEAD <= len(data):
        count += 1
        reclen = int.from_bytes(data[offset + 16 : offset + 18], "little")
        # A record shorter than its header or longer than what is left: strace stops there.
        step = min(max(reclen, _DIRENT64_HEAD), left)
        left -= step
        offset += step
    return f"{render.pointer(value)} /* {count}{'+' if left else ''} entries */"


# --- Processes and limits -------------------------------------------------------------------


def _rlim(value: int, infinity: int, name: str) -> str:
    if value == infinity:
        return name
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def _rlimit(ctx: Context, value: int, layout: Layout | None) -> str:
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return render.pointer(value)
    return _rlimit_text(fields, layout)


def _rlimit_text(fields: tuple[int, ...], layout: Layout) -> str:
    infinity = (1 << layout.size * 4) - 1  # all ones in one field
    name = "RLIM64_INFINITY" if layout.size == 16 else "RLIM_INFINITY"
    current, maximum = (_rlim(field, infinity, name) for field in fields)
    return f"{{rlim_cur={current}, rlim_max={maximum}}}"


def dec_rlimit64(ctx: Context, value: int, _index: int) -> str:
    """``{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}`` (always two 64-bit fields)."""
    return _rlimit(ctx, value, abi_layouts.RLIMIT64)


def rlimit64_text(data: bytes) -> str:
    """A ``struct rlimit64``'s text from its 16 bytes (what the C trace writer asks for)."""
    layout = abi_layouts.RLIMIT64
    return _rlimit_text(layout.codec.unpack(data), layout)


def dec_rlimit(ctx: Context, value: int, _index: int) -> str:
    """``getrlimit``'s limits: two longs, of 4 bytes on i386 (``RLIM_INFINITY``)."""
    return _rlimit(ctx, value, abi_layouts.RLIMIT.get(ctx.call.abi))


def wait_status(status: int) -> str:
    """``{WIFEXITED(s) && WEXITSTATUS(s) == 0}`` and the other forms of a wait status."""
    low = status & 0x7F
    if status & 0xFF == 0x7F:
        signal = status >> 8 & 0xFF
        text = f"{{WIFSTOPPED(s) && WSTOPSIG(s) == {render.signal(signal & 0x7F)}"
        text += " | 0x80}" if signal & 0x80 else "}"
        rest = status & ~(signal << 8 | 0x7F)
    elif low not in (0, 0x7F):
        core = " && WCOREDUMP(s)" if status & 0x80 else ""
        text = f"{{WIFSIGNALED(s) && WTERMSIG(s) == {render.signal(low)}{core}}}"
        rest = status & ~0xFF
    elif low == 0:
        text = f"{{WIFEXITED(s) && WEXITSTATUS(s) == {status >> 8 & 0xFF}}}"
        rest = status & ~0xFF00
    elif status == 0xFFFF:
        text, rest = "{WIFCONTINUED(s)}", 0
    else:
        return f"[{status:#x}]"
    rest &= 0xFFFFFFFF
    if rest >> 16:
        text += f"|{rest >> 16:#x}<<16"
        rest &= 0xFFFF
    if rest:
        text += f"|{rest:#x}"
    return f"[{text}]"


def dec_wait_status(ctx: Context, value: int, _index: int) -> str:
    """``[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]``: the status ``wait4`` stored, when it
    reaped a child (strace prints the address when the result is 0)."""
    fields = ctx.unpack(value, _INT) if ctx.result else None
    return render.pointer(value) if fields is None else wait_status(fields[0] & 0xFFFFFFFF)


def dec_rusage(ctx: Context, value: int, _index: int) -> str:
    """``{ru_utime={tv_sec=0, tv_usec=1612}, ru_stime={tv_sec=0, tv_usec=0}, ...}``."""
    if ctx.call.name == "wait4" and not (ctx.result and ctx.result > 0):
        return render.pointer(value)
    layout = abi_layouts.RUSAGE_TIMES.get(ctx.call.abi) if ctx.native else None
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return render.pointer(value)
    user = f"{{tv_sec={fields[0]}, tv_usec={fields[1]}}}"
    system = f"{{tv_sec={fields[2]}, tv_usec={fields[3]}}}"
    return f"{{ru_utime={user}, ru_stime={system}, ...}}"


def dec_fd_pair(ctx: Context, value: int, _index: int) -> str:
    """``[3<pipe:[96397]>, 4<pipe:[96397]>]``: the two fds ``pipe2`` or ``socketpair`` made."""
    data = ctx.fetch(value, 8)
    if data is None:
        return render.pointer(value)
    first, second = struct.unpack("<ii", data)
    return f"[{ctx.fd(first)}, {ctx.fd(second)}]"


def dec_int_out(ctx: Context, value: int, _index: int) -> str:
    """``[1]``: an ``int`` the kernel stored."""
    fields = ctx.unpack(value, _INT)
    return render.pointer(value) if fields is None else f"[{fields[0]}]"


def dec_sysinfo(ctx: Context, value: int, _index: int) -> str:
    """``{uptime=2930, loads=[59712, 45888, 37664], totalram=..., ..., mem_unit=1}``."""
    layout = abi_layouts.SYSINFO.get(ctx.call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if fields is None:
        return render.pointer(value)
    return _sysinfo_text(fields)


def sysinfo_text(data: bytes) -> str:
    """A ``struct sysinfo``'s text from its bytes in the native ABI's layout (what the C trace
    writer asks for)."""
    return _sysinfo_text(abi_layouts.SYSINFO[native_abi()].codec.unpack(data))


def _sysinfo_text(fields: tuple[int, ...]) -> str:
    uptime, load1, load5, load15, *memory = fields
    ram = ("totalram", "freeram", "sharedram", "bufferram", "totalswap", "freeswap")
    procs, _pad, totalhigh, freehigh, mem_unit = memory[6:]
    parts = [f"uptime={uptime}", f"loads=[{load1}, {load5}, {load15}]"]
    parts += [f"{name}={amount}" for name, amount in zip(ram, memory[:6], strict=True)]
    parts += [f"procs={procs}", f"totalhigh={totalhigh}", f"freehigh={freehigh}"]
    parts.append(f"mem_unit={mem_unit}")
    return "{" + ", ".join(parts) + "}"


_UTSNAME_FIELD = 65


def dec_utsname(ctx: Context, value: int, _index: int) -> str:
    """``{sysname="Linux", nodename="vm", ...}`` (strace's abbreviated form)."""
    data = ctx.fetch(value, 2 * _UTSNAME_FIELD)
    if data is None:
        return render.pointer(value)
    names = [data[i : i + _UTSNAME_FIELD].split(b"\0", 1)[0] for i in (0, _UTSNAME_FIELD)]
    shown = [render.quote(name, _UTSNAME_FIELD) for name in names]
    return f"{{sysname={shown[0]}, nodename={shown[1]}, ...}}"


# --- Time -----------------------------------------------------------------------------------


def dec_timespec(ctx: Context, value: int, _index: int) -> str:
    """``{tv_sec=0, tv_nsec=100000000}``: 64-bit fields, or 32-bit ones for the i386 calls
    without ``_time64`` in their name."""
    call = ctx.call
    time64 = call.name.endswith("_time64")
    layout = abi_layouts.TIMESPEC64 if time64 else abi_layouts.TIMESPEC.get(call.abi)
    fields = ctx.unpack(value, layout.codec) if layout is not None else None
    if layout is None or fields is None:
        return render.pointer(value)
    nsec_bits = 8 * layout.field("tv_nsec")[1]  # shown unsigned, as strace zero-extends it
    return f"{{tv_sec={fields[0]}, tv_nsec={fields[1] & ((1 << nsec_bits) - 1)}}}"


def dec_remaining(ctx: Context, value: int, index: int) -> str:
    """The time left of an interrupted sleep: a ``timespec`` only when the call is to be
    restarted (and, for ``clock_nanosleep``, is not ``TIMER_ABSTIME``), else the address."""
    result = ctx.result
    restarted = result is not None and -result in RESTART_ERRNOS
    relative = not ctx.call.name.startswith("clock_") or ctx.call.args.value(1) == 0
    if not (restarted and relative):
        return render.pointer(value)
    # The kernel wrote the time left although the call "failed": read it as at entry.
    entry = Context(ctx.call, limit=ctx.limit, exiting=False)
    return dec_timespec(entry, value, index)


# --- Signals --------------------------------------------------------------------------------


def dec_sigset(ctx: Context, value: int, _index: int) -> str:
    """``[INT TERM]``, ``~[]``: a signal set whose size is the call's last argument (as in
    ``rt_sigprocmask``); an address when the size is not one the kernel takes."""
    params = ctx.call.syscall.params
    size = ctx.call.args.value(len(params) - 1)
    if size < ctx.word or size > 8:
        return render.pointer(value)
    data = ctx.fetch(value, size)
    if data is None:
        return render.pointer(value)
    return sigset_text(data)


def sigset_text(data: bytes) -> str:
    """``[INT TERM]``: a signal set of ``len(data)`` bytes."""
    return render.sigset(int.from_bytes(data, "little"), len(data))


_SIG_ERR_32 = 0xFFFFFFFF


def dec_sigaction(ctx: Context, value: int, _index: int) -> str:
    """``{sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7f...}``."""
    layout = abi_layouts.SIGACTION.get(ctx.call.abi)
    data = ctx.fetch(value, layout.size) if layout is not None else None
    if layout is None or data is None:
        return render.pointer(value)
    return sigaction_text(data, ctx.call.abi)


def sigaction_text(data: bytes, abi: Abi | None = None) -> str:
    """The text of a ``struct sigaction`` of ``abi`` (the machine's native one unless given;
    ``data``: its bytes)."""
    abi = abi or native_abi()
    handler, flags, restorer, mask = abi_layouts.SIGACTION[abi].unpack(data)
    if handler == _SIG_ERR_32 and abi.pointer_size == 4:
        handler = 0xFFFFFFFFFFFFFFFF
    text = (
        f"{{sa_handler={xlat.SA_HANDLERS.get(handler) or render.pointer(handler)}, "
        f"sa_mask={render.sigset(mask)}, "
        f"sa_flags={render.flags(flags, xlat.SA_FLAGS, unknown='SA_???')}"
    )
    if flags & xlat.SA_RESTORER:
        text += f", sa_restorer={render.pointer(restorer)}"
    return text + "}"


def dec_sigreturn_mask(ctx: Context, _value: int, _index: int) -> str:
    """``{mask=[INT]}``: ``rt_sigreturn``'s argument as strace shows it (the ABIs whose signal
    frame :data:`sysemu.abi.layouts.SIGRETURN_MASK_FROM_SP` knows)."""
    from_sp = abi_layouts.SIGRETURN_MASK_FROM_SP.get(ctx.call.abi)
    address = ctx.call.sp + (from_sp or 0)
    data = ctx.fetch(address, 8) if from_sp is not None and ctx.call.sp else None
    mask = hex(address) if data is None else render.sigset(int.from_bytes(data, "little"))
    return f"{{mask={mask}}}"


# --- Sockets and polling --------------------------------------------------------------------


def _unix_path(data: bytes) -> str:
    path = data[2:]
    if path[:1] != b"\0":
        return "sun_path=" + render.quote(path.split(b"\0", 1)[0], 4096)
    return "sun_path=@" + render.quote(path[1:], 4096)


def _scope(index: int) -> str:
    import socket  # noqa: PLC0415  (the socket module costs 2-4 ms of every trace's start-up)

    try:
        return f'if_nametoindex("{socket.if_indextoname(index)}")'
    except OSError:
        return str(index)


def sockaddr(data: bytes) -> str:
    """``{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.0.0.1")}`` for the
    ``len(data)`` bytes of a socket address (at least the 2 of its family)."""
    family = int.from_bytes(data[:2], "little")
    head = f"sa_family={render.xval(family, xlat.ADDRESS_FAMILIES, 'AF_???')}"
    size = len(data)
    if size <= 2:
        return f"{{{head}}}"
    inet = family in (sockaddr_layout.AF_INET, sockaddr_layout.AF_INET6)
    address = sockaddr_layout.decode(data) if inet else None
    if family == sockaddr_layout.AF_UNIX:
        body = _unix_path(data)
    elif family == sockaddr_layout.AF_INET and address is not None and address.host:
        body = f'sin_port=htons({address.port}), sin_addr=inet_addr("{address.host}")'
    elif family == sockaddr_layout.AF_INET6 and address is not None and address.host:
        body = (
            f"sin6_port=htons({address.port}), sin6_flowinfo=htonl({address.flowinfo}), "
            f'inet_pton(AF_INET6, "{address.host}", &sin6_addr)'
        )
        if size > 24:
            scope = address.scope_id
            link_local = data[8] == 0xFE and data[9] & 0xC0 == 0x80
            multicast_link = data[8] == 0xFF and data[9] & 0x0F == 0x2
            shown = _scope(scope) if link_local or multicast_link else str(scope)
            body += f", sin6_scope_id={shown}"
    elif family == sockaddr_layout.AF_NETLINK and size >= 12:
        pad = int.from_bytes(data[2:4], "little")
        pid, groups = struct.unpack("<iI", data[4:12])
        body = f"nl_pad={pad:#x}, " if pad else ""
        body += f"nl_pid={pid}, nl_groups={render.hex0(groups, 8)}"
    else:
        body = f"sa_data={render.quote(data[2:], 4096)}"
    return f"{{{head}, {body}}}"


_SOCKADDR_MAX = sockaddr_layout.SOCKADDR_STORAGE_SIZE


def read_sockaddr(ctx: Context, address: int, length: int) -> str:
    """The socket address of ``length`` bytes at ``address``, or the address."""
    if length < 2:
        return render.pointer(address)
    data = ctx.fetch(address, min(length, _SOCKADDR_MAX))
    return render.pointer(address) if data is None else sockaddr(data)


def dec_sockaddr(ctx: Context, value: int, index: int) -> str:
    """A socket address the program passes in, sized by the next argument (``connect``)."""
    return read_sockaddr(ctx, value, ctx.call.args.value(index + 1))


def dec_socklen(ctx: Context, value: int, index: int) -> str:
    """``[110 => 15]``: a socket address length the kernel updates (``getsockname``,
    ``accept``); a :data:`~sysemu.tools.trace.context.BOTH` decoder. At entry its text is the
    length the program offered, or nothing when strace would not read it (a NULL address)."""
    if not ctx.exiting:
        fields = ctx.unpack(value, _INT) if ctx.call.args.value(index - 1) else None
        return "" if fields is None else str(fields[0])
    offered = ctx.saved.get(index)
    if not offered:
        return render.pointer(value)
    fields = ctx.unpack(value, _INT)
    if fields is None:
        return f"[{offered}]"
    returned = str(fields[0])
    return f"[{returned}]" if returned == offered else f"[{offered} => {returned}]"


def dec_sockaddr_out(ctx: Context, value: int, index: int) -> str:
    """A socket address the kernel filled (``getsockname``, ``accept``): as long as the
    smaller of the length offered (the next argument, read at entry) and the one returned."""
    offered = ctx.saved.get(index + 1)
    fields = ctx.unpack(ctx.call.args.value(index + 1), _INT) if offered else None
    if offered is None or fields is None:
        return render.pointer(value)
    return read_sockaddr(ctx, value, min(int(offered), fields[0]))


_POLLFD = struct.Struct("<ihh")


def dec_pollfds(ctx: Context, value: int, index: int) -> str:
    """``[{fd=3, events=POLLIN}, {fd=-1}]``: the ``pollfd`` array, as long as the next
    argument says (cut after as many elements as the string limit, as strace does)."""
    count = ctx.call.args.value(index + 1) & 0xFFFFFFFF
    if value == 0 or count == 0:
        return "NULL" if value == 0 else "[]"
    items: list[str] = []
    for position in range(count):
        if position >= ctx.limit:
            items.append("...")
            break
        fields = ctx.unpack(value + position * _POLLFD.size, _POLLFD)
        if fields is None:
            if not items:
                return render.pointer(value)
            items.append(f"... /* {render.pointer(value + position * _POLLFD.size)} */")
            break
        fd, events, _revents = fields
        if fd < 0:
            items.append(f"{{fd={fd}}}")
        else:
            shown = render.flags(events & 0xFFFF, xlat.POLL_FLAGS, unknown="POLL???")
            items.append(f"{{fd={ctx.fd(fd)}, events={shown}}}")
    return "[" + ", ".join(items) + "]"


def poll_revents(ctx: Context, address: int, count: int) -> str:
    """``[{fd=7, revents=POLLOUT}]``: the fds with events, as strace writes after ``poll``'s
    result (fds without their paths)."""
    items: list[str] = []
    for position in range(count):
        fields = ctx.unpack(address + position * _POLLFD.size, _POLLFD)
        if fields is None:
            items.append(hex(address + position * _POLLFD.size))
            break
        fd, _events, revents = fields
        if not revents:
            continue
        if len(items) >= ctx.limit:
            items.append("...")
            break
        items.append(f"{{fd={fd}, revents={render.flags(revents & 0xFFFF, xlat.POLL_FLAGS)}}}")
    return "[" + ", ".join(items) + "]" if items else ""


# --- Credentials and CPUs -------------------------------------------------------------------

_NGROUPS_MAX = 65536


def dec_groups_out(ctx: Context, value: int, _index: int) -> str:
    """``[0, 27]``: the group ids ``getgroups`` stored, as many as its result says."""
    count = ctx.result
    if not ctx.succeeded or count is None or count > _NGROUPS_MAX:
        return render.pointer(value)
    return _gid_array(ctx, value, count)


def dec_groups_in(ctx: Context, value: int, index: int) -> str:
    """The group ids ``setgroups`` sets, as many as the argument before says."""
    count = ctx.call.args.value(index - 1) & 0xFFFFFFFF
    return render.pointer(value) if count > _NGROUPS_MAX else _gid_array(ctx, value, count)


def _gid_array(ctx: Context, address: int, count: int) -> str:
    if address == 0:
        return "NULL"
    items: list[str] = []
    for position in range(count):
        fields = ctx.unpack(address + 4 * position, struct.Struct("<I"))
        if fields is None:
            if not items:
                return render.pointer(address)
            items.append(f"... /* {render.pointer(address + 4 * position)} */")
            break
        if position >= ctx.limit:
            items.append("...")
            break
        items.append("-1" if fields[0] == 0xFFFFFFFF else str(fields[0]))
    return "[" + ", ".join(items) + "]"


def cpu_set(ctx: Context, address: int, size: int) -> str:
    """``[0 1]``: the CPUs of the mask of ``size`` bytes at ``address``."""
    if size == 0:
        return "[]"
    data = ctx.fetch(address, size)
    if data is None:
        return render.pointer(address)
    mask = int.from_bytes(data, "little")
    return "[" + " ".join(str(cpu) for cpu in range(size * 8) if mask >> cpu & 1) + "]"


def dec_cpu_set_out(ctx: Context, value: int, _index: int) -> str:
    """``[0 1]``: the CPUs ``sched_getaffinity`` stored (its result is their size)."""
    result = ctx.result
    if not ctx.succeeded or result is None or value == 0:
        return render.pointer(value)
    return cpu_set(ctx, value, result)


def dec_cpu_set_in(ctx: Context, value: int, index: int) -> str:
    """``[0 1]``: the CPUs ``sched_setaffinity`` allows (the argument before is their size)."""
    return cpu_set(ctx, value, ctx.call.args.value(index - 1) & 0xFFFFFFFF) if value else "NULL"
