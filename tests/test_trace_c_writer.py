"""The C trace writer: the C wait loop writes the lines of the calls it can decode itself.

Its lines must be the Python tracer's, byte for byte: each program here is traced once with
the C trace writer and once with the Python tracer alone, and the two traces compared (after
masking what differs from run to run: addresses, random bytes, process ids).
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sysemu import Abi, Emulator
from sysemu.abi import syscall_by_name
from sysemu.abi.abi import machine_abis
from sysemu.abi.classes import parse_syscall_set
from sysemu.api.call import Call
from sysemu.kernel import ptrace
from sysemu.tools.trace import TraceObserver, decoders, decoders_structs, summary_table
from sysemu.tools.trace import c_writer as c_writer_module
from sysemu.tools.trace.context import value_only

from .conftest import Programs, sleeps_in_read

pytestmark = pytest.mark.skipif(
    ptrace.CTraceWriter is None, reason="the C trace writer comes with the C accelerator"
)


class CountingObserver(TraceObserver):
    """A tracer that counts the calls Python decoded at entry and those handed over to it."""

    def __init__(self, stream: io.StringIO, *, native: bool, **options: Any) -> None:
        super().__init__(stream, **options)
        if not native:
            self.c_writer = None
        self.entered = 0
        self.adopted = 0
        self.adopted_names: list[str] = []

    def call_entered(self, call: Call) -> None:
        self.entered += 1
        super().call_entered(call)

    def _adopt_from_c(
        self, call: Call, texts: list[str | None], started: float, shown: int = -1
    ) -> None:
        self.adopted += 1
        self.adopted_names.append(call.name)
        super()._adopt_from_c(call, texts, started, shown)


ADDR_NO_RANDOMIZE = 0x0040000  # personality(2), linux/personality.h


def traced(
    argv: list[str],
    *,
    native: bool,
    options: dict[str, Any] | None = None,
    backend: str = "seccomp",
    **run: object,
) -> tuple[str, CountingObserver]:
    emulator = Emulator(backend=backend)
    if run.pop("fixed_layout", False):
        emulator.handlers.add_personality(ADDR_NO_RANDOMIZE)
    stream = io.StringIO()
    observer = CountingObserver(stream, native=native, **(options or {}))
    emulator.handlers.observe(observer)
    emulator.run(argv, timeout=60, **run)  # type: ignore[arg-type]
    return stream.getvalue(), observer


def masked(text: str) -> str:
    text = re.sub(r"^(\[pid +\d+\] )?\d\d:\d\d:\d\d(\.\d{6})? ", r"\1TIME ", text, flags=re.M)
    text = re.sub(r" <\d+\.\d{6}>$", " <SPENT>", text, flags=re.M)
    text = re.sub(r"0x[0-9a-f]{5,}", "0xADDR", text)
    text = re.sub(r'getrandom\(".*?"', 'getrandom("RANDOM"', text)
    text = re.sub(r"(set_tid_address\(0xADDR\)\s+= )\d+", r"\1PID", text)
    text = re.sub(r"((?:getpid|gettid|getppid)\(\)\s+= )\d+", r"\1PID", text)
    text = re.sub(r"sysinfo\(\{.*?\}\)", "sysinfo({...})", text)  # the machine's load moves
    # Absolute times (a deadline on the monotonic clock, as clock_nanosleep and futex take).
    # The monotonic clock counts from boot: on a machine up for less than 1000 s its seconds
    # have fewer than four digits, so absolute deadlines are also masked by the flag or call.
    text = re.sub(r"\{tv_sec=\d{4,}, tv_nsec=\d+\}", "{tv_sec=S, tv_nsec=N}", text)
    deadline, masked_deadline = r"\{tv_sec=\d+, tv_nsec=\d+\}", "{tv_sec=S, tv_nsec=N}"
    text = re.sub(rf"(TIMER_ABSTIME, ){deadline}", rf"\1{masked_deadline}", text)
    text = re.sub(rf"(\bfutex\([^\n]*){deadline}", rf"\1{masked_deadline}", text)
    text = re.sub(r"(pipe|socket|anon_inode):\[\d+\]", r"\1:[INODE]", text)
    text = re.sub(r"/tmp/#\d+", "/tmp/#INODE", text)  # capture_output's unlinked files
    # The padding before " = " follows the length of the call's text, masked addresses too: a
    # program without PIE has its break at a random place after its data, whose number of digits
    # varies from run to run (Debian's python3.11, in the test machines).
    text = re.sub(r" +(?== )", " ", text)
    if os.uname().machine == "aarch64":
        # ld.so aligns each library to 64 KiB there and unmaps the slack around the address
        # the kernel chose at random: its size, and whether there is any, differ run to run.
        text = re.sub(r"^(\[pid +\d+\] )?munmap\(0xADDR, \d+\)\s+= 0\n", "", text, flags=re.M)
    return re.sub(r"\[pid +\d+\]", "[pid N]", text)


def python_script_traced_alike(script: str) -> tuple[str, CountingObserver]:
    """``python3 -S -c script`` traced natively and by the Python tracer alone: the native
    trace and its observer, once the two traces are checked equal (masked)."""
    argv = [sys.executable, "-S", "-c", script]
    # One layout for both (see test_native_lines_are_the_python_tracers): where Python maps
    # its next arena moved an mmap before or after a getcwd between two runs.
    run = {"capture_output": True, "env": {**os.environ, "PYTHONHASHSEED": "0"}}
    native, fast = traced(argv, native=True, fixed_layout=True, **run)
    python, _ = traced(argv, native=False, fixed_layout=True, **run)
    assert masked(native).splitlines() == masked(python).splitlines()
    return native, fast


@pytest.fixture(scope="module")
def odd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file whose bytes need every kind of escape, an octal one before a digit included."""
    path = tmp_path_factory.mktemp("native") / 'odd bytes "quoted"\t.txt'
    path.write_bytes(b"\x00\x01" + b'7\t\n\r\x0b\x0c"\\' + bytes(range(120, 256)) + b"\x0012")
    return path


