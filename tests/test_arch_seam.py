"""The architecture seam is a seam: a second architecture that exists only in this file runs
through the handler set, the filter compiler, the BPF interpreter and the tracer's decisions.

The fake architecture has its own audit arch value, its own syscall numbers (two ABIs sharing
the audit value, one with a number bias, as x32 shares x86-64's), and a register file laid out
like no real one: the result shares a register with the first argument (as on arm64) and a
call is re-entered by restoring that register. Its tracee is a fake kernel in this file: it
keeps the registers, runs the filter with :func:`sysemu.kernel.bpf.run`, reports seccomp and
exit stops to a real :class:`~sysemu.engine.tracer.Tracer` and runs or skips the call as the
registers say afterwards. Nothing here touches a real process.
"""

from __future__ import annotations

import os
import signal
import struct
from collections.abc import Callable
from typing import Any

import pytest

from sysemu import Call
from sysemu.abi import Syscall, syscall_by_name
from sysemu.api.decisions import Rewrite
from sysemu.api.handlers import HandlerSet
from sysemu.engine import tracer as tracer_module
from sysemu.engine.common import guard_rules
from sysemu.engine.tracer import Tracer
from sysemu.kernel import bpf
from sysemu.kernel.arch.registers import RegisterArch, RegisterLayout
from sysemu.kernel.bpf import SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE
from sysemu.kernel.ptrace import PTRACE_CONT, PTRACE_SYSCALL
from sysemu.kernel.seccomp import SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER

FAKE_AUDIT_ARCH = 0xC0DE_0042
_WORD = struct.Struct("<Q")
_MASK64 = (1 << 64) - 1


class FakeAbi:
    """An ABI of the fake architecture: what the engine reads of an ABI, nothing more."""

    def __init__(self, name: str, nr_bias: int, word_bits: int, pointer_size: int) -> None:
        self.value = self.name = name
        self.audit_arch = FAKE_AUDIT_ARCH
        self.nr_bias = nr_bias
        self.word_bits = word_bits
        self.pointer_size = pointer_size

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<FakeAbi {self.name}>"


NATIVE = FakeAbi("fake64", 0, 64, 8)
COMPAT = FakeAbi("fakecompat", 0x0100_0000, 64, 4)  # numbers carry a bias, as x32's do

# The fake architecture's numbers: none is x86-64's or i386's for the same call.
NUMBERS: dict[str, dict[Any, int]] = {
    "getpid": {NATIVE: 700, COMPAT: 701},
    "write": {NATIVE: 702, COMPAT: 703},
    "kill": {NATIVE: 704, COMPAT: 705},
    "tkill": {NATIVE: 706, COMPAT: 707},
    "tgkill": {NATIVE: 708, COMPAT: 709},
    "rt_sigqueueinfo": {NATIVE: 710, COMPAT: 711},
    "rt_tgsigqueueinfo": {NATIVE: 712, COMPAT: 713},
    "pidfd_open": {NATIVE: 714, COMPAT: 715},
    "seccomp": {NATIVE: 716, COMPAT: 717},
    "ptrace": {NATIVE: 718, COMPAT: 719},
    "process_vm_writev": {NATIVE: 720, COMPAT: 721},
    "pwrite64": {NATIVE: 722, COMPAT: 723},
}

# 20 registers of 8 bytes, none where x86-64 has its own: the number sits at 136, the result
# shares offset 8 with the first argument, and a compat call's arguments run backwards.
_NAMES = ("pad", "a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1", "b2", "b3", "b4", "b5",
          "link", "sp", "pc", "spare", "scno", "orig_a0", "orig_b5")  # fmt: skip
LAYOUT = RegisterLayout(
    size=8 * len(_NAMES),
    offsets={name: 8 * index for index, name in enumerate(_NAMES)},
    number="scno",
    result="a0",
    program_counter="pc",
    syscall_insn_size=4,
    reentry=(("a0", "orig_a0"),),
    arguments={
        NATIVE: ("a0", "a1", "a2", "a3", "a4", "a5"),  # type: ignore[dict-item]
        COMPAT: ("b5", "b4", "b3", "b2", "b1", "b0"),  # type: ignore[dict-item]
    },
    red_zone=0,
)


class FakeArch(RegisterArch):
    """The fake architecture, made the way x86-64 is made: facts and a layout."""

    name = "fake"
    abis = (NATIVE, COMPAT)  # type: ignore[assignment]
    native_abi = NATIVE  # type: ignore[assignment]
    layout = LAYOUT
    numbers = NUMBERS


