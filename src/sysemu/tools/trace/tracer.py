"""The tracing tool: an observer that prints every call like ``strace -f`` (JSON lines and the
timeline are :mod:`~sysemu.tools.trace.events`' records).

Line format, as strace's::

    [pid 12] openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = 3
    [pid 12] read(3,  <unfinished ...>
    [pid 13] exit_group(0)                  = ?
    [pid 12] <... read resumed>"vm\\n", 131072) = 3
    --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=13, si_uid=0, si_status=0} ---
    +++ exited with 0 +++

The ``[pid N]`` prefix (N is the thread id) appears while more than one thread is traced. A
call is printed when it finishes; one that another thread's output overtakes is printed as
``<unfinished ...>`` first and ``<... name resumed>`` when it ends, with the arguments decoded
at entry before the break and those the kernel filled in after it. Calls sysemu answered are
marked ``(INJECTED)`` (as strace marks its own injections), rewritten ones ``(REWRITTEN)``.
"""

from __future__ import annotations

import codecs
import io
import os
import struct
import time
from functools import partial

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Syscall, is_error
from sysemu.api.call import Call
from sysemu.api.decisions import Outcome, Result
from sysemu.api.observers import Observer
from sysemu.kernel import ptrace
from sysemu.kernel.loop_config import TraceWriterConfig
from sysemu.kernel.ptrace import get_siginfo
from sysemu.tools.trace import render
from sysemu.tools.trace.c_writer import c_writer_key, narrowing, spec_for
from sysemu.tools.trace.decoders import (
    ADDRESS_RETURNING,
    BOTH,
    EXIT,
    FD_RETURNING,
    LAYOUTS,
    NO_RETURN,
    NOTES,
    RETURNS,
    Context,
    Decoder,
    Shown,
    decode_return,
    shown_arguments_of,
)
from sysemu.tools.trace.selection import TraceSelection, call_filter, shows_signal
from sysemu.tools.trace.values import siginfo_fields

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO

    from sysemu.tools.trace.styles import Display

_MARKS = {Outcome.EMULATED: " (INJECTED)", Outcome.FAILED: " (INJECTED)",
          Outcome.REWRITTEN: " (REWRITTEN)"}  # fmt: skip


class _Plan:
    """What every call of one syscall shares, worked out on its first call instead of every
    call: the arguments shown (unless a layout picks them per call), how to narrow each
    register to its C type, and what kind of result it returns."""

    __slots__ = (
        "arguments", "decorated", "layout", "name", "narrow", "note", "stops_others", "syscall",
    )  # fmt: skip

    def __init__(self, syscall: Syscall) -> None:
        self.syscall = syscall  # keeps the id() this plan is cached under from being reused
        self.name = name = syscall.name
        self.layout = LAYOUTS.get(name)
        self.arguments = () if self.layout is not None else shown_arguments_of(syscall)
        # Per register: (mask, sign bit) as Args.value narrows it; None: the raw value.
        self.narrow = narrowing(syscall)
        # Results written other than as a plain number (fds, addresses, fcntl's flags...).
        self.decorated = name in RETURNS or name in FD_RETURNING or name in ADDRESS_RETURNING
        # Calls that may never come back to this thread: the others' lines are closed first.
        self.stops_others = name in NO_RETURN or name in ("execve", "execveat")
        # (topic, text) of the note its first success in a run is followed by (NOTES).
        self.note = NOTES.get(name)


class _Pending:
    __slots__ = ("arguments", "call", "ctx", "plan", "shown", "started", "texts")

    def __init__(
        self,
        plan: _Plan,
        arguments: tuple[Shown, ...],
        ctx: Context,
        texts: list[str | None],
        started: float,
    ) -> None:
        self.call = ctx.call
        self.plan = plan
        # The arguments shown, chosen at entry (the registers a layout looks at do not change).
        self.arguments = arguments
        # The same context at exit: it holds what the BOTH decoders saved at entry.
        self.ctx = ctx
        # Texts decoded at entry; None where the text is decoded at exit.
        self.texts = texts
        self.started = started
        # How many arguments an "<unfinished ...>" line showed; -1 while none was printed.
        self.shown = -1


