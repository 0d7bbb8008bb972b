"""Signals and ``sysemu run``: the program's signals to its own process group are its own,
signals from outside (a terminal, another process) keep their documented meaning.

Every run is its own session, started as a shell starts a job: sysemu leads its process group,
and the program is in it. "With a terminal", a pty is the session's controlling terminal and
the program's standard streams, so the kernel's terminal signals (Ctrl-C, Ctrl-\\, hang-up)
are real. Each run's whole group is SIGKILLed on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sysemu import Emulator
from sysemu.cli.signals import RunSignals, parent_in_stat, sent_from_the_tree
from sysemu.kernel import seccomp

from .conftest import gone, wait_until

SYSEMU = [sys.executable, "-m", "sysemu", "run"]
BACKENDS = ["seccomp", "ptrace", "sysemu", "unotify", "auto"]
# What the program sends its own group, and then shows it survived.
GROUP_SIGNALS = ["TERM", "HUP", "INT", "QUIT", "USR1"]


def skip_without(backend: str) -> None:
    if backend in ("unotify", "auto") and not seccomp.has_user_notification():
        pytest.skip("no seccomp user notification here")


class Job:
    """A command running as a job of its own: its own session and process group, with a pty
    as controlling terminal and standard streams, or pipes."""

    def __init__(self, argv: list[str], *, terminal: bool) -> None:
        self.master: int | None = None
        # As a shell starts a foreground job: the signals the tests send at their defaults.
        # Started from a background job (`pytest &`) SIGINT and SIGQUIT are ignored, under
        # `nohup` SIGHUP is, and bash cannot trap a signal that was ignored when it started.
        argv = ["env", f"--default-signal={','.join(GROUP_SIGNALS)}", *argv]
        if terminal:
            self.master, slave = pty.openpty()
            # setsid(1) --ctty: a new session whose controlling terminal is the pty on fd 0
            # (it execs in place: the pid stays the job's).
            self.process = subprocess.Popen(
                ["setsid", "--ctty", *argv], stdin=slave, stdout=slave, stderr=slave
            )
            os.close(slave)
        else:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._output = b""

    def read_until(self, wanted: bytes, timeout: float = 30) -> bytes:
        """The output up to and with ``wanted`` (or all there was, at its end or timeout)."""
        deadline = time.monotonic() + timeout
        source = self.master if self.master is not None else self._stdout()
        while wanted not in self._output.replace(b"\r\n", b"\n") and time.monotonic() < deadline:
            if not select.select([source], [], [], 0.1)[0]:
                # A pty's master may miss its EIO when the terminal echoed a key while the
                # last writer went: an exited job with nothing more to read is the end too.
                if self.process.poll() is not None:
                    break
                continue
            try:
                data = os.read(source, 4096)
            except OSError:  # EIO from the pty: every writer is gone
                break
            if not data:
                break
            self._output += data
        return self._output.replace(b"\r\n", b"\n")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """The exit status and the whole output."""
        self.read_until(b"\0never\0", timeout)
        return self.process.wait(timeout=timeout), self.read_until(b"").decode()

    def _stdout(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def hang_up(self) -> None:
        """Close the terminal's master side, as a closed terminal window does."""
        assert self.master is not None
        os.close(self.master)
        self.master = None

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        if self.master is not None:
            os.close(self.master)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def job(argv: list[str], *, terminal: bool) -> Iterator[Job]:
    started = Job(argv, terminal=terminal)
    try:
        yield started
    finally:
        started.close()


def group_kill_script(name: str, *, child: bool) -> str:
    """bash that handles SIG``name``, sends it to its own process group (the ``kill`` builtin
    with 0, or a child process with ``killpg`` of its group by number), and goes on."""
    if child:
        number = int(getattr(signal, f"SIG{name}"))
        send = (
            f"{sys.executable} -S -c 'import os, signal; "
            f"signal.signal({number}, signal.SIG_IGN); os.killpg(os.getpgrp(), {number})'"
        )
    else:
        send = f"kill -s {name} 0"
    return f"trap 'echo got {name}' {name}; {send}; echo still-here"


