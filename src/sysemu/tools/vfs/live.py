"""Live files: files whose every read, write, seek and stat a Python object answers.

``VirtualFS.add_file(path, MyFile())`` with a :class:`LiveFile`. Each open of the virtual
path opens a *stand-in* instead: an empty private file of sysemu's, made for that open and
removed as soon as the open returns, whose name identifies the open file description. The
kernel then does everything that only needs a descriptor (``close``, ``dup``, ``fcntl``,
inheritance across ``fork``, ``close-on-exec``, passing over sockets, ``poll``), and sysemu
answers the calls that move data or ask for it: ``read``, ``pread64``, ``readv``,
``preadv``/``preadv2``, ``write``, ``pwrite64``, ``writev``, ``pwritev``/``pwritev2``,
``lseek``/``_llseek``, ``ftruncate``, and ``st_size`` in ``fstat``/``statx``. ``mmap`` fails
with ``ENODEV`` (as for a ``/proc`` file), and ``sendfile``/``splice``/``copy_file_range``
with ``EINVAL``, after which ``cp`` and Python's ``shutil`` copy with ``read``/``write``.

A descriptor can be moved to any number (``sh -c 'cmd > /live/file'`` makes it fd 1), so the
kernel's filter cannot pick the descriptors out: while live files are configured, every call
above stops the program, and the handler tells a live descriptor by the name of the file it
refers to (``/proc/TID/fd/N``, one ``readlink``).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import struct
from collections.abc import Callable, Iterable

from sysemu.abi import Syscall, fcntl, layouts, syscall_by_name
from sysemu.abi.abi import machine_abis
from sysemu.api.call import Call
from sysemu.api.conditions import Masked
from sysemu.api.decisions import Decision, Result
from sysemu.api.handlers import HandlerSet
from sysemu.tools.vfs import policy

_O_DIRECTORY = fcntl.O_DIRECTORY
_O_APPEND = 0o2000
_MAP_ANONYMOUS = 0x20
_IOV_MAX = 1024
_SEEK_SET, _SEEK_CUR, _SEEK_END, _SEEK_DATA, _SEEK_HOLE = range(5)
_DELETED = " (deleted)"
_STAND_IN = "live-"


# The fields of a stat buffer sysemu sets, by their name in struct stat and in struct statx.
_STAT_FIELDS = ("st_size", "st_ino", "st_nlink")
_STATX_FIELDS = ("stx_size", "stx_ino", "stx_nlink")
_STAT_BUFFER = {"statx": "buffer"}  # the other stat calls name it "statbuf"

# Every call of a live descriptor that sysemu answers, and where its descriptors are.
_READS = ("read", "pread64", "readv", "preadv", "preadv2")
_WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
_OTHERS = ("lseek", "_llseek", "ftruncate", "ftruncate64", "fstat", "fstat64")
_COPIES = ("sendfile", "sendfile64", "copy_file_range", "splice")
_MAPS = ("mmap", "mmap2")
_PLAIN = frozenset({"read", "write", "readv", "writev"})  # at the descriptor's position
_SINGLE_BUFFER = frozenset({"read", "write", "pread64", "pwrite64"})


class LiveFile:
    """A file whose content and behaviour are Python code: subclass it and override
    :meth:`read` (a readable file), :meth:`write` (a writable one), and optionally
    :meth:`size` and :meth:`truncate`.

    Each call of the program on an open descriptor calls the method at once, with the
    descriptor's position: a sensor can answer each ``read`` with a fresh value, a log can
    hand each ``write`` to a callback. Raising ``OSError(errno.EIO, ...)`` (any errno) makes
    the program's call fail with that errno. The methods run on sysemu's tracing thread
    while the calling thread waits in its system call.

    >>> class Clock(LiveFile):
    ...     def read(self, offset: int, size: int) -> bytes:
    ...         return f"{time.time()}\\n".encode()[offset:offset + size]
    """

    def read(self, offset: int, size: int) -> bytes | str:
        """Up to ``size`` bytes from ``offset``; empty at the end of the file."""
        raise OSError(errno.EBADF, "not readable")

    def write(self, offset: int, data: bytes) -> int:
        """Take ``data`` at ``offset`` (the current size for ``O_APPEND``); return how many
        bytes were taken (``len(data)`` unless a short write is meant)."""
        raise OSError(errno.EBADF, "not writable")

    def size(self) -> int:
        """The size ``fstat`` reports and ``SEEK_END`` and ``O_APPEND`` use; 0 by default,
        as for a ``/proc`` file, whose content only reading tells."""
        return 0

    def truncate(self, length: int) -> None:
        """Called by ``ftruncate`` and by an open with ``O_TRUNC``; by default nothing
        happens (a file that only hands writes on keeps nothing to cut)."""

    @property
    def readable(self) -> bool:
        """Whether :meth:`read` is overridden (an open for reading is allowed)."""
        return type(self).read is not LiveFile.read

    @property
    def writable(self) -> bool:
        """Whether :meth:`write` is overridden (an open for writing is allowed)."""
        return type(self).write is not LiveFile.write


class _OpenFile:
    """What an open file description of a live file holds."""

    __slots__ = ("append", "file", "inode", "position", "readable", "writable")

    def __init__(self, file: LiveFile, flags: int, inode: int) -> None:
        self.file = file
        self.inode = inode  # of the file bound at the path, which fstat shows
        self.position = 0
        access = -1 if flags & policy.O_PATH else flags & policy.O_ACCMODE
        self.readable = access in (os.O_RDONLY, os.O_RDWR)
        self.writable = access in (os.O_WRONLY, os.O_RDWR)
        self.append = bool(flags & _O_APPEND)


class LiveFiles:
    """The live files of one :class:`~sysemu.tools.vfs.VirtualFS`: its open handling and the
    handlers of the descriptor calls."""

    def __init__(self, private_dir: Callable[[], str]) -> None:
        self._private_dir = private_dir
        self.files: dict[str, LiveFile] = {}  # virtual path -> file
        self._opens: dict[str, _OpenFile] = {}  # stand-in host path -> its description
        self._numbers = itertools.count()
        self._handlers: dict[str, Callable[[Call], Decision | None]] = {
            **dict.fromkeys(_READS, self._on_read),
            **dict.fromkeys(_WRITES, self._on_write),
            "lseek": self._on_lseek,
            "_llseek": self._on_lseek,
            "ftruncate": self._on_ftruncate,
            "ftruncate64": self._on_ftruncate,
            "fstat": self._on_fstat,
            "fstat64": self._on_fstat,
            **dict.fromkeys(_COPIES, self._on_copy),
            **dict.fromkeys(_MAPS, self._on_mmap),
        }

    def install(self, handlers: HandlerSet) -> None:
        """Register the descriptor handlers (``open`` comes through the path handler)."""
        names = _READS + _WRITES + _OTHERS + _COPIES
        # (fstat's size is set at syscall exit.)
        handlers.add(existing_syscalls(names), self._on_descriptor, needs_ptrace=True)
        # Anonymous mappings, most of all, need no look: the kernel leaves them out.
        anonymous_bit_clear = Masked(_MAP_ANONYMOUS, 0)
        # (i386's old mmap, which takes its arguments in a struct, is left out.)
        maps = [entry for entry in existing_syscalls(_MAPS) if len(entry.params) == 6]
        handlers.add(maps, self._on_descriptor, needs_ptrace=True, flags=anonymous_bit_clear)

    # Opens and stats by path.
    def open(self, call: Call, path_param: str, virtual: str, host: str) -> Decision:
        """The decision for an open of the live file at ``virtual`` (bound at ``host``): the
        open rewritten to a stand-in made for it, or failed."""
        file = self.files[virtual]
        flags = policy.open_flags(call)
        if flags is None:
            return call.fail(errno.EFAULT)
        try:
            inode = os.stat(host).st_ino
        except OSError:
            inode = 0
        description = _OpenFile(file, flags, inode)
        if flags & _O_DIRECTORY:
            return call.fail(errno.ENOTDIR)
        if (description.readable and not file.readable) or (
            description.writable and not file.writable
        ):
            return call.fail(errno.EACCES)
        if flags & policy.O_TRUNC and description.writable:
            try:
                file.truncate(0)
            except OSError as error:
                return call.fail(error.errno or errno.EIO)
        stand_in = os.path.join(self._private_dir(), f"{_STAND_IN}{next(self._numbers)}")
        mode = (0o444 if file.readable else 0) | (0o222 if file.writable else 0)
        os.close(os.open(stand_in, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.chmod(stand_in, mode)
        self._opens[stand_in] = description
        opens = self._opens

        def opened(result: Result) -> None:
            # The description now holds the stand-in; its name only has to stay readable
            # in /proc/PID/fd (as "... (deleted)").
            os.unlink(stand_in)
            if result.failed:
                del opens[stand_in]

        return call.rewrite(then=opened, **{path_param: stand_in})

    def stat_by_path(self, virtual: str, host: str) -> None:
        """Make the bound file at ``host`` show the live file's current size, for a call
        that names it (``stat``, ``ls -l``)."""
        try:
            size = self.files[virtual].size()
            mode = os.stat(host)
            if mode.st_size != size:
                # The file is sysemu's, but its mode may deny sysemu writing (0o444).
                os.chmod(host, 0o600)
                try:
                    os.truncate(host, size)
                finally:
                    os.chmod(host, stat.S_IMODE(mode.st_mode))
        except OSError:
            pass  # the call still sees the file, with its last size

    def stat_empty_path(self, call: Call, fd: int) -> Decision | None:
        """``newfstatat``/``fstatat64``/``statx`` on a descriptor (an empty path)."""
        return self._on_fstat(call, fd)

    # Descriptor calls.
    def _description(self, call: Call, fd: int) -> _OpenFile | None:
        """The live file description ``fd`` of the calling thread refers to, if any."""
        if fd < 0 or not self._opens:
            return None
        try:
            target = os.readlink(f"/proc/{call.tid}/fd/{fd}")
        except OSError:
            return None  # not open: the kernel says EBADF
        if target.endswith(_DELETED):
            return self._opens.get(target[: -len(_DELETED)])
        return None

    def _on_descriptor(self, call: Call) -> Decision | None:
        if not self._opens:
            return None
        return self._handlers[call.name](call)

    def _on_read(self, call: Call) -> Decision | None:
        description = self._description(call, _fd(call.raw[0]))
        if description is None:
            return None
        if not description.readable:
            return call.fail(errno.EBADF)
        try:
            transfer = _transfer(call)
            if transfer is None:
                return call.fail(errno.EINVAL)
            position, buffers = transfer
            start = description.position if position is None else position
            wanted = sum(length for _, length in buffers)
            data = description.file.read(start, wanted) if wanted else b""
            if isinstance(data, str):
                data = data.encode()
            data = data[:wanted]
            at = 0
            for address, length in buffers:
                if at >= len(data):
                    break
                call.write(address, data[at : at + length])
                at += length
        except OSError as error:
            return call.fail(error.errno or errno.EIO)
        if position is None:
            description.position = start + len(data)
        return call.emulate(len(data))

    def _on_write(self, call: Call) -> Decision | None:
        description = self._description(call, _fd(call.raw[0]))
        if description is None:
            return None
        if not description.writable:
            return call.fail(errno.EBADF)
        file = description.file
        try:
            transfer = _transfer(call)
            if transfer is None:
                return call.fail(errno.EINVAL)
            position, buffers = transfer
            data = b"".join(call.read(address, length) for address, length in buffers if length)
            if description.append:
                start = file.size()  # as the kernel does, even for pwrite
            else:
                start = description.position if position is None else position
            written = file.write(start, data) if data else 0
        except OSError as error:
            return call.fail(error.errno or errno.EIO)
        if not 0 <= written <= len(data):
            raise ValueError(f"{type(file).__name__}.write returned {written!r}")
        if position is None:
            description.position = start + written
        return call.emulate(written)

    def _on_lseek(self, call: Call) -> Decision | None:
        description = self._description(call, call.args.value(0))
        if description is None:
            return None
        args = call.raw
        if call.name == "_llseek":
            offset = _signed64((args[1] & 0xFFFFFFFF) << 32 | (args[2] & 0xFFFFFFFF))
            whence = args[4] & 0xFFFFFFFF
        else:
            offset, whence = call.args.value(1), call.args.value(2)
        try:
            if whence == _SEEK_SET:
                new = offset
            elif whence == _SEEK_CUR:
                new = description.position + offset
            elif whence == _SEEK_END:
                new = description.file.size() + offset
            elif whence in (_SEEK_DATA, _SEEK_HOLE):
                size = description.file.size()
                if offset < 0 or offset >= size:
                    return call.fail(errno.ENXIO)
                new = offset if whence == _SEEK_DATA else size
            else:
                return call.fail(errno.EINVAL)
        except OSError as error:
            return call.fail(error.errno or errno.EIO)
        if new < 0:
            return call.fail(errno.EINVAL)
        if call.name == "_llseek":
            try:
                call.write(args[3], struct.pack("<q", new))
            except OSError:
                return call.fail(errno.EFAULT)
            description.position = new
            return call.emulate(0)
        if call.abi.word_bits == 32 and new > 0x7FFFFFFF:  # off_t is a 32-bit register
            return call.fail(errno.EOVERFLOW)
        description.position = new
        return call.emulate(new)

    def _on_ftruncate(self, call: Call) -> Decision | None:
        description = self._description(call, call.args.value(0))
        if description is None:
            return None
        if call.name == "ftruncate64":
            length = _signed64((call.raw[2] & 0xFFFFFFFF) << 32 | (call.raw[1] & 0xFFFFFFFF))
        else:
            length = call.args.value(1)
        if length < 0 or not description.writable:
            return call.fail(errno.EINVAL)
        try:
            description.file.truncate(length)
        except OSError as error:
            return call.fail(error.errno or errno.EIO)
        return call.emulate(0)

    def _on_fstat(self, call: Call, fd: int | None = None) -> Decision | None:
        description = self._description(call, call.args.value(0) if fd is None else fd)
        if description is None:
            return None
        layout = layouts.stat_layout(call.name, call.abi)
        if layout is None:
            return None
        names = _STATX_FIELDS if layout is layouts.STATX else _STAT_FIELDS
        size_field, inode_field, links_field = (layout.field(name) for name in names)
        try:
            size = description.file.size()
        except OSError as error:
            return call.fail(error.errno or errno.EIO)
        if size >= 1 << (8 * size_field[1] - 1):
            return call.fail(errno.EOVERFLOW)
        # The descriptor's own stand-in is unlinked and differs from the file at the path:
        # it shows the path's inode and link count, as an open of a real file does (cp
        # checks that the file it opened is the one it looked at).
        fields = ((size_field, size), (inode_field, description.inode), (links_field, 1))
        index = call.syscall.param_index(_STAT_BUFFER.get(call.name, "statbuf"))
        address = call.args.value(index)

        def with_size(result: Result) -> int | None:
            if not result.failed:
                for (at, width), value in fields:
                    call.write(
                        address + at, (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
                    )
            return None

        return call.observe(with_size)

    def _on_copy(self, call: Call) -> Decision | None:
        for param in call.syscall.params:
            if param.name in ("in_fd", "out_fd", "fd_in", "fd_out"):
                fd = call.args.value(call.syscall.param_index(param.name))
                if self._description(call, fd) is not None:
                    # What the kernel says for files that cannot take part (a /proc file):
                    # cp and shutil then copy with read and write.
                    return call.fail(errno.EINVAL)
        return None

    def _on_mmap(self, call: Call) -> Decision | None:
        if self._description(call, call.args.value(4)) is None:
            return None
        return call.fail(errno.ENODEV)


def _transfer(call: Call) -> tuple[int | None, list[tuple[int, int]]] | None:
    """Where a read or write moves data: the position it names (``None``: the descriptor's,
    which the ``*v2`` calls ask for with -1) and its (address, length) pieces; ``None`` for
    arguments the kernel refuses with ``EINVAL``. Raises OSError for an unreadable vector."""
    position = _explicit_position(call)
    if position is not None and position < -1:
        return None
    buffers = _buffers(call)
    if buffers is None:
        return None
    return (None if position == -1 else position), buffers


def _explicit_position(call: Call) -> int | None:
    """The file position a positional call names (``-1``: the current one, for the ``*v2``
    calls), or ``None`` for a call that uses the descriptor's."""
    name = call.name
    if name in _PLAIN:
        return None
    raw = call.raw
    # One 64-bit position, or two halves in 32-bit registers (i386).
    if call.abi.word_bits == 32:
        return _signed64((raw[4] & 0xFFFFFFFF) << 32 | (raw[3] & 0xFFFFFFFF))
    return _signed64(raw[3])


