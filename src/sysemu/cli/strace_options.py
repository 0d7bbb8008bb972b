"""strace's spellings, where they mean what sysemu's own options mean.

``-f`` is accepted (sysemu always follows every process and thread), ``-e trace=SET`` is
``--trace=SET`` (a SET alone too, as strace reads ``-e open``), ``-e inject=SPEC`` is
``--inject SPEC``, and ``-p PID`` attaches (``sysemu run -p PID`` is ``sysemu attach PID``).
:func:`apply` turns them into sysemu's own options before anything else reads them, so the
rest of the command line knows only one spelling.
"""

from __future__ import annotations

import argparse

_TRACE = ("trace", "t")
_INJECT = ("inject",)
# Qualifiers that are the tracing group's long options: qualifier -> the option's dest.
_TRACE_OPTIONS = {"signal": "trace_signals", "signals": "trace_signals", "s": "trace_signals",
                  "raw": "trace_raw", "x": "trace_raw", "verbose": "trace_verbose",
                  "v": "trace_verbose", "abbrev": "trace_abbrev", "a": "trace_abbrev"}  # fmt: skip
_QUALIFIER_NAMES = {"trace_signals": "signal", "trace_raw": "raw", "trace_verbose": "verbose",
                    "trace_abbrev": "abbrev"}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-f``, ``-e`` and ``-p`` to ``run``'s or ``attach``'s parser."""
    group = parser.add_argument_group("strace's spellings")
    group.add_argument("-f", dest="strace_follow", action="count", default=0,
                       help="accepted: every process and thread is always followed")  # fmt: skip
    group.add_argument(
        "-e",
        dest="strace_expressions",
        action="append",
        default=[],
        metavar="trace=SET|inject=SPEC",
        help="strace's -e: trace=SET is --trace=SET (a SET alone too), inject=SPEC is "
        "--inject SPEC (repeatable)",
    )
    group.add_argument("-p", dest="strace_pid", type=int, default=None, metavar="PID",
                       help="attach to PID, as sysemu attach PID does")  # fmt: skip


def apply(args: argparse.Namespace) -> None:
    """Rewrite strace's spellings in ``args`` into sysemu's own options; raises ValueError,
    with a one-line message, for what has no meaning here."""
    if args.strace_follow > 1:
        raise ValueError("-ff: one output file per process is not supported (-f is enough)")
    for expression in args.strace_expressions:
        _expression(args, expression)
    if args.strace_pid is not None:
        _attach(args, args.strace_pid)


def _expression(args: argparse.Namespace, expression: str) -> None:
    qualifier, equals, value = expression.partition("=")
    if not equals:  # "-e open,close": a set to trace
        qualifier, value = "trace", expression
    if qualifier in _TRACE:
        if args.trace is not None:
            raise ValueError(
                f"-e {expression}: the set to trace is given twice (write it once, comma-separated)"
            )
        args.trace = value
    elif qualifier in _INJECT:
        args.inject.append(value)
    elif qualifier in _TRACE_OPTIONS:
        setattr(args, _TRACE_OPTIONS[qualifier], value)
    else:
        from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415 (an error path)

        known = ("trace", "inject", *dict.fromkeys(_TRACE_OPTIONS.values()))
        names = [_QUALIFIER_NAMES.get(name, name) for name in known]
        hint = did_you_mean(qualifier, names)
        listed = ", ".join(f"{name}=" for name in names)
        raise ValueError(f"-e {qualifier}=: not supported; sysemu takes {listed}{hint}")


def _attach(args: argparse.Namespace, pid: int) -> None:
    if args.subcommand == "attach":
        if args.pid is not None and args.pid != pid:
            raise ValueError(f"attach: two PIDs given ({args.pid} and -p {pid})")
        args.pid = pid
        return
    if [word for word in args.command if word != "--"]:
        raise ValueError("-p PID attaches to a running process: give no command with it")
    # (auto, the default, chooses ptrace for what it attaches to, as seccomp does.)
    if args.backend not in ("seccomp", "ptrace", "auto"):
        raise ValueError(f"-p: attaching is ptrace only, not --backend {args.backend}")
    if args.drop_cap_sys_ptrace:
        raise ValueError("-p: attaching changes no capability (no --drop-cap-sys-ptrace)")
    from sysemu.tools.registry import tool_options  # noqa: PLC0415 (loaded already)
    from sysemu.tools.tool import Invocation  # noqa: PLC0415

    attach_tools = {options.name for options in tool_options("attach")}
    for options in tool_options("run"):
        # A tool that only runs can serve (the virtual filesystem) must not be dropped quietly.
        if options.name not in attach_tools and options.configure(
            args, Invocation("run", args.backend)
        ):
            raise ValueError(f"-p: attaching cannot use the {options.name} tool's options")
    args.subcommand, args.pid = "attach", pid
