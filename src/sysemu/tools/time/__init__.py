"""Virtual time and repeatable runs: ``--time``, ``--time-freeze``, ``--time-rate``,
``--deterministic``, and ``emu.clock = VirtualClock(...)`` (see :mod:`.tool`)."""

from sysemu.tools.time.clock import SteppedClock, VirtualClock, parse_time
from sysemu.tools.time.tool import TimeTool

__all__ = ["SteppedClock", "TimeTool", "VirtualClock", "parse_time"]
