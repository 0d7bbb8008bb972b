"""The trace as records: one :class:`SyscallEvent` per call, and events for the life of every
thread (:class:`SpawnEvent`, :class:`ExecEvent`, :class:`SignalEvent`, :class:`ExitEvent`).

:class:`EventObserver` makes them from the calls it observes and hands each to a sink: a list
(:class:`~sysemu.tools.trace.tool.TraceEvents`), a JSON-lines writer (:class:`JsonLines`,
``--json``), or the timeline (:mod:`~sysemu.tools.trace.timeline`). Each record's
:meth:`~SyscallEvent.to_json` is its line of the JSON trace (``docs/trace-json.md``), whose
``v`` is :data:`SCHEMA_VERSION`.

Arguments are decoded by the same decoders as the text trace, in their structured form
(:mod:`sysemu.tools.trace.values`). The C accelerator writes text lines only: these records are
always made in Python.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import RESTART_ERRNOS, errno_name, is_error
from sysemu.api.observers import Observer
from sysemu.kernel.ptrace import get_siginfo
from sysemu.tools.trace import render
from sysemu.tools.trace.context import BOTH, EXIT, Context, Decoder, Shown, structured_value
from sysemu.tools.trace.decoders import FD_RETURNING, NOTES, shown_arguments
from sysemu.tools.trace.decoders_scalar import dec_dirfd, dec_fd, dec_path
from sysemu.tools.trace.selection import TraceSelection, call_filter, shows_signal
from sysemu.tools.trace.values import STRING_LIMIT, siginfo_fields
from sysemu.tools.trace.values_calls import CALLS
from sysemu.tools.trace.values_more import MORE
from sysemu.tools.trace.values_structs import STRUCTURES

if TYPE_CHECKING:
    from typing import IO

    from sysemu.api.call import Call
    from sysemu.api.decisions import Outcome, Result

_ = STRUCTURES, CALLS, MORE  # importing the modules registers their structured forms

SCHEMA_VERSION = 1
"""The ``v`` of every JSON line; raised when a field changes meaning or goes away."""


@dataclass(slots=True)
class SyscallEvent:
    """One system call: what the program asked, what sysemu decided, what the program got.

    ``args`` holds the decoded arguments by parameter name (see
    :mod:`sysemu.tools.trace.values` for their forms). ``result`` is what strace shows after
    ``=``: the value, or -1 with ``errno`` its name (``"ENOENT"``) when the call failed, None
    when it never returned (``exit_group``). ``time`` is when it entered (seconds since the
    epoch) and ``duration`` how long until it returned. ``paths`` maps path arguments (and,
    with fd paths on, fd arguments and an fd result, as ``"return"``) to absolute paths;
    ``truncated`` names the arguments cut at the string limit. ``decision`` is ``passed``,
    ``emulated``, ``failed``, ``rewritten`` or ``killed``.
    """

    name: str
    nr: int
    abi: str
    pid: int
    tid: int
    args: dict[str, object]
    result: int | None
    errno: str | None
    decision: str
    time: float
    duration: float | None
    paths: dict[str, str] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)

    event = "syscall"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        record: dict[str, object] = {
            "v": SCHEMA_VERSION,
            "event": "syscall",
            "time": self.time,
            "pid": self.pid,
            "tid": self.tid,
            "abi": self.abi,
            "name": self.name,
            "nr": self.nr,
            "args": self.args,
            "return": self.result,
            "errno": self.errno,
            "duration": self.duration,
            "decision": self.decision,
            "paths": self.paths,
        }
        if self.truncated:
            record["truncated"] = self.truncated
        return record


@dataclass(slots=True)
class SpawnEvent:
    """Thread or process ``tid`` was created by ``parent`` (``kind``: fork, vfork, clone)."""

    pid: int
    tid: int
    time: float
    parent: int
    kind: str

    event = "spawn"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        return {"v": SCHEMA_VERSION, "event": "spawn", "time": self.time, "pid": self.pid,
                "tid": self.tid, "parent": self.parent, "kind": self.kind}  # fmt: skip


@dataclass(slots=True)
class ExecEvent:
    """``tid`` completed an ``execve`` of ``program``; ``former_tid`` is the id of the thread
    that made it when that was not the leader."""

    pid: int
    tid: int
    time: float
    former_tid: int
    program: str | None

    event = "exec"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        return {"v": SCHEMA_VERSION, "event": "exec", "time": self.time, "pid": self.pid,
                "tid": self.tid, "former_tid": self.former_tid,
                "program": self.program}  # fmt: skip


@dataclass(slots=True)
class SignalEvent:
    """``signal`` (its name) is about to be delivered to ``tid``; ``siginfo`` its fields."""

    pid: int
    tid: int
    time: float
    signal: str
    siginfo: dict[str, object]

    event = "signal"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        return {"v": SCHEMA_VERSION, "event": "signal", "time": self.time, "pid": self.pid,
                "tid": self.tid, "signal": self.signal, "siginfo": self.siginfo}  # fmt: skip


@dataclass(slots=True)
class ExitEvent:
    """``tid`` is gone: ``status`` is its exit code, or minus the signal that killed it (as
    ``os.waitstatus_to_exitcode`` has it); ``signal`` that signal's name."""

    pid: int
    tid: int
    time: float
    status: int
    signal: str | None
    core_dumped: bool

    event = "exit"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        return {"v": SCHEMA_VERSION, "event": "exit", "time": self.time, "pid": self.pid,
                "tid": self.tid, "status": self.status, "signal": self.signal,
                "core_dumped": self.core_dumped}  # fmt: skip


