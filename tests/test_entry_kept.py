"""What a call's arguments pointed at at entry is still known when the call finishes.

A successful ``execve`` replaces the caller's memory, and under user notification a call's
memory cannot be read once it was answered: the engines read it at entry for the observers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sysemu import Call, Emulator, Observer
from sysemu.api.decisions import Outcome, Result

from .conftest import Programs, x86_64_only

PTRACE_BACKENDS = ["seccomp", "ptrace", "sysemu", "auto"]


class ExecRecorder(Observer):
    """What ``call_finished`` can still read of each exec call."""

    def __init__(self, *, results: bool) -> None:
        self.wants_results = results  # type: ignore[misc]
        self.finished: list[tuple[str, str | None, str | None, list[str], int | None]] = []

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        value = None if result is None else result.value
        path = call.path
        self.finished.append((call.name, path, call.args.filename, call.paths, value))


def _exec_under(
    backend: str, argv: list[str], cwd: Path, *, results: bool
) -> list[tuple[str, str | None, str | None, list[str], int | None]]:
    emu = Emulator(backend=backend)
    recorder = ExecRecorder(results=results)
    emu.observe(recorder, ["execve", "execveat"])
    result = emu.run(argv, cwd=str(cwd), capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout, result.handler_errors) == (0, b"", [])
    return recorder.finished[1:]  # the first is sysemu's own exec of the program


@pytest.mark.parametrize("backend", [*PTRACE_BACKENDS, "unotify"])
@pytest.mark.parametrize(
    "mode", ["execve", "execveat", pytest.param("i386-execve", marks=x86_64_only)]
)
def test_an_exec_s_path_is_known_when_it_finished(
    programs: Programs, tmp_path: Path, backend: str, mode: str
) -> None:
    (tmp_path / "prog").symlink_to("/bin/true")
    # A relative name: its resolution needs the working directory as it was at entry.
    argv = [programs.rel_exec_variants, mode, "prog"]
    if mode.startswith("i386"):
        argv[2] = str(tmp_path / "prog")  # (the program copies it below 4 GiB)
    # Results cost a stop the unotify backend cannot make; it still tells call_finished.
    results = backend != "unotify"
    finished = _exec_under(backend, argv, tmp_path, results=results)
    name = mode.removeprefix("i386-")
    assert finished == [(name, argv[2], argv[2], [str(tmp_path / "prog")], 0 if results else None)]


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_an_exec_by_descriptor_keeps_the_file_it_named(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    # execveat(fd, "", AT_EMPTY_PATH) on an O_CLOEXEC descriptor: the exec closes it, so the
    # path it stands for can only be known from entry.
    finished = _exec_under(
        backend, [programs.rel_exec_variants, "fexecve", "/bin/true"], tmp_path, results=True
    )
    assert finished == [("execveat", "", "", [os.path.realpath("/bin/true")], 0)]


@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_an_exec_from_a_thread_is_known_under_the_leader_s_id(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    emu = Emulator(backend=backend)
    recorder = ExecRecorder(results=True)
    emu.observe(recorder, ["execve"])
    result = emu.run([programs.thread_exec, "/bin/true"], capture_output=True, timeout=60)
    assert (result.exit_code, result.handler_errors) == (0, [])
    assert recorder.finished[1:] == [("execve", "/bin/true", "/bin/true", ["/bin/true"], 0)]


@pytest.mark.parametrize("backend", [*PTRACE_BACKENDS, "unotify"])
def test_a_relative_chdir_is_resolved_as_it_was_at_entry(tmp_path: Path, backend: str) -> None:
    (tmp_path / "sub").mkdir()
    emu = Emulator(backend=backend)
    seen: list[list[str]] = []

    class Chdirs(Observer):
        wants_results = backend != "unotify"

        def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
            seen.append(call.paths)  # after the call, "sub" would be tmp/sub/sub

    emu.observe(Chdirs(), ["chdir"])
    script = "import os; os.chdir('sub')"
    result = emu.run([sys.executable, "-c", script], cwd=str(tmp_path), timeout=60)
    assert (result.exit_code, result.handler_errors) == (0, [])
    assert seen == [[str(tmp_path / "sub")]]