def run_as_job(argv: list[str], *, terminal: bool) -> tuple[int, str]:
    """The exit status as a shell shows it (128+N for a death by signal N) and the output."""
    with job(argv, terminal=terminal) as started:
        status, output = started.finish()
        return (128 - status if status < 0 else status), output


@pytest.mark.parametrize("terminal", [False, True], ids=["no-terminal", "terminal"])
@pytest.mark.parametrize("name", GROUP_SIGNALS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_the_program_sends_its_own_group_is_its_own(
    backend: str, name: str, terminal: bool
) -> None:
    """``kill -s SIG 0`` reaches the program's handler and sysemu runs on, as natively (where
    the program leads its group alone)."""
    skip_without(backend)
    script = group_kill_script(name, child=False)
    native = run_as_job(["bash", "-c", script], terminal=terminal)
    assert native == (0, f"got {name}\nstill-here\n")
    assert run_as_job([*SYSEMU, "--backend", backend, "--", "bash", "-c", script],
                      terminal=terminal) == native  # fmt: skip


@pytest.mark.parametrize("terminal", [False, True], ids=["no-terminal", "terminal"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killpg_from_a_child_process_is_the_programs_own(backend: str, terminal: bool) -> None:
    """The same sent by another process of the tree, to the group by its number (killpg)."""
    skip_without(backend)
    script = group_kill_script("TERM", child=True)
    native = run_as_job(["bash", "-c", script], terminal=terminal)
    assert native == (0, "got TERM\nstill-here\n")
    assert run_as_job([*SYSEMU, "--backend", backend, "--", "bash", "-c", script],
                      terminal=terminal) == native  # fmt: skip


HANDLES_EVERYTHING = "trap '' TERM HUP USR1 USR2; echo ready $$; exec sleep 30"


@pytest.mark.parametrize(
    ("name", "to_group"),
    [("TERM", True), ("HUP", False), ("HUP", True), ("USR1", False), ("USR2", True)],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_from_outside_ends_the_run(backend: str, name: str, to_group: bool) -> None:
    """Sent by another process to sysemu, or to the whole job (as a shell's ``kill %1``
    does): the program is killed, even one that ignores the signal, and sysemu exits 128+N."""
    skip_without(backend)
    number = getattr(signal, f"SIG{name}")
    with job([*SYSEMU, "--backend", backend, "--", "sh", "-c", HANDLES_EVERYTHING],
             terminal=False) as started:  # fmt: skip
        program = int(started.read_until(b"\n").split()[1])
        if to_group:
            os.killpg(started.process.pid, number)
        else:
            os.kill(started.process.pid, number)
        assert started.process.wait(timeout=20) == 128 + number
        assert wait_until(lambda: gone(program))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_terminal_hang_up_ends_the_run_with_129(backend: str) -> None:
    """The kernel sends SIGHUP to the session's leader (sysemu here) when the terminal goes."""
    skip_without(backend)
    with job([*SYSEMU, "--backend", backend, "--", "sh", "-c", HANDLES_EVERYTHING],
             terminal=True) as started:  # fmt: skip
        program = int(started.read_until(b"\n").split()[1])
        started.hang_up()
        assert started.process.wait(timeout=20) == 128 + signal.SIGHUP
        assert wait_until(lambda: gone(program))


@pytest.mark.parametrize(("key", "name"), [(b"\x03", "INT"), (b"\x1c", "QUIT")])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_terminals_ctrl_c_and_quit_are_for_the_program(
    backend: str, key: bytes, name: str
) -> None:
    """Typed on the terminal, they reach the foreground group: the program dies of them,
    sysemu does not, and reports the program's status."""
    skip_without(backend)
    with job([*SYSEMU, "--backend", backend, "--", "sh", "-c", "echo ready; exec sleep 30"],
             terminal=True) as started:  # fmt: skip
        assert b"ready" in started.read_until(b"ready\n")
        assert started.master is not None
        os.write(started.master, key)
        status, _ = started.finish()
        assert status == 128 + getattr(signal, f"SIG{name}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_script_that_kills_its_group_on_exit_ends_as_natively(backend: str) -> None:
    """``trap 'kill 0' EXIT``, a common way to take background jobs down with a script: its
    sender is gone by the time sysemu could look, and the status is still the program's."""
    skip_without(backend)
    script = "sleep 30 & trap 'kill 0' EXIT; echo done"
    native = run_as_job(["bash", "-c", script], terminal=False)
    assert native == (128 + signal.SIGTERM, "done\n")
    assert run_as_job([*SYSEMU, "--backend", backend, "--", "bash", "-c", script],
                      terminal=False) == native  # fmt: skip


# The program moves to a process group of its own first: the test process is in its group.
SIGNALS_ITS_OWN_GROUP = (
    "import os, signal\n"
    "os.setpgid(0, 0)\n"
    "signal.signal(signal.SIGTERM, lambda *_: None)\n"
    "print(os.getpid(), flush=True)\n"
    "os.killpg(0, signal.SIGTERM)\n"
)


@pytest.mark.parametrize("backend", ["seccomp", "ptrace", "sysemu", "auto"])
def test_a_gone_sender_of_a_group_signal_is_placed_by_its_own_delivery(backend: str) -> None:
    """On the ptrace backends, a process that signals its own group stops for that signal's
    delivery to itself before it can exit: sysemu sees it there, so a sender reaped before
    sysemu's signal thread looks is still known to be the program's."""
    skip_without(backend)
    watched = RunSignals()
    emu = Emulator(backend=backend)
    watched.watch(emu)  # what install() does, without taking the signals
    result = emu.run([sys.executable, "-S", "-c", SIGNALS_ITS_OWN_GROUP],
                     capture_output=True, timeout=60)  # fmt: skip
    assert result.exit_code == 0
    sender = int(result.stdout)
    assert gone(sender)
    assert sent_from_the_tree(sender, os.getpid()) is None  # /proc alone cannot tell
    assert watched.from_the_tree(sender, signal.SIGTERM) is True
    assert watched.from_the_tree(sender, signal.SIGHUP) is None  # not what it sent


def test_senders_are_placed_by_their_ancestry() -> None:
    watched = RunSignals()
    me = os.getpid()
    assert watched.from_the_tree(0, signal.SIGHUP) is False  # the kernel's: a terminal's
    assert watched.from_the_tree(me, signal.SIGTERM) is False  # sysemu's own
    assert watched.from_the_tree(os.getppid(), signal.SIGTERM) is False  # an outsider
    assert watched.from_the_tree(1, signal.SIGTERM) is False  # init, whose parent reads 0
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert watched.from_the_tree(child.pid, signal.SIGTERM) is True  # a descendant
    finally:
        child.kill()
        child.wait()
    assert watched.from_the_tree(child.pid, signal.SIGTERM) is None  # gone, no trace


def test_a_sender_caught_while_it_is_reaped_is_gone_not_an_outsider() -> None:
    """A process being reaped while its stat is read shows parent 0: that is no parent to
    walk up from (a gone sender, placed by its delivery), not a process outside the tree."""
    assert parent_in_stat(b"4242 (sh) Z 4200 4242 4242 0 -1") == 4200
    assert parent_in_stat(b"4242 (a) b) X 0 0 0 0 -1") is None
    assert parent_in_stat(b"4242 (sh") is None


def test_a_sender_that_goes_during_the_walk_is_gone_not_an_outsider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The program (4242) is read while its parent, the unotify backend's guardian (4200),
    lives; then both are reaped before the walk reads the guardian: the walk ends short of
    sysemu, which says nothing about the sender. The same walk with the sender still there
    places it outside."""
    import sysemu.cli.signals as run_signals  # noqa: PLC0415

    alive = {4242: 4200, 4200: os.getpid()}
    reads: list[int] = []

    def parent(pid: int) -> int | None:
        reads.append(pid)
        if pid == 4242 and reads.count(4242) == 1:
            alive.clear()  # both go just after the program's first read
            return 4200
        return alive.get(pid)

    monkeypatch.setattr(run_signals, "_parent", parent)
    monkeypatch.setattr(run_signals, "_tracer", lambda pid: 0)
    assert sent_from_the_tree(4242, os.getpid() + 1) is None
    alive.update({4242: 4200, 4200: 1})
    reads.append(4242)  # (no vanishing this time)
    assert sent_from_the_tree(4242, os.getpid() + 1) is False
