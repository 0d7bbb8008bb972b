"""Reliability and security, as tested facts (see RELIABILITY.md for the list of promises).

Load, 200 threads on one intercepted call, a signal storm on a blocked call, vfork chains,
threads that exit or exec while another thread is in a call, a tracee killed from outside,
sysemu itself stopped and continued, hostile programs, memory per traced process, and fuzzed
command lines. Results are read from the programs' own output.

Every run is bounded (``timeout=`` for in-process runs, which kills the tree and raises
``RunTimeoutError``; a subprocess timeout for the command line), and the ``env`` fixture
checks afterwards that nothing is left: every program runs with a token in its environment,
and no process carrying it, no child of this process (zombies included) and no thread traced
by this process may remain.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysemu import Call, Decision, Emulator, Observer, Outcome, Result, RunTimeoutError
from sysemu.engine.tracer import Tracer
from sysemu.tools.trace import trace

from .conftest import (
    Programs,
    hang_limit,
    own_children,
    sleeps_in_read,
    wait_until,
    x86_64_only,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "deny_and_fake.py"
SYSEMU = [sys.executable, "-m", "sysemu"]
TOKEN = "SYSEMU_RELIABILITY_TOKEN"
RUN_TIMEOUT = hang_limit(60)  # far above any run here: reaching it is a hang, and kills the tree


# Hygiene: what a test leaves behind.
def leftovers(token: str) -> list[str]:
    """Processes that should be gone: those with ``token`` in their environment, children of
    this process (zombies too) and threads this process traces, with their state."""
    me = os.getpid()
    found: list[str] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            status = Path(f"/proc/{entry}/status").read_text()
            tracer = status.split("TracerPid:", 1)[1].split()[0]
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if int(ppid) == me or int(tracer) == me or token.encode() in environ:
            found.append(f"{entry} state={state} ppid={ppid} tracer={tracer} {stat[:60]!r}")
    return found


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """The environment to run programs with; afterwards, nothing they started may remain."""
    token = uuid.uuid4().hex
    yield {**os.environ, TOKEN: token}
    # Orphans reparented to init are reaped by it, not us: give them a moment.
    assert wait_until(lambda: not leftovers(token), 5), leftovers(token)


def run(emu: Emulator, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``argv`` under ``emu``, bounded; returns the exit status and the output as text."""
    result = emu.run(argv, env=env, capture_output=True, timeout=RUN_TIMEOUT)
    assert result.stdout is not None and result.stderr is not None
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


@contextlib.contextmanager
def background(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The sysemu command in its own session, killed with its whole group on the way out."""
    process = subprocess.Popen(
        [*SYSEMU, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # also ends stopped and hung processes
        process.communicate(timeout=30)


def state_of(pid: int) -> str:
    """The one-letter state of ``pid`` ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def deny(path: str) -> Callable[[Call], Decision | None]:
    """A handler that fails opening ``path`` with EACCES and lets every other call run."""

    def handler(call: Call) -> Decision | None:
        return call.fail(errno.EACCES) if call.path == path else None

    return handler


# 1. Load: ~300 fork/exec.
LOOP = "for i in $(seq 300); do /bin/true; done; echo done; exit 3"


class CallCounter(Observer):
    """Counts finished calls by name (every call of every ABI, when observing everything)."""

    def __init__(self) -> None:
        self.finished: Counter[str] = Counter()

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        self.finished[call.name] += 1


@pytest.mark.parametrize("watching", ["narrow rule", "observer of every call"])
def test_300_fork_execs_behave_as_natively(env: dict[str, str], watching: str) -> None:
    started = time.monotonic()
    native = subprocess.run(["sh", "-c", LOOP], capture_output=True, text=True, env=env,
                            timeout=RUN_TIMEOUT, check=False)  # fmt: skip
    # The timeout is for a hang, not a slow machine: the native loop takes 0.2 s on the
    # development host, and the run with an observer of every call took more than RUN_TIMEOUT
    # in an emulated machine (5.10 under TCG), so it grows with the native loop's time.
    timeout = max(RUN_TIMEOUT, 100 * (time.monotonic() - started))
    emu = Emulator()
    counter = CallCounter()
    if watching == "narrow rule":
        emu.on("openat")(deny("/etc/hostname"))
    else:
        emu.observe(counter)
    result = emu.run(["sh", "-c", LOOP], env=env, capture_output=True, timeout=timeout)
    assert (native.returncode, native.stdout, native.stderr) == (3, "done\n", "")
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"done\n", b"")
    assert result.processes == 302  # sh, seq and 300 true
    if watching != "narrow rule":
        # Every process was seen from its exec to its end.
        assert counter.finished["execve"] == 302
        assert counter.finished["exit_group"] == 302


