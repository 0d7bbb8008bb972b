"""``sysemu`` command line: ``sysemu run [OPTIONS] -- CMD [ARG...]``.

Everything the user typed is checked before the program starts: an unknown option, rules file,
syscall or errno name, or a missing program gives one line on stderr and exit status 2.

The tools' options (tracing, fault injection, the virtual filesystem) come from the tools
registered in :mod:`sysemu.tools.registry`; this module knows none of them by name.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import signal
import sys
from collections.abc import Collection, Sequence
from types import FrameType

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import errno_name, errno_number
from sysemu.api.handlers import OnError
from sysemu.api.routes import HandlerError
from sysemu.cli import strace_options
from sysemu.cli.backends import STATS_ALONE_ON_UNOTIFY, unsupported
from sysemu.cli.rules import RulesError, load_rules
from sysemu.cli.signals import RunSignals
from sysemu.emulator import BACKENDS, DEFAULT_BACKEND, Emulator
from sysemu.engine.errors import AttachError, ExecError, UnsupportedError
from sysemu.engine.spawn import ProgramNotFoundError
from sysemu.tools.registry import tool_options
from sysemu.tools.tool import Invocation, OptionalValue

if TYPE_CHECKING:
    from typing import Any

    from sysemu.engine.attach import Attacher
    from sysemu.tools.tool import ToolOptions

USAGE_ERROR = 2
HANDLER_ERROR = 70  # EX_SOFTWARE: a handler raised and the program was killed (fail closed)
CANNOT_EXECUTE = 126  # as env, timeout and nohup: the program is there but cannot be executed
NOT_FOUND = 127  # and: there is no such program


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
        from sysemu.cli.suggest import option_hint  # noqa: PLC0415 (an error path)

        raise UsageError(message + option_hint(self, message))


COMMANDS = ("doctor", "run", "attach", "syscalls", "sweep")


def build_parser(
    command: str | None = None, *, tools: Collection[str] | None = None
) -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    With ``command`` (one of :data:`COMMANDS`) the other subcommands' parsers are left out:
    :func:`main` parses ``sysemu run ...`` with the ``run`` parser alone, which gets every
    argument after the subcommand's name as it would with all of them (building the others
    is a millisecond of start-up). With ``tools`` (option strings), ``run`` and ``attach``
    offer only the tools that own one of them (see :mod:`sysemu.cli.named`), and the others'
    modules are not imported: ``sysemu run --inject SPEC -- CMD`` loads the injection alone.
    """
    parser = _Parser(
        prog="sysemu",
        description="Run a program with some of its system calls decided in Python.",
    )
    parser.add_argument("--version", action="store_true", help="print sysemu's version and exit")
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    if command in (None, "doctor"):
        _add_doctor(commands)
    if command in (None, "run"):
        _add_run(commands, tools)
    if command in (None, "attach"):
        _add_attach(commands, tools)
    if command in (None, "syscalls"):
        from sysemu.cli.syscalls import add_command  # noqa: PLC0415 (its command only)

        add_command(commands)
    if command in (None, "sweep"):
        from sysemu.cli.sweep import add_command as add_sweep  # noqa: PLC0415 (its command only)

        add_sweep(commands)
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
    for options in tool_options("doctor"):
        options.add_arguments(doctor, "doctor")


def _add_run(commands: argparse._SubParsersAction[_Parser], tools: Collection[str] | None) -> None:
    run = commands.add_parser(
        "run",
        help="run a program under sysemu",
        description="Run CMD; calls that no rule asks for never stop it.",
    )
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help="auto (default): user notification for calls whose handlers only decide, "
        "ptrace for the rest; seccomp: only calls a handler wants stop, all in ptrace; "
        "ptrace: no filter, every call stops; unotify: no ptrace, decide-only handlers; "
        "sysemu: PTRACE_SYSEMU, no call runs unless passed",
    )
    run.add_argument(
        "--drop-cap-sys-ptrace",
        action="store_true",
        help="run CMD without CAP_SYS_PTRACE (dropped from the capability bounding set), so "
        "that even a root program cannot write sysemu's memory through /proc; debuggers "
        "under sysemu then lose it too",
    )
    _add_handler_options(run, "run", tools)
    _add_tool_options(run, "run", tools, shared=False)
    run.set_defaults(tools_owning=tools)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")


def _add_attach(
    commands: argparse._SubParsersAction[_Parser], tools: Collection[str] | None
) -> None:
    attach = commands.add_parser(
        "attach",
        help="trace a running process (ptrace only) until it exits or Ctrl-C detaches",
        description="Seize every thread of PID and decide its calls; Ctrl-C or SIGTERM "
        "detaches and leaves it running as before.",
    )
    _add_handler_options(attach, "attach", tools)
    _add_tool_options(attach, "attach", tools, shared=False)
    attach.set_defaults(tools_owning=tools)
    # Optional here only so that `attach --trace PID` works (see _attach_pid); required below.
    attach.add_argument("pid", type=int, metavar="PID", nargs="?")


