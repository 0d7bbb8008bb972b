"""Virtual clocks: what a traced program reads as the time, and how its waits map to real ones.

A clock answers :meth:`VirtualClock.now_ns` for a clock id and says how fast virtual time runs
against real time while the program waits (:attr:`VirtualClock.wait_rate`). Which clock ids
it changes (:meth:`VirtualClock.virtual_ids`) decides which calls must stop at all: with the
rate at 1 only the realtime family is shifted, and monotonic reads never stop.

Linux clock ids (include/uapi/linux/time.h): the realtime family (``CLOCK_REALTIME``,
``_COARSE``, ``_ALARM`` and ``CLOCK_TAI``, which is realtime plus the leap seconds) may jump;
the monotonic family (``CLOCK_MONOTONIC``, ``_RAW``, ``_COARSE``, ``CLOCK_BOOTTIME`` and its
``_ALARM``) must never go backwards, or runtimes whose timers run on it (Go's) hang.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable

from sysemu._typing import Protocol

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11

REALTIME_FAMILY = (CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI)
MONOTONIC_FAMILY = (
    CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM,
)  # fmt: skip

_NS = 1_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhdw]?)$")


def parse_time(text: str, now: float | None = None) -> float:
    """Seconds since the epoch for ``--time``'s value: an ISO 8601 date and time
    (``2030-01-01T00:00:00Z``; without a zone, UTC), ``@EPOCH`` seconds, or ``+N[smhdw]`` /
    ``-N[smhdw]`` from now. Raises ValueError with a one-line message."""
    text = text.strip()
    if text.startswith("@"):
        try:
            return float(text[1:])
        except ValueError:
            raise ValueError(f"{text!r} is not @SECONDS since the epoch") from None
    relative = _RELATIVE.match(text)
    if relative:
        sign, amount, unit = relative.groups()
        seconds = float(amount) * _UNITS[unit or "s"]
        return (time.time() if now is None else now) + (seconds if sign == "+" else -seconds)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time (write 2030-01-01T00:00:00Z, @1893456000 or +3d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class ClockSource(Protocol):
    """What the time tool asks a clock: the only method a user's own clock must have."""

    def now(self, clock_id: int) -> float:
        """The virtual time of ``clock_id``, in seconds."""
        ...


