"""The time tool: a virtual clock for the traced programs, and repeatable runs.

Installed on a run, it hides the vDSO at every exec (so every clock read enters the kernel),
answers the reads of the clocks its clock changes, translates absolute deadlines on them and
scales relative waits by the clock's rate (:mod:`.calls`). With a seed (``--deterministic``)
it also hands out randomness from the seed and turns address-space randomization off
(:mod:`.randomness`).
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.api.execs import ExecImage, hide_vdso
from sysemu.tools.time.calls import TimeCalls
from sysemu.tools.time.clock import ClockAdapter, SteppedClock, VirtualClock
from sysemu.tools.time.randomness import SeededRandomness
from sysemu.tools.tool import Tool

if TYPE_CHECKING:
    from sysemu.api.handlers import HandlerSet
    from sysemu.api.results import RunResult
    from sysemu.tools.time.calls import Clock


class TimeTool(Tool):
    """A clock (a :class:`VirtualClock`, a :class:`SteppedClock`, or any object with
    ``now(clock_id)`` in seconds) and, with ``seed``, seeded randomness.

    ``in_process``: where the clock is a :class:`VirtualClock` that only shifts realtime
    (rate 1, not frozen), x86-64 programs compute the fake time in their own vDSO, with no
    stop per read (see :mod:`.inprocess`); :meth:`VirtualClock.advance` then no longer reaches
    the programs already started. Other images, and other clocks, stop at each read.

    ``files``: the times of the ``stat`` family read on the virtual clock too, and the explicit
    times of ``utimensat`` set on it (see :mod:`.files`)."""

    name = "time"

    def __init__(
        self,
        clock: object,
        seed: int | None = None,
        *,
        in_process: bool = False,
        files: bool = False,
    ) -> None:
        self.clock = clock
        self.randomness = SeededRandomness(seed) if seed is not None else None
        self.in_process = in_process
        self.files = files

    def _clock(self) -> Clock:
        clock = self.clock
        if isinstance(clock, (VirtualClock, SteppedClock)):
            return clock  # type: ignore[return-value]
        if not callable(getattr(clock, "now", None)):
            raise TypeError(f"a clock has a now(clock_id) method; {clock!r} has none")
        return ClockAdapter(clock)  # type: ignore[arg-type,return-value]

    def run_started(self) -> None:
        """The clock starts with the run; the seeded stream starts again."""
        begin = getattr(self.clock, "begin", None)
        if callable(begin):
            begin()
        if self.randomness is not None:
            self.randomness.begin()

    def install(self, handlers: HandlerSet) -> None:
        """The clock's handlers, vDSO hiding, and the randomness when seeded."""
        clock = self.clock
        if self.in_process and isinstance(clock, VirtualClock) and clock.linear_offset:
            handlers.on_exec(self._patch_vdso)
            handlers.vdso_handled()
        else:
            handlers.on_exec(hide_vdso)
        TimeCalls(self._clock()).install(handlers)
        if self.files:
            from sysemu.tools.time.files import FileTimes  # noqa: PLC0415 (its option only)

            FileTimes(self._clock()).install(handlers)
        if self.randomness is not None:
            self.randomness.install(handlers)

    def _patch_vdso(self, image: ExecImage) -> None:
        """The exec hook of the in-process design: the vDSO adds the offset, or (a 32-bit
        image, no room) is hidden, and the reads stop."""
        from sysemu.tools.time.inprocess import patch_vdso  # noqa: PLC0415 (its mode only)

        assert isinstance(self.clock, VirtualClock)
        if not patch_vdso(image, self.clock.offset_ns()):
            hide_vdso(image)

    def run_finished(self, result: RunResult) -> object | None:
        """Nothing to keep; the seeded device file goes."""
        if self.randomness is not None:
            self.randomness.close()
        return None
