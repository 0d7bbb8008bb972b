"""Helpers for tests that run programs under sysemu; the pytest plugin lives here too.

The plugin is registered through an entry point, so installing sysemu is enough: tests get the
``sysemu_run`` and ``sysemu_sweep`` fixtures and the ``sysemu_inject`` marker (``sysemu.Sweep``,
the error-path sweep, is :mod:`sysemu.testing.sweep`)::

    import pytest

    @pytest.mark.sysemu_inject("write:error=ENOSPC:fdpath=*/app.log")
    def test_full_disk(sysemu_run, tmp_path):
        result = sysemu_run(["python3", "app.py", str(tmp_path / "app.log")])
        assert result.returncode == 1
        assert result.injections                 # at least one write was failed
        assert b"disk full" in result.stderr
"""

from sysemu.testing.runner import TracedRun, run_traced

__all__ = ["TracedRun", "run_traced"]
