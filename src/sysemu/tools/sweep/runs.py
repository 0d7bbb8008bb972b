"""One run of a sweep, and what its outcome says about the program.

Each run is the point's reproducer carried out in a process of its own: sysemu's process
forks, and the child makes an :class:`~sysemu.Emulator` with the point's one ``--inject``
spec, runs the program under it (in a scratch copy of the work directory when there is one),
runs the check in the same directory, writes what it saw as JSON and exits. A fork costs
about a millisecond where ``sysemu run`` in a new interpreter costs its whole start-up (a
quarter of a second with no compiled bytecode), and each run still has its own tracer, so
the runs of ``--jobs`` can trace in parallel. The parent never takes the GIL away from a
tracer, and a program that wrecks its tracer's state takes one run with it, not the sweep.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence

from sysemu._typing import TYPE_CHECKING, NamedTuple, Protocol
from sysemu.abi import signal_name
from sysemu.engine.errors import RunTimeoutError
from sysemu.tools.sweep.points import Point
from sysemu.tools.tool import ToolHost

if TYPE_CHECKING:
    from typing import IO

    from sysemu.api.results import RunResult


class SweepHost(ToolHost, Protocol):
    """What a sweep needs of an emulator (:class:`sysemu.Emulator` is one): tools, handlers,
    ``inject`` and ``run``. The front end that makes sweeps says which class it is."""

    def inject(self, spec: str) -> None:
        """Inject the faults of one ``--inject`` spec in every later run."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        stderr: IO[bytes] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ``argv`` under the handlers; raises RunTimeoutError after ``timeout``."""
        ...


class OutcomeKind(enum.StrEnum):
    """What a run's outcome was, against the reference run's."""

    SAME = "same"
    """The program exited as in the reference run, and the check passed."""
    CLEAN_FAILURE = "clean failure"
    """A non-zero exit status and a message on stderr: the program reported the error."""
    SILENT_FAILURE = "silent failure"
    """A non-zero exit status and nothing on stderr."""
    CRASH = "crash"
    """A signal killed the started process (SIGSEGV, SIGABRT...)."""
    HANG = "hang"
    """Still running at the timeout: every process of the run was killed."""
    TRACEBACK = "traceback"
    """A Python traceback or a sanitizer's report on stderr."""
    CHECK_FAILED = "check failed"
    """The program ended, and the check command, run after it, exited non-zero."""
    NOT_REACHED = "not reached"
    """The call to fail never came: the run went another way than the reference run."""
    ERROR = "sysemu error"
    """sysemu could not carry the run out (a fault of sysemu's, or of the machine's)."""

    @property
    def failing(self) -> bool:
        """Whether this outcome is a finding that fails the sweep (exit status, pytest)."""
        return self in FAILING


FAILING = frozenset(
    {
        OutcomeKind.CRASH,
        OutcomeKind.HANG,
        OutcomeKind.TRACEBACK,
        OutcomeKind.CHECK_FAILED,
        OutcomeKind.ERROR,
    }
)

# What the start of a report on stderr looks like: Python's, and the sanitizers' (ASan, LSan,
# MSan and TSan open theirs with "==PID==ERROR:"/"WARNING:", UBSan writes "runtime error:").
_REPORT_MARKS = (
    b"Traceback (most recent call last):",
    b"ERROR: AddressSanitizer",
    b"ERROR: LeakSanitizer",
    b"ERROR: MemorySanitizer",
    b"WARNING: ThreadSanitizer",
    b": runtime error: ",
)


class RunJob(NamedTuple):
    """Everything one run needs, the reference's included (``spec`` None)."""

    argv: Sequence[str]
    spec: str | None
    cwd: str | None
    workdir: str | None
    env: Mapping[str, str] | None
    check: str | None
    timeout: float


class RunRecord(NamedTuple):
    """What one run did."""

    exit_code: int | None = None
    signal: int | None = None
    hung: bool = False
    injected: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    check_status: int | None = None
    check_output: bytes = b""
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        """The record as JSON (bytes as text), for the parent to read."""
        fields = self._asdict()
        for name in ("stdout", "stderr", "check_output"):
            fields[name] = fields[name].decode("utf-8", "replace")
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """A record back from :meth:`to_json`."""
        fields = json.loads(text)
        for name in ("stdout", "stderr", "check_output"):
            fields[name] = fields[name].encode()
        return cls(**fields)


class SweepOutcome(NamedTuple):
    """A point and how its run went."""

    point: Point
    kind: OutcomeKind
    detail: str
    """One line: the signal, the last line of stderr or of the check's output."""
    record: RunRecord


