"""The aarch64 architecture module against a fake register-set tracee, its C header against
the module, and its filters against 32-bit ARM calls. Nothing here needs an ARM machine."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from sysemu.abi import Abi, syscall_by_name
from sysemu.abi.abi import AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM
from sysemu.abi.fcntl import moved_open_flags
from sysemu.api.decisions import Fail
from sysemu.api.handlers import HandlerSet
from sysemu.kernel import bpf
from sysemu.kernel.arch import aarch64
from sysemu.kernel.arch.aarch64 import NT_ARM_SYSTEM_CALL, NT_PRSTATUS, Aarch64

ARCH_HEADERS = Path(__file__).resolve().parent.parent / "src" / "sysemu" / "kernel" / "arch"
_Q = struct.Struct("<Q")


class FakeRegsets:
    """A stopped thread's NT_PRSTATUS and NT_ARM_SYSTEM_CALL sets, and its resumes."""

    def __init__(self) -> None:
        self.regs = bytearray(aarch64.USER_PT_REGS_SIZE)
        self.syscallno = 56
        self.resumed: list[tuple[int, int]] = []

    def get_regset(self, tid: int, note: int, buffer: bytearray) -> bool:
        if note == NT_ARM_SYSTEM_CALL:
            buffer[:4] = struct.pack("<i", self.syscallno)
            return True
        assert note == NT_PRSTATUS and len(buffer) == len(self.regs)
        buffer[:] = self.regs
        return True

    def set_regset(self, tid: int, note: int, buffer: bytearray) -> bool:
        if note == NT_ARM_SYSTEM_CALL:
            self.syscallno = struct.unpack("<i", bytes(buffer[:4]))[0]
        else:
            # As the kernel's gpr_set: whole registers, over the current ones, from x0 on.
            assert note == NT_PRSTATUS and len(buffer) % 8 == 0
            assert 0 < len(buffer) <= len(self.regs)
            self.regs[: len(buffer)] = buffer
        return True

    def resume(self, request: int, tid: int, sig: int) -> bool:
        self.resumed.append((request, tid))
        return True

    def reg(self, name: str) -> int:
        return int(_Q.unpack_from(self.regs, aarch64._OFFSET[name])[0])


def test_skip_writes_the_number_set_and_x0() -> None:
    fake = FakeRegsets()
    arch = Aarch64(fake)
    assert arch.skip_and_continue(7, -2, 0x7)
    assert (fake.syscallno, fake.reg("x0"), fake.resumed) == (-1, (1 << 64) - 2, [(0x7, 7)])
    assert arch.set_return(7, 42) and fake.reg("x0") == 42


def test_rewrite_sets_the_number_and_arguments_and_reexecute_backs_over_svc() -> None:
    fake = FakeRegsets()
    _Q.pack_into(fake.regs, aarch64._OFFSET["pc"], 0x1000)
    _Q.pack_into(fake.regs, aarch64._OFFSET["x8"], 56)
    arch = Aarch64(fake)
    assert arch.rewrite(1, Abi.AARCH64, 48, [1, 2, 3, 4, 5, 6], seccomp=True)
    assert fake.syscallno == 48
    assert [fake.reg(f"x{n}") for n in range(6)] == [1, 2, 3, 4, 5, 6]
    assert fake.reg("x8") == 56  # the program's number stays where it put it
    # Made again after PTRACE_SYSEMU skipped it: svc #0 reads the rewritten number from x8.
    assert arch.reexecute(1) and fake.reg("pc") == 0x1000 - 4 and fake.reg("x8") == 48
    assert arch.read_register(1, "pc") == 0x1000 - 4


def test_numbers_are_the_tables() -> None:
    for name, numbers in aarch64.SYSCALL_NUMBERS.items():
        assert numbers == {Abi.AARCH64: syscall_by_name(name, Abi.AARCH64).nr}, name
    assert Aarch64.abi_of(AUDIT_ARCH_AARCH64, 56) is Abi.AARCH64


