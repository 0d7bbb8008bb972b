"""The trace as data: --json lines against docs/trace-json.schema.json, the Python records they
serialise, and the --timeline file (Trace Event Format)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sysemu import Emulator
from sysemu.tools.trace import ExitEvent, SyscallEvent, TraceEvents
from tests.conftest import Programs

SYSEMU = [sys.executable, "-m", "sysemu", "run"]
SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "trace-json.schema.json").read_text())


def sysemu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


# --- A validator for the part of JSON Schema the schema uses ---------------------------------

_TYPES: dict[str, Any] = {"null": type(None), "boolean": bool, "string": str, "array": list,
                          "object": dict, "number": (int, float)}  # fmt: skip


def _is(value: object, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(value: object, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (type, const, enum, minimum, properties, required,
    additionalProperties, items, anyOf and local $ref): empty when it validates."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    if "anyOf" in schema:
        failures = [errors(value, option, where) for option in schema["anyOf"]]
        if all(failures):
            return [f"{where}: matches none of anyOf: {min(failures, key=len)}"]
    found: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, name) for name in names):
            return [f"{where}: {value!r} is not {types}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:  # type: ignore[operator]
        found.append(f"{where}: {value!r} below {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: lacks {key}" for key in schema.get("required", ()) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += errors(item, properties[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: unexpected {key}")
            elif isinstance(extra, dict):
                found += errors(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for position, item in enumerate(value):
            found += errors(item, schema["items"], f"{where}[{position}]")
    return found


def records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]
    for record in parsed:
        assert errors(record, SCHEMA) == [], record
    return parsed


def test_the_validator_finds_what_breaks_the_schema() -> None:
    good = {"v": 1, "event": "exit", "time": 1.0, "pid": 1, "tid": 1, "status": 0,
            "signal": None, "core_dumped": False}  # fmt: skip
    assert errors(good, SCHEMA) == []
    assert errors({**good, "status": "0"}, SCHEMA)
    assert errors({**good, "extra": 1}, SCHEMA)
    assert errors({k: v for k, v in good.items() if k != "v"}, SCHEMA)


# --- --json ----------------------------------------------------------------------------------


def test_json_lines_are_structured_and_validate(tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("x")
    out = tmp_path / "trace.json"
    script = "cat here.txt missing; head -c 10000 /dev/zero | cat >/dev/null; kill -USR1 $$"
    result = sysemu("--json", "-s", "5", "-y", "-o", str(out), "--", "sh", "-c", script,
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 128 + 10
    found = records(out)
    calls = [r for r in found if r["event"] == "syscall"]
    execve = next(r for r in calls if r["name"] == "execve")
    assert execve["args"]["argv"] == ["sh", "-c", script]  # an array of whole strings
    assert isinstance(execve["args"]["envp"], list)
    opened = next(r for r in calls if r["name"] == "openat" and r["args"]["filename"] == "here.txt")
    assert opened["paths"]["filename"] == str(tmp_path / "here.txt")  # resolved, -s 5 or not
    assert opened["args"]["flags"] == {"raw": os.O_RDONLY, "flags": ["O_RDONLY"]}
    assert opened["return"] >= 3 and opened["errno"] is None
    assert opened["paths"]["return"] == str(tmp_path / "here.txt")  # -y: the fd it returned
    assert opened["paths"]["dfd"] == str(tmp_path)  # -y: AT_FDCWD is the working directory
    missing = next(r for r in calls if r["name"] == "openat" and r["args"]["filename"] == "missing")
    assert missing["return"] == -1 and missing["errno"] == "ENOENT"
    read = next(r for r in calls if r["name"] == "read" and r["args"]["buf"] == "x")
    assert read["paths"]["fd"] == str(tmp_path / "here.txt")
    big = [r for r in calls if r["name"] == "write" and r["args"]["count"] > 4096]
    assert big and all(r["truncated"] == ["buf"] and len(r["args"]["buf"]) == 4096 for r in big)
    signal = next(r for r in found if r["event"] == "signal" and r["signal"] == "SIGUSR1")
    assert signal["siginfo"]["si_code"] == "SI_USER"
    assert found[-1]["event"] == "exit" and found[-1]["signal"] == "SIGUSR1"
    assert found[-1]["status"] == -10
    assert any(r["event"] == "exec" and r["program"] == shutil.which("cat") for r in found)
    assert {r["event"] for r in found} >= {"spawn", "exec", "syscall", "signal", "exit"}


def test_a_make_build_gives_the_files_it_opened(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed")
    (tmp_path / "util.h").write_text("int twice(int x);\n")
    (tmp_path / "util.c").write_text('#include "util.h"\nint twice(int x) { return 2 * x; }\n')
    (tmp_path / "main.c").write_text('#include "util.h"\nint main(void) { return twice(0); }\n')
    (tmp_path / "Makefile").write_text(
        "app: main.o util.o\n\tcc -o app main.o util.o\n%.o: %.c util.h\n\tcc -c $<\n"
    )
    out = tmp_path / "trace.json"
    result = sysemu("--json", "-o", str(out), "--", "make", "-s", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()

    # The post-processing a user writes:
    opened = set()
    for line in lines:
        call = json.loads(line)
        if call.get("name") in ("open", "openat") and call["errno"] is None:
            opened.add(call["paths"]["filename"])

    for name in ("Makefile", "main.c", "util.c", "util.h", "main.o", "util.o"):
        assert str(tmp_path / name) in opened
    assert all(path.startswith("/") for path in opened)
    for record in map(json.loads, lines):
        assert errors(record, SCHEMA) == [], record


def test_structures_are_objects(tmp_path: Path) -> None:
    (tmp_path / "entry").write_text("")
    script = (
        "import os, signal, socket, subprocess\n"
        "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try: s.connect('/nonexistent/sock')\n"
        "except OSError: pass\n"
        "os.uname(); os.listdir('.'); subprocess.run(['sh', '-c', 'exit 3'])\n"
    )
    out = tmp_path / "trace.json"
    result = sysemu("--json", "-o", str(out), "--", "python3", "-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    calls = [r for r in records(out) if r["event"] == "syscall"]

    def args(name: str, **match: object) -> dict[str, Any]:
        return next(
            r["args"] for r in calls
            if r["name"] == name and all(r["args"].get(k) == v for k, v in match.items())
        )  # fmt: skip

    usr1 = {"raw": 10, "name": "SIGUSR1"}
    action = next(
        r["args"]["act"] for r in calls
        if r["name"] == "rt_sigaction" and r["args"]["sig"] == usr1 and r["args"]["act"]
    )  # fmt: skip
    assert action["sa_handler"] == "SIG_IGN" and isinstance(action["sa_mask"], list)
    if os.uname().machine == "x86_64":  # (arm64's libc sets no restorer: the vDSO has one)
        assert "SA_RESTORER" in action["sa_flags"]["flags"]
    # (The C library may connect elsewhere first, to nscd for a user lookup: not ours.)
    addresses = [r["args"]["addr"] for r in calls if r["name"] == "connect"]
    assert {"family": "AF_UNIX", "path": "/nonexistent/sock"} in addresses
    assert args("uname")["name"]["sysname"] == "Linux"
    listed = [r["args"]["dirent"] for r in calls if r["name"] == "getdents64" and r["return"]]
    assert any("entry" in {e["d_name"] for e in entries} for entries in listed)
    statuses = [r["args"]["stat_addr"] for r in calls if r["name"] == "wait4" and r["return"]]
    assert [{"raw": 3 << 8, "exited": True, "status": 3}] in statuses
    assert [r for r in calls if _has_text_form(r["args"])] == []  # all structured here


def _has_text_form(value: object) -> bool:
    if isinstance(value, dict):
        return set(value) == {"text"} or any(map(_has_text_form, value.values()))
    return isinstance(value, list) and any(map(_has_text_form, value))


def test_a_record_stays_one_line_whatever_the_bytes_decode_to(tmp_path: Path) -> None:
    """Bytes that decode to NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (a random buffer does,
    now and then) are escaped: str.splitlines and JSON-lines readers see one record a line."""
    out = tmp_path / "trace.json"
    breaks = "\u0085\u2028\u2029"
    script = f"import os; os.write(1, {breaks.encode()!r})"
    result = sysemu("--trace=write", "--json", "-o", str(out), "--", sys.executable, "-S", "-c",
                    script)  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.splitlines() == text.split("\n")[:-1]
    writes = [r for r in records(out) if r["event"] == "syscall" and r["name"] == "write"]
    assert [r["args"]["buf"] for r in writes] == [breaks]


def test_every_decoder_has_a_structured_form() -> None:
    from sysemu.tools.trace import (  # noqa: PLC0415
        decoders,
        decoders_calls,
        decoders_scalar,
        decoders_structs,
        decoders_uring,
        events,
    )
    from sysemu.tools.trace.context import STRUCTURED  # noqa: PLC0415

    assert events.SCHEMA_VERSION == 1
    found = [
        getattr(module, name)
        for module in (decoders_scalar, decoders_structs, decoders_calls, decoders_uring)
        for name in dir(module)
        if name.startswith("dec_") and callable(getattr(module, name))
    ]
    found += [decoder for row in decoders.SYSCALLS.values() for decoder, _phase in row]
    for _register, _mask, shown_of in decoders.KEYED_LAYOUTS.values():
        found += [shown.decoder for key in range(0x80) for shown in shown_of(key)]
    assert [d.__qualname__ for d in found if d not in STRUCTURED] == []


# --- The Python API --------------------------------------------------------------------------


def test_trace_events_are_the_json_lines_as_objects(tmp_path: Path) -> None:
    emu = Emulator()
    events = emu.use(TraceEvents("openat,execve"))
    assert isinstance(events, TraceEvents)
    seen: list[str] = []
    events.on_event = lambda event: seen.append(event.event)
    result = emu.run(["cat", "/etc/hostname", "missing"], cwd=str(tmp_path), timeout=60,
                     capture_output=True)  # fmt: skip
    assert result.exit_code == 1
    assert result.tools["events"] is events.events and len(events) == len(seen)
    calls = [event for event in events if isinstance(event, SyscallEvent)]
    assert {event.name for event in calls} == {"openat", "execve"}
    hostname = next(e for e in calls if e.args.get("filename") == "/etc/hostname")
    assert hostname.result is not None and hostname.result >= 3 and hostname.errno is None
    assert hostname.pid == hostname.tid and result.processes == 1
    assert hostname.time > 0 and hostname.duration is not None and hostname.decision == "passed"
    missing = next(e for e in calls if e.args.get("filename") == "missing")
    assert (missing.result, missing.errno) == (-1, "ENOENT")
    assert missing.paths == {"filename": str(tmp_path / "missing")}
    assert isinstance(events.events[-1], ExitEvent) and events.events[-1].status == 1
    for event in events:
        line = json.loads(json.dumps(event.to_json()))
        assert errors(line, SCHEMA) == []
        assert line["event"] == event.event and line["tid"] == event.tid
    assert hostname.to_json()["return"] == hostname.result


def test_emulated_calls_say_so(tmp_path: Path) -> None:
    emu = Emulator()
    emu.inject("openat", error=2, path="*/hostname")
    events = emu.use(TraceEvents("openat"))
    emu.run(["cat", "/etc/hostname"], timeout=60, capture_output=True)
    failed = next(e for e in events if isinstance(e, SyscallEvent) and e.decision == "failed")
    assert failed.errno == "ENOENT" and failed.paths["filename"] == "/etc/hostname"


# --- --timeline ------------------------------------------------------------------------------


def _timeline(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    assert document["displayTimeUnit"] == "ms" and document["otherData"]["producer"] == "sysemu"
    events: list[dict[str, Any]] = document["traceEvents"]
    for event in events:
        assert event["ph"] in ("M", "X", "i", "s", "f")
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert isinstance(event["name"], str) and isinstance(event.get("args", {}), dict)
        if event["ph"] != "M":
            assert isinstance(event["ts"], int) and event["ts"] >= 0
        if event["ph"] == "X":
            assert isinstance(event["dur"], int) and event["dur"] >= 0
            assert event["args"]["decision"] in ("passed", "emulated", "failed", "rewritten")
            assert "args" in event["args"] and "return" in event["args"]
        if event["ph"] == "i":
            assert event["s"] == "t" and event["cat"] in ("spawn", "exec", "signal", "exit")
        if event["ph"] == "M":
            assert event["name"] in ("process_name", "thread_name") and event["args"]["name"]
    # Within a thread, slices follow one another: none starts before the last one ended.
    by_thread: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event["ph"] == "X":
            by_thread.setdefault(event["tid"], []).append(event)
    for slices in by_thread.values():
        slices.sort(key=lambda s: s["ts"])
        for before, after in itertools.pairwise(slices):
            assert before["ts"] + before["dur"] <= after["ts"], (before, after)
    return events


def test_a_threaded_program_has_a_track_per_thread(tmp_path: Path, programs: Programs) -> None:
    out = tmp_path / "timeline.json"
    result = sysemu("--timeline", str(out), "--inject", "getppid:retval=7",
                    "--", "sh", "-c", f"{programs.rel_threads} 4 20 $$; true")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # a timeline alone writes no trace
    events = _timeline(out)
    processes = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    threads = {e["tid"]: e for e in events if e["name"] == "thread_name"}
    program = next(pid for pid, name in processes.items() if name.startswith("rel_threads"))
    workers = {tid for tid, e in threads.items() if e["pid"] == program and tid != program}
    assert len(workers) == 4
    for tid in workers:  # each thread's calls are on its own track, in its process
        mine = [e for e in events if e["ph"] == "X" and e["tid"] == tid]
        assert mine and all(e["pid"] == program for e in mine)
        assert sum(e["name"] == "getpid" for e in mine) == 20
    # Every slice and instant event is on a named track.
    assert {e["tid"] for e in events if e["ph"] != "M"} <= set(threads)
    assert {e["pid"] for e in events if e["ph"] != "M"} <= set(processes)
    # Each worker has an arrow from the main thread that made it.
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    assert workers <= set(ends) and starts.keys() == ends.keys()
    assert all(starts[tid]["tid"] == program and ends[tid]["bp"] == "e" for tid in workers)
    names = {(e["cat"], e["name"].split()[0]) for e in events if e["ph"] == "i"}
    assert {("exec", "exec"), ("exit", "exit"), ("spawn", "clone"), ("signal", "SIGCHLD")} <= names


def test_timeline_marks_sysemu_decisions(tmp_path: Path) -> None:
    out = tmp_path / "timeline.json"
    spec = "openat:error=EACCES:path=/etc/hostname"
    result = sysemu(
        "--timeline", str(out), "--trace=openat", "--inject", spec, "--", "cat", "/etc/hostname"
    )
    assert result.returncode == 1
    assert "openat(" in result.stderr  # the text trace too
    events = _timeline(out)
    failed = [e for e in events if e["ph"] == "X" and e["args"]["decision"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["args"]["injected"] is True and failed[0]["args"]["errno"] == "EACCES"
    assert failed[0]["args"]["paths"] == {"filename": "/etc/hostname"}
    assert failed[0]["cat"] == "syscall,failed" and failed[0]["cname"] == "terrible"
    assert {e["name"] for e in events if e["ph"] == "X"} == {"openat"}


def test_timeline_file_must_be_writable(tmp_path: Path) -> None:
    result = sysemu("--timeline", str(tmp_path / "no" / "such" / "dir.json"), "--", "true")
    assert result.returncode == 2
    assert result.stderr.startswith("sysemu: --timeline ") and len(result.stderr.splitlines()) == 1
