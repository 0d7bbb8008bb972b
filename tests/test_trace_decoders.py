"""The trace decoders, one by one, on fake calls whose registers and memory the test sets.

A :class:`FakeCall` has what a decoder reads from a call (its syscall entry and ABI, argument
values, memory, the stack pointer, fd paths); :func:`line` runs the decoders the way the tracer
does (entry, then the kernel's writes, then exit) and returns the line strace would print.
"""

from __future__ import annotations

import errno
import io
import socket
import struct
from collections.abc import Callable
from typing import cast

import pytest

from sysemu.abi import Abi, ArgKind, syscall_by_name, syscalls
from sysemu.abi.fcntl import O_DIRECTORY, O_LARGEFILE, O_TMPFILE  # (arm moves them)
from sysemu.api.call import Call
from sysemu.api.decisions import Outcome, Result
from sysemu.tools.trace import TraceObserver, render, xlat
from sysemu.tools.trace.context import BOTH, ENTRY, Context
from sysemu.tools.trace.decoders import decode_return, shown_arguments
from sysemu.tools.trace.decoders_scalar import flags_of, open_flags
from sysemu.tools.trace.render import REMEMBERED
from sysemu.tools.trace.tracer import _narrowed, _Plan

STACK = 0x7FFD0000  # where the tests put structures


class FakeMemory:
    """Tracee memory: a few regions, anything else unmapped."""

    def __init__(self) -> None:
        self.regions: dict[int, bytearray] = {}

    def put(self, address: int, data: bytes) -> int:
        self.regions[address] = bytearray(data)
        return address

    def read(self, address: int, size: int, *, partial: bool = False) -> bytes:
        for start, data in self.regions.items():
            if start <= address < start + len(data):
                chunk = bytes(data[address - start : address - start + size])
                if len(chunk) == size or partial:
                    return chunk
        raise OSError(errno.EFAULT, f"unmapped {address:#x}")

    def read_cstring(self, address: int, limit: int = 4096) -> bytes:
        return self.read(address, limit, partial=True).split(b"\0", 1)[0]


class FakeArgs:
    """``args.value(i)``: the register narrowed and sign-extended as the parameter says."""

    def __init__(self, call: FakeCall) -> None:
        self._call = call

    def value(self, index: int) -> int:
        raw = self._call.raw[index]
        params = self._call.syscall.params
        if index >= len(params):
            return raw
        param = params[index]
        value = raw & ((1 << param.bits) - 1)
        signed = param.signed or param.kind in (ArgKind.FD, ArgKind.DIRFD, ArgKind.PID)
        if signed and value >> (param.bits - 1):
            value -= 1 << param.bits
        return value


class FakeCall:
    """A call of ``name`` with register values ``registers``."""

    def __init__(
        self,
        name: str,
        *registers: int,
        abi: Abi = Abi.X86_64,
        memory: FakeMemory | None = None,
        sp: int = 0,
        fds: dict[int, str] | None = None,
    ) -> None:
        self.name = name
        self.abi = abi
        self.syscall = syscall_by_name(name, abi)
        mask = (1 << abi.word_bits) - 1
        self.raw = tuple(r & mask for r in registers) + (0,) * (6 - len(registers))
        self.args = FakeArgs(self)
        self.memory = memory if memory is not None else FakeMemory()
        self.sp = sp
        self.cwd = "/work"
        self.tid = 1
        self.fds = fds or {}

    def fd_path(self, fd: int) -> str | None:
        return self.fds.get(fd)


def line(
    call: FakeCall,
    result: int | None,
    *,
    kernel: Callable[[FakeMemory], None] | None = None,
    fds: bool = False,
    limit: int = 32,
) -> str:
    """``name(args) = result`` as the tracer prints it; ``kernel`` changes the memory between
    entry and exit (what the call wrote)."""
    real = cast(Call, call)
    saved: dict[int, str] = {}
    entry = Context(real, limit=limit, verbose_fds=fds, exiting=False, saved=saved)
    arguments = shown_arguments(real)
    texts: list[str | None] = []
    for register, decoder, phase in arguments:
        if phase == BOTH:
            saved[register] = decoder(entry, call.args.value(register), register)
        texts.append(
            decoder(entry, call.args.value(register), register) if phase == ENTRY else None
        )
    if kernel is not None:
        kernel(call.memory)
    done = Context(real, limit=limit, verbose_fds=fds, result=result, exiting=True, saved=saved)
    for position, (register, decoder, _phase) in enumerate(arguments):
        if texts[position] is None:
            texts[position] = decoder(done, call.args.value(register), register)
    returned = "?" if result is None else decode_return(done, call.name, result)
    return f"{call.name}({', '.join(t or '' for t in texts)}) = {returned}"


def memory_with(*regions: tuple[int, bytes]) -> FakeMemory:
    memory = FakeMemory()
    for address, data in regions:
        memory.put(address, data)
    return memory


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


PATH = 0x1000
EINVAL = -errno.EINVAL
EFAULT = -errno.EFAULT


# --- render ---------------------------------------------------------------------------------


