"""The virtual filesystem's view of names: binds, a root, hidden and read-only trees.

Everything here is lexical and pure (no tracee, no system calls): a path is normalised
(``..``, ``.`` and repeated slashes folded, as :meth:`sysemu.Call.resolve` does) and matched
against the configured prefixes at component boundaries, so ``/data`` covers ``/data`` and
``/data/x`` but not ``/database``. Symbolic links are not followed; :mod:`sysemu.tools.vfs`
documents what that means.

Two name spaces meet here: *virtual* paths are what the program sees and passes, *host* paths
what the kernel resolves. :meth:`PathMap.to_host` maps one way, :meth:`PathMap.to_virtual` the
other.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator


def normalize(path: str) -> str:
    """``path`` (absolute) lexically normalised; a leading ``//`` becomes ``/`` as on Linux."""
    return "/" + posixpath.normpath(path).lstrip("/")


def join(base: str, relative: str) -> str:
    """``relative`` resolved lexically against the absolute directory ``base``."""
    return normalize(relative if relative.startswith("/") else f"{base}/{relative}")


def ancestors(path: str) -> Iterator[str]:
    """``path`` (normalised, absolute) and each of its parents, longest first, ``/`` last."""
    yield path
    while path != "/":
        path = path[: path.rindex("/")] or "/"
        yield path


def is_under(path: str, prefix: str) -> bool:
    """Whether normalised ``path`` is ``prefix`` or inside it (at a component boundary)."""
    return prefix in ("/", path) or path.startswith(prefix + "/")


def graft(path: str, old_prefix: str, new_prefix: str) -> str:
    """``path`` (under ``old_prefix``) with that prefix replaced by ``new_prefix``."""
    if path == old_prefix:
        rest = ""
    elif old_prefix == "/":
        rest = path
    else:
        rest = path[len(old_prefix) :]
    if new_prefix == "/":
        return rest or "/"
    return new_prefix + rest


class Prefixes:
    """A fixed set of normalised absolute paths that answers "which of them covers this path"
    (the longest), at component boundaries."""

    __slots__ = ("_members", "_scan")

    # Up to this many, a scan of C-level startswith calls beats walking the path's ancestors
    # through a generator (the common case: a handful of binds).
    _SCAN_LIMIT = 32

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._members = frozenset(paths)
        self._scan: tuple[tuple[str, str], ...] | None = None
        if len(self._members) <= self._SCAN_LIMIT:
            ordered = sorted(self._members, key=len, reverse=True)
            self._scan = tuple((path, path.rstrip("/") + "/") for path in ordered)

    def __bool__(self) -> bool:
        return bool(self._members)

    def __contains__(self, path: object) -> bool:
        return path in self._members

    def longest(self, path: str) -> str | None:
        """The longest member that is ``path`` or one of its parents, or ``None``."""
        scan = self._scan
        if scan is not None:
            for prefix, slashed in scan:
                if path == prefix or path.startswith(slashed):
                    return prefix
            return None
        members = self._members
        for prefix in ancestors(path):
            if prefix in members:
                return prefix
        return None