def fake_syscall(abi: FakeAbi, name: str) -> Syscall:
    """The fake architecture's table entry: x86-64's signature under the fake number."""
    signature = syscall_by_name(name).params
    return Syscall(abi, NUMBERS[name][abi], name, f"sys_{name}", signature)  # type: ignore[arg-type]


class FakeKernel:
    """The registers of fake threads, the filter they run under, and the calls they make.

    It is the tracee's side of ptrace for the tracer (``syscall_info``, ``resume``) and the
    register access of :class:`FakeArch` (``poke_user``, ``get_regs``...).
    """

    def __init__(self, program: list[bpf.Insn]) -> None:
        self.program = program
        self.regs: dict[int, bytearray] = {}
        self.stop: dict[int, tuple[int, ...]] = {}
        self.resumed: dict[int, int] = {}
        self.ran: list[tuple[str, tuple[int, ...]]] = []

    # --- register access (RegisterAccess) ---
    def poke_user(self, tid: int, offset: int, value: int) -> bool:
        _WORD.pack_into(self.regs[tid], offset, value & _MASK64)
        return True

    def poke_user_twice_then(  # noqa: PLR0917 (the ptrace module's signature)
        self, request: int, tid: int, offset_a: int, value_a: int, offset_b: int, value_b: int
    ) -> bool:
        self.poke_user(tid, offset_a, value_a)
        self.poke_user(tid, offset_b, value_b)
        return self.resume(request, tid, 0)

    def get_regs(self, tid: int, buffer: bytearray) -> bool:
        buffer[: LAYOUT.size] = self.regs[tid]
        return True

    def set_regs(self, tid: int, buffer: bytearray) -> bool:
        self.regs[tid][:] = buffer[: LAYOUT.size]
        return True

    # --- the tracer's ptrace requests ---
    def syscall_info(self, tid: int) -> tuple[int, ...] | None:
        return self.stop.get(tid)

    def resume(self, request: int, tid: int, _sig: int) -> bool:
        self.resumed[tid] = request
        return True

    def syscall(self, tid: int) -> bool:
        return self.resume(PTRACE_SYSCALL, tid, 0)

    def cont(self, tid: int, sig: int = 0) -> bool:
        return self.resume(PTRACE_CONT, tid, sig)

    # --- helpers ---
    def reg(self, tid: int, name: str) -> int:
        return int(_WORD.unpack_from(self.regs[tid], LAYOUT.offsets[name])[0])

    def _args(self, tid: int, abi: FakeAbi) -> tuple[int, ...]:
        return tuple(self.reg(tid, r) for r in LAYOUT.arguments[abi])  # type: ignore[index]

    def _run(self, tid: int) -> int:
        """The kernel runs the call the registers name now."""
        filter_nr = self.reg(tid, "scno")
        abi = COMPAT if filter_nr & COMPAT.nr_bias else NATIVE
        nr = filter_nr - abi.nr_bias
        name = next(n for n, by_abi in NUMBERS.items() if by_abi[abi] == nr)
        args = self._args(tid, abi)
        self.ran.append((name, args))
        return {"getpid": 4000 + tid, "write": args[2], "pwrite64": args[2]}.get(name, 0)

    def call(self, tracer: Tracer, tid: int, abi: FakeAbi, name: str, *args: int) -> int:
        """Thread ``tid`` makes call ``name``; what it returns, after the filter, the tracer's
        stops and the kernel's own work, as a program would see it."""
        self.regs[tid] = bytearray(LAYOUT.size)
        filter_nr = NUMBERS[name][abi] + abi.nr_bias
        full = (*args, 0, 0, 0, 0, 0, 0)[:6]
        for register, value in zip(LAYOUT.arguments[abi], full, strict=True):  # type: ignore[index]
            self.poke_user(tid, LAYOUT.offsets[register], value)
        self.poke_user(tid, LAYOUT.offsets["scno"], filter_nr)
        self.poke_user(tid, LAYOUT.offsets["orig_a0"], self.reg(tid, "a0"))
        self.poke_user(tid, LAYOUT.offsets["pc"], 0x4000_1000)
        self.poke_user(tid, LAYOUT.offsets["sp"], 0x7FFF_0000)
        action = bpf.run(self.program, filter_nr, FAKE_AUDIT_ARCH, list(full))
        kind, data = action & 0xFFFF_0000, action & 0xFFFF
        if kind == SECCOMP_RET_ERRNO:
            return -data
        if kind == SECCOMP_RET_ALLOW:
            return self._run(tid)
        assert kind == SECCOMP_RET_TRACE, hex(action)
        self.stop[tid] = (3, FAKE_AUDIT_ARCH, 0x4000_1000, 0x7FFF_0000, filter_nr, *full, data)
        self.resumed.pop(tid, None)
        tracer._on_seccomp(tid)
        request = self.resumed.pop(tid)
        skipped = self.reg(tid, "scno") == _MASK64
        result = self.reg(tid, "a0") if skipped else self._run(tid)
        self.poke_user(tid, LAYOUT.offsets["a0"], result)
        if request == PTRACE_SYSCALL:  # the tracer wants the exit stop
            self.stop[tid] = (2, FAKE_AUDIT_ARCH, 0x4000_1000, 0x7FFF_0000, result, 0)
            tracer._on_syscall_stop(tid)
            self.resumed.pop(tid)
            result = self.reg(tid, "a0")
        return result - (1 << 64) if result >> 63 else result


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