@pytest.mark.parametrize("watching", ["narrow rule", "trace of every call"])
def test_a_parallel_make_of_many_small_files(
    env: dict[str, str], watching: str, tmp_path: Path
) -> None:
    """`make -j4` of 16 small C files: compilers, assemblers and linkers started in parallel."""
    if not (Path("/usr/bin/make").exists() and Path("/usr/bin/cc").exists()):
        pytest.skip("make or cc is not installed")
    for index in range(16):
        (tmp_path / f"f{index}.c").write_text(f"int f{index}(void) {{ return {index}; }}\n")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    objects = " ".join(f"f{i}.o" for i in range(16))
    (tmp_path / "Makefile").write_text(f"prog: main.o {objects}\n\tcc -o prog main.o {objects}\n")
    emu = Emulator()
    if watching == "narrow rule":
        emu.on("openat")(deny("/etc/hostname"))
    else:
        trace(emu.handlers, open(os.devnull, "w"))  # noqa: SIM115 (closed with the process)
    result = emu.run(
        ["make", "-j4", "-s"], cwd=str(tmp_path), env=env, capture_output=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "prog").exists()
    assert subprocess.run([str(tmp_path / "prog")], check=False).returncode == 0
    assert result.processes > 16 * 3  # cc, cc1, as for each file at least


# 2. 200 threads on one intercepted call.
@pytest.mark.parametrize("decision", ["emulate", "pass and replace the result"])
def test_200_threads_all_see_the_handlers_value(
    programs: Programs, env: dict[str, str], decision: str
) -> None:
    emu = Emulator()

    @emu.on("getpid")
    def fake(call: Call) -> Decision:
        if decision == "emulate":
            return call.emulate(4242)
        return call.observe(lambda result: 4242)  # the kernel runs it; we replace its result

    result = emu.run([programs.rel_threads, "200", "50", "4242"], env=env, capture_output=True,
                     timeout=RUN_TIMEOUT)  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, b"threads=200 calls=10000 wrong=0\n")
    assert result.threads == 201
    stats = result.stats["getpid"]
    assert (stats.emulated if decision == "emulate" else stats.results_seen) == 10000


# 3. A signal storm on a blocked, intercepted read.
class SignalCounter(Observer):
    wants_results = False

    def __init__(self) -> None:
        self.delivered: Counter[int] = Counter()

    def signal_delivered(self, tid: int, signal: int) -> None:
        self.delivered[signal] += 1


@pytest.mark.parametrize(("mode", "sent"), [("ack", 3000), ("blast", 5000)])
def test_a_signal_storm_on_a_blocked_intercepted_read(
    programs: Programs, env: dict[str, str], mode: str, sent: int
) -> None:
    emu = Emulator()
    decided: Counter[int] = Counter()
    results: list[int] = []
    signals = SignalCounter()
    emu.observe(signals, [])

    root: list[int] = []  # the first reader is the program, reading its libraries

    @emu.on("read")
    def watch(call: Call) -> Decision:
        root[:] = root or [call.tid]
        decided[call.tid] += 1
        return call.observe(lambda result: results.append(result.value))

    code, out, err = run(emu, [programs.rel_signal_storm, str(sent), mode], env)
    assert code == 0, err
    counted, read, data, child = (field.split("=")[1] for field in out.split())
    assert (read, data, child) == ("4", "done", "0")
    if mode == "ack":  # one at a time: every signal is delivered and counted
        assert int(counted) == sent == signals.delivered[signal.SIGUSR1]
        # The parent's read was interrupted, restarted and decided again, many times (not
        # once per signal: one can arrive while the handler for the last one still runs).
        assert decided[root[0]] > sent // 10
    else:  # pending signals merge, as natively
        assert 1 <= int(counted) <= sent
        assert int(counted) == signals.delivered[signal.SIGUSR1]
    assert not [value for value in results if -516 <= value <= -512]  # never -ERESTART*


# 4. vfork chains.
def test_a_chain_of_vforks_and_execs(programs: Programs, env: dict[str, str]) -> None:
    emu = Emulator()
    emu.on("openat")(deny("/etc/hostname"))

    @emu.on("getpid")
    def fake(call: Call) -> Decision:
        return call.emulate(4242)

    code, out, err = run(emu, [programs.rel_vfork_chain, "6", "/etc/hostname"], env)
    assert code == 6, err  # each level adds one to its child's status
    lines = out.splitlines()
    assert lines[0] == "level 0 getpid=4242 open=EACCES"
    assert lines[1:] == [
        f"level {level} getpid=4242 child_getpid=4242 open=EACCES child_status={level - 1}"
        for level in range(1, 7)
    ]