class VirtualClock:
    """The time a program sees: realtime starting at ``start`` (seconds since the epoch, a
    ``datetime``, or ``--time``'s text; None: the real time) and running ``rate`` times as
    fast as real time, or standing still with ``frozen``. The monotonic clocks run at
    ``rate`` too (at the real rate when frozen), never backwards. The clock starts when the
    run does (:meth:`begin`); :meth:`advance` steps it by hand while the program runs."""

    def __init__(
        self,
        start: float | datetime.datetime | str | None = None,
        *,
        rate: float = 1.0,
        frozen: bool = False,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"the rate must be more than 0, not {rate}")
        if isinstance(start, str):
            start = parse_time(start)
        elif isinstance(start, datetime.datetime):
            start = start.timestamp()
        self.start = start
        self.rate = float(rate)
        self.frozen = frozen
        self._bases: dict[int, int] = {}
        self._start_ns = 0
        self._advanced_ns = 0
        self._advanced_monotonic_ns = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def wait_rate(self) -> float:
        """Virtual seconds per real second while the program waits (1 when frozen: a frozen
        clock would never reach a deadline)."""
        return 1.0 if self.frozen else self.rate

    def virtual_ids(self) -> tuple[int, ...]:
        """The clock ids whose reads this clock changes."""
        if self.rate == 1.0 and not self._advanced_monotonic_ns:
            return REALTIME_FAMILY
        return REALTIME_FAMILY + MONOTONIC_FAMILY

    def begin(self) -> None:
        """Start the clock now: realtime reads ``start`` from here on (called when a run
        starts; a clock never begun begins at its first read)."""
        self._bases = {clock: time.clock_gettime_ns(clock) for clock in _readable_ids()}
        real = self._bases[CLOCK_REALTIME]
        self._start_ns = real if self.start is None else round(self.start * _NS)

    def linear_parameters(self) -> dict[int, tuple[int, int, float]]:
        """For each clock id this clock changes, ``(a, b, k)`` such that the virtual time is
        ``r + a + (r - b) * k`` for the real time ``r`` (nanoseconds): what a program can
        compute itself (see inprocess.py). Clocks it leaves alone are not listed."""
        if not self._bases:
            self.begin()
        found: dict[int, tuple[int, int, float]] = {}
        changed = self.virtual_ids()
        for clock_id, base in self._bases.items():
            if clock_id not in changed:
                continue
            if clock_id in REALTIME_FAMILY:
                start = self._start_ns + round((base - self._bases[CLOCK_REALTIME]) / _NS) * _NS
                rate = 0.0 if self.frozen else self.rate
                found[clock_id] = (start + self._advanced_ns - base, base, rate - 1.0)
            else:
                found[clock_id] = (self._advanced_monotonic_ns, base, self.wait_rate - 1.0)
        return found

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every :meth:`advance` (the time tool then updates the
        parameters of the programs that compute the time themselves)."""
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        """Move every clock ``seconds`` forward (realtime also backward, for a negative
        value; the monotonic clocks then stay where they are)."""
        step = round(seconds * _NS)
        self._advanced_ns += step
        self._advanced_monotonic_ns += max(step, 0)
        for listener in self._listeners:
            listener()

    def now(self, clock_id: int) -> float:
        """The virtual time of ``clock_id`` in seconds."""
        return self.now_ns(clock_id) / _NS

    def now_ns(self, clock_id: int) -> int:
        """The virtual time of ``clock_id`` in nanoseconds."""
        if not self._bases:
            self.begin()
        base = self._bases.get(clock_id)
        if base is None:
            return time.clock_gettime_ns(clock_id)
        if clock_id in REALTIME_FAMILY:
            # TAI differs from realtime by whole leap seconds; a coarse clock only lags by a tick.
            start = self._start_ns + round((base - self._bases[CLOCK_REALTIME]) / _NS) * _NS
            if self.frozen:
                return start + self._advanced_ns
            elapsed = time.clock_gettime_ns(clock_id) - base
            return start + round(elapsed * self.rate) + self._advanced_ns
        elapsed = time.clock_gettime_ns(clock_id) - base
        return base + round(elapsed * self.wait_rate) + self._advanced_monotonic_ns

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else f"rate={self.rate:g}"
        return f"<VirtualClock start={self.start} {state}>"


class SteppedClock:
    """For repeatable runs: every read of any clock moves time ``step`` seconds forward,
    from ``start`` (realtime) and from a fixed monotonic origin, so that two runs that read
    the clock in the same order read the same times. Waits take real time."""

    wait_rate = 1.0
    MONOTONIC_ORIGIN = 1000.0  # seconds: as a machine that booted a while ago

    def __init__(self, start: float = 1_577_836_800.0, step: float = 0.001) -> None:
        self.start = start
        self.step_ns = round(step * _NS)
        self._reads = 0

    def virtual_ids(self) -> tuple[int, ...]:
        """Every clock id this clock changes: all of them."""
        return REALTIME_FAMILY + MONOTONIC_FAMILY

    def begin(self) -> None:
        """Start again from the first read."""
        self._reads = 0

    def now(self, clock_id: int) -> float:
        """The virtual time of ``clock_id`` in seconds (a read: the clock steps)."""
        return self.now_ns(clock_id) / _NS

    def now_ns(self, clock_id: int) -> int:
        """The virtual time of ``clock_id`` in nanoseconds (a read: the clock steps)."""
        self._reads += 1
        elapsed = self._reads * self.step_ns
        origin = self.start if clock_id in REALTIME_FAMILY else self.MONOTONIC_ORIGIN
        return round(origin * _NS) + elapsed


class ClockAdapter:
    """A user's clock with only ``now(clock_id)`` (seconds), as the time tool asks it."""

    def __init__(self, source: ClockSource) -> None:
        self.source = source
        self.wait_rate = float(getattr(source, "wait_rate", getattr(source, "rate", 1.0)) or 1.0)

    def virtual_ids(self) -> tuple[int, ...]:
        """Every clock id: a user's clock may change any."""
        return REALTIME_FAMILY + MONOTONIC_FAMILY

    def begin(self) -> None:
        """Begin the user's clock, if it can."""
        begin = getattr(self.source, "begin", None)
        if callable(begin):
            begin()

    def now_ns(self, clock_id: int) -> int:
        """The user's clock's answer, in nanoseconds."""
        now_ns = getattr(self.source, "now_ns", None)
        if callable(now_ns):
            return int(now_ns(clock_id))
        return round(self.source.now(clock_id) * _NS)


def _readable_ids() -> list[int]:
    """The clock ids of both families this machine can read (the _ALARM ones need a kernel
    with an RTC alarm)."""
    found = []
    for clock in REALTIME_FAMILY + MONOTONIC_FAMILY:
        try:
            time.clock_gettime_ns(clock)
        except OSError:
            continue
        found.append(clock)
    return found