@pytest.fixture
def run_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[HandlerSet], tuple[FakeKernel, Tracer]]:
    def start(handlers: HandlerSet) -> tuple[FakeKernel, Tracer]:
        compiled = handlers.compile(FakeArch.abis)  # type: ignore[arg-type]
        kernel = FakeKernel([])
        tracer = Tracer(compiled, FakeArch(kernel), spin_us=0)
        # The filter the tracer would install: the architecture's guard rules, then the
        # handlers' rules, read back from the packed program.
        prepared = tracer._filter()
        assert prepared is not None
        code = bytes(prepared._code)
        kernel.program = [
            bpf.Insn(*struct.unpack_from("<HBBI", code, at)) for at in range(0, len(code), 8)
        ]
        for name in ("syscall_info", "resume", "syscall", "cont"):
            monkeypatch.setattr(tracer_module.ptrace, name, getattr(kernel, name))
        return kernel, tracer

    return start


def test_the_fake_architecture_is_not_x86() -> None:
    assert FAKE_AUDIT_ARCH not in (0xC000003E, 0x40000003)
    for name, numbers in NUMBERS.items():
        assert syscall_by_name(name).nr not in numbers.values(), name
    x86 = {"orig_rax": 120, "rax": 80, "rip": 128}
    assert LAYOUT.offsets[LAYOUT.number] != x86["orig_rax"]
    assert LAYOUT.offsets[LAYOUT.result] != x86["rax"]
    assert LAYOUT.offsets[LAYOUT.program_counter] != x86["rip"]


def test_filter_of_the_fake_architecture() -> None:
    """The handler set compiles to rules in the fake number space, under the fake audit
    value, with argument conditions on the fake ABIs' registers; the guard rules come from
    the architecture's numbers."""
    handlers = HandlerSet()
    handlers.add([fake_syscall(NATIVE, "write"), fake_syscall(COMPAT, "write")],
                 lambda call: call.fail("EACCES"), fd=2)  # fmt: skip
    handlers.add(fake_syscall(NATIVE, "getpid"), lambda call: None)
    compiled = handlers.compile(FakeArch.abis)  # type: ignore[arg-type]
    assert compiled.arch_defaults == {FAKE_AUDIT_ARCH: SECCOMP_RET_ALLOW}
    program = bpf.compile_filter(
        [*guard_rules(1234, numbers=FakeArch.numbers), *compiled.rules],
        arch_defaults=compiled.arch_defaults,
    )

    def action(nr: int, *args: int, arch: int = FAKE_AUDIT_ARCH) -> int:
        return bpf.run(program, nr, arch, [*args, 0, 0, 0, 0, 0, 0][:6])

    write, getpid = compiled.routes[0], compiled.routes[2]
    assert (write.syscall.name, write.syscall.filter_nr) == ("write", 702)
    assert action(702, 2, 0, 5) & 0xFFFF0000 == SECCOMP_RET_TRACE
    assert action(702, 1, 0, 5) == SECCOMP_RET_ALLOW  # the condition, checked in the filter
    assert action(0x0100_0000 + 703, 2) & 0xFFFF0000 == SECCOMP_RET_TRACE  # biased compat nr
    assert action(703, 2) == SECCOMP_RET_ALLOW  # without its bias, 703 is no call of ours
    assert action(700) == SECCOMP_RET_TRACE | compiled.routes.index(getpid)
    assert action(1, 2, 0, 5) == SECCOMP_RET_ALLOW  # x86-64's write number means nothing here
    assert action(702, 2, arch=0xC000003E) == bpf.SECCOMP_RET_KILL_PROCESS  # not this machine
    refused = SECCOMP_RET_ERRNO | 1  # EPERM
    listener = (SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)
    assert action(716, *listener) == refused
    assert action(0x0100_0000 + 717, *listener) == refused
    assert action(716, SECCOMP_SET_MODE_FILTER, 0) == SECCOMP_RET_ALLOW
    assert action(704, 1234, signal.SIGTERM) == refused  # kill(supervisor, SIGTERM)
    assert action(704, 1234, 0) == SECCOMP_RET_ALLOW  # signal 0 only asks whether it exists
    assert action(718, 0x4206, 1234) == refused  # ptrace(PTRACE_SEIZE, supervisor)
    assert action(62, 1234, signal.SIGTERM) == SECCOMP_RET_ALLOW  # x86-64's kill number