def work_copy(scratch: str, workdir: str) -> str:
    """Where a run's copy of ``workdir`` is made in its ``scratch`` directory: under the
    same name, which some programs look at."""
    return os.path.join(scratch, os.path.basename(os.path.normpath(workdir)) or "work")


def carry_out(job: RunJob, scratch: str, emu: SweepHost) -> RunRecord:
    """Run ``job`` with ``emu`` (its spec injected, if it has one), its output in files under
    ``scratch``, then its check; the work directory copied to ``scratch`` first."""
    started = time.monotonic()
    cwd = job.cwd
    if job.workdir is not None:
        cwd = work_copy(scratch, job.workdir)
        shutil.copytree(job.workdir, cwd, symlinks=True)
    if job.spec is not None:
        emu.inject(job.spec)
    out_path, err_path = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
    hung = False
    exit_code: int | None = None
    signal: int | None = None
    injected = 0
    with (
        open(out_path, "w+b") as out,
        open(err_path, "w+b") as err,
        open(os.devnull, "rb") as nothing,
    ):
        try:
            result = emu.run(
                job.argv, cwd=cwd, env=job.env, stdin=nothing, stdout=out, stderr=err,
                timeout=job.timeout,
            )  # fmt: skip
        except RunTimeoutError as timeout:
            hung = True
            injected = len(timeout.result.injections)
        else:
            exit_code, signal, injected = result.exit_code, result.signal, len(result.injections)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    check_status: int | None = None
    check_output = b""
    if job.check is not None and not hung:
        check_status, check_output = _check(job.check, cwd, job.env, job.timeout)
    return RunRecord(
        exit_code, signal, hung, injected, stdout, stderr, check_status, check_output,
        seconds=time.monotonic() - started,
    )  # fmt: skip


def _check(
    command: str, cwd: str | None, env: Mapping[str, str] | None, timeout: float
) -> tuple[int, bytes]:
    """Run the check command in the run's directory: its exit status and output (-1 when
    it outlived ``timeout``)."""
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        return -1, (expired.output or b"") + b"\n(check timed out)"
    return done.returncode, done.stdout


def classify(record: RunRecord, reference: RunRecord) -> tuple[OutcomeKind, str]:
    """The outcome of a run against the reference run's, and its one-line detail."""
    if record.error is not None:
        return OutcomeKind.ERROR, record.error
    if record.hung:
        return OutcomeKind.HANG, f"killed after the timeout; {_last_line(record.stderr)}".rstrip(
            "; "
        )
    if record.signal is not None:
        return OutcomeKind.CRASH, f"killed by {signal_name(record.signal)}"
    mark = next((m for m in _REPORT_MARKS if m in record.stderr), None)
    if mark is not None and mark not in reference.stderr:
        return OutcomeKind.TRACEBACK, _report_line(record.stderr, mark)
    if record.check_status not in (None, 0):
        return (
            OutcomeKind.CHECK_FAILED,
            f"check exit {record.check_status}: {_last_line(record.check_output)}",
        )
    if not record.injected:
        return OutcomeKind.NOT_REACHED, f"exit {record.exit_code}"
    if record.exit_code == reference.exit_code:
        return OutcomeKind.SAME, f"exit {record.exit_code}"
    if record.stderr.strip() and record.stderr != reference.stderr:
        return OutcomeKind.CLEAN_FAILURE, f"exit {record.exit_code}: {_last_line(record.stderr)}"
    return OutcomeKind.SILENT_FAILURE, f"exit {record.exit_code}"


def _last_line(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip()[:120] if lines else ""


def _report_line(stderr: bytes, mark: bytes) -> str:
    """What a report says in one line: the exception a traceback ends with (the interpreter's
    "Fatal Python error" when it gave up), or a sanitizer's first line."""
    text = stderr.decode("utf-8", "replace")
    if mark.startswith(b"Traceback"):
        lines = text.splitlines()
        fatal = [line for line in lines if line.startswith("Fatal Python error:")]
        # The exception is the last line at the left margin after the traceback's frames.
        after = lines[
            next((i for i, line in enumerate(lines) if line.startswith("Traceback")), 0) :
        ]
        exceptions = [line for line in after[1:] if line and not line[0].isspace()]
        return (fatal or exceptions or [""])[-1].strip()[:120]
    start = text.find(mark.decode())
    return text[text.rfind("\n", 0, start) + 1 :].splitlines()[0].strip()[:120]
