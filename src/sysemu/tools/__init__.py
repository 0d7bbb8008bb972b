"""Tools made of handlers and observers: tracing, fault injection, the virtual filesystem.

Each is a package that plugs into runs, results and the command line through the interface
in :mod:`sysemu.tools.tool`; :mod:`sysemu.tools.registry` lists those the command line offers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A package's ``__getattr__`` that imports each name of ``where`` (name -> module) on
    first use: the command line imports every tool's ``cli`` module, and so its package, at
    each start, while most runs use none of the tool's other modules."""

    def load(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__ with a fromlist gives the module itself (importlib would be one more
        # import at start).
        return getattr(__import__(module, fromlist=[name]), name)

    return load
