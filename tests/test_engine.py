"""The engine and the handler API against real programs; results are read from the programs'
own output. Every run is bounded by pytest-timeout, and a run that is interrupted kills and
reaps its tracees before the exception leaves Emulator.run."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sysemu import (
    Abi,
    Call,
    Emulate,
    Emulator,
    HandlerError,
    In,
    Observer,
    OnError,
    Outcome,
    Result,
    emulator,
)
from sysemu.abi.syscalls import abis_for_name, syscall_by_name
from sysemu.api.handlers import HandlerSet
from sysemu.engine.common import SIGNALLING_CALLS
from sysemu.kernel import ctypes_calls, ptrace, seccomp
from sysemu.kernel.arch import host_arch_type
from sysemu.kernel.memory import TraceeMemoryError

from .conftest import Programs, x86_64_only

# Three writes, straight to the file descriptors.
WRITE_OUT_ERR_OUT = (
    "import os; os.write(1, b'out\\n'); os.write(2, b'err\\n'); os.write(1, b'out2\\n')"
)


@pytest.fixture(
    autouse=True,
    params=[
        "speedups",
        "ctypes",
        "ptrace-only",
        "ptrace-only-python",
        "sysemu",
        "sysemu-python",
        "auto",
        "auto-notified",
        "unotify",
    ],
)
def ptrace_implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every engine test runs with the C accelerator (its wait loop included), with its
    ctypes twins and the Python loop, on the ptrace-only backend (the reference: no filter,
    every call stops) and on the PTRACE_SYSEMU backend (no call runs unless made again), the
    last two with the C wait loop and with the Python one, and on the auto backend twice: as
    the tests register their handlers (they stop in ptrace), and with every handler declared
    decides_only, so that its calls are answered by notification from auto's second thread
    while the first one ptraces the tree (tests marked needs_ptrace, whose handlers rewrite
    calls or see results, are skipped there: that is what notification cannot do), and on the
    unotify backend (no ptrace at all: the tests marked ptrace_tree, which count the processes
    of the tree or register observers, are skipped there too)."""
    if request.param.startswith(("auto", "unotify")):
        if not seccomp.has_user_notification():
            pytest.skip("no seccomp user notification here")
        if request.param == "unotify":
            if request.node.get_closest_marker("needs_ptrace"):
                pytest.skip("rewrites calls or sees results: not by notification")
            if request.node.get_closest_marker("ptrace_tree"):
                pytest.skip("the unotify backend traces no process: no tree, no observers")
            monkeypatch.setattr(emulator, "DEFAULT_BACKEND", "unotify")
            return str(request.param)
        if request.param == "auto-notified":
            if request.node.get_closest_marker("needs_ptrace"):
                pytest.skip("rewrites calls or sees results: not by notification")
            real_add = HandlerSet.add

            def decides_only(self: HandlerSet, *args: Any, **kwargs: Any) -> None:
                kwargs["decides_only"] = not kwargs.get("needs_ptrace", False)
                real_add(self, *args, **kwargs)

            monkeypatch.setattr(HandlerSet, "add", decides_only)
        monkeypatch.setattr(emulator, "DEFAULT_BACKEND", "auto")
    elif request.param.startswith(("ptrace-only", "sysemu")):
        if request.node.get_closest_marker("filter_only"):
            pytest.skip("counts stops that only a seccomp filter avoids")
        backend = "ptrace" if request.param.startswith("ptrace-only") else "sysemu"
        monkeypatch.setattr(emulator, "DEFAULT_BACKEND", backend)
        if request.param.endswith("-python"):
            monkeypatch.setattr(ptrace, "serve_seccomp_stops", None)
    elif request.param == "ctypes":
        monkeypatch.setattr(ptrace, "_ptrace", ctypes_calls.ptrace)
        monkeypatch.setattr(ptrace, "resume", ptrace._python_resume)
        monkeypatch.setattr(ptrace, "syscall_info", ptrace._python_syscall_info)
        monkeypatch.setattr(ptrace, "poke_user_twice_then", ptrace._python_poke_user_twice_then)
        monkeypatch.setattr(ptrace, "serve_seccomp_stops", None)
    elif not ptrace.SPEEDUPS:
        pytest.skip("the C accelerator is not built")
    if request.param in ("speedups", "ctypes"):  # the seccomp backend, whatever the default
        monkeypatch.setattr(emulator, "DEFAULT_BACKEND", "seccomp")
    return str(request.param)


