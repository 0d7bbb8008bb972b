"""Threads held at a stop by a :class:`~sysemu.api.decisions.Defer`, while the rest runs on.

A held thread simply stays in its ptrace-stop: the kernel keeps it there, and every other
thread of the tree stops and is resumed as usual. What changes is the wait. ``waitpid`` has
no timeout and cannot be woken by another thread of ours, yet a hold ends either at a deadline
or when some thread calls :meth:`Defer.resolve`. So while a thread is held, the wait loop
polls: ``waitpid(WNOHANG)``, then a wait for a resolution, for a while that doubles from
50 µs to 2 ms while nothing happens and starts over after every event. A stop of another
thread is thus collected within 2 ms; one that comes while stops are frequent, within 50 µs.
(A second thread blocked in ``waitpid`` would wake at once, but could take the stops that a
detach or the final reaping waits for in the first.)

This module owns the held threads and that wait; it must not decide about calls: what a
resolution means at an entry or an exit stop is the tracer's (the ``carry_out`` given to
:meth:`Holds.hold`).
"""

from __future__ import annotations

import _thread
import heapq
import itertools
import os
import time
from collections import deque
from collections.abc import Callable

from sysemu.api.decisions import Defer
from sysemu.kernel import ptrace

_FIRST_POLL_S = 50e-6
_LONGEST_POLL_S = 2e-3
_WALL_NOHANG = ptrace.WALL | os.WNOHANG


class Holds:
    """The threads held now, each with what to do once its :class:`Defer` is resolved."""

    def __init__(self) -> None:
        # tid -> (the Defer, what carries out its resolution)
        self._held: dict[int, tuple[Defer, Callable[[object], None]]] = {}
        # (deadline, sequence number, Defer): the number keeps Defers from being compared.
        self._deadlines: list[tuple[float, int, Defer]] = []
        self._sequence = itertools.count()
        # Resolutions, put by any thread; the lock is released when one is put. (Not
        # queue.SimpleQueue: its get(timeout) can wait forever, see _next_resolution.)
        self._resolved: deque[tuple[int, Defer]] = deque()
        self._put = _thread.allocate_lock()
        self._put.acquire()

    def __bool__(self) -> bool:
        return bool(self._held)

    def hold(self, tid: int, defer: Defer, carry_out: Callable[[object], None]) -> None:
        """Keep ``tid`` stopped until ``defer`` is resolved, then call ``carry_out`` with the
        resolution (on the wait loop's thread)."""
        self._held[tid] = (defer, carry_out)
        if defer.timeout is not None:
            deadline = time.monotonic() + defer.timeout
            heapq.heappush(self._deadlines, (deadline, next(self._sequence), defer))
        defer.when_resolved(lambda resolved: self._woken(tid, resolved))

    def forget(self, tid: int) -> None:
        """``tid`` is gone (killed, or its process exec'd): its hold ends unresolved."""
        self._held.pop(tid, None)

    def release_all(self) -> list[int]:
        """End every hold unresolved (the threads are about to be let go); the threads."""
        tids = list(self._held)
        self._held.clear()
        return tids

    def serve(self, dispatch: Callable[[int, int], bool]) -> bool:
        """Collect stops (each handed to ``dispatch``, which returns True to end the loop),
        resolutions and deadlines until no thread is held; True when the wait loop must end
        (``dispatch`` said so, or no traced thread is left)."""
        pause = _FIRST_POLL_S
        while self._held:
            try:
                tid, status = os.waitpid(-1, _WALL_NOHANG)
            except ChildProcessError:
                self._held.clear()
                return True
            if tid:
                pause = _FIRST_POLL_S
                if dispatch(tid, status):
                    return True
                continue
            self._expire()
            resolved = self._next_resolution(min(pause, self._until_next()))
            if resolved is None:
                pause = min(pause * 2, _LONGEST_POLL_S)
                continue
            pause = _FIRST_POLL_S
            held_tid, defer = resolved
            entry = self._held.get(held_tid)
            if entry is None or entry[0] is not defer:
                continue  # the thread died meanwhile, or a resolution came twice
            del self._held[held_tid]
            entry[1](defer.resolution)
        return False

    def _woken(self, tid: int, defer: Defer) -> None:
        """``defer``, holding ``tid``, is resolved (called by the thread that resolved it)."""
        self._resolved.append((tid, defer))
        try:  # noqa: SIM105 (contextlib costs an import)
            self._put.release()
        except RuntimeError:
            pass  # released already: the wait has not taken the previous one yet

    def _next_resolution(self, timeout: float) -> tuple[int, Defer] | None:
        """The next resolution, waiting for one at most ``timeout`` seconds; None if none came.

        A lock's ``acquire(timeout=)`` ends at its deadline however late it starts blocking.
        ``queue.SimpleQueue.get(timeout=)`` does not: finding its lock free and the queue
        empty, it recomputes what is left of its timeout, and a deadline passed by a
        microsecond or more (a preempted thread, a slow machine) leaves a negative wait, which
        means forever; the first wait of a hold then never ended (seen on an emulated 5.10).
        """
        if not self._resolved:
            self._put.acquire(timeout=timeout)  # (a stale release only wakes it early)
        return self._resolved.popleft() if self._resolved else None

    def _until_next(self) -> float:
        if not self._deadlines:
            return _LONGEST_POLL_S
        return max(0.0, self._deadlines[0][0] - time.monotonic())

    def _expire(self) -> None:
        """Resolve every hold whose deadline has passed with its default."""
        now = time.monotonic()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, defer = heapq.heappop(deadlines)
            defer.resolve(defer.default)  # (no-op if resolved already)
