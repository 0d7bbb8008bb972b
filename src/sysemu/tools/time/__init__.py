"""Virtual time and repeatable runs: ``--time``, ``--time-freeze``, ``--time-rate``,
``--deterministic``, and ``emu.clock = VirtualClock(...)`` (see :mod:`.tool`).

The names below load on first use: the command line imports this package (for ``cli``) at
every start, and the tool's modules are for runs that ask for it.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sysemu.tools.time.clock import SteppedClock, VirtualClock, parse_time
    from sysemu.tools.time.tool import TimeTool

_LAZY = {
    "SteppedClock": "sysemu.tools.time.clock",
    "VirtualClock": "sysemu.tools.time.clock",
    "parse_time": "sysemu.tools.time.clock",
    "TimeTool": "sysemu.tools.time.tool",
}

__all__ = ["SteppedClock", "TimeTool", "VirtualClock", "parse_time"]


def __getattr__(name: str) -> object:
    import importlib  # noqa: PLC0415

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