# 5. Threads that exit, or exec, while another thread is in a call.
class Finishes(Observer):
    """Records (name, tid, result value or None) of finished calls, and exec events."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, int, int | None]] = []
        self.execs: list[tuple[int, int]] = []

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        self.finished.append((call.name, call.tid, None if result is None else result.value))

    def exec_done(self, tid: int, former_tid: int) -> None:
        self.execs.append((tid, former_tid))


def held_getppid(emu: Emulator, seconds: float) -> list[int]:
    """getppid answers 777; its first call is held ``seconds`` in the handler (the tracer
    is busy meanwhile, and the calling thread stopped). Returns the list of the held tid."""
    held: list[int] = []

    @emu.on("getppid")
    def slow(call: Call) -> Decision:
        if not held:
            held.append(call.tid)
            time.sleep(seconds)
        return call.emulate(777)

    return held


@pytest.mark.parametrize(
    ("mode", "status", "expected"),
    [
        ("thread", 0, "other exited while A was in its call\nA got 777\n"),
        ("leader", 3, "leader exits while A is in its call\nA got 777\n"),
        ("group", 5, "exit_group while A is in its call\n"),
    ],
)
def test_a_thread_exits_while_another_is_held_in_a_handler(
    programs: Programs, env: dict[str, str], mode: str, status: int, expected: str
) -> None:
    emu = Emulator()
    held_getppid(emu, 0.2)
    code, out, err = run(emu, [programs.rel_thread_exit, mode], env)
    assert (code, out) == (status, expected), err


@pytest.mark.parametrize(
    ("mode", "first_line"),
    [
        ("main-execs", "execing with a thread in read"),
        ("thread-execs", "execing with a thread in read"),
        ("in-handler", "execing with a thread in getppid"),
    ],
)
def test_exec_while_another_thread_is_mid_call(
    programs: Programs, env: dict[str, str], mode: str, first_line: str
) -> None:
    emu = Emulator()
    finishes = Finishes()
    emu.observe(finishes, ["read", "getppid"])
    held = held_getppid(emu, 0.3)

    @emu.on("read", fd=3)  # the program's pipe (and the loader's reads of libraries)
    def watch(call: Call) -> Decision:
        return call.observe(lambda result: None)  # the thread waits for its exit stop

    @emu.on("getpid")
    def fake(call: Call) -> Decision:
        return call.emulate(4242)

    argv = [programs.rel_exec_mid_call, mode, "/bin/sh", "-c", "echo after exec $$"]
    code, out, err = run(emu, argv, env)
    assert (code, out) == (0, f"{first_line}\nafter exec 4242\n"), err  # still traced
    if mode == "in-handler":
        # The held call is finished once for the observers. (With the handler's answer,
        # though the thread died before it could see it: observers hear of an emulated call
        # while its thread is still stopped, and cannot take it back.)
        assert [f for f in finishes.finished if f[:2] == ("getppid", held[0])] == [
            ("getppid", held[0], 777)
        ]
    else:  # the read the exec interrupted is finished, without a result, for the observers
        assert any(call == "read" and value is None for call, _, value in finishes.finished)
    assert (finishes.execs[-1][0] != finishes.execs[-1][1]) == (mode == "thread-execs")


# 6. A tracee killed from outside while in an intercepted blocking call.
@pytest.mark.parametrize("decision", ["pass", "observe"])
@pytest.mark.parametrize("where", ["child of the root", "the root"])
def test_a_tracee_killed_from_outside_in_an_intercepted_read(
    programs: Programs, env: dict[str, str], tmp_path: Path, decision: str, where: str
) -> None:
    rules = tmp_path / "rules.py"
    answer = "None" if decision == "pass" else "call.observe(lambda result: None)"
    rules.write_text(f"def register(emu):\n    emu.on('read', fd=3)(lambda call: {answer})\n")
    reader = programs.rel_block_read
    command = ["sh", "-c", f"{reader} & wait $!; echo status $?"]
    if where == "the root":
        command = [reader]
    with background(["run", "--rules", str(rules), "--", *command], env) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        pid = int(first.split()[1])
        # In read(2) on its pipe, fd 3: stopped at the filter and resumed.
        assert wait_until(lambda: sleeps_in_read(pid, 3))
        os.kill(pid, signal.SIGKILL)  # from this process: neither sysemu nor its tree
        out, _ = process.communicate(timeout=30)
    if where == "the root":
        assert (process.returncode, out) == (128 + signal.SIGKILL, "")
    else:
        assert (process.returncode, out) == (0, "status 137\n")


# 7. sysemu itself stopped and continued.
def test_stop_and_continue_of_sysemu_itself(env: dict[str, str], tmp_path: Path) -> None:
    progress = tmp_path / "progress"
    script = (
        f"echo started; for i in $(seq 20); do echo $i >> {progress}; /bin/true; sleep 0.03; "
        "done; echo done $$"
    )
    args = ["run", "--rules", str(EXAMPLE_RULES), "--", "sh", "-c", script]
    with background(args, env) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "started\n"
        os.kill(process.pid, signal.SIGSTOP)
        assert wait_until(lambda: state_of(process.pid) == "T")
        # The program cannot get far without its tracer: its next trapped call (the openat
        # of the >>, the loader's), fork or exec waits for it, and so does reaping a child.
        time.sleep(0.1)
        reached = progress.read_text() if progress.exists() else ""
        time.sleep(0.4)
        assert (progress.read_text() if progress.exists() else "") == reached
        assert len(reached.split()) < 20
        os.kill(process.pid, signal.SIGCONT)
        out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (0, "done 4242\n"), err
    assert progress.read_text().split() == [str(i) for i in range(1, 21)]


@pytest.mark.parametrize("backend", ["seccomp", "ptrace", "auto"])
def test_a_handler_time_limit_off_the_main_thread_is_refused_before_anything_runs(
    backend: str,
) -> None:
    """SIGALRM handlers run on the main thread only: a run with ``handler_timeout`` from
    another thread fails with ValueError before it starts the program (it used to start it,
    seized, and leave it unreaped)."""
    emu = Emulator(backend=backend, handler_timeout=1)  # type: ignore[arg-type]
    emu.on("getpid", decides_only=True)(lambda call: None)
    raised: list[BaseException] = []
    before = own_children()

    def run() -> None:
        try:
            emu.run(["true"])
        except BaseException as error:  # (handed to the test's thread)
            raised.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    assert [type(error) for error in raised] == [ValueError]
    assert "main thread" in str(raised[0])
    assert own_children() <= before


@pytest.mark.parametrize("at", ["_started", "_serve"])
def test_an_interrupt_between_spawn_and_the_wait_loop_leaves_nothing(
    at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt right after the program was spawned and seized, before the wait
    loop's own cleanup is in place, must not leave it stopped."""

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Tracer, at, interrupted)
    emu = Emulator()
    emu.on("getpid")(lambda call: None)
    before = own_children()
    with pytest.raises(KeyboardInterrupt):
        emu.run(["sleep", "30"])
    assert own_children() <= before


