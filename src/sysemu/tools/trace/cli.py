"""Command-line options of tracing: ``--trace[=SET]``, ``-o FILE``, ``--json``, ``-s N``, ``-y``,
``-t``/``-tt`` and ``-T``, as strace spells them, and ``--timeline FILE``.

``configure`` checks the set and the numbers; ``apply`` opens ``-o``'s file and puts a
:class:`~sysemu.tools.trace.tool.Trace` on the emulator. Imported at every start of the
command line: the tracer itself is loaded only for a traced run.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.tools.tool import Invocation, OptionalValue, ToolHost, ToolOptions

if TYPE_CHECKING:
    import argparse

    from sysemu.abi.classes import SyscallSet
    from sysemu.tools.trace.events import EventObserver
    from sysemu.tools.trace.selection import TraceSelection


class TraceConfig(NamedTuple):
    """What the tracing options asked for."""

    syscalls: SyscallSet
    output: str | None
    string_limit: int
    fd_paths: int
    """``-y``: 1, ``-yy``: 2 (0: fds as numbers)."""
    timestamps: int
    durations: bool
    json_lines: bool
    timeline: str | None
    traced: bool
    """Whether ``--trace`` was given (a timeline alone writes no trace)."""
    selection: TraceSelection
    """``-P``, ``--trace-fds`` and the other options of what is shown and how."""


class TraceOptions(ToolOptions):
    """The ``tracing (like strace -f)`` group of ``run`` and ``attach``."""

    name = "trace"
    optional_values = (OptionalValue("--trace", "trace", "all", "its set of calls", "SET"),)

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add the tracing group to ``parser``."""
        trace = parser.add_argument_group("tracing (like strace -f)")
        trace.add_argument(
            "--trace",
            nargs="?",
            const="all",
            default=None,
            metavar="SET",
            help="print every call (or those of SET: names, !name, /regex, %%class) to stderr",
        )
        trace.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
        trace.add_argument(
            "--json",
            action="store_true",
            help="one JSON object per call and event (docs/trace-json.md)",
        )
        trace.add_argument(
            "--timeline",
            metavar="FILE",
            help="write the run to FILE as Trace Event Format JSON (Perfetto, chrome://tracing)",
        )
        trace.add_argument(
            "-s", dest="string_limit", type=int, default=32, metavar="N", help="string size (32)"
        )
        trace.add_argument(
            "-y",
            dest="fd_paths",
            action="count",
            default=0,
            help="show fd paths (-yy: sockets' endpoints, devices' numbers, pidfds' processes)",
        )
        trace.add_argument(
            "-t", dest="timestamps", action="count", default=0, help="time of day (-tt: with µs)"
        )
        trace.add_argument("-T", dest="durations", action="store_true", help="time spent in calls")
        trace.add_argument(
            "-P",
            "--trace-path",
            dest="trace_paths",
            action="append",
            default=[],
            metavar="PATH",
            help="only calls on PATH: by name or through an fd open on it (repeatable)",
        )
        trace.add_argument(
            "-X",
            "--const-print-style",
            dest="constants",
            choices=("raw", "abbrev", "verbose"),
            default="abbrev",
            help="constants and flags: names (abbrev), numbers (raw), or both (verbose)",
        )
        trace.add_argument(
            "-v",
            "--no-abbrev",
            dest="unabbreviated",
            action="store_true",
            help="structures unabbreviated: every field of a stat, the environment of execve",
        )
        trace.add_argument(
            "--abbrev",
            dest="trace_abbrev",
            metavar="SET",
            help="abbreviate large structures of these calls only (-e abbrev=SET; -v: none)",
        )
        trace.add_argument(
            "--verbose",
            dest="trace_verbose",
            metavar="SET",
            help="decode structures of these calls only, others by address (-e verbose=SET)",
        )
        trace.add_argument(
            "--raw",
            dest="trace_raw",
            metavar="SET",
            help="these calls' arguments and result undecoded, in hex (-e raw=SET)",
        )
        trace.add_argument(
            "--signal",
            dest="trace_signals",
            metavar="SET",
            help="only these signals' deliveries (-e signal=SET; none, !SIGCHLD, usr1,io)",
        )
        trace.add_argument(
            "--trace-fds",
            metavar="SET",
            help="only calls on these fds (3,4 or !0,1,2; with -P: calls either selects)",
        )

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> TraceConfig | None:
        """The trace asked for, or None when no option of this group that asks for one
        (``--trace``, ``-o``, ``--json``, ``--timeline``, ``-P``, ``--trace-fds``) was
        given; raises ValueError for a set that does not parse or a negative ``-s``."""
        asked = args.output or args.json or args.timeline or args.trace_paths or args.trace_fds
        if args.trace is None and not asked:
            return None
        if args.string_limit < 0:
            raise ValueError("-s: must be 0 or more")
        from sysemu.abi.classes import parse_syscall_set  # noqa: PLC0415 (traced runs only)
        from sysemu.tools.trace import selection  # noqa: PLC0415

        try:
            # Numbers no table names are fine: a program may make experimental calls.
            selected = parse_syscall_set(args.trace or "all", any_number=True)
        except ValueError as error:
            raise ValueError(f"--trace: {error}") from None
        chosen = selection.TraceSelection(
            paths=selection.selected_paths(args.trace_paths),
            fds=None if args.trace_fds is None
            else selection.parse_number_set(args.trace_fds, "--trace-fds"),
            fd_details=args.fd_paths > 1,
            constants=args.constants,
            raw=_calls(args.trace_raw, "raw"),
            verbose=_calls(args.trace_verbose, "verbose"),
            abbreviated=_calls("none" if args.unabbreviated else args.trace_abbrev, "abbrev"),
            signals=None if args.trace_signals is None
            else selection.parse_signal_set(args.trace_signals),
        )  # fmt: skip
        return TraceConfig(
            selected, args.output, args.string_limit, args.fd_paths, args.timestamps,
            args.durations, args.json, args.timeline,
            args.trace is not None or chosen.filters_calls, chosen,
        )  # fmt: skip

    def configure_counting(
        self, args: argparse.Namespace, invocation: Invocation
    ) -> TraceConfig | None:
        """Every call traced to nowhere: the trace's summary is strace ``-c``'s table."""
        import os  # noqa: PLC0415 (loaded already)

        args.output = os.devnull
        return self.configure(args, invocation)

    def apply(self, config: object, host: ToolHost) -> None:
        """Open ``-o``'s file (line-buffered; ValueError if it cannot be) and use a
        :class:`Trace` writing there, or to stderr (text, or JSON lines with ``--json``); with
        ``--timeline``, check its file can be written and use a timeline (alone when no other
        trace option was given)."""
        assert isinstance(config, TraceConfig)
        import sys  # noqa: PLC0415 (loaded already; stderr is looked up when used)

        from sysemu.tools.trace.tool import TimelineTool, Trace  # noqa: PLC0415 (traced runs)
        from sysemu.tools.trace.tracer import TraceObserver  # noqa: PLC0415

        if config.timeline:
            try:
                open(config.timeline, "w").close()
            except OSError as error:
                raise ValueError(f"--timeline {config.timeline}: {error.strerror}") from None
            host.use(TimelineTool(config.timeline, config.syscalls))
            if not (config.traced or config.output or config.json_lines):
                return

        stream = sys.stderr
        owned = None
        if config.output:
            try:
                stream = owned = open(config.output, "w", buffering=1)  # noqa: SIM115 (Trace.close)
            except OSError as error:
                raise ValueError(f"-o {config.output}: {error.strerror}") from None
        observer: TraceObserver | EventObserver
        if config.json_lines:
            # (Imported here: a text trace has no use for the records' dataclasses.)
            from sysemu.tools.trace.events import EventObserver, JsonLines  # noqa: PLC0415

            observer = EventObserver(
                JsonLines(stream),
                string_limit=config.string_limit,
                show_fd_paths=bool(config.fd_paths),
                selection=config.selection,
            )
        else:
            observer = TraceObserver(
                stream,
                string_limit=config.string_limit,
                show_fd_paths=bool(config.fd_paths),
                timestamps=config.timestamps,
                durations=config.durations,
                selection=config.selection,
            )
        host.use(Trace(observer, config.syscalls, owned=owned, path=config.output))


def _calls(text: str | None, qualifier: str) -> SyscallSet | None:
    """The set of calls an option such as ``-e raw=`` names, or None when it is not given."""
    if text is None:
        return None
    from sysemu.abi.classes import parse_syscall_set  # noqa: PLC0415 (traced runs only)

    try:
        return parse_syscall_set(text, any_number=True)
    except ValueError as error:
        raise ValueError(f"-e {qualifier}=: {error}") from None


OPTIONS = TraceOptions()
