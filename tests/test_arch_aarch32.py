"""A real 32-bit ARM (AArch32, EABI) program on an arm64 kernel against sysemu's filters.

The program is built here, byte by byte (no cross compiler): a static ELF whose only code
makes two raw calls with ``svc #0``, ``write(1, "hello\\n", 6)`` and ``exit_group(0)``. Its
header is checked on every machine; running it needs an aarch64 kernel that runs AArch32
programs (``CONFIG_COMPAT`` and a CPU with AArch32 at EL0), tried once without sysemu.

What the README's Platforms table promises: with a rule, every filter sysemu installs kills a
call of an architecture it has no rules for (``bpf.compile_filter``), so the program dies of
SIGSYS at its first call and prints nothing (nor does sysemu: the kernel killed it); the
ptrace-only backends, which install no filter, kill it at its first call too
(``common.killed_if_foreign``), and say so in one line on stderr. With no rule at all no
filter is installed (``Tracer._filter``), and the program runs as it would without sysemu.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import struct
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from sysemu.abi import Abi
from sysemu.abi.abi import AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM
from sysemu.engine.common import killed_if_foreign

from .conftest import wait_until

SYSEMU_RUN = [sys.executable, "-m", "sysemu", "run"]

EM_ARM = 40
EF_ARM_EABI_VER5 = 0x0500_0000  # EABI 5: arm64 kernels run no other (OABI) ARM programs
EF_ARM_ABI_FLOAT_SOFT = 0x200
LOAD_ADDRESS = 0x10000
ELF_HEADER = struct.Struct("<16sHHIIIIIHHHHHH")
PROGRAM_HEADER = struct.Struct("<IIIIIIII")
ARM_NR_WRITE = 4
ARM_NR_EXIT_GROUP = 248
MESSAGE = b"hello\n"
KILLED_LINE = (
    r"sysemu: killed [0-9]+ \(arm-hello\): a 32-bit ARM \(AArch32\) system call, "
    r"which sysemu's rules cannot vet\n"
)


def _mov_immediate(register: int, value: int) -> int:
    """``mov rN, #value`` (A32, condition always, an 8-bit immediate without rotation)."""
    assert 0 <= value < 256
    return 0xE3A0_0000 | register << 12 | value


def arm_hello_elf() -> bytes:
    """A static 32-bit little-endian ARM EABI executable: write(1, "hello\\n", 6), then
    exit_group(0), by ``svc #0`` with the number in r7. One read+execute segment holds the
    whole file."""
    code_offset = ELF_HEADER.size + PROGRAM_HEADER.size
    instructions = [
        _mov_immediate(0, 1),
        0,  # add r1, pc, #distance: placed below, once the message's offset is known
        _mov_immediate(2, len(MESSAGE)),
        _mov_immediate(7, ARM_NR_WRITE),
        0xEF00_0000,  # svc #0
        _mov_immediate(0, 0),
        _mov_immediate(7, ARM_NR_EXIT_GROUP),
        0xEF00_0000,
    ]
    message_offset = 4 * len(instructions)
    # pc reads as the instruction's own address + 8.
    instructions[1] = 0xE28F_1000 | (message_offset - (4 + 8))
    code = struct.pack(f"<{len(instructions)}I", *instructions) + MESSAGE
    size = code_offset + len(code)
    identification = b"\x7fELF" + bytes([1, 1, 1, 0])  # 32-bit, little-endian, v1, SysV
    header = ELF_HEADER.pack(
        identification.ljust(16, b"\0"),
        2,  # ET_EXEC
        EM_ARM,
        1,
        LOAD_ADDRESS + code_offset,  # entry, in ARM (not Thumb) state: bit 0 clear
        ELF_HEADER.size,  # program headers follow
        0,  # no section headers
        EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_SOFT,
        ELF_HEADER.size,
        PROGRAM_HEADER.size,
        1,
        40,
        0,
        0,
    )
    segment = PROGRAM_HEADER.pack(1, 0, LOAD_ADDRESS, LOAD_ADDRESS, size, size, 5, 0x1000)
    return header + segment + code


def write_program(directory: Path) -> str:
    """The program, written executable into ``directory``; its path."""
    path = directory / "arm-hello"
    path.write_bytes(arm_hello_elf())
    path.chmod(0o755)
    return str(path)


@cache
def _why_not_runnable() -> str | None:
    """Why this machine cannot run the program natively, or None if it ran as it should."""
    if platform.machine() != "aarch64":
        machine = platform.machine()
        return f"AArch32 programs run natively only on an aarch64 kernel (this is {machine})"
    directory = Path(os.environ.get("TMPDIR", "/tmp"))
    path = directory / f"arm-hello-probe-{os.getpid()}"
    path.write_bytes(arm_hello_elf())
    path.chmod(0o755)
    try:
        done = subprocess.run([str(path)], capture_output=True, timeout=30, check=False)
    except OSError as error:
        return f"this aarch64 kernel or CPU cannot run AArch32 programs: {error}"
    finally:
        path.unlink()
    if (done.returncode, done.stdout) != (0, MESSAGE):
        return f"the AArch32 program ran wrong natively: exit {done.returncode}, {done.stdout!r}"
    return None


