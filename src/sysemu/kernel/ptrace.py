"""ptrace(2): requests, options, wait-status decoding and ``PTRACE_GET_SYSCALL_INFO``.

Requests go through :mod:`sysemu.kernel.raw` (the C accelerator, or ctypes without it); the
three of every stop (resume, syscall info, two register pokes and a resume) have C versions
that also skip building Python objects, and the Python twins here where it is not built.

A request on a tracee that was just killed fails with ``ESRCH``: that is a normal race (a
``SIGKILL`` can arrive at any time), so the resume functions report it through their return
value and leave it to the wait loop to collect the exit.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from collections.abc import Callable, Sequence

from sysemu._typing import TYPE_CHECKING
from sysemu.kernel import raw
from sysemu.kernel.arch import host_arch_type

if TYPE_CHECKING:
    from sysemu.kernel.arch import Arch
    from sysemu.kernel.loop_config import PtraceLoopConfig, TraceWriterConfig

# Requests (include/uapi/linux/ptrace.h).
PTRACE_TRACEME = 0
PTRACE_PEEKUSER = 3
PTRACE_POKEUSER = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SYSEMU = 31
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E  # Linux 5.3
PTRACE_SET_SYSCALL_INFO = 0x4212  # Linux 6.16; not in older uapi headers

# Options.
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEVFORKDONE = 0x20
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000  # Linux 3.8
PTRACE_O_SUSPEND_SECCOMP = 0x200000

# Events, as found in ``status >> 16`` of a stopped tracee.
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

# ``ptrace_syscall_info.op``.
SYSCALL_INFO_NONE = 0
SYSCALL_INFO_ENTRY = 1
SYSCALL_INFO_EXIT = 2
SYSCALL_INFO_SECCOMP = 3

# waitpid(2) option: wait for all children, clones included (not in Python's os module).
WALL = 0x40000000

SIGTRAP = 5
# What a syscall-stop looks like in ``status >> 8`` when PTRACE_O_TRACESYSGOOD is set.
SYSCALL_STOP_SIG = SIGTRAP | 0x80

# struct ptrace_syscall_info: op u8, pad[3], arch u32, ip u64, sp u64, then a union of
# entry {nr, args[6]}, exit {rval s64, is_error u8} and seccomp {nr, args[6], ret_data u32}.
SYSCALL_INFO_SIZE = 88
SECCOMP_INFO = struct.Struct("<B3xIQQQ6QI")  # op, arch, ip, sp, nr, args*6, ret_data
EXIT_INFO = struct.Struct("<B3xIQQqB")  # op, arch, ip, sp, rval, is_error

_ptrace = raw.ptrace


def _failed(result: int, what: str) -> None:
    raise OSError(-result, f"{what}: {os.strerror(-result)}")


def _python_resume(request: int, tid: int, sig: int) -> bool:
    """Resume a stopped tracee with ``request``, delivering ``sig``; False if it is gone."""
    result = _ptrace(request, tid, 0, sig)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        _failed(result, f"ptrace({request:#x}, {tid})")
    return True


_info_buffer = bytearray(SYSCALL_INFO_SIZE)
_NONE_INFO = struct.Struct("<B3xIQQ")


def _python_syscall_info(tid: int) -> tuple[int, ...] | None:
    """``PTRACE_GET_SYSCALL_INFO`` as a tuple shaped by ``op`` (see the module docstring);
    None if the tracee is gone."""
    result = _ptrace(PTRACE_GET_SYSCALL_INFO, tid, SYSCALL_INFO_SIZE, _info_buffer)
    if result < 0:
        if result == -errno.ESRCH:
            return None
        _failed(result, "PTRACE_GET_SYSCALL_INFO")
    op = _info_buffer[0]
    if op in (SYSCALL_INFO_SECCOMP, SYSCALL_INFO_ENTRY):
        values = SECCOMP_INFO.unpack_from(_info_buffer)
        return values if op == SYSCALL_INFO_SECCOMP else (*values[:-1], 0)
    if op == SYSCALL_INFO_EXIT:
        return EXIT_INFO.unpack_from(_info_buffer)
    return _NONE_INFO.unpack_from(_info_buffer)


def _python_poke_user_twice_then(  # noqa: PLR0917 (the C version's signature)
    request: int, tid: int, offset_a: int, value_a: int, offset_b: int, value_b: int
) -> bool:
    """Set two words of the tracee's ``struct user`` and resume it with ``request``."""
    return (
        poke_user(tid, offset_a, value_a)
        and poke_user(tid, offset_b, value_b)
        and _python_resume(request, tid, 0)
    )


