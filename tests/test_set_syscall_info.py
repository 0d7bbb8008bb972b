"""Changing calls with ``PTRACE_SET_SYSCALL_INFO`` (Linux 6.16) and with registers gives the
same runs.

The request's own wrapper is checked against a fake ``ptrace`` (the bytes it sends, what an
older kernel's EIO does); the architecture layer against a fake tracee; and a real program
(tests/programs/changed_calls.c, 64-bit and i386 builds) whose path, number, arguments and
result are changed and one of whose calls is emulated runs on the ptrace backends twice, with
the request and with ``SYSEMU_NO_SET_SYSCALL_INFO=1``, under the C loops and under the Python
ones (``SYSEMU_NO_SPEEDUPS=1``). The runs must print the same lines and count the same
decisions, and only the first may use the request. Notification uses no ptrace: not here.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sysemu.abi import Abi
from sysemu.kernel import ptrace
from sysemu.kernel.arch.x86_64 import X86_64

from .conftest import Programs

HAS_REQUEST = ptrace.known_requests(ptrace.PTRACE_SET_SYSCALL_INFO)[0]
needs_request = pytest.mark.skipif(
    not HAS_REQUEST, reason="the kernel has no PTRACE_SET_SYSCALL_INFO (Linux 6.16)"
)
_INFO = struct.Struct("<BBHIQQq6Q")  # op, reserved, flags, arch, ip, sp, nr, args


class FakePtrace:
    """``ptrace(2)`` as the wrapper sees it: records each request and its buffer's bytes,
    and answers ``answer``."""

    def __init__(self, answer: int = 0) -> None:
        self.answer = answer
        self.sent: list[tuple[int, int, bytes]] = []

    def __call__(self, request: int, tid: int, addr: object, data: object) -> int:
        assert isinstance(data, bytearray) and addr == len(data) == 88
        self.sent.append((request, tid, bytes(data)))
        return self.answer


@pytest.fixture
def fake_ptrace(monkeypatch: pytest.MonkeyPatch) -> FakePtrace:
    fake = FakePtrace()
    monkeypatch.setattr(ptrace, "_ptrace", fake)
    monkeypatch.setattr(ptrace, "set_syscall_info_works", None)
    return fake


def test_the_request_carries_the_stop_number_and_arguments(fake_ptrace: FakePtrace) -> None:
    assert ptrace.set_syscall_call(7, 0x4000_0002, (1, -1, 3, 4, 5, 6), seccomp=True)
    assert ptrace.set_syscall_info_works is True
    request, tid, sent = fake_ptrace.sent[-1]
    assert (request, tid) == (ptrace.PTRACE_SET_SYSCALL_INFO, 7)
    op, reserved, flags, arch, ip, sp, nr, *args = _INFO.unpack_from(sent)
    assert (op, reserved, flags, arch, ip, sp) == (ptrace.SYSCALL_INFO_SECCOMP, 0, 0, 0, 0, 0)
    assert (nr, args) == (0x4000_0002, [1, (1 << 64) - 1, 3, 4, 5, 6])
    assert sent[_INFO.size :] == bytes(88 - _INFO.size)  # ret_data and reserved2
    assert ptrace.set_syscall_call(7, 2, (0,) * 6, seccomp=False)
    assert fake_ptrace.sent[-1][2][0] == ptrace.SYSCALL_INFO_ENTRY


def test_a_result_is_stored_whole_never_as_an_error(fake_ptrace: FakePtrace) -> None:
    """``is_error`` would pass the value through an int in the kernel: it stays 0."""
    for value, rval in ((-errno.EPERM, -errno.EPERM), (1 << 40, 1 << 40), ((1 << 64) - 2, -2)):
        assert ptrace.set_syscall_return(3, value)
        sent = fake_ptrace.sent[-1][2]
        assert sent[0] == ptrace.SYSCALL_INFO_EXIT and sent[1:24] == bytes(23)
        assert struct.unpack_from("<qB", sent, 24) == (rval, 0)


def test_a_number_no_int_holds_goes_through_registers(fake_ptrace: FakePtrace) -> None:
    """The kernel refuses it (ERANGE); the number register takes it and the kernel reads its
    low 32 bits, as it always did."""
    assert ptrace.set_syscall_call(7, 1 << 32, (0,) * 6, seccomp=True) is None
    assert fake_ptrace.sent == [] and ptrace.set_syscall_info_works is None


def test_an_older_kernel_answers_eio_once(fake_ptrace: FakePtrace) -> None:
    fake_ptrace.answer = -errno.EIO
    assert ptrace.set_syscall_call(7, 1, (0,) * 6, seccomp=True) is None
    assert ptrace.set_syscall_info_works is False
    assert ptrace.set_syscall_return(7, 0) is None
    assert len(fake_ptrace.sent) == 1  # not asked again
    fake_ptrace.answer = -errno.ESRCH
    ptrace.set_syscall_info_works = None
    assert ptrace.set_syscall_call(7, 1, (0,) * 6, seccomp=True) is False  # gone


class RecordingTracee:
    """Registers and the request, as the architecture layer uses them; ``has_request``
    False answers as a kernel without it."""

    def __init__(self, *, has_request: bool) -> None:
        self.has_request = has_request
        self.requests: list[str] = []
        self.regs = bytearray(X86_64.layout.size)

    def set_syscall_call(self, tid: int, nr: int, args: Any, *, seccomp: bool) -> bool | None:
        self.requests.append(f"set_call {nr} {list(args)} {'seccomp' if seccomp else 'entry'}")
        return True if self.has_request else None

    def set_syscall_return(self, tid: int, value: int) -> bool | None:
        self.requests.append("set_return")
        return True if self.has_request else None

    def poke_user(self, tid: int, offset: int, value: int) -> bool:
        self.requests.append("poke")
        return True

    def poke_user_twice_then(self, *args: int) -> bool:
        self.requests.append("poke poke resume")
        return True

    def get_regs(self, tid: int, buffer: bytearray) -> bool:
        self.requests.append("getregs")
        buffer[:] = self.regs
        return True

    def set_regs(self, tid: int, buffer: bytearray) -> bool:
        self.requests.append("setregs")
        self.regs[:] = buffer
        return True


def test_x86_64_rewrites_with_the_request_and_keeps_registers_elsewhere() -> None:
    tracee = RecordingTracee(has_request=True)
    arch = X86_64(tracee)
    assert arch.rewrite(1, Abi.X32, 2, (1, 2, 3, 4, 5, 6), seccomp=False)
    assert tracee.requests == [f"set_call {0x4000_0002} [1, 2, 3, 4, 5, 6] entry"]
    tracee.requests.clear()
    # Neither saves a request: a skip needs the result written anyway, and a result is one
    # register.
    assert arch.skip_and_continue(1, -1, ptrace.PTRACE_CONT)
    assert arch.set_return(1, 5)
    assert tracee.requests == ["poke poke resume", "poke"]


def test_without_the_request_a_rewrite_is_a_register_pair() -> None:
    tracee = RecordingTracee(has_request=False)
    arch = X86_64(tracee)
    assert arch.rewrite(1, Abi.I386, 5, (10, 20, 30, 40, 50, 60), seccomp=True)
    assert tracee.requests == [
        f"set_call 5 {[10, 20, 30, 40, 50, 60]} seccomp",
        "getregs",
        "setregs",
    ]
    assert arch.read_register(1, "orig_rax") == 5
    assert [arch.read_register(1, name) for name in ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp")] == [
        10, 20, 30, 40, 50, 60
    ]  # fmt: skip


# --- a real program -------------------------------------------------------------------------

RUNNER = r"""
import collections, json, sys
from sysemu import Emulator
from sysemu.kernel import ptrace

