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


def __getattr__(name: str) -> object:
    # Loaded on first use, like the other tools: importing sysemu must not pay for sweeps.
    import importlib  # noqa: PLC0415

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