def test_render_helpers() -> None:
    assert [render.octal(v) for v in (0, 0o7, 0o22, 0o644, 0o1777)] == [
        "000", "007", "022", "0644", "01777",
    ]  # fmt: skip
    assert render.mode(0o41777) == "S_IFDIR|S_ISVTX|0777"
    assert render.mode(0o106755) == "S_IFREG|S_ISUID|S_ISGID|0755"
    assert render.mode(0o4755) == "S_ISUID|0755"
    assert render.sigset(1 << 16 | 1 << 1) == "[INT CHLD]"
    assert render.sigset(0) == "[]" and render.sigset(2**64 - 1) == "~[]"
    assert render.sigset(~(1 << 31 | 1 << 32) & (2**64 - 1)) == "~[RTMIN RT_1]"
    assert render.flags(0x40, ((1, "A"),), unknown="X_???") == "0x40 /* X_??? */"
    assert render.flags(0x41, ((1, "A"),), unknown="X_???") == "A|0x40"
    assert render.xval(0x63, {1: "ONE"}, "MADV_???") == "0x63 /* MADV_??? */"
    assert render.hex0(0, 8) == "00000000" and render.hex0(1, 8) == "0x000001"
    assert render.quote(b"\x27\x00", 32, hex_bytes=True) == '"\\x27\\x00"'


# --- 1. Wrong output ------------------------------------------------------------------------


def test_openat_shows_a_mode_only_when_creating() -> None:
    memory = memory_with((PATH, cstr("/usr")))
    flags = 0o4000 | 0o2000000 | O_DIRECTORY  # O_NONBLOCK|O_CLOEXEC| (the machine's value)
    assert (
        line(FakeCall("openat", -100, PATH, flags, 0, memory=memory), 3)
        == 'openat(AT_FDCWD, "/usr", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3'
    )
    assert (
        line(FakeCall("openat", -100, PATH, O_TMPFILE | 2, 0o600, memory=memory), 4)
        == 'openat(AT_FDCWD, "/usr", O_RDWR|O_TMPFILE, 0600) = 4'
    )
    assert (
        line(FakeCall("open", PATH, 0o1101, 0o644, memory=memory), 5)
        == 'open("/usr", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 5'
    )


def test_getcwd_without_the_nul_and_a_failed_one() -> None:
    memory = memory_with((STACK, b"\0" * 64))

    def kernel(mem: FakeMemory) -> None:
        mem.put(STACK, cstr("/tmp/x") + b"\0" * 32)

    call = FakeCall("getcwd", STACK, 4096, memory=memory)
    assert line(call, 7, kernel=kernel) == 'getcwd("/tmp/x", 4096) = 7'
    assert line(call, -errno.ERANGE).startswith(f"getcwd({STACK:#x}, 4096) = -1 ERANGE")


def test_faccessat2_flags_have_their_own_table() -> None:
    memory = memory_with((PATH, cstr("/tmp")))
    call = FakeCall("faccessat2", -100, PATH, 4, 0x300, memory=memory)
    assert line(call, 0) == 'faccessat2(AT_FDCWD, "/tmp", R_OK, AT_SYMLINK_NOFOLLOW|AT_EACCESS) = 0'
    memory.put(PATH, cstr("/x"))
    assert line(FakeCall("unlinkat", -100, PATH, 0x200, memory=memory), 0) == (
        'unlinkat(AT_FDCWD, "/x", AT_REMOVEDIR) = 0'
    )


def test_umask_result_in_octal() -> None:
    assert line(FakeCall("umask", 0), 0o22) == "umask(000) = 022"
    assert line(FakeCall("umask", 0o77), 0) == "umask(077) = 000"


def test_fcntl_arguments_and_results_per_command() -> None:
    fds = {3: "/tmp", 4: "/dev/null"}
    assert (
        line(FakeCall("fcntl", 3, 1, 0x7FFE83A90CF4), 1)
        == "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"
    )
    assert line(FakeCall("fcntl", 3, 1, 0), 0) == "fcntl(3, F_GETFD) = 0"
    assert line(FakeCall("fcntl", 3, 2, 1), 0) == "fcntl(3, F_SETFD, FD_CLOEXEC) = 0"
    assert line(FakeCall("fcntl", 3, 3, 0), O_LARGEFILE) == (
        f"fcntl(3, F_GETFL) = {O_LARGEFILE:#x} (flags O_RDONLY|O_LARGEFILE)"
    )
    assert line(FakeCall("fcntl", 3, 4, 0o4002), 0) == "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0"
    assert line(FakeCall("fcntl", 3, 1030, 0, fds=fds), 4, fds=True) == (
        "fcntl(3</tmp>, F_DUPFD_CLOEXEC, 0) = 4</dev/null>"
    )
    assert line(FakeCall("fcntl", 3, 1032, 0), 65536) == "fcntl(3, F_GETPIPE_SZ) = 65536"
    assert line(FakeCall("fcntl", 3, 1, 0), -errno.EBADF).startswith("fcntl(3, F_GETFD) = -1 EBADF")
    assert line(FakeCall("fcntl", 3, 777, 5), 0) == "fcntl(3, 0x309 /* F_??? */, 0x5) = 0"
    lock = struct.pack("<hh4xqqi4x", 1, 0, 0, 100, 0)
    memory = memory_with((STACK, lock))
    assert line(FakeCall("fcntl", 3, 7, STACK, memory=memory), 0) == (
        "fcntl(3, F_SETLKW, {l_type=F_WRLCK, l_whence=SEEK_SET, l_start=0, l_len=100}) = 0"
    )