backend, out, program, original, replacement, directory = sys.argv[1:7]
counts = collections.Counter()
real = ptrace._ptrace

def counting(request, *args):
    counts[request] += 1
    return real(request, *args)

ptrace._ptrace = counting
emulator = Emulator(backend=backend)
on = emulator.handlers.on

@on("openat")
def openat(call):
    if call.path == original:
        return call.rewrite(filename=replacement)
    if call.path == directory + "/created":
        return call.rewrite(mode=0o640)
    return None

@on("write")
def write(call):
    return call.rewrite(count=2) if call.args.fd == 1 and call.args.count == 4 else None

on("getppid")(lambda call: call.change_to("getpid"))
on("getuid")(lambda call: call.observe(lambda result: 4242))
on("getgid")(lambda call: call.emulate(77))
result = emulator.run([program, original, directory], capture_output=True, timeout=60)
stats = {}
for name in ("openat", "write", "getppid", "getuid", "getgid"):
    row = result.stats[name]
    stats[name] = [row.stops, row.emulated, row.passed, row.failed, row.rewritten,
                   row.results_seen]
with open(out, "w") as file:
    json.dump({"exit_code": result.exit_code, "stdout": result.stdout.decode(),
               "stats": stats, "works": ptrace.set_syscall_info_works,
               "speedups": ptrace.SPEEDUPS,
               "requests": {str(request): n for request, n in counts.items()}}, file)