resume = _python_resume
syscall_info = _python_syscall_info
poke_user_twice_then = _python_poke_user_twice_then
SPEEDUPS = False
# The audit arch of the native ABI the accelerator was built for (its csrc/arch.h): the C wait
# loops and trace writer serve that architecture only. None without the accelerator.
ACCELERATED_AUDIT_ARCH: int | None = None
# The C wait loop of the ptrace backends (see csrc/ptrace_loop.c; it takes a PtraceLoopConfig),
# if built. It returns an event for Python, None at the end, or False when Python must wait
# instead.
serve_seccomp_stops: Callable[[PtraceLoopConfig], tuple[int, int] | bool | None] | None = None
# The C line writer of the tracing tool that the wait loop drives (see csrc/trace.h; it takes a
# TraceWriterConfig), if built.
CTraceWriter: Callable[[TraceWriterConfig], object] | None = None
# record_method(owner, type, field, name, doc) -> a method of owner that makes objects of a
# one-slot class in C (see csrc/calls.c); Call.emulate is one, if built.
record_method: Callable[[type, type, str, str, str], object] | None = None

_speedups = raw.speedups
if _speedups is not None:
    resume = _speedups.resume
    syscall_info = _speedups.syscall_info
    poke_user_twice_then = _speedups.poke_user_twice_then
    serve_seccomp_stops = getattr(_speedups, "ptrace_serve", None)  # (an older build)
    CTraceWriter = getattr(_speedups, "CTraceWriter", None)
    record_method = getattr(_speedups, "record_method", None)
    ACCELERATED_AUDIT_ARCH = getattr(_speedups, "ARCH_AUDIT", None)
    SPEEDUPS = True


def cont(tid: int, sig: int = 0) -> bool:
    """Resume ``tid`` without a syscall-exit-stop, delivering ``sig``; False if it is gone."""
    return resume(PTRACE_CONT, tid, sig)


def syscall(tid: int, sig: int = 0) -> bool:
    """Resume ``tid`` so that it stops at the next syscall entry or exit; False if gone."""
    return resume(PTRACE_SYSCALL, tid, sig)


def sysemu(tid: int, sig: int = 0) -> bool:
    """Resume ``tid`` so that its next syscall stops at entry and is never run by the kernel."""
    return resume(PTRACE_SYSEMU, tid, sig)


def listen(tid: int) -> bool:
    """Leave a seized tracee in group-stop but let it report SIGCONT (``PTRACE_LISTEN``)."""
    return resume(PTRACE_LISTEN, tid, 0)


def interrupt(tid: int) -> bool:
    """Make a seized tracee stop with ``PTRACE_EVENT_STOP``; False if it is gone."""
    return resume(PTRACE_INTERRUPT, tid, 0)


def detach(tid: int, sig: int = 0) -> bool:
    """Detach from a stopped tracee, delivering ``sig``; False if it is gone."""
    return resume(PTRACE_DETACH, tid, sig)


def seize(tid: int, options: int) -> None:
    """Attach to ``tid`` with ``PTRACE_SEIZE`` (no stop) and set ``options``."""
    result = _ptrace(PTRACE_SEIZE, tid, 0, options)
    if result < 0:
        _failed(result, f"PTRACE_SEIZE {tid}")


def set_options(tid: int, options: int) -> None:
    """Set the ptrace options of a stopped tracee."""
    result = _ptrace(PTRACE_SETOPTIONS, tid, 0, options)
    if result < 0:
        _failed(result, f"PTRACE_SETOPTIONS {tid}")


_event_msg = bytearray(8)
_ULONG = struct.Struct("<Q")


