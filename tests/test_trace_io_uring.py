"""The trace of the io_uring calls: decoded as strace 6.1 decodes them (compared with strace on
the same programs), and a note, once per run, that the operations a ring carries out are not
traced (a line of its own in the text trace, an event of its own in JSON and in Python)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.tools.trace import NoteEvent, SyscallEvent, TraceEvents

from .conftest import PROGRAMS
from .test_trace_json import SCHEMA, errors
from .test_trace_vs_strace import cs

CALLS = "io_uring_setup,io_uring_enter,io_uring_register"
NOTE = "[ Operations submitted through io_uring are not traced ]"
# What differs from run to run: stack addresses (ASLR), the inodes of the pipes -y shows.
# The stack's addresses: 0x7ff... on x86-64, 0xffff... (48-bit) on aarch64.
_STACK_ADDRESS = re.compile(r"\b0x(7ff[0-9a-f]{9}|ffff[0-9a-f]{8})\b")
_INODE = re.compile(r"(?<=pipe:\[)\d+(?=\])")


def _lines(text: str) -> list[str]:
    return _INODE.sub("N", _STACK_ADDRESS.sub("ADDR", text)).splitlines()


def _build(tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    if not Path("/usr/include/liburing.h").exists():
        pytest.skip("liburing is not installed (apt-get install liburing-dev; setup.sh does)")
    output = tmp_path_factory.mktemp("uring") / name
    built = subprocess.run(["cc", "-O1", "-o", str(output), str(PROGRAMS / f"{name}.c"),
                            "-luring"], capture_output=True, text=True, check=False)  # fmt: skip
    if built.returncode != 0:
        pytest.fail(f"cannot build tests/programs/{name}.c: {built.stderr}")
    return str(output)


@pytest.fixture(scope="module")
def uring_calls(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/programs/uring_calls.c: the io_uring calls, made directly, in a fixed order."""
    return _build(tmp_path_factory, "uring_calls")