"""
# The request that writes registers on each machine.
REGISTER_WRITE = {"x86_64": ptrace.PTRACE_SETREGS, "aarch64": ptrace.PTRACE_SETREGSET}
RESULTS_REPLACED = 1  # getuid's, at its exit


def registers_saved(used: int) -> int:
    """The register writes that ``used`` requests saved in a run of changed_calls. x86-64: a
    rewrite's GETREGS/SETREGS pair (one SETREGS) each; a result is written with POKEUSER
    either way. aarch64: two SETREGSETs per rewrite (the arguments in NT_PRSTATUS, the number
    in NT_ARM_SYSTEM_CALL), and one per result (x0), which the request writes there too."""
    if os.uname().machine == "x86_64":
        return used
    return 2 * (used - RESULTS_REPLACED) + RESULTS_REPLACED


EXPECTED = ["open: from the replacement", "ppid-is-pid: 1", "write: ab 2", "mode: 640",
            "uid: 4242", "gid: 77"]  # fmt: skip


def changed_run(
    tmp_path: Path, program: str, backend: str, *, request: bool, speedups: bool
) -> dict[str, Any]:
    """One run of changed_calls under RUNNER: its record."""
    name = f"{backend}-{request}-{speedups}"
    directory, out = tmp_path / name, tmp_path / f"{name}.json"
    directory.mkdir()
    replacement = tmp_path / "replacement"
    replacement.write_text("from the replacement\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSEMU_NO_")}
    if not request:
        env["SYSEMU_NO_SET_SYSCALL_INFO"] = "1"
    if not speedups:
        env["SYSEMU_NO_SPEEDUPS"] = "1"
    argv = [sys.executable, "-c", RUNNER, backend, str(out), program, "/etc/hostname",
            str(replacement), str(directory)]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(out.read_text())
    return record


@needs_request
@pytest.mark.needs_ptrace
@pytest.mark.parametrize("speedups", [True, False], ids=["c-loop", "python-loop"])
@pytest.mark.parametrize("backend", ["seccomp", "ptrace", "sysemu"])
@pytest.mark.parametrize("build", ["64", "m32"])
def test_the_request_and_registers_change_calls_alike(
    programs: Programs, tmp_path: Path, build: str, backend: str, speedups: bool
) -> None:
    program = programs.changed_calls if build == "64" else programs.m32("changed_calls")
    if speedups and not ptrace.SPEEDUPS:
        pytest.skip("the C accelerator is not built")
    with_request = changed_run(tmp_path, program, backend, request=True, speedups=speedups)
    with_registers = changed_run(tmp_path, program, backend, request=False, speedups=speedups)
    assert with_request["speedups"] is with_registers["speedups"] is speedups
    for record in (with_request, with_registers):
        assert (record["exit_code"], record["stdout"].splitlines()) == (0, EXPECTED)
    assert with_request["stats"] == with_registers["stats"]
    assert with_request["works"] is True and with_registers["works"] is False
    used = with_request["requests"].get(str(ptrace.PTRACE_SET_SYSCALL_INFO), 0)
    # The path (after the scratch area's mmap), the number, the count and the mode.
    assert used >= 4
    assert str(ptrace.PTRACE_SET_SYSCALL_INFO) not in with_registers["requests"]
    if backend == "sysemu":
        return  # (how many passed calls Python makes again, by registers, varies by run)
    # Each use of the request saved register writes, and nothing else moved (see
    # registers_saved).
    write = REGISTER_WRITE[os.uname().machine]
    register_writes = [
        record["requests"].get(str(write), 0) for record in (with_request, with_registers)
    ]
    assert register_writes[1] - register_writes[0] == registers_saved(used)


def test_doctor_says_what_the_request_is_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from sysemu.cli import doctor  # noqa: PLC0415

    def purpose() -> str:
        row = next(row for row in doctor.report() if row[0].startswith("PTRACE_SET_SYSCALL"))
        assert row[1] is HAS_REQUEST
        return row[2]

    monkeypatch.setattr(ptrace, "set_syscall_info_works", None)
    assert purpose().startswith("rewrites: number and arguments in one request")
    monkeypatch.setattr(ptrace, "set_syscall_info_works", False)
    assert "SYSEMU_NO_SET_SYSCALL_INFO" in purpose()
