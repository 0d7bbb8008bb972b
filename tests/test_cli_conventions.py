"""What users of env, timeout, nohup and strace expect of a command line: exit statuses 126 and
127 in plain words, ``--version``."""

from __future__ import annotations

import errno
import re
import subprocess
from pathlib import Path

import pytest

import sysemu as package
from sysemu import Emulator, ExecError
from sysemu.cli.main import main

from .test_cli import BACKENDS, ROOT, SYSEMU, skip_without, sysemu


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sysemu: ")
    assert result.stdout == ""
    return lines[0]


# Exit statuses as env(1), timeout(1) and nohup(1) give them.
@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        ("no-such-program-here", 127, "sysemu: no-such-program-here: command not found"),
        ("/no/such/file", 127, "sysemu: /no/such/file: no such file or directory"),
        ("{tmp}/plain.txt", 126, "sysemu: {tmp}/plain.txt: not an executable file"),
        ("{tmp}", 126, "sysemu: {tmp}: not an executable file"),
    ],
)
def test_a_program_not_found_is_127_and_one_not_executable_126(
    tmp_path: Path, command: str, status: int, message: str
) -> None:
    (tmp_path / "plain.txt").write_text("no execute bit\n")
    (tmp_path / "plain.txt").chmod(0o644)
    result = sysemu("run", "--", command.format(tmp=tmp_path))
    assert result.returncode == status
    assert one_line(result) == message.format(tmp=tmp_path)


@pytest.fixture
def unexecutable(tmp_path: Path) -> tuple[Path, Path]:
    """A file with the execute bit that is no program, and a script whose interpreter is
    missing."""
    bad_elf = tmp_path / "badelf"
    bad_elf.write_bytes(b"\x7fELF but not really\n")
    bad_interpreter = tmp_path / "script"
    bad_interpreter.write_text("#!/no/such/interpreter\n")
    for path in (bad_elf, bad_interpreter):
        path.chmod(0o755)
    return bad_elf, bad_interpreter


@pytest.mark.parametrize("backend", BACKENDS)
def test_exec_failures_are_in_plain_words(backend: str, unexecutable: tuple[Path, Path]) -> None:
    skip_without(backend)
    bad_elf, bad_interpreter = unexecutable
    result = subprocess.run(
        [*SYSEMU, "run", "--backend", backend, "--", "./badelf"],
        cwd=bad_elf.parent, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 126
    assert one_line(result) == "sysemu: cannot execute ./badelf: Exec format error"
    # The script is there, but the kernel finds no interpreter: env and the shells say 127.
    missing = sysemu("run", "--backend", backend, "--", str(bad_interpreter))
    assert missing.returncode == 127
    expected = f"sysemu: cannot execute {bad_interpreter}: No such file or directory"
    assert one_line(missing) == expected


def test_exec_errors_carry_the_errno(unexecutable: tuple[Path, Path]) -> None:
    bad_elf, bad_interpreter = unexecutable
    with pytest.raises(ExecError) as raised:
        Emulator().run([str(bad_elf)])
    assert raised.value.errno == errno.ENOEXEC
    assert raised.value.strerror == f"cannot execute {bad_elf}: Exec format error"
    with pytest.raises(ExecError) as raised:
        Emulator().run([str(bad_interpreter)])
    assert raised.value.errno == errno.ENOENT


def test_bad_options_stay_2() -> None:
    assert sysemu("run", "--bogus", "--", "true").returncode == 2
    assert sysemu("run", "--backend", "nosuch", "--", "true").returncode == 2


# --version
def test_version_from_the_command_and_python_m(capsys: pytest.CaptureFixture[str]) -> None:
    expected = f"sysemu {package.__version__}"
    result = sysemu("--version")  # python -m sysemu
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, expected, "")
    assert main(["--version"]) == 0  # what the sysemu console script runs
    assert capsys.readouterr().out == expected + "\n"


def test_doctor_prints_the_version() -> None:
    result = sysemu("doctor")
    assert result.stdout.splitlines()[0].startswith(f"sysemu {package.__version__} ")


def test_package_metadata_matches_the_code() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE)
    assert version is not None and version.group(1) == package.__version__
    assert re.search(r'^authors = \[\{ name = "sysemu developers" \}\]', pyproject, re.MULTILINE)
