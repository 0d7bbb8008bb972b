"""Where a path argument leads, in the program's (virtual) and the kernel's (host) names.

Owns path resolution against a tracee: the base directory of a relative path (the caller's
working directory or a directory descriptor, read from ``/proc``), symbolic links followed in
the virtual view as the kernel would walk them, ``/proc/{self,thread-self,PID}/{root,cwd,fd/N}``
prefixes taken as the directory they name, and the host path the kernel must be given.
It decides nothing: hidden, read-only and rewrite decisions are the caller's
(:mod:`sysemu.tools.vfs.vfs`), and it never writes to the tracee.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re

from sysemu._typing import NamedTuple
from sysemu.api.call import AT_FDCWD, Call
from sysemu.tools.vfs import policy
from sysemu.tools.vfs.paths import PathMap, join, normalize

PATH_MAX = 4096  # the kernel reads at most this many bytes of a path, NUL included
MAX_LINKS = 40  # the kernel's MAXSYMLINKS: more links in one path walk is ELOOP
DELETED = " (deleted)"  # what /proc's links add to the name of an unlinked file

# A /proc link that names a directory of the process it belongs to: /proc/self/root,
# /proc/123/task/124/cwd, /proc/thread-self/fd/3.
_PROC_LINK = re.compile(r"^/proc/(self|thread-self|\d+)(?:/task/(\d+))?/(root|cwd|fd/\d+)$")


class PathError(Exception):
    """A path argument the kernel would fail with ``errno`` (see :meth:`Resolver.resolve`)."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.errno = number


class Resolved(NamedTuple):
    """One path argument, as the program means it and as the kernel will get it."""

    virtual: str | None  # None: the base directory is not visible to the program
    host: str  # the normalised host path it maps to
    kernel: str  # the absolute path the kernel will resolve (not normalised if passed on)
    rewrite: str | None  # the new argument, when the mapping changes the path


