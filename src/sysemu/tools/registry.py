"""The tools the command line offers, in the order their options appear.

Each entry names a module that defines ``OPTIONS``, a :class:`~sysemu.tools.tool.ToolOptions`
(see :mod:`sysemu.tools.tool`); adding a tool is its package plus one line here. The modules
are imported when the command line builds its parser, so they must be cheap to import; a
command line that names none of a built-in tool's options (see :data:`OPTION_STRINGS`) does
not import it at all.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.tool import ToolOptions

if TYPE_CHECKING:
    from collections.abc import Collection

_REGISTERED: list[str | ToolOptions] = [
    "sysemu.tools.inject.cli",
    "sysemu.tools.trace.cli",
    "sysemu.tools.vfs.cli",
    "sysemu.tools.net.cli",
    "sysemu.tools.time.cli",
]


# The option strings each built-in tool's parser adds (tests/test_tools.py holds them against
# the parsers), so that the command line can tell which tools it names before importing any.
# fmt: off
OPTION_STRINGS: dict[str, tuple[str, ...]] = {
    "sysemu.tools.inject.cli": ("--inject", "--seed"),
    "sysemu.tools.trace.cli": (
        "--trace", "-o", "--json", "--timeline", "-s", "-y", "-t", "-T", "-P", "--trace-path",
        "-X", "--const-print-style", "-v", "--no-abbrev", "--abbrev", "--verbose", "--raw",
        "--signal", "--trace-fds",
    ),
    "sysemu.tools.vfs.cli": ("--bind", "--file", "--hide", "--readonly", "--root", "--cwd"),
    "sysemu.tools.net.cli": ("--deny-network",),
    "sysemu.tools.time.cli": (
        "--time", "--time-freeze", "--time-rate", "--time-stop-reads", "--time-files",
        "--deterministic",
    ),
}
# fmt: on


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


def tool_options(
    command: str | None = None, *, owning: Collection[str] | None = None
) -> list[ToolOptions]:
    """The registered tools' options, in registration order; with ``command``, only those of
    the tools that subcommand offers; with ``owning`` (option strings, as in
    :data:`OPTION_STRINGS`), only the tools that own one of them, and those registered
    without a listing here (whose options are not known before their module is imported)."""
    entries = _REGISTERED
    if owning is not None:
        entries = [entry for entry in _REGISTERED if _owns_one_of(entry, owning)]
    found = [_resolve(entry) for entry in entries]
    return [options for options in found if command is None or command in options.commands]


def owner_of(option: str) -> str | None:
    """The module of the built-in tool whose parser adds ``option`` (an option string), or
    None."""
    for module, strings in OPTION_STRINGS.items():
        if option in strings:
            return module
    return None


def _owns_one_of(entry: str | ToolOptions, options: Collection[str]) -> bool:
    strings = OPTION_STRINGS.get(entry) if isinstance(entry, str) else None
    return strings is None or any(option in strings for option in options)


def _resolve(entry: str | ToolOptions) -> ToolOptions:
    if isinstance(entry, ToolOptions):
        return entry
    # __import__ with a fromlist gives the module itself; importlib would be one more import
    # at every start of the command line.
    options = getattr(__import__(entry, fromlist=["OPTIONS"]), "OPTIONS", None)
    if not isinstance(options, ToolOptions):
        raise TypeError(f"tool module {entry} must define OPTIONS, a ToolOptions")
    return options