def _add_handler_options(
    sub: argparse.ArgumentParser, command: str, tools: Collection[str] | None
) -> None:
    """The options of ``run`` and ``attach``: rules, the tools both offer (those owning one of
    ``tools``, or all), errors."""
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
    _add_tool_options(sub, command, tools, shared=True)
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
    strace_options.add_arguments(sub)
    sub.add_argument(
        "--no-vdso",
        action="store_true",
        help="hide the vDSO from every program exec'd, so that clock_gettime, gettimeofday "
        "and time enter the kernel, where rules see them (the time options imply it)",
    )
    sub.add_argument(
        "--allow-io-uring",
        action="store_true",
        help="let the program make io_uring rings even where their operations would bypass a "
        "rule (by default io_uring_setup then fails with ENOSYS, and programs fall back to "
        "plain calls)",
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
        "(default 250 on more than one CPU; 0: never)",
    )


def _shared(options: ToolOptions) -> bool:
    return "run" in options.commands and "attach" in options.commands


def _add_tool_options(
    parser: argparse.ArgumentParser, command: str, tools: Collection[str] | None, *, shared: bool
) -> None:
    """The options of the registered tools that ``command`` offers (those owning one of
    ``tools``, or all): with ``shared``, those of tools that both ``run`` and ``attach`` offer
    (they come with the handler options), else the others (after them)."""
    for options in tool_options(command, owning=tools):
        if _shared(options) == shared:
            options.add_arguments(parser, command)


def _not_dumpable() -> None:
    """Make sysemu non-dumpable while it runs a program: then a program of the same user can
    neither ptrace sysemu nor write its memory through /proc/PID/mem (which would undo any
    rule). A program with CAP_SYS_PTRACE (root) still can; root owns the machine anyway."""
    from sysemu.kernel.raw import PR_SET_DUMPABLE, SYS_PRCTL, syscall  # noqa: PLC0415

    syscall(SYS_PRCTL, PR_SET_DUMPABLE, 0, 0, 0, 0)  # (it cannot fail for our own process)


CAP_SYS_PTRACE = 19


def _drop_cap_sys_ptrace() -> None:
    """Drop CAP_SYS_PTRACE from the bounding set that the program inherits. sysemu keeps it
    (it is in its own effective set already); a root program's capabilities after exec come
    from the bounding set, so it lacks it, and with sysemu non-dumpable it can then neither
    ptrace sysemu nor open /proc/<sysemu>/mem. Raises UsageError where this is not allowed
    (without CAP_SETPCAP)."""
    from sysemu.kernel.raw import PR_CAPBSET_DROP, prctl  # noqa: PLC0415

    try:
        prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE)
    except OSError as error:
        raise UsageError(
            f"--drop-cap-sys-ptrace: the bounding set cannot be changed here "
            f"({errno_name(error.errno) if error.errno else 'prctl failed'}; it needs CAP_SETPCAP)"
        ) from None


def _emulator(args: argparse.Namespace, backend: str) -> Emulator:
    """The Emulator the options of ``run`` and ``attach`` describe, with the rules files'
    handlers and the tools the options ask for; raises UsageError."""
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
        backend=backend,
        handler_timeout=args.handler_timeout,
        allow_io_uring=args.allow_io_uring,
        vdso=not args.no_vdso,
    )
    if args.allow_io_uring:
        print(
            "sysemu: warning: --allow-io-uring: operations the program submits through "
            "io_uring bypass every rule",
            file=sys.stderr,
        )
    _load_handlers(args, emu, Invocation(args.subcommand, backend))
    emu.vdso_warned = _print_warning
    return emu


def _print_warning(message: str) -> None:
    print(f"sysemu: warning: {message}", file=sys.stderr)


def _load_handlers(args: argparse.Namespace, emu: Emulator, invocation: Invocation) -> bool:
    """The handlers of ``--rules`` files, then the tools the options ask for, added to
    ``emu``; returns whether the options asked for any tool. Raises UsageError for a tool's
    bad option.

    Every tool's options are checked before any is applied, so that a bad one leaves no
    file (``-o``) opened or created.
    """
    for path in args.rules:
        load_rules(path, emu)
    configured: list[tuple[ToolOptions, object]] = []
    for options in _tools_of(args, invocation.command):
        try:
            config = options.configure(args, invocation)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if config is not None:
            configured.append((options, config))
    for options, config in configured:
        try:
            options.apply(config, emu)
        except ValueError as error:
            _close_tools(emu)
            raise UsageError(str(error)) from None
    return bool(configured)