# An unlinked file's fd ("(deleted)" under -y), fcntl's F_DUPFD (its result is an fd), a
# timespec (the sleep), signal sets and actions, the working directory, a futex wait that
# times out.
PYTHON_CALLS = """
import fcntl, os, signal, sys, threading, time
os.stat("/"); os.listdir("/"); time.sleep(0.001); os.getcwd()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGRTMIN})
signal.signal(signal.SIGUSR2, lambda *_: None)
lock = threading.Lock(); lock.acquire(); lock.acquire(timeout=0.001)
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
os.unlink(sys.argv[1]); os.write(fd, b"x"); os.fstat(fd)
os.close(fcntl.fcntl(fd, fcntl.F_DUPFD, 10)); os.close(fd)
"""

PROGRAMS = {
    "cat": lambda odd: ["cat", str(odd), "/nonexistent"],
    "tar": lambda odd: ["tar", "cf", "/dev/null", "-C", str(Path(sys.prefix)), "include", "bin"],
    "ls": lambda odd: ["ls", "-la", "/usr/lib", str(odd.parent)],
    "sleep": lambda odd: ["sleep", "0.01"],  # a relative timespec
    "python": lambda odd: [sys.executable, "-S", "-c", PYTHON_CALLS, str(odd.parent / "gone")],
}  # fmt: skip


OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "-y": {"show_fd_paths": True},
    "-tt -T": {"timestamps": 2, "durations": True},
    "-t": {"timestamps": 1},
    "-s 5": {"string_limit": 5},
}


@pytest.mark.parametrize(
    ("options", "backend"),
    [*((name, "seccomp") for name in sorted(OPTIONS)), ("plain", "ptrace"), ("-y", "ptrace")],
)
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_native_lines_are_the_python_tracers(
    program: str, options: str, backend: str, odd_file: Path
) -> None:
    """Both tracers, on the seccomp backend (a filter stops every call) and on the ptrace
    backend (every call stops at entry and exit without one, as attach runs)."""
    argv = PROGRAMS[program](odd_file)
    chosen = OPTIONS[options]
    # The same layout for both runs (one hash seed, no address randomization): when Python
    # maps a new arena follows its dictionaries' sizes and how its arenas happen to align.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    run = {"backend": backend, "capture_output": True, "env": env, "fixed_layout": True}
    native, fast = traced(argv, native=True, options=chosen, **run)
    python, slow = traced(argv, native=False, options=chosen, **run)
    assert masked(native).splitlines() == masked(python).splitlines()
    lines = native.count("\n")
    # Most calls never reached Python (execve, exit_group, rt_sigaction... do).
    assert fast.entered < lines / 3 and slow.entered > lines * 0.9
    assert {name: row[:2] for name, row in fast.summary.items()} == {
        name: row[:2] for name, row in slow.summary.items()
    }


