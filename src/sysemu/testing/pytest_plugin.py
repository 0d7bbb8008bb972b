"""The pytest plugin: the ``sysemu_run`` and ``sysemu_sweep`` fixtures and the
``sysemu_inject`` marker.

``sysemu_run(args, **options)`` is :func:`sysemu.testing.run_traced` with the test's
``sysemu_inject`` markers added to ``inject``::

    @pytest.mark.sysemu_inject("openat:error=ENOENT:path=/etc/app.conf")
    def test_missing_config(sysemu_run):
        result = sysemu_run(["app", "--check"])
        assert result.returncode == 2

``sysemu_sweep(specs, argv, **options)`` runs a :class:`sysemu.Sweep` and fails the test with
its table when a run crashed, hung, printed a traceback or failed the check::

    def test_save_survives_io_errors(sysemu_sweep, tmp_path):
        sysemu_sweep(["write,fsync,rename:error=EIO"], ["python3", "save.py"],
                     workdir=str(tmp_path), check="python3 verify.py")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from sysemu._typing import TYPE_CHECKING
from sysemu.testing.runner import TracedRun, run_traced

SysemuRun = Callable[..., TracedRun]
SysemuSweep = Callable[..., "list[SweepOutcome]"]

if TYPE_CHECKING:
    from sysemu.tools.sweep.runs import SweepOutcome


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "sysemu_inject(*specs): inject these faults (--inject syntax) into every sysemu_run "
        "of the test",
    )


@pytest.fixture
def sysemu_run(request: pytest.FixtureRequest) -> SysemuRun:
    """Run a command under sysemu, with the test's ``sysemu_inject`` specs; see
    :func:`sysemu.testing.run_traced` for the options."""
    marked = [spec for mark in request.node.iter_markers("sysemu_inject") for spec in mark.args]

    def run(args: Sequence[str], *, inject: Sequence[str] = (), **options: Any) -> TracedRun:
        return run_traced(args, inject=[*marked, *inject], **options)

    return run


@pytest.fixture
def sysemu_sweep() -> SysemuSweep:
    """Sweep a command: ``sysemu_sweep(specs, argv, **options)`` takes the arguments of
    :class:`sysemu.Sweep` (a single spec may be a string), returns every outcome, in the
    sweep's order, and fails the test with the table of outcomes when any run crashed, hung,
    printed a traceback or failed the check."""

    def sweep(
        specs: str | Sequence[str], argv: Sequence[str], **options: Any
    ) -> list[SweepOutcome]:
        # (Loaded by the tests that sweep: the plugin is imported by every pytest session.)
        from sysemu.testing.sweep import Sweep  # noqa: PLC0415
        from sysemu.tools.sweep.report import outcome_table, summary_line  # noqa: PLC0415

        swept = Sweep([specs] if isinstance(specs, str) else specs, argv, **options)
        outcomes = sorted(swept, key=lambda outcome: outcome.point.number)
        if any(outcome.kind.failing for outcome in outcomes):
            table = outcome_table(outcomes, swept.argv, swept.workdir)
            summary = summary_line(outcomes, len(swept.observed))
            pytest.fail(f"sysemu sweep of {' '.join(argv)}: {summary}\n{table}", pytrace=False)
        return outcomes

    return sweep