def test_the_aarch64_header_states_the_python_modules_facts() -> None:
    from sysemu.abi import layouts  # noqa: PLC0415

    header = (ARCH_HEADERS / "aarch64.h").read_text()
    defines = dict(re.findall(r"#define (\w+) (0x[0-9A-Fa-f]+|\d+)U?", header))
    assert int(defines["ARCH_AUDIT"], 16) == Abi.AARCH64.audit_arch
    assert int(defines["AARCH64_NT_PRSTATUS"]) == NT_PRSTATUS
    assert int(defines["AARCH64_NT_ARM_SYSTEM_CALL"], 16) == NT_ARM_SYSTEM_CALL
    assert int(defines["AARCH64_USER_PT_REGS_SIZE"]) == aarch64.USER_PT_REGS_SIZE
    assert int(defines["AARCH64_PC_OFFSET"]) == aarch64._OFFSET["pc"]
    assert int(defines["AARCH64_SYSCALL_INSN_SIZE"]) == aarch64.LAYOUT.syscall_insn_size
    stat = layouts.STAT[Abi.AARCH64]
    assert int(defines["ARCH_STAT_MODE_OFFSET"]) == stat.field("st_mode")[0]
    assert int(defines["ARCH_STAT_RDEV_OFFSET"]) == stat.field("st_rdev")[0]
    assert int(defines["ARCH_STAT_SIZE_OFFSET"]) == stat.field("st_size")[0]
    assert int(defines["ARCH_TIMESPEC_SIZE"]) == layouts.TIMESPEC[Abi.AARCH64].size


def test_a_32_bit_arm_call_cannot_pass_an_aarch64_filter() -> None:
    """A rule compiled for aarch64 is not bypassed by the AArch32 build of a program: the
    filter kills every call of an architecture it has no rules for."""
    handlers = HandlerSet()
    handlers.add(syscall_by_name("openat", Abi.AARCH64), lambda call: Fail(13))
    compiled = handlers.compile((Abi.AARCH64,))
    program = bpf.compile_filter(compiled.rules, arch_defaults=compiled.arch_defaults)
    openat = syscall_by_name("openat", Abi.AARCH64).nr
    assert bpf.run(program, openat, AUDIT_ARCH_AARCH64) & 0xFFFF0000 == bpf.SECCOMP_RET_TRACE
    assert bpf.run(program, 63, AUDIT_ARCH_AARCH64) == bpf.SECCOMP_RET_ALLOW  # read
    for nr in (5, 322, 3):  # AArch32's open, openat, read
        assert bpf.run(program, nr, AUDIT_ARCH_ARM) == bpf.SECCOMP_RET_KILL_PROCESS


def test_open_flags_that_arm_moves() -> None:
    arm, x86 = moved_open_flags("aarch64"), moved_open_flags("x86_64")
    assert arm["O_DIRECTORY"] == x86["O_DIRECT"] == 0o40000
    assert arm["O_NOFOLLOW"] == x86["O_LARGEFILE"] == 0o100000
    assert set(arm.values()) == set(x86.values())


def test_a_call_saved_enters_again_after_another_ran_in_its_place() -> None:
    """The scratch area's mmap (engine/scratch.py): the call's registers saved at its entry,
    mmap's number and arguments in their place, then at mmap's exit the saved registers back
    with pc on ``svc #0`` and x8 = the saved syscallno."""
    fake = FakeRegsets()
    _Q.pack_into(fake.regs, aarch64._OFFSET["pc"], 0x1004)
    _Q.pack_into(fake.regs, aarch64._OFFSET["x0"], 0xFFFF_FF9C)  # AT_FDCWD as the program had it
    fake.syscallno = 56
    arch = Aarch64(fake)
    saved = arch.save_call(7)
    assert saved is not None
    assert arch.rewrite(
        7, Abi.AARCH64, arch.map_numbers[Abi.AARCH64], (0, 1 << 18, 3, 0x21), seccomp=True
    )
    assert fake.syscallno == 222
    _Q.pack_into(fake.regs, 0, 0x7F00_0000_0000)  # mmap's result in x0
    assert arch.reenter(7, saved)
    assert (fake.reg("pc"), fake.reg("x8"), fake.reg("x0")) == (0x1000, 56, 0xFFFF_FF9C)


