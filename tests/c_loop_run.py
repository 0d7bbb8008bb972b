"""One run for tests/test_c_loop_differential.py: ``python c_loop_run.py BACKEND OUT -- CMD...``.

Runs CMD under sysemu with handlers that emulate, fail, pass (None and ``Pass``), rewrite and
look at results, each the one handler of its call (so that the C loops decide them when the
accelerator is there: ``SYSEMU_NO_SPEEDUPS=1`` in the environment makes the Python loops do
it), plus an observer of a few calls and of every thread's life. Writes to OUT, as JSON, every
event in the order it happened with the raw thread ids, the per-syscall counters, the
program's output, and which loop called the handlers. The test names threads and compares.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

from sysemu import Emulator, Observer
from sysemu.abi import abis_for_name
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Outcome, Result
from sysemu.kernel import ptrace

NOWHERE = "/sysemu-differential-nowhere"
# (mkdir is x86's only: asm-generic machines such as aarch64 have mkdirat alone.)
MKDIR = [name for name in ("mkdir", "mkdirat") if abis_for_name(name)]
HANDLED = ("getuid", "getppid", "getpid", *MKDIR, "chdir", "getcwd")
COUNTERS = ("stops", "emulated", "passed", "failed", "rewritten", "results_seen")
OBSERVED = ("execve", "exit_group")


class Recorder(Observer):
    """Every thread's life, and the observed calls' entries and finishes."""

    def __init__(self, events: list[list[Any]]) -> None:
        self.events = events

    def call_entered(self, call: Call) -> None:
        self.events.append([call.tid, "enter", call.name])

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        value = None if result is None else result.value
        self.events.append([call.tid, "finish", call.name, outcome.name, value])

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        self.events.append([tid, "started", parent, kind])

    def exec_done(self, tid: int, former_tid: int) -> None:
        self.events.append([tid, "exec", former_tid == tid])

    def signal_delivered(self, tid: int, signal: int) -> None:
        if signal != 17:  # SIGCHLD: several children's exits may make one delivery
            self.events.append([tid, "signal", signal])

    def task_exited(self, tid: int, status: int) -> None:
        self.events.append([tid, "exited", status])


def main() -> int:
    """Run the program as the module docstring says."""
    backend, out = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1 :]
    ptrace_backend = backend != "unotify"
    events: list[list[Any]] = []
    callers: set[str] = set()
    emulator = Emulator(backend=backend)
    on = emulator.handlers.on

    def seen(call: Call, what: str) -> None:
        callers.add(sys._getframe(2).f_code.co_name)
        events.append([call.tid, "decide", call.name, what])

    @on("getuid")
    def getuid(call: Call) -> Decision | None:
        seen(call, "emulate")
        return call.emulate(4321)

    @on("getppid")
    def getppid(call: Call) -> Decision | None:
        seen(call, "none")
        return None

    @on("getpid")
    def getpid(call: Call) -> Decision | None:
        seen(call, "pass")
        return call.pass_through()

    @on(MKDIR)
    def mkdir(call: Call) -> Decision | None:
        seen(call, "fail")
        return call.fail(errno.EACCES)

    if ptrace_backend:  # what notification cannot do: rewrite, see results

        @on("chdir")
        def chdir(call: Call) -> Decision | None:
            nowhere = call.args.filename in (NOWHERE, NOWHERE.encode())
            seen(call, "rewrite" if nowhere else "none")
            return call.rewrite(filename="/tmp") if nowhere else None

        @on("getcwd")
        def getcwd(call: Call) -> Decision | None:
            seen(call, "observe")

            def finished(result: Result) -> None:
                events.append([call.tid, "result", call.name, result.value])

            return call.observe(finished)

        emulator.handlers.observe(Recorder(events), list(OBSERVED))
    result = emulator.run(argv, capture_output=True, timeout=120)
    stats = {}
    for name in HANDLED:
        try:
            row = result.stats[name]
        except KeyError:  # never stopped
            continue
        stats[name] = {f: getattr(row, f) for f in COUNTERS}
    with open(out, "w") as file:
        json.dump(
            {
                "events": events,
                "stats": stats,
                "stdout": result.stdout.decode(errors="replace") if result.stdout else "",
                "exit_code": result.exit_code,
                "callers": sorted(callers),
                "speedups": ptrace.SPEEDUPS,
                "root": os.getpid(),
            },
            file,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