def run(emu: Emulator, *argv: str, **kwargs: object) -> tuple[int, str, str, object]:
    result = emu.run(list(argv), capture_output=True, **kwargs)  # type: ignore[arg-type]
    assert result.stdout is not None and result.stderr is not None
    return result.exit_code, result.stdout.decode(), result.stderr.decode(), result


def test_emulated_getpid_returns_the_handlers_value(programs: Programs) -> None:
    emu = Emulator()

    @emu.on("getpid")
    def fake_pid(call: Call) -> object:
        return call.emulate(4242)

    code, out, _, result = run(emu, programs.getpid_loop, "25")
    assert (code, out) == (0, "4242\n")
    assert result.stats["getpid"].emulated >= 25  # type: ignore[attr-defined]


def test_a_shell_sees_the_emulated_pid_and_the_denied_file() -> None:
    emu = Emulator()

    @emu.on("openat")
    def deny_hostname(call: Call) -> object:
        if call.path == "/etc/hostname":
            return call.fail(errno.EACCES)
        return None

    @emu.on("getpid")
    def fake_pid(call: Call) -> object:
        return call.emulate(4242)

    code, out, err, _ = run(emu, "sh", "-c", "cat /etc/hostname; echo $$")
    assert out == "4242\n"
    assert "Permission denied" in err
    assert code == 0


@pytest.mark.filter_only
def test_calls_nobody_asked_for_never_stop(programs: Programs) -> None:
    emu = Emulator()
    seen: list[int] = []

    @emu.on("write", fd=2)
    def count_stderr(call: Call) -> None:
        seen.append(call.args.fd)

    code, out, err, result = run(emu, sys.executable, "-c", WRITE_OUT_ERR_OUT)
    assert (code, out, err) == (0, "out\nout2\n", "err\n")
    assert seen == [2]
    assert result.stats.stops == 1  # type: ignore[attr-defined]


@pytest.mark.filter_only
def test_kernel_checked_conditions_select_among_handlers() -> None:
    emu = Emulator()

    @emu.on("write", fd=In(1))
    def swallow_stdout(call: Call) -> object:
        return call.emulate(call.args.count)

    @emu.on("write")
    def mark_others(call: Call) -> None:
        return None

    code, out, err, result = run(emu, sys.executable, "-c", WRITE_OUT_ERR_OUT)
    assert (code, out, err) == (0, "", "err\n")
    assert result.stats["write"].emulated == 2  # type: ignore[attr-defined]
    assert result.stats["write"].passed == 1  # type: ignore[attr-defined]


def test_experimental_syscall_numbers(programs: Programs) -> None:
    emu = Emulator()

    @emu.on(1000)
    def add(call: Call) -> object:
        return call.emulate(call.args.arg0 + call.args.arg1)

    code, out, _, _ = run(emu, programs.example("experimental_syscall"))
    assert code == 0
    assert out.splitlines() == ["1000(2, 3) = 5", "1001() = -1 Function not implemented"]


@pytest.mark.needs_ptrace
def test_rewritten_path_opens_another_file(tmp_path: Path) -> None:
    replacement = tmp_path / "replacement"
    replacement.write_text("from the replacement\n")
    emu = Emulator()

    @emu.on("openat")
    def redirect(call: Call) -> object:
        if call.path == "/etc/hostname":
            return call.rewrite(filename=str(replacement))
        return None

    code, out, _, result = run(emu, "cat", "/etc/hostname")
    assert (code, out) == (0, "from the replacement\n")
    assert result.stats["openat"].rewritten == 1  # type: ignore[attr-defined]