def _close_tools(emu: Emulator) -> None:
    """Close every tool of ``emu`` (its output files), reporting what could not be written."""
    for tool in emu.tools.values():
        problem = tool.close()
        if problem is not None:
            print(f"sysemu: {problem}", file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    """``sysemu run`` and ``sysemu attach``: returns the exit status."""
    try:
        strace_options.apply(args)  # -f, -e trace=, -e inject=, -p: sysemu's own options now
    except ValueError as error:
        raise UsageError(str(error)) from None
    attaching = args.subcommand == "attach"
    command: list[str] = []
    if attaching:
        _attach_pid(args)
    else:
        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        taken = _optional_values_taken(args, "run")
        if not command and taken:
            option, value = taken[0].option, getattr(args, taken[0].dest)
            raise UsageError(
                f"run: no command given; {option} took {value!r} as {taken[0].meaning} "
                f"(write {option} -- CMD, or {option}={taken[0].metavar} -- CMD)"
            )
        if not command:
            raise UsageError("run: no command given (usage: sysemu run [OPTIONS] -- CMD [ARG...])")
        refusal = unsupported(args)
        if refusal is not None:
            raise UsageError(refusal)
    emu = _emulator(args, "ptrace" if attaching else args.backend)
    # strace -c: --stats with no rule and no tool counts every call.
    count_all = args.stats and not emu.tools and not len(emu.handlers)
    if count_all:
        if not attaching and args.backend == "unotify":
            raise UsageError(STATS_ALONE_ON_UNOTIFY)
        _count_every_call(args, emu)
    try:
        if attaching:
            _collect_from_now_on()
            result = emu.attach(args.pid, on_ready=_detach_on_signals)
        else:
            if args.drop_cap_sys_ptrace:
                _drop_cap_sys_ptrace()
            signals = RunSignals()
            signals.install(emu)  # a signal the program sends its own group is its own
            _not_dumpable()
            # A tool may choose where the program starts (the virtual filesystem's --cwd).
            _collect_from_now_on()
            result = emu.run(command)
            signals.run_ended()
    except HandlerError as error:
        import traceback  # noqa: PLC0415 (an error path: start-up does not pay for it)

        print(f"sysemu: {error}; the program was killed", file=sys.stderr)
        if error.__cause__ is not None:
            traceback.print_exception(error.__cause__, file=sys.stderr)
        return HANDLER_ERROR
    finally:
        _close_tools(emu)
    if args.stats:
        tools = emu.tools.values()
        # Tables that count every call (the trace's, like strace -c) come first.
        tables = [tool.stats_table(result) for tool in tools if tool.stats_first]
        if not count_all:  # (counting alone, every row would say passed)
            tables.append(result.stats.table())
        tables += [tool.stats_table(result) for tool in tools if not tool.stats_first]
        for table in tables:
            if table is not None:
                print(table, file=sys.stderr)
    return result.exit_code


def _count_every_call(args: argparse.Namespace, emu: Emulator) -> None:
    """Put on ``emu`` the tools that count every call for ``--stats`` alone (the trace's
    strace ``-c`` table); see :meth:`ToolOptions.configure_counting`."""
    invocation = Invocation(args.subcommand, emu.backend)
    for options in _tools_of(args, args.subcommand):
        config = options.configure_counting(args, invocation)
        if config is not None:
            options.apply(config, emu)


def _tools_of(args: argparse.Namespace, command: str) -> list[ToolOptions]:
    """The tools whose options the parser of ``args`` offered ``command``."""
    return tool_options(command, owning=getattr(args, "tools_owning", None))


def _optional_values_taken(args: argparse.Namespace, command: str) -> list[OptionalValue]:
    """The tools' options with an optional value that took one (which may be the command
    or the PID: ``sysemu run --trace ls``)."""
    taken = []
    for options in _tools_of(args, command):
        for optional in options.optional_values:
            if getattr(args, optional.dest, None) not in (None, optional.const):
                taken.append(optional)
    return taken


def _attach_pid(args: argparse.Namespace) -> None:
    """``sysemu attach --trace 1234``: ``--trace`` takes an optional set, so it took the pid;
    a set of digits alone names no call, so it is the pid, and every call is traced (the
    same for every tool's option with an optional value)."""
    if args.pid is None:
        for taken in _optional_values_taken(args, "attach"):
            value = getattr(args, taken.dest)
            if isinstance(value, str) and value.isdigit():
                args.pid = int(value)
                setattr(args, taken.dest, taken.const)
                break
    if args.pid is None:
        raise UsageError("attach: no PID given (usage: sysemu attach [OPTIONS] PID)")


def _detach_on_signals(attacher: Attacher) -> None:
    """Ctrl-C, SIGTERM and SIGHUP detach from an attached process (which runs on)."""

    def detach(_number: int, _frame: FrameType | None) -> None:
        attacher.request_detach()

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, detach)