class TraceObserver(Observer):
    """Writes a trace of the calls it observes to ``stream``.

    ``string_limit``: bytes of each string shown (strace's ``-s``); ``show_fd_paths``: print
    ``3</etc/hostname>`` (``-y``); ``timestamps``: 0 none, 1 wall clock (``-t``), 2 with
    microseconds (``-tt``); ``durations``: time spent in each call (``-T``); ``selection``:
    the calls and signals shown and how (``-P``, ``--trace-fds``, ``-e signal=``, ``-X``...).
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        string_limit: int = 32,
        show_fd_paths: bool = False,
        timestamps: int = 0,
        durations: bool = False,
        selection: TraceSelection | None = None,
    ) -> None:
        self.stream = stream
        self.selection = selection = selection or TraceSelection()
        # -P and --trace-fds: the calls outside them are not decoded (no pending call kept).
        self._filter = call_filter(selection)
        # -yy: what an fd shows after it is fd_details' text instead of its /proc link.
        self._fd_details: Callable[[int, int], str | None] | None = None
        if selection.fd_details:
            # (Imported for -yy only: it needs the socket module, which a trace does not.)
            from sysemu.tools.trace.fd_details import fd_details  # noqa: PLC0415

            self._fd_details = fd_details
        # -X, -e raw=, -e verbose=, -e abbrev=: None when the options change no argument.
        self._display: Display | None = None
        if selection.restyles:
            from sysemu.tools.trace.styles import display_for  # noqa: PLC0415 (those only)

            self._display = display_for(selection)
        self.string_limit = string_limit
        self.show_fd_paths = show_fd_paths
        self.timestamps = timestamps
        self.durations = durations
        self._pending: dict[int, _Pending] = {}
        # The pending calls whose "<unfinished ...>" line is not written yet: a call that ends
        # writes theirs first, and looks at no other (there may be many blocked threads).
        self._unshown: dict[int, _Pending] = {}
        self._live: set[int] = set()
        # Per syscall: calls, errors, seconds between entry and exit (strace -c's table).
        self._summary: dict[str, list[float]] = {}
        self._pids: dict[int, int] = {}
        self._stream_failed = False
        self._plans: dict[int, _Plan] = {}
        self.noted: set[str] = set()
        """The topics of the notes written in this run (see ``decoders.NOTES``)."""
        writer_type = ptrace.CTraceWriter
        # The C line writer (None without the accelerator): see c_trace_writer.
        self.c_writer: object | None = None
        # (C writes every call it knows: a run that filters calls is the Python tracer's.)
        if writer_type is not None and self._filter is None:
            config = TraceWriterConfig(
                write=self._emit,
                live=self._live,
                pending=self._pending,
                unshown=self._unshown,
                key_of=c_writer_key,
                spec_of=spec_for(selection),
                adopt_of=self._adopt_from_c,
                mode_of=render.mode,
                error_of=_error_text,
                string_limit=string_limit,
                fd_paths=show_fd_paths,
                timestamps=timestamps,
                durations=durations,
                each_line=_is_terminal(stream),
                stream=stream,
                fd=_direct_fd(stream),
            )
            self.c_writer = writer_type(config)

    def c_trace_writer(self) -> object | None:
        """The engine's hook (:mod:`sysemu.engine.accelerated`): :attr:`c_writer`, the C
        line writer that the C wait loop drives instead of calling this observer for the
        calls it can write itself; None where Python writes every line."""
        return self.c_writer

    def _emit(self, text: str) -> None:
        """Write to the stream. A stream that fails (a full disk) raises once, which the engine
        reports as this observer's error; until a write works again, the next failures are
        not raised again (the lines are lost, as they would be anyway)."""
        try:
            self.stream.write(text)
        except OSError:
            if self._stream_failed:
                return
            self._stream_failed = True
            raise
        self._stream_failed = False

    @property
    def summary(self) -> dict[str, list[float]]:
        """Per syscall name: [calls, errors, seconds between entry and exit], strace -c's
        table (the calls the C trace writer wrote included)."""
        writer = self.c_writer
        if writer is not None:
            for name, calls, errors, seconds in writer.take_summary():  # type: ignore[attr-defined]
                row = self._summary.setdefault(name, [0, 0, 0.0])
                row[0] += calls
                row[1] += errors
                row[2] += seconds
        return self._summary

    def _plan(self, syscall: Syscall) -> _Plan:
        plan = self._plans.get(id(syscall))
        if plan is None or plan.syscall is not syscall:
            plan = self._plans[id(syscall)] = _Plan(syscall)
        return plan

    def _adopt_from_c(
        self, call: Call, texts: list[str | None], started: float, shown: int = -1
    ) -> None:
        """A call the C trace writer saw enter, handed over before it finished: as if
        :meth:`call_entered` had decoded it (``texts``: its entry texts, None for those
        decoded at exit; ``shown``: how many its "<unfinished ...>" line showed, -1 if the
        C trace writer wrote none)."""
        plan = self._plan(call.syscall)
        arguments = plan.arguments if plan.layout is None else plan.layout(call)
        if self._display is not None:
            arguments = self._display.arguments(plan.syscall, arguments)
        ctx = Context(call, limit=self.string_limit, verbose_fds=self.show_fd_paths, exiting=False)
        if self._fd_details is not None:
            ctx.fd_path = partial(self._fd_details, call.tid)
        if self._display is not None:
            ctx.dereference = self._display.dereferences(plan.name)
        self._live.add(call.tid)
        pending = _Pending(plan, arguments, ctx, texts, started)
        pending.shown = shown
        self._pending[call.tid] = pending
        if shown < 0:
            self._unshown[call.tid] = pending

    # Calls.
    def call_entered(self, call: Call) -> None:
        """Decode what must be read at entry (strings the call consumes)."""
        if self._filter is not None and not self._filter.shows(call):
            return
        plan = self._plan(call.syscall)
        layout = plan.layout
        arguments = plan.arguments if layout is None else layout(call)
        if self._display is not None:
            arguments = self._display.arguments(plan.syscall, arguments)
        ctx = Context(call, limit=self.string_limit, verbose_fds=self.show_fd_paths,
                      exiting=False)  # fmt: skip
        if self._fd_details is not None:
            ctx.fd_path = partial(self._fd_details, call.tid)
        if self._display is not None:
            ctx.dereference = self._display.dereferences(plan.name)
        raw = call.raw
        narrow = plan.narrow
        texts: list[str | None] = []
        for index, decoder, phase in arguments:
            if phase == EXIT:
                texts.append(None)
                continue
            value = raw[index]
            shape = narrow[index]
            if shape is not None:  # _narrowed(), inline: this loop runs for every argument
                value &= shape[0]
                if value & shape[1]:
                    value -= shape[0] + 1
            try:
                text = decoder(ctx, value, index)
            except _DECODER_ERRORS:
                text = _raw_text(value)
            if phase == BOTH:
                # What the kernel is about to overwrite, kept for the text shown at exit.
                ctx.saved[index] = text
                texts.append(None)
            else:
                texts.append(text)
        tid = call.tid
        self._live.add(tid)
        pending = _Pending(plan, arguments, ctx, texts, time.time())
        self._pending[tid] = self._unshown[tid] = pending
        if plan.stops_others:
            # These may never come back to this thread: show them now.
            self._print_unfinished_others(tid)

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        """Print the call's line (or its resumption)."""
        tid = call.tid
        pending = self._pending.pop(tid, None)
        self._unshown.pop(tid, None)
        if pending is None or pending.call is not call:
            return
        if self._unshown:
            self._print_unfinished_others(tid)
        value = None if result is None else result.value
        ctx = pending.ctx
        ctx.result = value
        ctx.exiting = True
        plan = pending.plan
        entry_texts = pending.texts
        texts: list[str]
        if None in entry_texts:
            texts = []
            raw = call.raw
            narrow = plan.narrow
            for known, (index, decoder, _phase) in zip(entry_texts, pending.arguments, strict=True):
                texts.append(
                    known
                    if known is not None
                    else _safe(decoder, ctx, _narrowed(raw[index], narrow[index]), index)
                )
        else:
            texts = entry_texts  # type: ignore[assignment]  # no None left in it
        ended = time.time()
        name = plan.name
        row = self._summary.get(name)
        if row is None:
            row = self._summary[name] = [0, 0, 0.0]
        row[0] += 1
        if value is not None:
            row[1] += is_error(value)
            row[2] += ended - pending.started
        if value is None:
            returned = "?"
        elif is_error(value):
            returned = _error_text(value)
        elif self._display is not None and self._display.raw_result(name):
            returned = self._display.raw_text(value)
        elif plan.decorated:
            returned = decode_return(ctx, name, value)
        else:
            returned = str(value)
        mark = "" if outcome is Outcome.PASSED else _MARKS.get(outcome, "")
        spent = f" <{ended - pending.started:.6f}>" if self.durations and value is not None else ""
        if pending.shown >= 0:
            rest = ", ".join(texts[pending.shown :])
            line = f"<... {name} resumed>{rest}) = {returned}"
        else:
            # strace lines up the results at column 40.
            line = f"{name}({', '.join(texts)})"
            line = f"{line:<39} = {returned}"
        if self.timestamps or len(self._live) > 1:
            self._write(tid, f"{line}{mark}{spent}", pending.started)
        else:  # _write() without prefix or stamp: the common case, one thread untimed
            self._emit(f"{line}{mark}{spent}\n")
        note = plan.note
        if note is not None and value is not None and not -4096 < value < 0:
            topic, text = note
            if topic not in self.noted:
                self.noted.add(topic)
                self._write(tid, f"[ {text} ]", ended)

    def call_interrupted(self, call: Call, result: Result) -> None:
        """``read(3, 0x..., 16) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)``, as
        strace writes the attempt a signal interrupted (the call is then made again)."""
        self.call_finished(call, Outcome.PASSED, result)

    # Life events.
    def task_started(self, tid: int, parent: int, kind: str) -> None:
        """Count the thread (the ``[pid N]`` prefix depends on how many there are)."""
        self._live.add(tid)
        if kind != "clone":
            self._pids[tid] = tid

    def signal_delivered(self, tid: int, signal: int) -> None:
        """``--- SIGCHLD {si_signo=...} ---``."""
        if not shows_signal(self.selection, signal):
            return
        self._print_unfinished_others(tid)
        info = get_siginfo(tid)
        details = _describe_siginfo(info, self.selection.constants) if info is not None else ""
        self._write(tid, f"--- {render.signal(signal)} {{{details}}} ---", time.time())

    def exec_done(self, tid: int, former_tid: int) -> None:
        """A non-leader thread's exec: its call never returns under its old id."""
        if former_tid != tid:
            pending = self._pending.pop(former_tid, None)
            if pending is not None:
                self._pending[tid] = pending
            unshown = self._unshown.pop(former_tid, None)
            if unshown is not None:
                self._unshown[tid] = unshown
            self._live.discard(former_tid)
            self._write(former_tid, f"+++ superseded by execve in pid {tid} +++", time.time())

    def task_exited(self, tid: int, status: int) -> None:
        """``+++ exited with 0 +++`` or ``+++ killed by SIGKILL +++``."""
        pending = self._pending.pop(tid, None)
        if pending is not None:
            self._print_unfinished_others(-1)  # this thread's own call included
            if pending.call.name not in NO_RETURN:
                self._write(tid, f"<... {pending.call.name} resumed>) = ?", time.time())
        self._unshown.pop(tid, None)
        if os.WIFSIGNALED(status):
            text = f"+++ killed by {render.signal(os.WTERMSIG(status))}"
            text += " (core dumped) +++" if os.WCOREDUMP(status) else " +++"
        else:
            text = f"+++ exited with {os.WEXITSTATUS(status)} +++"
        self._write(tid, text, time.time())
        self._live.discard(tid)

    # Output.
    def _print_unfinished_others(self, tid: int) -> None:
        """Close the lines of calls other threads are still in: ``read(3,  <unfinished ...>``
        (as far as the arguments known at entry go)."""
        for other, pending in list(self._unshown.items()):
            if other == tid:
                continue
            del self._unshown[other]
            texts = pending.texts
            known = next((i for i, t in enumerate(texts) if t is None), len(texts))
            pending.shown = known
            head = ", ".join(t or "" for t in texts[:known])
            # strace: "read(3,  <unfinished ...>" but "close(3 <unfinished ...>".
            separator = ", " if head and known < len(texts) else ""
            self._write(
                other,
                f"{pending.call.name}({head}{separator} <unfinished ...>",
                pending.started,
            )

    def _write(self, tid: int, text: str, when: float) -> None:
        prefix = f"[pid {tid:5d}] " if len(self._live) > 1 else ""
        stamp = ""
        if self.timestamps:
            clock = time.strftime("%H:%M:%S", time.localtime(when))
            stamp = f"{clock}.{int(when % 1 * 1e6):06d} " if self.timestamps > 1 else f"{clock} "
        self._emit(f"{prefix}{stamp}{text}\n")