def event_message(tid: int) -> int | None:
    """``PTRACE_GETEVENTMSG``: the new child's pid, or the exec'ing thread's former tid."""
    result = _ptrace(PTRACE_GETEVENTMSG, tid, 0, _event_msg)
    if result < 0:
        if result == -errno.ESRCH:
            return None
        _failed(result, "PTRACE_GETEVENTMSG")
    return int(_ULONG.unpack(_event_msg)[0])


SIGINFO_SIZE = 128
_siginfo = bytearray(SIGINFO_SIZE)


def get_siginfo(tid: int) -> bytes | None:
    """The ``siginfo_t`` of the signal ``tid`` is stopped for (``PTRACE_GETSIGINFO``), or
    ``None`` if it is gone or not in a signal-delivery-stop."""
    if _ptrace(PTRACE_GETSIGINFO, tid, 0, _siginfo) < 0:
        return None
    return bytes(_siginfo)


def poke_user(tid: int, offset: int, value: int) -> bool:
    """Write one word of the tracee's ``struct user`` (a register); False if it is gone."""
    result = _ptrace(PTRACE_POKEUSER, tid, offset, value)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        _failed(result, "PTRACE_POKEUSER")
    return True


def get_regs(tid: int, buffer: bytearray) -> bool:
    """Copy the tracee's general registers into ``buffer``; False if it is gone."""
    result = _ptrace(PTRACE_GETREGS, tid, 0, buffer)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        _failed(result, "PTRACE_GETREGS")
    return True


def set_regs(tid: int, buffer: bytearray) -> bool:
    """Load the tracee's general registers from ``buffer``; False if it is gone."""
    result = _ptrace(PTRACE_SETREGS, tid, 0, buffer)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        _failed(result, "PTRACE_SETREGS")
    return True


_IOVEC = struct.Struct("<QQ")


def _regset(request: int, tid: int, note: int, buffer: bytearray) -> bool:
    # struct iovec {base, len} over the buffer (GETREGSET writes back the length it filled).
    vector = bytearray(_IOVEC.pack(raw.address_of(buffer), len(buffer)))
    result = _ptrace(request, tid, note, vector)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        _failed(result, f"ptrace({request:#x}, {tid}, {note:#x})")
    return True


def get_regset(tid: int, note: int, buffer: bytearray) -> bool:
    """Copy register set ``note`` (``NT_PRSTATUS``...) of the tracee into ``buffer``; False
    if it is gone."""
    return _regset(PTRACE_GETREGSET, tid, note, buffer)


def set_regset(tid: int, note: int, buffer: bytearray) -> bool:
    """Load register set ``note`` of the tracee from ``buffer``; False if it is gone."""
    return _regset(PTRACE_SETREGSET, tid, note, buffer)


# PTRACE_SET_SYSCALL_INFO (6.16) changes a call in one request where registers take two or
# three (kernel/ptrace.c, ptrace_set_syscall_info). Its struct is GET's with ``pad`` split into
# ``reserved`` and ``flags``, both to be 0, and a ``reserved2`` word after ``ret_data``; the
# kernel reads the whole 88 bytes and ignores ``arch``, the pointers and ``ret_data``. ``op``
# must be the stop's own (ENTRY at a syscall-entry or PTRACE_SYSEMU stop, SECCOMP at a seccomp
# stop, EXIT at an exit stop), else EINVAL. At entry and seccomp stops the kernel sets the
# number and all six arguments, except that for a number of -1 it sets no argument (and arm64
# sets x0 to -ENOSYS): so a skip with a value cannot be one request. At an exit stop it sets the
# return register to ``rval``; ``is_error`` stays 0, because with it the kernel passes ``rval``
# through an ``int`` (syscall_set_return_value), where 0 stores all 64 bits.
_SET_ENTRY = struct.Struct("<B3x20xq6Q")  # op, (reserved, flags, arch, ip, sp), nr, args*6
_SET_EXIT = struct.Struct("<B3x20xqB")  # op, (...), rval, is_error (0)
_set_buffer = bytearray(SYSCALL_INFO_SIZE)
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1


def _set_info_enabled() -> bool | None:
    # SYSEMU_NO_SET_SYSCALL_INFO (set to anything, as SYSEMU_NO_SPEEDUPS) makes every change
    # go through registers, as on a kernel before 6.16: tests compare the two on one kernel.
    return False if os.environ.get("SYSEMU_NO_SET_SYSCALL_INFO") else None


