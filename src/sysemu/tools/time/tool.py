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
from sysemu.api.observers import Observer
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

    ``in_process``: where the clock is a :class:`VirtualClock` (an offset, a rate, a freeze:
    the virtual time is a linear function of the real one), programs of the native ABI
    compute it in their own vDSO, with no stop per read (see :mod:`.inprocess`);
    :meth:`VirtualClock.advance` rewrites the parameters there. Other images (32-bit), and
    other clocks (stepped, or a user's), stop at each read.

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
        # Processes whose vDSO computes the time: pid -> address of their clock table.
        self._patched: dict[int, int] = {}
        self._listening = False

    def _clock(self) -> Clock:
        clock = self.clock
        if isinstance(clock, (VirtualClock, SteppedClock)):
            return clock
        if not callable(getattr(clock, "now", None)):
            raise TypeError(f"a clock has a now(clock_id) method; {clock!r} has none")
        return ClockAdapter(clock)  # type: ignore[arg-type]

    def run_started(self) -> None:
        """The clock starts with the run; the seeded stream starts again."""
        self._patched.clear()
        begin = getattr(self.clock, "begin", None)
        if callable(begin):
            begin()
        if self.randomness is not None:
            self.randomness.begin()

    def install(self, handlers: HandlerSet) -> None:
        """The clock's handlers, vDSO hiding, and the randomness when seeded."""
        clock = self.clock
        if self.in_process and isinstance(clock, VirtualClock):
            handlers.on_exec(self._patch_vdso)
            handlers.vdso_handled()
            handlers.observe(_Inheritance(self._patched), [])
        else:
            handlers.on_exec(hide_vdso)
        TimeCalls(self._clock()).install(handlers)
        if self.files:
            from sysemu.tools.time.files import FileTimes  # noqa: PLC0415 (its option only)

            FileTimes(self._clock()).install(handlers)
        if self.randomness is not None:
            self.randomness.install(handlers)

    def _patch_vdso(self, image: ExecImage) -> None:
        """The exec hook of the in-process design: the vDSO computes the virtual time, or
        (a 32-bit image, no room) is hidden, and the reads stop."""
        from sysemu.tools.time.inprocess import patch_vdso  # noqa: PLC0415 (its mode only)

        assert isinstance(self.clock, VirtualClock)
        table = patch_vdso(image, self.clock.linear_parameters())
        if table is None:
            hide_vdso(image)
            return
        if not self._listening:
            self.clock.on_advance(self._update_patched)
            self._listening = True
        self._patched[image.tid] = table

    def _update_patched(self) -> None:
        """The clock was advanced: write its new parameters into every patched process."""
        from sysemu.tools.time.inprocess import update  # noqa: PLC0415 (its mode only)

        assert isinstance(self.clock, VirtualClock)
        clocks = self.clock.linear_parameters()
        for pid, table in list(self._patched.items()):
            if not update(pid, table, clocks):
                del self._patched[pid]

    def run_finished(self, result: RunResult) -> object | None:
        """Nothing to keep; the seeded device file goes."""
        if self.randomness is not None:
            self.randomness.close()
        return None


class _Inheritance(Observer):
    """Children and threads of a process whose vDSO computes the time share its clock table
    (forks copy the patched page; an exec patches the new image afresh), so that
    ``VirtualClock.advance`` reaches them too."""

    wants_results = False
    thread_safe = True  # it touches only the table map, which the ptrace thread owns

    def __init__(self, patched: dict[int, int]) -> None:
        self._patched = patched

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        """A new thread or process of ``parent`` reads the parent's table."""
        table = self._patched.get(parent)
        if table is not None:
            self._patched[tid] = table

    def task_exited(self, tid: int, status: int) -> None:
        """``tid`` is gone."""
        self._patched.pop(tid, None)
