"""``VirtualFS``: binds, a root, hidden and read-only trees, made of handlers.

Every path argument of every call that takes one (all ABIs, from the syscall table's ``PATH``
parameters and the ``DIRFD`` parameters they are relative to) is resolved as the program means
it, in *virtual* terms, and then:

- a hidden path fails with ``ENOENT``;
- a change under a read-only path fails with ``EROFS``;
- a path that names something else on the host (a bind, the root) is rewritten to the host
  path, absolute, before the kernel sees it.

Results that carry paths back (``getcwd``, ``readlink`` of ``/proc/self/cwd`` and friends) are
mapped back to virtual names at syscall exit, and directory listings lose hidden names.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
import signal
import stat
import struct
import tempfile
from collections.abc import Callable, Mapping
from typing import NamedTuple

from sysemu.abi import Abi, ArgKind, Syscall, path_calls
from sysemu.api.call import AT_FDCWD, Call
from sysemu.api.conditions import HasBits, Masked, Ne
from sysemu.api.decisions import Decision, Result, ResultHook
from sysemu.api.handlers import HandlerSet
from sysemu.tools.vfs import policy
from sysemu.tools.vfs.dirents import (
    DT_BLK,
    DT_CHR,
    DT_DIR,
    DT_FIFO,
    DT_LNK,
    DT_REG,
    DT_SOCK,
    DT_UNKNOWN,
    DirentLayout,
    drop_names,
    layout_for,
    record,
)
from sysemu.tools.vfs.live import LiveFile, LiveFiles, existing_syscalls
from sysemu.tools.vfs.paths import PathMap, ancestors, join, normalize

# The kernel reads at most PATH_MAX (4096) bytes, NUL included; sysemu reads as much.
_PATH_MAX = 4096
_READLINK_CALLS = frozenset({"readlink", "readlinkat"})
_OPEN_CALLS = frozenset({"open", "openat", "openat2"})
_EXEC_CALLS = frozenset({"execve", "execveat"})
_AF_UNIX = 1
_SUN_PATH_MAX = 108
_SOCKADDR_UN_SIZE = 2 + _SUN_PATH_MAX
# Which argument holds the address of each call that may name an AF_UNIX socket's file (its
# length is the next one).
_SOCKET_ADDRESS = {"bind": 1, "connect": 1, "sendto": 4}
_MAX_LINKS = 40  # the kernel's MAXSYMLINKS: more links in one path walk is ELOOP
_STAT_CALLS = frozenset({"newfstatat", "fstatat64", "statx"})
_BINPRM_BUF_SIZE = 256  # how much of a file the kernel reads to find its #! line
_INTERPRETER_DEPTH = 5  # the script and 4 more interpreters (BINPRM_MAX_RECURSION)

ContentSource = Callable[[Call], bytes | str]
"""What ``add_file`` calls at each open of a file with computed content."""
FileContent = bytes | str | ContentSource | LiveFile
"""What ``add_file`` takes: fixed content, a function of the open, or a live file."""
Tree = Mapping[str, "FileContent | Tree"]
"""What ``add`` takes for a directory: names to file contents and to subdirectories."""
_PROC_LINK = re.compile(r"^/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/(cwd|exe|root|fd/\d+)$")
_DELETED = " (deleted)"
# -ERESTARTNOINTR: with a signal pending, the kernel runs the call again (see _again).
_ERESTARTNOINTR = 513
# Signals whose default action is to do nothing, in order of preference for _again.
_QUIET_SIGNALS = (signal.SIGURG, signal.SIGWINCH)


class _PathError(Exception):
    """A path argument the kernel would fail with ``errno`` (see ``VirtualFS._resolve``)."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.errno = number


class Resolved(NamedTuple):
    """One path argument, as the program means it and as the kernel will get it."""

    virtual: str | None  # None: the base directory is not visible to the program
    host: str  # the normalised host path it maps to
    kernel: str  # the absolute path the kernel will resolve (not normalised if passed on)
    rewrite: str | None  # the new argument, when the mapping changes the path


