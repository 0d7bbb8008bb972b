"""The time tool's handlers: clock reads answered from the virtual clock, absolute deadlines
translated to real ones, relative waits scaled by the clock's rate.

Each handler reads and writes the time structures in the call's own ABI: an i386 program's
``clock_gettime`` takes a ``struct old_timespec32`` (two 4-byte fields), its
``clock_gettime64`` a ``struct __kernel_timespec`` (two 8-byte fields), and x86-64's and x32's
calls take 8-byte fields. A rewritten wait points at sysemu's copy below the stack pointer, so
the program's own structure is never changed (``select`` then writes the time left there, not
in the program's ``timeval``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from sysemu._typing import TYPE_CHECKING, Protocol
from sysemu.abi import Abi, abis_for_name
from sysemu.api.call import Call
from sysemu.api.conditions import HasBits, In, Ne
from sysemu.api.decisions import Decision, Result
from sysemu.api.handlers import HandlerSet
from sysemu.tools.time.clock import CLOCK_MONOTONIC, CLOCK_REALTIME

if TYPE_CHECKING:
    from typing import Any

    from sysemu.api.routes import Handler

_NS = 1_000_000_000
TIMER_ABSTIME = 1  # clock_nanosleep, timer_settime; TFD_TIMER_ABSTIME has the same value
FUTEX_CLOCK_REALTIME = 256
_FUTEX_CMD = 127  # without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2 = (
    0,
    6,
    9,
    11,
    13,
)
ITIMER_REAL = 0


class Clock(Protocol):
    """What the handlers need of a clock (see :mod:`sysemu.tools.time.clock`)."""

    @property
    def wait_rate(self) -> float:
        """Virtual seconds per real second while the program waits."""
        ...

    def now_ns(self, clock_id: int) -> int:
        """The virtual time of ``clock_id`` in nanoseconds."""
        ...

    def virtual_ids(self) -> tuple[int, ...]:
        """The clock ids whose reads the clock changes."""
        ...


def _wide(call: Call, index: int) -> bool:
    """Whether argument ``index`` points at a time structure of 8-byte fields."""
    if call.abi is not Abi.I386:
        return True
    ctype = call.syscall.params[index].ctype
    return "__kernel_timespec" in ctype or "__kernel_itimerspec" in ctype


def _pair_format(call: Call, index: int) -> struct.Struct:
    return _PAIR64 if _wide(call, index) else _PAIR32


_PAIR64 = struct.Struct("<qq")
_PAIR32 = struct.Struct("<ii")


def _split(ns: int, unit: int) -> tuple[int, int]:
    """(seconds, fraction in ``unit`` per second) of ``ns`` nanoseconds."""
    seconds, rest = divmod(ns, _NS)
    return seconds, rest * unit // _NS


class TimeCalls:
    """The handlers of one clock, registered on a handler set by :meth:`install`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Timers and timerfds by (process, id): the clock each was made on, for their
        # absolute deadlines.
        self._timer_clocks: dict[tuple[int, int], int] = {}
        self._timerfd_clocks: dict[tuple[int, int], int] = {}

    def install(self, handlers: HandlerSet) -> None:
        """Register what the clock needs: reads of the clocks it changes, absolute deadlines
        on them, and (with a rate other than 1) every relative wait."""
        ids = self.clock.virtual_ids()
        scaled = self.clock.wait_rate != 1.0
        monotonic = CLOCK_MONOTONIC in ids

        def add(names: str | list[str], handler: Handler, **options: Any) -> None:
            # Only the calls this machine has: asm-generic ones (aarch64) have no time,
            # select, poll, epoll_wait or alarm; their libc reads the clock and waits with
            # the others.
            present = [name for name in ([names] if isinstance(names, str) else names)
                       if abis_for_name(name)]  # fmt: skip
            if present:
                handlers.add(present, handler, **options)

        # The reads only write the answer and emulate: the auto backend may answer them
        # through user notification, a cheaper stop than ptrace's.
        add(["clock_gettime", "clock_gettime64"], self.clock_gettime, which_clock=In(*ids),
            decides_only=True)  # fmt: skip
        add("gettimeofday", self.gettimeofday, decides_only=True)
        add("time", self.time, decides_only=True)
        sleeps = ["clock_nanosleep", "clock_nanosleep_time64"]
        if scaled:
            add(sleeps, self.clock_nanosleep, needs_ptrace=True)
        else:  # only absolute sleeps on a changed clock
            add(sleeps, self.clock_nanosleep, which_clock=In(*ids), flags=HasBits(TIMER_ABSTIME),
                needs_ptrace=True)  # fmt: skip
        futexes = ["futex", "futex_time64"]
        if scaled or monotonic:
            add(futexes, self.futex, utime=Ne(0), needs_ptrace=True)
        else:
            add(futexes, self.futex, utime=Ne(0), op=HasBits(FUTEX_CLOCK_REALTIME),
                needs_ptrace=True)  # fmt: skip
        add("timer_create", self.timer_create, needs_ptrace=True)
        add("timerfd_create", self.timerfd_create, needs_ptrace=True)
        add(["timer_settime", "timer_settime64"], self.timer_settime, needs_ptrace=True)
        add(["timerfd_settime", "timerfd_settime64"], self.timerfd_settime, needs_ptrace=True)
        if not scaled:
            return
        add("nanosleep", self.nanosleep, needs_ptrace=True)
        add(["poll", "epoll_wait", "epoll_pwait"], self.millisecond_wait, timeout=Ne(0),
            needs_ptrace=True)  # fmt: skip
        add(["ppoll", "ppoll_time64"], self.timespec_wait(2), needs_ptrace=True)
        add(["pselect6", "pselect6_time64"], self.timespec_wait(4), needs_ptrace=True)
        add("epoll_pwait2", self.timespec_wait(3), needs_ptrace=True)
        add(["select", "_newselect"], self.select, needs_ptrace=True)
        add("alarm", self.alarm, seconds=Ne(0), needs_ptrace=True)
        add("setitimer", self.setitimer, which=ITIMER_REAL, needs_ptrace=True)

    # Reads.

    def clock_gettime(self, call: Call) -> Decision | None:
        """``clock_gettime(id, tp)``: the virtual time of ``id``."""
        clock_id, address = call.raw[0], call.raw[1]
        if not address:
            return None  # the kernel's EFAULT
        seconds, nanoseconds = _split(self.clock.now_ns(clock_id), _NS)
        call.write(address, _pair_format(call, 1).pack(seconds, nanoseconds))
        return call.emulate(0)

    def gettimeofday(self, call: Call) -> Decision:
        """``gettimeofday(tv, tz)``: the virtual realtime (the zone as the kernel keeps it:
        none)."""
        tv, tz = call.raw[0], call.raw[1]
        if tv:
            seconds, micros = _split(self.clock.now_ns(CLOCK_REALTIME), 1_000_000)
            call.write(tv, _pair_format(call, 0).pack(seconds, micros))
        if tz:
            call.write(tz, bytes(8))
        return call.emulate(0)

    def time(self, call: Call) -> Decision:
        """``time(tloc)``: the virtual realtime's seconds."""
        seconds = self.clock.now_ns(CLOCK_REALTIME) // _NS
        if call.raw[0]:
            call.write(
                call.raw[0], struct.pack("<q" if call.abi is not Abi.I386 else "<i", seconds)
            )
        return call.emulate(seconds)

    # Translating and scaling.

    def _real_deadline(self, clock_id: int, virtual_ns: int) -> int:
        """The real time of ``clock_id`` at which the virtual clock reads ``virtual_ns``."""
        import time  # noqa: PLC0415 (already loaded: the clock reads it)

        left = virtual_ns - self.clock.now_ns(clock_id)
        return time.clock_gettime_ns(clock_id) + max(0, math.ceil(left / self.clock.wait_rate))

    def _scaled(self, ns: int) -> int:
        return math.ceil(ns / self.clock.wait_rate)

    def _read_pairs(self, call: Call, index: int, count: int) -> list[tuple[int, int]] | None:
        """``count`` (seconds, fraction) pairs at argument ``index``, as nanoseconds (the
        fraction in microseconds for a ``timeval``); None where nothing can be read."""
        address = call.raw[index]
        if not address:
            return None
        pair = _pair_format(call, index)
        try:
            data = call.read(address, pair.size * count)
        except OSError:
            return None
        return [(pair.unpack_from(data, k * pair.size)[0], pair.unpack_from(data, k * pair.size)[1])
                for k in range(count)]  # fmt: skip

    def _pack_ns(self, call: Call, index: int, values: list[int], unit: int = _NS) -> bytes:
        pair = _pair_format(call, index)
        return b"".join(pair.pack(*_split(value, unit)) for value in values)

    def _times(self, call: Call, index: int, count: int, unit: int = _NS) -> list[int] | None:
        pairs = self._read_pairs(call, index, count)
        if pairs is None:
            return None
        return [seconds * _NS + fraction * (_NS // unit) for seconds, fraction in pairs]

    def _rewritten(self, call: Call, index: int, values: list[int], unit: int = _NS) -> Decision:
        """The call with the times at argument ``index`` replaced by ``values``: written over
        the program's own structure for the call's duration, and put back when it returns.
        (A copy below the stack pointer, as a rewrite with bytes makes, needs room there that
        a goroutine's small stack does not always have: Go's sleeps then failed with EFAULT.)
        Where the kernel wrote the structure meanwhile (select's and ppoll's time left), its
        words stay."""
        address = call.raw[index]
        new = self._pack_ns(call, index, values, unit)
        old = call.read(address, len(new))
        call.write(address, new)

        def put_back(_result: Result) -> None:
            if call.read(address, len(new)) == new:
                call.write(address, old)

        return call.pass_through(then=put_back)

    def clock_nanosleep(self, call: Call) -> Decision | None:
        """An absolute sleep on a changed clock ends at the real time the virtual clock
        reaches its deadline; a relative one is scaled."""
        clock_id, flags = call.raw[0], call.raw[1]
        times = self._times(call, 2, 1)
        if times is None:
            return None
        if flags & TIMER_ABSTIME:
            if clock_id not in self.clock.virtual_ids():
                return None
            return self._rewritten(call, 2, [self._real_deadline(clock_id, times[0])])
        return self._rewritten(call, 2, [self._scaled(times[0])])

    def nanosleep(self, call: Call) -> Decision | None:
        """A relative sleep, scaled."""
        times = self._times(call, 0, 1)
        return None if times is None else self._rewritten(call, 0, [self._scaled(times[0])])

    def timespec_wait(self, index: int) -> Callable[[Call], Decision | None]:
        """A handler scaling the relative timeout ``timespec`` at argument ``index``."""

        def scale(call: Call) -> Decision | None:
            times = self._times(call, index, 1)
            return None if times is None else self._rewritten(call, index, [self._scaled(times[0])])

        return scale

    def millisecond_wait(self, call: Call) -> Decision | None:
        """``poll`` and ``epoll_wait``'s millisecond timeouts, scaled (-1 waits for ever)."""
        index = call.syscall.param_index("timeout")
        timeout = call.args.value(index)
        if timeout <= 0:
            return None
        return call.rewrite(timeout=max(1, math.ceil(timeout / self.clock.wait_rate)))

    def select(self, call: Call) -> Decision | None:
        """``select``'s ``timeval``, scaled (not i386's old ``select``, one struct pointer)."""
        if len(call.syscall.params) != 5:
            return None
        times = self._times(call, 4, 1, 1_000_000)
        if times is None:
            return None
        return self._rewritten(call, 4, [self._scaled(times[0])], 1_000_000)

    def alarm(self, call: Call) -> Decision:
        """``alarm(seconds)``, scaled (at least a second: 0 would cancel it)."""
        return call.rewrite(seconds=max(1, round(call.raw[0] / self.clock.wait_rate)))

    def setitimer(self, call: Call) -> Decision | None:
        """``ITIMER_REAL``'s interval and value, scaled."""
        times = self._times(call, 1, 2, 1_000_000)
        if times is None:
            return None
        return self._rewritten(call, 1, [self._scaled(t) for t in times], 1_000_000)

    def futex(self, call: Call) -> Decision | None:
        """A futex wait's timeout: relative for ``FUTEX_WAIT`` (scaled), absolute for the
        others, on the realtime clock with ``FUTEX_CLOCK_REALTIME`` (translated)."""
        op = call.raw[1]
        command = op & _FUTEX_CMD
        if command == FUTEX_WAIT:
            times = self._times(call, 3, 1)
            if times is None or self.clock.wait_rate == 1.0:
                return None
            return self._rewritten(call, 3, [self._scaled(times[0])])
        if command in (FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2):
            clock_id = CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else CLOCK_MONOTONIC
        elif command == FUTEX_LOCK_PI:
            clock_id = CLOCK_REALTIME
        else:
            return None  # no timeout (FUTEX_WAKE's utime is a count)
        times = self._times(call, 3, 1)
        if times is None or clock_id not in self.clock.virtual_ids():
            return None
        return self._rewritten(call, 3, [self._real_deadline(clock_id, times[0])])

    def timer_create(self, call: Call) -> Decision:
        """Note the clock of the new timer, for its absolute deadlines."""
        clock_id, where, pid = call.raw[0], call.raw[2], call.pid

        def made(result: Result) -> None:
            if not result.failed and where:
                (timer_id,) = struct.unpack("<i", call.read(where, 4))
                self._timer_clocks[(pid, timer_id)] = clock_id

        return call.pass_through(made)

    def timerfd_create(self, call: Call) -> Decision:
        """Note the clock of the new timerfd, for its absolute deadlines."""
        clock_id, pid = call.raw[0], call.pid

        def made(result: Result) -> None:
            if not result.failed:
                self._timerfd_clocks[(pid, result.value)] = clock_id

        return call.pass_through(made)

    def timer_settime(self, call: Call) -> Decision | None:
        """A POSIX timer's setting (see :meth:`_itimerspec`)."""
        clock_id = self._timer_clocks.get((call.pid, call.raw[0] & 0xFFFFFFFF))
        return self._itimerspec(call, clock_id)

    def timerfd_settime(self, call: Call) -> Decision | None:
        """A timerfd's setting (see :meth:`_itimerspec`)."""
        return self._itimerspec(call, self._timerfd_clocks.get((call.pid, call.raw[0])))

    def _itimerspec(self, call: Call, clock_id: int | None) -> Decision | None:
        """An ``itimerspec`` (interval, value) at argument 2: the interval scaled; the value
        translated when absolute (``TIMER_ABSTIME``) on a changed clock, else scaled."""
        times = self._times(call, 2, 2)
        if times is None:
            return None
        interval, value = times
        scaled = self.clock.wait_rate != 1.0
        if call.raw[1] & TIMER_ABSTIME:
            if value and clock_id is not None and clock_id in self.clock.virtual_ids():
                value = self._real_deadline(clock_id, value)
            elif not scaled:
                return None
        elif not scaled:
            return None
        else:
            value = self._scaled(value)
        return self._rewritten(call, 2, [self._scaled(interval), value])
