"""Exec hooks and hiding the vDSO: the hook runs before the new image's first instruction,
sees its ABI and auxiliary vector, and hiding ``AT_SYSINFO_EHDR`` makes clock reads stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sysemu import Call, Emulator
from sysemu.abi import Abi, names
from sysemu.abi.abi import machine_abis
from sysemu.api.execs import ExecImage
from sysemu.kernel.auxv import AT_IGNORE, AT_RANDOM, AT_SYSINFO_EHDR
from tests.conftest import PROGRAMS, Programs, _build

PTRACE_BACKENDS = ["seccomp", "ptrace", "sysemu", "auto"]
CLOCK_CALLS = ["clock_gettime", "clock_gettime64", "gettimeofday", "time"]
# What clock_reads's time() is: aarch64 has no time call, its libc asks clock_gettime.
TIME_CALL = "time" if "time" in names(machine_abis()[0]) else "clock_gettime"


def _seen_reads(emu: Emulator, program: str) -> list[str]:
    seen: list[str] = []

    @emu.on(CLOCK_CALLS)
    def note(call: Call) -> None:
        seen.append(call.name)

    result = emu.run([program], capture_output=True, timeout=60)
    assert result.exit_code == 0, result.stderr
    return seen


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_hidden_vdso_makes_every_clock_read_stop(programs: Programs, backend: str) -> None:
    seen = _seen_reads(Emulator(backend=backend, vdso=False), programs.clock_reads)
    assert seen == ["clock_gettime", "gettimeofday", TIME_CALL]


def test_static_and_32_bit_programs_lose_the_vdso_too(programs: Programs, tmp_path: Path) -> None:
    static = tmp_path / "clock_reads.static"
    if not _build(PROGRAMS / "clock_reads.c", static, "-static"):
        pytest.skip("gcc -static does not work here (install libc6-dev)")
    assert _seen_reads(Emulator(vdso=False), str(static)) == [
        "clock_gettime", "gettimeofday", TIME_CALL,
    ]  # fmt: skip
    seen = _seen_reads(Emulator(vdso=False), programs.m32("clock_reads"))
    # i386 glibc reads the clock with clock_gettime64 (gettimeofday and time through it too).
    assert seen and set(seen) <= {"clock_gettime64", "clock_gettime", "gettimeofday", "time"}


def test_with_the_vdso_the_reads_do_not_stop_and_the_run_warns(programs: Programs) -> None:
    emu = Emulator()
    with pytest.warns(RuntimeWarning, match="vDSO"):
        assert _seen_reads(emu, programs.clock_reads) == []
    assert emu.vdso_warning() is not None
    assert Emulator(vdso=False).vdso_warning() is None


def test_exec_hook_sees_the_image_before_it_runs(programs: Programs) -> None:
    emu = Emulator()
    images: list[tuple[int, Abi, list[int]]] = []

    @emu.on_exec
    def look(image: ExecImage) -> None:
        images.append((image.tid, image.abi, [entry.type for entry in image.auxv]))
        image.ignore_aux(AT_SYSINFO_EHDR)
        assert all(entry.type != AT_SYSINFO_EHDR for entry in image.auxv)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = emu.run([programs.clock_reads], capture_output=True, timeout=60)
    assert result.exit_code == 0
    ((_tid, abi, types),) = images
    assert abi is machine_abis()[0] and AT_RANDOM in types and AT_SYSINFO_EHDR in types
    assert AT_IGNORE not in types


def test_a_failing_exec_hook_kills_the_program(programs: Programs) -> None:
    emu = Emulator()

    def broken(image: ExecImage) -> None:
        raise RuntimeError("no")

    emu.on_exec(broken)
    with pytest.raises(Exception, match="execve"):
        emu.run([programs.clock_reads], capture_output=True, timeout=60)


def test_unotify_refuses_exec_hooks() -> None:
    with pytest.raises(ValueError, match="unotify"):
        Emulator(backend="unotify", vdso=False)
    emu = Emulator(backend="unotify")
    emu.on_exec(lambda image: None)
    with pytest.raises(ValueError, match="exec hooks"):
        emu.run(["true"], timeout=60)


CLOCK_RULES = """
def register(emu):
    @emu.on("clock_gettime")
    def look(call):
        return None
"""


@pytest.mark.parametrize("speedups", ["", "1"], ids=["c-loop", "python-loop"])
def test_no_vdso_on_the_command_line_in_both_loops(
    programs: Programs, tmp_path: Path, speedups: str
) -> None:
    rules = tmp_path / "clock_rules.py"
    rules.write_text(CLOCK_RULES)
    env = {**os.environ, "SYSEMU_NO_SPEEDUPS": speedups}
    command = [sys.executable, "-m", "sysemu", "run", "--stats", "--rules", str(rules)]
    hidden = subprocess.run([*command, "--no-vdso", "--", programs.clock_reads], env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    # One read on x86-64; on aarch64 time() is a clock_gettime too (there is no time call).
    reads = 1 if "time" in names(machine_abis()[0]) else 2
    assert re.search(rf"^clock_gettime +{reads} ", hidden.stderr, re.MULTILINE), hidden.stderr
    assert "warning" not in hidden.stderr
    shown = subprocess.run([*command, "--", programs.clock_reads], env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "warning: handlers for clock_gettime will rarely stop" in shown.stderr
    doctor = subprocess.run(
        [sys.executable, "-m", "sysemu", "doctor", "--rules", str(rules)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "handlers for clock_gettime will rarely stop" in doctor.stdout


def test_sweeping_sets_are_not_taken_to_mean_the_vdso_calls() -> None:
    sweeping = Emulator()
    sweeping.inject("!getpid", error="EIO")
    assert sweeping.vdso_warning() is None
    meant = Emulator()
    meant.inject("%clock", error="EIO")
    assert "clock_gettime" in (meant.vdso_warning() or "")