@pytest.mark.needs_ptrace
@pytest.mark.parametrize("build", ["64", "m32"])
def test_rewritten_argv_array(programs: Programs, build: str) -> None:
    """A list becomes a NULL-terminated pointer array of the call's ABI (4-byte pointers
    for an i386 program)."""
    emu = Emulator()

    @emu.on("execve")
    def other_words(call: Call) -> object:
        if call.path == "/bin/echo":
            return call.rewrite(argv=["echo", "rewritten", b"argv", "with \u00e9"])
        return None

    probe = programs.vfs_probe if build == "64" else programs.m32("vfs_probe")
    code, out, err, result = run(emu, probe, "exec", "/bin/echo", "original")
    assert (code, out) == (0, "rewritten argv with \u00e9\n"), err
    assert result.stats["execve"].rewritten == 1  # type: ignore[attr-defined]


@pytest.mark.needs_ptrace
def test_change_to_another_syscall(programs: Programs) -> None:
    emu = Emulator()

    @emu.on("getpid")
    def parent_instead(call: Call) -> object:
        return call.change_to("getppid")

    code, out, _, _ = run(emu, programs.getpid_loop)
    assert (code, out) == (0, f"{os.getpid()}\n")


@pytest.mark.needs_ptrace
def test_observe_sees_and_replaces_results() -> None:
    emu = Emulator()
    seen: list[Result] = []

    @emu.on(["getuid", "geteuid"])
    def pretend_uid(call: Call) -> object:
        def replace(result: Result) -> int:
            seen.append(result)
            return 12345

        return call.observe(replace)

    code, out, _, result = run(emu, "id", "-u")
    assert (code, out) == (0, "12345\n")
    assert seen and all(r.value == os.getuid() and not r.failed for r in seen)
    assert result.stats["geteuid"].results_seen >= 1  # type: ignore[attr-defined]


@pytest.mark.needs_ptrace
def test_observed_failure_reports_errno() -> None:
    emu = Emulator()
    seen: list[Result] = []

    @emu.on("openat", when=lambda call: call.path == "/nonexistent/x")
    def look(call: Call) -> object:
        return call.observe(seen.append)  # type: ignore[arg-type]

    run(emu, "cat", "/nonexistent/x")
    assert [(r.failed, r.errno_name) for r in seen] == [(True, "ENOENT")]


def test_handler_error_kills_the_program_by_default() -> None:
    emu = Emulator()

    @emu.on("openat", when=lambda call: call.path == "/etc/hostname")
    def broken(call: Call) -> None:
        raise RuntimeError("boom")

    with pytest.raises(HandlerError) as caught:
        emu.run(["sh", "-c", "cat /etc/hostname; echo survived"], capture_output=True)
    assert isinstance(caught.value.__cause__, RuntimeError)
    result = caught.value.result
    assert result.signal == 9
    assert b"survived" not in result.stdout


@pytest.mark.parametrize(("policy", "expected"), [("fail", "Input/output error"), ("pass", "")])
def test_handler_error_policies(policy: str, expected: str) -> None:
    reported: list[HandlerError] = []
    emu = Emulator(on_error=policy, report=reported.append)

    @emu.on("openat", when=lambda call: call.path == "/etc/hostname")
    def broken(call: Call) -> None:
        raise RuntimeError("boom")

    _, out, err, _ = run(emu, "sh", "-c", "cat /etc/hostname; echo survived")
    if policy == "pass":  # the kernel ran the call (on PTRACE_SYSEMU it had failed ENOSYS)
        assert (out, err) == (Path("/etc/hostname").read_text() + "survived\n", "")
    else:
        assert out == "survived\n" and expected in err
    assert len(reported) == 1 and isinstance(reported[0].__cause__, RuntimeError)