@dataclass(slots=True)
class NoteEvent:
    """What the trace cannot see, said once per run where it starts: ``topic`` names it
    (``"io_uring"``: the operations a ring carries out are not traced, once a ring is made),
    ``text`` says it as the text trace does."""

    pid: int
    tid: int
    time: float
    topic: str
    text: str

    event = "note"

    def to_json(self) -> dict[str, object]:
        """The event's JSON line, as a dict."""
        return {"v": SCHEMA_VERSION, "event": "note", "time": self.time, "pid": self.pid,
                "tid": self.tid, "topic": self.topic, "text": self.text}  # fmt: skip


Event = SyscallEvent | SpawnEvent | ExecEvent | SignalEvent | ExitEvent | NoteEvent
"""Any record of the trace."""


class _Entered:
    __slots__ = ("arguments", "call", "ctx", "names", "paths", "started", "truncated", "values")

    def __init__(self, call: Call, arguments: tuple[Shown, ...], ctx: Context) -> None:
        self.call = call
        self.arguments = arguments
        self.ctx = ctx
        params = call.syscall.params
        self.names = [
            params[shown.register].name if shown.register < len(params) else f"arg{shown.register}"
            for shown in arguments
        ]
        self.values: list[object] = []
        self.paths: dict[str, str] = {}
        self.truncated: list[str] = []
        self.started = time.time()