# Bounded runs: the timeout every test here relies on.
def test_a_timeout_kills_the_whole_tree(env: dict[str, str]) -> None:
    emu = Emulator()
    emu.on("openat")(deny("/etc/hostname"))
    # A background job, an orphan (its parent exits at once) and a foreground sleep.
    script = "sleep 30 & (sleep 31 &); sleep 32"
    started = time.monotonic()
    with pytest.raises(RunTimeoutError) as caught:
        emu.run(["sh", "-c", script], env=env, capture_output=True, timeout=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.result.signal == signal.SIGKILL
    # (The env fixture checks that none of the four processes is left.)


# 8. Hostile programs.
@pytest.fixture
def secret(tmp_path: Path) -> str:
    path = tmp_path / "secret"
    path.write_text("secret\n")
    return str(path)


def hostile(programs: Programs, env: dict[str, str], mode: str, secret: str) -> tuple[int, str]:
    emu = Emulator()
    emu.on("openat")(deny(secret))
    code, out, err = run(emu, [programs.rel_hostile, mode, secret], env)
    assert not err
    return code, out


def test_own_seccomp_filters_and_no_new_privs_do_not_lift_a_deny(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    # Allowing is the weakest action: the kernel still applies sysemu's filter.
    assert hostile(programs, env, "seccomp-allow", secret) == (
        0, "no_new_privs=0\nseccomp=0\nprctl=0\nopen=EACCES\n",
    )  # fmt: skip


def test_own_trace_filter_cannot_shadow_a_deny(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    assert hostile(programs, env, "seccomp-trace", secret) == (
        0, "no_new_privs=0\nseccomp=0\nopen=EACCES\n",
    )  # fmt: skip


def test_own_user_notification_filter_cannot_bypass_a_deny(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    code, out = hostile(programs, env, "seccomp-notify", secret)
    # sysemu's filters refuse a listener of the program's own (SECCOMP_RET_USER_NOTIF would
    # outrank sysemu's SECCOMP_RET_TRACE), so the program never gets to answer "continue".
    assert code == 0
    lines = out.splitlines()
    assert "listener=EPERM" in lines or "open=EACCES" in lines
    assert "open=ok" not in lines


def test_ptrace_traceme_fails_and_the_deny_holds(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    assert hostile(programs, env, "traceme", secret) == (0, "traceme=EPERM\nopen=EACCES\n")


def test_attaching_to_a_traced_child_fails_and_its_deny_holds(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    # A process has one tracer: sysemu already traces the child, so both requests fail.
    assert hostile(programs, env, "attach", secret) == (
        0, "attach=EPERM\nseize=EPERM\nchild open=EACCES\nchild status=0\n",
    )  # fmt: skip


def deny_secret_rules(tmp_path: Path, secret: str) -> Path:
    """A rules file that fails opens of ``secret`` with EACCES (so that a filter exists)."""
    rules = tmp_path / "rules.py"
    rules.write_text(
        "import errno\n"
        "def register(emu):\n"
        f"    emu.on('openat', when=lambda call: call.path == {secret!r})(\n"
        "        lambda call: call.fail(errno.EACCES))\n"
    )
    return rules


def test_a_tracee_cannot_seize_sysemu_itself(
    programs: Programs, env: dict[str, str], secret: str, tmp_path: Path
) -> None:
    rules = deny_secret_rules(tmp_path, secret)
    args = ["run", "--rules", str(rules), "--", programs.rel_hostile, "seize-tracer", secret]
    with background(args, env) as process:  # (killed with SIGKILL on the way out)
        out, err = process.communicate(timeout=5)  # a run of a few milliseconds
    assert (process.returncode, out) == (0, "seize_tracer=EPERM\nopen=EACCES\n"), err


def test_a_tracee_cannot_stop_sysemu(
    programs: Programs, env: dict[str, str], secret: str, tmp_path: Path
) -> None:
    rules = deny_secret_rules(tmp_path, secret)
    args = ["run", "--rules", str(rules), "--", programs.rel_hostile, "signal-tracer", secret]
    with background(args, env) as process:  # (killed with SIGKILL on the way out)
        out, err = process.communicate(timeout=10)  # a stopped sysemu would never answer
    assert (process.returncode, out) == (
        0, "kill_stop=EPERM\nkill_probe=0\ntgkill_stop=EPERM\npidfd_open=EPERM\nopen=EACCES\n",
    ), err  # fmt: skip


@pytest.mark.xfail(
    strict=True,
    reason="BUG: the filters refuse ptrace and process_vm_writev aimed at sysemu, but a tracee "
    "of the same user (or root) still opens /proc/<sysemu>/mem read-write and writes into "
    "sysemu's memory: mem_open=0, mem_write=0 (here the same byte back; it could undo any "
    "rule)",
    raises=AssertionError,
)
def test_a_tracee_cannot_write_the_memory_of_sysemu(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    args = ["run", "--", programs.rel_hostile, "write-tracer", secret]
    with background(args, env) as process:
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "mem_write=0" not in out.splitlines(), out


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping from the bounding set needs root")
def test_without_cap_sys_ptrace_a_root_tracee_cannot_write_the_memory_of_sysemu(
    programs: Programs, env: dict[str, str], secret: str
) -> None:
    """The fix for the bug above, as an option: without CAP_SYS_PTRACE, /proc/<sysemu>/mem
    of a non-dumpable sysemu cannot be opened even by root."""
    args = ["run", "--drop-cap-sys-ptrace", "--", programs.rel_hostile, "write-tracer", secret]
    with background(args, env) as process:
        out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (0, "mem_open=EACCES\n"), err
    args = ["run", "--drop-cap-sys-ptrace", "--", "grep", "^CapBnd", "/proc/self/status"]
    with background(args, env) as process:
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert not int(out.split()[1], 16) & (1 << 19)  # CAP_SYS_PTRACE


X86_EXEC_MODES = ["i386-execve", "i386-execveat", "x32-execve", "x32-execveat"]
EXEC_MODES = [
    "execve", "execveat", "fexecve",
    *(pytest.param(mode, marks=x86_64_only) for mode in X86_EXEC_MODES),
]  # fmt: skip


def deny_exec_after_the_start(emu: Emulator, names: list[str]) -> None:
    """Deny every call of ``names`` but the first: sysemu's own exec of the program."""
    started: list[bool] = []

    @emu.on(names)
    def deny_exec(call: Call) -> Decision | None:
        if not started:
            started.append(True)
            return None
        return call.fail(errno.EACCES)


@pytest.mark.parametrize("mode", EXEC_MODES)
def test_a_rule_on_execve_and_execveat_stops_every_way_to_exec(
    programs: Programs, env: dict[str, str], mode: str
) -> None:
    emu = Emulator()
    deny_exec_after_the_start(emu, ["execve", "execveat"])
    code, out, err = run(emu, [programs.rel_exec_variants, mode, "/bin/echo", "ran"], env)
    assert (code, out) == (1, f"{mode}=-{errno.EACCES}\n"), err


def test_a_rule_on_execve_alone_does_not_cover_execveat(
    programs: Programs, env: dict[str, str]
) -> None:
    """Documented, not a bug: execveat is another system call; a rule must name both. A name
    does cover its call in every ABI (i386 through int $0x80, x32)."""
    outcomes = {}
    x86 = os.uname().machine == "x86_64"
    for mode in ["execve", "execveat", "fexecve", *(X86_EXEC_MODES if x86 else [])]:
        emu = Emulator()
        deny_exec_after_the_start(emu, ["execve"])
        _, out, _ = run(emu, [programs.rel_exec_variants, mode, "/bin/echo", "ran"], env)
        outcomes[mode] = out.strip()
    denied = f"=-{errno.EACCES}"
    assert outcomes["execve"] == "execve" + denied
    assert outcomes["execveat"] == "ran"
    assert outcomes["fexecve"] == "ran"
    if x86:
        assert outcomes["i386-execve"] == "i386-execve" + denied
        assert outcomes["x32-execve"] == "x32-execve" + denied
        assert outcomes["i386-execveat"] == "ran"
    # (x32-execveat is not asked for: it fails with ENOSYS where the kernel has no x32.)


# 9. Memory.
def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


class Lives(Observer):
    """Counts thread starts and ends (no calls)."""

    wants_results = False

    def __init__(self) -> None:
        self.started = self.exited = 0

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        self.started += 1

    def task_exited(self, tid: int, status: int) -> None:
        self.exited += 1


def test_sysemu_memory_does_not_grow_with_the_number_of_processes(env: dict[str, str]) -> None:
    def traced_run(processes: int) -> None:
        emu = Emulator()
        emu.on("openat")(deny("/etc/hostname"))
        lives = Lives()
        emu.observe(lives, [])
        script = f"for i in $(seq {processes}); do /bin/true; done"
        result = emu.run(["sh", "-c", script], env=env, capture_output=True, timeout=RUN_TIMEOUT)
        assert (result.exit_code, result.processes) == (0, processes + 2)
        assert lives.started == lives.exited == processes + 2  # the root starts by "spawn"

    def measure() -> tuple[int, int]:
        gc.collect()
        return rss_kib(), len(gc.get_objects())

    traced_run(50)
    traced_run(50)  # caches, tables and the C accelerator are warm from here on
    rss_50, objects_50 = measure()
    traced_run(500)
    rss_500, objects_500 = measure()
    # A leak of even one Python object per traced process would be 450 objects; a leak in C
    # (the accelerator, ctypes buffers) of ~10 KiB per process would be 4.5 MiB.
    assert objects_500 - objects_50 < 200
    assert rss_500 - rss_50 < 4096, (rss_50, rss_500)


# 10. Fuzzed command lines.
def value(*choices: str) -> st.SearchStrategy[str]:
    """One of ``choices`` (well- and ill-formed values), or short random text."""
    # No surrogates (not encodable in argv), no ":" (it would split a spec), no NUL.
    junk = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=":\0"), max_size=6)
    return st.one_of(st.sampled_from(choices), junk)


# Well-formed pieces. None of them can make a run legitimately hang: no stop signals (nobody
# would continue the program), no long delays.
# Syscall sets, each with the conditions its calls have the arguments for.
PLAIN = ["when=1", "when=2+", "when=1..3", "when=3+2", "pid=root", "pid=!root", "probability=0.5"]
GOOD_SETS = {
    "getpid": PLAIN, "exit_group": PLAIN, "%process": PLAIN, "%memory": PLAIN,
    "/^get": PLAIN, "getpid,getuid": PLAIN, "all": PLAIN, "!getpid": PLAIN,
    "openat": [*PLAIN, "path=*", "path=/etc/*"], "execve": [*PLAIN, "path=*"],
    "%file": [*PLAIN, "path=*"], "read": [*PLAIN, "fd=3", "fdpath=*"],
    "write": [*PLAIN, "fd=1", "fdpath=/dev/*"], "close": [*PLAIN, "fd=3"],
    "%desc": [*PLAIN, "fdpath=*"],
}  # fmt: skip
GOOD_ACTIONS = ["error=EIO", "error=enospc", "error=2", "retval=0", "retval=-1", "retval=0x10",
                "signal=USR1", "signal=TERM", "signal=KILL", "delay_enter=1ms",
                "delay_exit=500us"]  # fmt: skip
GOOD_SPECS = st.sampled_from(sorted(GOOD_SETS)).flatmap(
    lambda syscalls: st.builds(
        lambda action, conditions, after: ":".join(
            [syscalls, action, *conditions] + ["after"] * (after and action[0] in "er")
        ),
        st.sampled_from(GOOD_ACTIONS),
        st.lists(st.sampled_from(GOOD_SETS[syscalls]), max_size=2, unique=True),
        st.booleans(),
    )
)
HANDLERS = ["lambda call: None", "lambda call: call.emulate(7)", "lambda call: call.fail(1)"]
GOOD_RULES = st.one_of(
    st.builds(
        "def register(emu):\n    emu.on({})({})\n".format,
        st.sampled_from(["'getpid'", "'openat'", "['getpid', 'getuid']", "'write'", "1000"]),
        st.sampled_from(HANDLERS),
    ),
    st.builds("def register(emu):\n    emu.inject({!r})\n".format, GOOD_SPECS),
)
GOOD_OPTIONS = st.one_of(
    st.sampled_from([["--stats"], ["--on-error", "fail"], ["--on-error", "pass"],
                     ["--spin-us", "0"], ["--backend", "ptrace"], ["--seed", "7"]]),
    st.tuples(st.just("--inject"), GOOD_SPECS).map(list),
    st.tuples(st.just("--rules"), GOOD_RULES),  # written to a file by the test
)  # fmt: skip
RUNNABLE = st.sampled_from([["true"], ["sh", "-c", "exit 3"]])

# Ill-formed pieces, mixed with well-formed ones.
INJECT_OPTIONS = {
    "error": value("EIO", "enospc", "5", "0", "300", "4096", "-1", "EFOO"),
    "retval": value("0", "-1", "0x10", "x"),
    "signal": st.sampled_from(["USR1", "KILL", "0", "65", "SIGFOO", ""]),
    "delay_enter": st.sampled_from(["1", "1ms", "0", "-1", "1h", "3601s", "x", ""]),
    "delay_exit": st.sampled_from(["500ns", "1.5ms", "", "9999999999999s"]),
    "when": value("1", "2+", "0", "2..1", "65536", "+", "1.."),
    "path": value("*", "", "["),
    "fd": value("0", "1", "-1", "2147483648", "0x10", ""),
    "fdpath": value("*", ""),
    "pid": value("root", "!root", "0", "1,root", ""),
    "probability": value("0.5", "0", "1.5", "nan", "inf", ""),
    "syscall": value("getpid"),
    "bogus": value("1"),
}
ANY_SPECS = st.one_of(
    GOOD_SPECS,
    st.builds(
        lambda syscalls, options, after: ":".join([syscalls, *options] + ["after"] * after),
        st.sampled_from([*sorted(GOOD_SETS), "/[", "getpid,", "nosuch", "%nosuch", "1000", "-1",
                         "stat64", "none", ""]),
        st.lists(
            st.sampled_from(sorted(INJECT_OPTIONS)).flatmap(
                lambda key: INJECT_OPTIONS[key].map(lambda text: f"{key}={text}")
            ),
            max_size=3,
        ),
        st.booleans(),
    ),
    value("::", "getpid:"),
)  # fmt: skip
ANY_RULES = st.one_of(
    GOOD_RULES,
    st.builds(
        "def register(emu):\n    emu.on({})({})\n".format,
        st.sampled_from(["'nosuch'", "'%file'", "-1", "3.5", "None", "''"]),
        st.sampled_from(HANDLERS),
    ),
    st.builds(
        "def register(emu):\n    emu.on('write', {}={})(lambda call: None)\n".format,
        st.sampled_from(["fd", "fdd", "count"]),
        st.sampled_from(["1", "-1", "'x'", "None", "[1]", "2.5"]),
    ),
    st.builds("def register(emu):\n    emu.inject({!r})\n".format, ANY_SPECS),
    st.sampled_from([
        "", "x = 1\n", "register = 3\n", "def register():\n    pass\n", "def register(emu)\n",
        "import no_such_module_here\n", "1 / 0\n", "def register(emu):\n    raise ValueError\n",
        "(" * 300, "-" * 100_000 + "1\n",
    ]),
    st.text(max_size=40),
    st.binary(max_size=40),
)  # fmt: skip
ANY_OPTIONS = st.one_of(
    GOOD_OPTIONS,
    st.sampled_from([["--bogus"], ["-x"], ["--"], ["--st"], ["--json"], ["-y"], ["--trace"]]),
    st.tuples(st.just("--inject"), ANY_SPECS).map(list),
    st.tuples(st.just("--seed"), value("0", "-1", str(2**70))).map(list),
    st.tuples(st.just("--on-error"), value("kill", "fail", "explode")).map(list),
    st.tuples(st.just("--error-errno"), value("EIO", "enospc", "5", "0", "4096")).map(list),
    st.tuples(st.just("--spin-us"), value("0", "20", "-1", "1000000")).map(list),
    st.tuples(st.just("--backend"), value("seccomp", "ptrace")).map(list),
    st.tuples(st.just("--trace"), value("openat", "%file", "!read", "/[", "nosuch")).map(list),
    st.tuples(st.just("-s"), value("0", "32", "-1")).map(list),
    st.tuples(st.just("--rules"), ANY_RULES),
    st.tuples(st.just("--rules"), st.sampled_from(["/no/such.py", "/", "/etc/hostname"])).map(list),
)
ANY_COMMANDS = st.one_of(
    RUNNABLE,
    st.sampled_from([["/no/such/program"], ["no-such-command-here"], [""], ["/etc/hostname"],
                     ["/"], []]),
)  # fmt: skip
# CI runs the same 20 command lines each time (a failure reproduces); for a longer hunt by hand,
# SYSEMU_FUZZ_EXAMPLES=2000 draws that many fresh ones.
FUZZ_EXAMPLES = os.environ.get("SYSEMU_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(FUZZ_EXAMPLES or 20),
    deadline=None,
    derandomize=FUZZ_EXAMPLES is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sysemu_fuzzed(
    options: list[list[str] | tuple[str, str | bytes]], dashes: bool, command: list[str]
) -> subprocess.CompletedProcess[str]:
    """Runs ``sysemu run`` with ``options`` (a ("--rules", contents) pair becomes a file),
    checks the properties every run has, and returns it."""
    token = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as directory:
        args = ["run"]
        for number, option in enumerate(options):
            if isinstance(option, tuple):
                path = Path(directory) / f"rules{number}.py"
                body = option[1]
                path.write_bytes(body if isinstance(body, bytes) else body.encode())
                args += ["--rules", str(path)]
            else:
                args += option
        args += [*(["--"] if dashes else []), *command]
        result = subprocess.run([*SYSEMU, *args], capture_output=True, text=True, cwd=directory,
                                env={**os.environ, TOKEN: token}, timeout=RUN_TIMEOUT,
                                check=False, errors="replace")  # fmt: skip
    assert "Traceback" not in result.stderr, (args, result.stderr)
    mine = [line for line in result.stderr.splitlines() if line.startswith("sysemu: ")]
    if result.returncode == 2:  # bad input: one line, nothing else (the commands never exit 2)
        assert len(mine) == 1 and result.stderr == mine[0] + "\n", (args, result.stderr)
    else:  # a run: sysemu says nothing, or that the program could not be executed (126) or
        # was not found (127)
        assert not mine or (result.returncode in (126, 127) and len(mine) == 1), (
            args,
            result.stderr,
        )
    assert wait_until(lambda: not leftovers(token), 5), leftovers(token)
    return result


@FUZZ
@given(options=st.lists(ANY_OPTIONS, max_size=4), dashes=st.booleans(), command=ANY_COMMANDS)
def test_fuzzed_command_lines_are_one_line_and_exit_2_or_a_run(
    options: list[list[str] | tuple[str, str | bytes]], dashes: bool, command: list[str]
) -> None:
    sysemu_fuzzed(options, dashes, command)


@FUZZ
@given(options=st.lists(GOOD_OPTIONS, max_size=4), command=RUNNABLE)
def test_fuzzed_well_formed_command_lines_run_the_program(
    options: list[list[str] | tuple[str, str | bytes]], command: list[str]
) -> None:
    result = sysemu_fuzzed(options, True, command)
    assert result.returncode != 2, result.stderr  # nothing here is bad input
    if not any(option[0] in ("--inject", "--rules") for option in options):
        assert result.returncode == (0 if command == ["true"] else 3)


# Bugs the fuzzing found (fixed since; each test is the exact case, see RELIABILITY.md).
def sysemu(*args: str, rules: str | None = None) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as directory:
        extra: list[str] = []
        if rules is not None:
            path = Path(directory) / "rules.py"
            path.write_text(rules)
            extra = ["--rules", str(path)]
        return subprocess.run([*SYSEMU, "run", *extra, *args], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)  # fmt: skip


def test_an_injection_into_every_call_runs() -> None:
    result = sysemu("--inject", "all:error=EIO", "--", "true")
    # A filter over every call is too long for rules per call: sysemu then traps everything
    # and finds the routes by number. Every call fails, sysemu's own exec of the program first,
    # and even the exit of its child after that; what remains is a crash, not a hang or a
    # traceback.
    assert "Traceback" not in result.stderr
    assert result.returncode != 0


def test_inject_accepts_every_errno_number_the_grammar_allows() -> None:
    result = sysemu("--inject", "getpid:error=300", "--", "sh", "-c", "echo $$")
    assert (result.returncode, result.stdout) == (0, "-300\n"), result.stderr


def test_inject_refuses_a_retval_no_register_can_hold() -> None:
    result = sysemu("--inject", f"getpid:retval={10**23}", "--", "sh", "-c", "echo $$")
    assert result.returncode == 2 and result.stdout == "", result.stdout


def test_a_when_that_is_not_callable_is_refused_before_anything_runs() -> None:
    rules = "def register(emu):\n    emu.on('getpid', when=3)(lambda call: None)\n"
    result = sysemu("--", "sh", "-c", "echo $$", rules=rules)
    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stdout) == (2, "")


def test_a_raising_when_predicate_is_a_handler_error(env: dict[str, str]) -> None:
    emu = Emulator(on_error="pass", report=lambda error: None)
    emu.on("getpid", when=lambda call: 1 // 0 == 0)(lambda call: call.emulate(4242))
    code, out, _ = run(emu, ["sh", "-c", "echo $$; echo after"], env)
    assert code == 0 and out.endswith("after\n")


def test_a_condition_value_outside_the_arguments_type_is_refused() -> None:
    emu = Emulator()
    with pytest.raises((ValueError, TypeError)):
        emu.on("write", fd=2**32 + 1)(lambda call: call.fail(errno.EIO))


@pytest.mark.parametrize("backend", ["unotify", "seccomp"])
def test_a_filter_that_sends_every_call_still_starts(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A handler set too large for the kernel's filter makes every call stop (or, under
    # unotify, go to the supervisor). The child must hand its listener over without a call
    # that would wait for a supervisor that is not listening yet.
    from sysemu.api import handlers  # noqa: PLC0415

    monkeypatch.setattr(handlers, "MAX_FILTER_INSTRUCTIONS", 0)
    emu = Emulator(backend=backend)  # type: ignore[arg-type]
    emu.on("getppid")(lambda call: call.emulate(4242))
    emu.on("write", fd=99)(lambda call: call.fail(errno.EIO))  # never: fd 1 is written
    result = emu.run(
        [sys.executable, "-c", "import os; print(os.getppid())"], capture_output=True, timeout=60
    )
    assert (result.exit_code, result.stdout) == (0, b"4242\n")
    # The kernel would have kept the write to fd 1 from stopping; here Python tested fd=99.
    assert result.stats is not None and result.stats["write"].stops >= 1