def test_decisions_on_the_fake_architecture(
    run_fake: Callable[[HandlerSet], tuple[FakeKernel, Tracer]],
) -> None:
    """Skip with a return value, fail, set the return at exit and rewrite, each carried out
    by the tracer through the fake registers, for both ABIs."""
    handlers = HandlerSet()
    seen: list[tuple[str, str, tuple[int, ...]]] = []

    def emulate_getpid(call: Call) -> object:
        seen.append((call.name, str(call.abi), call.raw[:3]))
        return call.emulate(77) if call.abi is NATIVE else call.fail("ENOSYS")

    def shorten(call: Call) -> object:
        return call.observe(lambda result: result.value - 1)

    def to_stderr(call: Call) -> object:
        # Another call and another descriptor: pwrite64(2, buf, count, 0).
        pwrite = NUMBERS["pwrite64"][call.abi]
        return Rewrite((2, None, None, 0), pwrite)

    for abi in (NATIVE, COMPAT):
        handlers.add(fake_syscall(abi, "getpid"), emulate_getpid)
        handlers.add(fake_syscall(abi, "write"), shorten, fd=1)
        handlers.add(fake_syscall(abi, "write"), to_stderr, fd=3)
    kernel, tracer = run_fake(handlers)

    # Skip with a return value, and fail: the call never runs.
    assert kernel.call(tracer, 11, NATIVE, "getpid", 9, 8, 7) == 77
    assert kernel.call(tracer, 12, COMPAT, "getpid", 6, 5, 4) == -38  # ENOSYS
    assert kernel.ran == []
    assert seen == [("getpid", "fake64", (9, 8, 7)), ("getpid", "fakecompat", (6, 5, 4))]
    assert kernel.reg(11, "scno") == _MASK64 and kernel.reg(11, "a0") == 77

    # Set the return at the exit stop: the call runs, its result is replaced.
    assert kernel.call(tracer, 13, NATIVE, "write", 1, 0x1000, 10) == 9
    assert kernel.call(tracer, 14, COMPAT, "write", 1, 0x1000, 10) == 9
    assert kernel.ran == [("write", (1, 0x1000, 10, 0, 0, 0))] * 2

    # Rewrite: another call with other arguments, in each ABI's own registers.
    kernel.ran.clear()
    assert kernel.call(tracer, 15, NATIVE, "write", 3, 0x2000, 4) == 4
    assert kernel.call(tracer, 16, COMPAT, "write", 3, 0x2000, 4) == 4
    assert kernel.ran == [("pwrite64", (2, 0x2000, 4, 0, 0, 0))] * 2
    assert kernel.reg(16, "b5") == 2 and kernel.reg(16, "a0") == 4  # compat: b5 is argument 0
    assert kernel.reg(16, "scno") == NUMBERS["pwrite64"][COMPAT] + COMPAT.nr_bias

    # The tracer's guard rules, in the fake numbers: the program may not signal sysemu.
    kernel.ran.clear()
    assert kernel.call(tracer, 18, NATIVE, "kill", os.getpid(), signal.SIGTERM) == -1  # EPERM
    assert kernel.call(tracer, 18, COMPAT, "kill", os.getpid(), signal.SIGTERM) == -1
    assert kernel.call(tracer, 18, COMPAT, "kill", os.getpid(), 0) == 0
    assert kernel.ran == [("kill", (os.getpid(), 0, 0, 0, 0, 0))]

    # A call no rule names is allowed by the filter and never reaches the tracer.
    kernel.ran.clear()
    assert kernel.call(tracer, 17, NATIVE, "write", 5, 0x3000, 6) == 6
    assert kernel.ran == [("write", (5, 0x3000, 6, 0, 0, 0))]
    rows = {(row.name, str(row.abi)): (row.emulated, row.failed, row.passed, row.rewritten)
            for row in tracer._result().stats.rows if row.stops}  # fmt: skip
    assert rows == {
        ("getpid", "fake64"): (1, 0, 0, 0),
        ("getpid", "fakecompat"): (0, 1, 0, 0),
        ("write", "fake64"): (0, 0, 1, 1),
        ("write", "fakecompat"): (0, 0, 1, 1),
    }


