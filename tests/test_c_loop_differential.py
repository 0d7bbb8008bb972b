"""The C wait loops against their Python twins, on real programs.

Each program of the corpus (shell pipelines, a threaded Python that starts a subprocess, a C
program that forks, vforks, clones and starts threads) runs twice under the same handlers
(tests/c_loop_run.py): once with the accelerator, whose loops decide the calls of routes with
one handler, and once with ``SYSEMU_NO_SPEEDUPS=1``, where Python's loops do everything. The
two runs must show every thread the same sequence of decisions, results and life events, the
same counters and the same output, once thread ids are replaced by names made from who
started whom (the order of a parent's children is its own, so the names do not depend on
timing). Calls whose count depends on timing (futex, wait4, SIGCHLD deliveries)
are not part of the record.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sysemu.kernel import ptrace

from .conftest import Programs

pytestmark = pytest.mark.skipif(
    ptrace.serve_seccomp_stops is None,
    reason="compares the C loops, which come with the accelerator",
)

RUN = Path(__file__).with_name("c_loop_run.py")

PYTHON = r"""
import os, subprocess, sys, threading
results = []
def work(n):
    for _ in range(3):
        os.getuid()
        os.getppid()
    try:
        os.mkdir(f"/tmp/sysemu-differential-{n}")
    except OSError as error:
        results.append((n, error.errno))
threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
for thread in threads:
    thread.start()
    thread.join()
print(sorted(results), os.getuid(), os.getpid() > 0)
try:
    os.chdir("/sysemu-differential-nowhere")
except OSError as error:
    print("chdir", error.errno)
print(os.getcwd())
done = subprocess.run(["sh", "-c", "id -u; cd /sysemu-differential-nowhere && pwd"],
                      capture_output=True, text=True)
print(done.stdout.split(), done.returncode)
"""

CORPUS: dict[str, Any] = {
    "sh-pipeline": lambda programs: [
        "sh", "-c",
        "id -u | cat; mkdir /tmp/sysemu-differential 2>&1 | tr a-z A-Z; "
        "echo $PPID >/dev/null; (cd /sysemu-differential-nowhere && pwd) | wc -c; "
        "for i in 1 2 3; do id -u; done | sort | uniq -c",
    ],
    "python-threads-subprocess": lambda programs: [sys.executable, "-S", "-c", PYTHON],
    "c-spawners": lambda programs: [programs.spawners],
}  # fmt: skip
# Decisions each program must meet (on a ptrace backend): what the comparison is about.
EXPECTED = {
    "sh-pipeline": {"emulate", "none", "pass", "fail", "rewrite"},
    "python-threads-subprocess": {"emulate", "none", "pass", "fail", "rewrite", "observe"},
    "c-spawners": {"pass"},
}
BACKENDS = ("seccomp", "ptrace", "sysemu", "unotify")


def run(backend: str, argv: list[str], tmp_path: Path, *, native: bool) -> dict[str, Any]:
    """One run of ``argv`` under c_loop_run.py: its record."""
    out = tmp_path / f"{backend}-{'c' if native else 'python'}.json"
    env = dict(os.environ)
    env.pop("SYSEMU_NO_SPEEDUPS", None)
    if not native:
        env["SYSEMU_NO_SPEEDUPS"] = "1"
    command = [sys.executable, str(RUN), backend, str(out), "--", *argv]
    # c_loop_run.py kills its program on a timeout; this one only guards against a hang.
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(out.read_text())
    return record


def thread_names(events: list[list[Any]]) -> dict[int, str]:
    """Names for the thread ids of a run, from the observer's ``task_started`` events: the
    root is "root", a parent's n-th child of a kind "<parent>/<kind><n>"."""
    names: dict[int, str] = {}
    children: dict[tuple[str, str], int] = {}
    for event in events:
        if event[1] != "started":
            continue
        tid, parent, kind = event[0], event[2], event[3]
        if parent == 0:
            names[tid] = "root"
            continue
        parent_name = names.get(parent, f"?{parent}")
        index = children.get((parent_name, kind), 0)
        children[(parent_name, kind)] = index + 1
        names[tid] = f"{parent_name}/{kind}{index}"
    return names