def _buffers(call: Call) -> list[tuple[int, int]] | None:
    """The (address, length) pieces a read or write moves data through: its buffer, or the
    ``struct iovec`` array of the vector calls; ``None`` for a bad vector length."""
    raw = call.raw
    if call.name in _SINGLE_BUFFER:
        # size_t is as wide as a pointer; the kernel reads 32 bits of the count for ILP32 ABIs.
        count = raw[2] if call.abi.pointer_size == 8 else raw[2] & 0xFFFFFFFF
        return [(raw[1], count)]
    vector, length = raw[1], raw[2] & 0xFFFFFFFF
    if length > _IOV_MAX:
        return None
    pair = layouts.IOVEC[call.abi].codec
    array = call.read(vector, length * pair.size) if length else b""
    return [pair.unpack_from(array, at * pair.size) for at in range(length)]


def _fd(register: int) -> int:
    """A descriptor argument as the kernel reads it: a signed 32-bit int."""
    return ((register & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _signed64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >> 63 else value


def existing_syscalls(names: Iterable[str]) -> list[Syscall]:
    """The table entries of ``names`` in every ABI that has them."""
    found = []
    for name in names:
        for abi in machine_abis():
            try:
                found.append(syscall_by_name(name, abi))
            except KeyError:
                continue
    return found