def test_reexecute_restores_what_the_fake_instruction_reads() -> None:
    """PTRACE_SYSEMU's "make the call after all": back over the fake 4-byte instruction, and
    the first argument restored from where the architecture keeps it (as arm64's x0)."""
    kernel = FakeKernel([])
    kernel.regs[5] = bytearray(LAYOUT.size)
    arch = FakeArch(kernel)
    kernel.poke_user(5, LAYOUT.offsets["pc"], 0x4000_1004)
    kernel.poke_user(5, LAYOUT.offsets["orig_a0"], 3)
    kernel.poke_user(5, LAYOUT.offsets["a0"], -38)  # the skipped attempt's ENOSYS
    assert arch.reexecute(5)
    assert (kernel.reg(5, "pc"), kernel.reg(5, "a0")) == (0x4000_1000, 3)
    assert arch.user_stack_limit(0x7FFF_0000) == 0x7FFF_0000  # no red zone
    assert arch.read_register(5, "orig_a0") == 3


def test_a_saved_call_enters_again_with_its_own_registers() -> None:
    """The scratch area's mmap runs in a call's place (engine/scratch.py); at its exit the
    call's registers come back, the pc back over the instruction and the first argument
    restored from where the architecture keeps it."""
    kernel = FakeKernel([])
    kernel.regs[5] = bytearray(LAYOUT.size)
    arch = FakeArch(kernel)
    kernel.poke_user(5, LAYOUT.offsets["pc"], 0x4000_1004)
    kernel.poke_user(5, LAYOUT.offsets["orig_a0"], 3)
    kernel.poke_user(5, LAYOUT.offsets["a1"], 0x1234)
    saved = arch.save_call(5)
    assert saved is not None
    assert arch.rewrite(5, NATIVE, 724, (0, 4096, 3, 0x21, -1, 0), seccomp=True)  # type: ignore[arg-type]
    kernel.poke_user(5, LAYOUT.offsets["a0"], 0x7000_0000)  # its result
    assert arch.reenter(5, saved)
    assert (kernel.reg(5, "pc"), kernel.reg(5, "a0"), kernel.reg(5, "a1")) == (
        0x4000_1000, 3, 0x1234,
    )  # fmt: skip


def test_x86_64_is_made_the_same_way() -> None:
    """x86-64 is data for the same class: its edits land on orig_rax, rax and rip."""
    from sysemu.kernel.arch.x86_64 import X86_64  # noqa: PLC0415

    kernel = FakeKernel([])
    kernel.regs[9] = bytearray(216)
    arch = X86_64(kernel)
    assert arch.skip_with_return(9, -13)
    assert _signed(_WORD.unpack_from(kernel.regs[9], 120)[0]) == -1  # orig_rax
    assert _signed(_WORD.unpack_from(kernel.regs[9], 80)[0]) == -13  # rax
    _WORD.pack_into(kernel.regs[9], 128, 0x401002)  # rip after a two-byte syscall
    _WORD.pack_into(kernel.regs[9], 120, 39)  # orig_rax: getpid
    assert arch.reexecute(9)
    assert _WORD.unpack_from(kernel.regs[9], 128)[0] == 0x401000
    assert _WORD.unpack_from(kernel.regs[9], 80)[0] == 39


def test_the_abi_of_a_call_is_the_architectures_to_say() -> None:
    """Which ABI an (audit value, number) pair belongs to, for the fake architecture and for
    x86-64 (where it must agree with Abi.of, the table layer's own answer)."""
    from sysemu.abi import Abi  # noqa: PLC0415
    from sysemu.kernel.arch.x86_64 import X86_64  # noqa: PLC0415

    assert FakeArch.abi_of(FAKE_AUDIT_ARCH, 702) is NATIVE
    assert FakeArch.abi_of(FAKE_AUDIT_ARCH, COMPAT.nr_bias + 703) is COMPAT
    with pytest.raises(ValueError, match="audit arch 0xc000003e"):
        FakeArch.abi_of(0xC000003E, 1)
    for audit, nr in ((0xC000003E, 1), (0xC000003E, 0x4000_0000 | 1), (0x40000003, 4)):
        assert X86_64.abi_of(audit, nr) is Abi.of(audit, nr)