class VirtualFS:
    """A view of the filesystem for a traced program, without privileges.

    ``bind(virtual, host)`` shows a host file or directory at a virtual path (``proot -b``);
    ``hide(path)`` makes a path and everything under it absent (``ENOENT``, left out of
    listings); ``readonly(path)`` makes changes under it fail with ``EROFS``; ``root(dir)``
    maps every absolute path that no bind covers under ``dir`` (``proot -r``); ``cwd(dir)`` is
    the virtual directory to start in (pass :attr:`start_cwd` as ``Emulator.run``'s ``cwd``).
    All paths are virtual and absolute except the host sides of ``bind`` and ``root``.
    Matching is lexical at component boundaries: see :mod:`sysemu.tools.vfs.paths`.

    :meth:`install` registers the handlers; configure before it.
    """

    def __init__(self) -> None:
        self.paths = PathMap()
        self._cwd: str | None = None
        self._memo: tuple[Call, Decision | None] | None = None
        # For _unaffected: the path arguments to test per call, and the names that matter.
        self._plans: dict[int, tuple[int, ...]] = {}
        self._significant: frozenset[bytes] = frozenset()
        # Where add_file keeps its contents (made on first use, removed with this object).
        self._files: tempfile.TemporaryDirectory[str] | None = None
        # add_file paths whose content a function makes at each open.
        self._dynamic: dict[str, tuple[ContentSource, int]] = {}
        # add_file paths whose every read and write a LiveFile answers.
        self._live = LiveFiles(self._private_dir)
        # Host paths of dynamic loaders that programs were started with (see _exec), and
        # which of them take --argv0.
        self._loaders: set[str] = set()
        self._loaded_programs: set[str] = set()
        self._argv0_loaders: dict[str, bool] = {}

    # Configuration.
    def bind(self, virtual: str, host: str) -> VirtualFS:
        """Show the host path ``host`` (which must exist) at the absolute ``virtual`` path;
        binds take precedence over the root, and the deepest bind covering a path wins."""
        host = os.path.abspath(host)
        if not os.path.lexists(host):
            raise ValueError(f"bind {virtual}={host}: {host} does not exist")
        self.paths.bind(_virtual(virtual, "bind"), host)
        return self

    def add_file(
        self,
        virtual: str,
        content: FileContent,
        *,
        mode: int | None = None,
    ) -> VirtualFS:
        """A file that exists only for the program, at the absolute ``virtual`` path, listed
        in its directory. Changes by path (``unlink``, ``rename``, ``chmod``...) fail with
        ``EROFS``; ``mode`` gives its permission bits (``0o555`` for a program or script the
        program can run).

        ``content`` is one of:

        - bytes or str: a read-only file with that content (``mode`` 0o444 by default);
        - a function that makes the content each time the program opens the file: it gets
          the :class:`Call` of the ``open`` (``call.pid``, ``call.path``...) and returns bytes
          or str. Each open then reads its own snapshot, which stays as it was for as long as
          that descriptor is open, like a file replaced by rename;
        - a :class:`~sysemu.tools.vfs.live.LiveFile`: each ``read``, ``write``, ``lseek``
          and ``fstat`` of the program on it calls the object, so content can change between
          two reads of one descriptor and writes can go to a callback (see
          :mod:`sysemu.tools.vfs.live` for what it answers and what it costs). Its mode comes
          from the methods it overrides (``0o444`` for ``read``, ``0o222`` for ``write``) and
          cannot be given.

        Fixed content and snapshots are written to a private file of sysemu's (removed when
        this object is, or, for a snapshot, as soon as the open returns), which is what the
        program opens: every way of reading a file works on it (``read``, ``pread``,
        ``readv``, ``lseek``, ``mmap``, ``fstat``, ``dup``, inheritance across ``fork`` and
        ``exec``). ``stat`` without an open sees the last snapshot.
        """
        key = normalize(_virtual(virtual, "add_file"))
        if isinstance(content, LiveFile):
            if mode is not None:
                raise ValueError(f"add_file {virtual}: a LiveFile's mode comes from its methods")
            if not (content.readable or content.writable):
                raise ValueError(f"add_file {virtual}: the LiveFile has neither read nor write")
            mode = (0o444 if content.readable else 0) | (0o222 if content.writable else 0)
            self._live.files[key] = content
            data = b""
        else:
            mode = 0o444 if mode is None else mode
            if not 0 <= mode <= 0o7777:
                raise ValueError(f"add_file {virtual}: mode {mode:#o} is not a permission mode")
            if callable(content):
                self._dynamic[key] = (content, mode)
                data = b""
            else:
                data = content.encode() if isinstance(content, str) else content
        self.bind(virtual, self._private_file(data, mode))
        return self.readonly(virtual)

    def add(
        self, virtual: str, content: FileContent | Tree, *, mode: int | None = None
    ) -> VirtualFS:
        """A file (see :meth:`add_file`) or, for a mapping, a directory that exists only for
        the program: ``add("/etc/app", {"app.conf": b"...", "conf.d": {"10-x.conf": "..."}})``.

        In a directory, names map to anything :meth:`add_file` takes or to a mapping (a
        subdirectory). Fixed contents are written as real files into a private directory of
        sysemu's, so they cost nothing after the open; functions and live files are added at
        their paths as by :meth:`add_file`. The whole tree is read-only (``EROFS``);
        ``mode`` applies to its fixed files (``0o444`` by default).
        """
        if not isinstance(content, Mapping):
            return self.add_file(virtual, content, mode=mode)
        virtual = normalize(_virtual(virtual, "add"))
        directory = tempfile.mkdtemp(dir=self._private_dir())
        os.chmod(directory, 0o755)
        self._fill(directory, virtual, content, 0o444 if mode is None else mode)
        self.bind(virtual, directory)
        return self.readonly(virtual)

    def _fill(self, directory: str, virtual: str, tree: Tree, mode: int) -> None:
        """Write ``tree`` into the host ``directory`` shown at ``virtual``."""
        for name, content in tree.items():
            if not name or "/" in name or name in (".", "..") or "\0" in name:
                raise ValueError(f"add {virtual}: {name!r} is not a file name")
            host, path = os.path.join(directory, name), join(virtual, name)
            if isinstance(content, Mapping):
                os.mkdir(host, 0o755)
                self._fill(host, path, content, mode)
            elif isinstance(content, bytes | str):
                if not 0 <= mode <= 0o7777:
                    raise ValueError(f"add {path}: mode {mode:#o} is not a permission mode")
                with open(host, "wb") as file:
                    file.write(content.encode() if isinstance(content, str) else content)
                os.chmod(host, mode)
            else:
                # Listed by the kernel under this name; the file is bound over it.
                os.close(os.open(host, os.O_CREAT | os.O_WRONLY, 0o444))
                self.add_file(path, content)

    def _glue_missing_parents(self) -> None:
        """Give every bind whose parent directories do not exist (on the host, or in the
        root) empty private directories there, as proot does: then ``/a`` of a bind at
        ``/a/b`` is a directory whose listing shows ``b``, not a missing name."""
        paths = self.paths
        for virtual in sorted(paths.binds):
            missing = [
                ancestor
                for ancestor in ancestors(virtual)
                if ancestor not in ("/", virtual) and not os.path.lexists(paths.to_host(ancestor))
            ]
            for ancestor in reversed(missing):  # shallowest first
                glue = tempfile.mkdtemp(dir=self._private_dir())
                os.chmod(glue, 0o755)
                paths.bind(ancestor, glue)

    def _private_dir(self) -> str:
        """sysemu's private directory for added files and glue (made on first use, removed
        with this object)."""
        if self._files is None:
            self._files = tempfile.TemporaryDirectory(prefix="sysemu-vfs-")
        return self._files.name

    def _private_file(self, data: bytes, mode: int) -> str:
        """A new file holding ``data`` in sysemu's private directory, with ``mode``."""
        fd, host = tempfile.mkstemp(dir=self._private_dir())
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(host, mode)
        return host

    def hide(self, path: str) -> VirtualFS:
        """Make the virtual ``path`` and everything under it absent."""
        self.paths.hide(_virtual(path, "hide"))
        return self

    def readonly(self, path: str) -> VirtualFS:
        """Make changes to the virtual ``path`` and anything under it fail with ``EROFS``."""
        self.paths.make_readonly(_virtual(path, "readonly"))
        return self

    def root(self, directory: str) -> VirtualFS:
        """Map every absolute path no bind covers under the host ``directory``."""
        directory = os.path.abspath(directory)
        if not os.path.isdir(directory):
            raise ValueError(f"root {directory}: not a directory")
        self.paths.set_root(directory)
        return self

    def cwd(self, directory: str) -> VirtualFS:
        """Start the program in the virtual ``directory`` (see :attr:`start_cwd`)."""
        self._cwd = _virtual(directory, "cwd")
        return self

    @property
    def start_cwd(self) -> str | None:
        """The host directory the program must be started in (``Emulator.run(cwd=...)``):
        the one ``cwd`` names, ``/`` of the root when there is a root, else ``None``
        (sysemu's own working directory)."""
        virtual = self._cwd if self._cwd is not None else "/" if self.paths.root else None
        return None if virtual is None else self.paths.to_host(virtual)

    def find_program(self, program: str, env: Mapping[str, str]) -> str | None:
        """The path to start ``program`` by when it is found in the virtual view (an absolute
        path, or a name searched in ``env``'s ``PATH``, both as the program sees them), or
        ``None`` where the host's answer stands: nothing is remapped, or it is not found.
        The exec of a virtual path is mapped like any other (see :meth:`install`)."""
        paths = self.paths
        if not paths.remaps or (not program.startswith("/") and "/" in program):
            return None
        if program.startswith("/"):
            candidates = [program]
        else:
            search = env.get("PATH", os.defpath).split(os.pathsep)
            candidates = [join(d, program) for d in search if d.startswith("/")]
        for candidate in candidates:
            virtual = normalize(candidate)
            try:
                followed = self._follow_links("/", virtual, True)
            except _PathError:
                continue
            if paths.hidden(followed):
                continue
            host = paths.to_host(followed)
            if os.path.isfile(host) and os.access(host, os.X_OK):
                return candidate
        return None

    @property
    def decides_only(self) -> bool:
        """Whether every handler of this configuration only passes or fails calls (read-only
        paths alone): then it also runs on the ``unotify`` backend, without ptrace. Binds, a
        root and hidden paths rewrite arguments or edit results, which needs ptrace."""
        return not (self.paths.remaps or self.paths.has_hidden)

    # Installation.
    def install(self, handlers: HandlerSet) -> None:
        """Register the handlers this configuration needs on ``handlers``.

        Only what is configured stops the program: binds, a root or hidden paths stop every
        call that takes a path; read-only paths alone stop only calls that change something
        (opens only with write access, ``O_CREAT`` or ``O_TRUNC``, checked by the kernel).
        """
        paths = self.paths
        self._glue_missing_parents()
        self._plans.clear()
        self._significant = frozenset(map(os.fsencode, paths.significant_names))
        for virtual in paths.readonly_paths:
            host = paths.to_host(virtual)
            real = os.path.realpath(host)
            if real != host:
                paths.add_readonly_host(real)
        # Without remapping, path calls are only passed or failed: the "auto" backend may
        # then answer them without ptrace.
        decides = not paths.remaps
        if paths.remaps or paths.has_hidden:
            handlers.add(
                path_syscalls(), self._on_path, decides_only=decides, needs_ptrace=not decides
            )
        elif paths.has_readonly:
            changing = [s for s in path_syscalls() if s.name in policy.CHANGING_CALLS]
            plain = [s for s in changing if s.name not in ("open", "openat")]
            handlers.add(plain, self._on_path, decides_only=True)
            opens = [s for s in changing if s.name in ("open", "openat")]
            for condition in (
                Masked(policy.O_ACCMODE, 1),
                Masked(policy.O_ACCMODE, 2),
                Masked(policy.O_ACCMODE, 3),
                HasBits(policy.O_CREAT),
                HasBits(policy.O_TRUNC),
            ):
                handlers.add(opens, self._on_path, decides_only=True, flags=condition)
        if paths.has_readonly:
            fd_changing = existing_syscalls(sorted(policy.FD_CHANGING))
            handlers.add(fd_changing, self._on_fd_change, decides_only=True)
        if paths.remaps:
            handlers.add("getcwd", self._on_getcwd, needs_ptrace=True)
        if paths.has_hidden or paths.lists_binds:
            handlers.add(["getdents", "getdents64"], self._on_getdents, needs_ptrace=True)
        if self._live.files:
            self._live.install(handlers)
        # AF_UNIX socket addresses name files too. bind makes one (hidden, read-only and
        # mapped paths matter); connect and sendto only look one up (hidden and mapped).
        rewrites = paths.remaps
        if paths.remaps or paths.has_hidden or paths.has_readonly:
            handlers.add(
                existing_syscalls(["bind"]),
                self._on_socket_address,
                decides_only=not rewrites,
                needs_ptrace=rewrites,
            )
        if paths.remaps or paths.has_hidden:
            handlers.add(
                existing_syscalls(["connect"]),
                self._on_socket_address,
                decides_only=not rewrites,
                needs_ptrace=rewrites,
            )
            # The names the kernel gives back, mapped back to virtual ones at syscall exit.
            if rewrites:
                handlers.add(
                    existing_syscalls(["getsockname", "getpeername"]),
                    self._on_socket_name,
                    needs_ptrace=True,
                )
            # Only a sendto with an address (a datagram to a named socket, as syslog() sends
            # to /dev/log): a connected socket's sends never stop.
            handlers.add(
                existing_syscalls(["sendto"]),
                self._on_socket_address,
                decides_only=not rewrites,
                needs_ptrace=rewrites,
                dest_addr=Ne(0),
            )

    # Path arguments.
    def _on_path(self, call: Call) -> Decision | None:
        # A handler registered under several conditions is asked once per matching
        # registration; the answer is the same each time.
        memo = self._memo
        if memo is not None and memo[0] is call:
            return memo[1]
        decision = None if self._unaffected(call) else self._decide(call)
        self._memo = (call, decision)
        return decision

    def _unaffected(self, call: Call) -> bool:
        """Whether no path argument of ``call`` can be affected, told from the strings alone
        (the common case, and the cheap test ``_decide`` would make first): relative (or
        absolute without a root), no ``..``, and no component that is the last one of a
        bound, hidden or added path. Never true where read-only paths are configured."""
        syscall = call.syscall
        # By identity: the table's entries live as long as the process, and a NamedTuple's
        # hash would walk all its fields.
        plan = self._plans.get(id(syscall))
        if plan is None:
            plan = self._plans[id(syscall)] = self._quick_plan(syscall)
        if not plan:
            return False
        significant = self._significant
        rooted = self.paths.root is not None
        read = call.memory.read_cstring
        registers = call.raw
        for index in plan:
            try:
                path = read(registers[index])
            except OSError:
                return False
            if not path or (rooted and path[0] == 0x2F):  # "/"
                return False
            parts = path.split(b"/")
            if b".." in parts or not significant.isdisjoint(parts):
                return False
        return True

    def _quick_plan(self, syscall: Syscall) -> tuple[int, ...]:
        """The path arguments of ``syscall`` that ``_unaffected`` tests; none for calls it
        cannot judge (readlink of /proc links, execs of scripts, or any call under
        read-only paths)."""
        if self.paths.has_readonly or syscall.name in _READLINK_CALLS:
            return ()
        if self.paths.remaps and syscall.name in _EXEC_CALLS:
            return ()
        params = syscall.params
        return tuple(index for index, param in enumerate(params) if param.kind is ArgKind.PATH)

    def _decide(self, call: Call) -> Decision | None:
        paths = self.paths
        changing = paths.has_readonly and policy.changes(call)
        if not (paths.remaps or paths.has_hidden or changing):
            return None
        new_args: dict[str, str] = {}
        snapshots: list[str] = []
        proc_link: tuple[Resolved, str] | None = None
        # Most paths cannot be affected (see PathMap.significant_names): telling that from
        # the string alone saves reading the base directory from /proc.
        quick = not changing and call.name not in _READLINK_CALLS
        # An exec's #! line names a virtual interpreter (see _script_exec): always resolved.
        quick = quick and not (paths.remaps and call.name in _EXEC_CALLS)
        significant = paths.significant_names
        rooted = paths.root is not None
        dirfd = AT_FDCWD
        for index, param in enumerate(call.syscall.params):
            if param.kind is ArgKind.DIRFD:
                dirfd = call.args.value(index)
                continue
            if param.kind is not ArgKind.PATH:
                continue
            base, dirfd = dirfd, AT_FDCWD
            try:
                raw = call.args[index]
            except OSError:
                continue  # the kernel will say EFAULT
            if not raw:
                # NULL or "": the call works on the directory fd itself (utimensat(fd, NULL),
                # AT_EMPTY_PATH), or fails in the kernel.
                if changing and base != AT_FDCWD and self._fd_readonly(call, base):
                    return call.fail(errno.EROFS)
                if self._live.files and base >= 0 and call.name in _STAT_CALLS:
                    live = self._live.stat_empty_path(call, base)
                    if live is not None:
                        return live
                continue
            if quick and not (rooted and raw.startswith("/")):
                parts = raw.split("/")
                if ".." not in parts and significant.isdisjoint(parts):
                    continue
            if len(os.fsencode(raw)) >= _PATH_MAX - 1:
                continue
            try:
                where = self._resolve(call, raw, base, index)
            except _PathError as error:
                return call.fail(error.errno)
            if where is None:
                continue
            if paths.hidden(where.virtual, where.host):
                return call.fail(errno.ENOENT)
            if self._live.files and where.virtual in self._live.files:
                if call.name in _OPEN_CALLS:
                    return self._live.open(call, param.name, where.virtual, where.host)
                self._live.stat_by_path(where.virtual, where.host)
            if changing and self._readonly_hit(call, index, where):
                return call.fail(errno.EROFS)
            if where.rewrite is not None:
                new_args[param.name] = where.rewrite
            if paths.remaps and call.name in _EXEC_CALLS:
                started = self._exec(call, index, raw, where)
                if started is not None:
                    return started
            if self._dynamic and where.virtual in self._dynamic and call.name in _OPEN_CALLS:
                snapshot = self._snapshot(call, where.virtual)
                new_args[param.name] = snapshot
                snapshots.append(snapshot)
            if call.name in _READLINK_CALLS and paths.remaps:
                match = _PROC_LINK.match(where.virtual or where.host)
                if match is not None:
                    proc_link = (where, match.group(1))
        hook = None if proc_link is None else self._readlink_hook(call, *proc_link)
        if snapshots:
            hook = _removing(snapshots)
        if new_args:
            return call.rewrite(then=hook, **new_args)
        if hook is not None:
            return call.observe(hook)
        return None

    def _on_socket_address(self, call: Call) -> Decision | None:
        """``bind``, ``connect`` or ``sendto`` with an ``AF_UNIX`` address: its path is checked
        and mapped as a path argument is, and a mapped one rewritten into a new address
        below the stack pointer. Abstract and unnamed addresses are left alone."""
        index = _SOCKET_ADDRESS[call.name]
        address, length = call.raw[index], _int32(call.raw[index + 1])
        if address == 0 or not 2 < length <= _SOCKADDR_UN_SIZE:
            return None  # no address, or one the kernel refuses (EINVAL)
        try:
            data = call.read(address, length)
        except OSError:
            return None  # the kernel's EFAULT
        if int.from_bytes(data[:2], "little") != _AF_UNIX or data[2] == 0:
            return None  # another family, or an abstract name (no file)
        raw = os.fsdecode(data[2:].split(b"\0", 1)[0])
        try:
            where = self._resolve(call, raw, AT_FDCWD, index)
        except _PathError as error:
            return call.fail(error.errno)
        if where is None:
            return None
        if self.paths.hidden(where.virtual, where.host):
            return call.fail(errno.ENOENT)
        if call.name == "bind" and self._readonly_hit(call, index, where):
            return call.fail(errno.EROFS)
        if where.rewrite is None:
            return None
        host = os.fsencode(where.rewrite)
        if len(host) >= _SUN_PATH_MAX:
            # The host path does not fit in sun_path; the kernel has no call that takes a
            # socket's name relative to a directory.
            return call.fail(errno.ENAMETOOLONG)
        new_address = _AF_UNIX.to_bytes(2, "little") + host  # rewrite() adds the NUL
        if call.name == "sendto":
            return call.rewrite(dest_addr=new_address, addrlen=len(new_address) + 1)
        return call.rewrite(addr=new_address, addrlen=len(new_address) + 1)

    def _on_socket_name(self, call: Call) -> Decision | None:
        """``getsockname``/``getpeername``: an ``AF_UNIX`` name the kernel writes back (the
        host path a mapped ``bind`` gave it) is made the virtual one at syscall exit."""
        address, length_at = call.raw[1], call.raw[2]
        if address == 0 or length_at == 0:
            return None
        try:
            room = int.from_bytes(call.read(length_at, 4), "little", signed=True)
        except OSError:
            return None  # the kernel's EFAULT
        if room <= 2:
            return None
        paths = self.paths

        def virtual_name(result: Result) -> int | None:
            if result.failed:
                return None
            try:
                length = int.from_bytes(call.read(length_at, 4), "little", signed=True)
                data = call.read(address, min(length, room))
            except OSError:
                return None
            if len(data) <= 2 or int.from_bytes(data[:2], "little") != _AF_UNIX or not data[2]:
                return None  # another family, unnamed, or abstract
            host = os.fsdecode(data[2:].split(b"\0", 1)[0])
            virtual = _to_virtual(paths, host)
            if virtual is None or virtual == host:
                return None
            name = data[:2] + os.fsencode(virtual) + b"\0"
            # As the kernel does: the full length is told, what fits is written.
            call.write(address, name[: min(len(name), room)])
            call.write(length_at, len(name).to_bytes(4, "little"))
            return None

        return call.observe(virtual_name)

    def _exec(self, call: Call, index: int, raw: str, where: Resolved) -> Decision | None:
        """An ``execve``/``execveat``, when names are mapped, made into the exec the kernel
        would make with the names the program means; ``None`` where the kernel gets them
        right by itself.

        - A ``#!`` script becomes the exec of its interpreter, as the kernel would make it:
          ``argv`` = interpreter, its argument, the script's path *as the program named it*,
          then the old ``argv[1:]``, with the interpreter looked up in the virtual tree. Left
          to the kernel, the interpreter would be looked up on the host and get the
          rewritten host path as ``$0``.
        - An ELF program whose interpreter (``PT_INTERP``, the dynamic loader) is somewhere
          else in the virtual view than on the host (a root with its own C library, an
          application that ships its loader) is started by that loader, as ``ld.so
          [--argv0 ARGV0] PROGRAM ARGS...``: the kernel would look the loader up on the host.
        """
        named = raw  # execveat relative to a directory fd: the kernel says /dev/fd/N/raw
        relative_to_fd = call.name == "execveat" and call.args.dfd != AT_FDCWD
        if relative_to_fd and not raw.startswith("/") and where.virtual is not None:
            named = where.virtual
        # An interpreter may be a script too: the kernel follows up to 4 more #! lines, and
        # each interpreter's name goes before the previous program's in argv.
        words: list[bytes] = [os.fsencode(named)]
        host_interpreter = None
        host = where.host
        # Only where the kernel would get a name wrong: the process's name (comm) is then
        # the interpreter's, not the script's as it would be natively.
        needed = where.rewrite is not None
        for _depth in range(_INTERPRETER_DEPTH):
            line = _shebang(host)
            if line is None:
                break
            interpreter, argument = line
            if not interpreter.startswith(b"/"):
                return None  # relative to the working directory: rare, left to the kernel
            words[:0] = [interpreter, *([argument] if argument else [])]
            virtual = normalize(os.fsdecode(interpreter))
            host = host_interpreter = self.paths.to_host(virtual)
            needed = needed or host != virtual
        else:
            return None  # too deep: the kernel's ELOOP
        loader = self._loader_for(host)
        if loader is None and (host_interpreter is None or not needed):
            return None  # the kernel gets every name right, or refuses the file
        argv_index = index + 1  # execve(filename, argv, ...), execveat(dfd, filename, argv, ...)
        old_argv = _read_pointer_array(call, call.args.value(argv_index))
        if old_argv is None:
            return None  # a bad argv: the kernel's EFAULT
        argv: list[str | bytes]
        if host_interpreter is not None:
            argv = [*words, *old_argv[1:]]
            filename = host_interpreter
        else:
            argv = list(old_argv) or [words[0]]
        if loader is not None:
            virtual_loader, filename = loader
            self._loaded_programs.add(host)
            program = words[0] if host_interpreter is not None else os.fsencode(named)
            first = (
                [virtual_loader, "--argv0", argv[0]]
                if self._takes_argv0(filename)
                else [virtual_loader]
            )
            argv = [*first, program, *argv[1:]]
        # (Both calls name them so.)
        return call.rewrite(filename=filename, argv=argv)

    def _loader_for(self, host: str) -> tuple[str, str] | None:
        """The dynamic loader the ELF program at ``host`` names, virtual and host paths, if
        the virtual one is not where the kernel would look (the same path on the host)."""
        interpreter = _elf_interpreter(host)
        if interpreter is None or not interpreter.startswith(b"/"):
            return None
        virtual = normalize(os.fsdecode(interpreter))
        try:
            resolved = self._follow_links("/", virtual, True)
        except _PathError:
            return None
        loader = self.paths.to_host(resolved)
        if not os.path.isfile(loader):
            return None  # none: the kernel's ENOENT, or the host's file
        with contextlib.suppress(OSError):
            if os.path.samefile(loader, virtual):
                return None  # the file the kernel finds on the host
        self._loaders.add(loader)
        return virtual, loader

    def _takes_argv0(self, loader: str) -> bool:
        """Whether the loader at ``loader`` understands ``--argv0`` (glibc 2.33 and later,
        musl 1.2.2): its option names are plain strings in the file."""
        known = self._argv0_loaders.get(loader)
        if known is None:
            try:
                with open(loader, "rb") as file:
                    # glibc compares with "--argv0", musl with "argv0": both end so.
                    known = b"argv0\0" in file.read(4 << 20)
            except OSError:
                known = False
            self._argv0_loaders[loader] = known
        return known

    def _snapshot(self, call: Call, virtual: str) -> str:
        """A private file with what the content function of ``virtual`` makes for ``call``
        (a handler error, under the emulator's ``on_error``, if it raises)."""
        source, mode = self._dynamic[virtual]
        content = source(call)
        data = content.encode() if isinstance(content, str) else content
        return self._private_file(data, mode)

    def _resolve(self, call: Call, raw: str, dirfd: int, index: int) -> Resolved | None:
        """Where the path argument ``raw`` (argument ``index``, relative to ``dirfd``) leads,
        in both name spaces; ``None`` if its base directory cannot be known. Raises
        :class:`_PathError` for a path the kernel would refuse once links are followed in the
        virtual view (``ELOOP``, or ``ENOENT`` through a hidden link)."""
        paths = self.paths
        virtual: str | None
        if raw.startswith("/"):
            kernel = raw
            lexical = virtual = raw if _is_normal(raw) else normalize(raw)
            virtual_base = host_base = "/"
        else:
            base = call.cwd if dirfd == AT_FDCWD else call.fd_path(dirfd)
            if base is None or not base.startswith("/") or base.endswith(_DELETED):
                return None
            host_base = base
            kernel = f"{base}/{raw}"
            lexical = _join(base, raw)
            if paths.remaps:
                found = paths.to_virtual(base)
                virtual_base = found or "/"
                virtual = None if found is None else _join(found, raw)
            else:
                virtual_base, virtual = base, lexical
        if virtual is not None and paths.remaps:
            follow_last = policy.follows_last(call, index)
            start = virtual_base if raw[:1] != "/" else "/"
            virtual = self._follow_links(start, raw, follow_last)
        host = lexical if virtual is None else paths.to_host(virtual)
        if host == lexical and (
            virtual is None
            or not paths.remaps
            or ".." not in raw.split("/")
            or self._walk_agrees(virtual_base, host_base, raw)
        ):
            return Resolved(virtual, host, kernel, None)
        # A trailing "/" (or "/.", "/..") makes the kernel insist on a directory: keep that.
        wants_dir = raw.endswith(("/", "/.", "/..")) or raw in (".", "..")
        rewrite = host + "/" if wants_dir and host != "/" else host
        return Resolved(virtual, host, rewrite, rewrite)

    def _follow_links(self, start: str, relative: str, follow_last: bool) -> str:
        """The virtual path ``relative`` names from the virtual directory ``start``, with its
        symbolic links followed as the program means them: an absolute target from the
        virtual ``/`` (the root, binds), a relative one from the virtual directory of the
        link, and ``..`` after a link from where the link led, as the kernel walks. Left to
        the kernel, links would be followed on the host, where an absolute target names a
        host file. ``start`` is a directory the kernel has walked already (the working
        directory, a directory descriptor, or ``/``); bind points are taken as they are (a
        bind names a host path, links and all). Every other component costs one
        ``readlink`` (``EINVAL`` for what is not a link). Under the host's ``/proc`` nothing
        is followed: its links mean the calling process."""
        paths = self.paths
        hidden = paths.has_hidden
        pending = relative.split("/")
        pending.reverse()
        done = start
        links = 0
        while pending:
            name = pending.pop()
            if not name or name == ".":
                continue
            if name == "..":
                done = _parent(done)
                continue
            candidate = "/" + name if done == "/" else f"{done}/{name}"
            if hidden and paths.hidden(candidate):
                raise _PathError(errno.ENOENT)
            if (not pending and not follow_last) or paths.is_bind_point(candidate):
                done = candidate
                continue
            host = paths.to_host(candidate)
            if host == "/proc" or host.startswith("/proc/"):
                # sysemu's readlink would answer for sysemu (self, cwd, fd/N): the kernel
                # follows these for the program.
                pending.reverse()
                return normalize("/".join([candidate, *pending]))
            try:
                target = os.readlink(host)
            except OSError:
                done = candidate  # not a link, or missing: the kernel will say so
                continue
            links += 1
            if links > _MAX_LINKS or not target:
                raise _PathError(errno.ELOOP if target else errno.ENOENT)
            if target[0] == "/":
                done = "/"
            parts = target.split("/")
            parts.reverse()
            pending.extend(parts)
        return done

    def _walk_agrees(self, virtual: str, host: str, raw: str) -> bool:
        """Whether every directory the kernel walks through for ``raw`` (from ``host``, which
        the program knows as ``virtual``) is the one the program means. Only ``..`` makes
        this differ from the final path agreeing: the kernel visits a name before dropping
        it, and ``/bind/..`` visits a name that exists only in the virtual view."""
        to_host = self.paths.to_host
        for part in raw.split("/"):
            if not part or part == ".":
                continue
            if part == "..":
                virtual, host = _parent(virtual), _parent(host)
            else:
                virtual, host = _child(virtual, part), _child(host, part)
            if to_host(virtual) != host:
                return False
        return True

    # Read-only trees.
    def _readonly_hit(self, call: Call, index: int, where: Resolved) -> bool:
        paths = self.paths
        if not paths.readonly(where.virtual, where.host):
            # The lexical names are free; what the kernel will reach after links may not be.
            canonical = _canonical(call, where.kernel, policy.follows_last(call, index))
            if canonical is None or not paths.readonly(None, canonical):
                return False
        if call.name in policy.OPEN_CALLS:
            # O_CREAT without write access opens an existing file read-only, as on a
            # read-only mount.
            flags = policy.open_flags(call)
            quiet = policy.O_ACCMODE | policy.O_TRUNC | policy.O_EXCL
            if flags is not None and not flags & quiet:
                return not os.path.exists(_proc_self(where.kernel, call))
        return True

    def _fd_readonly(self, call: Call, fd: int) -> bool:
        path = call.fd_path(fd)
        if path is None or not path.startswith("/") or path.endswith(_DELETED):
            return False
        return self.paths.readonly(self.paths.to_virtual(path), path)

    def _on_fd_change(self, call: Call) -> Decision | None:
        if self._fd_readonly(call, call.args.fd):
            return call.fail(errno.EROFS)
        return None

    # Results that carry paths.
    def _readlink_hook(self, call: Call, where: Resolved, link: str) -> ResultHook:
        """A result hook giving ``readlink`` of a /proc magic link the virtual name."""
        buffer, size = call.args.buf, call.args.bufsiz
        paths = self.paths
        loaders = self._loaders

        def virtual_link(result: Result) -> int | None:
            if result.failed:
                return None
            proc_path = _proc_self(where.host, call)
            try:
                target = os.readlink(proc_path)
            except OSError:
                return None
            if link == "exe" and target in loaders:
                # Started by its loader (see _exec): the program is what the loader mapped.
                programs = self._loaded_programs
                target = _loaded_program(os.path.dirname(proc_path), programs) or target
            if link == "root" and paths.root is not None:
                virtual: str | None = "/"
            else:
                virtual = _to_virtual(paths, target)
            if virtual is None or virtual == target:
                return None
            data = os.fsencode(virtual)[:size]
            call.write(buffer, data)
            return len(data)

        return virtual_link

    def _on_getcwd(self, call: Call) -> Decision:
        buffer, size = call.args.buf, call.args.size
        paths = self.paths

        def virtual_cwd(result: Result) -> int | None:
            if result.failed and result.errno != errno.ERANGE:
                return None
            host = call.cwd
            if host is None or host.endswith(_DELETED):
                return None
            virtual = paths.to_virtual(host)
            # As the kernel says of a directory outside the caller's root.
            text = f"(unreachable){host}" if virtual is None else virtual
            if text == host:
                return None
            data = os.fsencode(text) + b"\0"
            if len(data) > size:
                return -errno.ERANGE
            call.write(buffer, data)
            return len(data)

        return call.observe(virtual_cwd)

    def _on_getdents(self, call: Call) -> Decision | None:
        # Every getdents of the program stops here: the register itself, not call.args.fd
        # (its decoding costs more than a microsecond of Python per call).
        directory = call.fd_path(call.raw[0] & 0xFFFF_FFFF)
        if directory is None or not directory.startswith("/"):
            return None
        hidden = self.paths.hidden_names(directory)
        layout = layout_for(call.name, call.abi)
        added = self._bound_entries(call, directory, hidden, layout)
        if not hidden and not added:
            return None  # no exit stop for directories with nothing to change
        names = frozenset(os.fsencode(name) for name in hidden)
        address = call.args.dirent

        def listed(result: Result) -> int | None:
            if result.failed or result.value <= 0:
                return None  # (0, the end: the bound names went out with the first batch)
            data = call.read(address, result.value)
            kept = drop_names(data, layout, names) if names else None
            if kept is not None:
                data = kept
            elif not added:
                return None
            data = added + data
            if not data:
                # Returning 0 would mean "end of directory"; have the kernel read on instead.
                return _again(call)
            call.write(address, data)
            return len(data)

        if added:
            # The kernel fills a smaller buffer, so that the bound names fit before its own.
            return call.rewrite(count=call.args.count - len(added), then=listed)
        return call.observe(listed)

    def _bound_entries(
        self, call: Call, directory: str, hidden: frozenset[str], layout: DirentLayout
    ) -> bytes:
        """Records for the names binds add to the listing of the host ``directory``, when
        this call starts a pass over it (file position 0), and only names the host
        directory lacks; empty otherwise."""
        bound = self.paths.bound_names(directory)
        if not bound or _file_position(call.tid, call.args.fd) != 0:
            return b""
        records = []
        for name, host in sorted(bound.items()):
            if name in hidden or os.path.lexists(_child(directory, name)):
                continue
            try:
                status = os.lstat(host)
            except OSError:
                continue  # a bind whose host went away shows nothing, as a lookup would
            d_type = _DIRENT_TYPES.get(stat.S_IFMT(status.st_mode), DT_UNKNOWN)
            records.append(record(layout, status.st_ino, os.fsencode(name), d_type))
        added = b"".join(records)
        # Leave the kernel room for at least one record of its own (EINVAL otherwise).
        return added if call.args.count - len(added) >= _MIN_KERNEL_ROOM else b""