# --- 2. Formatting --------------------------------------------------------------------------

FUTEX = 0x7F0000001000


def test_futex_ops_and_their_arguments() -> None:
    wake = FakeCall("futex", FUTEX, 129, 2147483647, 0, 3, 0)
    assert line(wake, 0) == f"futex({FUTEX:#x}, FUTEX_WAKE_PRIVATE, 2147483647) = 0"
    wait = FakeCall("futex", FUTEX, 128, 2, 0, 0, 0)
    assert line(wait, 0) == f"futex({FUTEX:#x}, FUTEX_WAIT_PRIVATE, 2, NULL) = 0"
    memory = memory_with((STACK, struct.pack("<qQ", 2806, 310434469)))
    bitset = FakeCall("futex", FUTEX, 137, 0, STACK, 0, 0xFFFFFFFF, memory=memory)
    assert line(bitset, 0) == (
        f"futex({FUTEX:#x}, FUTEX_WAIT_BITSET_PRIVATE, 0, {{tv_sec=2806, tv_nsec=310434469}}, "
        "FUTEX_BITSET_MATCH_ANY) = 0"
    )
    realtime = FakeCall("futex", FUTEX, 393, 0, 0, 0, 0xFFFFFFFF)
    assert line(realtime, 0) == (
        f"futex({FUTEX:#x}, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
        "FUTEX_BITSET_MATCH_ANY) = 0"
    )
    wake_op = FakeCall("futex", FUTEX, 133, 1, 1, FUTEX, 0x4000001)
    assert line(wake_op, 1) == (
        f"futex({FUTEX:#x}, FUTEX_WAKE_OP_PRIVATE, 1, 1, {FUTEX:#x}, "
        "FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 1"
    )
    unknown = FakeCall("futex", FUTEX, 77, 1, 2, FUTEX, 0)
    assert line(unknown, -errno.ENOSYS).startswith(
        f"futex({FUTEX:#x}, 0x4d /* FUTEX_??? */, 1, 0x2, {FUTEX:#x}, 0) = -1 ENOSYS"
    )


def test_clone_names_its_arguments_by_abi() -> None:
    flags = 0x1200000 | 17  # CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD
    child_tid = 0x7F93D9789A10
    call = FakeCall("clone", flags, 0, 0, child_tid, 0)
    assert line(call, 1234) == (
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        f"child_tidptr={child_tid:#x}) = 1234"
    )
    assert (
        line(FakeCall("clone", 17, 0, 0, 0, 0), 99) == "clone(child_stack=NULL, flags=SIGCHLD) = 99"
    )
    threads = 0x3D0F00  # CLONE_VM|...|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID
    memory = memory_with((STACK, struct.pack("<i", 4321)))
    # i386: flags, stack, parent_tid, tls, child_tid.
    i386 = FakeCall("clone", threads, 0xF000, STACK, 0xF100, 0xF200, abi=Abi.I386, memory=memory)
    assert line(i386, 4321) == (
        "clone(child_stack=0xf000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|"
        "CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, "
        "parent_tid=[4321], tls=0xf100, child_tidptr=0xf200) = 4321"
    )


def test_clone3_struct_and_the_stored_tid() -> None:
    args = struct.pack("<8Q", 0x3D0F00, 0, 0x7F10, 0x7F10, 0, 0x7F00, 0x7FFF80, 0x7F20)
    memory = memory_with((STACK, args), (0x7F10, struct.pack("<i", 0)))

    def kernel(mem: FakeMemory) -> None:
        mem.put(0x7F10, struct.pack("<i", 10187))

    assert line(FakeCall("clone3", STACK, 88, memory=memory), 10187, kernel=kernel) == (
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
        "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f10, "
        "parent_tid=0x7f10, exit_signal=0, stack=0x7f00, stack_size=0x7fff80, tls=0x7f20} "
        "=> {parent_tid=[10187]}, 88) = 10187"
    )