@pytest.fixture(scope="module")
def uring_write(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/programs/uring_write.c: a liburing program that writes a file through a ring."""
    return _build(tmp_path_factory, "uring_write")


def _strace(tmp_path: Path, *argv: str, options: tuple[str, ...] = ()) -> list[str]:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    out = tmp_path / "strace.txt"
    subprocess.run(["strace", "-o", str(out), *options, "-e", f"trace={CALLS}", *argv],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    return _lines(out.read_text())


def _sysemu(
    tmp_path: Path,
    *argv: str,
    options: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    status: int = 0,
) -> list[str]:
    out = tmp_path / "sysemu.txt"
    done = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "-o", str(out), *options, f"--trace={CALLS}",
         "--", *argv],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    return _lines(out.read_text())


@pytest.mark.parametrize("accelerator", ["native", "python"])
@pytest.mark.parametrize("options", [(), ("-y",)], ids=["plain", "fd-paths"])
def test_the_io_uring_calls_read_as_strace_writes_them(
    uring_calls: str, tmp_path: Path, accelerator: str, options: tuple[str, ...]
) -> None:
    env = dict(os.environ)
    if accelerator == "python":
        env["SYSEMU_NO_SPEEDUPS"] = "1"
    theirs = _strace(tmp_path, uring_calls, options=options)
    ours = _sysemu(tmp_path, uring_calls, options=options, env=env)
    # The note follows the first ring made; apart from it, strace's lines.
    assert ours.index(NOTE) == 1
    ours.remove(NOTE)
    assert ours == theirs
    assert any("IORING_ENTER_GETEVENTS|IORING_ENTER_SQ_WAKEUP|0x1000, [USR1]" in line
               for line in ours)  # fmt: skip
    assert any(", wq_fd=3" in line and "resv" not in line for line in ours)
    assert any("resv=[0x7, 0, 0]}) = -1 EINVAL" in line for line in ours)


def test_a_liburing_program_reads_as_under_strace(uring_write: str, tmp_path: Path) -> None:
    theirs = _strace(tmp_path, uring_write, str(tmp_path / "a"))
    ours = _sysemu(tmp_path, uring_write, str(tmp_path / "b"), options=("--allow-io-uring",))
    assert ours[0] == theirs[0]
    assert ours[0].startswith(
        "io_uring_setup(8, {flags=0, sq_thread_cpu=0, sq_thread_idle=0, "
        "sq_entries=8, cq_entries=16, features=IORING_FEAT_SINGLE_MMAP|"
    )
    assert ours[1] == NOTE
    # Whether the program has to wait for a completion (io_uring_enter(3, 0, 1, ...)) depends
    # on how fast the kernel's workers are: the submissions are compared, the waits checked.
    waits = [line for line in ours if line.startswith("io_uring_enter(3, 0, 1, ")]
    assert set(waits) <= {"io_uring_enter(3, 0, 1, IORING_ENTER_GETEVENTS, NULL, 8) = 0"}
    submitted = [line for line in ours if line.startswith("io_uring_enter(3, 1, ")]
    assert submitted == [line for line in theirs if line.startswith("io_uring_enter(3, 1, ")]
    assert len(submitted) == 2


def test_no_note_when_no_ring_is_made(uring_write: str, tmp_path: Path) -> None:
    """Under a rule io_uring_setup fails (ENOSYS): the program falls back, nothing escapes."""
    tree = tmp_path / "tree"
    tree.mkdir()
    ours = _sysemu(tmp_path, uring_write, str(tree / "f"), options=("--readonly", str(tree)),
                   status=1)  # fmt: skip
    assert len(ours) == 2, ours
    assert ours[0].startswith("io_uring_setup(8, {flags=0, sq_thread_cpu=0, sq_thread_idle=0})")
    assert ours[0].endswith("= -1 ENOSYS (Function not implemented) (INJECTED)")
    assert NOTE not in ours


def test_the_json_trace_has_the_note_once_as_an_event_of_its_own(
    uring_calls: str, tmp_path: Path
) -> None:
    out = tmp_path / "trace.json"
    done = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--json", "-o", str(out), f"--trace={CALLS}",
         "--", uring_calls],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for record in records:
        assert errors(record, SCHEMA) == [], record
    notes = [record for record in records if record["event"] == "note"]
    assert [(n["topic"], n["text"]) for n in notes] == [
        ("io_uring", "Operations submitted through io_uring are not traced")
    ]
    setups = [r for r in records if r.get("name") == "io_uring_setup"]
    assert records.index(notes[0]) == records.index(setups[0]) + 1
    made = setups[1]["args"]["p"]
    assert made["flags"]["flags"] == ["IORING_SETUP_CQSIZE", "IORING_SETUP_CLAMP",
                                      "IORING_SETUP_ATTACH_WQ"]  # fmt: skip
    assert (made["wq_fd"], made["cq_entries"], made["sq_thread_cpu"]) == (3, 64, 1)
    assert "IORING_FEAT_NODROP" in made["features"]["flags"]
    # The offsets are the kernel's layout, which the program printed (6.18: 4 and 64; 5.10 puts
    # each index on a cache line of its own: the tail at 64).
    offsets = f"sq_off.tail={made['sq_off']['tail']} cq_off.cqes={made['cq_off']['cqes']}"
    assert offsets in done.stdout.splitlines()
    failed = setups[2]
    assert failed["errno"] == "EINVAL" and "sq_entries" not in failed["args"]["p"]
    unknown = {"raw": 0x80000001, "flags": ["IORING_SETUP_IOPOLL", "0x80000000"]}
    assert failed["args"]["p"]["flags"] == unknown
    assert setups[4]["args"]["p"] == 0  # NULL, as every structure's address is a number
    registers = [r["args"] for r in records if r.get("name") == "io_uring_register"]
    assert registers[0] == {"fd": 3, "op": {"raw": 2, "name": "IORING_REGISTER_FILES"},
                            "arg": [0, 1, 2], "nr_args": 3}  # fmt: skip
    assert registers[7]["op"] == {"raw": 0x40, "name": None}
    long_array = [r for r in records if r.get("name") == "io_uring_register"][2]
    # JSON keeps 4096 elements whatever -s says (the text shows 32 and "...").
    assert "truncated" not in long_array and long_array["args"]["arg"] == [0, 1, 2] + [-1] * 37


def test_the_note_is_made_once_per_run(uring_calls: str) -> None:
    emu = Emulator()
    events = emu.use(TraceEvents(CALLS))
    for _run in range(2):
        emu.run([uring_calls], capture_output=True, timeout=60)
        notes = [event for event in events if isinstance(event, NoteEvent)]
        assert [(note.topic, note.text) for note in notes] == [
            ("io_uring", "Operations submitted through io_uring are not traced")
        ]
        first = next(e for e in events if isinstance(e, SyscallEvent))
        assert first.name == "io_uring_setup" and first.result == 3


def test_the_timeline_shows_the_note(uring_calls: str, tmp_path: Path) -> None:
    out = tmp_path / "timeline.json"
    done = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--timeline", str(out), f"--trace={CALLS}",
         "--", uring_calls],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    instants = [e["name"] for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "i"]
    assert instants.count("Operations submitted through io_uring are not traced") == 1


def test_the_strace_comparison_skips_notes() -> None:
    trace = cs.parse_trace(f"io_uring_setup(8, 0x1) = 3\n{NOTE}\n[pid 7] {NOTE}\nclose(3) = 0\n")
    assert trace.unparsed == []
    assert [call.name for calls in trace.threads.values() for call in calls] == [
        "io_uring_setup", "close"
    ]  # fmt: skip


def test_the_c_writer_leaves_setup_and_register_to_python() -> None:
    """Their structures are decoded in Python only (and the note is written there): the native
    trace must hand them over. io_uring_enter's arguments are all of kinds C writes (the
    flags' text given by the Python decoder, once per value), compared with strace above."""
    from sysemu.abi import Abi  # noqa: PLC0415
    from sysemu.abi.syscalls import syscall_by_name  # noqa: PLC0415
    from sysemu.tools.trace.c_writer import c_writer_key, c_writer_spec  # noqa: PLC0415

    for name in ("io_uring_setup", "io_uring_register"):
        syscall = syscall_by_name(name, Abi.X86_64)
        assert c_writer_key(syscall) == (0, 0)
        assert c_writer_spec(syscall, 0) is None, name