def _shebang(host: str) -> tuple[bytes, bytes] | None:
    """The interpreter and optional argument of the executable ``#!`` script ``host``, as
    the kernel parses its first line; ``None`` for anything else (including a file that is
    not executable, or a line longer than the kernel reads)."""
    try:
        with open(host, "rb") as script:
            head = script.read(_BINPRM_BUF_SIZE)
            executable = os.fstat(script.fileno()).st_mode & 0o111
    except OSError:
        return None
    if not head.startswith(b"#!") or not executable:
        return None
    line, newline, _ = head[2:].partition(b"\n")
    if not newline:
        return None
    interpreter, _, argument = line.replace(b"\t", b" ").strip(b" ").partition(b" ")
    return (interpreter, argument.strip(b" ")) if interpreter else None


_PT_INTERP = 3


def _loaded_program(process: str, programs: set[str]) -> str | None:
    """The program a loader started in ``process`` (``/proc/PID``): the one of ``programs``
    (host paths of the programs started so) that it has mapped."""
    try:
        with open(f"{process}/maps") as maps:
            for line in maps:
                fields = line.rstrip("\n").split(maxsplit=5)
                if len(fields) == 6 and fields[5] in programs:
                    return fields[5]
    except OSError:
        return None
    return None


def _elf_interpreter(host: str) -> bytes | None:
    """The ``PT_INTERP`` path of the executable ELF file ``host`` (32- or 64-bit,
    little-endian), or ``None`` (not ELF, static, unreadable, or not executable)."""
    try:
        with open(host, "rb") as elf:
            if not os.fstat(elf.fileno()).st_mode & 0o111:
                return None
            header = elf.read(64)
            if len(header) < 52 or header[:4] != b"\x7fELF" or header[5] != 1:
                return None
            if header[4] == 2 and len(header) == 64:
                (table,) = struct.unpack_from("<Q", header, 32)
                size, count = struct.unpack_from("<HH", header, 54)
                entry = struct.Struct("<I4xQ16xQ")  # p_type, p_offset, p_filesz
            elif header[4] == 1:
                (table,) = struct.unpack_from("<I", header, 28)
                size, count = struct.unpack_from("<HH", header, 42)
                entry = struct.Struct("<II8xI")
            else:
                return None
            if size < entry.size or count > 256:
                return None
            elf.seek(table)
            headers = elf.read(size * count)
            for at in range(0, len(headers) - size + 1, size):
                kind, offset, length = entry.unpack_from(headers, at)
                if kind == _PT_INTERP and 1 < length <= 4096:
                    elf.seek(offset)
                    return elf.read(length).split(b"\0", 1)[0] or None
    except (OSError, struct.error):
        return None
    return None


