"""A python-ptrace tracer doing what sysemu's benchmark asks of sysemu, for comparison.

    ptrace_peer.py emulate|pass NR -- PROGRAM [ARG...]
    ptrace_peer.py --all -- PROGRAM [ARG...]

python-ptrace has no seccomp support, so the program stops twice (entry and exit) on every
system call whatever we want from it: that cost is what this peer exists to show. ``emulate NR``
skips syscall NR (x86_64 number) at entry by setting ``orig_rax`` to -1 and makes it return
42424242 by setting ``rax`` at exit; ``pass NR`` only reads the number at entry to decide to leave
the call alone (what any conditional tracer must do); ``--all`` reads nothing and only resumes.
Follows forks, clones and execs; re-injects signals; exits with the program's status.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from ptrace.debugger import (  # type: ignore[import-untyped]
    NewProcessEvent,
    ProcessExecution,
    ProcessExit,
    ProcessSignal,
    PtraceDebugger,
)
from ptrace.debugger.child import createChild  # type: ignore[import-untyped]

EMULATED_RESULT = 42424242
SKIP = 2**64 - 1  # orig_rax = -1: the kernel skips the call (registers are unsigned words)


def parse(argv: Sequence[str]) -> tuple[str, int, list[str]]:
    """``(mode, nr, command)`` from the command line; exits with status 2 on bad usage."""
    parser = argparse.ArgumentParser(
        prog="ptrace_peer.py",
        usage="%(prog)s emulate|pass NR -- PROGRAM [ARG...]\n"
        "       %(prog)s --all -- PROGRAM [ARG...]",
    )
    parser.add_argument("--all", action="store_true", help="stop on every call, change nothing")
    parser.add_argument("mode", nargs="?", choices=["emulate", "pass"])
    parser.add_argument("nr", nargs="?", type=int, help="x86_64 system call number")
    # Split by hand: argparse would take the program's own options for ours.
    if "--" not in argv:
        parser.error("missing -- before the program")
    split = list(argv).index("--")
    args = parser.parse_args(list(argv[:split]))
    command = list(argv[split + 1 :])
    if not command:
        parser.error("no program given")
    if args.all:
        if args.mode is not None:
            parser.error("--all takes no mode or NR")
        return "all", -1, command
    if args.mode is None or args.nr is None:
        parser.error("give emulate|pass NR, or --all")
    return str(args.mode), int(args.nr), command


def trace(mode: str, nr: int, command: list[str]) -> int:
    """Run ``command`` under the tracer; returns its exit status (128 + signal if killed)."""
    debugger = PtraceDebugger()
    debugger.traceFork()
    debugger.traceExec()
    debugger.traceClone()
    root = debugger.addProcess(createChild(command, no_stdout=False), is_attached=True)
    # PTRACE_SYSCALL does not say whether a stop is an entry or an exit: keep count per thread.
    in_syscall: dict[int, bool] = {root.pid: False}
    emulating: set[int] = set()  # threads whose current call we skipped at entry
    exit_code = 0
    root.syscall()
    while debugger:
        try:
            event = debugger.waitSyscall()
        except ProcessExit as exited:
            process = exited.process
            if process is root:
                exit_code = (
                    128 + exited.signum if exited.signum is not None else exited.exitcode or 0
                )
            debugger.deleteProcess(process)
            in_syscall.pop(process.pid, None)
            emulating.discard(process.pid)
            continue
        except NewProcessEvent as created:
            # A new process starts outside any call, stopped; its parent sits in the
            # fork/clone call, between entry and exit, which our count already says.
            child = created.process
            in_syscall[child.pid] = False
            child.syscall()
            child.parent.syscall()
            continue
        except ProcessExecution as executed:
            executed.process.syscall()
            continue
        except ProcessSignal as delivered:
            delivered.process.syscall(delivered.signum)  # a real signal: hand it on
            continue
        process = event.process
        pid = process.pid
        entering = not in_syscall[pid]
        in_syscall[pid] = entering
        if mode != "all":
            if entering:
                number = process.getreg("orig_rax")  # pass mode too: deciding needs it
                if number == nr and mode == "emulate":
                    process.setreg("orig_rax", SKIP)
                    emulating.add(pid)
            elif pid in emulating:
                process.setreg("rax", EMULATED_RESULT)
                emulating.discard(pid)
        process.syscall()
    debugger.quit()
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the traced program's exit status."""
    mode, nr, command = parse(sys.argv[1:] if argv is None else argv)
    # The tracer must outlive a Ctrl-C aimed at the program, like strace and sysemu.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return trace(mode, nr, command)
    except OSError as error:
        print(f"ptrace_peer.py: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
