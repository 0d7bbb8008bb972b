"""Error-path sweeps: fail each call that ``--inject`` specs match, one per run, and say which
failures the program mishandles (a crash, a hang, a traceback, a failed check).

:mod:`.observe` records the reference run's matching calls and their call sites,
:mod:`.points` turns them into one ``--inject ...:when=K`` spec per run, :mod:`.runs` carries
a run out and classifies it, :mod:`.sweep` is the :class:`Sweeper` that drives them and
:mod:`.report` prints the table, the summary and the JSON. ``sysemu.Sweep`` is a Sweeper with
sysemu's emulator (in :mod:`sysemu.testing.sweep`, above the tools); the command line is
``sysemu sweep``; the pytest fixture ``sysemu_sweep``.
"""

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

if TYPE_CHECKING:
    from sysemu.tools.sweep.points import Point
    from sysemu.tools.sweep.runs import OutcomeKind, SweepOutcome
    from sysemu.tools.sweep.sweep import Sweeper, SweepError

_LAZY = {
    "OutcomeKind": "sysemu.tools.sweep.runs",
    "SweepOutcome": "sysemu.tools.sweep.runs",
    "Point": "sysemu.tools.sweep.points",
    "Sweeper": "sysemu.tools.sweep.sweep",
    "SweepError": "sysemu.tools.sweep.sweep",
}

__all__ = ["OutcomeKind", "Point", "SweepError", "SweepOutcome", "Sweeper"]


__getattr__ = lazy_names(__name__, _LAZY)
