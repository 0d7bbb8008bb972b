"""The ``sysemu`` command line, run as users run it: in a subprocess, with a timeout, and with
its process group killed afterwards whatever happened."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysemu.abi.syscalls import linux_version
from sysemu.cli import doctor
from sysemu.kernel import seccomp

from .conftest import Programs, gone, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "deny_and_fake.py"
SYSEMU = [sys.executable, "-m", "sysemu"]


def sysemu(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@contextlib.contextmanager
def background(*args: str) -> Iterator[subprocess.Popen[str]]:
    """sysemu in its own session (so signals to its group reach only it and its program),
    killed with its whole group on the way out."""
    process = subprocess.Popen(
        [*SYSEMU, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)


def write_rules(tmp_path: Path, body: str) -> str:
    path = tmp_path / "rules.py"
    path.write_text(body)
    return str(path)


# Bad input: one line on stderr, exit 2, nothing started.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "no command given"),
        (["run", "--trace", "true"], "--trace took 'true' as its set of calls"),
        (["attach", "--trace"], "no PID given"),
        (["run", "--bogus", "--", "true"], "unrecognized arguments: --bogus"),
        (["run", "--rules", "/no/such/rules.py", "--", "true"], "no such file"),
        (["run", "--error-errno", "EFOO", "--", "true"], "unknown errno name 'EFOO'"),
        (["run", "--on-error", "explode", "--", "true"], "invalid choice: 'explode'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run", "--inject", "opnat:error=EIO", "--", "true"], "unknown syscall 'opnat'"),
        (["run", "--inject", "openat:error=EFOO", "--", "true"], "unknown errno name 'EFOO'"),
        (["run", "--inject", "openat:when=2..1:error=EIO", "--", "true"], "before first"),
        (["run", "--inject", "getpid:fd=1:error=EIO", "--", "true"], "no syscall of the set"),
        (["run", "--seed", "x", "--", "true"], "invalid int value: 'x'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = sysemu(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sysemu: ")
    assert message in lines[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "def register(emu):\n    emu.on('opnat')(print)\n",
            "rules.py:2: ValueError: unknown syscall 'opnat'",
        ),
        ("def register(emu)\n", "rules.py:1: SyntaxError"),
        ("x = 1\n", "must define register(emu)"),
        (
            "def register(emu):\n    emu.on('write', fdd=2)(print)\n",
            f"write ({os.uname().machine}) has no argument 'fdd' (it has: fd, buf, count)",
        ),
        ("import errno\ndef register(emu):\n    emu.on('write', fd='x')(print)\n", "TypeError"),
    ],
)
def test_bad_rules_files_are_reported_before_anything_runs(
    tmp_path: Path, body: str, message: str
) -> None:
    marker = tmp_path / "ran"
    result = sysemu("run", "--rules", write_rules(tmp_path, body), "--", "touch", str(marker))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert not marker.exists()


def test_the_readme_demo() -> None:
    result = sysemu(
        "run", "--rules", str(EXAMPLE_RULES), "--stats", "--", "sh", "-c",
        "cat /etc/hostname; echo $$",
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout == "4242\n"
    assert "cat: /etc/hostname: Permission denied" in result.stderr
    table = result.stderr.splitlines()
    assert any(line.split()[:1] == ["getpid"] for line in table)
    openat = next(line.split() for line in table if line.startswith("openat "))
    assert int(openat[4]) == 1  # exactly one openat failed: the denied one


def test_the_experimental_syscall_example(programs: Programs) -> None:
    rules = str(ROOT / "examples" / "experimental_syscall.py")
    result = sysemu("run", "--rules", rules, "--", programs.example("experimental_syscall"))
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "1000(2, 3) = 5",
        "1001() = -1 Function not implemented",
    ]
    native = subprocess.run(
        [programs.example("experimental_syscall")], capture_output=True, text=True, check=False
    )
    assert native.stdout.splitlines()[0] == "1000(2, 3) = -1"  # ENOSYS without sysemu


@pytest.mark.parametrize(
    ("script", "status"), [("exit 0", 0), ("exit 5", 5), ("kill -TERM $$", 143)]
)
def test_exit_status_is_the_programs(script: str, status: int) -> None:
    assert sysemu("run", "--", "sh", "-c", script).returncode == status


def test_stdin_passes_through() -> None:
    result = subprocess.run(
        [*SYSEMU, "run", "--rules", str(EXAMPLE_RULES), "--", "tr", "a-z", "A-Z"],
        input="hello\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "HELLO\n")


def test_a_raising_handler_kills_the_program_and_shows_the_traceback(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        "def register(emu):\n"
        "    @emu.on('getpid')\n"
        "    def broken(call):\n"
        "        raise KeyError('no such pid')\n",
    )
    result = sysemu("run", "--rules", rules, "--", "sh", "-c", "echo $$; echo after")
    assert result.returncode == 70
    assert "after" not in result.stdout
    assert "handler" in result.stderr and "broken" in result.stderr
    assert "KeyError: 'no such pid'" in result.stderr
    assert "Traceback" in result.stderr


def test_on_error_fail_fails_the_call_and_goes_on(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        "def register(emu):\n"
        "    @emu.on('openat', when=lambda call: call.path == '/etc/hostname')\n"
        "    def broken(call):\n"
        "        raise KeyError('x')\n",
    )
    result = sysemu(
        "run", "--rules", rules, "--on-error", "fail", "--error-errno", "ENOSPC", "--",
        "sh", "-c", "cat /etc/hostname; echo after $?",
    )  # fmt: skip
    assert result.returncode == 0
    assert "No space left on device" in result.stderr
    assert result.stdout == "after 1\n"


BACKENDS = ["seccomp", "ptrace", "sysemu", "unotify", "auto"]


def skip_without(backend: str) -> None:
    if backend in ("unotify", "auto") and not seccomp.has_user_notification():
        pytest.skip("no seccomp user notification here")


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_reaches_the_program_not_sysemu(backend: str) -> None:
    skip_without(backend)
    with background("run", "--backend", backend, "--rules", str(EXAMPLE_RULES), "--",
                    "sh", "-c", "echo ready; exec sleep 30") as process:  # fmt: skip
        # (Not "sleep 30; echo": dash, like bash, lets a foreground child decide whether
        # SIGINT ends the script, and one that arrives just before the fork is lost natively.)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert process.wait(timeout=20) == 128 + signal.SIGINT


def asleep(pid: int) -> bool:
    """True once ``pid`` runs ``sleep`` and waits in the kernel (its start-up is over)."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as stat:
            name, rest = stat.read().rsplit(")", 1)
        return name.endswith("(sleep") and rest.split()[0] == "S"
    return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_killing_sysemu_kills_the_programs_it_started(backend: str) -> None:
    """The ptrace backends by PTRACE_O_EXITKILL, unotify by its guardian: the program, a
    background job and an orphan (its parent gone before sysemu is killed) all die."""
    skip_without(backend)
    script = 'echo $$; sleep 30 & echo $!; sh -c "sleep 32 & echo \\$!"; exec sleep 31'
    with background("run", "--backend", backend, "--inject",
                    "openat:error=ENOENT:path=/no/such/file", "--", "sh", "-c", script,
                    ) as process:  # fmt: skip
        assert process.stdout is not None
        programs = [int(process.stdout.readline()) for _ in range(3)]
        # All three past their start-up: one still loading its libraries would die of
        # ENOSYS on its next notified openat once sysemu is gone, and prove nothing.
        assert wait_until(lambda: all(asleep(pid) for pid in programs))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert wait_until(lambda: all(gone(pid) for pid in programs)), programs


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_to_sysemu_ends_the_program_and_exits_143(backend: str) -> None:
    skip_without(backend)
    with background("run", "--backend", backend, "--inject",
                    "openat:error=ENOENT:path=/no/such/file", "--", "sh", "-c",
                    "echo $$; sleep 30") as process:  # fmt: skip
        assert process.stdout is not None
        shell = int(process.stdout.readline())
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 143
        assert wait_until(lambda: gone(shell))