set_syscall_info_works: bool | None = _set_info_enabled()
"""Whether changes go through ``PTRACE_SET_SYSCALL_INFO``: None until the first change asks
the kernel (one older than 6.16 answers EIO, and registers serve from then on), False when
``SYSEMU_NO_SET_SYSCALL_INFO`` was set at import. Tests may set it."""


def _set_syscall_info(tid: int) -> bool | None:
    """The request with :data:`_set_buffer`: True, False if the tracee is gone, None if the
    kernel lacks it (remembered)."""
    global set_syscall_info_works  # found at the first change, not at start-up
    result = _ptrace(PTRACE_SET_SYSCALL_INFO, tid, SYSCALL_INFO_SIZE, _set_buffer)
    if result < 0:
        if result == -errno.ESRCH:
            return False
        if result == -errno.EIO and not set_syscall_info_works:
            set_syscall_info_works = False
            return None
        _failed(result, f"PTRACE_SET_SYSCALL_INFO {tid}")
    set_syscall_info_works = True
    return True


def set_syscall_call(tid: int, nr: int, args: Sequence[int], *, seccomp: bool) -> bool | None:
    """At a seccomp stop (``seccomp``) or a syscall-entry stop: make the call number ``nr``
    (the raw number, an ABI's bias included) with the six ``args``, in one request. False if
    the tracee is gone; None if the kernel lacks the request (or it was turned off), or for a
    number no ``int`` holds (which the kernel refuses, ERANGE, where the number register would
    be truncated): then the caller changes registers instead. With ``nr`` -1 the kernel skips
    the call and sets no argument (see above)."""
    if set_syscall_info_works is False or not _INT_MIN <= nr <= _INT_MAX:
        return None
    _SET_ENTRY.pack_into(
        _set_buffer,
        0,
        SYSCALL_INFO_SECCOMP if seccomp else SYSCALL_INFO_ENTRY,
        nr,
        *(value & _MASK64 for value in args),
    )
    return _set_syscall_info(tid)


def set_syscall_return(tid: int, value: int) -> bool | None:
    """At a syscall-exit stop: the call returns ``value`` (a 64-bit pattern, -errno for an
    error), in one request. False if the tracee is gone; None as for
    :func:`set_syscall_call`."""
    if set_syscall_info_works is False:
        return None
    signed = value & _MASK64
    _SET_EXIT.pack_into(_set_buffer, 0, SYSCALL_INFO_EXIT, signed - (signed >> 63 << 64), 0)
    return _set_syscall_info(tid)


def has_syscall_info() -> bool:
    """Whether this kernel has ``PTRACE_GET_SYSCALL_INFO`` (5.3), asked of a stopped tracee."""
    return known_requests(PTRACE_GET_SYSCALL_INFO)[0]


def known_requests(*requests: int) -> tuple[bool, ...]:
    """Whether this kernel knows each ptrace request, asked of a child stopped under
    ``PTRACE_TRACEME`` with no buffer: a request the kernel does not know fails with EIO,
    a known one succeeds or refuses the buffer. (The pid is checked before the request, so a
    pid that is not a stopped tracee tells nothing: ESRCH either way.) All False where the
    child cannot be traced."""
    signal_stop = 19  # SIGSTOP
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only stops, and is killed stopped
        raw.ptrace(PTRACE_TRACEME, 0, 0, 0)
        os.kill(os.getpid(), signal_stop)
        os._exit(0)
    try:
        _, status = os.waitpid(child, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            return tuple(False for _ in requests)
        answers = tuple(_ptrace(request, child, 0, 0) for request in requests)
        return tuple(answer not in (-errno.EIO, -errno.ESRCH) for answer in answers)
    finally:
        os.kill(child, 9)  # SIGKILL
        os.waitpid(child, 0)


def host_arch() -> Arch:
    """An :class:`~sysemu.kernel.arch.Arch` for the machine sysemu runs on whose register
    edits are this module's requests, with its own register buffer.

    Raises OSError for an architecture sysemu does not support yet.
    """
    return host_arch_type()(sys.modules[__name__])