def test_prctl_options() -> None:
    memory = memory_with((STACK, cstr("worker") + b"\0" * 16))
    assert line(FakeCall("prctl", 15, STACK, 0, 0, 0, memory=memory), 0) == (
        'prctl(PR_SET_NAME, "worker") = 0'
    )
    assert line(FakeCall("prctl", 16, STACK, 0, 0, 0, memory=memory), 0) == (
        'prctl(PR_GET_NAME, "worker") = 0'
    )
    assert (
        line(FakeCall("prctl", 38, 1, 0, 0, 0), 0) == "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0"
    )
    assert line(FakeCall("prctl", 23, 32, 0, 140644204461000, 0), 1) == (
        "prctl(PR_CAPBSET_READ, CAP_MAC_OVERRIDE) = 1"
    )
    assert line(FakeCall("prctl", 3), 1) == "prctl(PR_GET_DUMPABLE) = 1 (SUID_DUMP_USER)"
    assert line(FakeCall("prctl", 1234, 1, 2, 3, 4), EINVAL).startswith(
        "prctl(0x4d2 /* PR_??? */, 0x1, 0x2, 0x3, 0x4) = -1 EINVAL"
    )
    assert line(FakeCall("prctl", 39, 1, 0, 0x7F12, 0), 0) == (
        "prctl(PR_GET_NO_NEW_PRIVS, 0x1, 0, 0x7f12, 0) = 0"
    )


def test_statx_flags_mask_and_struct() -> None:
    buffer = struct.pack("<IIQIIIH2xQQ", 0x17FF, 4096, 0, 2, 0, 0, 0o41777, 7, 4096)
    memory = memory_with((PATH, cstr("/tmp")), (STACK, buffer))
    call = FakeCall("statx", -100, PATH, 0x900, 0x25E, STACK, memory=memory)
    assert line(call, 0) == (
        'statx(AT_FDCWD, "/tmp", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT, '
        "STATX_MODE|STATX_NLINK|STATX_UID|STATX_GID|STATX_MTIME|STATX_SIZE, "
        "{stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, "
        "stx_mode=S_IFDIR|S_ISVTX|0777, stx_size=4096, ...}) = 0"
    )
    failed = FakeCall("statx", -100, PATH, 0x4000, 0xFFF, STACK, memory=memory)
    assert line(failed, -errno.ENOENT).startswith(
        f'statx(AT_FDCWD, "/tmp", AT_STATX_DONT_SYNC, STATX_ALL, {STACK:#x}) = -1 ENOENT'
    )


def test_stat_mode_special_bits() -> None:
    stat = struct.pack(
        "<QQQIIIxxxxQqqqQQQQQQ", 1, 2, 3, 0o41777, 0, 0, 0, 4096, 0, 0, 0, 0, 0, 0, 0, 0
    )
    memory = memory_with((PATH, cstr("/tmp")), (STACK, stat))
    assert line(FakeCall("newfstatat", -100, PATH, STACK, 0, memory=memory), 0) == (
        'newfstatat(AT_FDCWD, "/tmp", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0'
    )
    # i386's struct stat is another layout: the address.
    i386 = FakeCall("fstat", 3, STACK, abi=Abi.I386, memory=memory)
    assert line(i386, 0) == f"fstat(3, {STACK:#x}) = 0"


def test_socket_type_flag_order_and_protocol() -> None:
    assert line(FakeCall("socket", 1, 0o2004001, 0), 3) == (
        "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3"
    )
    assert line(FakeCall("socket", 2, 2, 17), 3) == "socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP) = 3"
    assert line(FakeCall("socket", 10, 1, 0), 3) == "socket(AF_INET6, SOCK_STREAM, IPPROTO_IP) = 3"
    assert (
        line(FakeCall("socket", 16, 3, 0), 3) == "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) = 3"
    )


def test_rt_sigreturn_shows_the_mask_from_the_frame() -> None:
    sp = 0x7FFC0000
    memory = memory_with((sp + 296, struct.pack("<Q", 1 << 1)))
    assert (
        line(FakeCall("rt_sigreturn", memory=memory, sp=sp), 0) == "rt_sigreturn({mask=[INT]}) = 0"
    )
    assert line(FakeCall("rt_sigreturn", abi=Abi.I386, sp=sp), 0) == "rt_sigreturn() = 0"


def test_getrandom_bytes_in_hex() -> None:
    memory = memory_with((STACK, b"\0" * 8))

    def kernel(mem: FakeMemory) -> None:
        mem.put(STACK, b"'in9\xeb\x0f7)")

    call = FakeCall("getrandom", STACK, 8, 1, memory=memory)
    assert line(call, 8, kernel=kernel) == (
        'getrandom("\\x27\\x69\\x6e\\x39\\xeb\\x0f\\x37\\x29", 8, GRND_NONBLOCK) = 8'
    )
    assert line(FakeCall("getrandom", STACK, 3, 6, memory=memory), EINVAL).startswith(
        f"getrandom({STACK:#x}, 3, GRND_RANDOM|GRND_INSECURE) = -1 EINVAL"
    )


# --- 3. Not decoded before ------------------------------------------------------------------


def test_prlimit64_new_at_entry_old_at_exit() -> None:
    new, old = STACK, STACK + 0x100
    memory = memory_with((new, struct.pack("<QQ", 1024, 4096)), (old, b"\0" * 16))

    def kernel(mem: FakeMemory) -> None:
        mem.put(old, struct.pack("<QQ", 8192 * 1024, 2**64 - 1))

    call = FakeCall("prlimit64", 0, 3, new, old, memory=memory)
    assert line(call, 0, kernel=kernel) == (
        "prlimit64(0, RLIMIT_STACK, {rlim_cur=1024, rlim_max=4*1024}, "
        "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"
    )
    assert line(FakeCall("prlimit64", 0, 77, 0, old, memory=memory), EINVAL).startswith(
        f"prlimit64(0, 0x4d /* RLIMIT_??? */, NULL, {old:#x}) = -1 EINVAL"
    )


