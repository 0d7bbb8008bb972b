"""Virtual time and repeatable runs, with real programs: ``date``, Python, a static C program,
a 32-bit one, a Go one, ``sleep`` under a rate, absolute timers and ``make``. Each is checked
against the same program run natively, the offset subtracted. Every tracee has a timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from sysemu import Call, Emulator
from sysemu.api.handlers import HandlerSet
from sysemu.tools.time import VirtualClock, parse_time
from sysemu.tools.time.calls import TimeCalls

from .conftest import PROGRAMS, Programs, _build, build_go

# The clock computed inside the program's vDSO (tools/time/inprocess.py) is an x86-64 blob;
# elsewhere the reads stop in sysemu instead, with the same times.
in_vdso_only_on_x86_64 = pytest.mark.skipif(
    os.uname().machine != "x86_64",
    reason="the in-vDSO clock is x86-64 code: on this machine clock reads stop in sysemu",
)

SYSEMU = [sys.executable, "-m", "sysemu"]
Y2030 = 1893456000  # 2030-01-01T00:00:00Z
PTRACE_BACKENDS = ["seccomp", "ptrace", "sysemu", "auto"]
PYTHON_TIME = "import time; print(time.time())"
REPEATABLE = (
    "import random, time, uuid, os; "
    'print(random.random(), time.time(), uuid.uuid4(), os.urandom(8).hex(), hash("x"))'
)


def sysemu(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def native(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def seconds_read(output: str) -> list[float]:
    return [float(word) for word in output.split()]


def assert_shifted(shifted: list[float], real: list[float], offset: float) -> None:
    """The shifted run read the real time plus ``offset``, give or take the runs' distance."""
    assert shifted and len(shifted) == len(real)
    for got, expected in zip(shifted, real, strict=True):
        assert abs(got - offset - expected) < 30, (shifted, real, offset)