def test_a_handler_returning_nonsense_is_a_handler_error() -> None:
    emu = Emulator(on_error=OnError.FAIL, report=lambda error: None)

    @emu.on("getpid")
    def nonsense(call: Call) -> object:
        return 42

    run_result = run(emu, "sh", "-c", "echo $$")
    result = run_result[3]
    assert result.handler_errors  # type: ignore[attr-defined]
    assert "TypeError" in repr(result.handler_errors[0].__cause__)  # type: ignore[attr-defined]


@pytest.mark.ptrace_tree
def test_fork_vfork_clone3_posix_spawn_and_threads_are_followed(programs: Programs) -> None:
    emu = Emulator()

    @emu.on("getpid")
    def fake_pid(call: Call) -> object:
        return call.emulate(4242)

    code, out, _, result = run(emu, programs.spawners, programs.getpid_loop)
    lines = out.splitlines()
    assert code == 0
    assert "fork 4242" in lines
    assert "vfork exit 7" in lines
    assert "clone3 4242" in lines
    assert "posix_spawn exit 0" in lines
    assert lines.count("thread 4242") == 4
    assert "parent 4242" in lines
    assert result.processes >= 5  # type: ignore[attr-defined]
    assert result.threads >= 9  # type: ignore[attr-defined]


@pytest.mark.needs_ptrace
def test_exec_from_a_thread_keeps_following_the_process(programs: Programs) -> None:
    emu = Emulator()
    exec_results: list[int] = []

    @emu.on("execve")
    def watch_exec(call: Call) -> object:
        return call.observe(lambda result: exec_results.append(result.value))

    @emu.on("getpid")
    def fake_pid(call: Call) -> object:
        return call.emulate(4242)

    code, out, _, _ = run(emu, programs.thread_exec, "sh", "-c", "echo exec-from-thread $$")
    assert code == 0
    assert out.splitlines() == ["leader 4242", "exec-from-thread 4242"]
    assert 0 in exec_results  # the exit stop of the exec came under the leader's id


def test_exit_status_and_death_by_signal() -> None:
    emu = Emulator()
    emu.on("getpid")(lambda call: None)
    assert emu.run(["sh", "-c", "exit 3"]).exit_code == 3
    result = emu.run(["sh", "-c", "kill -SEGV $$"])
    assert (result.exit_code, result.signal) == (128 + 11, 11)


def test_stop_and_continue_behave_as_without_tracing() -> None:
    script = (
        "import os, signal, subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '5'])\n"
        "os.kill(child.pid, signal.SIGSTOP)\n"
        "_, status = os.waitpid(child.pid, os.WUNTRACED)\n"
        "print('stopped', os.WIFSTOPPED(status), os.WSTOPSIG(status))\n"
        "os.kill(child.pid, signal.SIGCONT)\n"
        "os.kill(child.pid, signal.SIGTERM)\n"
        "print('exit', child.wait())\n"
    )
    emu = Emulator()
    emu.on("getpid")(lambda call: None)
    code, out, err, _ = run(emu, sys.executable, "-c", script)
    assert out.splitlines() == ["stopped True 19", "exit -15"], err
    assert code == 0


def test_python_with_threads_and_subprocess() -> None:
    script = (
        "import subprocess, threading\n"
        "results = []\n"
        "def attempt():\n"
        "    try:\n"
        "        open('/etc/hostname').close(); results.append('opened')\n"
        "    except PermissionError:\n"
        "        results.append('denied')\n"
        "threads = [threading.Thread(target=attempt) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sorted(set(results)), len(results))\n"
        "print(subprocess.run(['cat', '/etc/hostname'], capture_output=True).returncode)\n"
    )
    emu = Emulator()

    @emu.on("openat", when=lambda call: call.path == "/etc/hostname")
    def deny(call: Call) -> object:
        return call.fail("EACCES")

    code, out, err, _ = run(emu, sys.executable, "-c", script)
    assert out.splitlines() == ["['denied'] 8", "1"], err
    assert code == 0