def _messages_as_written() -> None:
    """argparse passes each of its own words ("usage:", "error:"...) through gettext, which
    would search the disk for a catalog every time. sysemu's help and messages are English,
    and Python ships no catalog for argparse, so its words are used as written: one language
    in every message, and no search (the first one imports :mod:`locale`, over a million
    instructions of every start)."""
    argparse._ = _as_written  # type: ignore[attr-defined]
    argparse.ngettext = _singular_or_plural  # type: ignore[attr-defined]


def _as_written(message: str) -> str:
    return message


def _singular_or_plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


# Set by entry(): the process is the command line's own, whose start-up (parsing, loading the
# tools and the rules, building the filter) makes only objects that live for the whole run.
_collector_waits = False


def _collect_from_now_on() -> None:
    """Called as the program starts: the cyclic collector runs from now on (handlers may make
    cycles for as long as the run lasts), and what start-up made is left out of its scans
    (``gc.freeze``), which would otherwise find it alive every time."""
    global _collector_waits
    if _collector_waits:
        _collector_waits = False
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sysemu`` command; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    _messages_as_written()
    first = arguments[0] if arguments else None
    tools: frozenset[str] | None = None  # every tool; for run and attach, the tools named
    if first in ("run", "attach"):
        tools = frozenset()  # (no option given: nothing to read, not even sysemu.cli.named)
        if len(arguments) > 1 and arguments[1] != "--" and arguments[1].startswith("-"):
            from sysemu.cli.named import options_named  # noqa: PLC0415 (options given)

            tools = options_named(arguments[1:])
    parser = build_parser(first if first in COMMANDS else None, tools=tools)
    try:
        args = parser.parse_args(arguments)
        if args.version:
            from sysemu.cli.version import version_line  # noqa: PLC0415 (--version only)

            print(version_line())
            return 0
        if args.subcommand is None:
            parser.print_help(sys.stderr)
            return USAGE_ERROR
        if args.subcommand == "syscalls":
            from sysemu.cli.syscalls import print_syscalls  # noqa: PLC0415

            try:
                return print_syscalls(args.set)
            except ValueError as error:
                raise UsageError(f"syscalls: {error}") from None
        if args.subcommand == "sweep":
            from sysemu.cli.sweep import run_sweep  # noqa: PLC0415 (its command only)

            try:
                return run_sweep(args)
            except ValueError as error:
                raise UsageError(str(error)) from None
        if args.subcommand == "doctor":
            from sysemu.cli.doctor import print_auto_routes, print_report  # noqa: PLC0415

            emu = Emulator(backend="auto")
            if _load_handlers(args, emu, Invocation("doctor", "auto")) or args.rules:
                status = print_report()
                print_auto_routes(emu.handlers)
                warning = emu.vdso_warning()
                if warning is not None:
                    print(f"\nwarning: {warning}")
                return status
            return print_report()
        return run_command(args)
    except (UsageError, RulesError, UnsupportedError) as error:  # before the program starts
        print(f"sysemu: {error}", file=sys.stderr)
        return USAGE_ERROR
    except ProgramNotFoundError as error:
        print(f"sysemu: {error}", file=sys.stderr)
        return CANNOT_EXECUTE if error.found else NOT_FOUND
    except AttachError as error:
        print(f"sysemu: {error.strerror}", file=sys.stderr)
        return USAGE_ERROR
    except ExecError as error:
        print(f"sysemu: {error.strerror}", file=sys.stderr)
        # As env(1) and the shells: a program (or its #! interpreter) that is not there is
        # 127, one that is there and cannot be executed 126.
        return NOT_FOUND if error.errno == errno.ENOENT else CANNOT_EXECUTE
    except OSError as error:
        if error.errno == errno.EPERM:
            print(f"sysemu: {error} (is ptrace allowed here? see `sysctl kernel.yama`)",
                  file=sys.stderr)  # fmt: skip
            return 1
        raise


def entry() -> None:
    """The ``sysemu`` console script: :func:`main`, then exit without the interpreter's
    teardown (freeing every module costs milliseconds a short program would feel; everything
    sysemu owns is closed by then). The cyclic collector waits until the program starts (see
    :func:`_collect_from_now_on`)."""
    global _collector_waits
    gc.disable()
    _collector_waits = True
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