class Resolver:
    """Resolves path arguments of a tracee's calls through one :class:`PathMap`.

    Links are followed in the virtual view whenever names are remapped (binds, a root) or
    anything is hidden: left to the kernel, a link outside a hidden tree could lead into it.
    """

    def __init__(self, paths: PathMap) -> None:
        self.paths = paths

    @property
    def follows(self) -> bool:
        """Whether paths are walked component by component (links, /proc prefixes)."""
        return self.paths.remaps or self.paths.has_hidden

    def resolve(self, call: Call, raw: str, dirfd: int, index: int) -> Resolved | None:
        """Where the path argument ``raw`` (argument ``index``, relative to ``dirfd``) leads,
        in both name spaces; ``None`` if its base directory cannot be known. Raises
        :class:`PathError` for a path the kernel would refuse once links are followed in the
        virtual view (``ELOOP``, or ``ENOENT`` through a hidden name)."""
        paths = self.paths
        virtual: str | None
        if raw.startswith("/"):
            kernel = raw
            lexical = virtual = raw if is_normal(raw) else normalize(raw)
            virtual_base = host_base = "/"
        else:
            base = call.cwd if dirfd == AT_FDCWD else call.fd_path(dirfd)
            if base is None or not base.startswith("/") or base.endswith(DELETED):
                return None
            host_base = base
            kernel = f"{base}/{raw}"
            lexical = join_fast(base, raw)
            if paths.remaps:
                found = paths.to_virtual(base)
                virtual_base = found or "/"
                virtual = None if found is None else join_fast(found, raw)
            else:
                virtual_base, virtual = base, lexical
        if virtual is not None and self.follows:
            follow_last = policy.follows_last(call, index)
            if not paths.remaps:
                # Nothing is renamed: the walk only says what the kernel will reach (for the
                # hidden check); the program's own path goes on untouched. Most paths hold
                # no link at all, which the kernel tells in three calls, not one per name.
                # (A ".." is walked by name: "hidden/.." passes through the hidden tree.)
                if ".." not in raw.split("/") and _linkless(lexical, follow_last):
                    return Resolved(lexical, lexical, kernel, None)
                virtual = self.follow_links(virtual_base, raw, follow_last, call)
                return Resolved(virtual, virtual, kernel, None)
            start = virtual_base if raw[:1] != "/" else "/"
            virtual = self.follow_links(start, raw, follow_last, call)
        host = lexical if virtual is None else paths.to_host(virtual)
        if host == lexical and (
            virtual is None
            or not paths.remaps
            or ".." not in raw.split("/")
            or self.walk_agrees(virtual_base, host_base, raw)
        ):
            return Resolved(virtual, host, kernel, None)
        # A trailing "/" (or "/.", "/..") makes the kernel insist on a directory: keep that.
        wants_dir = raw.endswith(("/", "/.", "/..")) or raw in (".", "..")
        rewrite = host + "/" if wants_dir and host != "/" else host
        return Resolved(virtual, host, rewrite, rewrite)

    def follow_links(
        self, start: str, relative: str, follow_last: bool, call: Call | None = None
    ) -> str:
        """The virtual path ``relative`` names from the virtual directory ``start``, with its
        symbolic links followed as the program means them: an absolute target from the
        virtual ``/`` (the root, binds), a relative one from the virtual directory of the
        link, and ``..`` after a link from where the link led, as the kernel walks. Left to
        the kernel, links would be followed on the host, where an absolute target names a
        host file. ``start`` is a directory the kernel has walked already (the working
        directory, a directory descriptor, or ``/``); bind points are taken as they are (a
        bind names a host path, links and all). Every other component costs one
        ``readlink`` (``EINVAL`` for what is not a link).

        In the host's ``/proc``, ``{self,thread-self,PID}[/task/TID]/{root,cwd,fd/N}``
        followed by more components is the directory it names for ``call``'s process
        (``root`` is the virtual ``/``), and the walk goes on from there; anything else
        under ``/proc`` is the kernel's to follow (its links mean the calling process)."""
        paths = self.paths
        hidden = paths.has_hidden
        to_host = paths.to_host if paths.remaps else None  # else every name is its own
        pending = relative.split("/")
        pending.reverse()
        done = start
        links = 0
        while pending:
            name = pending.pop()
            if not name or name == ".":
                continue
            if name == "..":
                done = parent(done)
                continue
            candidate = "/" + name if done == "/" else f"{done}/{name}"
            if hidden and paths.hidden(candidate):
                raise PathError(errno.ENOENT)
            if (not pending and not follow_last) or paths.is_bind_point(candidate):
                done = candidate
                continue
            host = candidate if to_host is None else to_host(candidate)
            if host == "/proc" or host.startswith("/proc/"):
                entered = None if call is None else self._enter_proc(call, host, pending)
                if entered is None:
                    pending.reverse()
                    return normalize("/".join([candidate, *pending]))
                done, pending = entered
                continue
            try:
                target = os.readlink(host)
            except OSError:
                done = candidate  # not a link, or missing: the kernel will say so
                continue
            links += 1
            if links > MAX_LINKS or not target:
                raise PathError(errno.ELOOP if target else errno.ENOENT)
            if target[0] == "/":
                done = "/"
            parts = target.split("/")
            parts.reverse()
            pending.extend(parts)
        return done

    def _enter_proc(
        self, call: Call, host: str, pending: list[str]
    ) -> tuple[str, list[str]] | None:
        """For a walk that reached the host's ``/proc`` at ``host`` with ``pending`` still to
        walk (last component first), the virtual directory that a
        ``/proc/.../{root,cwd,fd/N}`` link on the way names for ``call``'s process and what
        is left to walk from there; ``None`` when no such link is followed by more
        components, or its target is not a directory the program can see. Up to the link
        the walk is lexical: ``self`` and ``thread-self`` name the caller's directories, and
        ``..`` before the link drops a directory of ``/proc``."""
        left = list(pending)
        here = host
        match = _PROC_LINK.match(here)
        while match is None and left:
            name = left.pop()
            if name == "..":
                here = parent(here)
            elif name and name != ".":
                here = child(here, name)
            match = _PROC_LINK.match(here)
        if match is None or not any(name not in ("", ".") for name in left):
            return None  # no such link, or it is the last component: the kernel's to follow
        who, task, link = match.groups()
        pid = call.pid if who in ("self", "thread-self") else int(who)
        if who == "thread-self":
            task = str(call.tid)
        process = f"/proc/{pid}" if task is None else f"/proc/{pid}/task/{task}"
        try:
            target = os.readlink(f"{process}/{link}")
        except OSError:
            return None  # gone, or not ours to look at: the kernel will say so
        if not target.startswith("/") or target.endswith(DELETED):
            return None  # a pipe, a socket, a deleted directory: the kernel will say so
        if link == "root" and target == "/":
            return "/", left  # the process's own root is the virtual "/", a root or not
        virtual = self.paths.to_virtual(normalize(target))
        return None if virtual is None else (virtual, left)

    def walk_agrees(self, virtual: str, host: str, raw: str) -> bool:
        """Whether every directory the kernel walks through for ``raw`` (from ``host``, which
        the program knows as ``virtual``) is the one the program means. Only ``..`` makes
        this differ from the final path agreeing: the kernel visits a name before dropping
        it, and ``/bind/..`` visits a name that exists only in the virtual view."""
        to_host = self.paths.to_host
        for part in raw.split("/"):
            if not part or part == ".":
                continue
            if part == "..":
                virtual, host = parent(virtual), parent(host)
            else:
                virtual, host = child(virtual, part), child(host, part)
            if to_host(virtual) != host:
                return False
        return True