@x86_64_only
def test_compat_abis_cannot_bypass_a_rule(programs: Programs) -> None:
    emu = Emulator()
    abis: set[Abi] = set()

    @emu.on("openat")
    def deny(call: Call) -> object:
        if call.path == "/etc/hostname":
            abis.add(call.abi)
            return call.fail(errno.EACCES)
        return None

    _, out, _, _ = run(emu, programs.compat_calls, "/etc/hostname")
    assert out.strip() == "x86_64=-13 i386=-13 x32=-13 i386_getpid_is_pid=1"
    assert abis == {Abi.X86_64, Abi.I386, Abi.X32}


def test_a_32_bit_program(programs: Programs) -> None:
    binary = programs.m32("open_file")
    emu = Emulator()
    seen: list[tuple[Abi, str]] = []

    @emu.on("openat")
    def deny(call: Call) -> object:
        seen.append((call.abi, call.path or ""))
        if call.path == "/etc/hostname":
            return call.fail(errno.EACCES)
        return None

    _, out, _, _ = run(emu, binary, "/etc/hostname")
    assert out == "error Permission denied\n"
    assert (Abi.I386, "/etc/hostname") in seen


@pytest.mark.needs_ptrace
def test_a_call_interrupted_by_a_signal_restarts_and_is_decided_again(programs: Programs) -> None:
    emu = Emulator()
    decided: list[int] = []
    results: list[int] = []

    @emu.on("read")
    def watch(call: Call) -> object:
        decided.append(call.tid)
        return call.observe(lambda result: results.append(result.value))

    code, out, _, _ = run(emu, programs.restart_read)
    assert (code, out) == (0, "signals=1 read=5\n")
    assert results[-1] == 5  # never the kernel-internal -ERESTARTSYS
    assert not any(-516 <= value <= -512 for value in results)
    assert len(decided) >= len(results) + 1  # the restarted read was decided again


def test_a_program_killed_while_stopped_in_a_handler() -> None:
    emu = Emulator()

    @emu.on("getpid")
    def kill_caller(call: Call) -> object:
        os.kill(call.pid, 9)  # the tracee dies under us; every request on it fails ESRCH
        return call.emulate(1)

    result = emu.run(["sh", "-c", "echo $$; echo unreachable"], capture_output=True)
    assert (result.exit_code, result.signal) == (128 + 9, 9)
    assert result.stdout == b""


def test_a_handler_whose_caller_is_killed_meanwhile_is_no_error() -> None:
    """The thread is killed while its handler runs (as another thread's exit_group kills it):
    the handler's read of its memory then fails with ESRCH. The call is gone, not the handler
    wrong: no error, and the program ends as killed. (Before, the run reported a handler error
    and, with on_error="kill", raised it: a Go program exiting on 5.10 under TCG.)"""
    emu = Emulator()
    raised: list[int | None] = []

    @emu.on("openat")
    def kill_then_read(call: Call) -> object:
        if call.path != "/etc/hostname":
            return None
        os.kill(call.pid, 9)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:  # until the thread is gone
                assert call.read(call.raw[1], 4) == b"/etc"
                time.sleep(0.01)
        except TraceeMemoryError as error:
            raised.append(error.errno)
            raise
        return call.emulate(-errno.EIO)

    result = emu.run(["cat", "/etc/hostname"], capture_output=True, timeout=60)
    assert raised == [errno.ESRCH]
    assert (result.exit_code, result.signal) == (128 + 9, 9)
    assert result.handler_errors == [] and result.fatal_error is None
    assert result.stdout == b"" and result.stderr == b""


