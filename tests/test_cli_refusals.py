"""What a backend cannot serve is refused before the program starts: from the command line in
one line with exit status 2 and the backends that can, from Python with UnsupportedError."""

from __future__ import annotations

from pathlib import Path

import pytest

from sysemu import Emulator, UnsupportedError
from sysemu.kernel import seccomp
from sysemu.tools.trace import trace

from .conftest import own_children
from .test_cli import sysemu

needs_notification = pytest.mark.skipif(
    not seccomp.has_user_notification(), reason="no seccomp user notification here"
)


@needs_notification
@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--trace"], "--trace: the unotify backend cannot trace"),
        (["--trace=openat"], "--trace: the unotify backend cannot trace"),
        (["--trace=%file", "-y"], "--trace: the unotify backend cannot trace"),
        (["--json"], "--json: the unotify backend cannot trace"),
        (["-o", "/dev/null"], "-o: the unotify backend cannot trace"),
        (["--timeline", "/dev/null"], "--timeline: the unotify backend cannot trace"),
        (["--handler-timeout", "1"], "--handler-timeout: the unotify backend cannot"),
        (["--inject", "write:retval=1:after"], "--inject 'write:retval=1:after'"),
        (["--inject", "write:error=EIO:after:fd=1"], "--inject 'write:error=EIO:fd=1:after'"),
        (["--inject", "openat:delay_exit=1ms"], "--inject 'openat:delay_exit=1ms'"),
        (["--bind", "/v=/tmp"], "--backend unotify cannot rewrite paths"),
    ],
)
def test_unotify_refuses_what_it_cannot_serve_before_the_program_runs(
    tmp_path: Path, options: list[str], named: str
) -> None:
    marker = tmp_path / "ran"
    result = sysemu("run", "--backend", "unotify", *options, "--", "touch", str(marker))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sysemu: ") and named in lines[0]
    assert "seccomp" in lines[0]  # the backend that can serve it
    assert result.stdout == ""
    assert not marker.exists()


def test_what_unotify_refuses_runs_on_the_default_backend(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = sysemu("run", "--inject", "write:retval=1:after", "--trace=write", "--",
                    "touch", str(marker))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert marker.exists()


@needs_notification
def test_an_injection_that_sees_results_is_refused_by_run_before_it_starts(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    before = own_children()
    emu = Emulator(backend="unotify")
    emu.inject("write", retval=1, after=True)
    with pytest.raises(UnsupportedError, match="use the seccomp or auto backend"):
        emu.run(["touch", str(marker)])
    assert not marker.exists()
    assert own_children() == before


@needs_notification
def test_a_trace_is_refused_by_run_before_it_starts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    emu = Emulator(backend="unotify")
    with (tmp_path / "trace").open("w") as stream:
        trace(emu.handlers, stream, "openat")
        with pytest.raises(UnsupportedError, match="use the seccomp backend"):
            emu.run(["touch", str(marker)])
    assert not marker.exists()