def summary_table(summary: dict[str, list[float]]) -> str:
    """``strace -c``'s table: time, calls and errors per syscall, busiest first."""
    total = sum(row[2] for row in summary.values()) or 1e-9
    lines = [
        "% time     seconds  usecs/call     calls    errors syscall",
        "------ ----------- ----------- --------- --------- ----------------",
    ]
    rows = sorted(summary.items(), key=lambda item: (-item[1][2], -item[1][0], item[0]))
    for name, (calls, errors, seconds) in rows:
        per_call = seconds / calls * 1e6 if calls else 0.0
        shown_errors = str(int(errors)) if errors else ""
        lines.append(
            f"{seconds / total * 100:6.2f} {seconds:11.6f} {per_call:11.0f} {int(calls):9d} "
            f"{shown_errors:>9} {name}"
        )
    calls = sum(int(row[0]) for row in summary.values())
    errors = sum(int(row[1]) for row in summary.values())
    lines.append(lines[1])
    lines.append(f"100.00 {total:11.6f} {total / max(calls, 1) * 1e6:11.0f} {calls:9d} "
                 f"{errors or '':>9} total")  # fmt: skip
    return "\n".join(lines)


def _is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal: the C trace writer then writes each line at once, so
    that the program's own output and the trace interleave there as they happen (as strace's
    do); to a file it writes in large chunks."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _direct_fd(stream: IO[str]) -> int:
    """The file descriptor the C trace writer may write ``stream``'s lines to itself, or -1.

    Writing there costs a system call, where ``stream.write`` costs a Python call, a text
    object and its encoding too, once per line while the program makes calls more slowly than
    the tracer writes them. Only a line-buffered text file qualifies: one that holds nothing
    unwritten after a line, so that the lines the Python tracer writes through it and those
    C writes stay in order; and one whose encoding writes ASCII as ASCII (C writes only
    lines of ASCII itself)."""
    try:
        if type(stream) is not io.TextIOWrapper or not stream.line_buffering:
            return -1
        if codecs.lookup(stream.encoding).name not in ("utf-8", "ascii", "iso8859-1"):
            return -1
        return stream.fileno()
    except (AttributeError, ValueError, OSError, LookupError):
        return -1


