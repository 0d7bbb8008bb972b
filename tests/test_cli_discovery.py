"""Finding one's way on the command line: ``--stats`` alone, numbers and unknown calls,
``sysemu syscalls``, "did you mean", and strace's spellings."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.abi import Abi, names, syscall_by_name, syscall_named, unknown_syscall
from sysemu.abi.abi import machine_abis
from sysemu.abi.classes import parse_syscall_set
from sysemu.api.handlers import resolve_syscalls

from .conftest import Programs
from .test_cli import BACKENDS, SYSEMU, skip_without, sysemu

X86_64 = machine_abis()[:1] == (Abi.X86_64,)


def strace_c_rows(stderr: str) -> dict[str, list[int]]:
    """strace -c's table: syscall -> [calls, errors]."""
    lines = stderr.splitlines()
    start = lines.index("% time     seconds  usecs/call     calls    errors syscall")
    rows: dict[str, list[int]] = {}
    for line in lines[start + 2 :]:
        if line.startswith("------"):
            break
        fields = line.split()
        errors = int(fields[4]) if len(fields) == 6 else 0
        rows[fields[-1]] = [int(fields[3]), errors]
    return rows


# --stats alone counts every call, as strace -c does.
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "unotify"])
def test_stats_alone_counts_every_call(backend: str, programs: Programs) -> None:
    skip_without(backend)
    result = sysemu("run", "--backend", backend, "--stats", "--",
                    programs.example("experimental_syscall"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = strace_c_rows(result.stderr)
    assert rows["execve"] == [1, 0]
    assert rows["syscall_1000"] == [1, 1] and rows["syscall_1001"] == [1, 1]  # ENOSYS
    assert rows["write"][0] >= 1 and rows["exit_group"] == [1, 0]
    assert sum(calls for calls, _ in rows.values()) > 10
    assert "stops   passed" not in result.stderr  # no decision table: nothing was decided


def test_stats_alone_is_refused_by_unotify_which_sees_no_call() -> None:
    skip_without("unotify")
    result = sysemu("run", "--backend", "unotify", "--stats", "--", "true")
    assert result.returncode == 2
    assert result.stderr.startswith("sysemu: --stats:") and result.stderr.count("\n") == 1
    assert "--backend seccomp" in result.stderr


def test_stats_with_a_rule_counts_only_the_decided_calls() -> None:
    result = sysemu("run", "--inject", "getpid:retval=7", "--stats", "--", "sh", "-c", "echo $$")
    assert result.stdout == "7\n"
    assert "% time" not in result.stderr  # the other calls never stopped
    assert any(line.split()[:2] == ["getpid", "1"] for line in result.stderr.splitlines())


# Numbers and the names of unknown calls, wherever a call is named.
@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_numbers_and_unknown_names_on_the_command_line(
    programs: Programs, backend: str, accelerated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not accelerated:
        monkeypatch.setenv("SYSEMU_NO_SPEEDUPS", "1")
    program = programs.example("experimental_syscall")
    # The name --stats prints is one --trace and --inject take, and so are numbers.
    counted = strace_c_rows(sysemu("run", "--backend", backend, "--stats", "--", program).stderr)
    unknown = sorted(name for name in counted if name.startswith("syscall_"))
    assert unknown == ["syscall_1000", "syscall_1001"]
    for selected in ("1000,1001", ",".join(unknown), "syscall_0x3e8,syscall_0x3e9"):
        traced = sysemu("run", "--backend", backend, f"--trace={selected}", "--", program)
        assert traced.returncode == 0, traced.stderr
        lines = traced.stderr.splitlines()
        # Arguments of calls no table names are in hex, as strace writes them.
        assert lines[0].startswith("syscall_1000(0x2, 0x3, 0x"), lines
        assert lines[0].endswith(" = -1 ENOSYS (Function not implemented)")
        assert lines[1].startswith("syscall_1001(0x")
        if X86_64:  # (what the registers syscall(1001) leaves unset hold is the machine's)
            assert ", 0, 0, 0, 0x" in lines[1]
        assert lines[2:] == ["+++ exited with 0 +++"]
    injected = sysemu("run", "--backend", backend, "--inject", "1000:retval=5",
                      "--inject", "syscall_1001:retval=9", "--", program)  # fmt: skip
    assert injected.stdout.splitlines() == ["1000(2, 3) = 5", "1001() = 9 "]


@pytest.mark.skipif(not X86_64, reason="written with x86-64's ABIs and personalities (@32)")
def test_numbers_and_unknown_names_in_the_python_api() -> None:
    with pytest.raises(ValueError, match="unknown syscall number '1005'"):
        parse_syscall_set("1005")  # strace's strictness stays the default
    assert parse_syscall_set("1005", any_number=True).names(Abi.X86_64) == {"syscall_1005"}
    assert parse_syscall_set("syscall_0x3ed@32", any_number=True).names(Abi.I386) == {
        "syscall_1005"
    }
    assert parse_syscall_set("syscall_2", any_number=True).names(Abi.X86_64) == {"open"}
    assert parse_syscall_set("!1005", any_number=True).names(Abi.X86_64) == set(names(Abi.X86_64))
    for bad in ("syscall_", "syscall_x", "syscall_0x", "syscall_1e3", "syscall_-1"):
        with pytest.raises(ValueError, match="unknown syscall"):
            parse_syscall_set(bad, any_number=True)
    by_name = resolve_syscalls("syscall_1005")
    assert [(s.abi, s.nr, s.name) for s in by_name] == [(Abi.X86_64, 1005, "syscall_1005")]
    assert resolve_syscalls("syscall_1005", Abi.I386)[0].abi is Abi.I386
    assert syscall_named("syscall_0x3ed", Abi.X86_64) == unknown_syscall(1005, Abi.X86_64)
    assert syscall_named("syscall_39", Abi.X86_64) == syscall_by_name("getpid")
    assert syscall_named("nosuch", Abi.X86_64) is None


def test_a_handler_for_the_name_a_trace_printed(programs: Programs) -> None:
    emu = Emulator()
    emu.on("syscall_1000")(lambda call: call.emulate(call.args[0] * call.args[1]))
    result = emu.run([programs.example("experimental_syscall")], capture_output=True)
    assert result.stdout.splitlines()[0] == b"1000(2, 3) = 6"


# "Did you mean": syscall, class, argument, errno and option names.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace=opnat"], "unknown syscall 'opnat' (did you mean 'openat' or 'openat2'?)"),
        (["--trace=%fle"], "unknown class '%fle' (did you mean '%file'?)"),
        (["--inject", "getpd:error=EIO"], "unknown syscall 'getpd' (did you mean 'getpid'"),
        (["--inject", "openat:error=ENOENTT"], "'ENOENTT' (did you mean 'ENOENT'"),
        (["--inject", "openat:errror=EIO"], "unknown option 'errror' (did you mean 'error'?)"),
        (["--error-errno", "eaccess"], "unknown errno name 'eaccess' (did you mean 'EACCES'?)"),
        (["--trce"], "unrecognized arguments: --trce (did you mean '--trace'"),
        (["--handler-timout", "1"], "(did you mean '--handler-timeout'?)"),
        (["--readonyl", "/tmp"], "(did you mean '--readonly'?)"),
    ],
)
def test_misspelt_names_get_a_suggestion(args: list[str], message: str) -> None:
    result = sysemu("run", *args, "--", "true")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_misspelt_names_in_rules_get_a_suggestion(tmp_path: Path) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text("def register(emu):\n    emu.on('write', fdd=2)(print)\n")
    result = sysemu("run", "--rules", str(rules), "--", "true")
    assert "has no argument 'fdd' (it has: fd, buf, count) (did you mean 'fd'?)" in result.stderr
    with pytest.raises(ValueError, match=r"unknown syscall 'opnat' \(did you mean 'openat'"):
        Emulator().add("opnat", print)
    with pytest.raises(ValueError, match=r"for the i386 ABI \(did you mean 'stat64'"):
        Emulator().add("stat46", print, abi=Abi.I386)
    with pytest.raises(ValueError, match=r"'zzzzqq'$"):
        Emulator().add("zzzzqq", print)  # nothing alike: no suggestion


# sysemu syscalls [NAME|/REGEX|%CLASS]
def test_syscalls_lists_numbers_arguments_and_classes() -> None:
    result = sysemu("syscalls", "openat")
    assert result.returncode == 0, result.stderr
    if not X86_64:  # one ABI, the asm-generic numbers
        assert result.stdout.splitlines()[0] == "openat (aarch64 56)  %file %desc"
        pytest.skip("the rest lists x86-64's three ABIs")
    assert result.stdout.splitlines() == [
        "openat (x86_64 257, i386 295, x32 257)  %file %desc",
        "    dfd       int           dirfd",
        "    filename  const char *  path",
        "    flags     int           flags",
        "    mode      umode_t       mode",
    ]
    # Where the ABIs' signatures differ, each has its own block.
    mmap = sysemu("syscalls", "/^mmap$").stdout.splitlines()
    assert mmap[0] == "mmap (x86_64 9, x32 9)  %desc %memory"
    assert "mmap (i386 90)  %desc %memory" in mmap
    network = sysemu("syscalls", "%network").stdout
    assert "\nconnect (x86_64 42, i386 362, x32 42)  %network\n" in network
    assert "openat" not in network
    unimplemented = sysemu("syscalls", "getpmsg").stdout
    assert "[not implemented: x86_64, i386, x32]" in unimplemented


def test_syscalls_lists_every_call_of_the_tables() -> None:
    listed = sysemu("syscalls").stdout.splitlines()
    heads = [line for line in listed if not line.startswith("    ")]
    per_abi: dict[str, set[str]] = {abi.value: set() for abi in machine_abis()}
    for head in heads:
        name, numbers = head.split(" (", 1)
        for pair in numbers.split(")", 1)[0].split(", "):
            abi, nr = pair.split()
            assert syscall_by_name(name, Abi(abi)).nr == int(nr)  # the handler API's table
            per_abi[abi].add(name)
    expected = {abi: set(names(abi)) for abi in machine_abis()}
    assert {abi: per_abi[abi.value] for abi in machine_abis()} == expected


def test_syscalls_with_an_unknown_name_suggests_one() -> None:
    result = sysemu("syscalls", "opnat")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "sysemu: syscalls: unknown syscall 'opnat' (did you mean 'openat' or 'openat2'?)\n"
    )


