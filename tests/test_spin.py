"""The Python wait loop's spinning (the C loop's twin, used without the accelerator): it polls
for the next stop while stops come fast, and stops polling for a while when the scheduler
preempts it, as the C loop does (kernel/csrc/ptrace_loop.c)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from sysemu import Emulator
from sysemu.engine import tracer

from .conftest import Programs

STOPS = 2000


def stops_found_by_polling(
    programs: Programs, monkeypatch: pytest.MonkeyPatch, switches: Iterator[int]
) -> int:
    """How many of STOPS dense getpid stops the Python loop found by polling, when its
    thread's count of involuntary switches reads ``switches`` one after another."""
    monkeypatch.setattr(tracer.Tracer, "_c_serve", lambda self: None)
    monkeypatch.setattr(tracer, "_involuntary_switches", lambda: next(switches))
    found = 0
    real_waitpid = os.waitpid

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        nonlocal found
        tid, status = real_waitpid(pid, options)
        found += bool(tid and options & os.WNOHANG)
        return tid, status

    monkeypatch.setattr(os, "waitpid", waitpid)
    emu = Emulator(backend="seccomp", spin_us=200_000)  # polls never run out here
    emu.on("getpid")(lambda call: call.emulate(7))

    result = emu.run([programs.getpid_loop, str(STOPS)], capture_output=True, timeout=60)
    assert (result.exit_code, result.stdout) == (0, b"7\n")
    return found


def test_the_python_loop_polls_while_stops_come_fast(
    programs: Programs, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = stops_found_by_polling(programs, monkeypatch, itertools.repeat(0))
    assert found > STOPS // 2


def test_the_python_loop_stops_polling_when_it_is_preempted(
    programs: Programs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preempted 10 times in every window of spins: after the first window it waits by
    sleeping for the next _SPIN_BACKOFF stops, all the rest of this run."""
    found = stops_found_by_polling(programs, monkeypatch, itertools.count(0, 10))
    assert 0 < found <= tracer._SPIN_WINDOW