def test_rt_sigaction_structs_by_abi() -> None:
    act, oldact = STACK, STACK + 0x100
    handler, restorer = 0x562BF28D3DC0, 0x7F93D97C8050
    new = struct.pack("<QQQQ", handler, 0x14000000, restorer, ~(1 << 31 | 1 << 32) & (2**64 - 1))
    memory = memory_with((act, new), (oldact, b"\0" * 32))
    call = FakeCall("rt_sigaction", 2, act, oldact, 8, memory=memory)
    assert line(call, 0) == (
        f"rt_sigaction(SIGINT, {{sa_handler={handler:#x}, sa_mask=~[RTMIN RT_1], "
        f"sa_flags=SA_RESTORER|SA_RESTART, sa_restorer={restorer:#x}}}, "
        "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0"
    )
    assert line(call, EINVAL).endswith(f", {oldact:#x}, 8) = -1 EINVAL (Invalid argument)")
    i386 = memory_with((act, struct.pack("<IIIQ", 1, 0x10000000, 0, 1 << 1)))
    assert line(FakeCall("rt_sigaction", 10, act, 0, 8, abi=Abi.I386, memory=i386), 0) == (
        "rt_sigaction(SIGUSR1, {sa_handler=SIG_IGN, sa_mask=[INT], sa_flags=SA_RESTART}, NULL, 8)"
        " = 0"
    )
    x32 = FakeCall("rt_sigaction", 10, act, 0, 8, abi=Abi.X32, memory=i386)
    assert line(x32, 0) == f"rt_sigaction(SIGUSR1, {act:#x}, NULL, 8) = 0"


def test_rt_sigprocmask_sets() -> None:
    memory = memory_with((STACK, struct.pack("<Q", 1 << 16)), (STACK + 8, b"\0" * 8))

    def kernel(mem: FakeMemory) -> None:
        mem.put(STACK + 8, struct.pack("<Q", 2**64 - 1))

    call = FakeCall("rt_sigprocmask", 0, STACK, STACK + 8, 8, memory=memory)
    assert line(call, 0, kernel=kernel) == "rt_sigprocmask(SIG_BLOCK, [CHLD], ~[], 8) = 0"
    short = FakeCall("rt_sigprocmask", 0, STACK, 0, 4, memory=memory)
    assert line(short, EINVAL).startswith(f"rt_sigprocmask(SIG_BLOCK, {STACK:#x}, NULL, 4) = -1")


def test_getdents64_counts_entries() -> None:
    entries = b"".join(
        struct.pack("<QqHB", 1, 2, size, 4) + b"x" * (size - 19) for size in (24, 32)
    )
    memory = memory_with((STACK, entries))
    assert line(FakeCall("getdents64", 3, STACK, 32768, memory=memory), 56) == (
        f"getdents64(3, {STACK:#x} /* 2 entries */, 32768) = 56"
    )
    assert line(FakeCall("getdents64", 3, STACK, 32768, memory=memory), 0) == (
        f"getdents64(3, {STACK:#x} /* 0 entries */, 32768) = 0"
    )


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (0, "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]"),
        (3 << 8, "[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]"),
        (9, "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}]"),
        (0x86, "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT && WCOREDUMP(s)}]"),
        (19 << 8 | 0x7F, "[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]"),
        (0xFFFF, "[{WIFCONTINUED(s)}]"),
    ],
)
def test_wait4_status(status: int, text: str) -> None:
    memory = memory_with((STACK, struct.pack("<i", status)))
    assert line(FakeCall("wait4", -1, STACK, 0, 0, memory=memory), 42) == (
        f"wait4(-1, {text}, 0, NULL) = 42"
    )


def test_wait4_without_a_child_and_options() -> None:
    memory = memory_with((STACK, b"\0" * 4))
    call = FakeCall("wait4", -1, STACK, 1 | 2 | 0x40000000, 0, memory=memory)
    assert line(call, 0) == f"wait4(-1, {STACK:#x}, WNOHANG|WSTOPPED|__WALL, NULL) = 0"


def test_pipe2_fds_with_paths() -> None:
    memory = memory_with((STACK, b"\xff" * 8))

    def kernel(mem: FakeMemory) -> None:
        mem.put(STACK, struct.pack("<ii", 3, 4))

    fds = {3: "pipe:[96397]", 4: "pipe:[96397]"}
    call = FakeCall("pipe2", STACK, 0o2000000, memory=memory, fds=fds)
    assert line(call, 0, kernel=kernel, fds=True) == (
        "pipe2([3<pipe:[96397]>, 4<pipe:[96397]>], O_CLOEXEC) = 0"
    )
    assert line(call, -errno.EMFILE).startswith(f"pipe2({STACK:#x}, O_CLOEXEC) = -1 EMFILE")


