"""Tracing: strace-style lines, sets, fd paths, JSON, marks for sysemu's own decisions."""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

from sysemu.abi import syscall_by_name
from sysemu.abi.abi import machine_abis
from sysemu.tools.trace import render, tracer

SYSEMU = [sys.executable, "-m", "sysemu", "run"]


def trace(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_lines_read_like_strace() -> None:
    result = trace("--trace", "--", "cat", "/etc/hostname")
    lines = result.stderr.splitlines()
    assert result.returncode == 0
    assert lines[0].startswith('execve("/usr/bin/cat", ["cat", "/etc/hostname"], 0x')
    assert any(
        line.startswith('openat(AT_FDCWD, "/etc/hostname", O_RDONLY)') and line.endswith(" = 3")
        for line in lines
    )
    assert any(line.startswith("exit_group(0)") and line.endswith("= ?") for line in lines)
    assert lines[-1] == "+++ exited with 0 +++"
    # Results line up at column 40, as strace's do.
    short = next(line for line in lines if line.startswith("close(3)"))
    assert short.index(" = ") == 39


def test_errors_and_a_set_of_calls(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    trace("--trace=openat,%stat", "-o", str(out), "--", "cat", str(tmp_path / "missing"))
    lines = out.read_text().splitlines()
    names = {line.split("(")[0] for line in lines if "(" in line and not line.startswith("+")}
    assert names <= {"openat", "newfstatat", "fstat", "stat", "lstat", "statx"}
    assert any(line.endswith("= -1 ENOENT (No such file or directory)") for line in lines)


def test_untraced_calls_do_not_stop(tmp_path: Path) -> None:
    result = trace("--trace=openat", "--stats", "--", "cat", "/etc/hostname")
    table = [line for line in result.stderr.splitlines() if line.startswith("total")]
    stops = int(table[0].split()[1])
    opens = sum(1 for line in result.stderr.splitlines() if line.startswith("openat("))
    assert stops == opens  # only openat stopped the program


def test_fd_paths_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    result = trace("--trace", "-y", "-o", str(out), "--", "cat", "/etc/hostname")
    assert result.returncode == 0 and "openat(" not in result.stderr
    text = out.read_text()
    assert 'read(3</etc/hostname>, "' in text
    assert "= 3</etc/hostname>" in text


def test_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    trace("--trace=openat,read", "--json", "-o", str(out), "--", "cat", "/etc/hostname")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    calls = [r for r in records if "name" in r]
    opened = next(r for r in calls if r["name"] == "openat" and "hostname" in r["args"]["filename"])
    native = str(machine_abis()[0])
    assert opened["return"] == 3 and opened["decision"] == "passed" and opened["abi"] == native
    assert isinstance(opened["duration"], float) and opened["pid"] == opened["tid"]
    assert records[-1]["event"] == "exit" and records[-1]["status"] == 0


def test_injected_calls_are_marked() -> None:
    result = trace(
        "--trace=openat", "--inject", "openat:error=ENOENT:path=/etc/hostname", "--",
        "cat", "/etc/hostname",
    )  # fmt: skip
    marked = [line for line in result.stderr.splitlines() if line.endswith("(INJECTED)")]
    assert len(marked) == 1
    assert '"/etc/hostname"' in marked[0] and "ENOENT" in marked[0]


def test_processes_signals_and_unfinished_calls() -> None:
    result = trace("--trace", "--", "sh", "-c", "sleep 0.1 & cat /etc/hostname; wait")
    text = result.stderr
    assert "[pid " in text
    assert "<unfinished ...>" in text and "resumed>" in text
    assert "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED" in text
    assert text.count("+++ exited with 0 +++") >= 3


def test_timestamps_and_durations() -> None:
    result = trace("--trace=openat", "-tt", "-T", "--", "cat", "/etc/hostname")
    line = next(x for x in result.stderr.splitlines() if "openat(" in x)
    stamp, rest = line.split(" ", 1)
    assert len(stamp) == len("12:34:56.123456") and stamp[2] == ":" and stamp[8] == "."
    assert rest.endswith(">") and "<0.0" in rest


def test_bad_trace_set_is_a_usage_error() -> None:
    result = trace("--trace=opnat", "--", "true")
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines() == ["sysemu: --trace: unknown syscall 'opnat'"]
        or "opnat" in result.stderr
    )


def test_string_rendering() -> None:
    assert render.quote(b'a\nb"\\\x00\x7f', 32) == '"a\\nb\\"\\\\\\0\\177"'
    assert render.quote(b"\x001", 32) == '"\\0001"'  # an octal escape before a digit: 3 digits
    assert render.quote(b"\x0012\x009\xff", 32) == '"\\00012\\09\\377"'  # 9 is no octal digit
    assert render.quote(b"abcdef", 3) == '"abc"...'
    assert render.error_return(-2) == "-1 ENOENT (No such file or directory)"
    assert render.error_return(-512).startswith("? ERESTARTSYS")


def test_stats_with_trace_show_strace_c_table() -> None:
    result = trace("--trace", "-o", "/dev/null", "--stats", "--", "cat", "/nonexistent")
    lines = result.stderr.splitlines()
    assert "% time     seconds  usecs/call     calls    errors syscall" in lines
    openat = next(line.split() for line in lines if line.endswith(" openat"))
    assert int(openat[3]) >= 2 and int(openat[4]) >= 1  # calls, and the failed open
    assert any(line.endswith(" total") for line in lines)


DECODED_PROGRAM = """
import fcntl, os, resource, signal, socket, sys
os.umask(0o22)
os.umask(0o22)
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_GETFD)
fcntl.fcntl(r, fcntl.F_SETFD, 0)
os.getcwd()
resource.getrlimit(resource.RLIMIT_NOFILE)
signal.signal(signal.SIGUSR1, lambda *args: None)
os.kill(os.getpid(), signal.SIGUSR1)
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.getsockname()
pid = os.fork()
if pid == 0:
    os._exit(3)
os.waitpid(pid, 0)
"""


def test_structures_flags_and_results_decoded_as_strace_does(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    sock = tmp_path / "s"
    calls = "umask,fcntl,getcwd,pipe2,prlimit64,rt_sigreturn,bind,getsockname,clone,wait4"
    result = trace(
        f"--trace={calls}", "-y", "-o", str(out), "--",
        sys.executable, "-c", DECODED_PROGRAM, str(sock), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    expected = [
        r"umask\(022\) += 022",
        r"pipe2\(\[(\d+)<pipe:\[(\d+)\]>, \d+<pipe:\[\2\]>\], O_CLOEXEC\) += 0",
        r"fcntl\(\d+<pipe:\[\d+\]>, F_GETFD\) += 0x1 \(flags FD_CLOEXEC\)",
        r"fcntl\(\d+<pipe:\[\d+\]>, F_SETFD, 0\) += 0",
        rf'getcwd\("{tmp_path}", \d+\) += {len(str(tmp_path)) + 1}',
        r"prlimit64\(0, RLIMIT_NOFILE, NULL, \{rlim_cur=\d+(\*1024)?, rlim_max=",
        r"rt_sigreturn\(\{mask=\[\]\}\)",
        rf'bind\(\d+<socket:\[\d+\]>, \{{sa_family=AF_UNIX, sun_path="{sock}"\}}, \d+\) += 0',
        rf'getsockname\(\d+<socket:\[\d+\]>, \{{sa_family=AF_UNIX, sun_path="{sock}"\}}, '
        rf"\[\d+ => {len(str(sock)) + 3}\]\) += 0",
        r"clone\(child_stack=NULL, flags=CLONE_CHILD_CLEARTID\|CLONE_CHILD_SETTID\|SIGCHLD, "
        r"child_tidptr=0x[0-9a-f]+\)",
        r"wait4\(\d+, \[\{WIFEXITED\(s\) && WEXITSTATUS\(s\) == 3\}\], 0, NULL\) += \d+",
    ]
    missing = [pattern for pattern in expected if not re.search(pattern, text)]
    assert missing == [], text


def test_directories_open_without_a_mode() -> None:
    result = trace("--trace=openat", "--", "ls", "/")
    line = next(x for x in result.stderr.splitlines() if '"/"' in x)
    assert line.startswith('openat(AT_FDCWD, "/", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY)')


def test_sigchld_times_are_read_where_the_kernel_puts_them() -> None:
    """In a 64-bit siginfo_t, si_utime and si_stime are longs after si_status, 8-byte aligned
    (at 32 and 40): a child that ran for ticks shows them, not its bits shifted in."""
    info = struct.pack("<iii4xiIi4xqq", signal.SIGCHLD, 0, 1, 101, 1000, 0, 7, 9).ljust(128, b"\0")
    assert tracer._describe_siginfo(info) == (
        "si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101, si_uid=1000, si_status=0, "
        "si_utime=7, si_stime=9"
    )
    killed = struct.pack("<iii4xiI", signal.SIGUSR1, 0, 0, 42, 1000).ljust(128, b"\0")
    assert tracer._describe_siginfo(killed) == (
        "si_signo=SIGUSR1, si_code=SI_USER, si_pid=42, si_uid=1000"
    )


def test_bpf_shows_the_three_arguments_strace_shows(tmp_path: Path) -> None:
    """Linux 7.x gave bpf two more parameters (attr_common, size_common), which older kernels
    ignore: the line shows the three strace shows, not what the registers happen to hold."""
    bpf = syscall_by_name("bpf", machine_abis()[0])
    assert len(bpf.params) == 5  # the table is the kernel's prototype
    program = f"import ctypes; ctypes.CDLL(None).syscall({bpf.nr}, 99, 0, 0, 0x1234, 77)"
    out = tmp_path / "trace.json"
    result = trace("--trace=bpf", "--", sys.executable, "-c", program)
    trace("--trace=bpf", "--json", "-o", str(out), "--", sys.executable, "-c", program)
    assert "bpf(99, NULL, 0)" in result.stderr.splitlines()[0]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    (call,) = [record for record in records if record.get("name") == "bpf"]
    assert call["args"] == {"cmd": 99, "attr": 0, "size": 0}
