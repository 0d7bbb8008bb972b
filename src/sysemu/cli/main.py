"""``sysemu`` command line: ``sysemu run [OPTIONS] -- CMD [ARG...]``.

Everything the user typed is checked before the program starts: an unknown option, rules file,
syscall or errno name, or a missing program gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import errno_name, errno_number
from sysemu.api.handlers import HandlerError, OnError
from sysemu.cli.rules import RulesError, load_rules
from sysemu.emulator import BACKENDS, DEFAULT_BACKEND, Emulator
from sysemu.engine.attach import Attacher, AttachError
from sysemu.engine.errors import ExecError
from sysemu.engine.spawn import ProgramNotFoundError
from sysemu.tools.vfs.cli import add_arguments as vfs_options
from sysemu.tools.vfs.cli import build as build_vfs

if TYPE_CHECKING:
    from typing import IO, Any

    from sysemu.tools.inject.injector import Injection
    from sysemu.tools.trace import TraceObserver

USAGE_ERROR = 2
HANDLER_ERROR = 70  # EX_SOFTWARE: a handler raised and the program was killed (fail closed)


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil: argparse imports it
    for every formatter it makes (one per ``add_argument``), and with it bz2, lzma, zlib and
    fnmatch, about 3 ms of every start-up."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, as wide as argparse makes it (the terminal's width less 2)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)  # subcommands' parsers too
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


COMMANDS = ("doctor", "run", "attach")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    With ``command`` (one of :data:`COMMANDS`) the other subcommands' parsers are left out:
    :func:`main` parses ``sysemu run ...`` with the ``run`` parser alone, which gets every
    argument after the subcommand's name as it would with all three (building the other two
    is a millisecond of start-up).
    """
    parser = _Parser(
        prog="sysemu",
        description="Run a program with some of its system calls decided in Python.",
    )
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    if command in (None, "doctor"):
        _add_doctor(commands)
    if command in (None, "run"):
        _add_run(commands)
    if command in (None, "attach"):
        _add_attach(commands)
    return parser


def _add_doctor(commands: argparse._SubParsersAction[_Parser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="show what this kernel offers sysemu",
        description="Probe ptrace, seccomp and user-notification features on this kernel; "
        "with --rules or --inject, also say how the auto backend would stop each call.",
    )
    doctor.add_argument("--rules", action="append", default=[], metavar="FILE.py",
                        help="a rules file, as for run (repeatable)")  # fmt: skip
    doctor.add_argument("--inject", action="append", default=[], metavar="SPEC",
                        help="an --inject spec, as for run (repeatable)")  # fmt: skip


def _add_run(commands: argparse._SubParsersAction[_Parser]) -> None:
    run = commands.add_parser(
        "run",
        help="run a program under sysemu",
        description="Run CMD; calls that no rule asks for never stop it.",
    )
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help="seccomp: only calls a handler wants stop (default); ptrace: no filter, every "
        "call stops; unotify: no ptrace, decide-only handlers; sysemu: PTRACE_SYSEMU, no call "
        "runs unless passed; auto: user notification for decides_only handlers, ptrace for "
        "the rest",
    )
    run.add_argument(
        "--drop-cap-sys-ptrace",
        action="store_true",
        help="run CMD without CAP_SYS_PTRACE (dropped from the capability bounding set), so "
        "that even a root program cannot write sysemu's memory through /proc; debuggers "
        "under sysemu then lose it too",
    )
    _add_handler_options(run)
    vfs_options(run)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")


def _add_attach(commands: argparse._SubParsersAction[_Parser]) -> None:
    attach = commands.add_parser(
        "attach",
        help="trace a running process (ptrace only) until it exits or Ctrl-C detaches",
        description="Seize every thread of PID and decide its calls; Ctrl-C or SIGTERM "
        "detaches and leaves it running as before.",
    )
    _add_handler_options(attach)
    # Optional here only so that `attach --trace PID` works (see _attach_pid); required below.
    attach.add_argument("pid", type=int, metavar="PID", nargs="?")