def test_sysinfo() -> None:
    info = struct.pack(
        "<Q3Q6QHH4xQQI4x", 2930, 59712, 45888, 37664, 100, 50, 9, 8, 0, 0, 99, 0, 0, 0, 1
    )
    memory = memory_with((STACK, info))
    assert line(FakeCall("sysinfo", STACK, memory=memory), 0) == (
        "sysinfo({uptime=2930, loads=[59712, 45888, 37664], totalram=100, freeram=50, "
        "sharedram=9, bufferram=8, totalswap=0, freeswap=0, procs=99, totalhigh=0, freehigh=0, "
        "mem_unit=1}) = 0"
    )


def sockaddr_un(path: bytes) -> bytes:
    return struct.pack("<H", socket.AF_UNIX) + path


def test_socket_addresses_in() -> None:
    unix = sockaddr_un(b"/run/x.sock\0")
    memory = memory_with((STACK, unix.ljust(110, b"\0")))
    assert line(FakeCall("connect", 3, STACK, 110, memory=memory), 0) == (
        'connect(3, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 110) = 0'
    )
    memory.put(STACK, sockaddr_un(b"\0abstract\0"))
    assert line(FakeCall("connect", 3, STACK, 12, memory=memory), 0) == (
        'connect(3, {sa_family=AF_UNIX, sun_path=@"abstract\\0"}, 12) = 0'
    )
    inet = (
        struct.pack("<H", socket.AF_INET) + struct.pack(">H", 80) + bytes([127, 0, 0, 1]) + bytes(8)
    )
    memory.put(STACK, inet)
    assert line(FakeCall("bind", 3, STACK, 16, memory=memory), 0) == (
        'bind(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = 0'
    )
    inet6 = struct.pack("<H", socket.AF_INET6) + struct.pack(">HI", 1, 0)
    inet6 += socket.inet_pton(socket.AF_INET6, "::1") + bytes(4)
    memory.put(STACK, inet6)
    assert line(FakeCall("connect", 3, STACK, 28, memory=memory), 0) == (
        "connect(3, {sa_family=AF_INET6, sin6_port=htons(1), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0'
    )
    netlink = struct.pack("<HHiI", socket.AF_NETLINK, 0, 0, 0)
    memory.put(STACK, netlink)
    assert line(FakeCall("bind", 3, STACK, 12, memory=memory), 0) == (
        "bind(3, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 0"
    )
    assert line(FakeCall("connect", 3, STACK, 1, memory=memory), EINVAL).startswith(
        f"connect(3, {STACK:#x}, 1) = -1"
    )


def test_socket_addresses_out_and_their_length() -> None:
    address, length = STACK, STACK + 0x200
    memory = memory_with((address, bytes(110)), (length, struct.pack("<i", 110)))

    def kernel(mem: FakeMemory) -> None:
        mem.put(address, sockaddr_un(b"/tmp/sock\0").ljust(110, b"\0"))
        mem.put(length, struct.pack("<i", 12))

    call = FakeCall("getsockname", 3, address, length, memory=memory)
    assert line(call, 0, kernel=kernel) == (
        'getsockname(3, {sa_family=AF_UNIX, sun_path="/tmp/sock"}, [110 => 12]) = 0'
    )
    memory.put(length, struct.pack("<i", 110))
    accept4 = FakeCall("accept4", 3, address, length, 0o2000000, memory=memory)
    assert line(accept4, -errno.EAGAIN).startswith(
        f"accept4(3, {address:#x}, [110], SOCK_CLOEXEC) = -1 EAGAIN"
    )
    assert line(FakeCall("accept", 3, 0, 0), 5) == "accept(3, NULL, NULL) = 5"


def test_advice_names() -> None:
    assert (
        line(FakeCall("fadvise64", 3, 0, 0, 2), 0)
        == "fadvise64(3, 0, 0, POSIX_FADV_SEQUENTIAL) = 0"
    )
    assert (
        line(FakeCall("madvise", 0x7F0000, 8192, 4), 0)
        == "madvise(0x7f0000, 8192, MADV_DONTNEED) = 0"
    )
    assert line(FakeCall("madvise", 0x7F0000, 8192, 99), EINVAL).startswith(
        "madvise(0x7f0000, 8192, 0x63 /* MADV_??? */) = -1"
    )


def test_uname() -> None:
    uts = b"".join(
        name.ljust(65, b"\0") for name in (b"Linux", b"vm", b"6.1", b"#1", b"x86_64", b"")
    )
    memory = memory_with((STACK, uts))
    assert line(FakeCall("uname", STACK, memory=memory), 0) == (
        'uname({sysname="Linux", nodename="vm", ...}) = 0'
    )