def test_a_decoder_that_fails_shows_the_register(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value-only decoder raising one of the decoder errors shows the raw register in both
    tracers; C asks it once per value and remembers nothing for a failure."""

    @value_only
    def whence(context: object, value: int, index: int) -> str:
        if value == 1:
            raise ValueError("not this one")
        return f"W{value}"

    fd, offset, _ = decoders.SYSCALLS["lseek"]
    monkeypatch.setitem(decoders.SYSCALLS, "lseek", (fd, offset, (whence, decoders.ENTRY)))
    monkeypatch.setattr(decoders, "_SHOWN", {})
    script = "import os; fd = os.open('/dev/null', 0)\nfor w in (0, 1, 1, 0): os.lseek(fd, 7, w)"
    native, fast = python_script_traced_alike(script)
    lines = [line for line in native.splitlines() if line.startswith("lseek(")]
    assert [line.split("=")[0].strip().split(", ", 1)[1] for line in lines[-4:]] == [
        "7, W0)",
        "7, 0x1)",
        "7, 0x1)",
        "7, W0)",
    ]
    assert "lseek" not in fast.adopted_names  # all four written by C


def test_a_structure_that_fails_to_decode_shows_the_pointer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for a structure C reads and Python words (a sigaction): the pointer, in both
    tracers, where a failure used to stop the C trace writer's loop."""

    def broken(data: bytes, abi: Abi = Abi.X86_64) -> str:
        raise ValueError("undecodable")

    memory = dict(c_writer_module._MEMORY)
    memory[decoders_structs.dec_sigaction] = (broken, *memory[decoders_structs.dec_sigaction][1:])
    monkeypatch.setattr(c_writer_module, "_MEMORY", memory)
    monkeypatch.setattr(decoders_structs, "sigaction_text", broken)
    script = "import signal; signal.signal(signal.SIGUSR1, lambda *_: None)"
    native, fast = python_script_traced_alike(script)
    actions = [line for line in native.splitlines() if line.startswith("rt_sigaction(SIGUSR1")]
    assert actions and all("0x" in line and "sa_handler" not in line for line in actions)
    assert "rt_sigaction" not in fast.adopted_names


@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_calls_of_threads_that_overlap(tmp_path: Path, backend: str) -> None:
    """Threads in calls at the same time: the C trace writer writes the interleavings itself
    (``<unfinished ...>``, ``<... resumed>``); no call is lost or written twice."""
    for index in range(4):
        (tmp_path / f"t{index}").write_text("x")
    script = (
        "import os, threading\n"
        "def work(k):\n"
        "    for _ in range(300):\n"
        f"        os.stat('{tmp_path}/t%d' % k)\n"
        "threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
    )
    text, observer = traced([sys.executable, "-S", "-c", script], native=True, backend=backend)
    merged = _merged(text)
    for index in range(4):
        done = [line for line in merged if f'"{tmp_path}/t{index}", {{st_mode=S_IFREG' in line]
        assert len(done) == 300 and all(line.endswith(" = 0") for line in done)
    assert "<unfinished ...>" in text  # the calls did overlap
    assert observer.entered < len(merged) / 4  # and C wrote most of them, interleavings too


# A thread blocked in read while another thread's calls end: read's line is split. (The
# reader waits first, so that its thread's start is over before the read: a read pending when
# Python gets a stop is handed over, and Python writes its halves.)
BLOCKED_READ = """
import os, threading, time
r, w = os.pipe()
def reader():
    time.sleep(0.05)
    os.read(r, 16)
thread = threading.Thread(target=reader)
thread.start(); time.sleep(0.2); os.stat("/"); os.write(w, b"hello"); thread.join()
"""


@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_unfinished_and_resumed_lines_are_the_python_tracers(backend: str) -> None:
    """The split lines C writes read as the Python tracer's: ``read(3,  <unfinished ...>``
    (the arguments known at entry) and ``<... read resumed>"hello", 16) = 5``."""

    def split_read(native: bool) -> tuple[list[str], bool]:
        text, observer = traced(
            [sys.executable, "-S", "-c", BLOCKED_READ], native=native, backend=backend
        )
        lines = masked(text).splitlines()
        split = [line for line in lines if re.search(r"read(\(\d+,  <| resumed)", line)]
        return split, "read" not in observer.adopted_names

    python, _ = split_read(native=False)
    assert python[0].endswith("read(3,  <unfinished ...>"), python
    assert python[1].endswith('<... read resumed>"hello", 16) = 5'), python
    by_c = False
    for _attempt in range(3):  # a loaded machine may still hand the read over: Python's lines
        native, by_c = split_read(native=True)
        assert native == python
        if by_c:
            break
    assert by_c  # C wrote both halves itself, at least once


def _merged(text: str) -> list[str]:
    """The trace's calls, each ``<unfinished ...>`` joined with its ``<... resumed>``."""
    heads: dict[str, str] = {}
    calls = []
    for line in text.splitlines():
        match = re.match(r"\[pid +(\d+)\] (.*)", line)
        tid, body = (match.group(1), match.group(2)) if match else ("", line)
        if body.endswith(" <unfinished ...>"):
            assert tid not in heads, line
            heads[tid] = body.removesuffix(" <unfinished ...>")
        elif body.startswith("<... "):
            if not tid and len(heads) == 1:  # the last thread left: its lines lose the prefix
                tid = next(iter(heads))
            head = heads.pop(tid)
            calls.append(head + body.split(" resumed>", 1)[1])
        else:
            calls.append(body)
    assert not heads
    return calls


def _processes() -> dict[int, tuple[int, str, str]]:
    """Every process's parent, name and state, from /proc/PID/stat."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    text = stat.read()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            state, parent = text[text.rindex(")") + 2 :].split()[:2]
            found[int(entry)] = (int(parent), name, state)
    return found


def _alarm_timeout_once_cat_reads(stop: threading.Event) -> None:
    """Send SIGALRM (its timer's signal) to this process's ``timeout`` child once its ``cat``
    sleeps in ``read(0, ...)`` (state S; a ptrace stop reads t), so that it kills cat then."""
    while not stop.wait(0.02):
        table = _processes()
        for pid, (parent, name, state) in table.items():
            if name != "cat" or state != "S" or table.get(parent, (0, "", ""))[1] != "timeout":
                continue
            if sleeps_in_read(pid, 0):
                os.kill(parent, signal.SIGALRM)
                return


def test_a_call_pending_in_c_when_its_thread_is_killed() -> None:
    """``read`` blocked in the C trace writer, then SIGKILL: Python gets the call and closes its
    line as strace does. (``timeout`` kills cat when the test alarms it, once cat waits in its
    read: a fixed 0.3 s was spent before cat's first read on 5.10 under TCG.)"""
    argv = ["timeout", "-s", "KILL", "120", "cat"]
    read_end, write_end = os.pipe()
    try:
        texts = []
        for native in (True, False):
            stop = threading.Event()
            alarm = threading.Thread(target=_alarm_timeout_once_cat_reads, args=(stop,))
            alarm.start()
            try:
                texts.append(traced(argv, native=native, stdin=read_end)[0])
            finally:
                stop.set()
                alarm.join()
        native, python = texts
    finally:
        os.close(read_end)
        os.close(write_end)
    for text in (native, python):
        assert re.search(r"\[pid +\d+\] read\(0,  <unfinished \.\.\.>", text), text
        assert re.search(r"^(\[pid +\d+\] )?<\.\.\. read resumed>.*\) += \?", text, re.M), text
        assert "+++ killed by SIGKILL +++" in text


def test_lines_are_written_while_the_program_waits(tmp_path: Path) -> None:
    """What the C trace writer collected reaches the file before the program blocks, not when
    its buffer fills or the program ends."""
    out = tmp_path / "trace.txt"
    process = subprocess.Popen(
        [sys.executable, "-m", "sysemu", "run", "--trace", "-o", str(out), "--", "cat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while "fadvise64(0," not in (out.read_text() if out.exists() else ""):
            assert time.monotonic() < deadline, "the lines before cat's read never came"
            time.sleep(0.05)
        assert process.poll() is None  # cat still waits for its input
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=20)
    assert "+++ exited with 0 +++" in out.read_text()


def test_stats_count_the_calls_the_native_trace_wrote(tmp_path: Path) -> None:
    text, observer = traced(["ls", "-l", "/usr"], native=True, capture_output=True)
    table = summary_table(observer.summary)
    written = sum(1 for line in text.splitlines() if line.startswith("newfstatat("))
    row = next(line for line in table.splitlines() if line.endswith(" newfstatat"))
    assert written > 5 and int(row.split()[3]) == written


def test_a_trace_stream_that_fails_does_not_stop_the_program() -> None:
    """A full disk under -o: reported once, and the program runs to its end, as with any
    observer that raises (the C trace writer's writes included)."""
    result = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--trace", "-o", "/dev/full", "--",
         "tar", "cf", "-", "-C", "/usr/include", "linux"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    stderr = result.stderr.decode()
    assert result.returncode == 0 and len(result.stdout) > 100_000, stderr  # the whole archive
    assert stderr.count("raised on call_finished") == 1, stderr
    last = stderr.rstrip().splitlines()[-1]
    assert last == "sysemu: cannot write the trace to /dev/full: [Errno 28] No space left on device"


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_a_read_restarted_after_a_signal_handler(programs: Programs, native: bool) -> None:
    """A read pending in the C trace writer is interrupted (-ERESTARTSYS, handed to Python),
    a SA_RESTART handler runs, and the read enters again. As strace writes it: the
    interrupted attempt ends with ``= ? ERESTARTSYS``, then the signal, then the read again
    with its result."""
    text, _ = traced([programs.restart_read], native=native, capture_output=True)
    calls = [
        line
        for line in _merged(text)
        if (line.startswith("read(3, ") and ", 16)" in line) or line.startswith("--- SIGALRM")
    ]
    assert calls[0].startswith("read(3, 0x"), text
    assert calls[0].endswith("= ? ERESTARTSYS (To be restarted if SA_RESTART is set)"), text
    assert calls[1].startswith("--- SIGALRM {si_signo=SIGALRM"), text
    assert calls[2].startswith('read(3, "hello", 16)') and calls[2].endswith("= 5"), text
    assert len(calls) == 3, text


@pytest.mark.parametrize("backend", ["seccomp", "ptrace"])
def test_a_set_of_calls_is_written_natively_too(backend: str) -> None:
    """``--trace=%file,close``: only those calls stop, and the C trace writer writes them."""
    selected = parse_syscall_set("%file,close")
    native_abi = machine_abis()[0]
    entries = [syscall_by_name(name) for name in sorted(selected.names(native_abi))]
    texts = []
    for native in (True, False):
        emulator = Emulator(backend=backend)
        stream = io.StringIO()
        observer = CountingObserver(stream, native=native)
        emulator.handlers.observe(observer, entries)
        emulator.run(["tar", "cf", "/dev/null", "/usr/include/linux"], capture_output=True)
        texts.append(masked(stream.getvalue()))
        if native:
            assert observer.entered < 5  # execve: the Python tracer's
    lines = texts[0].splitlines()
    assert lines == texts[1].splitlines() and len(lines) > 500
    assert {line.split("(")[0] for line in lines[:-1]} <= {*selected.names(native_abi), "close"}


def test_on_a_terminal_lines_come_as_the_calls_end() -> None:
    """Traced to a terminal, each line is written before the program runs on, so the
    program's own output and the trace interleave as with strace, even when the calls come
    faster than the wait loop would sleep (to a file the C trace writer writes large chunks)."""
    master, slave = pty.openpty()
    writes = "import os\nfor i in range(30): os.write(1, b'w%d\\n' % i)\n"
    process = subprocess.Popen(
        [sys.executable, "-m", "sysemu", "run", "--trace=write", "--",
         sys.executable, "-S", "-c", writes],
        stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        while select.select([master], [], [], 20)[0]:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every writer is gone
                break
            if not data:
                break
            seen += data
    finally:
        os.close(master)
        process.kill()
        process.wait(timeout=10)
    lines = seen.decode().replace("\r\n", "\n").splitlines()
    places = []
    for i in range(30):
        places.append(lines.index(f"w{i}"))
        traced_write = f'write(1, "w{i}\\n"'
        places.append(next(n for n, line in enumerate(lines) if line.startswith(traced_write)))
    assert places == sorted(places), lines


class LinesThroughStream(TraceObserver):
    """A tracer that counts the lines that went through its stream's write()."""

    through_stream = 0

    def _emit(self, text: str) -> None:
        self.through_stream += text.count("\n")
        super()._emit(text)


def test_lines_written_to_a_file_descriptor_directly(tmp_path: Path) -> None:
    """To a line-buffered file, the C trace writer writes its lines to the file descriptor
    itself, not through the stream: in order with the lines the Python tracer writes through
    it, and the same text as through a StringIO. Once
    the stream is closed, lines go through it again (and fail as it does)."""
    argv = ["cat", "/etc/hostname", "/nonexistent/\u00e9"]
    path = tmp_path / "trace.log"
    with open(path, "w", buffering=1, encoding="utf-8") as stream:
        observer = LinesThroughStream(stream)
        emulator = Emulator()
        emulator.handlers.observe(observer)
        emulator.run(argv, timeout=60, capture_output=True)
    expected, _ = traced(argv, native=True, capture_output=True)
    text = path.read_text(encoding="utf-8")
    assert masked(text).splitlines() == masked(expected).splitlines()
    assert text.startswith("execve(") and "/nonexistent/\\303\\251" in text, text
    # (The Python tracer's lines: execve, calls C does not decode, exit_group, the exit.)
    assert 0 < observer.through_stream < len(text.splitlines()) / 4, text
    closed = TraceObserver(open(os.devnull, "w", buffering=1))  # noqa: SIM115 (closed below)
    closed.stream.close()
    emulator = Emulator()
    emulator.handlers.observe(closed)
    result = emulator.run(["true"], timeout=60, capture_output=True)
    assert result.exit_code == 0