def _add_handler_options(sub: argparse.ArgumentParser) -> None:
    """The options of ``run`` and ``attach``: rules, injection, tracing, errors."""
    sub.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="FILE.py",
        help="load handlers from a Python file that defines register(emu) (repeatable)",
    )
    sub.add_argument(
        "--stats",
        action="store_true",
        help="print a table of intercepted calls and what was decided when the program ends",
    )
    sub.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault: strace's SET:error=ERRNO|retval=N[:signal=SIG][:when=...] plus "
        ":path=GLOB :fd=N :fdpath=GLOB :pid=... :probability=P :after (repeatable; see docs)",
    )
    sub.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="seed for --inject probability=, to repeat a run (printed with --stats)",
    )
    trace = sub.add_argument_group("tracing (like strace -f)")
    trace.add_argument(
        "--trace",
        nargs="?",
        const="all",
        default=None,
        metavar="SET",
        help="print every call (or those of SET: names, !name, /regex, %%class) to stderr",
    )
    trace.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
    trace.add_argument("--json", action="store_true", help="one JSON object per call")
    trace.add_argument(
        "-s", dest="string_limit", type=int, default=32, metavar="N", help="string size (32)"
    )
    trace.add_argument("-y", dest="fd_paths", action="store_true", help="show fd paths")
    trace.add_argument(
        "-t", dest="timestamps", action="count", default=0, help="time of day (-tt: with µs)"
    )
    trace.add_argument("-T", dest="durations", action="store_true", help="time spent in calls")
    sub.add_argument(
        "--on-error",
        choices=[policy.value for policy in OnError],
        default=OnError.KILL.value,
        help="when a handler raises: kill the program (default), fail the call, or pass it",
    )
    sub.add_argument(
        "--handler-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a handler that runs longer is a handler error (--on-error applies)",
    )
    sub.add_argument(
        "--error-errno",
        default="EIO",
        metavar="ERRNO",
        help="the errno of calls failed by --on-error=fail (default EIO)",
    )
    sub.add_argument(
        "--spin-us",
        type=int,
        default=None,
        metavar="N",
        help="poll up to N µs for the next stop instead of sleeping while stops come fast "
        "(default 20 on more than one CPU; 0: never)",
    )


def _not_dumpable() -> None:
    """Make sysemu non-dumpable while it runs a program: then a program of the same user can
    neither ptrace sysemu nor write its memory through /proc/PID/mem (which would undo any
    rule). A program with CAP_SYS_PTRACE (root) still can; root owns the machine anyway."""
    import ctypes  # noqa: PLC0415 (already loaded by the kernel layer)

    from sysemu.kernel.libc import libc  # noqa: PLC0415

    pr_set_dumpable = 4
    libc.prctl(ctypes.c_int(pr_set_dumpable), ctypes.c_ulong(0), ctypes.c_ulong(0),
               ctypes.c_ulong(0), ctypes.c_ulong(0))  # fmt: skip


CAP_SYS_PTRACE = 19
PR_CAPBSET_DROP = 24


def _drop_cap_sys_ptrace() -> None:
    """Drop CAP_SYS_PTRACE from the bounding set that the program inherits. sysemu keeps it
    (it is in its own effective set already); a root program's capabilities after exec come
    from the bounding set, so it lacks it, and with sysemu non-dumpable it can then neither
    ptrace sysemu nor open /proc/<sysemu>/mem. Raises UsageError where this is not allowed
    (without CAP_SETPCAP)."""
    import ctypes  # noqa: PLC0415 (already loaded by the kernel layer)

    from sysemu.kernel.libc import libc  # noqa: PLC0415

    done = libc.prctl(ctypes.c_int(PR_CAPBSET_DROP), ctypes.c_ulong(CAP_SYS_PTRACE),
                      ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))  # fmt: skip
    if done != 0:
        error = ctypes.get_errno()
        raise UsageError(
            f"--drop-cap-sys-ptrace: the bounding set cannot be changed here "
            f"({errno_name(error) if error else 'prctl failed'}; it needs CAP_SETPCAP)"
        )