class FakeRegsetsCounted(FakeRegsets):
    """A kernel before 6.16: register sets only, each request recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def get_regset(self, tid: int, note: int, buffer: bytearray) -> bool:
        self.requests.append("getregset")
        return super().get_regset(tid, note, buffer)

    def set_regset(self, tid: int, note: int, buffer: bytearray) -> bool:
        self.requests.append("setregset")
        return super().set_regset(tid, note, buffer)


class FakeRegsetsAndRequest(FakeRegsetsCounted):
    """A 6.16 kernel: PTRACE_SET_SYSCALL_INFO too, which sets syscallno and x0..x5 as the
    kernel does (and records that it was used)."""

    def set_syscall_call(self, tid: int, nr: int, args: object, *, seccomp: bool) -> bool:
        assert isinstance(args, list | tuple) and len(args) == 6
        self.requests.append("set_call")
        self.syscallno = nr
        for index, value in enumerate(args):
            _Q.pack_into(self.regs, 8 * index, value & ((1 << 64) - 1))
        return True

    def set_syscall_return(self, tid: int, value: int) -> bool:
        self.requests.append("set_return")
        _Q.pack_into(self.regs, 0, value & ((1 << 64) - 1))
        return True


def test_with_set_syscall_info_a_rewrite_and_a_result_are_one_request_each() -> None:
    fake = FakeRegsetsAndRequest()
    arch = Aarch64(fake)
    assert arch.rewrite(1, Abi.AARCH64, 48, [1, 2, 3, 4, 5, 6], seccomp=False)
    assert fake.requests == ["set_call"] and fake.syscallno == 48
    assert [fake.reg(f"x{n}") for n in range(6)] == [1, 2, 3, 4, 5, 6]
    fake.requests.clear()
    assert arch.set_return(1, -13) and fake.requests == ["set_return"]
    assert fake.reg("x0") == (1 << 64) - 13
    # A skip cannot be the request (a number of -1 sets no argument): two register-set
    # requests, as without it.
    fake.requests.clear()
    assert arch.skip_and_continue(1, 9, 0x7)
    assert fake.requests == ["setregset", "setregset"]
    assert (fake.syscallno, fake.reg("x0")) == (-1, 9)


def test_without_set_syscall_info_changes_write_the_first_registers_alone() -> None:
    """x0, or x0..x5, written without reading the set first: the other registers stay."""
    fake = FakeRegsetsCounted()
    for index in range(len(fake.regs) // 8):
        _Q.pack_into(fake.regs, 8 * index, 1000 + index)
    before = bytes(fake.regs)
    arch = Aarch64(fake)
    assert arch.skip_and_continue(1, -38, 0x7)
    assert fake.requests == ["setregset", "setregset"]
    assert fake.reg("x0") == (1 << 64) - 38 and fake.regs[8:] == before[8:]
    fake.requests.clear()
    assert arch.set_return(1, 5) and fake.requests == ["setregset"] and fake.reg("x0") == 5
    fake.requests.clear()
    assert arch.rewrite(1, Abi.AARCH64, 48, [1, 2, 3, 4, 5, 6], seccomp=True)
    assert fake.requests == ["setregset", "setregset"] and fake.syscallno == 48
    assert [fake.reg(f"x{n}") for n in range(6)] == [1, 2, 3, 4, 5, 6]
    assert fake.regs[48:] == before[48:]
    # Fewer arguments than six: the registers past them keep their values.
    fake.requests.clear()
    assert arch.rewrite(1, Abi.AARCH64, 57, [7, 8], seccomp=True)
    assert fake.requests == ["getregset", "setregset", "setregset"]
    assert [fake.reg(f"x{n}") for n in range(6)] == [7, 8, 3, 4, 5, 6]
