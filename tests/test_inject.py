"""Fault injection against real programs, checked from the programs' own behaviour."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.testing import run_traced

from .conftest import Programs

ROOT = Path(__file__).resolve().parent.parent
APP_LOG = str(ROOT / "examples" / "app_log.py")


def test_cat_a_b_where_only_b_fails(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("first\n")
    (tmp_path / "b").write_text("second\n")
    result = run_traced(
        ["cat", "a", "b"], cwd=str(tmp_path), inject=["openat:error=EACCES:path=*/b"]
    )
    assert result.stdout == b"first\n"
    assert b"cat: b: Permission denied" in result.stderr
    assert result.returncode == 1
    [injection] = result.injections
    assert injection.path == str(tmp_path / "b")  # the relative path, resolved


def test_python_log_hits_enospc_while_stdout_works(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    result = run_traced(
        [sys.executable, APP_LOG, str(log)], inject=["write:error=ENOSPC:fdpath=*/app.log"]
    )
    assert result.returncode == 1
    assert result.stdout == b"doing step 0\n"  # stdout writes were not touched
    assert b"No space left on device" in result.stderr
    assert {i.syscall for i in result.injections} == {"write"}
    assert all(i.path == str(log) for i in result.injections)


def test_ls_with_getdents64_failing(tmp_path: Path) -> None:
    (tmp_path / "file").touch()
    result = run_traced(["ls", str(tmp_path)], inject=["getdents64:error=EIO"])
    assert result.returncode == 2
    assert b"Input/output error" in result.stderr
    assert b"file" not in result.stdout


def test_eintr_on_read_is_retried(programs: Programs) -> None:
    result = run_traced(
        [programs.retry_read], input=b"x" * 100, inject=["read:error=EINTR:when=1:fd=0"]
    )
    assert result.stdout.decode().splitlines() == ["EINTR, retrying", "read 100 bytes"]
    assert len(result.injections) == 1
    assert result.stats["read"].stops >= 3  # fd=0 only: the kernel filtered the others


def test_a_forked_child_is_hit_but_not_its_parent() -> None:
    script = (
        "import os\n"
        "def attempt(who):\n"
        "    try:\n"
        "        open('/etc/hostname').close(); print(who, 'opened', flush=True)\n"
        "    except PermissionError:\n"
        "        print(who, 'denied', flush=True)\n"
        "attempt('parent')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    attempt('child'); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "attempt('parent')\n"
    )
    result = run_traced(
        [sys.executable, "-c", script],
        inject=["openat:error=EACCES:path=/etc/hostname:pid=!root"],
    )
    assert result.stdout.decode().splitlines() == [
        "parent opened",
        "child denied",
        "parent opened",
    ]


def test_when_every_second_from_the_second(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("x")
    script = (
        "import sys\n"
        "for i in range(6):\n"
        "    try:\n"
        "        open(sys.argv[1]).close(); print('ok')\n"
        "    except OSError:\n"
        "        print('fail')\n"
    )
    result = run_traced(
        [sys.executable, "-c", script, str(target)],
        inject=[f"openat:error=EIO:path={target}:when=2+2"],
    )
    assert result.stdout.decode().split() == ["ok", "fail", "ok", "fail", "ok", "fail"]
    assert [i.nth for i in result.injections] == [2, 4, 6]


def test_probability_with_a_fixed_seed_is_reproducible(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("x")
    script = (
        "import sys\n"
        "for i in range(40):\n"
        "    try:\n"
        "        open(sys.argv[1]).close(); print('ok')\n"
        "    except OSError:\n"
        "        print('fail')\n"
    )
    spec = f"openat:error=EIO:path={target}:probability=0.5"
    runs = [
        run_traced([sys.executable, "-c", script, str(target)], inject=[spec], seed=seed).stdout
        for seed in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert 5 < runs[0].count(b"fail") < 35
    assert runs[0] != runs[2]


def test_after_replaces_the_result_of_a_write_the_kernel_made_whole(tmp_path: Path) -> None:
    """The program is told 1 although the kernel wrote every byte (a real short write is
    short=, tests/test_inject_short.py)."""
    out = tmp_path / "out"
    script = (
        "import os, sys\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "print(os.write(fd, b'hello'))\n"
    )
    result = run_traced(
        [sys.executable, "-c", script, str(out)], inject=["write:retval=1:after:fdpath=*/out"]
    )
    assert result.stdout == b"1\n"
    assert out.read_bytes() == b"hello"


def test_signal_injection() -> None:
    result = run_traced(["sh", "-c", "echo $$; echo unreachable"], inject=["getpid:signal=USR1"])
    assert result.returncode == -10
    assert b"unreachable" not in result.stdout


def test_delay_on_entry(programs: Programs) -> None:
    started = time.monotonic()
    result = run_traced([programs.getpid_loop, "3"], inject=["getpid:delay_enter=100ms"])
    assert result.returncode == 0
    assert time.monotonic() - started >= 0.3
    assert len(result.injections) == 3


def test_fd_conditions_go_into_the_filter() -> None:
    script = (
        "import os\n"
        "os.write(1, b'out\\n')\n"
        "try:\n"
        "    os.write(2, b'err\\n')\n"
        "except OSError as error:\n"
        "    print(error.strerror, flush=True)\n"
        "os.write(1, b'out\\n')\n"
    )
    result = run_traced([sys.executable, "-c", script], inject=["write:fd=2:error=EIO"])
    assert result.stdout == b"out\nInput/output error\nout\n"
    assert result.stats["write"].stops == 1  # the writes to fd 1 never stopped


def test_api_spelling_of_a_rule(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    emu = Emulator()
    emu.inject("write", error="ENOSPC", fdpath="*/app.log", when="2+")
    result = emu.run([sys.executable, APP_LOG, str(log)], capture_output=True)
    assert result.exit_code == 1
    assert log.read_text() == "step 0\n"  # the first write went through
    assert result.injections[0].nth == 2  # "2+": from the second matching write on


@pytest.mark.sysemu_inject("write:error=ENOSPC:fdpath=*/app.log")
def test_the_pytest_plugin_full_disk_example(sysemu_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = sysemu_run([sys.executable, APP_LOG, str(tmp_path / "app.log")])
    assert result.returncode == 1
    assert result.injected("write")
    assert b"No space left on device" in result.stderr
    assert os.path.exists(tmp_path / "app.log")
