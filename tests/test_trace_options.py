"""The trace's display options on a real program (tests/programs/trace_options.c), with the
C trace writer and with the Python tracer alone, against strace 6.1's output where strace has
the option: ``-P``/``--trace-path``, ``--trace-fds``, ``-yy``, ``-e signal=``, ``-X``,
``-e raw=``, ``-v``/``-e verbose=`` and ``-e abbrev=``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Programs

SRC = str(Path(__file__).resolve().parent.parent / "src")
TRACERS = ("c", "python")
# What the program's access() and poll() are on this machine: asm-generic machines (aarch64)
# have only faccessat and ppoll.
X86_64 = os.uname().machine == "x86_64"
ACCESS, POLL = ("access", "poll") if X86_64 else ("faccessat", "ppoll")
ACCESS_LINE = (
    'access("/dev/null", R_OK) = 0' if X86_64 else 'faccessat(AT_FDCWD, "/dev/null", R_OK) = 0'
)


def _strace_works() -> bool:
    strace = shutil.which("strace")
    if strace is None:
        return False
    done = subprocess.run([strace, "-qq", "-o", "/dev/null", "true"], check=False)
    return done.returncode == 0


needs_strace = pytest.mark.skipif(not _strace_works(), reason="strace is missing or cannot trace")


def masked(text: str) -> list[str]:
    """Lines without what differs between runs: pids, socket inodes, ports, addresses, the
    padding before `` = ``."""
    text = re.sub(r"si_pid=\d+", "si_pid=N", text)
    text = re.sub(r"tgkill\(\d+, \d+", "tgkill(PID, PID", text)
    text = re.sub(r"(\[|->)\d{4,}(?=[\],-])", r"\1INODE", text)
    # A Unix pair's inodes of any length: on a machine just booted they can have three digits.
    text = re.sub(r"(<UNIX[-A-Z]*:\[)\d+->\d+\]", r"\1INODE->INODE]", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"htons\(\d+\)", "htons(PORT)", text)
    text = re.sub(r"0x[0-9a-f]{6,}", "ADDR", text)
    text = re.sub(r"(st_[acm]time(_nsec)?|st_ino|st_size|st_blocks)=[^,}]+",
                  r"\1=N", text)  # fmt: skip
    return [re.sub(r" +(?== -?[0-9?A])", " ", line) for line in text.splitlines()]


def sysemu_trace(tracer: str, options: list[str], argv: list[str], log: Path) -> list[str]:
    """The trace ``sysemu run OPTIONS -o LOG -- ARGV`` writes (``tracer``: ``c`` with the C
    trace writer, ``python`` without the accelerator)."""
    env = dict(os.environ, PYTHONPATH=SRC)
    if tracer == "python":
        env["SYSEMU_NO_SPEEDUPS"] = "1"
    command = [sys.executable, "-m", "sysemu", "run", *options, "-o", str(log), "--", *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return masked(log.read_text())


def strace_trace(options: list[str], argv: list[str], log: Path) -> list[str]:
    """The trace strace writes with the same options."""
    subprocess.run(["strace", *options, "-o", str(log), *argv], check=True)
    return masked(log.read_text())


@pytest.fixture
def program(programs: Programs, tmp_path: Path) -> list[str]:
    """The program's command line: the file it creates is in the test's directory."""
    return [programs.trace_options, str(tmp_path / "written")]


def _body(lines: list[str]) -> list[str]:
    """The lines after the dynamic loader's (those of the program's own calls)."""
    return lines[next(i for i, line in enumerate(lines) if "written" in line) :]


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("spelling", ["-P", "--trace-path"])
def test_trace_path_is_strace_s(
    program: list[str], tmp_path: Path, tracer: str, spelling: str
) -> None:
    """``-P FILE``: the calls that name FILE or use an fd open on it (dup's copy too), the
    signals, the exit; as strace writes them."""
    options = [spelling, program[1]]
    expected = strace_trace(options, program, tmp_path / "strace.log")
    assert expected[0].startswith("openat(AT_FDCWD, ")
    assert any(line.startswith("close(5)") for line in expected)
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log") == expected


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
def test_two_trace_paths(program: list[str], tmp_path: Path, tracer: str) -> None:
    """Two ``-P``: the calls on either (the file, /dev/null: poll's array too)."""
    options = ["-P", program[1], "-P", "/dev/null", "-e", f"trace=write,{ACCESS},close,{POLL}"]
    expected = strace_trace(options, program, tmp_path / "strace.log")
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log") == expected


@pytest.mark.skipif(not X86_64, reason="the expected lines are x86-64's poll, not ppoll")
@pytest.mark.parametrize("tracer", TRACERS)
def test_trace_fds(program: list[str], tmp_path: Path, tracer: str) -> None:
    """``--trace-fds=4``: calls with fd 4 in an argument (strace 6.3's option, not in the 6.1
    this machine has: the expected lines are written out). Opening it does not count."""
    lines = sysemu_trace(tracer, ["--trace-fds=4"], program, tmp_path / "sysemu.log")
    assert lines == [
        'newfstatat(4, "", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, '
        "AT_EMPTY_PATH) = 0",
        'write(4, "abc", 3) = 3',
        "poll([{fd=4, events=POLLOUT}], 1, 0) = 1 ([{fd=4, revents=POLLOUT}])",
        "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=N, si_uid=0} ---",
        "--- SIGUSR2 {si_signo=SIGUSR2, si_code=SI_TKILL, si_pid=N, si_uid=0} ---",
        "close(4) = 0",
        "+++ exited with 0 +++",
    ]


@pytest.mark.parametrize("tracer", TRACERS)
def test_trace_fds_and_path_either(program: list[str], tmp_path: Path, tracer: str) -> None:
    """``--trace-fds`` with ``-P``: a call either selects is shown; ``!`` negates a set."""
    options = ["--trace-fds=!0-1", "-P", "/dev/null", "-e", f"trace={ACCESS}"]
    with pytest.raises(AssertionError, match="not a non-negative number"):
        sysemu_trace(tracer, options, program, tmp_path / "bad.log")
    options[0] = "--trace-fds=!0,1,2,3,4,5,6,7,8,9,10,11"
    lines = sysemu_trace(tracer, options, program, tmp_path / "sysemu.log")
    calls = [line for line in lines if not line.startswith("---")]
    assert calls == [ACCESS_LINE, "+++ exited with 0 +++"]


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
def test_fd_details(program: list[str], tmp_path: Path, tracer: str) -> None:
    """``-yy``: TCP endpoints (listening, connected both ways), a Unix pair's inodes, a
    device's numbers, as strace writes them; ``-y`` the paths only."""
    options = ["-yy", "-e", f"trace=write,sendto,recvfrom,accept,read,newfstatat,{ACCESS}"]
    expected = _body(strace_trace(options, program, tmp_path / "strace.log"))
    assert 'write(4</dev/null<char 1:3>>, "abc", 3) = 3' in expected
    # The protocol is the kernel's name for it: 5.10 calls a Unix stream socket UNIX, 6.18
    # UNIX-STREAM (strace and sysemu both read it from the socket's system.sockprotoname).
    tcp, unix = "<TCP:[127.0.0.1:PORT->127.0.0.1:PORT]>", r"<UNIX(-STREAM)?:\[INODE->INODE\]>"
    for what, endpoints in (("TCP endpoints", re.escape(tcp)), ("Unix peers", unix)):
        if not any(re.search(endpoints, line) for line in expected):
            # strace asks the kernel's sock_diag (the inet_diag, tcp_diag and unix_diag modules
            # in Debian's kernels, loaded on demand through modprobe): without them it shows
            # the inode alone, where sysemu reads the TCP endpoints from /proc/PID/net/tcp.
            pytest.skip(f"strace -yy shows no {what} here: no sock_diag answer")
    assert _body(sysemu_trace(tracer, options, program, tmp_path / "sysemu.log")) == expected
    plain = _body(sysemu_trace(tracer, ["-y", *options[1:]], program, tmp_path / "y.log"))
    assert 'write(4</dev/null>, "abc", 3) = 3' in plain


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("signals", ["none", "!SIGUSR1", "usr2", "SIGUSR1,SIGUSR2", "all"])
def test_signal_set(program: list[str], tmp_path: Path, tracer: str, signals: str) -> None:
    """``-e signal=SET``: the deliveries of the signals of SET are shown, as strace's are."""
    options = ["-e", f"signal={signals}", "-e", "trace=tgkill"]
    expected = strace_trace(options, program, tmp_path / "strace.log")
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log") == expected
    spelled = ["--signal", signals, "-e", "trace=tgkill"]
    assert sysemu_trace(tracer, spelled, program, tmp_path / "long.log") == expected


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("style", ["raw", "abbrev", "verbose"])
def test_constant_styles(program: list[str], tmp_path: Path, tracer: str, style: str) -> None:
    """``-X STYLE``: flags and constants as numbers (``0x80241``, ``-100``), names, or both
    (``0x80241 /* O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC */``), as strace writes them."""
    options = [f"-X{style}", "-e", f"trace=openat,{ACCESS},socket,setsockopt,lseek,kill"]
    expected = _body(strace_trace(options, program, tmp_path / "strace.log"))
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log")[-len(expected) :] == (
        expected
    )
    spelled = [f"--const-print-style={style}", *options[1:]]
    assert _body(sysemu_trace(tracer, spelled, program, tmp_path / "long.log")) == expected


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
def test_raw_calls(program: list[str], tmp_path: Path, tracer: str) -> None:
    """``-e raw=SET``: those calls' registers and result in hex (a failure still decoded),
    the others decoded, as strace writes them."""
    options = ["-e", f"raw=openat,{ACCESS},close", "-e", f"trace=openat,{ACCESS},close,dup"]
    expected = strace_trace(options, program, tmp_path / "strace.log")
    assert "close(0x3) = 0" in expected
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log") == expected
    spelled = [f"--raw=openat,{ACCESS},close", *options[2:]]
    assert sysemu_trace(tracer, spelled, program, tmp_path / "long.log") == expected


@needs_strace
@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize(
    "options",
    [
        ["-v"],
        ["--no-abbrev"],
        ["-e", "abbrev=none"],
        ["-e", "abbrev=!newfstatat"],
        ["-e", "verbose=none"],
        ["-e", "verbose=!getsockname"],
    ],
)
def test_structures(program: list[str], tmp_path: Path, tracer: str, options: list[str]) -> None:
    """``-v`` / ``-e abbrev=SET``: every field of a stat (times with their dates) in the calls
    left out; ``-e verbose=SET``: the structures of the others by address; as strace does."""
    options = [*options, "-e", "trace=newfstatat,getsockname,connect,rt_sigaction"]
    expected = strace_trace(options, program, tmp_path / "strace.log")
    assert sysemu_trace(tracer, options, program, tmp_path / "sysemu.log") == expected
    if "-v" in options:
        assert "st_nlink=1" in expected[0]


@pytest.mark.parametrize("tracer", TRACERS)
def test_json_filters(program: list[str], tmp_path: Path, tracer: str) -> None:
    """``--json`` with ``-P`` and ``-e signal=``: the same calls and signals left out."""
    log = tmp_path / "trace.json"
    sysemu_trace(tracer, ["--json", "-P", "/dev/null", "-e", "signal=usr2"], program, log)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    calls = [record["name"] for record in records if record["event"] == "syscall"]
    assert calls == ["openat", "newfstatat", "write", POLL, ACCESS, "close"]
    signals = [record["signal"] for record in records if record["event"] == "signal"]
    assert signals == ["SIGUSR2"]
