"""Attaching to running processes, deciding their calls, and detaching cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from io import StringIO

import pytest

from sysemu import Call, Emulator, RunResult
from sysemu.engine.attach import Attacher, AttachError
from sysemu.kernel import ptrace
from sysemu.tools.trace import TraceObserver

# One write per line whatever the buffering: print() writes the number and the newline apart
# when Python's output is unbuffered (PYTHONUNBUFFERED, as many shells set), together when not.
# SIGUSR2 ends it as its last tick would (its handler is set before anyone attaches): how long
# attaching takes is not known in advance (seconds on an emulated machine), so the tests let it
# run until they are done rather than for a fixed number of ticks.
TICKER = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGUSR2, lambda *_: sys.exit(3))\n"
    "for i in range(int(sys.argv[1])):\n"
    "    os.write(1, b'%d\\n' % os.getpid())\n"
    "    time.sleep(0.02)\n"
    "sys.exit(3)\n"
)


@pytest.fixture(autouse=True, params=["c-loop", "python-loop"])
def wait_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every attach test runs with the C wait loop (where built) and with the Python one."""
    if request.param == "python-loop":
        monkeypatch.setattr(ptrace, "serve_seccomp_stops", None)
    elif ptrace.serve_seccomp_stops is None:
        pytest.skip("the C accelerator is not built")
    return str(request.param)


@pytest.fixture
def ticker() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", TICKER, "100000"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # it runs
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def ends_on_request(ticker: subprocess.Popen[str]) -> int:
    """Ask the (detached) ticker to end (SIGUSR2): its exit status, 3 if it ran on as before."""
    ticker.send_signal(signal.SIGUSR2)
    return ticker.wait(timeout=20)


def traced_by(pid: int) -> int:
    """The process tracing ``pid`` (0: none)."""
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("TracerPid:")).split()[1])


def wait_until_traced(pid: int, tracer: int) -> None:
    """Wait until ``tracer`` traces ``pid``: a slow machine (an emulated one, 10-50x slower)
    may take seconds to start and attach, which a fixed wait would count against the test."""
    deadline = time.monotonic() + 120
    while traced_by(pid) != tracer:
        assert time.monotonic() < deadline, f"{tracer} did not attach to {pid}"
        time.sleep(0.02)


def attach_then_detach(emu: Emulator, pid: int, seconds: float) -> tuple[RunResult, Attacher]:
    """``emu.attach(pid)``, detached ``seconds`` after it attached from a signal handler, as
    the CLI does on Ctrl-C: the run's result and the attacher."""
    holder: dict[str, Attacher] = {}
    previous = signal.signal(signal.SIGUSR1, lambda *_: holder["attacher"].request_detach())

    def later() -> None:
        wait_until_traced(pid, os.getpid())
        time.sleep(seconds)
        os.kill(os.getpid(), signal.SIGUSR1)

    threading.Thread(target=later, daemon=True).start()
    try:
        result = emu.attach(pid, on_ready=lambda a: holder.__setitem__("attacher", a))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    return result, holder["attacher"]


def test_attach_decide_and_detach(ticker: subprocess.Popen[str]) -> None:
    emu = Emulator()
    emu.on("getpid")(lambda call: call.emulate(4242))
    result, attacher = attach_then_detach(emu, ticker.pid, 0.4)
    assert attacher.detached
    assert result.stats["getpid"].emulated >= 3
    assert ticker.stdout is not None
    # Faked while attached only: the lines from the first 4242 on end with its own pid again.
    after = iter(ticker.stdout.readline, "")
    assert "4242\n" in after and str(ticker.pid) in map(str.strip, after)
    assert ends_on_request(ticker) == 3  # it ran on after the detach


def test_a_detach_asked_while_the_wait_loop_polls_is_carried_out(
    ticker: subprocess.Popen[str],
) -> None:
    """A signal that comes while the wait loop polls (stops come faster than its spin budget,
    here 0.2 s, so it never blocks in ``waitpid``) or serves a stop interrupts no wait; its
    handler's detach must be carried out all the same. The C loop ran handlers only when a wait
    was interrupted, so on a slow machine a Ctrl-C was lost while the process kept it busy."""
    emu = Emulator(spin_us=200_000)
    emu.on("uname")(lambda call: None)  # one route the ticker never calls: its calls run on
    ender = threading.Timer(30, ticker.kill)  # a lost detach ends with the ticker instead
    ender.start()
    try:
        _, attacher = attach_then_detach(emu, ticker.pid, 0.3)
    finally:
        ender.cancel()
    assert attacher.detached
    assert ends_on_request(ticker) == 3