class EventObserver(Observer):
    """Makes a record of every call and thread event it observes, and hands it to ``sink``.

    ``string_limit``: bytes of a string kept (at least :data:`STRING_LIMIT`);
    ``show_fd_paths``: also resolve fd arguments and fd results (``-y``). ``summary`` is
    strace ``-c``'s table, as the text tracer's.
    """

    def __init__(
        self,
        sink: Callable[[Event], None],
        *,
        string_limit: int = STRING_LIMIT,
        show_fd_paths: bool = False,
        selection: TraceSelection | None = None,
    ) -> None:
        self.sink = sink
        self.string_limit = max(string_limit, STRING_LIMIT)
        self.show_fd_paths = show_fd_paths
        self.selection = selection
        self._filter = None if selection is None else call_filter(selection)
        self.summary: dict[str, list[float]] = {}
        self._entered: dict[int, _Entered] = {}
        self._pids: dict[int, int] = {}
        self.noted: set[str] = set()
        """The topics of the notes made in this run (see ``decoders.NOTES``)."""

    def call_entered(self, call: Call) -> None:
        """Decode what is read at entry: strings the call consumes, resolved paths."""
        if self._filter is not None and not self._filter.shows(call):
            return
        arguments = shown_arguments(call)
        ctx = Context(call, limit=self.string_limit, verbose_fds=False, exiting=False)
        entered = _Entered(call, arguments, ctx)
        self._pids[call.tid] = call.pid
        dirfd = -100
        for shown, name in zip(arguments, entered.names, strict=True):
            index, decoder, phase = shown
            value = call.args.value(index)
            if phase == EXIT:
                entered.values.append(None)
                continue
            if phase == BOTH:
                # The text decoders of BOTH keep what the kernel overwrites in ctx.saved.
                ctx.saved[index] = _text(decoder, ctx, value, index)
                entered.values.append(None)
                continue
            decoded = self._value(entered, name, decoder, value, index)
            entered.values.append(decoded)
            if decoder is dec_dirfd:
                dirfd = value
                if self.show_fd_paths:
                    self._fd_path(entered, name, value)
            elif decoder is dec_path and isinstance(decoded, str):
                resolved = call.resolve(decoded, dirfd)
                if resolved is not None:
                    entered.paths[name] = resolved
                dirfd = -100
            elif self.show_fd_paths and decoder is dec_fd:
                self._fd_path(entered, name, value)
        self._entered[call.tid] = entered

    def _value(
        self, entered: _Entered, name: str, decoder: Decoder, value: int, index: int
    ) -> object:
        ctx = entered.ctx
        ctx.cut = False
        try:
            decoded = structured_value(decoder, ctx, value, index)
        except _DECODER_ERRORS as error:
            decoded = {"text": hex(value) if value >= 0 else str(value), "error": str(error)}
        if ctx.cut:
            entered.truncated.append(name)
        return decoded

    def _fd_path(self, entered: _Entered, name: str, fd: int) -> None:
        path = entered.call.cwd if fd == -100 else entered.call.fd_path(fd)
        if path is not None:
            entered.paths[name] = path

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        """Decode what the kernel filled in and hand the call's record to the sink."""
        entered = self._entered.pop(call.tid, None)
        if entered is None or entered.call is not call:
            return
        value = None if result is None else result.value
        self._finish(entered, outcome.value, value)

    def call_interrupted(self, call: Call, result: Result) -> None:
        """The attempt a signal interrupted, as a call that returned the restart errno."""
        entered = self._entered.pop(call.tid, None)
        if entered is not None and entered.call is call:
            self._finish(entered, "passed", result.value)

    def _finish(self, entered: _Entered, decision: str, value: int | None) -> None:
        ended = time.time()
        call = entered.call
        ctx = entered.ctx
        ctx.result = value
        ctx.exiting = True
        for position, (index, decoder, phase) in enumerate(entered.arguments):
            if phase not in (EXIT, BOTH):
                continue
            entered.values[position] = self._value(
                entered, entered.names[position], decoder, call.args.value(index), index
            )
        failed = value is not None and is_error(value)
        errno: str | None = None
        shown = value
        if failed and value is not None:
            shown = None if -value in RESTART_ERRNOS else -1  # a restart: strace's "?"
            try:
                errno = errno_name(-value)
            except ValueError:
                errno = str(-value)
        elif value is not None and self.show_fd_paths and call.name in FD_RETURNING:
            self._fd_path(entered, "return", value)
        row = self.summary.get(call.name)
        if row is None:
            row = self.summary[call.name] = [0, 0, 0.0]
        row[0] += 1
        if value is not None:
            row[1] += failed
            row[2] += ended - entered.started
        self.sink(
            SyscallEvent(
                call.name, call.nr, call.abi.value, call.pid, call.tid,
                dict(zip(entered.names, entered.values, strict=True)), shown, errno, decision,
                entered.started, None if value is None else ended - entered.started,
                entered.paths, entered.truncated,
            )
        )  # fmt: skip
        note = NOTES.get(call.name)
        if note is not None and value is not None and not failed and note[0] not in self.noted:
            self.noted.add(note[0])
            self.sink(NoteEvent(call.pid, call.tid, ended, *note))

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        """A new thread or process: its record, with the process it belongs to."""
        pid = tid if kind != "clone" else _thread_group(tid)
        self._pids[tid] = pid
        self.sink(SpawnEvent(pid, tid, time.time(), parent, kind))

    def exec_done(self, tid: int, former_tid: int) -> None:
        """The exec's record (the program as ``/proc`` names it)."""
        entered = self._entered.pop(former_tid, None)
        if entered is not None:
            self._entered[tid] = entered
        self._pids[tid] = tid
        try:
            program: str | None = os.readlink(f"/proc/{tid}/exe")
        except OSError:
            program = None
        self.sink(ExecEvent(tid, tid, time.time(), former_tid, program))

    def signal_delivered(self, tid: int, signal: int) -> None:
        """The signal's record, with its ``siginfo`` fields (unless ``-e signal=`` hides it)."""
        if not shows_signal(self.selection, signal):
            return
        info = get_siginfo(tid)
        fields = siginfo_fields(info) if info is not None else {}
        self.sink(SignalEvent(self._pid(tid), tid, time.time(), render.signal(signal), fields))

    def task_exited(self, tid: int, status: int) -> None:
        """A call the thread never returned from, then the exit's record."""
        entered = self._entered.pop(tid, None)
        if entered is not None:
            self._finish(entered, "passed", None)
        signal = render.signal(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None
        self.sink(
            ExitEvent(self._pid(tid), tid, time.time(), os.waitstatus_to_exitcode(status),
                      signal, os.WIFSIGNALED(status) and os.WCOREDUMP(status))
        )  # fmt: skip
        self._pids.pop(tid, None)

    def _pid(self, tid: int) -> int:
        return self._pids.get(tid, tid)


# Characters that end a line for str.splitlines (and some JSON-lines readers) which the JSON
# encoder writes raw outside ASCII: next line, line separator, paragraph separator.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class JsonLines:
    """A sink that writes each record as one line of JSON to ``stream`` (``--json``)."""

    def __init__(self, stream: IO[str]) -> None:
        import json  # noqa: PLC0415 (only JSON traces need it: start-up without it)

        self.stream = stream
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._failed = False

    def __call__(self, event: Event) -> None:
        """Write ``event``'s line. A stream that fails (a full disk) raises once, reported as
        the observer's error; the next failures until a write works are not raised again."""
        line = self._encode(event.to_json())
        if not line.isascii():
            # JSON allows these raw in a string, but they end a line for str.splitlines and
            # for many JSON-lines readers: a record must stay one line whatever the program's
            # bytes decode to.
            line = line.translate(_LINE_BREAKS)
        try:
            self.stream.write(line + "\n")
        except OSError:
            if self._failed:
                return
            self._failed = True
            raise
        self._failed = False


_DECODER_ERRORS = (OSError, ValueError, IndexError, struct.error)


def _text(decoder: Decoder, ctx: Context, value: int, index: int) -> str:
    try:
        return decoder(ctx, value, index)
    except _DECODER_ERRORS:
        return hex(value)


def _thread_group(tid: int) -> int:
    """The process (thread group) of ``tid``, from ``/proc``; ``tid`` if it cannot be read."""
    try:
        with open(f"/proc/{tid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid
