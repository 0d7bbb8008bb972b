"""A decision that holds only its own thread: ``call.delay``, ``call.defer`` and a result
hook's ``Defer``. Every other thread and process of the program runs on meanwhile, on every
ptrace backend; a run killed meanwhile leaves nothing behind."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sysemu import Call, Emulator, Result

PTRACE_BACKENDS = ("seccomp", "ptrace", "sysemu", "auto")
READ_SIZE = 7777  # the held read, told apart by its count (a condition the kernel checks)

# A thread reads READ_SIZE bytes from a pipe that has data; the main thread counts, printing
# each tick with the time, until the reader is done. Natively the read returns at once.
THREADS = textwrap.dedent(f"""
    import os, threading, time
    r, w = os.pipe(); os.write(w, b"x")
    def reader():
        start = time.monotonic()
        os.read(r, {READ_SIZE})
        os.write(1, f"read {{time.monotonic() - start:.3f}} {{time.monotonic()}}\\n".encode())
    thread = threading.Thread(target=reader); thread.start()
    while thread.is_alive():
        os.write(1, f"tick {{time.monotonic()}}\\n".encode()); time.sleep(0.05)
""")

# The same with two processes: the child reads, the parent counts until it exits.
PROCESSES = textwrap.dedent(f"""
    import os, time
    r, w = os.pipe(); os.write(w, b"x")
    child = os.fork()
    if child == 0:
        start = time.monotonic()
        os.read(r, {READ_SIZE})
        os.write(1, f"read {{time.monotonic() - start:.3f}} {{time.monotonic()}}\\n".encode())
        os._exit(0)
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        os.write(1, f"tick {{time.monotonic()}}\\n".encode()); time.sleep(0.05)
""")


def longest_pause_during_the_read(output: bytes) -> tuple[float, float]:
    """How long the held read took, and the longest time within it in which the other thread
    or process printed no tick (from the read's start to the first tick, between ticks, and
    from the last tick to the read's end).

    Natively the ticks come every ~50 ms; in an emulated machine, every ~200 ms. Had the hold
    stopped the whole tree, the pause would be the whole hold."""
    lines = [line.split() for line in output.decode().splitlines()]
    [(_, took, ended)] = [line for line in lines if line[0] == "read"]
    started = float(ended) - float(took)
    moments = [started]
    moments += [float(line[1]) for line in lines if line[0] == "tick"]
    moments = sorted(moment for moment in moments if started <= moment <= float(ended))
    moments.append(float(ended))
    return float(took), max(later - earlier for earlier, later in itertools.pairwise(moments))


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
@pytest.mark.parametrize("program", ["threads", "processes"])
def test_a_delay_holds_only_its_own_thread(backend: str, program: str) -> None:
    emu = Emulator(backend=backend)

    @emu.on("read", count=READ_SIZE)
    def slow(call: Call) -> object:
        return call.delay(1.0)

    script = THREADS if program == "threads" else PROCESSES
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.exit_code == 0, result.stderr
    took, pause = longest_pause_during_the_read(result.stdout)
    assert took >= 1.0
    # The rest of the tree ticked on through the held second.
    assert pause < 0.5
    assert result.stats["read"].passed >= 1


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_a_deferred_call_is_answered_from_another_thread(backend: str) -> None:
    emu = Emulator(backend=backend)
    answered: list[float] = []

    @emu.on("read", count=READ_SIZE)
    def later(call: Call) -> object:
        held = call.defer()

        def answer() -> None:
            answered.append(time.monotonic())
            held.resolve(call.emulate(3))

        # Another thread (a timer here; a test's own logic in general) answers later.
        threading.Timer(0.5, answer).start()
        return held

    script = textwrap.dedent(f"""
        import os
        r, w = os.pipe()
        os.write(w, b"abcdef")
        print(len(os.read(r, {READ_SIZE})), flush=True)
    """)
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    # The emulated read "returned 3" without the kernel reading the pipe's 6 bytes.
    assert result.stdout == b"3\n"
    assert len(answered) == 1
    assert result.stats["read"].emulated == 1


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_a_result_hook_can_defer_its_replacement(backend: str) -> None:
    """A hook's ``Defer`` holds the thread at its exit stop; its resolution replaces the
    result (here after a delay, with the default)."""
    emu = Emulator(backend=backend)

    @emu.on("read", count=READ_SIZE)
    def shorter(call: Call) -> object:
        return call.observe(lambda result: call.defer(timeout=0.3, default=1))  # type: ignore[arg-type,return-value]

    script = textwrap.dedent(f"""
        import os, time
        r, w = os.pipe()
        os.write(w, b"abcdef")
        start = time.monotonic()
        print(len(os.read(r, {READ_SIZE})), time.monotonic() - start >= 0.3, flush=True)
    """)
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"1 True\n"


def test_a_resolution_that_is_no_decision_is_a_handler_error() -> None:
    emu = Emulator(on_error="fail")
    emu.report = None

    @emu.on("read", count=READ_SIZE)
    def wrong(call: Call) -> object:
        return call.defer(timeout=0.01, default="not a decision")

    script = textwrap.dedent(f"""
        import os
        r, w = os.pipe(); os.write(w, b"x")
        try: os.read(r, {READ_SIZE})
        except OSError as error: print(error.errno)
    """)
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"5\n"  # EIO, the on_error errno
    assert "must return a Decision" in str(result.handler_errors[0].__cause__)


def test_a_delay_of_a_result_hook_that_returns_a_result_is_shown_to_observers() -> None:
    seen: list[Result] = []
    emu = Emulator()

    @emu.on("read", count=READ_SIZE)
    def later(call: Call) -> object:
        def hold_a_little(result: Result) -> object:
            seen.append(result)
            return call.defer(0.05, default=None)

        return call.observe(hold_a_little)  # type: ignore[arg-type]

    script = f"import os; r, w = os.pipe(); os.write(w, b'xy')\nprint(len(os.read(r, {READ_SIZE})))"
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"2\n"  # None: the kernel's result stands
    assert [r.value for r in seen] == [2]


def test_unotify_carries_out_a_delay_by_waiting() -> None:
    """Without a per-thread stop, the notification thread waits (documented on Defer)."""
    emu = Emulator(backend="unotify")
    emu.on("read", count=READ_SIZE)(lambda call: call.delay(0.3, then=call.emulate(2)))
    script = textwrap.dedent(f"""
        import os, time
        r, w = os.pipe()
        start = time.monotonic()
        print(len(os.read(r, {READ_SIZE})), time.monotonic() - start >= 0.3)
    """)
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"2 True\n"
    assert result.stats["read"].emulated == 1


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_an_injected_delay_holds_only_its_thread(backend: str) -> None:
    """``--inject 'read:delay_enter=1s:fd=N'`` from the command line: the counting thread runs
    on while the read waits."""
    script = THREADS.replace("r, w = os.pipe()", "r, w = os.pipe(); os.dup2(r, 55); r = 55")
    command = [
        sys.executable,
        "-m",
        "sysemu",
        "run",
        "--backend",
        backend,
        "--inject",
        "read:delay_enter=1s:fd=55",
        "--",
        sys.executable,
        "-S",
        "-c",
        script,
    ]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    took, pause = longest_pause_during_the_read(done.stdout)
    assert took >= 1.0
    assert pause < 0.5


def test_an_entry_delay_without_a_decision_leaves_the_decision_to_later_handlers() -> None:
    """A delay with no opinion of its own (``then=None``) defers to the handlers registered
    after its own: here one that emulates."""
    emu = Emulator()
    emu.on("read", count=READ_SIZE)(lambda call: call.delay(0.1))
    emu.on("read", count=READ_SIZE)(lambda call: call.emulate(4))
    script = f"import os; r, w = os.pipe(); os.write(w, b'x'); print(len(os.read(r, {READ_SIZE})))"
    result = emu.run([sys.executable, "-S", "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"4\n"


KILLED_DURING_A_DELAY = textwrap.dedent(f"""
    import sys
    from sysemu import Emulator
    emu = Emulator(backend=sys.argv[1])
    emu.on("read", count={READ_SIZE})(lambda call: call.delay(60))
    emu.run([sys.executable, "-S", "-c", sys.argv[2]])
""")


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_killing_sysemu_during_a_delay_leaves_no_process(backend: str, tmp_path: Path) -> None:
    """The held thread, the program's other threads and its child all die with sysemu."""
    pids = tmp_path / "pids"
    program = textwrap.dedent(f"""
        import os, threading, time
        r, w = os.pipe(); os.write(w, b"x")
        child = os.fork()
        if child == 0:
            time.sleep(120); os._exit(0)
        threading.Thread(target=lambda: time.sleep(120), daemon=True).start()
        with open({str(pids)!r}, "w") as out:
            out.write(f"{{os.getpid()}} {{child}}")
        os.read(r, {READ_SIZE})
    """)
    sysemu = subprocess.Popen(
        [sys.executable, "-c", KILLED_DURING_A_DELAY, backend, program], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        program_pids = [int(pid) for pid in pids.read_text().split()]
        time.sleep(0.3)  # into the delay
        assert sysemu.poll() is None
        os.kill(sysemu.pid, signal.SIGKILL)
        sysemu.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in program_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in program_pids if _alive(pid)]
    finally:
        if sysemu.poll() is None:
            os.killpg(sysemu.pid, signal.SIGKILL)
            sysemu.wait(timeout=10)


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# A wait for a resolution, again and again on one CPU shared with a busy process: the wait
# is then often preempted between taking its deadline and blocking, as on a slow machine.
STARVED_WAITS = textwrap.dedent("""
    import os, subprocess, sys, time
    from sysemu.engine.holds import Holds
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    # (It spins while its parent lives: a hung wait is killed by the test, and it goes too.)
    spin = f"import os\\nwhile os.getppid() == {os.getpid()}: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    os.sched_setaffinity(busy.pid, {cpu})
    try:
        end = time.monotonic() + 6
        while time.monotonic() < end:
            assert Holds()._next_resolution(2e-6) is None
    finally:
        busy.kill()
""")


def test_a_wait_for_a_resolution_ends_at_its_timeout_on_a_starved_cpu() -> None:
    """The wait loop's wait for a resolution must end at its timeout however late it starts
    blocking. ``queue.SimpleQueue.get`` does not: when it finds its lock free and the queue
    empty (a new queue, or one just emptied), it recomputes what is left of its timeout, and a
    deadline passed by a microsecond or more leaves a negative wait, which means forever. On a
    slow machine (5.10 under TCG) the first wait of a hold did that, and the run hung, its
    timeout ignored: the watchdog killed the program, but the loop that collects the deaths
    was asleep for good."""
    done = subprocess.run(
        [sys.executable, "-c", STARVED_WAITS], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