# strace's spellings: -f, -e trace=, -e inject=, -p.
def test_strace_spellings_of_trace_and_inject() -> None:
    inject = "inject=openat:error=EACCES:path=/etc/hostname"
    result = sysemu("run", "-f", "-e", "trace=openat", "-e", inject, "--", "cat", "/etc/hostname")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    traced = [line for line in lines if line.startswith(("openat(", "+++"))]
    assert traced[-1] == "+++ exited with 1 +++"
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = -1 EACCES' in result.stderr
    assert "(INJECTED)" in result.stderr
    assert not any(line.startswith(("read(", "close(", "mmap(")) for line in lines)
    alone = sysemu("run", "-e", "getpid", "--", "sh", "-c", "echo $$")
    assert alone.returncode == 0
    assert [line.split("(")[0] for line in alone.stderr.splitlines()] == [
        "getpid",
        "+++ exited with 0 +++",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-ff"], "-ff: one output file per process is not supported"),
        (["-e", "read=3"], "-e read=: not supported; sysemu takes trace=, inject=, signal="),
        (["-e", "trce=open"], "-e trce=: not supported; sysemu takes trace=, inject=, signal="),
        (["-e", "trce=open"], "(did you mean"),
        (["-e", "trace=open", "--trace=close"], "the set to trace is given twice"),
        (["-p", "1", "--", "true"], "-p PID attaches to a running process: give no command"),
        (["-p", "1", "--backend", "unotify"], "-p: attaching is ptrace only"),
        (["-p", "1", "--hide", "/tmp"], "-p: attaching cannot use the vfs tool's options"),
    ],
)
def test_strace_spellings_that_mean_nothing_here(args: list[str], message: str) -> None:
    result = sysemu("run", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


TICKER = "import os, time\nwhile True:\n    print(os.getpid(), flush=True)\n    time.sleep(0.02)\n"


@pytest.mark.parametrize("command", [["run"], ["attach"]])
def test_dash_p_attaches(command: list[str]) -> None:
    ticker = subprocess.Popen([sys.executable, "-c", TICKER], stdout=subprocess.PIPE, text=True)
    cli: subprocess.Popen[str] | None = None
    try:
        assert ticker.stdout is not None
        assert ticker.stdout.readline().strip() == str(ticker.pid)
        cli = subprocess.Popen([*SYSEMU, *command, "-p", str(ticker.pid), "--inject",
                                "getpid:retval=77"], stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while ticker.stdout.readline().strip() != "77":  # attached: getpid is answered
            assert time.monotonic() < deadline and cli.poll() is None
        cli.send_signal(signal.SIGINT)  # detaches; the ticker runs on as before
        assert cli.wait(timeout=20) == 0, cli.communicate()[1]
        lines = {ticker.stdout.readline().strip() for _ in range(5)}
        assert str(ticker.pid) in lines
    finally:
        for process in (cli, ticker):
            if process is not None:
                process.kill()
                process.communicate(timeout=10)