def _safe(decoder: Decoder, ctx: Context, value: int, index: int) -> str:
    """A decoder's text; a decoder that fails prints the raw value rather than nothing."""
    try:
        return decoder(ctx, value, index)
    except _DECODER_ERRORS:
        return _raw_text(value)


_DECODER_ERRORS = (OSError, ValueError, IndexError, struct.error)


def _raw_text(value: int) -> str:
    """What a failed decoder shows: the register, in hex unless negative."""
    return hex(value) if value >= 0 else str(value)


def _narrowed(raw: int, narrow: tuple[int, int] | None) -> int:
    """A register as :meth:`Args.value` gives it: cut to the C type's width, sign-extended
    when the type is signed (``narrow`` is the mask and the sign bit, 0 when unsigned)."""
    if narrow is None:
        return raw
    mask, sign = narrow
    value = raw & mask
    return value - mask - 1 if value & sign else value


# A program fails with few distinct errnos.
_error_text = render.remembered(render.error_return)


def _describe_siginfo(info: bytes, style: str = "abbrev") -> str:
    fields = siginfo_fields(info)
    if style != "abbrev":
        from sysemu.tools.trace.styles import styled_siginfo  # noqa: PLC0415 (-X only)

        fields = styled_siginfo(fields, info, style)
    return ", ".join(f"{name}={value}" for name, value in fields.items())