def test_a_handler_reading_another_gone_callers_memory_is_an_error() -> None:
    """ESRCH from the memory of another thread (a call kept from an earlier stop, its process
    gone) is the handler's own error, reported as any other: only its own caller's counts."""
    reported: list[HandlerError] = []
    emu = Emulator(on_error="fail", report=reported.append)
    kept: list[Call] = []

    @emu.on("openat")
    def read_the_first(call: Call) -> object:
        if call.path != "/etc/hostname":
            return None
        if kept:
            kept[0].read(kept[0].raw[1], 4)
        kept.append(call)
        return None

    result = emu.run(["sh", "-c", "cat /etc/hostname; cat /etc/hostname"], capture_output=True)
    assert len(kept) == 1  # the second raised before it kept its call
    assert result.exit_code == 1 and b"Input/output error" in result.stderr  # (failed: EIO)
    assert [type(error.__cause__) for error in reported] == [TraceeMemoryError]
    assert [error.__cause__.errno for error in reported] == [errno.ESRCH]  # type: ignore[union-attr]


@pytest.mark.ptrace_tree
def test_shell_pipelines_with_background_jobs(tmp_path: Path) -> None:
    emu = Emulator()
    opened: list[str] = []

    @emu.on("openat")
    def record(call: Call) -> None:
        if call.path and call.path.startswith("/etc/"):
            opened.append(call.path)

    # The background job runs alongside the pipelines and prints once the last has (it waits
    # on a FIFO the shell opens then): a fixed sleep lost that race on a slow machine (5.10
    # under TCG printed "background" first).
    go = tmp_path / "go"
    os.mkfifo(go)
    script = (
        f"(read line <{go}; echo background) & "
        "cat /etc/hostname | tr a-z A-Z | wc -l; "
        f"echo fg | cat; echo >{go}; wait; echo done"
    )
    code, out, _, result = run(emu, "sh", "-c", script)
    assert code == 0
    assert out.splitlines() == ["1", "fg", "background", "done"]
    assert "/etc/hostname" in opened
    assert result.processes >= 5  # type: ignore[attr-defined]


def test_zombie_children_of_a_traced_process(programs: Programs) -> None:
    # The parent leaves its child unreaped for a while, then exits: the run still ends.
    script = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0: os._exit(3)\n"
        "time.sleep(0.3)\n"
        "print(open(f'/proc/{pid}/stat').read().split()[2])\n"
    )
    emu = Emulator()
    emu.on("getpid")(lambda call: None)
    code, out, _, _ = run(emu, sys.executable, "-c", script)
    assert (code, out) == (0, "Z\n")