def per_thread(record: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The record's events grouped by named thread, in order, thread ids replaced by names
    (``started`` events only make the names)."""
    events = record["events"]
    names = thread_names(events)
    sequences: dict[str, list[list[Any]]] = {}
    for event in events:
        if event[1] == "started":
            continue
        sequences.setdefault(names.get(event[0], f"?{event[0]}"), []).append(event[1:])
    return sequences


def masked_output(record: dict[str, Any]) -> list[str]:
    """The program's output lines, sorted (children print in any order), pids masked."""
    return sorted(re.sub(r"\b\d{3,}\b", "N", line) for line in record["stdout"].splitlines())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("program", sorted(CORPUS))
def test_the_c_loop_decides_as_the_python_loop(
    programs: Programs, tmp_path: Path, backend: str, program: str
) -> None:
    argv = CORPUS[program](programs)
    native = run(backend, argv, tmp_path, native=True)
    python = run(backend, argv, tmp_path, native=False)
    assert native["speedups"] and not python["speedups"]
    # The handlers were called from the C loop's Python caller (its `loop`, or notify's
    # `_loop`) in the first run, never in the second: the C loop did decide.
    c_caller = "_loop" if backend == "unotify" else "loop"
    assert c_caller in native["callers"], native["callers"]
    assert c_caller not in python["callers"], python["callers"]
    assert native["exit_code"] == python["exit_code"]
    assert masked_output(native) == masked_output(python)
    assert native["stats"] == python["stats"]
    assert native["stats"], "no handled call stopped"
    if backend == "unotify":
        # No observers there, so no thread names: the same multiset of sequences.
        grouped: dict[int, list[list[Any]]] = {}
        for record in (native, python):
            by_tid: dict[int, list[Any]] = {}
            for event in record["events"]:
                by_tid.setdefault(event[0], []).append(event[1:])
            grouped[id(record)] = sorted(by_tid.values())
        assert grouped[id(native)] == grouped[id(python)]
        return
    decided = per_thread(native)
    assert decided == per_thread(python)
    decisions = {
        event[2] for sequence in decided.values() for event in sequence if event[0] == "decide"
    }
    assert EXPECTED[program] <= decisions, decisions


def test_a_loop_given_a_malformed_configuration_says_which_attribute() -> None:
    """The configuration is checked once per call, before anything waits: a wrong type is a
    TypeError that names the attribute, not a crash in the loop."""
    from sysemu.api.call import Call  # noqa: PLC0415
    from sysemu.api.decisions import Emulate, Fail, Pass  # noqa: PLC0415
    from sysemu.kernel.loop_config import DecisionConfig, PtraceLoopConfig  # noqa: PLC0415

    def config(**changes: Any) -> PtraceLoopConfig:
        decision: dict[str, Any] = {
            "tasks": {}, "call_type": Call, "emulate_type": Emulate, "fail_type": Fail,
            "pass_type": Pass, "raised": print, "carry_out": print,
        }  # fmt: skip
        loop: dict[str, Any] = {
            "mode": 0, "direct": [], "by_number": {}, "stop": bytearray(1), "spin_ns": 0,
            "resume_request": ptrace.PTRACE_CONT, "trace": None, "resolve": print,
            "adopt": print,
        }  # fmt: skip
        decision.update((k, v) for k, v in changes.items() if k in decision)
        loop.update((k, v) for k, v in changes.items() if k in loop)
        return PtraceLoopConfig(decision=DecisionConfig(**decision), **loop)

    serve = ptrace.serve_seccomp_stops
    assert serve is not None
    with pytest.raises(TypeError, match=r"PtraceLoopConfig\.tasks has the wrong type \(list\)"):
        serve(config(tasks=[]))
    with pytest.raises(TypeError, match=r"PtraceLoopConfig\.trace has the wrong type"):
        serve(config(trace=object()))
    with pytest.raises(TypeError, match=r"PtraceLoopConfig\.direct has the wrong type"):
        serve(config(direct={}))
    # A route's items are taken by position in C: a short one is refused when the object is made.
    with pytest.raises(TypeError, match="a direct route is a tuple of at least 7 items"):
        config(direct=[("getpid", print)])