def test_sleeps_and_their_time_left() -> None:
    request, left = STACK, STACK + 0x100
    memory = memory_with((request, struct.pack("<qQ", 0, 100000000)), (left, bytes(16)))
    call = FakeCall("clock_nanosleep", 1, 1, request, left, memory=memory)
    assert line(call, 0) == (
        f"clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, {{tv_sec=0, tv_nsec=100000000}}, "
        f"{left:#x}) = 0"
    )

    def kernel(mem: FakeMemory) -> None:
        mem.put(left, struct.pack("<qQ", 0, 5000))

    interrupted = FakeCall("nanosleep", request, left, memory=memory)
    assert line(interrupted, -516, kernel=kernel).startswith(
        "nanosleep({tv_sec=0, tv_nsec=100000000}, {tv_sec=0, tv_nsec=5000}) "
        "= ? ERESTART_RESTARTBLOCK"
    )
    # i386's nanosleep takes a timespec of two 32-bit fields.
    old = memory_with((request, struct.pack("<iI", 1, 2)))
    assert line(FakeCall("nanosleep", request, 0, abi=Abi.I386, memory=old), 0) == (
        "nanosleep({tv_sec=1, tv_nsec=2}, NULL) = 0"
    )


def test_epoll_create1_flags() -> None:
    assert line(FakeCall("epoll_create1", 0o2000000), 5) == "epoll_create1(EPOLL_CLOEXEC) = 5"
    assert line(FakeCall("epoll_create1", 0), 5) == "epoll_create1(0) = 5"


def test_poll_array_and_events() -> None:
    fds = (
        struct.pack("<ihh", 6, 1, 0) + struct.pack("<ihh", 7, 5, 0) + struct.pack("<ihh", -1, 1, 0)
    )
    memory = memory_with((STACK, fds))

    def kernel(mem: FakeMemory) -> None:
        data = bytearray(fds)
        data[14:16] = struct.pack("<h", 4)  # the second fd: POLLOUT
        mem.put(STACK, bytes(data))

    call = FakeCall("poll", STACK, 3, 0, memory=memory)
    assert line(call, 1, kernel=kernel) == (
        "poll([{fd=6, events=POLLIN}, {fd=7, events=POLLIN|POLLOUT}, {fd=-1}], 3, 0) "
        "= 1 ([{fd=7, revents=POLLOUT}])"
    )
    assert line(call, 0) == (
        "poll([{fd=6, events=POLLIN}, {fd=7, events=POLLIN|POLLOUT}, {fd=-1}], 3, 0) = 0 (Timeout)"
    )
    assert line(FakeCall("poll", 0, 0, 1), 0) == "poll(NULL, 0, 1) = 0 (Timeout)"


def test_groups_and_cpu_sets() -> None:
    memory = memory_with((STACK, struct.pack("<II", 0, 27)))
    assert line(FakeCall("getgroups", 2, STACK, memory=memory), 2) == "getgroups(2, [0, 27]) = 2"
    assert line(FakeCall("getgroups", 0, STACK, memory=memory), 0) == "getgroups(0, []) = 0"
    memory.put(STACK, struct.pack("<Q", 0b11))
    assert line(FakeCall("sched_getaffinity", 0, 128, STACK, memory=memory), 8) == (
        "sched_getaffinity(0, 128, [0 1]) = 8"
    )


def test_deleted_files_and_unreadable_memory() -> None:
    call = FakeCall("close", 4, fds={4: "/tmp/#123 (deleted)"})
    assert line(call, 0, fds=True) == "close(4</tmp/#123>(deleted)) = 0"
    # Nothing mapped: every structure decoder falls back to the address.
    assert line(FakeCall("sysinfo", STACK), 0) == f"sysinfo({STACK:#x}) = 0"
    assert line(FakeCall("uname", STACK), 0) == f"uname({STACK:#x}) = 0"
    assert (
        line(FakeCall("prlimit64", 0, 3, STACK, 0), 0)
        == f"prlimit64(0, RLIMIT_STACK, {STACK:#x}, NULL) = 0"
    )


# --- The tracer itself: the same texts as the decoders, from its per-syscall plans ----------


def observed(
    call: FakeCall,
    result: int | None,
    *,
    kernel: Callable[[FakeMemory], None] | None = None,
    outcome: Outcome = Outcome.PASSED,
) -> str:
    """The line :class:`TraceObserver` writes for ``call`` (one thread, no options)."""
    stream = io.StringIO()
    observer = TraceObserver(stream)
    observer.task_started(call.tid, 0, "spawn")
    real = cast(Call, call)
    observer.call_entered(real)
    if kernel is not None:
        kernel(call.memory)
    observer.call_finished(real, outcome, None if result is None else Result(result))
    return stream.getvalue()


def padded(text: str) -> str:
    """``line()``'s text as the tracer aligns it: the result at column 40."""
    head, returned = text.rsplit(" = ", 1)
    return f"{head:<39} = {returned}\n"


