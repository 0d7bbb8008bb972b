"""The user-notification backend (no ptrace), and what it refuses; the capability probe."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sysemu import Abi, Call, Emulator, HandlerError, Observer, RunTimeoutError
from sysemu.engine import auto, notify
from sysemu.engine.notify import UnsupportedError
from sysemu.kernel import seccomp

from .conftest import Programs, own_children

pytestmark = pytest.mark.skipif(
    not seccomp.has_user_notification(), reason="no seccomp user notification here"
)


def unotify(**options: object) -> Emulator:
    return Emulator(backend="unotify", **options)  # type: ignore[arg-type]


def test_emulate_and_fail_without_ptrace() -> None:
    emu = unotify()

    @emu.on("getpid")
    def fake(call: Call) -> object:
        return call.emulate(4242)

    @emu.on("openat")
    def deny(call: Call) -> object:
        return call.fail(errno.EACCES) if call.path == "/etc/hostname" else None

    result = emu.run(["sh", "-c", "cat /etc/hostname; echo $$"], capture_output=True)
    assert (result.exit_code, result.stdout) == (0, b"4242\n")
    assert b"Permission denied" in (result.stderr or b"")
    assert result.stats["openat"].failed == 1


def test_the_program_is_not_ptraced() -> None:
    emu = unotify()
    emu.on("getppid")(lambda call: None)
    script = "grep TracerPid /proc/self/status"
    result = emu.run(["sh", "-c", script], capture_output=True)
    assert result.stdout == b"TracerPid:\t0\n"  # so gdb or strace can still attach


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="i386 and x32 calls are x86's")
def test_compat_abis_and_experimental_calls(programs: Programs) -> None:
    emu = unotify()
    abis: set[Abi] = set()

    @emu.on("openat")
    def deny(call: Call) -> object:
        if call.path == "/etc/hostname":
            abis.add(call.abi)
            return call.fail(errno.EACCES)
        return None

    result = emu.run([programs.compat_calls, "/etc/hostname"], capture_output=True)
    assert result.stdout == b"x86_64=-13 i386=-13 x32=-13 i386_getpid_is_pid=1\n"
    assert abis == {Abi.X86_64, Abi.I386, Abi.X32}

    emu = unotify()
    emu.on(1000)(lambda call: call.emulate(call.args.arg0 + call.args.arg1))
    result = emu.run([programs.example("experimental_syscall")], capture_output=True)
    assert result.stdout == b"1000(2, 3) = 5\n1001() = -1 Function not implemented\n"


def test_processes_and_threads(programs: Programs) -> None:
    emu = unotify()
    emu.on("getpid")(lambda call: call.emulate(4242))
    result = emu.run([programs.spawners, programs.getpid_loop], capture_output=True)
    lines = (result.stdout or b"").decode().splitlines()
    assert result.exit_code == 0
    assert "fork 4242" in lines and "clone3 4242" in lines and "parent 4242" in lines
    assert lines.count("thread 4242") == 4


def test_kernel_conditions_and_injection() -> None:
    emu = unotify()
    emu.inject("write:fd=2:error=EIO")
    script = (
        "import os\n"
        "os.write(1, b'out\\n')\n"
        "try:\n    os.write(2, b'err\\n')\nexcept OSError as e:\n    print(e.strerror)\n"
    )
    result = emu.run([sys.executable, "-c", script], capture_output=True)
    assert result.stdout == b"out\nInput/output error\n"
    assert result.stats["write"].stops == 1
    assert len(result.injections) == 1


def test_every_outcome_of_a_one_handler_route_is_replied_and_counted() -> None:
    """The loop decides one-handler routes itself and replies late (with the next receive):
    each kind of decision and of handler failure must still reach the program and the stats."""
    reported: list[HandlerError] = []
    emu = unotify(on_error="fail", report=reported.append)
    emu.on("getsid")(lambda call: call.emulate(4242))
    emu.on("getpgid")(lambda call: None)
    emu.on("getpriority")(lambda call: call.emulate(-errno.EPERM))
    emu.on("sched_getscheduler")(lambda call: call.fail("EACCES"))
    emu.on("sched_get_priority_max")(lambda call: 17)  # not a decision

    @emu.on("sched_get_priority_min")
    def broken(call: Call) -> object:
        raise RuntimeError("boom")

    script = (
        "import os\n"
        "def run(f, *a):\n"
        "    try:\n        return f(*a)\n"
        "    except OSError as e:\n        return e.errno\n"
        "print(os.getsid(0), os.getpgid(0) == os.getpgrp(),"
        " run(os.getpriority, os.PRIO_PROCESS, 0), run(os.sched_getscheduler, 0),"
        " run(os.sched_get_priority_max, 0), run(os.sched_get_priority_min, 0))\n"
    )
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True)
    assert (
        result.stdout
        == f"4242 True {errno.EPERM} {errno.EACCES} {errno.EIO} {errno.EIO}\n".encode()
    )
    stats = result.stats
    assert (stats["getsid"].stops, stats["getsid"].emulated) == (1, 1)
    assert stats["getsid"].handler_ns > 0
    assert stats["getpgid"].passed == stats["getpgid"].stops >= 1
    assert (stats["getpriority"].emulated, stats["sched_getscheduler"].failed) == (1, 1)
    for name in ("sched_get_priority_max", "sched_get_priority_min"):
        assert (stats[name].handler_errors, stats[name].failed) == (1, 1)
    causes = sorted(type(error.__cause__).__name__ for error in reported)
    assert causes == ["RuntimeError", "TypeError"]  # 17 is no decision, as everywhere


def test_a_handler_reads_memory_only_while_its_call_waits() -> None:
    """Memory is checked with NOTIF_ID_VALID after each read: during the handler it is
    readable; kept past the reply, the call is gone and a read fails (ESRCH)."""
    emu = unotify()
    kept: list[Call] = []

    @emu.on("openat")
    def look(call: Call) -> object:
        if call.path == "/etc/hostname":
            kept.append(call)
        return None

    result = emu.run(["cat", "/etc/hostname"], capture_output=True)
    assert result.exit_code == 0 and len(kept) == 1
    with pytest.raises(OSError):
        kept[0].read(kept[0].raw[1], 1)


def test_rewrites_are_refused_as_handler_errors() -> None:
    reported: list[HandlerError] = []
    emu = unotify(on_error="fail", report=reported.append)

    @emu.on("openat")
    def redirect(call: Call) -> object:
        if call.path == "/etc/hostname":
            return call.rewrite(filename="/etc/passwd")
        return None

    result = emu.run(["cat", "/etc/hostname"], capture_output=True)
    assert result.exit_code == 1
    assert "cannot carry out Rewrite" in str(reported[0].__cause__)


def test_observers_that_want_results_are_refused_before_running() -> None:
    emu = unotify()
    emu.observe(Observer(), ["getpid"])
    with pytest.raises(UnsupportedError, match="cannot show call results"):
        emu.run(["true"])


def test_a_raising_handler_kills_the_program() -> None:
    emu = unotify()

    @emu.on("getpid")
    def broken(call: Call) -> object:
        raise RuntimeError("boom")

    with pytest.raises(HandlerError) as caught:
        emu.run(["sh", "-c", "echo $$; sleep 30"], capture_output=True)
    assert caught.value.result.signal == 9


# A background job, and an orphan: its parent exits at once, so /proc's parent links no
# longer lead to it from the program (the guardian, a subreaper, becomes its parent).
JOB_AND_ORPHAN = 'sleep 30 & echo $! > {pids}; sh -c "sleep 31 & echo \\$! >> {pids}"; sleep 32'


def test_timeout_kills_the_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    emu = unotify()
    emu.on("getpid")(lambda call: None)
    started = time.monotonic()
    with pytest.raises(RunTimeoutError):
        emu.run(["sh", "-c", JOB_AND_ORPHAN.format(pids=pids)], timeout=1)
    assert time.monotonic() - started < 10
    # Reaped before the run returned, not only killed.
    assert [os.path.exists(f"/proc/{pid}") for pid in pids.read_text().split()] == [False] * 2


def test_a_handler_error_kills_an_orphan_too(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    emu = unotify()

    @emu.on("uname")
    def broken(call: Call) -> object:
        raise RuntimeError("boom")

    script = JOB_AND_ORPHAN.format(pids=pids).replace("sleep 32", "sleep 0.5; uname; sleep 32")
    with pytest.raises(HandlerError):
        emu.run(["sh", "-c", script], capture_output=True, timeout=20)
    assert [os.path.exists(f"/proc/{pid}") for pid in pids.read_text().split()] == [False] * 2


def test_ctrl_c_while_waiting_for_the_listener_ends_the_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt before the loop starts (here, in the listener's receive) must not
    leave the program running without its supervisor."""
    pid_file = tmp_path / "pid"

    def interrupted(*_args: object) -> object:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(notify, "receive_listener", interrupted)
    emu = unotify()
    emu.on("uname")(lambda call: None)  # (a call the shell does not make: nothing waits)
    with pytest.raises(KeyboardInterrupt):
        emu.run(["sh", "-c", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; sleep 30"])
    assert not os.path.exists(f"/proc/{pid_file.read_text().strip()}")


def test_ctrl_c_while_auto_waits_for_the_listener_ends_the_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under auto the program is seized first: interrupted before its loop, sysemu must not
    leave it stopped at its exec, nor leave it at all."""

    def interrupted(*_args: object) -> object:
        time.sleep(0.5)
        raise KeyboardInterrupt

    monkeypatch.setattr(auto, "receive_listener", interrupted)
    emu = Emulator(backend="auto")
    emu.on("uname", decides_only=True)(lambda call: None)
    before = own_children()
    with pytest.raises(KeyboardInterrupt):
        emu.run(["sh", "-c", "sleep 30"])
    assert own_children() <= before


def test_the_program_cannot_signal_its_guardian() -> None:
    """The program's parent is the guardian: a SIGUSR1 (as X servers send their parent) or a
    SIGKILL to it is refused like one to sysemu, and the run goes on as usual."""
    emu = unotify()
    emu.on("getpid")(lambda call: call.emulate(4242))
    script = "kill -USR1 $PPID; echo $?; kill -KILL $PPID; echo $?; kill -0 $PPID; echo $?; exit 3"
    result = emu.run(["sh", "-c", script], capture_output=True, timeout=20)
    assert (result.exit_code, result.stdout) == (3, b"1\n1\n0\n")
    assert b"Operation not permitted" in (result.stderr or b"")


def test_cli_backend_choice() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--backend", "unotify", "--inject",
         "openat:error=ENOENT:path=/etc/hostname", "--", "cat", "/etc/hostname"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "No such file or directory" in result.stderr


def test_auto_mixes_notification_and_ptrace(programs: Programs) -> None:
    emu = Emulator(backend="auto")
    threads: set[str] = set()

    @emu.on("getpid", decides_only=True)
    def fake(call: Call) -> object:
        threads.add(threading.current_thread().name)
        return call.emulate(4242)

    @emu.on("openat")
    def redirect(call: Call) -> object:
        if call.path == "/etc/hostname":
            return call.rewrite(filename="/etc/debian_version")  # needs ptrace
        return None

    script = "cat /etc/hostname; echo $$; grep TracerPid /proc/self/status"
    result = emu.run(["sh", "-c", script], capture_output=True)
    lines = (result.stdout or b"").decode().splitlines()
    assert lines[1] == "4242"
    assert lines[2].startswith("TracerPid:") and lines[2].split()[1] != "0"  # ptraced too
    assert lines[0] == Path("/etc/debian_version").read_text().strip()
    assert result.stats["openat"].rewritten == 1 and result.stats["getpid"].emulated == 1
    assert threads == {"sysemu notifications"}  # answered through user notification


def test_auto_follows_processes_and_kills_on_handler_errors(programs: Programs) -> None:
    emu = Emulator(backend="auto")
    emu.on("getpid", decides_only=True)(lambda call: call.emulate(4242))
    result = emu.run([programs.spawners, programs.getpid_loop], capture_output=True)
    lines = (result.stdout or b"").decode().splitlines()
    assert "fork 4242" in lines and lines.count("thread 4242") == 4
    assert result.processes >= 4  # ptrace followed the tree

    emu = Emulator(backend="auto")

    @emu.on("getpid", decides_only=True)
    def broken(call: Call) -> object:
        raise RuntimeError("boom")

    with pytest.raises(HandlerError):
        emu.run(["sh", "-c", "echo $$; sleep 30"], capture_output=True, timeout=20)


def test_auto_injection_rides_notification() -> None:
    emu = Emulator(backend="auto")
    emu.inject("openat:error=ENOENT:path=/etc/hostname")
    result = emu.run(["cat", "/etc/hostname"], capture_output=True)
    assert result.exit_code == 1 and len(result.injections) == 1


@pytest.mark.parametrize(
    ("backend", "on_behalf"),
    [("unotify", True), ("auto", True), ("seccomp", True), ("ptrace", True), ("seccomp", False)],
)
def test_open_on_behalf_is_immune_to_a_path_rewritten_after_the_check(
    backend: str, on_behalf: bool, tmp_path: Path, programs: Programs
) -> None:
    """A second thread flips the path between "allowed" and "secret" while the first thread
    opens it: a pass-through decided on the path can be raced, the open on behalf cannot."""
    allowed = tmp_path / "allowed"
    secret = tmp_path / "secret"
    allowed.write_text("fine\n")
    secret.write_text("SECRET\n")
    emu = Emulator(backend=backend)

    @emu.on("openat", decides_only=True)
    def only_allowed(call: Call) -> object:
        path = call.path or ""
        if not path.startswith(str(tmp_path)):
            return None  # the program's own start-up
        if path == str(allowed):
            # A policy that takes a while (as real ones do) makes the window wide enough for
            # the race to show every time. sysemu opens what it checked; passing instead lets
            # the kernel read the path again, after the check, when the other thread may have
            # changed it.
            time.sleep(0.0003)
            return call.open_file() if on_behalf else None
        return call.fail(errno.EACCES)  # the secret, or a path read half-flipped

    result = emu.run(
        [programs.race_open, str(allowed), str(secret), "2000"], capture_output=True, timeout=60
    )
    assert result.exit_code == 0, result.stderr
    leaked = int(result.stdout or b"0")
    if on_behalf:
        assert leaked == 0  # never the secret
    else:
        assert leaked > 0  # the time-of-check/time-of-use race, shown


@pytest.mark.parametrize("backend", ["unotify", "auto"])
def test_a_run_on_kernels_without_wait_killable_recv(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Before Linux 5.19 the filter flag WAIT_KILLABLE_RECV is refused (EINVAL), which is
    asked before the program starts: the listener is made without it. The refusal is real:
    the flag is replaced by a bit no kernel knows."""
    monkeypatch.setattr(notify, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1 << 30)
    monkeypatch.setattr(auto, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1 << 30)
    emu = Emulator(backend=backend)  # type: ignore[arg-type]

    @emu.on("getpid", decides_only=True)
    def fake(call: Call) -> object:
        return call.emulate(4242)

    result = emu.run(["sh", "-c", "echo $$"], capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"4242\n"), result.stderr


@pytest.mark.parametrize("backend", ["unotify", "auto"])
def test_open_on_behalf_where_the_kernel_refuses_the_send_flag(
    monkeypatch: pytest.MonkeyPatch, backend: str, tmp_path: Path
) -> None:
    """Linux 5.9 to 5.13 have NOTIF_ADDFD without SECCOMP_ADDFD_FLAG_SEND: the descriptor is
    added, then the reply sent. The refusal is real: the flag is replaced by a bit no kernel
    knows, which the kernel refuses as it refuses SEND before 5.14 (EINVAL)."""
    from sysemu.kernel import unotify  # noqa: PLC0415

    monkeypatch.setattr(unotify, "SECCOMP_ADDFD_FLAG_SEND", 1 << 30)
    wanted = tmp_path / "wanted"
    wanted.write_text("opened by sysemu\n")
    emu = Emulator(backend=backend)  # type: ignore[arg-type]

    @emu.on("openat", decides_only=True)
    def on_behalf(call: Call) -> object:
        return call.open_file() if call.path == str(wanted) else None

    result = emu.run(["cat", str(wanted)], capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"opened by sysemu\n"), result.stderr


def test_unotify_without_the_c_accelerator() -> None:
    """The fcntl versions of NOTIF_RECV/SEND, as a machine without a C compiler runs them."""
    env = {**os.environ, "SYSEMU_NO_SPEEDUPS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--backend", "unotify", "--inject",
         "getpid:retval=4242", "--", "sh", "-c", "echo $$"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "4242\n"), result.stderr


def test_unotify_without_the_c_accelerator_sends_64_bit_patterns(
    programs: Programs, tmp_path: Path
) -> None:
    """An emulated value of 2**63 or more is a bit pattern the program gets as it is, with the
    fcntl version of NOTIF_SEND as with the C one."""
    rules = tmp_path / "big.py"
    rules.write_text(
        "def register(emu):\n    emu.on('getpid')(lambda call: call.emulate(2**63 + 7))\n"
    )
    for speedups in ("", "1"):
        env = {**os.environ, "SYSEMU_NO_SPEEDUPS": speedups}
        result = subprocess.run(
            [sys.executable, "-m", "sysemu", "run", "--backend", "unotify", "--rules", str(rules),
             "--", programs.getpid_loop, "3"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (0, f"{7 - 2**63}\n"), result.stderr


@pytest.mark.parametrize("loops", ["C", "Python"])
def test_auto_runs_the_handlers_one_at_a_time(
    programs: Programs, monkeypatch: pytest.MonkeyPatch, loops: str
) -> None:
    """Under auto a decide-only handler runs on the notification thread and the others on
    the ptrace thread; two program threads make both calls at once, and each handler gives
    the GIL away in the middle. A handler set written for one thread must still see its
    handlers one at a time."""
    from sysemu.kernel import ptrace  # noqa: PLC0415

    if loops == "Python":
        monkeypatch.setattr(ptrace, "serve_seccomp_stops", None)
        monkeypatch.setattr(notify, "serve_in_c", None)
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    def alone(name: str, value: int) -> object:
        def handler(call: Call) -> object:
            inside.append(name)
            if len(inside) > 1:
                overlaps.append(tuple(inside))
            time.sleep(0.0002)  # (releases the GIL: the other thread could run now)
            inside.remove(name)
            return call.emulate(value)

        return handler

    emu = Emulator(backend="auto")
    emu.on("getpid")(alone("getpid", 1))  # may rewrite: ptrace
    emu.on("getppid", decides_only=True)(alone("getppid", 2))  # notification
    result = emu.run([programs.two_calls, "300"], capture_output=True, timeout=60)
    assert result.stdout is not None
    assert (result.exit_code, result.stdout.decode()) == (0, "getpid=300 getppid=300\n")
    assert overlaps == []


def test_auto_takes_its_lock_only_where_the_ptrace_thread_runs_the_users_code() -> None:
    """The lock costs every notification: without handlers or observers of the user's on the
    ptrace thread (or only observers that say they are thread-safe), auto has none."""
    from sysemu.api.handlers import HandlerSet  # noqa: PLC0415
    from sysemu.kernel.arch import host_arch_type  # noqa: PLC0415

    class Counting(Observer):
        thread_safe = True

    def serial(*kinds: str) -> object:
        handlers = HandlerSet()
        handlers.add("getppid", lambda call: None, decides_only=True)
        if "handler" in kinds:
            handlers.add("getpid", lambda call: None)
        if "safe" in kinds:
            handlers.observe(Counting(), [])
        if "observer" in kinds:
            handlers.observe(Observer(), [])
        return auto.NotificationCompanion(handlers.compile(host_arch_type().abis)).serial()

    assert serial() is None
    assert serial("safe") is None
    assert serial("observer") is not None
    assert serial("handler") is not None


@pytest.mark.parametrize("backend", ["unotify", "auto"])
@pytest.mark.parametrize("in_c", [True, False], ids=["c", "python"])
def test_a_run_ends_on_kernels_whose_receive_a_hang_up_does_not_wake(
    monkeypatch: pytest.MonkeyPatch, backend: str, in_c: bool
) -> None:
    """Before Linux 6.6 a blocked NOTIF_RECV stays blocked when the program exits: where
    SYNC_WAKE_UP (6.6) is refused, each receive polls first. Here the refusal is pretended."""
    from sysemu.kernel.unotify import Listener  # noqa: PLC0415

    def refused(listener: Listener) -> bool:
        listener.poll_on_older_kernels()
        return False

    monkeypatch.setattr(Listener, "wake_up_on_caller_cpu", refused)
    if not in_c:
        monkeypatch.setattr(notify, "serve_in_c", None)
    emu = Emulator(backend=backend)  # type: ignore[arg-type]

    @emu.on("getpid", decides_only=True)
    def fake(call: Call) -> object:
        return call.emulate(4242)

    result = emu.run(["sh", "-c", "echo $$; cat /etc/hostname >/dev/null"], timeout=60)
    assert (result.exit_code, result.stats["getpid"].emulated) == (0, 1)