def _needs_aarch32() -> None:
    reason = _why_not_runnable()
    if reason is not None:
        pytest.skip(reason)


def run_under_sysemu(program: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    """``sysemu run OPTIONS -- PROGRAM``, its output captured."""
    return subprocess.run(
        [*SYSEMU_RUN, *options, "--", program], capture_output=True, timeout=120, check=False
    )


def test_the_program_is_a_32_bit_arm_eabi_executable() -> None:
    image = arm_hello_elf()
    fields = ELF_HEADER.unpack_from(image)
    identification, elf_type, machine, version, entry, phoff, shoff, flags = fields[:8]
    ehsize, phentsize, phnum = fields[8:11]
    assert identification[:8] == b"\x7fELF\x01\x01\x01\x00"
    assert (elf_type, machine, version, shoff) == (2, EM_ARM, 1, 0)
    assert flags & 0xFF00_0000 == EF_ARM_EABI_VER5
    assert (phoff, ehsize, phentsize, phnum) == (52, 52, 32, 1)
    p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, _ = PROGRAM_HEADER.unpack_from(
        image, phoff
    )
    assert (p_type, p_offset, p_vaddr, p_flags) == (1, 0, LOAD_ADDRESS, 5)
    assert p_filesz == p_memsz == len(image)
    assert entry == LOAD_ADDRESS + 52 + 32 and entry % 4 == 0
    code = image[entry - LOAD_ADDRESS :]
    words = struct.unpack_from("<8I", code)
    assert [word for word in words if word == 0xEF00_0000] == [0xEF00_0000] * 2  # two svc #0
    assert _mov_immediate(7, ARM_NR_WRITE) in words[:5]
    assert _mov_immediate(7, ARM_NR_EXIT_GROUP) in words[5:]
    # The add r1, pc, #k lands on the message: pc is its address + 8.
    assert words[1] & 0xFFFF_F000 == 0xE28F_1000
    assert code[4 + 8 + (words[1] & 0xFFF) :] == MESSAGE


def test_without_a_rule_no_filter_is_installed_and_the_program_runs(tmp_path: Path) -> None:
    _needs_aarch32()
    done = run_under_sysemu(write_program(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, MESSAGE, b"")


@pytest.mark.parametrize("backend", ["auto", "seccomp", "unotify"])
def test_with_a_rule_the_filter_kills_it_at_its_first_call(tmp_path: Path, backend: str) -> None:
    """The rule names aarch64's write; the 32-bit write (4) must not slip past it."""
    _needs_aarch32()
    program = write_program(tmp_path)
    done = run_under_sysemu(program, "--backend", backend, "--inject", "write:error=EPERM")
    print(f"{backend}: exit {done.returncode}, {done.stdout!r}, {done.stderr[-300:]!r}")
    assert done.stdout == b""
    assert done.returncode == 128 + signal.SIGSYS, done.stderr
    # The kernel killed it, not sysemu: sysemu is not told, and says nothing.
    assert b"killed" not in done.stderr, done.stderr


@pytest.mark.parametrize("backend", ["ptrace", "sysemu"])
def test_backends_without_a_filter_kill_it_at_its_first_call(tmp_path: Path, backend: str) -> None:
    """ptrace and PTRACE_SYSEMU install no filter: every call stops, and the engine kills the
    process (SIGKILL: a signal it cannot catch) at the first call of an ABI it does not know,
    where the filters of the other backends kill it with SIGSYS."""
    _needs_aarch32()
    program = write_program(tmp_path)
    done = run_under_sysemu(program, "--backend", backend, "--inject", "write:error=EPERM")
    print(f"{backend}: exit {done.returncode}, {done.stdout!r}, {done.stderr[-300:]!r}")
    assert done.stdout == b""
    assert done.returncode == 128 + signal.SIGKILL, done.stderr
    # sysemu says which process it killed and why, once.
    assert re.fullmatch(KILLED_LINE, done.stderr.decode()), done.stderr


def test_only_calls_of_no_known_abi_are_killed() -> None:
    # A known ABI's call is left alone (the pid would be killed otherwise: it is this one).
    assert not killed_if_foreign((Abi.AARCH64,), AUDIT_ARCH_AARCH64, os.getpid())
    assert not killed_if_foreign((Abi.X86_64, Abi.I386), Abi.I386.audit_arch, os.getpid())


def test_a_process_killed_for_a_foreign_call_is_named_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On any machine: a stand-in process, "killed" as if one of its threads, then another,
    made a 32-bit ARM call. One line on stderr names it; the second thread adds none."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert wait_until(lambda: Path(f"/proc/{child.pid}/comm").read_text() == "sleep\n")
        told: set[int] = set()
        for _thread in range(2):
            assert killed_if_foreign((Abi.AARCH64,), AUDIT_ARCH_ARM, child.pid, told)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
    assert told == {child.pid}
    assert capsys.readouterr().err == (
        f"sysemu: killed {child.pid} (sleep): a 32-bit ARM (AArch32) system call, "
        "which sysemu's rules cannot vet\n"
    )
