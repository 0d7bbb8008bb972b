"""Classic BPF for seccomp: an assembler with labels, a filter compiler and an interpreter.

Pure Python, no kernel: filters are built and tested in-process (the interpreter follows the
kernel's semantics for the instructions the compiler emits), then installed by
:mod:`sysemu.kernel.seccomp`.

The compiled filter checks the architecture first (a number means different calls in each
ABI), then finds the syscall number by binary search, then runs the argument tests of each rule
for that number in order; the first rule whose tests pass gives the action, and calls no rule
matches are allowed without leaving the kernel.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Mapping, Sequence

from sysemu._typing import NamedTuple

# Instruction classes and modes (include/uapi/linux/bpf_common.h).
LD_W_ABS = 0x20
ALU_AND_K = 0x54
JMP_JA = 0x05
JMP_JEQ_K = 0x15
JMP_JGT_K = 0x25
JMP_JGE_K = 0x35
RET_K = 0x06

# seccomp actions (include/uapi/linux/seccomp.h); the low 16 bits carry data.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

# struct seccomp_data: nr s32, arch u32, instruction_pointer u64, args u64[6].
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARGS = 16
SECCOMP_DATA = struct.Struct("<iIQ6Q")

# Conditional jump offsets are 8 bits: the assembler only ever emits "skip one" conditionals
# followed by an unconditional ``ja`` (32-bit offset) to the real target.
_MAX_INSNS = 4096  # BPF_MAXINSNS


# Records are NamedTuples rather than dataclasses: building a dataclass costs about a
# millisecond of start-up each, and importing dataclasses more than ten.
class FilterTooLongError(ValueError):
    """The program has more instructions than the kernel takes (4096)."""


class Insn(NamedTuple):
    """One classic BPF instruction (``struct sock_filter``)."""

    code: int
    jt: int
    jf: int
    k: int

    def pack(self) -> bytes:
        """The 8-byte kernel encoding."""
        return struct.pack("<HBBI", self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


class Op(enum.Enum):
    """A comparison of one argument register with constants (unsigned, on ``bits`` bits)."""

    EQ = "=="
    NE = "!="
    IN = "in"
    NOT_IN = "not in"
    MASKED_EQ = "&=="  # (arg & mask) == value
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


class ArgTest(NamedTuple):
    """A test on argument number ``arg`` that the kernel can evaluate.

    ``bits`` is how much of the register the kernel uses for this argument (32 for an ``int``,
    even on x86-64, where the upper half of the register is ignored by the call and so must be
    ignored by the test too: otherwise garbage in the upper half would bypass it).
    """

    arg: int
    op: Op
    values: tuple[int, ...]
    mask: int = 0xFFFF_FFFF_FFFF_FFFF
    bits: int = 64

    def matches(self, raw: int) -> bool:
        """Evaluate the test in Python on a raw register value, exactly as the filter does."""
        width = (1 << self.bits) - 1
        arg = raw & width
        value = self.values[0] & width
        op = self.op
        if op is Op.EQ:
            return arg == value
        if op is Op.NE:
            return arg != value
        if op is Op.IN:
            return any(arg == v & width for v in self.values)
        if op is Op.NOT_IN:
            return all(arg != v & width for v in self.values)
        if op is Op.MASKED_EQ:
            return arg & self.mask & width == value
        if op is Op.GT:
            return arg > value
        if op is Op.GE:
            return arg >= value
        if op is Op.LT:
            return arg < value
        return arg <= value


class Rule(NamedTuple):
    """Calls of number ``nr`` (as seccomp sees it) on ``arch`` that pass every test get
    ``action``."""

    arch: int
    nr: int
    action: int
    tests: tuple[ArgTest, ...] = ()


class _Label:
    __slots__ = ("name", "position")

    def __init__(self, name: str) -> None:
        self.name = name
        self.position: int | None = None


class Assembler:
    """Emit instructions with forward jumps to labels; :meth:`assemble` resolves them."""

    def __init__(self) -> None:
        self._items: list[Insn | tuple[str, _Label]] = []

    def label(self, name: str = "") -> _Label:
        """A new, not yet placed label."""
        return _Label(name)

    def place(self, label: _Label) -> None:
        """Put ``label`` at the next instruction."""
        label.position = len(self._items)

    def load(self, offset: int) -> None:
        """A = 32-bit word of seccomp_data at ``offset``."""
        self._items.append(Insn(LD_W_ABS, 0, 0, offset))

    def and_(self, mask: int) -> None:
        """A &= mask."""
        self._items.append(Insn(ALU_AND_K, 0, 0, mask & 0xFFFFFFFF))

    def jump_if(self, code: int, k: int, target: _Label, *, negate: bool = False) -> None:
        """Go to ``target`` if the comparison ``code`` with ``k`` holds (or fails, negated)."""
        jt, jf = (1, 0) if negate else (0, 1)
        self._items.append(Insn(code, jt, jf, k & 0xFFFFFFFF))
        self._items.append(("ja", target))

    def goto(self, target: _Label) -> None:
        """Unconditional jump."""
        self._items.append(("ja", target))

    def ret(self, action: int) -> None:
        """Return ``action``."""
        self._items.append(Insn(RET_K, 0, 0, action))

    def assemble(self) -> list[Insn]:
        """Resolve labels into instructions; raises ValueError if the program is too long."""
        program: list[Insn] = []
        for position, item in enumerate(self._items):
            if isinstance(item, Insn):
                program.append(item)
                continue
            target = item[1]
            if target.position is None:
                raise ValueError(f"BPF label {target.name!r} was never placed")
            program.append(Insn(JMP_JA, 0, 0, target.position - position - 1))
        if len(program) > _MAX_INSNS:
            too_long = f"seccomp filter too long: {len(program)} > {_MAX_INSNS} insns"
            raise FilterTooLongError(too_long)
        return program


def _emit_test(asm: Assembler, test: ArgTest, fail: _Label) -> None:
    """Fall through if ``test`` holds, go to ``fail`` otherwise."""
    lo_offset = OFFSET_ARGS + 8 * test.arg
    hi_offset = lo_offset + 4
    width = (1 << test.bits) - 1
    mask = test.mask & width
    values = [v & width for v in test.values]
    wide = test.bits > 32
    op = test.op

    if op in (Op.EQ, Op.IN, Op.NE, Op.NOT_IN, Op.MASKED_EQ):
        # Equality family: compare (arg & mask) with each value; values that share their
        # upper half share one comparison of it.
        hit = asm.label("hit")
        by_high: dict[int, list[int]] = {}
        for value in values:
            by_high.setdefault(value >> 32 if wide else 0, []).append(value & 0xFFFFFFFF)
        for high, lows in by_high.items():
            miss = asm.label("miss")
            if wide:
                asm.load(hi_offset)
                if mask >> 32 != 0xFFFFFFFF:
                    asm.and_(mask >> 32)
                asm.jump_if(JMP_JEQ_K, high, miss, negate=True)
            asm.load(lo_offset)
            if mask & 0xFFFFFFFF != 0xFFFFFFFF:
                asm.and_(mask)
            for low in lows:
                asm.jump_if(JMP_JEQ_K, low, hit)
            asm.place(miss)
        # No value matched.
        if op in (Op.NE, Op.NOT_IN):
            asm.goto(after := asm.label("pass"))
            asm.place(hit)
            asm.goto(fail)
            asm.place(after)
        else:
            asm.goto(fail)
            asm.place(hit)
        return

    # Ordering: unsigned, high half first. GT/GE hold when hi > v_hi, or hi == v_hi and the low
    # half compares; LT/LE are their negations with the operands' roles swapped.
    value = values[0]
    code = JMP_JGT_K if op in (Op.GT, Op.LE) else JMP_JGE_K
    holds_when_true = op in (Op.GT, Op.GE)
    passed = asm.label("pass")
    if wide:
        asm.load(hi_offset)
        asm.jump_if(JMP_JGT_K, value >> 32, passed if holds_when_true else fail)
        asm.jump_if(JMP_JEQ_K, value >> 32, fail if holds_when_true else passed, negate=True)
    asm.load(lo_offset)
    if width < 0xFFFFFFFF:
        asm.and_(width)
    asm.jump_if(code, value, fail, negate=holds_when_true)
    asm.place(passed)


def length_bound(rules: Sequence[Rule], arches: int = 3) -> int:
    """An upper bound on the length of ``compile_filter(rules)`` for ``arches`` architectures,
    found without compiling: a handler set far below the kernel's limit need not be compiled
    twice to learn that it fits."""
    per_rule = 0
    for rule in rules:
        per_rule += 6  # its place in the number search, its return, the jump past it
        for test in rule.tests:
            per_rule += 10 + 2 * len(test.values)
    # Every jump may need a long jump beside it, hence the factor 2.
    return 2 * (8 + 6 * arches + per_rule)


def compile_filter(
    rules: Sequence[Rule],
    default: int = SECCOMP_RET_ALLOW,
    arch_defaults: Mapping[int, int] | None = None,
) -> list[Insn]:
    """A filter that returns the action of the first matching rule, and for other calls the
    architecture's entry in ``arch_defaults``, or ``default``.

    A call from an architecture neither the rules nor ``arch_defaults`` name is killed: on a
    supported machine that cannot happen, and if it did, no rule could be relied on.
    """
    defaults = dict(arch_defaults or {})
    by_arch: dict[int, dict[int, list[Rule]]] = {arch: {} for arch in defaults}
    for rule in rules:
        by_arch.setdefault(rule.arch, {}).setdefault(rule.nr, []).append(rule)
    asm = Assembler()
    asm.load(OFFSET_ARCH)
    arch_labels = {arch: asm.label(f"arch {arch:#x}") for arch in by_arch}
    for arch, label in arch_labels.items():
        asm.jump_if(JMP_JEQ_K, arch, label)
    asm.ret(SECCOMP_RET_KILL_PROCESS)
    for arch, label in arch_labels.items():
        asm.place(label)
        miss = asm.label("no rule")
        asm.load(OFFSET_NR)
        numbers = sorted(by_arch[arch], key=lambda nr: nr & 0xFFFFFFFF)
        targets = {nr: asm.label(f"nr {nr}") for nr in numbers}
        _emit_search(asm, numbers, targets, miss)
        for nr in numbers:
            asm.place(targets[nr])
            for rule in by_arch[arch][nr]:
                next_rule = asm.label("next rule")
                for test in rule.tests:
                    _emit_test(asm, test, next_rule)
                asm.ret(rule.action)
                asm.place(next_rule)
            asm.goto(miss)
        asm.place(miss)
        asm.ret(defaults.get(arch, default))
    return asm.assemble()


def _emit_search(
    asm: Assembler, numbers: Sequence[int], targets: dict[int, _Label], miss: _Label
) -> None:
    """Binary search for the number in A among ``numbers`` (sorted as unsigned)."""
    if len(numbers) <= 4:
        for nr in numbers:
            asm.jump_if(JMP_JEQ_K, nr, targets[nr])
        asm.goto(miss)
        return
    middle = len(numbers) // 2
    upper = asm.label("upper half")
    asm.jump_if(JMP_JGE_K, numbers[middle], upper)
    _emit_search(asm, numbers[:middle], targets, miss)
    asm.place(upper)
    _emit_search(asm, numbers[middle:], targets, miss)


def run(program: Sequence[Insn], nr: int, arch: int, args: Iterable[int] = (), ip: int = 0) -> int:
    """Interpret ``program`` on one call, as the kernel would; returns the action."""
    padded = (list(args) + [0] * 6)[:6]
    data = SECCOMP_DATA.pack(nr, arch, ip, *(a & 0xFFFF_FFFF_FFFF_FFFF for a in padded))
    acc = 0
    pc = 0
    while True:
        insn = program[pc]
        pc += 1
        code = insn.code
        if code == LD_W_ABS:
            acc = struct.unpack_from("<I", data, insn.k)[0]
        elif code == ALU_AND_K:
            acc &= insn.k
        elif code == JMP_JA:
            pc += insn.k
        elif code in (JMP_JEQ_K, JMP_JGT_K, JMP_JGE_K):
            if code == JMP_JEQ_K:
                taken = acc == insn.k
            elif code == JMP_JGT_K:
                taken = acc > insn.k
            else:
                taken = acc >= insn.k
            pc += insn.jt if taken else insn.jf
        elif code == RET_K:
            return insn.k
        else:
            raise ValueError(f"unsupported BPF instruction {insn}")