def test_inject_from_the_command_line_with_stats(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("A\n")
    (tmp_path / "b").write_text("B\n")
    result = subprocess.run(
        [*SYSEMU, "run", "--inject", "openat:error=ENOENT:path=*/b", "--stats", "--",
         "cat", "a", "b"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "A\n")
    assert "cat: b: No such file or directory" in result.stderr
    assert "       1  openat           openat:error=ENOENT:path=*/b" in result.stderr


def test_doctor_reports_what_the_kernel_offers() -> None:
    result = sysemu("doctor")
    assert result.returncode == 0
    assert "seccomp SECCOMP_RET_TRACE" in result.stdout
    assert "PTRACE_GET_SYSCALL_INFO (5.3)" in result.stdout
    assert "backend: auto (the default) works here." in result.stdout
    tables = next(line for line in result.stdout.splitlines() if line.startswith("syscall tables"))
    assert tables.split()[4] == linux_version()


def test_doctor_asks_a_stopped_tracee_which_ptrace_requests_the_kernel_knows() -> None:
    """A pid that is not a stopped tracee fails every request with ESRCH before the kernel
    looks at the request: only a real tracee tells an unknown request (EIO) from a known one.
    The host kernel has PTRACE_GET_SYSCALL_INFO (5.3); 0x42ff is no request."""
    from sysemu.kernel import ptrace  # noqa: PLC0415

    assert ptrace.known_requests(ptrace.PTRACE_GET_SYSCALL_INFO, 0x42FF) == (True, False)


def test_doctor_says_how_auto_would_decide_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text(
        "def register(emu):\n"
        "    emu.on('getpid', decides_only=True)(lambda call: call.emulate(4242))\n"
        "    emu.on('openat')(lambda call: None)\n"
    )
    result = sysemu(
        "doctor", "--rules", str(rules), "--inject", "write:error=ENOSPC:fd=99",
        "--inject", "read:error=EIO:after",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    notified = next(line for line in lines if "by user notification" in line)
    stopped = next(line for line in lines if "in a ptrace stop" in line)
    assert notified.split()[-2:] == ["getpid,", "write"]
    assert stopped.split()[-2:] == ["openat,", "read"]
    bad = sysemu("doctor", "--inject", "nosuchcall:error=EIO")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stdout == ""


def test_doctor_says_whether_the_tables_name_every_call() -> None:
    major, minor = (int(part) for part in linux_version().split("."))
    assert doctor.tables_cover(f"{major}.{minor}.0").startswith("every call")
    assert doctor.tables_cover(f"{major}.{minor - 1}.3-arch1").startswith("every call")
    assert doctor.tables_cover(f"{major}.{minor + 1}.44-fc-v657").startswith("this kernel is newer")
    assert doctor.tables_cover(f"{major + 1}.0-rc1").startswith("this kernel is newer")


def test_virtual_filesystem_options(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "file").write_text("from the host\n")
    bound = sysemu("run", "--bind", f"/virtual={host}", "--", "cat", "/virtual/file")
    assert (bound.returncode, bound.stdout) == (0, "from the host\n")
    hidden = sysemu("run", "--hide", str(host / "file"), "--", "cat", str(host / "file"))
    assert hidden.returncode == 1 and "No such file or directory" in hidden.stderr
    frozen = sysemu("run", "--readonly", str(host), "--", "touch", str(host / "new"))
    assert frozen.returncode == 1 and "Read-only file system" in frozen.stderr
    assert not (host / "new").exists()
    bad = sysemu("run", "--bind", "/v=/no/such/host/dir", "--", "true")
    assert bad.returncode == 2 and bad.stderr.startswith("sysemu: --bind /v=/no/such/host/dir")


def test_a_handler_that_blocks_too_long(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        "import time\n"
        "def register(emu):\n"
        "    @emu.on('openat', when=lambda call: call.path == '/etc/hostname')\n"
        "    def stuck(call):\n"
        "        time.sleep(30)\n",
    )
    started = time.monotonic()
    killed = sysemu("run", "--rules", rules, "--handler-timeout", "0.3", "--",
                    "sh", "-c", "cat /etc/hostname; echo after")  # fmt: skip
    assert killed.returncode == 70 and "after" not in killed.stdout
    assert "HandlerTimeoutError" in killed.stderr
    failed = sysemu("run", "--rules", rules, "--handler-timeout", "0.3", "--on-error", "fail",
                    "--", "sh", "-c", "cat /etc/hostname; echo after")  # fmt: skip
    assert failed.returncode == 0 and failed.stdout == "after\n"
    assert "Input/output error" in failed.stderr
    assert time.monotonic() - started < 20