def test_the_tracer_prints_what_the_decoders_print() -> None:
    # The tracer narrows registers and picks decoders through its own per-syscall plan; these
    # calls cover signed and unsigned narrowing, both ABIs' widths, layouts, and arguments
    # decoded at entry, at exit and at both.
    new, old, address, length = STACK, STACK + 0x100, STACK + 0x200, STACK + 0x300
    memory = memory_with(
        (PATH, cstr("/etc/hostname")),
        (new, struct.pack("<QQ", 1024, 4096)),
        (old, b"\0" * 16),
        (address, bytes(110)),
        (length, struct.pack("<i", 110)),
    )

    def kernel(mem: FakeMemory) -> None:
        mem.put(old, struct.pack("<QQ", 8192 * 1024, 2**64 - 1))
        mem.put(address, sockaddr_un(b"/tmp/sock\0").ljust(110, b"\0"))
        mem.put(length, struct.pack("<i", 12))

    cases = [
        (FakeCall("openat", -100, PATH, 0o2000000, 0, memory=memory), 3),
        (FakeCall("openat", -100, PATH, 0o101, 0o644, memory=memory), -errno.EACCES),
        (FakeCall("prlimit64", 0, 3, new, old, memory=memory), 0),
        (FakeCall("getsockname", 3, address, length, memory=memory), 0),
        (FakeCall("dup2", 2**32 - 1, 2**64 - 1), -errno.EBADF),
        (FakeCall("lseek", 3, 2**64 - 5, 1), 7),
        (FakeCall("read", 2**32 - 1, PATH, 5, abi=Abi.I386, memory=memory), -errno.EBADF),
        (FakeCall("fcntl", 3, 1), 1),
        (FakeCall("exit_group", 0), None),
    ]
    for call, result in cases:
        memory.put(old, b"\0" * 16)
        memory.put(length, struct.pack("<i", 110))
        expected = line(call, result, kernel=kernel)
        memory.put(old, b"\0" * 16)
        memory.put(length, struct.pack("<i", 110))
        assert observed(call, result, kernel=kernel) == padded(expected), expected


def test_the_tracer_marks_decisions_and_resumes_calls() -> None:
    memory = memory_with((PATH, b"\0" * 16))
    close = FakeCall("close", 4)
    assert observed(close, -errno.EPERM, outcome=Outcome.FAILED) == padded(
        "close(4) = -1 EPERM (Operation not permitted) (INJECTED)"
    )
    assert observed(close, 0, outcome=Outcome.REWRITTEN) == padded("close(4) = 0 (REWRITTEN)")
    # Two threads: a read another thread's call overtakes is cut, then resumed.
    stream = io.StringIO()
    observer = TraceObserver(stream)
    read = FakeCall("read", 3, PATH, 10, memory=memory)
    other = FakeCall("close", 4)
    other.tid = 2
    for task in (read, other):
        observer.task_started(task.tid, 0, "spawn")
    observer.call_entered(cast(Call, read))
    observer.call_entered(cast(Call, other))
    observer.call_finished(cast(Call, other), Outcome.PASSED, Result(0))
    memory.put(PATH, b"abc")
    observer.call_finished(cast(Call, read), Outcome.PASSED, Result(3))
    assert stream.getvalue().splitlines() == [
        "[pid     1] read(3,  <unfinished ...>",
        f"[pid     2] {'close(4)':<39} = 0",
        '[pid     1] <... read resumed>"abc", 10) = 3',
    ]
    assert observer.summary == {"read": [1, 0, pytest.approx(0.0, abs=60)],
                                "close": [1, 0, pytest.approx(0.0, abs=60)]}  # fmt: skip


def test_quote_escapes_what_strace_escapes() -> None:
    # Printable ASCII is copied as is, but for the quote and the backslash (the fast path).
    printable = bytes(range(32, 127))
    assert render.quote(printable, 200) == (
        '"' + printable.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
    )
    assert render.quote(b"/usr/include/stdio.h", 8) == '"/usr/inc"...'
    assert render.quote(b"tab\there\x7f\x80\x001", 32) == '"tab\\there\\177\\200\\0001"'


def test_remembered_texts_are_the_texts() -> None:
    decode = flags_of(xlat.AT_FLAGS, "AT_???")
    ctx = cast(Context, None)
    # Past the number of remembered values too: the texts must not change.
    for _round in range(2):
        for value in range(REMEMBERED + 50):
            assert decode(ctx, value << 8, 0) == render.flags(
                value << 8, xlat.AT_FLAGS, unknown="AT_???"
            )
    assert open_flags(0o2004002) == "O_RDWR|O_NONBLOCK|O_CLOEXEC"
    assert render.mode(0o100644) == render.mode(0o100644) == "S_IFREG|0644"


def test_the_tracers_narrowing_is_args_value() -> None:
    # Arguments decoded at exit are narrowed by _narrowed(); at entry, by the same code inline.
    registers = (0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FF9C, 2**63, 2**64 - 100, 2**64 - 1)
    for abi in (Abi.X86_64, Abi.I386):
        for syscall in syscalls(abi):
            plan = _Plan(syscall)
            for raw in registers:
                call = FakeCall(syscall.name, *[raw] * 6, abi=abi)
                for index in range(6):
                    assert _narrowed(call.raw[index], plan.narrow[index]) == call.args.value(
                        index
                    ), (syscall.name, index, raw)
