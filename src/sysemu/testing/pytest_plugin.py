"""The pytest plugin: the ``sysemu_run`` fixture and the ``sysemu_inject`` marker.

``sysemu_run(args, **options)`` is :func:`sysemu.testing.run_traced` with the test's
``sysemu_inject`` markers added to ``inject``::

    @pytest.mark.sysemu_inject("openat:error=ENOENT:path=/etc/app.conf")
    def test_missing_config(sysemu_run):
        result = sysemu_run(["app", "--check"])
        assert result.returncode == 2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from sysemu.testing.runner import TracedRun, run_traced

SysemuRun = Callable[..., TracedRun]


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