def _read_pointer_array(call: Call, address: int, limit: int = 65536) -> list[bytes] | None:
    """The strings of a NULL-terminated array of pointers (``argv``) in the caller's memory,
    in its ABI's pointer size; ``None`` if it cannot be read."""
    if address == 0:
        return []
    word = 8 if call.abi is Abi.X86_64 else 4
    unpack = struct.Struct("<Q" if word == 8 else "<I").unpack_from
    found: list[bytes] = []
    try:
        while len(found) < limit:
            block = call.read(address + len(found) * word, 64 * word)
            for at in range(0, len(block), word):
                (pointer,) = unpack(block, at)
                if pointer == 0:
                    return found
                found.append(call.read_bytes_until_nul(pointer, 131072))
    except OSError:
        return None
    return None


def _removing(files: list[str]) -> ResultHook:
    """A result hook that removes ``files`` (snapshots the kernel has opened, or failed to)."""

    def remove(_result: Result) -> None:
        for file in files:
            with contextlib.suppress(OSError):
                os.unlink(file)

    return remove


_MIN_KERNEL_ROOM = 512  # more than the longest record (a 255-byte name)
_DIRENT_TYPES = {
    stat.S_IFDIR: DT_DIR, stat.S_IFREG: DT_REG, stat.S_IFLNK: DT_LNK, stat.S_IFCHR: DT_CHR,
    stat.S_IFBLK: DT_BLK, stat.S_IFIFO: DT_FIFO, stat.S_IFSOCK: DT_SOCK,
}  # fmt: skip