def _ignore_terminal_signals() -> None:
    """Like a shell waiting for a foreground job: Ctrl-C and Ctrl-\\ are for the program,
    which shares our process group and gets them from the terminal itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)

    def terminate(number: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + number)  # unwinds through the tracer, which kills the tree

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)


def _emulator(args: argparse.Namespace, backend: str) -> Emulator:
    """The Emulator the options of ``run`` and ``attach`` describe; raises UsageError."""
    try:
        error_errno = errno_number(args.error_errno)
    except ValueError as error:
        raise UsageError(f"--error-errno: {error}") from None
    if args.spin_us is not None and args.spin_us < 0:
        raise UsageError("--spin-us: must be 0 or more")
    if args.handler_timeout is not None and args.handler_timeout <= 0:
        raise UsageError("--handler-timeout: must be more than 0")
    emu = Emulator(
        on_error=OnError(args.on_error),
        error_errno=error_errno,
        spin_us=args.spin_us,
        seed=args.seed,
        backend=backend,
        handler_timeout=args.handler_timeout,
    )
    _load_handlers(args, emu)
    return emu


def _load_handlers(args: argparse.Namespace, emu: Emulator) -> None:
    """The handlers of ``--rules`` files and ``--inject`` specs, added to ``emu``; raises
    UsageError for a spec that does not parse."""
    for path in args.rules:
        load_rules(path, emu)
    for spec in args.inject:
        try:
            emu.inject(spec)
        except ValueError as error:
            raise UsageError(f"--inject: {error}") from None


def run_command(args: argparse.Namespace) -> int:
    """``sysemu run`` and ``sysemu attach``: returns the exit status."""
    attaching = args.subcommand == "attach"
    command: list[str] = []
    if attaching:
        _attach_pid(args)
    else:
        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        if not command and args.trace not in (None, "all"):
            raise UsageError(
                f"run: no command given; --trace took {args.trace!r} as its set of calls "
                "(write --trace -- CMD, or --trace=SET -- CMD)"
            )
        if not command:
            raise UsageError("run: no command given (usage: sysemu run [OPTIONS] -- CMD [ARG...])")
    emu = _emulator(args, "ptrace" if attaching else args.backend)
    start_cwd = None
    if not attaching:
        try:
            vfs = build_vfs(args)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if vfs is not None:
            if args.backend == "unotify" and not vfs.decides_only:
                raise UsageError(
                    "--backend unotify cannot rewrite paths: of the virtual filesystem's "
                    "options it can only run --readonly (use seccomp or auto)"
                )
            # Installed at the run, after the rules; the program is looked up in its view.
            emu.fs = vfs
            start_cwd = vfs.start_cwd
    trace_output, tracer = _start_trace(args, emu)
    try:
        if attaching:
            result = emu.attach(args.pid, on_ready=_detach_on_signals)
        else:
            if args.drop_cap_sys_ptrace:
                _drop_cap_sys_ptrace()
            _ignore_terminal_signals()
            _not_dumpable()
            result = emu.run(command, cwd=start_cwd)
    except HandlerError as error:
        import traceback  # noqa: PLC0415 (an error path: start-up does not pay for it)

        print(f"sysemu: {error}; the program was killed", file=sys.stderr)
        if error.__cause__ is not None:
            traceback.print_exception(error.__cause__, file=sys.stderr)
        return HANDLER_ERROR
    finally:
        if trace_output is not None and trace_output is not sys.stderr:
            try:
                trace_output.close()
            except OSError as error:  # the last lines could not be written (a full disk)
                print(f"sysemu: cannot write the trace to {args.output}: {error}", file=sys.stderr)
    if args.stats:
        if tracer is not None:  # strace -c's view of every traced call first
            from sysemu.tools.trace import summary_table  # noqa: PLC0415

            print(summary_table(tracer.summary), file=sys.stderr)
        print(result.stats.table(), file=sys.stderr)
        if args.inject:
            random = emu.injector is not None and any(s.probability for s in emu.injector.specs)
            print(injection_table(result.injections, emu.seed if random else None), file=sys.stderr)
    return result.exit_code


def _attach_pid(args: argparse.Namespace) -> None:
    """``sysemu attach --trace 1234``: ``--trace`` takes an optional set, so it took the pid;
    a set of digits alone names no call, so it is the pid, and every call is traced."""
    trace = args.trace
    if args.pid is None and isinstance(trace, str) and trace.isdigit():
        args.pid, args.trace = int(trace), "all"
    if args.pid is None:
        raise UsageError("attach: no PID given (usage: sysemu attach [OPTIONS] PID)")


def _detach_on_signals(attacher: Attacher) -> None:
    """Ctrl-C, SIGTERM and SIGHUP detach from an attached process (which runs on)."""

    def detach(_number: int, _frame: FrameType | None) -> None:
        attacher.request_detach()

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, detach)


def _start_trace(
    args: argparse.Namespace, emu: Emulator
) -> tuple[IO[str] | None, TraceObserver | None]:
    """Set up ``--trace`` (and ``-o``/``--json``/...): the stream to close after the run, and
    the observer."""
    wanted = args.trace is not None or args.output or args.json
    if not wanted:
        return None, None
    if args.string_limit < 0:
        raise UsageError("-s: must be 0 or more")
    from sysemu.abi.classes import parse_syscall_set  # noqa: PLC0415 (traced runs only)
    from sysemu.tools.trace import trace  # noqa: PLC0415 (only traced runs pay for it)

    try:
        selected = parse_syscall_set(args.trace or "all")
    except ValueError as error:
        raise UsageError(f"--trace: {error}") from None
    stream: IO[str] = sys.stderr
    if args.output:
        try:
            stream = open(args.output, "w", buffering=1)  # noqa: SIM115 (closed after the run)
        except OSError as error:
            raise UsageError(f"-o {args.output}: {error.strerror}") from None
    observer = trace(
        emu.handlers,
        stream,
        selected,
        string_limit=args.string_limit,
        show_fd_paths=args.fd_paths,
        timestamps=args.timestamps,
        durations=args.durations,
        json_lines=args.json,
    )
    return stream, observer


def injection_table(injections: list[Injection], seed: int | None) -> str:
    """Per spec and syscall: how many calls were injected (for ``--stats``)."""
    counts: dict[tuple[str, str], int] = {}
    for injection in injections:
        key = (injection.spec, injection.syscall)
        counts[key] = counts.get(key, 0) + 1
    seeded = f"   (--seed {seed})" if seed is not None else ""
    lines = [f"{'injected':>8}  {'syscall':<16} spec{seeded}"]
    lines += [f"{n:>8}  {name:<16} {spec}" for (spec, name), n in counts.items()]
    if not counts:
        lines.append(f"{0:>8}  (no call matched)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sysemu`` command; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    first = arguments[0] if arguments else None
    parser = build_parser(first if first in COMMANDS else None)
    try:
        args = parser.parse_args(arguments)
        if args.subcommand is None:
            parser.print_help(sys.stderr)
            return USAGE_ERROR
        if args.subcommand == "doctor":
            from sysemu.cli.doctor import print_auto_routes, print_report  # noqa: PLC0415

            if args.rules or args.inject:
                emu = Emulator(backend="auto")
                _load_handlers(args, emu)
                status = print_report()
                print_auto_routes(emu.handlers)
                return status
            return print_report()
        return run_command(args)
    except (UsageError, RulesError) as error:
        print(f"sysemu: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (ProgramNotFoundError, AttachError) as error:
        print(f"sysemu: {error.strerror if isinstance(error, AttachError) else error}",
              file=sys.stderr)  # fmt: skip
        return USAGE_ERROR
    except ExecError as error:
        print(f"sysemu: {error.strerror}", file=sys.stderr)
        return 126
    except OSError as error:
        if error.errno == errno.EPERM:
            print(f"sysemu: {error} (is ptrace allowed here? see `sysctl kernel.yama`)",
                  file=sys.stderr)  # fmt: skip
            return 1
        raise


def entry() -> None:
    """The ``sysemu`` console script: :func:`main`, then exit without the interpreter's
    teardown (freeing every module costs milliseconds a short program would feel; everything
    sysemu owns is closed by then)."""
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