class PathMap:
    """Binds, a root and the hidden and read-only sets, in lexical terms.

    Configure with :meth:`bind`, :meth:`set_root`, :meth:`hide` and :meth:`make_readonly`
    (all paths absolute; they are normalised here), then ask :meth:`to_host`,
    :meth:`to_virtual`, :meth:`hidden` and :meth:`readonly`.
    """

    # Bound on the cache of to_virtual (asked mostly for directories: cwds and dirfds).
    _CACHE_SIZE = 4096

    def __init__(self) -> None:
        self._binds: dict[str, str] = {}  # virtual -> host
        self.root: str | None = None
        self._hidden: set[str] = set()
        self._readonly: set[str] = set()
        self._readonly_extra: set[str] = set()  # host paths given directly
        # Derived from the above by _derive(), after any change.
        self._reverse: dict[str, str] = {}  # host -> virtual (the first bind of a host wins)
        self._bind_prefixes = Prefixes()
        self._host_prefixes = Prefixes()  # bound host paths, and the root
        self._hidden_virtual = Prefixes()
        self._hidden_host = Prefixes()
        self._readonly_virtual = Prefixes()
        self._readonly_host = Prefixes()
        self._hidden_names_virtual: dict[str, set[str]] = {}
        self._hidden_names_host: dict[str, set[str]] = {}
        self._bound_names: dict[str, dict[str, str]] = {}  # virtual parent -> name -> host
        self._bound_parent_hosts: frozenset[str] = frozenset()  # to_host of those parents
        self._virtual_cache: dict[str, str | None] = {}
        self._significant: frozenset[str] = frozenset()
        self._dirty = False

    # Configuration.
    def bind(self, virtual: str, host: str) -> None:
        """Show ``host`` at ``virtual``; a later bind of the same virtual path replaces it."""
        self._binds[_absolute(virtual)] = _absolute(host)
        self._changed()

    def set_root(self, host: str | None) -> None:
        """Map every absolute path that no bind covers under ``host`` (``None``: no root)."""
        self.root = None if host is None else _absolute(host)
        self._changed()

    def hide(self, virtual: str) -> None:
        """Make ``virtual`` and everything under it absent."""
        self._hidden.add(_absolute(virtual))
        self._changed()

    def make_readonly(self, virtual: str) -> None:
        """Make ``virtual`` and everything under it read-only."""
        self._readonly.add(_absolute(virtual))
        self._changed()

    def add_readonly_host(self, host: str) -> None:
        """Also treat the host path ``host`` as read-only (its canonical form, say)."""
        self._readonly_extra.add(_absolute(host))
        self._changed()

    @property
    def binds(self) -> dict[str, str]:
        """The binds, virtual path to host path (a copy)."""
        return dict(self._binds)

    def is_bind_point(self, virtual: str) -> bool:
        """Whether ``virtual`` is where a bind is (not merely under one)."""
        return virtual in self._binds

    @property
    def hidden_paths(self) -> frozenset[str]:
        """The hidden virtual paths."""
        return frozenset(self._hidden)

    @property
    def readonly_paths(self) -> frozenset[str]:
        """The read-only virtual paths."""
        return frozenset(self._readonly)

    @property
    def remaps(self) -> bool:
        """Whether any name maps to another (binds or a root); else virtual == host."""
        return bool(self._binds) or self.root is not None

    @property
    def has_hidden(self) -> bool:
        """Whether anything is hidden."""
        return bool(self._hidden)

    @property
    def has_readonly(self) -> bool:
        """Whether anything is read-only."""
        return bool(self._readonly)

    # Mapping.
    def to_host(self, virtual: str) -> str:
        """The host path the normalised ``virtual`` path names: the deepest bind covering it,
        else the root, else itself."""
        if self._dirty:
            self._derive()
        prefix = self._bind_prefixes.longest(virtual)
        if prefix is not None:
            return graft(virtual, prefix, self._binds[prefix])
        if self.root is not None:
            return graft(virtual, "/", self.root)
        return virtual

    def to_virtual(self, host: str) -> str | None:
        """The virtual path under which the program sees the normalised ``host`` path, or
        ``None`` if it cannot see it at all (outside the root and every bind, or shadowed by
        another bind)."""
        if self._dirty:
            self._derive()
        cache = self._virtual_cache
        if host in cache:
            return cache[host]
        virtual = self._to_virtual(host)
        if len(cache) >= self._CACHE_SIZE:
            cache.clear()
        cache[host] = virtual
        return virtual

    def _to_virtual(self, host: str) -> str | None:
        if not self.remaps:
            return host
        prefix = self._host_prefixes.longest(host)
        if prefix is None:
            virtual = None if self.root is not None else host
        else:
            bound = self._reverse.get(prefix)
            virtual = graft(host, prefix, "/" if bound is None else bound)
        # A deeper bind may shadow the name (bind /a and /a/b: host /A/b is not /a/b).
        if virtual is None or self.to_host(virtual) != host:
            return None
        return virtual

    # Policies.
    def hidden(self, virtual: str | None, host: str | None = None) -> bool:
        """Whether the virtual path, or the host path it maps to, is hidden (checking the host
        side catches a hidden file reached through another bind)."""
        if self._dirty:
            self._derive()
        if virtual is not None and self._hidden_virtual.longest(virtual) is not None:
            return True
        return host is not None and self._hidden_host.longest(host) is not None

    def readonly(self, virtual: str | None, host: str | None = None) -> bool:
        """Whether the virtual path, or the host path it maps to, is read-only."""
        if self._dirty:
            self._derive()
        if virtual is not None and self._readonly_virtual.longest(virtual) is not None:
            return True
        return host is not None and self._readonly_host.longest(host) is not None

    def hidden_names(self, host_dir: str) -> frozenset[str]:
        """The names a listing of the host directory ``host_dir`` must leave out."""
        if self._dirty:
            self._derive()
        if not self._hidden:
            return frozenset()
        names = set(self._hidden_names_host.get(host_dir, ()))
        virtual = self.to_virtual(host_dir)
        if virtual is not None:
            names.update(self._hidden_names_virtual.get(virtual, ()))
        return frozenset(names)

    @property
    def lists_binds(self) -> bool:
        """Whether some bind puts a name where the host may have none, which listings of its
        parent directory must then show: any bind but a bare ``PATH=PATH`` whose parent is
        the host's own (under a root, ``--bind /usr`` puts ``usr`` in the root's ``/``)."""
        if self._dirty:
            self._derive()
        return bool(self._bound_names)

    def bound_names(self, host_dir: str) -> dict[str, str]:
        """The names binds put in the directory a listing of ``host_dir`` shows, each with the
        host path it shows (the host directory itself may have no such entry)."""
        if self._dirty:
            self._derive()
        # Cheap test first: a listing shows bound names only if its host directory is
        # where some bind's parent maps to (to_virtual, a dict miss for most directories,
        # costs microseconds).
        if host_dir not in self._bound_parent_hosts:
            return {}
        virtual = self.to_virtual(host_dir)
        return self._bound_names.get(virtual, {}) if virtual is not None else {}

    @property
    def significant_names(self) -> frozenset[str]:
        """The last components of every bound and hidden path, virtual and host. A path
        without ``..`` none of whose components is one of these maps to itself relative to
        its base directory (and, without a root, absolutely too), and is not hidden."""
        if self._dirty:
            self._derive()
        return self._significant

    def _changed(self) -> None:
        self._dirty = True

    def _derive(self) -> None:
        self._dirty = False
        self._virtual_cache = {}
        self._reverse = {}
        for virtual, host in self._binds.items():
            self._reverse.setdefault(host, virtual)
        self._bind_prefixes = Prefixes(self._binds)
        hosts = set(self._reverse)
        if self.root is not None:
            hosts.add(self.root)
        self._host_prefixes = Prefixes(hosts)
        hidden_host = {self.to_host(path) for path in self._hidden}
        self._hidden_virtual = Prefixes(self._hidden)
        self._hidden_host = Prefixes(hidden_host)
        readonly_host = {self.to_host(path) for path in self._readonly} | self._readonly_extra
        self._readonly_virtual = Prefixes(self._readonly)
        self._readonly_host = Prefixes(readonly_host)
        self._hidden_names_virtual = _names_by_parent(self._hidden)
        self._hidden_names_host = _names_by_parent(hidden_host)
        self._bound_names = {}
        for virtual, host in self._binds.items():
            if virtual == "/":
                continue
            parent, name = posixpath.split(virtual)
            # Listed by the kernel already where the parent's host directory holds this very
            # path (a bare PATH=PATH bind without a root); elsewhere only the view has it.
            if posixpath.join(self.to_host(parent), name) != host:
                self._bound_names.setdefault(parent, {})[name] = host
        self._bound_parent_hosts = frozenset(self.to_host(parent) for parent in self._bound_names)
        self._significant = frozenset(
            posixpath.basename(path) for path in (*self._binds, *self._hidden, *hidden_host)
        )


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    return normalize(path)


def _names_by_parent(paths: set[str]) -> dict[str, set[str]]:
    by_parent: dict[str, set[str]] = {}
    for path in paths:
        if path != "/":
            parent, name = posixpath.split(path)
            by_parent.setdefault(parent, set()).add(name)
    return by_parent
