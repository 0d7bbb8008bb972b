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
    programs: Programs,
    monkeypatch: pytest.MonkeyPatch,
    switches: Iterator[int],
    *,
    calls: int = STOPS,
    gap_us: int = 0,
    spin_us: int = 200_000,  # polls never run out on dense stops
) -> int:
    """How many of ``calls`` getpid stops the Python loop found by polling, when its thread's
    count of involuntary switches reads ``switches`` one after another. ``gap_us``: the
    program sleeps that long after every fourth call."""
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
    emu = Emulator(backend="seccomp", spin_us=spin_us)
    emu.on("getpid")(lambda call: call.emulate(7))

    argv = [programs.getpid_loop, str(calls), str(gap_us)]
    result = emu.run(argv, capture_output=True, timeout=60)
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


# Bursts of 4 calls 3 ms apart, polled for up to 1 ms. The first call of a burst comes after a
# poll that ran out, then a sleep; the second ends a short sleep, so the loop polls for the
# third and the fourth, and its poll for the next burst runs out.
BURSTS = 20
BURST_GAP_US = 3000
BURST_SPIN_US = 1000


def stops_found_in_bursts(
    programs: Programs, monkeypatch: pytest.MonkeyPatch, switches: Iterator[int]
) -> int:
    """:func:`stops_found_by_polling` on BURSTS bursts of calls."""
    return stops_found_by_polling(
        programs,
        monkeypatch,
        switches,
        calls=4 * BURSTS,
        gap_us=BURST_GAP_US,
        spin_us=BURST_SPIN_US,
    )


def test_polls_that_run_out_keep_polling_while_the_tracer_has_its_cpu(
    programs: Programs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twice as many polls find their stop as run out, so the misses never stop the
    polling: the third and fourth calls of (nearly) every burst are found."""
    found = stops_found_in_bursts(programs, monkeypatch, itertools.repeat(0))
    assert found >= BURSTS


def test_a_poll_that_runs_out_stops_the_polling_once_the_tracer_was_preempted(
    programs: Programs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preempted 10 times between two reads of the count: the first poll that runs out
    makes the window's contention check at once (it cost its whole budget), and the loop
    sleeps from then on, instead of polling through the rest of a 128-stop window: only
    the first burst's calls are found by polling."""
    found = stops_found_in_bursts(programs, monkeypatch, itertools.count(0, 10))
    assert found <= 4
