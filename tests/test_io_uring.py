"""io_uring cannot carry a program past a rule: while a handler decides about a call that an
io_uring operation can do instead, ``io_uring_setup`` fails with ENOSYS (as on a kernel without
io_uring) and a liburing program falls back to plain calls, which the rules see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Emulator

from .conftest import PROGRAMS

BACKENDS = ("seccomp", "ptrace", "unotify", "sysemu", "auto")


@pytest.fixture(scope="module")
def uring_write(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/programs/uring_write.c, built against liburing (skips where it is missing)."""
    if not Path("/usr/include/liburing.h").exists():
        pytest.skip("liburing is not installed (apt-get install liburing-dev; setup.sh does)")
    output = tmp_path_factory.mktemp("uring") / "uring_write"
    # (-luring after the source: the linker takes a library only for what is undefined yet.)
    built = subprocess.run(["cc", "-O1", "-o", str(output), str(PROGRAMS / "uring_write.c"),
                            "-luring"], capture_output=True, text=True, check=False)  # fmt: skip
    if built.returncode != 0:
        pytest.fail(f"cannot build tests/programs/uring_write.c: {built.stderr}")
    return str(output)


def sysemu(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysemu", "run", *argv],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_natively_the_program_writes_through_io_uring(uring_write: str, tmp_path: Path) -> None:
    done = subprocess.run([uring_write, str(tmp_path / "f")], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.stdout == "uring\nok\n"
    assert (tmp_path / "f").read_text() == "data\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_read_only_tree_cannot_be_written_through_io_uring(
    uring_write: str, tmp_path: Path, backend: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    done = sysemu("--backend", backend, "--readonly", str(tree), "--", uring_write,
                  str(tree / "f"), cwd=tmp_path)  # fmt: skip
    assert done.stdout == "fallback\nopen: Read-only file system\n", done.stderr
    assert done.returncode == 1
    assert not (tree / "f").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_injected_failure_cannot_be_passed_by_io_uring(
    uring_write: str, tmp_path: Path, backend: str
) -> None:
    done = sysemu("--backend", backend, "--inject", "openat:error=EACCES:path=*/f", "--",
                  uring_write, str(tmp_path / "f"), cwd=tmp_path)  # fmt: skip
    assert done.stdout == "fallback\nopen: Permission denied\n", done.stderr
    assert not (tmp_path / "f").exists()


def test_a_hidden_tree_cannot_be_written_through_io_uring(uring_write: str, tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    done = sysemu("--hide", str(hidden), "--", uring_write, str(hidden / "f"), cwd=tmp_path)
    assert done.stdout == "fallback\nopen: No such file or directory\n", done.stderr
    assert not (hidden / "f").exists()


def test_allow_io_uring_opts_out_with_a_warning(uring_write: str, tmp_path: Path) -> None:
    """The documented way around: rings are made, and their operations bypass the rules."""
    tree = tmp_path / "tree"
    tree.mkdir()
    done = sysemu("--allow-io-uring", "--readonly", str(tree), "--", uring_write,
                  str(tree / "f"), cwd=tmp_path)  # fmt: skip
    assert done.stdout == "uring\nok\n"
    assert "warning: --allow-io-uring" in done.stderr
    assert (tree / "f").read_text() == "data\n"


def test_only_handlers_of_calls_io_uring_can_do_refuse_it(uring_write: str, tmp_path: Path) -> None:
    """A rule on getpid leaves io_uring alone, and so does a trace (observers decide
    nothing); a rule on write does not."""
    for rule, expected in (("getpid", "uring\nok\n"), ("write", "fallback\nok\n")):
        emu = Emulator()
        emu.on(rule)(lambda call: None)
        target = tmp_path / f"with-{rule}"
        result = emu.run([uring_write, str(target)], capture_output=True, timeout=60)
        assert result.stdout.decode() == expected
    done = sysemu("--trace=openat", "-o", "/dev/null", "--", uring_write, str(tmp_path / "t"),
                  cwd=tmp_path)  # fmt: skip
    assert done.stdout == "uring\nok\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_guard_is_answered_by_the_filter_where_there_is_one(
    uring_write: str, tmp_path: Path, backend: str
) -> None:
    """With a filter, io_uring_setup fails in the kernel without a stop; without one
    (ptrace, sysemu) the guard's handler fails it. The program falls back either way."""
    emu = Emulator(backend=backend)
    emu.on("write", decides_only=backend == "unotify")(lambda call: None)
    result = emu.run([uring_write, str(tmp_path / "f")], capture_output=True, timeout=60)
    assert result.stdout.decode() == "fallback\nok\n"
    guard_stops = sum(row.stops for row in result.stats if row.name == "io_uring_setup")
    assert guard_stops == (1 if backend in ("ptrace", "sysemu") else 0)