def _file_position(tid: int, fd: int) -> int | None:
    """The file position of ``fd`` in thread ``tid`` (``pos:`` of its fdinfo), or ``None``."""
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}", "rb") as info:
            first = info.readline()
    except OSError:
        return None
    if not first.startswith(b"pos:"):
        return None
    return int(first[4:])


def path_syscalls() -> list[Syscall]:
    """Every implemented call, in every ABI, with a path argument."""
    return [entry for abi in Abi for entry in path_calls(abi)]


def _is_normal(path: str) -> bool:
    """Whether the absolute ``path`` is certainly normalised already (cheaper than asking
    normpath; "/." also catches names that merely start with a dot, which is harmless)."""
    return "//" not in path and "/." not in path and (path == "/" or not path.endswith("/"))


def _int32(register: int) -> int:
    """An ``int`` argument as the kernel reads it: the low 32 bits, signed."""
    return ((register & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _join(base: str, relative: str) -> str:
    """``relative`` resolved lexically against the normalised directory ``base``."""
    if "/" not in relative and relative not in (".", ".."):
        return _child(base, relative)  # one plain name: the common case, made cheap
    return join(base, relative)


def _child(directory: str, name: str) -> str:
    return f"/{name}" if directory == "/" else f"{directory}/{name}"


def _parent(path: str) -> str:
    return path[: path.rindex("/")] or "/"


def _virtual(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{what} {path}: a virtual path must be absolute")
    return normalize(path)


def _to_virtual(paths: PathMap, host: str) -> str | None:
    deleted = host.endswith(_DELETED)
    if deleted:
        host = host[: -len(_DELETED)]
    if not host.startswith("/"):
        return None
    virtual = paths.to_virtual(normalize(host))
    return None if virtual is None else virtual + (_DELETED if deleted else "")


def _proc_self(path: str, call: Call) -> str:
    """``path`` with ``/proc/self`` and ``/proc/thread-self`` naming the caller, not sysemu."""
    for name, replacement in (
        ("/proc/self", f"/proc/{call.pid}"),
        ("/proc/thread-self", f"/proc/{call.pid}/task/{call.tid}"),
    ):
        if path == name or path.startswith(name + "/"):
            return replacement + path[len(name) :]
    return path


def _canonical(call: Call, path: str, follow_last: bool) -> str | None:
    """The host path the kernel will reach for ``path`` (symbolic links resolved, the last
    one only if the call follows it), or ``None``."""
    path = _proc_self(path, call)
    try:
        if follow_last:
            return os.path.realpath(path)
        parent, name = posixpath.split(path.rstrip("/") or "/")
        return normalize(f"{os.path.realpath(parent or '/')}/{name}")
    except (OSError, ValueError):
        return None


def _again(call: Call) -> int:
    """The value that makes the kernel run ``call`` again instead of returning: a signal the
    thread neither blocks nor handles is pending, so the kernel takes the
    ``-ERESTARTNOINTR`` path, finds nothing to deliver and restarts the call. Falls back to
    ``-EINTR`` when every candidate signal is blocked."""
    blocked, caught = _signal_masks(call.tid)
    candidates = [s for s in _QUIET_SIGNALS if not blocked >> (s - 1) & 1]
    quiet = [s for s in candidates if not caught >> (s - 1) & 1]
    chosen = quiet or candidates
    if not chosen:
        return -errno.EINTR
    call.send_signal(chosen[0])
    return -_ERESTARTNOINTR


def _signal_masks(tid: int) -> tuple[int, int]:
    """The thread's blocked and caught signal masks, from /proc (all blocked if unknown)."""
    blocked, caught = -1, -1
    try:
        with open(f"/proc/{tid}/status") as status:
            for line in status:
                if line.startswith("SigBlk:"):
                    blocked = int(line.split()[1], 16)
                elif line.startswith("SigCgt:"):
                    caught = int(line.split()[1], 16)
    except OSError:
        pass
    return blocked, caught
