"""Decoder tables whose rows load by syscall name: a trace of a few calls (``--trace=openat``)
imports the decoder modules those calls need, not the 7,000 lines every call would.

A table (:class:`OnDemand`) holds the rows it was built with; the rest live in *parts*,
modules that are imported, and their rows added to every table they belong in, the first time
one of the part's names is looked up (a name a part lists but no table of that kind has, say
a syscall with a decorated result and no row, loads it too: the look-up then misses as
before). Going through a whole table (``items()``, ``len()``) loads every part first, so it
sees what one eager table would.

A function a table names without needing its module yet is a :func:`later` (or an attribute
of a :class:`LaterModule`): the module is imported on its first call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values
    from types import ModuleType
    from typing import Any, TypeVar

    _V = TypeVar("_V")
else:
    _V = object  # (typing's import would cost every trace's start-up 3 ms)
_ABSENT: Any = object()

_LOADERS: dict[str, Callable[[], None]] = {}
"""Per name (a syscall's, or a C type's): the loader of the part whose rows it needs; a
loader that has run is no longer here."""


def add_part(names: frozenset[str], loader: Callable[[], None]) -> None:
    """Let ``loader`` add the rows of ``names`` to their tables when one of them is looked up
    (once: it is forgotten for every name when it has run)."""

    def load() -> None:
        loader()
        # (Only now: a thread looking a name up meanwhile loads it too, rather than missing
        # rows that are not added yet. Adding them twice adds the same rows.)
        for name in names:
            if _LOADERS.get(name) is load:
                del _LOADERS[name]

    for name in names:
        _LOADERS[name] = load


def load_part_of(name: str) -> bool:
    """Load the part ``name``'s rows are in, if not yet done: whether one was loaded."""
    loader = _LOADERS.get(name)
    if loader is None:
        return False
    loader()
    return True


def load_every_part() -> None:
    """Load every part not yet loaded (what iterating over a table needs)."""
    while _LOADERS:
        next(iter(_LOADERS.values()))()


class OnDemand(dict[str, _V]):
    """A table of rows by name whose missing rows may be in a part not loaded yet (see the
    module's docstring): looking a name up loads its part first. Its rows are added with
    ``dict.update`` by the part's loader."""

    __slots__ = ()

    def __missing__(self, name: str) -> _V:
        if load_part_of(name) and dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        """The row of ``name`` (its part loaded first if need be), else ``default``."""
        value = dict.get(self, name, _ABSENT)
        if value is _ABSENT:
            if name not in _LOADERS:
                return default
            load_part_of(name)
            value = dict.get(self, name, default)
        return value

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        return isinstance(name, str) and load_part_of(name) and dict.__contains__(self, name)

    def __iter__(self) -> Iterator[str]:
        load_every_part()
        return dict.__iter__(self)

    def __len__(self) -> int:
        load_every_part()
        return dict.__len__(self)

    def keys(self) -> dict_keys[str, _V]:
        """Every name (every part loaded first)."""
        load_every_part()
        return dict.keys(self)

    def values(self) -> dict_values[str, _V]:
        """Every row (every part loaded first)."""
        load_every_part()
        return dict.values(self)

    def items(self) -> dict_items[str, _V]:
        """Every (name, row) (every part loaded first)."""
        load_every_part()
        return dict.items(self)


def _trace_module(name: str) -> ModuleType:
    """``sysemu.tools.trace.<name>``, imported on first use. (By ``__import__``: importing
    importlib for its ``import_module`` would cost every trace's start ~0.5 ms.)"""
    qualified = f"sysemu.tools.trace.{name}"
    __import__(qualified)
    return sys.modules[qualified]


def later(module: str, name: str) -> Callable[..., Any]:
    """Function ``name`` of ``sysemu.tools.trace.<module>``, imported on its first call."""
    found: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not found:
            found.append(getattr(_trace_module(module), name))
        return found[0](*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    call.__module__ = f"sysemu.tools.trace.{module}"
    return call


class LaterModule:
    """A decoder module's functions as :func:`later` ones: ``LaterModule("decoders_layouts")
    .layout_kcmp`` imports the module when it is first called, not when a table names it."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function = later(self._module, name)
        setattr(self, name, function)
        return function


__all__ = ["LaterModule", "OnDemand", "add_part", "later", "load_every_part", "load_part_of"]