def _linkless(path: str, follow_last: bool) -> bool:
    """Whether the kernel reaches the normalised absolute host ``path`` through no symbolic
    link (the last one counts only if followed), told by opening it (or, when it does not
    exist, its directory) with ``O_PATH`` and reading back the name ``/proc`` gives the
    descriptor: any link on the way makes that name differ. ``False`` when it cannot tell.

    sysemu shares the program's root and mounts, so the kernel walks the same names for
    both; a link that leads to ``/proc/self`` would mean sysemu here, but it also makes
    the names differ, and the caller then walks the path itself."""
    flags = os.O_PATH | os.O_CLOEXEC | (0 if follow_last else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError:
        path = parent(path)  # a name to create, or a missing one: where it would be
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == path
    except OSError:
        return False
    finally:
        os.close(fd)


def is_normal(path: str) -> bool:
    """Whether the absolute ``path`` is certainly normalised already (cheaper than asking
    normpath; "/." also catches names that merely start with a dot, which is harmless)."""
    return "//" not in path and "/." not in path and (path == "/" or not path.endswith("/"))


def join_fast(base: str, relative: str) -> str:
    """``relative`` resolved lexically against the normalised directory ``base``."""
    if "/" not in relative and relative not in (".", ".."):
        return child(base, relative)  # one plain name: the common case, made cheap
    return join(base, relative)


def child(directory: str, name: str) -> str:
    """The path of ``name`` in the normalised ``directory``."""
    return f"/{name}" if directory == "/" else f"{directory}/{name}"


def parent(path: str) -> str:
    """The directory of the normalised absolute ``path`` (``/`` for ``/``)."""
    return path[: path.rindex("/")] or "/"


def to_virtual(paths: PathMap, host: str) -> str | None:
    """The virtual name of a host path read from ``/proc`` (keeping a ``(deleted)`` mark),
    or ``None`` where the program cannot see it."""
    deleted = host.endswith(DELETED)
    if deleted:
        host = host[: -len(DELETED)]
    if not host.startswith("/"):
        return None
    virtual = paths.to_virtual(normalize(host))
    return None if virtual is None else virtual + (DELETED if deleted else "")


def proc_self(path: str, call: Call) -> str:
    """``path`` with ``/proc/self`` and ``/proc/thread-self`` naming the caller, not sysemu."""
    for name, replacement in (
        ("/proc/self", f"/proc/{call.pid}"),
        ("/proc/thread-self", f"/proc/{call.pid}/task/{call.tid}"),
    ):
        if path == name or path.startswith(name + "/"):
            return replacement + path[len(name) :]
    return path


def canonical(call: Call, path: str, follow_last: bool) -> str | None:
    """The host path the kernel will reach for ``path`` (symbolic links resolved, the last
    one only if the call follows it), or ``None``."""
    path = proc_self(path, call)
    try:
        if follow_last:
            return os.path.realpath(path)
        directory, name = posixpath.split(path.rstrip("/") or "/")
        return normalize(f"{os.path.realpath(directory or '/')}/{name}")
    except (OSError, ValueError):
        return None
