"""``short=``: a short transfer the kernel really makes (the byte count cut before the call
runs), against programs that retry short writes as they must."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.kernel import seccomp
from sysemu.tools.inject import InjectSpecError, parse_inject_spec

SYSEMU = [sys.executable, "-m", "sysemu", "run"]
# The backends that can rewrite an argument; unotify refuses short= (see below).
PTRACE_BACKENDS = ["seccomp", "ptrace", "sysemu", "auto"]
DATA = bytes(range(256)) * 64 + b"tail\n"  # 16 KiB and a bit: no pattern a bug could fake
# Writes all of its data, a write at a time, retrying after a short one; prints how many
# writes it took and each write's result.
RETRYING_WRITER = (
    "import os, sys\n"
    "data = bytes(range(256)) * 64 + b'tail\\n'\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
    "done, results = 0, []\n"
    "while done < len(data):\n"
    "    results.append(os.write(fd, data[done:]))\n"
    "    done += results[-1]\n"
    "print(len(results), sorted(set(results)))\n"
)


def sysemu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def skip_without(backend: str) -> None:
    if backend == "auto" and not seccomp.has_user_notification():
        pytest.skip("no seccomp user notification here")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("write:short=1", "write:short=1"),
        ("read,write:short=50%:fd=3", "read,write:short=50%:fd=3"),
    ],
)
def test_short_parses_and_prints_back(text: str, canonical: str) -> None:
    assert str(parse_inject_spec(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("write:short=0", "byte count of 1 or more"),
        ("write:short=0%", "between 1% and 99%"),
        ("write:short=100%", "between 1% and 99%"),
        ("write:short=x", "short must be an integer"),
        ("write:short=1:error=EIO", "excludes error and retval"),
        ("write:short=1:retval=1", "excludes error and retval"),
        ("writev:short=1", "a byte count for short="),
    ],
)
def test_bad_short_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(InjectSpecError, match=message):
        Emulator().inject(text)


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_short_writes_a_program_retries_write_the_file_once(backend: str, tmp_path: Path) -> None:
    """Each write the kernel makes is cut to 1000 bytes, the program writes the rest again,
    and the file holds the data once (a result replaced ``after`` the kernel wrote everything
    would have the program write it again and again)."""
    skip_without(backend)
    out = tmp_path / "out"
    result = sysemu("--backend", backend, "--inject", "write:short=1000:fdpath=*/out", "--",
                    sys.executable, "-S", "-c", RETRYING_WRITER, str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "17 [389, 1000]\n"  # 16 x 1000, then the last 389 bytes
    assert out.read_bytes() == DATA


def test_a_share_of_each_count(tmp_path: Path) -> None:
    """short=50%: each write makes half of what it asked for (at least one byte)."""
    out = tmp_path / "out"
    result = sysemu("--inject", "write:short=50%:fdpath=*/out", "--",
                    sys.executable, "-S", "-c", RETRYING_WRITER, str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 16,389 bytes: 8194, 4097, 2049, 1024, ... 2, 1, 1, then the last byte, which is not cut.
    assert result.stdout.split(" ", 1)[0] == "16"
    assert out.read_bytes() == DATA


def test_the_replaced_result_of_after_is_not_a_short_write(tmp_path: Path) -> None:
    """The contrast the README used to blur: retval=1:after tells the program one byte was
    written when the kernel wrote all of them, so a retrying program writes them again."""
    out = tmp_path / "out"
    result = sysemu("--inject", "write:retval=1:after:fdpath=*/out:when=1..3", "--",
                    sys.executable, "-S", "-c", RETRYING_WRITER, str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == DATA + DATA[1:] + DATA[2:] + DATA[3:]  # not DATA


@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_dd_and_cp_copy_exactly_through_short_transfers(backend: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(DATA * 8)
    dd = sysemu("--backend", backend, "--stats", "--inject", "write:short=777:fdpath=*/by-dd",
                "--", "dd", f"if={source}", f"of={tmp_path / 'by-dd'}", "bs=64K")  # fmt: skip
    assert dd.returncode == 0, dd.stderr
    assert (tmp_path / "by-dd").read_bytes() == DATA * 8
    injected = next(line for line in dd.stderr.splitlines() if "write:short=777" in line)
    assert int(injected.split()[0]) == len(DATA * 8) // 777  # every write but the last
    # cp copies with copy_file_range where it can, else read/write (or sendfile): all cut.
    cp = sysemu("--backend", backend, "--inject", "write,copy_file_range,sendfile:short=1000",
                "--", "cp", str(source), str(tmp_path / "by-cp"))  # fmt: skip
    assert cp.returncode == 0, cp.stderr
    assert (tmp_path / "by-cp").read_bytes() == DATA * 8


def test_unotify_refuses_short_before_the_program_starts(tmp_path: Path) -> None:
    if not seccomp.has_user_notification():
        pytest.skip("no seccomp user notification here")
    out = tmp_path / "out"
    result = sysemu("--backend", "unotify", "--inject", "write:short=1:fdpath=*/out", "--",
                    sys.executable, "-S", "-c", RETRYING_WRITER, str(out))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unotify backend cannot run --inject 'write:short=1:fdpath=*/out'" in result.stderr
    assert "(use the seccomp or auto backend)" in result.stderr
    assert not out.exists()


def test_short_from_python_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    emu = Emulator()
    emu.inject("write", short="50%", fdpath="*/out")
    result = emu.run([sys.executable, "-S", "-c", RETRYING_WRITER, str(out)],
                     capture_output=True, timeout=60)  # fmt: skip
    assert result.exit_code == 0
    assert out.read_bytes() == DATA
    assert {i.action for i in result.injections} == {"short=50%"}
    assert len(result.injections) == 15  # 16 writes (see above): the last byte is not cut