class Recorder(Observer):
    """Records what an observer is told, as compact tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def call_entered(self, call: Call) -> None:
        self.events.append(("enter", call.name, call.tid))

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        self.events.append(("finish", call.name, outcome, None if result is None else result.value))

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        self.events.append(("start", kind))

    def exec_done(self, tid: int, former_tid: int) -> None:
        self.events.append(("exec", tid == former_tid))

    def signal_delivered(self, tid: int, signal: int) -> None:
        self.events.append(("signal", signal))

    def task_exited(self, tid: int, status: int) -> None:
        self.events.append(("exit", os.waitstatus_to_exitcode(status)))


@pytest.mark.ptrace_tree
def test_observers_see_calls_outcomes_and_lives(programs: Programs) -> None:
    emu = Emulator()
    recorder = Recorder()
    emu.observe(recorder, ["getpid", "getppid", "exit_group"])

    @emu.on("getpid")
    def fake(call: Call) -> object:
        return call.emulate(4242)

    script = "echo $$ $PPID; sh -c 'kill -USR1 $PPID; sleep 1'; exit 3"
    code, out, _, _ = run(emu, "sh", "-c", script)
    assert out.split() == ["4242", str(os.getpid())]
    events = recorder.events
    finished = events.index(("finish", "getpid", Outcome.EMULATED, 4242))
    assert events[finished - 1][:2] == ("enter", "getpid")
    assert ("finish", "getppid", Outcome.PASSED, os.getpid()) in events
    assert ("finish", "exit_group", Outcome.PASSED, None) in events  # it never returns
    assert ("start", "fork") in events or ("start", "vfork") in events
    assert ("exec", True) in events
    assert ("signal", 10) in events  # delivered to the outer shell, which it kills
    assert ("exit", -10) in events
    assert code == 128 + 10


@pytest.mark.ptrace_tree
def test_an_observer_of_every_call_sees_calls_without_handlers(programs: Programs) -> None:
    emu = Emulator()
    recorder = Recorder()
    emu.observe(recorder)
    code, out, _, result = run(emu, programs.getpid_loop, "3")
    assert (code, out) == (0, f"{out.strip()}\n")
    names = [event[1] for event in recorder.events if event[0] == "finish"]
    assert names.count("getpid") == 3
    assert "execve" in names and "exit_group" in names
    assert result.stats["getpid"].stops == 3  # type: ignore[attr-defined]


@pytest.mark.ptrace_tree
def test_a_failing_observer_is_reported_and_the_run_goes_on() -> None:
    class Broken(Observer):
        def call_entered(self, call: Call) -> None:
            raise RuntimeError("observer bug")

    reported: list[HandlerError] = []
    emu = Emulator(report=reported.append)
    emu.observe(Broken(), "getpid")
    result = emu.run(["sh", "-c", "echo $$"], capture_output=True)
    assert result.exit_code == 0 and result.stdout
    assert reported and isinstance(reported[0].__cause__, RuntimeError)


def test_the_c_wait_loop_serves_direct_stops_itself(
    ptrace_implementation: str, monkeypatch: pytest.MonkeyPatch, programs: Programs
) -> None:
    if ptrace_implementation != "speedups" or ptrace.serve_seccomp_stops is None:
        pytest.skip("the C wait loop serves the seccomp backend with the accelerator only")
    real = ptrace.serve_seccomp_stops
    returns: list[object] = []

    def counting(*args: object) -> object:
        event = real(*args)
        returns.append(event)
        return event

    monkeypatch.setattr(ptrace, "serve_seccomp_stops", counting)
    emu = Emulator()
    emu.on("getpid")(lambda call: call.emulate(4242))
    emu.on("getppid")(lambda call: call.fail(errno.EPERM))
    code, out, _, result = run(emu, programs.getpid_loop, "2000")
    assert (code, out) == (0, "4242\n")
    assert result.stats["getpid"].emulated >= 2000  # type: ignore[attr-defined]
    # Python saw only the other events (exec, exits...), not one per getpid.
    assert 0 < len(returns) < 50
    # A Pass without a result hook is served in C too; one with a hook goes back to Python.
    for hooked in (False, True):
        returns.clear()
        seen: list[int] = []
        hook = seen.append if hooked else None
        emu = Emulator()
        emu.on("getpid")(lambda call, hook=hook: call.pass_through(then=hook))
        code, out, _, result = run(emu, programs.getpid_loop, "2000")
        assert code == 0 and out.strip().isdigit() and out.strip() != "4242"
        assert result.stats["getpid"].passed >= 2000  # type: ignore[attr-defined]
        assert (len(returns) < 50) is (not hooked)
        assert (len(seen) >= 2000) is hooked


# lseek(fd, 1000 + i) for i in 0..39, then the same call five times over (registers that
# repeat), and the offsets it passes.
SEEKS = (
    "import os; fd = os.open('/dev/null', os.O_RDONLY)\n"
    "for offset in [*range(1000, 1040), *[1007] * 5]: os.lseek(fd, offset, 0)"
)
SEEKED = [*range(1000, 1040), *[1007] * 5]


def test_every_call_is_its_own_even_when_recycled() -> None:
    """The C loops hand out a Call nobody kept again, and reuse the ints of registers that
    repeat: each handler must still see its own call, and a Call it keeps must stay as it was."""
    seen: list[int] = []
    kept: list[tuple[Call, int, tuple[int, ...]]] = []
    emu = Emulator()

    @emu.on("lseek")
    def keep_odd_ones(call: Call) -> object:
        offset = call.args.offset
        if offset >= 1000:
            seen.append(offset)
            if offset % 2:
                kept.append((call, offset, call.raw))
        return call.emulate(offset)

    code, _, err, _ = run(emu, sys.executable, "-c", SEEKS)
    assert code == 0, err
    assert seen == SEEKED
    assert [offset for _, offset, _ in kept] == [o for o in SEEKED if o % 2]
    for call, offset, raw in kept:
        assert (call.args.offset, call.raw) == (offset, raw)
        assert call.syscall.name == "lseek" and call.raw[1] == offset


def test_an_emulate_decision_kept_by_its_handler_is_never_refilled() -> None:
    """The C loops refill the Emulate of a carried-out decision nobody kept: one a handler
    kept must keep its value, and every call must still get its own."""
    kept: list[tuple[Emulate, int]] = []
    emu = Emulator()

    @emu.on("lseek")
    def keep_odd_ones(call: Call) -> object:
        offset = call.args.offset
        decision = call.emulate(offset + 1)
        if offset >= 1000 and offset % 2:
            kept.append((decision, offset + 1))
        return decision

    # The program checks that each of its calls got its own value.
    own_value = "assert os.lseek(fd, offset, 0) == offset + 1"
    script = SEEKS.replace("os.lseek(fd, offset, 0)", own_value)
    code, _, err, _ = run(emu, sys.executable, "-c", script)
    assert code == 0, err
    assert [value for _, value in kept] == [o + 1 for o in SEEKED if o % 2]
    assert [decision.value for decision, _ in kept] == [value for _, value in kept]
    assert isinstance(kept[0][0], Emulate)


def test_handler_time_is_counted_in_nanoseconds(programs: Programs) -> None:
    """The C loops time handlers in TSC ticks where they can: the stats still read in ns
    (as much as the handlers measured themselves, and a little more, not 2x as a 2 GHz TSC's
    ticks would be)."""
    inside: list[int] = []
    emu = Emulator()

    @emu.on("getpid")
    def slow(call: Call) -> object:
        started = time.perf_counter_ns()
        time.sleep(0.005)
        inside.append(time.perf_counter_ns() - started)
        return call.emulate(4242)

    code, out, _, result = run(emu, programs.getpid_loop, "4")
    assert (code, out) == (0, "4242\n")
    stats = result.stats["getpid"]  # type: ignore[attr-defined]
    assert stats.emulated == 4
    assert sum(inside) <= stats.handler_ns < sum(inside) * 1.5 + 5e6


def test_the_signal_guards_numbers_are_the_tables() -> None:
    """The filter's guards name the signalling calls by number, written out by the
    architecture: they must be the generated tables' numbers, in every ABI."""
    numbers = host_arch_type().numbers
    for name in SIGNALLING_CALLS:
        from_tables = {(call.abi.audit_arch, call.filter_nr) for call in abis_for_name(name)}
        written = {(abi.audit_arch, nr + abi.nr_bias) for abi, nr in numbers[name].items()}
        assert written == from_tables, name


def test_the_numbers_the_architecture_writes_out_are_the_tables() -> None:
    """Every call the architecture numbers itself (guards, libc wrappers, the listener's
    sendmsg, the program's execve) has the generated tables' number in each ABI, and an entry
    for every ABI of the architecture."""
    arch = host_arch_type()
    for name, numbers in arch.numbers.items():
        assert set(numbers) == set(arch.abis), name
        for abi, nr in numbers.items():
            assert syscall_by_name(name, abi).nr == nr, (name, abi)
