"""Virtual time and repeatable runs: ``--time``, ``--time-freeze``, ``--time-rate``,
``--deterministic``, and ``emu.clock = VirtualClock(...)`` (see :mod:`.tool`).

The names below load on first use: the command line imports this package (for ``cli``) at
every start, and the tool's modules are for runs that ask for it.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

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


__getattr__ = lazy_names(__name__, _LAZY)
