"""``Call``: one intercepted system call, as a handler sees it.

A ``Call`` is made only for calls a handler asked for, and everything beyond the registers the
kernel already reported (decoded strings, the process id, memory) is read on first use.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence

from sysemu._typing import TYPE_CHECKING, Protocol
from sysemu.abi import Abi, ArgKind, Syscall, errno_number, syscall_by_name
from sysemu.api.decisions import (
    ArgValue,
    Decision,
    Defer,
    Emulate,
    Fail,
    OpenFile,
    Pass,
    ResultHook,
    Rewrite,
)
from sysemu.kernel.memory import TraceeMemory
from sysemu.kernel.ptrace import record_method
from sysemu.kernel.raw import tgkill

if TYPE_CHECKING:
    import ctypes
    from typing import Any, TypeVar

    from sysemu.abi.sockaddr import Endpoint, SocketAddress

    _Struct = TypeVar("_Struct", bound=ctypes.Structure)

AT_FDCWD = -100
_FD, _DIRFD, _PID, _POINTER = ArgKind.FD, ArgKind.DIRFD, ArgKind.PID, ArgKind.POINTER
_SOCKADDR = "struct sockaddr *"
# Every call that takes a socket address names it by the kernel's parameter name (``addr``,
# ``dest_addr``, ``src_addr``); ``addr`` also reaches it in the calls that name it otherwise.
_ADDRESS_ALIAS = "addr"


READ_AT_ENTRY = frozenset({"execve", "execveat", "chdir"})
"""Calls whose arguments cannot be read the same way once they ran: after a successful exec
the caller's memory holds another program, and after a ``chdir`` a relative name resolves
against another directory. Observers see what was there at entry (see
:meth:`Call.keep_entry`)."""


class Task(Protocol):
    """The thread a call came from, as the engine tracks it."""

    @property
    def tid(self) -> int:
        """Thread id."""
        ...

    @property
    def pid(self) -> int:
        """Process (thread group) id."""
        ...


def _decode_int(raw: int, bits: int, signed: bool) -> int:
    value = raw & ((1 << bits) - 1)
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


class Args:
    """A call's arguments by the names of the syscall's signature.

    ``call.args.fd`` is an ``int`` (sign-extended as the C type says), ``call.args.pathname``
    a ``str`` read from the tracee on first access (``None`` for a NULL pointer); a socket
    address (``call.args.addr`` of ``connect``, ``bind``, ``sendto``, ``accept``...) a
    :class:`~sysemu.abi.sockaddr.SocketAddress` read at each access (``None`` for NULL);
    other pointers are addresses. ``call.args[i]`` gives the same by position; :meth:`raw`
    and :meth:`value` the register value.
    """

    __slots__ = ("_call", "_paths", "_strings")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._strings: dict[int, str | None] = {}
        # Call.paths, once resolved (kept here: a Call's slots are filled by the C loops).
        self._paths: list[str] | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            index = _param_index(self._call.syscall, name)
        except KeyError:
            params = ", ".join(p.name for p in self._call.syscall.params)
            raise AttributeError(
                f"{self._call.name} has no argument {name!r} (it has: {params or 'none'})"
            ) from None
        return self[index]

    def __getitem__(self, index: int) -> Any:
        call = self._call
        params = call.syscall.params
        raw = call.raw[index]
        if index >= len(params):
            return raw
        param = params[index]
        if param.kind is ArgKind.PATH or param.kind is ArgKind.STRING:
            if index not in self._strings:
                self._strings[index] = None if raw == 0 else call.read_str(raw)
            return self._strings[index]
        if param.kind is _POINTER and param.ctype == _SOCKADDR:
            return self.socket_address(index)
        return self.value(index)

    def socket_address(self, index: int) -> SocketAddress | None:
        """The socket address argument ``index`` points at, read now (not cached: an
        ``accept``'s is filled by the kernel, so read it in a result hook), or ``None`` for
        NULL or a length under 2. Its length is the next argument, or, where that is a
        pointer (``accept``, ``recvfrom``, ``getsockname``), the ``int`` it points at. Raises
        OSError if the memory cannot be read."""
        call = self._call
        address = call.raw[index]
        length_param = call.syscall.params[index + 1]
        length_value = call.raw[index + 1]
        if address == 0:
            return None
        if length_param.kind is _POINTER:
            if length_value == 0:
                return None
            length = int.from_bytes(call.read(length_value, 4), "little", signed=True)
        else:
            length = _decode_int(length_value, 32, True)
        return call.read_sockaddr(address, length)

    def value(self, index: int) -> int:
        """Argument ``index`` as a number, never read from memory: narrowed to the width the
        kernel uses and sign-extended when its C type is signed (file descriptors and pids
        always are, whatever the C type says, as the kernel reads them)."""
        call = self._call
        params = call.syscall.params
        raw = call.raw[index]
        if index >= len(params):
            return raw
        param = params[index]
        kind = param.kind
        # Identity tests: an enum member's hash is computed in Python, set lookups pay for it.
        signed = param.signed or kind is _FD or kind is _DIRFD or kind is _PID
        return _decode_int(raw, param.bits, signed)

    def raw(self, name: str) -> int:
        """The register value of argument ``name``, undecoded."""
        return self._call.raw[self._call.syscall.param_index(name)]

    def __repr__(self) -> str:
        call = self._call
        parts = []
        for index, param in enumerate(call.syscall.params):
            kind = param.kind
            if kind is ArgKind.PATH or kind is ArgKind.STRING:
                shown = repr(self._strings[index]) if index in self._strings else "<str>"
            elif param.ctype == _SOCKADDR:
                shown = f"<sockaddr {self.value(index):#x}>"  # read only when asked for
            else:
                shown = str(self[index])
            parts.append(f"{param.name}={shown}")
        return f"Args({', '.join(parts)})"


class Call:
    """One system call stopped on its way into the kernel.

    Attributes: ``name``, ``nr`` (the number in ``abi``'s table), ``abi``, ``syscall`` (the
    table entry: signature and kinds), ``raw`` (six register values), ``tid``, ``pid``, and
    ``args`` (decoded by name). Return a decision made by one of the methods below, or ``None``
    to let the next handler (or the kernel) have it.
    """

    __slots__ = ("_args", "_memory", "_task", "ip", "raw", "sp", "syscall")

    def __init__(
        self,
        syscall: Syscall,
        raw: tuple[int, ...],
        task: Task,
        ip: int = 0,
        sp: int = 0,
        *,
        memory: TraceeMemory | Callable[[], TraceeMemory] | None = None,
    ) -> None:
        self.syscall = syscall
        self.raw = raw
        self._task = task
        self.ip = ip
        self.sp = sp
        self._args: Args | None = None
        self._memory = memory

    # What the call is.
    @property
    def name(self) -> str:
        """The syscall's name in its ABI (``"openat"``; ``"syscall_1000"`` if it has none)."""
        return self.syscall.name

    @property
    def nr(self) -> int:
        """The syscall number in the call's ABI."""
        return self.syscall.nr

    @property
    def abi(self) -> Abi:
        """The ABI the call was made through (an ``int $0x80`` call is ``Abi.I386``)."""
        return self.syscall.abi

    @property
    def args(self) -> Args:
        """The arguments by name; see :class:`Args`."""
        if self._args is None:
            self._args = Args(self)
        return self._args

    @property
    def path(self) -> str | None:
        """The first path argument as a string (not resolved against the cwd), or ``None`` if
        the call has no path argument or it is NULL."""
        for index, param in enumerate(self.syscall.params):
            if param.kind is ArgKind.PATH:
                value = self.args[index]
                return value if isinstance(value, str) else None
        return None

    @property
    def paths(self) -> list[str]:
        """Every path argument, resolved as the kernel would start resolving it: against the
        call's directory fd argument if it has one, else the caller's working directory.

        The result is absolute and lexically normalised (``..`` and ``.`` folded, repeated
        slashes removed); symbolic links are not followed. NULL and unreadable arguments are
        left out, and so is a path whose base directory cannot be known any more.

        Resolved once: later reads give the same list, even after the call changed the working
        directory (``chdir``) or replaced the program (``execve``).
        """
        args = self.args
        if args._paths is None:
            args._paths = self._resolve_paths()
        return list(args._paths)

    def _resolve_paths(self) -> list[str]:
        params = self.syscall.params
        resolved = []
        dirfd: int | None = None
        for index, param in enumerate(params):
            if param.kind is ArgKind.DIRFD:
                dirfd = self.args[index]
            elif param.kind is ArgKind.PATH:
                try:
                    value = self.args[index]
                except OSError:
                    continue
                if isinstance(value, str):
                    path = self.resolve(value, AT_FDCWD if dirfd is None else dirfd)
                    if path is not None:
                        resolved.append(path)
                dirfd = None
        return resolved

    def keep_entry(self) -> None:
        """Read now what the call's arguments point at (its strings and paths, resolved), so
        that :attr:`args`, :attr:`path` and :attr:`paths` still give it once the call ran:
        after a successful ``execve`` the memory is another program's, after a ``chdir`` a
        relative name means another file.

        Values are read once and kept anyway; this only reads them before they are asked for.
        The engines call it at entry for the calls whose observers would otherwise find them
        changed at ``call_finished``: calls in :data:`READ_AT_ENTRY` on every backend, and
        every observed call under user notification, whose memory cannot be read once the
        call was answered. Strings that cannot be read are left out (reading them later
        raises as before).
        """
        args = self.args
        for index, param in enumerate(self.syscall.params):
            if param.kind is ArgKind.PATH or param.kind is ArgKind.STRING:
                try:
                    args[index]
                except OSError:
                    continue
        self.paths  # noqa: B018 (resolved and kept)

    def resolve(self, path: str, dirfd: int = -100) -> str | None:
        """``path`` made absolute against ``dirfd`` (``AT_FDCWD``, -100: the caller's working
        directory) and lexically normalised; ``None`` if the base cannot be read."""
        if not path.startswith("/"):
            base = self.cwd if dirfd == AT_FDCWD else self.fd_path(dirfd)
            if base is None or not base.startswith("/"):
                return None
            path = f"{base}/{path}"
        normal = posixpath.normpath(path)
        # POSIX keeps a leading "//"; Linux treats it as "/".
        return "/" + normal.lstrip("/")

    @property
    def cwd(self) -> str | None:
        """The calling thread's working directory (from /proc), or ``None``."""
        try:
            return os.readlink(f"/proc/{self._task.tid}/cwd")
        except OSError:
            return None

    def fd_path(self, fd: int) -> str | None:
        """What the caller's file descriptor ``fd`` refers to, as /proc shows it (a path, or
        ``pipe:[1234]``, ``socket:[...]``...), or ``None`` if it is not open."""
        if fd < 0:
            return None
        try:
            return os.readlink(f"/proc/{self._task.tid}/fd/{fd}")
        except OSError:
            return None

    def send_signal(self, sig: int) -> None:
        """Send signal ``sig`` to the calling thread; it is delivered when the thread resumes
        (before the call runs if the call blocks, else on its way back to the program)."""
        tgkill(self._task.pid, self._task.tid, sig)

    # Who made it.
    @property
    def tid(self) -> int:
        """The calling thread's id."""
        return self._task.tid

    @property
    def pid(self) -> int:
        """The calling process's id (its thread group id)."""
        return self._task.pid

    # The tracee's memory.
    @property
    def memory(self) -> TraceeMemory:
        """The caller's address space (``process_vm_readv``, ``/proc/PID/mem`` fallback)."""
        memory = self._memory
        if memory is None:
            memory = self._memory = TraceeMemory(self._task.tid)
        elif not isinstance(memory, TraceeMemory):  # a factory, called on first use
            memory = self._memory = memory()
        return memory

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes of the caller's memory."""
        return self.memory.read(address, size)

    def read_bytes_until_nul(self, address: int, limit: int = 4096) -> bytes:
        """Read a C string (without its NUL) of at most ``limit`` bytes."""
        return self.memory.read_cstring(address, limit)

    def read_str(self, address: int, limit: int = 4096) -> str:
        """Read a C string and decode it as the OS does file names (undecodable bytes kept
        as surrogates, so ``os.fsencode`` gives them back)."""
        return os.fsdecode(self.memory.read_cstring(address, limit))

    def read_sockaddr(self, address: int, length: int) -> SocketAddress | None:
        """Read a socket address of ``length`` bytes (at most ``sockaddr_storage``'s 128);
        ``None`` for a NULL ``address`` or a length under 2, as the kernel refuses them."""
        if address == 0 or length < 2:
            return None
        from sysemu.abi import sockaddr  # noqa: PLC0415 (socket handlers only: start-up)

        return sockaddr.decode(self.read(address, min(length, sockaddr.SOCKADDR_STORAGE_SIZE)))

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` into the caller's memory (an output buffer of an emulated call)."""
        self.memory.write(address, data)

    def read_struct(self, address: int, struct_type: type[_Struct]) -> _Struct:
        """Read a ctypes structure from the caller's memory."""
        import ctypes  # noqa: PLC0415 (the caller's structure type has loaded it already)

        return struct_type.from_buffer_copy(self.read(address, ctypes.sizeof(struct_type)))

    def write_struct(self, address: int, value: ctypes.Structure) -> None:
        """Write a ctypes structure into the caller's memory."""
        self.write(address, bytes(value))

    # Decisions.
    def pass_through(self, then: ResultHook | None = None) -> Pass:
        """The kernel runs the call unchanged; ``then`` (if given) sees its result."""
        return Pass(then)

    def observe(self, then: ResultHook) -> Pass:
        """The kernel runs the call; ``then`` sees its result and may replace it."""
        return Pass(then)

    def defer(self, timeout: float | None = None, default: object = None) -> Defer:
        """Hold this thread (only it) until the returned :class:`Defer` is resolved, from any
        thread; after ``timeout`` seconds it is resolved with ``default`` (a decision, or
        ``None`` to let the kernel run the call)."""
        return Defer(timeout, default)

    def delay(self, seconds: float, then: Decision | None = None) -> Defer:
        """Hold this thread (only it) for ``seconds``, then carry out ``then``; with ``None``
        the call is then carried out as the handlers registered after this one decide (the
        kernel runs it if none does). Other threads and processes run on meanwhile."""
        return Defer(seconds, then, then_others=then is None)

    def emulate(self, value: int) -> Emulate:
        """The kernel skips the call; it returns ``value`` (``-errno`` values are errors)."""
        return Emulate(value)

    def fail(self, error: int | str) -> Fail:
        """The kernel skips the call; it fails with ``error`` (a number or ``"ENOENT"``)."""
        return Fail(error if isinstance(error, int) else errno_number(error))

    def rewrite(
        self,
        *,
        then: ResultHook | None = None,
        **args: int | str | bytes | Sequence[str | bytes] | Endpoint,
    ) -> Rewrite:
        """The kernel runs the call with the named arguments replaced.

        An ``int`` replaces the register; a ``str`` or ``bytes`` is written into the caller's
        memory (in a scratch area sysemu maps in each process, a slot of its own per
        thread; see engine/scratch.py) with a NUL added, and the register points at the
        copy. A list (or tuple) of strings becomes an ``argv``-style array there: the
        strings, and a NULL-terminated array of pointers to them in the call's ABI (8-byte
        pointers, 4 for i386 and x32).

        The socket address of ``connect``, ``bind`` and ``sendto`` (``addr=``, whatever the
        call names it) takes ``(host, port)`` with a numeric IPv4 or IPv6 host, an
        ``AF_UNIX`` path ``str`` (a leading NUL: an abstract name) or a
        :class:`~sysemu.abi.sockaddr.SocketAddress`; it is encoded, written there, and the
        length argument set to its size unless given too. ``bytes`` are written as they are.
        """
        values: list[ArgValue | None] = [None] * 6
        params = self.syscall.params
        for name, value in args.items():
            index = _param_index(self.syscall, name)
            if params[index].ctype == _SOCKADDR and not isinstance(value, (int, bytes)):
                length = params[index + 1]
                if length.kind is _POINTER:
                    raise ValueError(
                        f"{self.name} has its socket address filled by the kernel: "
                        "it cannot be rewritten"
                    )
                from sysemu.abi import sockaddr  # noqa: PLC0415 (as above)

                encoded = sockaddr.encode(value)
                values[index] = encoded
                if length.name not in args:
                    values[index + 1] = len(encoded)
                continue
            values[index] = _arg_value(value)
        return Rewrite(tuple(values), None, then)

    def open_file(
        self, path: str | None = None, flags: int | None = None, mode: int = 0
    ) -> OpenFile:
        """Answer this open with a descriptor of ``path`` (the call's own path, resolved, by
        default) that sysemu opens itself, with ``flags`` (the call's own by default): the
        race-free way to allow an open after checking its path; see :class:`OpenFile`."""
        target = path if path is not None else next(iter(self.paths), None)
        if target is None:
            raise ValueError(f"{self.name} has no path to open")
        if flags is None:
            flags = self._argument("flags", 0)
        if not mode:
            mode = self._argument("mode", 0)
        resolved = self.resolve(target) or target
        return OpenFile(resolved, flags, mode)

    def _argument(self, name: str, default: int) -> int:
        try:
            return self.args.value(self.syscall.param_index(name))
        except KeyError:
            return default

    def change_to(
        self, syscall: str | int, *args: int | str | bytes, then: ResultHook | None = None
    ) -> Rewrite:
        """The kernel runs another call instead, in the same ABI, with ``args`` (missing
        arguments keep the original registers)."""
        nr = syscall if isinstance(syscall, int) else syscall_by_name(syscall, self.abi).nr
        values: list[ArgValue | None] = [None] * 6
        for index, value in enumerate(args):
            values[index] = _arg_value(value)
        return Rewrite(tuple(values), nr, then)

    def __repr__(self) -> str:
        return f"<Call {self.name}({self.abi}) tid={self.tid} {self.args!r}>"


if record_method is not None:
    # The most common decision of hot handlers, made in C where the accelerator is built: no
    # Python frame, no __init__, no argument tuple, and the wait loops refill the Emulate of a
    # carried-out decision that nobody kept for the next one (see record_method in
    # csrc/calls.c). Against the Python method calling a C function, the time per emulated
    # getpid read 0.98 (pinned) and 0.97 (unpinned) on unotify, 31 paired runs each, and 0.97
    # on the seccomp backend, pinned, 21 paired runs.
    Call.emulate = record_method(  # type: ignore[method-assign,assignment]
        Call,
        Emulate,
        "value",
        "emulate",
        f"emulate($self, value, /)\n--\n\n{Call.emulate.__doc__}",
    )


def _param_index(syscall: Syscall, name: str) -> int:
    """The position of parameter ``name``; ``addr`` also names a socket address argument
    the kernel calls something else. Raises KeyError."""
    try:
        return syscall.param_index(name)
    except KeyError:
        if name == _ADDRESS_ALIAS:
            for index, param in enumerate(syscall.params):
                if param.ctype == _SOCKADDR:
                    return index
        raise


def _arg_value(value: int | str | bytes | Sequence[object]) -> ArgValue:
    if isinstance(value, int):
        return value
    if isinstance(value, (str, bytes)):
        return _c_string(value)
    return tuple(_c_string(item) for item in value)


def _c_string(value: object) -> bytes:
    if isinstance(value, str):
        return os.fsencode(value) + b"\0"
    if isinstance(value, bytes):
        return value if value.endswith(b"\0") else value + b"\0"
    raise TypeError(f"an array argument holds str or bytes, not {value!r}")