@pytest.fixture(scope="module")
def static_clock(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("static") / "clock_reads"
    if not _build(PROGRAMS / "clock_reads.c", path, "-static"):
        pytest.skip("gcc -static does not work here (install libc6-dev)")
    return str(path)


@pytest.fixture(scope="module")
def go_program(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("go")
    (directory / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
        "func main() {\n\tstart := time.Now()\n\ttime.Sleep(2 * time.Second)\n"
        "\tfmt.Println(start.Unix(), time.Since(start).Seconds())\n}\n"
    )
    return build_go(directory, directory / "main.go", "clockgo")


def test_date_reads_the_virtual_time() -> None:
    shifted = run("--time", "2030-01-01T00:00:00Z", "--", "date", "-u", "+%Y-%m-%d %H:%M")
    assert shifted.returncode == 0, shifted.stderr
    assert shifted.stdout.strip() == "2030-01-01 00:00"
    seconds = run("--time", f"@{Y2030}", "--", "date", "+%s")
    assert Y2030 <= int(seconds.stdout) < Y2030 + 30


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return sysemu("run", *args, timeout=timeout)


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_python_time_is_offset_on_every_ptrace_backend(backend: str) -> None:
    before = time.time()
    result = run("--backend", backend, "--time=+3d", "--", sys.executable, "-c", PYTHON_TIME)
    assert result.returncode == 0, result.stderr
    real = seconds_read(native(sys.executable, "-c", PYTHON_TIME))
    assert_shifted(seconds_read(result.stdout), real, 3 * 86400)
    assert seconds_read(result.stdout)[0] > before + 3 * 86400 - 1


def test_dynamic_static_and_32_bit_c_programs_agree(programs: Programs, static_clock: str) -> None:
    for program in (programs.clock_reads, static_clock, programs.m32("clock_reads")):
        result = run("--time", f"@{Y2030}", "--", program)
        assert result.returncode == 0, (program, result.stderr)
        assert_shifted(seconds_read(result.stdout), seconds_read(native(program)),
                       Y2030 - time.time())  # fmt: skip


def test_a_frozen_clock_stands_still(programs: Programs) -> None:
    result = run("--time", f"@{Y2030}", "--time-freeze", "--", programs.m32("clock_reads"))
    assert seconds_read(result.stdout) == [Y2030] * 3


def test_go_reads_the_virtual_time_and_its_sleeps_shrink(go_program: str) -> None:
    started = time.monotonic()
    result = run("--time", f"@{Y2030}", "--time-rate", "10", "--", go_program)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    start, slept = seconds_read(result.stdout)
    assert Y2030 <= start < Y2030 + 30
    assert 1.9 < slept < 4  # Go's monotonic clock says two seconds went by
    assert elapsed < 20  # behaviour, not timing: far from a hang
    in_vdso = run("--stats", "--time", f"@{Y2030}", "--", go_program)  # Go reads the vDSO too
    assert Y2030 <= seconds_read(in_vdso.stdout)[0] < Y2030 + 30
    if os.uname().machine == "x86_64":  # (see in_vdso_only_on_x86_64)
        assert stops_of(in_vdso.stderr, "clock_gettime") == 0


def test_sleep_under_a_rate_takes_a_tenth() -> None:
    started = time.monotonic()
    result = run("--time-rate", "10", "--", "sh", "-c", "date +%s; sleep 5; date +%s")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    before, after = seconds_read(result.stdout)
    assert after - before >= 4  # the program saw about five seconds pass
    assert elapsed < 4.5  # loosely: a tenth of five seconds, plus start-up on a busy machine


def test_timeout_and_python_sleep_under_a_rate() -> None:
    result = run("--time-rate", "20", "--", "timeout", "3", "sleep", "100", timeout=30)
    assert result.returncode == 124
    script = "import time; m = time.monotonic(); time.sleep(2); print(time.monotonic() - m)"
    result = run("--time-rate", "10", "--", sys.executable, "-c", script)
    assert 1.9 < float(result.stdout) < 4


def test_absolute_timers_reach_their_virtual_deadline(programs: Programs) -> None:
    # Without translation the first deadline lies years away from the real clock.
    # Years ahead, a day behind at four times the speed (where a wake-up's latency reads four
    # times as long).
    for clock in (["--time", f"@{Y2030}"], ["--time=-1d", "--time-rate", "4"]):
        result = run(*clock, "--", programs.abs_timer, timeout=30)
        assert result.returncode == 0, result.stderr
        assert all(0.9 < waited < 1.6 for waited in seconds_read(result.stdout)), result.stdout


def test_make_builds_and_finds_its_target_up_to_date(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    (tmp_path / "Makefile").write_text("out: in\n\tcp in out\n")
    (tmp_path / "in").write_text("x\n")
    # A day behind, the files just written lie in the program's future: make warns...
    skewed = run("--time=-1d", "--", "make", "-C", str(tmp_path))
    assert skewed.returncode == 0 and "skew" in skewed.stderr, skewed.stderr
    (tmp_path / "out").unlink()
    # ...unless the file times are read on the program's clock too.
    first = run("--time=-1d", "--time-files", "--", "make", "-C", str(tmp_path))
    assert first.returncode == 0 and "cp in out" in first.stdout, first.stderr
    assert "skew" not in first.stderr and "future" not in first.stderr
    again = run("--time=-1d", "--time-files", "--", "make", "-C", str(tmp_path))
    assert "up to date" in again.stdout and "skew" not in again.stderr


def test_file_times_on_the_virtual_clock(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.write_text("")
    shown = run("--time", f"@{Y2030}", "--time-files", "--", "stat", "-c", "%Y %X %Z", str(fresh))
    assert all(Y2030 - 30 < value <= Y2030 for value in seconds_read(shown.stdout)), shown
    stamped = tmp_path / "stamped"
    script = f"touch -d @{Y2030 + 1000} {stamped}; stat -c %Y {stamped}"
    inside = run("--time", f"@{Y2030}", "--time-files", "--", "sh", "-c", script)
    assert seconds_read(inside.stdout) == [Y2030 + 1000]
    # Stored as the real time it stands for: 1000 s after the real now.
    assert abs(stamped.stat().st_mtime - time.time() - 1000) < 30


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_deterministic_runs_repeat_on_every_ptrace_backend(backend: str) -> None:
    command = ["--", sys.executable, "-c", REPEATABLE]
    lines = [
        run("--backend", backend, "--deterministic", *seed, *command).stdout
        for seed in ([], [], ["--seed", "7"])
    ]
    assert lines[0] and lines[0] == lines[1]
    assert lines[2] and lines[2] != lines[0]


def test_deterministic_devices_and_address_space() -> None:
    script = "head -c 8 /dev/urandom | od -An -tx1; head -1 /proc/self/maps"
    first, second = (run("--deterministic", "--", "sh", "-c", script).stdout for _ in range(2))
    assert first == second and first.strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time", "soon"], "--time: 'soon' is not a time"),
        (["--time-rate", "0"], "--time-rate: must be more than 0"),
        (["--time-rate", "-2"], "--time-rate: must be more than 0"),
        (["--backend", "unotify", "--time=+1d"], "unotify backend cannot fake time"),
        (["--backend", "unotify", "--deterministic"], "unotify backend cannot fake time"),
        (["--time-files"], "--time-files: give the clock too"),
    ],
)
def test_bad_time_options_are_one_line_and_status_2(args: list[str], message: str) -> None:
    result = run(*args, "--", "true")
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_api_clock_steps_by_hand_while_the_program_runs() -> None:
    emu = Emulator()
    clock = VirtualClock(start=Y2030)
    emu.clock = clock

    @emu.on("getppid")
    def step(call: Call) -> None:
        clock.advance(3600)

    script = "import os, time; a = time.time(); os.getppid(); print(a, time.time() - a)"
    result = emu.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    start, stepped = seconds_read(result.stdout.decode())
    assert Y2030 <= start < Y2030 + 30
    assert 3600 <= stepped < 3630


def test_api_takes_any_object_with_now() -> None:
    class Fixed:
        def now(self, clock_id: int) -> float:
            return 1e9 if clock_id == 0 else 5.0

    emu = Emulator()
    emu.clock = Fixed()
    script = "import time; print(time.time(), time.monotonic())"
    result = emu.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert seconds_read(result.stdout.decode()) == [1e9, 5.0]
    with pytest.raises(ValueError, match="unotify"):
        Emulator(backend="unotify").clock = Fixed()


def test_parse_time() -> None:
    assert parse_time("2030-01-01T00:00:00Z") == Y2030
    assert parse_time("2030-01-01") == Y2030
    assert parse_time("@1893456000") == Y2030
    assert parse_time("+3d", now=0) == 3 * 86400
    assert parse_time("-90m", now=10000) == 10000 - 5400
    with pytest.raises(ValueError):
        parse_time("yesterday")
    with pytest.raises(ValueError):
        VirtualClock(rate=0)


def stops_of(stderr: str, name: str) -> int:
    """The stops ``--stats`` counted for ``name`` (0 when it has no row)."""
    for line in stderr.splitlines():
        if line.split()[:1] == [name]:
            return int(line.split()[1])
    return 0


@in_vdso_only_on_x86_64
def test_an_offset_is_computed_in_the_vdso_without_stops(
    programs: Programs, static_clock: str
) -> None:
    for program in (programs.clock_reads, static_clock):
        result = run("--stats", "--time", f"@{Y2030}", "--", program)
        assert Y2030 <= min(seconds_read(result.stdout)) < Y2030 + 30
        for name in ("clock_gettime", "gettimeofday", "time"):
            assert stops_of(result.stderr, name) == 0, result.stderr
    stopped = run("--stats", "--time", f"@{Y2030}", "--time-stop-reads", "--", static_clock)
    assert Y2030 <= min(seconds_read(stopped.stdout)) < Y2030 + 30
    assert stops_of(stopped.stderr, "clock_gettime") == 1


@in_vdso_only_on_x86_64
def test_a_freeze_and_a_rate_are_computed_in_the_vdso_too(static_clock: str) -> None:
    frozen = run("--stats", "--time", f"@{Y2030}", "--time-freeze", "--", static_clock)
    assert seconds_read(frozen.stdout) == [Y2030] * 3
    assert stops_of(frozen.stderr, "clock_gettime") == 0, frozen.stderr
    script = "import time; m = time.monotonic(); time.sleep(1); print(time.monotonic() - m)"
    scaled = run("--stats", "--time-rate", "5", "--", sys.executable, "-c", script)
    assert 0.9 < float(scaled.stdout) < 2.5
    assert stops_of(scaled.stderr, "clock_gettime") == 0, scaled.stderr


def test_forks_keep_the_vdso_offset() -> None:
    # The shell forks date twice; each exec patches its own image again, the forked shell
    # keeps its copy.
    result = run("--time", f"@{Y2030}", "--", "sh", "-c", "date +%s; (date +%s)")
    assert all(Y2030 <= value < Y2030 + 30 for value in seconds_read(result.stdout))


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_a_rate_registers_the_waits_the_machine_has(
    monkeypatch: pytest.MonkeyPatch, machine: str
) -> None:
    """asm-generic machines (aarch64) have no time, select, poll, epoll_wait or alarm: their
    libc reads the clock and waits with the others. ``--time-rate`` once failed there, before
    anything ran, with "unknown syscall 'select' on this machine"."""
    monkeypatch.setattr(os, "uname", lambda: SimpleNamespace(machine=machine))
    handlers = HandlerSet()
    TimeCalls(VirtualClock(rate=10)).install(handlers)
    registered = {registration.syscall.name for registration in handlers._registrations}
    everywhere = {"clock_gettime", "gettimeofday", "nanosleep", "clock_nanosleep", "ppoll",
                  "pselect6", "epoll_pwait", "setitimer", "futex", "timerfd_settime"}  # fmt: skip
    x86_only = {"time", "select", "_newselect", "poll", "epoll_wait", "alarm"}
    assert everywhere <= registered
    if machine == "x86_64":
        assert x86_only <= registered
    else:
        assert not x86_only & registered
