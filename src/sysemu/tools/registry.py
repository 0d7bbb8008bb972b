"""The tools the command line offers, in the order their options appear.

Each entry names a module that defines ``OPTIONS``, a :class:`~sysemu.tools.tool.ToolOptions`
(see :mod:`sysemu.tools.tool`); adding a tool is its package plus one line here. The modules
are imported when the command line builds its parser, so they must be cheap to import.
"""

from __future__ import annotations

from sysemu.tools.tool import ToolOptions

_REGISTERED: list[str | ToolOptions] = [
    "sysemu.tools.inject.cli",
    "sysemu.tools.trace.cli",
    "sysemu.tools.vfs.cli",
    "sysemu.tools.net.cli",
    "sysemu.tools.time.cli",
]


def register(tool: str | ToolOptions) -> None:
    """Offer another tool on the command line: the name of a module that defines
    ``OPTIONS``, or the :class:`ToolOptions` itself. Raises ValueError for a name in use."""
    name = _resolve(tool).name
    if not name or any(_resolve(entry).name == name for entry in _REGISTERED):
        raise ValueError(f"a tool named {name!r} is already registered")
    _REGISTERED.append(tool)


def unregister(name: str) -> None:
    """Stop offering the tool ``name``; raises KeyError if no such tool is registered."""
    for entry in _REGISTERED:
        if _resolve(entry).name == name:
            _REGISTERED.remove(entry)
            return
    raise KeyError(name)


def tool_options(command: str | None = None) -> list[ToolOptions]:
    """The registered tools' options, in registration order; with ``command``, only those of
    the tools that subcommand offers."""
    found = [_resolve(entry) for entry in _REGISTERED]
    return [options for options in found if command is None or command in options.commands]


def _resolve(entry: str | ToolOptions) -> ToolOptions:
    if isinstance(entry, ToolOptions):
        return entry
    # __import__ with a fromlist gives the module itself; importlib would be one more import
    # at every start of the command line.
    options = getattr(__import__(entry, fromlist=["OPTIONS"]), "OPTIONS", None)
    if not isinstance(options, ToolOptions):
        raise TypeError(f"tool module {entry} must define OPTIONS, a ToolOptions")
    return options
