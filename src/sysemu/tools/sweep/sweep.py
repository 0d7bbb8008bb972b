"""``Sweeper``: fail every call a set of inject specs matches, one per run, and classify the runs.

It runs programs through a :class:`~sysemu.tools.sweep.runs.SweepHost` that its maker gives it
(the tools layer knows no emulator class); ``sysemu.Sweep`` is a Sweeper with sysemu's
:class:`~sysemu.Emulator`::

    from sysemu import Sweep

    sweep = Sweep(["write,fsync:error=EIO"], ["./save", "out.json"], workdir="project", jobs=2)
    for outcome in sweep:                      # as the runs finish
        if outcome.kind.failing:
            print(outcome.point.reproducer(sweep.argv), outcome.kind.value, outcome.detail)

The reference run (no injection) comes first: it must succeed, and its matching calls are the
points (see :mod:`.points`); then one run per point, ``jobs`` at a time (see :mod:`.runs`).
"""

from __future__ import annotations

import gc
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from sysemu.tools.inject.injector import check_spec
from sysemu.tools.inject.spec import InjectSpec, InjectSpecError, parse_inject_spec
from sysemu.tools.sweep.observe import MatchRecorder, Observed
from sysemu.tools.sweep.points import Point, plan_points
from sysemu.tools.sweep.runs import (
    OutcomeKind,
    RunJob,
    RunRecord,
    SweepHost,
    SweepOutcome,
    carry_out,
    classify,
    work_copy,
)

# How long past its own timeout a run's process may take (copying the work directory, the
# check, the tracer's clean-up) before the sweep kills it.
_GRACE = 30.0


class SweepError(ValueError):
    """Input a sweep cannot work with; the message is one line."""


