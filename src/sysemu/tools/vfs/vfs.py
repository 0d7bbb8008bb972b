"""``VirtualFS``: binds, a root, hidden and read-only trees, made of handlers.

Every path argument of every call that takes one (all ABIs, from the syscall table's ``PATH``
parameters and the ``DIRFD`` parameters they are relative to) is resolved as the program means
it, in *virtual* terms, and then:

- a hidden path fails with ``ENOENT``;
- a change under a read-only path fails with ``EROFS``;
- a path that names something else on the host (a bind, the root) is rewritten to the host
  path, absolute, before the kernel sees it.

This module owns that decision for path arguments, the read-only checks on descriptors, and
which handlers a configuration installs. It delegates, and must not duplicate: configuration
(:mod:`.config`), resolution (:mod:`.resolve`), exec rewriting (:mod:`.execs`), socket names
(:mod:`.sockets`), directory listings (:mod:`.listings`), paths in results (:mod:`.results`),
private files (:mod:`.files`) and live files (:mod:`.live`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

from sysemu.abi import ArgKind, Syscall, abis_for_name, path_calls
from sysemu.abi.abi import machine_abis
from sysemu.api.call import AT_FDCWD, Call
from sysemu.api.conditions import HasBits, Masked, Ne
from sysemu.api.decisions import Decision
from sysemu.api.handlers import HandlerSet
from sysemu.tools.vfs import policy
from sysemu.tools.vfs.config import FileContent, Tree, VfsConfig
from sysemu.tools.vfs.execs import EXEC_CALLS, ExecRewriter
from sysemu.tools.vfs.files import ContentSource, removing
from sysemu.tools.vfs.listings import Listings
from sysemu.tools.vfs.live import existing_syscalls
from sysemu.tools.vfs.paths import join, normalize
from sysemu.tools.vfs.policy import OPEN_CALLS
from sysemu.tools.vfs.resolve import (
    DELETED,
    PATH_MAX,
    PathError,
    Resolved,
    Resolver,
    canonical,
    proc_self,
)
from sysemu.tools.vfs.results import READLINK_CALLS, ResultPaths
from sysemu.tools.vfs.sockets import SocketPaths

__all__ = ["ContentSource", "FileContent", "Resolved", "Tree", "VirtualFS", "path_syscalls"]

_STAT_CALLS = frozenset({"newfstatat", "fstatat64", "statx"})
_ANY_PATH = -2  # in a quick plan: links cannot matter (nothing is hidden)


class VirtualFS(VfsConfig):
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
        super().__init__()
        self._resolver = Resolver(self.paths)
        self._execs = ExecRewriter(self.paths, self._resolver)
        self._results = ResultPaths(self.paths, self._execs)
        self._listings = Listings(self.paths)
        self._sockets = SocketPaths(self.paths, self._resolver, self._readonly_hit)
        self._memo: tuple[Call, Decision | None] | None = None
        # For _unaffected: the path arguments to test per call (see _quick_plan), and the
        # names that matter.
        self._plans: dict[int, tuple[tuple[int, int, int], ...]] = {}
        self._significant: frozenset[bytes] = frozenset()

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
                followed = self._resolver.follow_links("/", virtual, True)
            except PathError:
                continue
            if paths.hidden(followed):
                continue
            host = paths.to_host(followed)
            if os.path.isfile(host) and os.access(host, os.X_OK):
                return candidate
        return None

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
        self._install_handle_opens(handlers)
        if paths.remaps:
            handlers.add("getcwd", self._results.on_getcwd, needs_ptrace=True)
        if paths.has_hidden or paths.lists_binds:
            # (aarch64 has getdents64 only: the old call is x86's.)
            listing = [name for name in ("getdents", "getdents64") if abis_for_name(name)]
            handlers.add(listing, self._listings.on_getdents, needs_ptrace=True)
        if self._live.files:
            self._live.install(handlers)
        self._install_sockets(handlers)

    def _install_handle_opens(self, handlers: HandlerSet) -> None:
        # A file handle (name_to_handle_at, or one kept from before the run) opens a file
        # without a path, so no hidden or read-only name is ever looked at. Hidden paths
        # refuse every such open, read-only ones those that may change the file.
        opens = existing_syscalls(["open_by_handle_at"])
        if self.paths.has_hidden:
            handlers.add(opens, self._on_handle_open, decides_only=True)
        elif self.paths.has_readonly:
            for condition in (
                Masked(policy.O_ACCMODE, 1),
                Masked(policy.O_ACCMODE, 2),
                Masked(policy.O_ACCMODE, 3),
                HasBits(policy.O_TRUNC),
            ):
                handlers.add(opens, self._on_handle_open, decides_only=True, flags=condition)

    def _on_handle_open(self, call: Call) -> Decision:
        """``open_by_handle_at``: ``EPERM`` where anything is hidden, as for a program
        without ``CAP_DAC_READ_SEARCH`` (which falls back to opening by path, where the view
        applies); else, reached only for opens that may write, ``EROFS`` as on a read-only
        mount (read-only opens pass: what they could change is checked on the descriptor)."""
        return call.fail(errno.EPERM if self.paths.has_hidden else errno.EROFS)

    def _install_sockets(self, handlers: HandlerSet) -> None:
        # AF_UNIX socket addresses name files too. bind makes one (hidden, read-only and
        # mapped paths matter); connect and sendto only look one up (hidden and mapped).
        paths = self.paths
        rewrites = paths.remaps
        on_address = self._sockets.on_address
        if paths.remaps or paths.has_hidden or paths.has_readonly:
            handlers.add(
                existing_syscalls(["bind"]),
                on_address,
                decides_only=not rewrites,
                needs_ptrace=rewrites,
            )
        if paths.remaps or paths.has_hidden:
            handlers.add(
                existing_syscalls(["connect"]),
                on_address,
                decides_only=not rewrites,
                needs_ptrace=rewrites,
            )
            # The names the kernel gives back, mapped back to virtual ones at syscall exit.
            if rewrites:
                handlers.add(
                    existing_syscalls(["getsockname", "getpeername"]),
                    self._sockets.on_name,
                    needs_ptrace=True,
                )
            # Only a sendto with an address (a datagram to a named socket, as syslog() sends
            # to /dev/log): a connected socket's sends never stop.
            handlers.add(
                existing_syscalls(["sendto"]),
                on_address,
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
        for index, flags_index, nofollow in plan:
            try:
                path = read(registers[index])
            except OSError:
                return False
            if not path or (rooted and path[0] == 0x2F):  # "/"
                return False
            # Something hidden: only one name, whose link (if it is one) the call does not
            # follow, cannot lead anywhere else.
            if flags_index != _ANY_PATH and (
                b"/" in path or (flags_index >= 0 and not registers[flags_index] & nofollow)
            ):
                return False
            parts = path.split(b"/")
            if b".." in parts or not significant.isdisjoint(parts):
                return False
        return True

    def _quick_plan(self, syscall: Syscall) -> tuple[tuple[int, int, int], ...]:
        """The path arguments of ``syscall`` that ``_unaffected`` tests, each with how to tell
        that the call does not follow a last link (:func:`policy.nofollow_test`, or
        ``_ANY_PATH`` where links do not matter); none for calls it cannot judge (readlink
        of /proc links, execs of scripts, any call under read-only paths, and, when
        something is hidden, calls that may follow a link: it may lead into the tree)."""
        paths = self.paths
        if paths.has_readonly or syscall.name in READLINK_CALLS:
            return ()
        if paths.remaps and syscall.name in EXEC_CALLS:
            return ()
        test = (_ANY_PATH, 0)
        if paths.has_hidden:
            found = policy.nofollow_test(syscall)
            if found is None:
                return ()
            test = found
        params = syscall.params
        return tuple(
            (index, *test) for index, param in enumerate(params) if param.kind is ArgKind.PATH
        )

    def _decide(self, call: Call) -> Decision | None:
        paths = self.paths
        changing = paths.has_readonly and policy.changes(call)
        if not (paths.remaps or paths.has_hidden or changing):
            return None
        live = self._live
        new_args: dict[str, str] = {}
        snapshots: list[str] = []
        proc_link: tuple[Resolved, str] | None = None
        # Most paths cannot be affected (see PathMap.significant_names): telling that from
        # the string alone saves reading the base directory from /proc.
        quick = not changing and call.name not in READLINK_CALLS
        # An exec's #! line names a virtual interpreter (see ExecRewriter): always resolved.
        quick = quick and not (paths.remaps and call.name in EXEC_CALLS)
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
                if live.files and base >= 0 and call.name in _STAT_CALLS:
                    answered = live.stat_empty_path(call, base)
                    if answered is not None:
                        return answered
                continue
            if quick and not (rooted and raw.startswith("/")):
                parts = raw.split("/")
                # With hidden paths, a link on the way could lead into one (see _quick_plan).
                linkless = not paths.has_hidden or (
                    len(parts) == 1 and not policy.follows_last(call, index)
                )
                if linkless and ".." not in parts and significant.isdisjoint(parts):
                    continue
            if len(os.fsencode(raw)) >= PATH_MAX - 1:
                continue
            try:
                where = self._resolver.resolve(call, raw, base, index)
            except PathError as error:
                return call.fail(error.errno)
            if where is None:
                continue
            if paths.hidden(where.virtual, where.host):
                return call.fail(errno.ENOENT)
            if live.files and where.virtual in live.files:
                if call.name in OPEN_CALLS:
                    return live.open(call, param.name, where.virtual, where.host)
                live.stat_by_path(where.virtual, where.host)
            if changing and self._readonly_hit(call, index, where):
                return call.fail(errno.EROFS)
            if where.rewrite is not None:
                new_args[param.name] = where.rewrite
            if paths.remaps and call.name in EXEC_CALLS:
                started = self._execs.rewrite(call, index, raw, where)
                if started is not None:
                    return started
            if self._dynamic and where.virtual in self._dynamic and call.name in OPEN_CALLS:
                snapshot = self._files.snapshot(call, *self._dynamic[where.virtual])
                new_args[param.name] = snapshot
                snapshots.append(snapshot)
            if call.name in READLINK_CALLS and paths.remaps:
                link = self._results.proc_link(where)
                if link is not None:
                    proc_link = (where, link)
        hook = None if proc_link is None else self._results.readlink_hook(call, *proc_link)
        if snapshots:
            hook = removing(snapshots)
        if new_args:
            return call.rewrite(then=hook, **new_args)
        if hook is not None:
            return call.observe(hook)
        return None

    # Read-only trees.
    def _readonly_hit(self, call: Call, index: int, where: Resolved) -> bool:
        """Whether a change through path argument ``index`` of ``call`` is refused."""
        paths = self.paths
        if not paths.readonly(where.virtual, where.host):
            # The lexical names are free; what the kernel will reach after links may not be.
            reached = canonical(call, where.kernel, policy.follows_last(call, index))
            if reached is None or not paths.readonly(None, reached):
                return False
        if call.name in OPEN_CALLS:
            # O_CREAT without write access opens an existing file read-only, as on a
            # read-only mount.
            flags = policy.open_flags(call)
            quiet = policy.O_ACCMODE | policy.O_TRUNC | policy.O_EXCL
            if flags is not None and not flags & quiet:
                return not os.path.exists(proc_self(where.kernel, call))
        return True

    def _fd_readonly(self, call: Call, fd: int) -> bool:
        path = call.fd_path(fd)
        if path is None or not path.startswith("/") or path.endswith(DELETED):
            return False
        return self.paths.readonly(self.paths.to_virtual(path), path)

    def _on_fd_change(self, call: Call) -> Decision | None:
        if self._fd_readonly(call, call.args.fd):
            return call.fail(errno.EROFS)
        return None


def path_syscalls() -> list[Syscall]:
    """Every implemented call, in every ABI, with a path argument."""
    return [entry for abi in machine_abis() for entry in path_calls(abi)]
