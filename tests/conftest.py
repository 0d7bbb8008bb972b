"""Shared fixtures: the C test programs, built once per session, and tracee hygiene."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
EXAMPLES = Path(__file__).parent.parent / "examples"

# How many times slower than a real machine this one is: scripts/test_vm.sh sets 10 in an
# emulated (TCG) machine. Limits that tell a hang from a slow run grow by it; what a test
# asserts does not.
TIME_SCALE = float(os.environ.get("SYSEMU_TEST_TIME_SCALE", "1"))


def hang_limit(seconds: float) -> float:
    """``seconds``, a limit past which a run counts as hung, grown for a slow machine."""
    return seconds * TIME_SCALE


def _build(source: Path, output: Path, *flags: str) -> bool:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return False
    result = subprocess.run(
        [cc, "-O1", "-pthread", *flags, "-o", str(output), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
    return result.returncode == 0


class Programs:
    """Paths of the compiled test programs: ``programs.getpid_loop``, ``programs.m32("x")``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __getattr__(self, name: str) -> str:
        path = self.directory / name
        if not path.exists() and not _build(PROGRAMS / f"{name}.c", path):
            pytest.fail(f"cannot build tests/programs/{name}.c (is gcc installed?)")
        return str(path)

    def example(self, name: str) -> str:
        """A C program of examples/, compiled on first use."""
        path = self.directory / f"example-{name}"
        if not path.exists() and not _build(EXAMPLES / f"{name}.c", path):
            pytest.fail(f"cannot build examples/{name}.c")
        return str(path)

    def m32(self, name: str) -> str:
        """The 32-bit build of a program; skips the test where gcc -m32 does not work."""
        path = self.directory / f"{name}.m32"
        if not path.exists() and not _build(PROGRAMS / f"{name}.c", path, "-m32"):
            pytest.skip("gcc -m32 does not work here (install gcc-multilib)")
        return str(path)


def build_go(directory: Path, source: Path, name: str) -> str:
    """Build the Go program ``source`` as ``directory/name`` (static, with its caches in
    ``directory``); skips the test where Go is not installed."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go compiler (install golang-go)")
    env = {**os.environ, "CGO_ENABLED": "0", "GOCACHE": str(directory / "cache"),
           "GOPATH": str(directory / "path"), "HOME": str(directory)}  # fmt: skip
    subprocess.run([go, "build", "-o", name, str(source)], cwd=directory, env=env, check=True,
                   timeout=300, capture_output=True)  # fmt: skip
    return str(directory / name)


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    """The C programs of tests/programs, compiled on first use."""
    return Programs(tmp_path_factory.mktemp("programs"))


def own_children() -> set[int]:
    """The pids of this process's children (of any of its threads): what a run that raised
    must not leave behind."""
    found: set[int] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as listed:
                found.update(int(pid) for pid in listed.read().split())
        except FileNotFoundError:  # a thread that ended after the listing has no children
            continue
    return found


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # (reaped between the open and the read)
        return True


def sleeps_in_read(pid: int, fd: int) -> bool:
    """Whether ``pid`` is in ``read(fd, ...)``, by ``/proc/PID/syscall`` (which numbers calls
    as the machine does: x86-64's read is 0, aarch64's 63); False once it is gone."""
    from sysemu.abi import syscall_by_name  # noqa: PLC0415 (the machine's native ABI)

    try:
        with open(f"/proc/{pid}/syscall") as syscall:
            return syscall.read().startswith(f"{syscall_by_name('read').nr} {fd:#x} ")
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    """Whether ``predicate`` comes true within ``timeout`` seconds, grown for a slow machine
    (polled every 20 ms)."""
    deadline = time.monotonic() + hang_limit(timeout)
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


x86_64_only = pytest.mark.skipif(
    os.uname().machine != "x86_64",
    reason="i386 and x32 calls (int $0x80, the x32 bit) are x86-64's",
)
"""For the tests of x86-64's 32-bit ABIs, which other machines do not have."""