class Sweeper:
    """A sweep of ``argv`` over the calls ``specs`` (``--inject`` specs without ``when=``)
    match, each run made with an emulator from ``host()``: iterate over it for an
    :class:`~sysemu.tools.sweep.runs.SweepOutcome` per point, in the order the runs finish.

    ``check``: a shell command run after each run in its directory; a non-zero exit is a
    finding. ``jobs``: runs at a time (default: the CPU count). ``workdir``: a directory
    each run (and the reference) gets a scratch copy of, and starts in; without it every run
    starts in ``cwd``. ``timeout``: seconds before a run counts as hung. ``per_site``,
    ``sample`` (with ``seed``) and ``max_runs`` choose fewer points (see
    :func:`~sysemu.tools.sweep.points.plan_points`). Raises :class:`SweepError` for a bad spec
    at once, and from :meth:`reference` (or the first iteration) when the program fails
    without injection or makes no matching call.
    """

    def __init__(
        self,
        specs: Sequence[str | InjectSpec],
        argv: Sequence[str],
        *,
        check: str | None = None,
        jobs: int | None = None,
        workdir: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        per_site: bool = False,
        sample: int | None = None,
        seed: int = 0,
        max_runs: int | None = None,
        host: Callable[[], SweepHost],
    ) -> None:
        if not argv:
            raise SweepError("sweep: no command given")
        if not specs:
            raise SweepError("sweep: no --inject spec given")
        self.specs = [_sweep_spec(spec) for spec in specs]
        self.argv = list(argv)
        self.check = check
        self.jobs = jobs if jobs is not None else (os.cpu_count() or 1)
        if self.jobs < 1:
            raise SweepError(f"sweep: jobs must be 1 or more, not {self.jobs}")
        if timeout <= 0:
            raise SweepError(f"sweep: the timeout must be more than 0, not {timeout}")
        for name, value in (("sample", sample), ("max_runs", max_runs)):
            if value is not None and value < 1:
                raise SweepError(f"sweep: {name} must be 1 or more, not {value}")
        if workdir is not None and not os.path.isdir(workdir):
            raise SweepError(f"sweep: the work directory {workdir!r} is not a directory")
        self.workdir = None if workdir is None else os.path.abspath(workdir)
        self.cwd = cwd
        self.env = env
        self.timeout = timeout
        self.per_site = per_site
        self.sample = sample
        self.seed = seed
        self.max_runs = max_runs
        self.host = host
        self._reference: RunRecord | None = None
        self._observed: list[Observed] = []
        self._points: list[Point] | None = None

    def _job(self, spec: str | None) -> RunJob:
        return RunJob(self.argv, spec, self.cwd, self.workdir, self.env, self.check,
                      self.timeout)  # fmt: skip

    def reference(self) -> RunRecord:
        """The run without injection (made on first call): it must exit 0, its check pass,
        and some call must match; raises :class:`SweepError` otherwise."""
        if self._reference is not None:
            return self._reference
        recorder = MatchRecorder()
        emu = self.host()
        emu.use(recorder)
        emu.handlers.observe(recorder, [])  # for pid=root: the started process's pid
        for spec in self.specs:
            recorder.add(spec, emu.handlers)
        with tempfile.TemporaryDirectory(prefix="sysemu-sweep-") as scratch:
            record = carry_out(self._job(None), scratch, emu)
            observed = [_shown_from(call, scratch, self.workdir) for call in recorder.observed]
        command = " ".join(self.argv)
        if record.hung:
            raise SweepError(f"sweep: {command} runs past the timeout ({self.timeout:g} s) "
                             "without injection")  # fmt: skip
        if record.signal is not None or record.exit_code != 0:
            how = record.exit_code if record.signal is None else f"signal {record.signal}"
            last = record.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise SweepError(f"sweep: {command} fails without injection (exit {how})"
                             + (f": {last[0][:100]}" if last else ""))  # fmt: skip
        if record.check_status not in (None, 0):
            raise SweepError(f"sweep: the check fails after the run without injection "
                             f"(exit {record.check_status})")  # fmt: skip
        if not observed:
            specs = " ".join(f"'{spec}'" for spec in self.specs)
            raise SweepError(f"sweep: {command} makes no call that {specs} matches")
        self._reference, self._observed = record, observed
        return record

    @property
    def observed(self) -> list[Observed]:
        """Every matching call of the reference run, in order (after :meth:`reference`)."""
        self.reference()
        return self._observed

    @property
    def points(self) -> list[Point]:
        """The points the sweep runs, in the reference run's order."""
        if self._points is None:
            self._points = plan_points(
                self.specs, self.observed, per_site=self.per_site, sample=self.sample,
                seed=self.seed, max_runs=self.max_runs,
            )  # fmt: skip
        return self._points

    def __iter__(self) -> Iterator[SweepOutcome]:
        """Run every point, ``jobs`` at a time; yield each outcome as its run finishes."""
        reference = self.reference()
        waiting = list(reversed(self.points))
        # The first run is made here, before any fork: it loads what a run with an injection
        # needs and the reference run did not (the notification route of the auto backend,
        # the injector), so that each forked run finds it loaded instead of loading it again
        # and throwing it away. (Forked runs paid about 0.1 s each for it: tar over 200
        # files, 0.35 s a run in place of 0.2.) It must come first: the tracer of a run made
        # here collects every child of this process, the forked runs' too.
        first = waiting.pop()
        with tempfile.TemporaryDirectory(prefix="sysemu-sweep-") as scratch:
            try:
                record = carry_out(self._job(first.spec), scratch, self.host())
            except (OSError, ValueError, RuntimeError) as error:
                record = RunRecord(error=f"{type(error).__name__}: {error}")
        kind, detail = classify(record, reference)
        yield SweepOutcome(first, kind, detail, record)
        running: dict[int, _Running] = {}
        try:
            while waiting or running:
                while waiting and len(running) < self.jobs:
                    point = waiting.pop()
                    started = _start(point, self._job(point.spec), self.host)
                    running[started.pid] = started
                ended = _wait_any(running, self.timeout + _GRACE)
                for done in ended:
                    del running[done.pid]
                # The next runs start before the ended ones are read and handed over (and
                # whatever the caller does with them), which then overlaps with them.
                while waiting and len(running) < self.jobs:
                    point = waiting.pop()
                    started = _start(point, self._job(point.spec), self.host)
                    running[started.pid] = started
                for done in ended:
                    record = done.finish()
                    kind, detail = classify(record, reference)
                    yield SweepOutcome(done.point, kind, detail, record)
        finally:
            for left in running.values():
                left.abandon()


