"""The filter compiler, checked by interpreting its output in-process (no kernel)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sysemu.kernel import bpf
from sysemu.kernel.bpf import SECCOMP_RET_ALLOW, SECCOMP_RET_TRACE, ArgTest, Op, Rule

X86_64 = 0xC000003E
I386 = 0x40000003

words64 = st.integers(min_value=0, max_value=2**64 - 1)
interesting = st.sampled_from([0, 1, 2, 0xFFFFFFFF, 0x1_0000_0000, 2**63, 2**64 - 1, 2**32 + 2])
values = st.one_of(words64, interesting)


@st.composite
def arg_tests(draw: st.DrawFn) -> ArgTest:
    op = draw(st.sampled_from(list(Op)))
    bits = draw(st.sampled_from([16, 32, 64]))
    count = draw(st.integers(1, 3)) if op in (Op.IN, Op.NOT_IN) else 1
    chosen = tuple(draw(values) for _ in range(count))
    mask = draw(values) if op is Op.MASKED_EQ else 2**64 - 1
    return ArgTest(draw(st.integers(0, 5)), op, chosen, mask=mask, bits=bits)


@given(arg_tests(), st.lists(values, min_size=6, max_size=6))
def test_filter_agrees_with_python_evaluation(test: ArgTest, args: list[int]) -> None:
    program = bpf.compile_filter([Rule(X86_64, 1, SECCOMP_RET_TRACE | 7, (test,))])
    # Half the time make the tested argument equal to a value, so the "hit" paths run too.
    expected = test.matches(args[test.arg])
    got = bpf.run(program, 1, X86_64, args)
    assert got == (SECCOMP_RET_TRACE | 7 if expected else SECCOMP_RET_ALLOW)
    args[test.arg] = test.values[0]
    expected = test.matches(args[test.arg])
    assert bpf.run(program, 1, X86_64, args) == (
        SECCOMP_RET_TRACE | 7 if expected else SECCOMP_RET_ALLOW
    )


@given(st.sets(st.integers(0, 600), min_size=1, max_size=400), st.integers(0, 700))
def test_binary_search_finds_exactly_the_listed_numbers(numbers: set[int], probe: int) -> None:
    rules = [Rule(X86_64, nr, SECCOMP_RET_TRACE | (nr & 0xFFFF)) for nr in numbers]
    program = bpf.compile_filter(rules)
    expected = SECCOMP_RET_TRACE | probe if probe in numbers else SECCOMP_RET_ALLOW
    assert bpf.run(program, probe, X86_64) == expected


def test_arch_is_checked_before_the_number() -> None:
    defaults = {X86_64: SECCOMP_RET_ALLOW, I386: SECCOMP_RET_ALLOW}
    program = bpf.compile_filter([Rule(X86_64, 257, SECCOMP_RET_TRACE | 1)], arch_defaults=defaults)
    assert bpf.run(program, 257, X86_64) == SECCOMP_RET_TRACE | 1
    assert bpf.run(program, 257, I386) == SECCOMP_RET_ALLOW  # i386 257 is another call
    assert bpf.run(program, 257, 0xC00000B7) == bpf.SECCOMP_RET_KILL_PROCESS  # unknown arch


def test_per_arch_defaults() -> None:
    trace_all = SECCOMP_RET_TRACE | 0xFFFF
    program = bpf.compile_filter(
        [Rule(X86_64, 1, SECCOMP_RET_TRACE | 1)],
        arch_defaults={X86_64: trace_all, I386: SECCOMP_RET_ALLOW},
    )
    assert bpf.run(program, 1, X86_64) == SECCOMP_RET_TRACE | 1
    assert bpf.run(program, 2, X86_64) == trace_all
    assert bpf.run(program, 2, I386) == SECCOMP_RET_ALLOW
    both = bpf.compile_filter(
        [Rule(X86_64, 257, SECCOMP_RET_TRACE | 1), Rule(I386, 295, SECCOMP_RET_TRACE | 2)]
    )
    assert bpf.run(both, 295, I386) == SECCOMP_RET_TRACE | 2
    assert bpf.run(both, 295, X86_64) == SECCOMP_RET_ALLOW


def test_x32_numbers_are_distinct_from_native_ones() -> None:
    x32_openat = 0x40000000 | 257
    program = bpf.compile_filter([Rule(X86_64, x32_openat, SECCOMP_RET_TRACE | 3)])
    assert bpf.run(program, x32_openat, X86_64) == SECCOMP_RET_TRACE | 3
    assert bpf.run(program, 257, X86_64) == SECCOMP_RET_ALLOW


def test_first_matching_rule_wins() -> None:
    rules = [
        Rule(X86_64, 1, SECCOMP_RET_TRACE | 1, (ArgTest(0, Op.EQ, (2,), bits=32),)),
        Rule(X86_64, 1, SECCOMP_RET_TRACE | 2),
    ]
    program = bpf.compile_filter(rules)
    assert bpf.run(program, 1, X86_64, [2]) == SECCOMP_RET_TRACE | 1
    assert bpf.run(program, 1, X86_64, [1]) == SECCOMP_RET_TRACE | 2


def test_32_bit_arguments_ignore_the_upper_half_of_the_register() -> None:
    # write(fd=2) with garbage above bit 31: the kernel uses fd 2, so the rule must match.
    program = bpf.compile_filter(
        [Rule(X86_64, 1, SECCOMP_RET_TRACE, (ArgTest(0, Op.EQ, (2,), bits=32),))]
    )
    assert bpf.run(program, 1, X86_64, [0xDEAD_BEEF_0000_0002]) == SECCOMP_RET_TRACE


def test_large_filters_use_long_jumps() -> None:
    rules = [
        Rule(X86_64, nr, SECCOMP_RET_TRACE, (ArgTest(0, Op.IN, tuple(range(20)), bits=64),))
        for nr in range(60)
    ]
    program = bpf.compile_filter(rules)
    assert len(program) > 256  # beyond the reach of an 8-bit conditional jump
    assert bpf.run(program, 59, X86_64, [19]) == SECCOMP_RET_TRACE
    assert bpf.run(program, 59, X86_64, [20]) == SECCOMP_RET_ALLOW


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.lists(arg_tests(), max_size=3)), min_size=1, max_size=80
    ),
    st.sampled_from([X86_64, I386]),
)
def test_the_length_bound_is_never_below_the_length(
    specs: list[tuple[int, list[ArgTest]]], arch: int
) -> None:
    rules = [Rule(arch, nr, SECCOMP_RET_TRACE, tuple(tests)) for nr, tests in specs]
    defaults = {X86_64: SECCOMP_RET_ALLOW, I386: SECCOMP_RET_ALLOW}
    try:
        length = len(bpf.compile_filter(rules, arch_defaults=defaults))
    except bpf.FilterTooLongError:
        length = 4097
    assert bpf.length_bound(rules, arches=2) >= length


def test_instructions_pack_to_the_kernel_layout() -> None:
    assert bpf.Insn(0x15, 1, 2, 0xFFFFFFFF).pack() == bytes([0x15, 0, 1, 2, 255, 255, 255, 255])