def test_attach_until_the_process_exits() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", TICKER, "10"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        emu = Emulator()
        emu.on("getpid")(lambda call: None)
        result = emu.attach(process.pid)
        assert result.exit_code == 3
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_blocked_call_finishes_normally_after_detach() -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); print(sys.stdin.read())"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline() == "ready\n"
        emu = Emulator()
        emu.on("write")(lambda call: None)
        attach_then_detach(emu, reader.pid, 0.3)
        reader.stdin.write("data after detach")
        reader.stdin.close()
        assert reader.stdout.read() == "data after detach\n"
        assert reader.wait(timeout=10) == 0
    finally:
        reader.kill()
        reader.wait(timeout=10)


def test_no_such_process() -> None:
    with pytest.raises(AttachError):
        Emulator().attach(2**22 + 12345)


def attach_then_ctrl_c(*args: str) -> tuple[int, str]:
    """``sysemu attach ARGS... PID`` for a second after it attached, then Ctrl-C (its handler
    is in place before it attaches): its exit status and stderr."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "sysemu", "attach", *args], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_traced(int(args[-1]), cli.pid)
        time.sleep(1.0)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=20)
        return cli.returncode, err
    finally:
        cli.kill()
        cli.wait(timeout=10)


def test_cli_attach_and_ctrl_c(ticker: subprocess.Popen[str]) -> None:
    code, err = attach_then_ctrl_c("--inject", "getpid:retval=77", "--stats", str(ticker.pid))
    assert code == 0
    assert "getpid:retval=77" in err
    assert ends_on_request(ticker) == 3


def test_attach_and_trace(ticker: subprocess.Popen[str], wait_loop: str) -> None:
    """``sysemu attach --trace``: strace -p's job. With the C loop, the C trace writer writes the
    ticker's lines; after the detach the ticker runs on, its calls no longer traced."""
    emu = Emulator()
    stream = StringIO()
    observer = CountingTracer(stream)
    emu.handlers.observe(observer)
    attach_then_detach(emu, ticker.pid, 0.4)
    lines = stream.getvalue().splitlines()
    pid = str(ticker.pid)
    size = len(pid) + 1
    writes = [line for line in lines if line.startswith(f'write(1, "{pid}\\n", {size})')]
    assert len(writes) >= 3 and all(line.endswith(f" = {size}") for line in writes)
    assert any(line.startswith("getpid()") for line in lines)
    # The C loop wrote most lines itself; the Python loop has Python write them all.
    # (clock_nanosleep, a quarter of them here, shows a timespec: Python writes it.)
    assert observer.entered < len(lines) / 2 if wait_loop == "c-loop" else observer.entered > 10
    assert ends_on_request(ticker) == 3  # it ran on after the detach


class CountingTracer(TraceObserver):
    """A tracer that counts the calls the Python tracer decoded."""

    entered = 0

    def call_entered(self, call: Call) -> None:
        self.entered += 1
        super().call_entered(call)


def test_cli_attach_trace_pid(ticker: subprocess.Popen[str]) -> None:
    """``sysemu attach --trace PID``: the pid after --trace, whose set is optional, is the pid
    (as strace users type it); without one, a one-line usage error."""
    code, err = attach_then_ctrl_c("--trace", str(ticker.pid))
    assert code == 0
    assert f'write(1, "{ticker.pid}\\n", ' in err
    assert ends_on_request(ticker) == 3
    missing = subprocess.run(
        [sys.executable, "-m", "sysemu", "attach", "--trace"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr == "sysemu: attach: no PID given (usage: sysemu attach [OPTIONS] PID)\n"


def test_a_handler_time_limit_off_the_main_thread_is_refused_before_seizing(
    ticker: subprocess.Popen[str],
) -> None:
    """SIGALRM handlers run on the main thread only: attaching with ``handler_timeout`` from
    another thread fails with ValueError before any thread of the process is seized (it used
    to seize and stop them, then raise)."""
    emu = Emulator(handler_timeout=1)
    emu.on("getpid")(lambda call: None)
    raised: list[BaseException] = []
    failed, checked = threading.Event(), threading.Event()

    def attach() -> None:
        try:
            emu.attach(ticker.pid)
        except BaseException as error:  # (handed to the test's thread)
            raised.append(error)
        failed.set()
        checked.wait(timeout=30)  # alive: the exit of a tracer thread would detach for it

    worker = threading.Thread(target=attach)
    worker.start()
    try:
        assert failed.wait(timeout=30)
        assert [type(error) for error in raised] == [ValueError]
        with open(f"/proc/{ticker.pid}/status") as status:
            assert "TracerPid:\t0\n" in status.read()
        assert ticker.stdout is not None
        ticker.stdout.readline()  # still running: it goes on printing
    finally:
        checked.set()
        worker.join(timeout=30)