def _sweep_spec(spec: str | InjectSpec) -> InjectSpec:
    try:
        parsed = check_spec(parse_inject_spec(spec) if isinstance(spec, str) else spec)
    except InjectSpecError as error:
        raise SweepError(f"sweep: {error}") from None
    if parsed.when is not None:
        raise SweepError(f"sweep: inject spec '{parsed}' has when=: the sweep chooses the "
                         "calls itself (remove when=)")  # fmt: skip
    if parsed.probability is not None:
        raise SweepError(f"sweep: inject spec '{parsed}' has probability=: each run of a "
                         "sweep fails one chosen call")  # fmt: skip
    if parsed.pids is not None and any(isinstance(p, int) for p in parsed.pids.include
                                       | parsed.pids.exclude):  # fmt: skip
        raise SweepError(f"sweep: inject spec '{parsed}' names process ids, which change "
                         "from run to run (pid=root and pid=!root do not)")  # fmt: skip
    if parsed.error is None and parsed.retval is None and parsed.short is None:
        raise SweepError(f"sweep: inject spec '{parsed}' changes no result: give error=, "
                         "retval= or short=")  # fmt: skip
    return parsed


def _shown_from(call: Observed, scratch: str, workdir: str | None) -> Observed:
    """``call`` with the reference run's scratch copy of the work directory named as the
    work directory itself, as the user knows it."""
    if workdir is None:
        return call
    copy = work_copy(scratch, workdir)
    path = call.path.replace(copy, workdir) if call.path else call.path
    return call._replace(text=call.text.replace(copy, workdir), path=path)


class _Running:
    """A run in a forked process of its own."""

    def __init__(self, point: Point, pid: int, scratch: str) -> None:
        self.point = point
        self.pid = pid
        self.scratch = scratch
        self.started = time.monotonic()
        self.killed = False
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):  # Linux < 5.3: polled instead
            self.fd = None

    def poll(self) -> bool:
        """Whether the process has ended (reaped then)."""
        pid, _status = os.waitpid(self.pid, os.WNOHANG)
        return pid != 0

    def finish(self) -> RunRecord:
        """The run's record (reaped before), its scratch directory removed."""
        if self.fd is not None:
            os.close(self.fd)
        try:
            with open(os.path.join(self.scratch, "record.json")) as written:
                record = RunRecord.from_json(written.read())
        except (OSError, ValueError) as error:
            what = "killed past the timeout" if self.killed else f"wrote no record ({error})"
            record = RunRecord(error=f"the run's process {what}", hung=self.killed)
        _remove(self.scratch)
        return record

    def abandon(self) -> None:
        """Kill the run (the sweep was left early) and reap it."""
        self.killed = True
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        except ProcessLookupError:
            pass
        if self.fd is not None:
            os.close(self.fd)
        _remove(self.scratch)


def _start(point: Point, job: RunJob, host: Callable[[], SweepHost]) -> _Running:
    scratch = tempfile.mkdtemp(prefix="sysemu-sweep-")
    # The run's process shares this one's objects until it writes to them, and the cyclic
    # collector writes to every object it scans: frozen, they are never scanned there, and
    # their pages are not copied.
    gc.freeze()
    pid = os.fork()
    if pid == 0:  # the run's own process: it never returns
        try:
            try:
                record = carry_out(job, scratch, host())
            except BaseException as error:  # reported as the run's outcome
                record = RunRecord(error=f"{type(error).__name__}: {error}")
            with open(os.path.join(scratch, "record.json"), "w") as out:
                out.write(record.to_json())
            if job.workdir is not None:
                # Removed here, in parallel, not by the parent between two runs.
                shutil.rmtree(work_copy(scratch, job.workdir), ignore_errors=True)
        finally:
            os._exit(0)
    gc.unfreeze()
    return _Running(point, pid, scratch)


def _wait_any(running: dict[int, _Running], limit: float) -> list[_Running]:
    """Wait until some runs end; returns them, reaped (a run past ``limit`` seconds is
    killed first)."""
    while True:
        fds = [r.fd for r in running.values() if r.fd is not None]
        polled = len(fds) < len(running)
        if fds:
            select.select(fds, [], [], 0.02 if polled else 1.0)
        elif polled:
            time.sleep(0.005)
        now = time.monotonic()
        for late in running.values():
            if now - late.started > limit and not late.killed:
                late.killed = True
                os.kill(late.pid, signal.SIGKILL)
        done = [r for r in running.values() if r.poll()]
        if done:
            return done


def _remove(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


__all__ = ["OutcomeKind", "Point", "SweepError", "SweepOutcome", "Sweeper"]
