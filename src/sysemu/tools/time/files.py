"""``--time-files``: file times on the virtual clock.

The filesystem keeps real times. A program under a shifted clock would see the files it just
wrote dated in its past or future (``make`` warns of clock skew), so with this option every
time the ``stat`` family reports is moved by the clock's distance from the real time at that
moment, and the explicit times ``utimensat`` sets are moved back before the kernel stores
them (``UTIME_NOW`` stores the real now, which reads back as the virtual now). Every ``stat``
then stops to have its result edited, which is why this is an option.
"""

from __future__ import annotations

import struct
import time

from sysemu.abi import layouts
from sysemu.api.call import Call
from sysemu.api.decisions import ArgValue, Decision, Result, Rewrite
from sysemu.api.handlers import HandlerSet
from sysemu.tools.time.calls import Clock
from sysemu.tools.time.clock import CLOCK_REALTIME

_NS = 1_000_000_000
STAT_CALLS = ("stat", "fstat", "lstat", "newfstatat", "stat64", "fstat64", "lstat64", "fstatat64")
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
_TIMES = ("st_atime", "st_mtime", "st_ctime")
_INTEGERS = {4: "<i", 8: "<q"}  # signed seconds by width; nanoseconds use the unsigned form


class FileTimes:
    """The handlers that move file times by the clock's distance from the real time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def offset_ns(self) -> int:
        """How far the virtual realtime is from the real one now. From one reading of the
        real clock where the clock is linear (a :class:`VirtualClock`): two readings, one in
        ``now_ns``, would make the offset of a running clock differ by the microseconds
        between them from call to call, and a time stored by ``utimensat`` read back a
        second early."""
        real = time.clock_gettime_ns(CLOCK_REALTIME)
        linear = getattr(self.clock, "linear_parameters", None)
        if linear is not None:
            parameters = linear().get(CLOCK_REALTIME)
            if parameters is not None:
                shift, base, slope = parameters
                return int(shift) + round((real - int(base)) * float(slope))
        return self.clock.now_ns(CLOCK_REALTIME) - real

    def install(self, handlers: HandlerSet) -> None:
        """Register the stat family (results edited) and ``utimensat``."""
        handlers.add([*STAT_CALLS, "statx"], self.stat, needs_ptrace=True)
        handlers.add(["utimensat", "utimensat_time64"], self.utimensat, needs_ptrace=True)

    def stat(self, call: Call) -> Decision | None:
        """Move the times of the ``struct stat`` (or ``statx``) the call fills."""
        index = next(
            (k for k, param in enumerate(call.syscall.params) if "stat" in param.ctype), None
        )
        if index is None:
            return None
        address, offset = call.raw[index], self.offset_ns()
        # (seconds' offset and format, nanoseconds' offset and format) of each time.
        fields: list[tuple[int, str, int, str]] = []
        if call.name == "statx":
            fields = [(at, "<q", at + 8, "<I") for at in layouts.STATX_TIMESTAMPS]
        else:
            layout = layouts.stat_layout(call.name, call.abi)
            if layout is None:
                return None
            for name in _TIMES:
                (seconds_at, seconds_size), (nanos_at, nanos_size) = (
                    layout.field(name), layout.field(name + "_nsec")
                )  # fmt: skip
                fields.append((seconds_at, _INTEGERS[seconds_size], nanos_at,
                               _INTEGERS[nanos_size].upper()))  # fmt: skip

        def moved(result: Result) -> None:
            if result.failed or not address:
                return
            for seconds_at, seconds_format, nanos_at, nanos_format in fields:
                seconds = _read_integer(call, address + seconds_at, seconds_format)
                nanos = _read_integer(call, address + nanos_at, nanos_format)
                seconds, nanos = divmod(seconds * _NS + nanos + offset, _NS)
                call.write(address + seconds_at, struct.pack(seconds_format, seconds))
                call.write(address + nanos_at, struct.pack(nanos_format, nanos))

        return call.pass_through(moved)

    def utimensat(self, call: Call) -> Decision | None:
        """Explicit times are virtual: stored as the real times they stand for."""
        address = call.raw[2]
        if not address:
            return None  # NULL: now, which reads back as the virtual now
        wide = "__kernel_timespec" in call.syscall.params[2].ctype or call.abi.word_bits == 64
        pair = struct.Struct("<qq" if wide else "<ii")
        data = call.read(address, 2 * pair.size)
        offset = self.offset_ns()
        times = []
        for k in range(2):
            seconds, nanos = pair.unpack_from(data, k * pair.size)
            if nanos not in (UTIME_NOW, UTIME_OMIT):
                seconds, nanos = divmod(seconds * _NS + nanos - offset, _NS)
            times.append(pair.pack(seconds, nanos))
        args: list[ArgValue | None] = [None] * 6
        args[2] = b"".join(times)
        return Rewrite(tuple(args))


def _read_integer(call: Call, address: int, code: str) -> int:
    (value,) = struct.unpack(code, call.read(address, struct.calcsize(code)))
    return int(value)
