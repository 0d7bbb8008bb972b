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
from collections.abc import Iterator


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


class PathMap:
    """Binds, a root and the hidden and read-only sets, in lexical terms.

    Configure with :meth:`bind`, :meth:`set_root`, :meth:`hide` and :meth:`make_readonly`
    (all paths absolute; they are normalised here), then ask :meth:`to_host`,
    :meth:`to_virtual`, :meth:`hidden` and :meth:`readonly`.
    """

    def __init__(self) -> None:
        self._binds: dict[str, str] = {}  # virtual -> host
        self._reverse: dict[str, str] = {}  # host -> virtual (first bind of a host path wins)
        self.root: str | None = None
        self._hidden: set[str] = set()
        self._readonly: set[str] = set()
        self._readonly_extra: set[str] = set()  # host paths given directly
        # Derived sets, rebuilt when the configuration changes (see _derive).
        self._hidden_host: set[str] = set()
        self._readonly_host: set[str] = set()
        self._hidden_names_virtual: dict[str, set[str]] = {}
        self._hidden_names_host: dict[str, set[str]] = {}
        self._dirty = False

    # Configuration.
    def bind(self, virtual: str, host: str) -> None:
        """Show ``host`` at ``virtual``; a later bind of the same virtual path replaces it."""
        virtual, host = _absolute(virtual), _absolute(host)
        self._binds[virtual] = host
        self._reverse = {}
        for v, h in self._binds.items():
            self._reverse.setdefault(h, v)
        self._dirty = True

    def set_root(self, host: str | None) -> None:
        """Map every absolute path that no bind covers under ``host`` (``None``: no root)."""
        self.root = None if host is None else _absolute(host)
        self._dirty = True

    def hide(self, virtual: str) -> None:
        """Make ``virtual`` and everything under it absent."""
        self._hidden.add(_absolute(virtual))
        self._dirty = True

    def make_readonly(self, virtual: str) -> None:
        """Make ``virtual`` and everything under it read-only."""
        self._readonly.add(_absolute(virtual))
        self._dirty = True

    @property
    def binds(self) -> dict[str, str]:
        """The binds, virtual path to host path (a copy)."""
        return dict(self._binds)

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

    # Mapping.
    def to_host(self, virtual: str) -> str:
        """The host path the normalised ``virtual`` path names: the deepest bind covering it,
        else the root, else itself."""
        binds = self._binds
        if binds:
            for prefix in ancestors(virtual):
                host = binds.get(prefix)
                if host is not None:
                    return graft(virtual, prefix, host)
        if self.root is not None:
            return graft(virtual, "/", self.root)
        return virtual

    def to_virtual(self, host: str) -> str | None:
        """The virtual path under which the program sees the normalised ``host`` path, or
        ``None`` if it cannot see it at all (outside the root and every bind, or shadowed by
        another bind)."""
        if not self.remaps:
            return host
        virtual: str | None = None
        reverse = self._reverse
        for prefix in ancestors(host):
            bound = reverse.get(prefix)
            if bound is not None:
                virtual = graft(host, prefix, bound)
                break
            if prefix == self.root:
                virtual = graft(host, prefix, "/")
                break
        if virtual is None:
            virtual = None if self.root is not None else host
        # A deeper bind may shadow the name (bind /a and /a/b: host /A/b is not /a/b).
        if virtual is None or self.to_host(virtual) != host:
            return None
        return virtual

    # Policies.
    def hidden(self, virtual: str | None, host: str | None = None) -> bool:
        """Whether the virtual path, or the host path it maps to, is hidden (checking the host
        side catches a hidden file reached through another bind)."""
        self._derive()
        if not self._hidden:
            return False
        if virtual is not None and _covered(virtual, self._hidden):
            return True
        return host is not None and _covered(host, self._hidden_host)

    def readonly(self, virtual: str | None, host: str | None = None) -> bool:
        """Whether the virtual path, or the host path it maps to, is read-only."""
        self._derive()
        if not self._readonly:
            return False
        if virtual is not None and _covered(virtual, self._readonly):
            return True
        return host is not None and _covered(host, self._readonly_host)

    @property
    def has_hidden(self) -> bool:
        """Whether anything is hidden."""
        return bool(self._hidden)

    @property
    def has_readonly(self) -> bool:
        """Whether anything is read-only."""
        return bool(self._readonly)

    def add_readonly_host(self, host: str) -> None:
        """Also treat the host path ``host`` as read-only (its canonical form, say)."""
        self._readonly_extra.add(_absolute(host))
        self._dirty = True

    def hidden_names(self, host_dir: str) -> frozenset[str]:
        """The names a listing of the host directory ``host_dir`` must leave out."""
        self._derive()
        if not self._hidden:
            return frozenset()
        names = set(self._hidden_names_host.get(host_dir, ()))
        virtual = self.to_virtual(host_dir)
        if virtual is not None:
            names.update(self._hidden_names_virtual.get(virtual, ()))
        return frozenset(names)

    def _derive(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._hidden_host = {self.to_host(path) for path in self._hidden}
        self._readonly_host = {self.to_host(path) for path in self._readonly}
        self._readonly_host |= self._readonly_extra
        self._hidden_names_virtual = _names_by_parent(self._hidden)
        self._hidden_names_host = _names_by_parent(self._hidden_host)


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    return normalize(path)


def _covered(path: str, prefixes: set[str]) -> bool:
    return any(prefix in prefixes for prefix in ancestors(path))


def _names_by_parent(paths: set[str]) -> dict[str, set[str]]:
    by_parent: dict[str, set[str]] = {}
    for path in paths:
        if path != "/":
            parent, name = posixpath.split(path)
            by_parent.setdefault(parent, set()).add(name)
    return by_parent
