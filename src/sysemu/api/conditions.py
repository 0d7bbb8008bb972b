"""Argument conditions the kernel checks: calls that fail them never stop the program.

Written as keyword arguments of :meth:`Emulator.on`: ``fd=2`` (equality), ``fd=In(1, 2)``,
``flags=HasBits(os.O_CREAT)``, ``count=Gt(4096)``. Each compiles to a seccomp-BPF test on the
argument register, and to the same test in Python for handlers that share a syscall.

Comparisons are unsigned on the argument's width as the kernel reads it (32 bits for an
``int``), so a negative value such as ``AT_FDCWD`` (-100) is fine for equality but refused for
ordering, where its unsigned meaning would surprise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysemu.kernel.bpf import ArgTest, Op


class Condition:
    """An argument condition; see the subclasses."""

    __slots__ = ()

    def to_test(self, index: int, bits: int) -> ArgTest:
        """The BPF test for argument ``index`` of width ``bits``."""
        raise NotImplementedError


def _check_unsigned(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name}({value}): ordering conditions compare unsigned values")


@dataclass(frozen=True, slots=True)
class Eq(Condition):
    """The argument equals ``value`` (a plain int as keyword argument means the same)."""

    value: int

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.EQ, (self.value,), bits=bits)


@dataclass(frozen=True, slots=True)
class Ne(Condition):
    """The argument differs from ``value``."""

    value: int

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.NE, (self.value,), bits=bits)


class In(Condition):
    """The argument is one of ``values``."""

    __slots__ = ("values",)

    def __init__(self, *values: int) -> None:
        if not values:
            raise ValueError("In() needs at least one value")
        self.values = values

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.IN, self.values, bits=bits)

    def __repr__(self) -> str:
        return f"In{self.values!r}"


class NotIn(In):
    """The argument is none of ``values``."""

    __slots__ = ()

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.NOT_IN, self.values, bits=bits)


@dataclass(frozen=True, slots=True)
class Masked(Condition):
    """``argument & mask == value``."""

    mask: int
    value: int

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.MASKED_EQ, (self.value,), mask=self.mask, bits=bits)


def HasBits(bits: int) -> Masked:  # noqa: N802 (reads as a condition, like the classes)
    """Every bit of ``bits`` is set in the argument."""
    return Masked(bits, bits)


def LacksBits(bits: int) -> Masked:  # noqa: N802
    """No bit of ``bits`` is set in the argument."""
    return Masked(bits, 0)


@dataclass(frozen=True, slots=True)
class _Ordering(Condition):
    value: int
    _op = Op.GT

    def __post_init__(self) -> None:
        _check_unsigned(type(self).__name__, self.value)

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, self._op, (self.value,), bits=bits)


@dataclass(frozen=True, slots=True)
class Gt(_Ordering):
    """The argument is greater than ``value`` (unsigned)."""

    _op = Op.GT


@dataclass(frozen=True, slots=True)
class Ge(_Ordering):
    """The argument is at least ``value`` (unsigned)."""

    _op = Op.GE


@dataclass(frozen=True, slots=True)
class Lt(_Ordering):
    """The argument is less than ``value`` (unsigned)."""

    _op = Op.LT


@dataclass(frozen=True, slots=True)
class Le(_Ordering):
    """The argument is at most ``value`` (unsigned)."""

    _op = Op.LE


def as_condition(value: Condition | int) -> Condition:
    """A keyword argument of :meth:`Emulator.on` as a condition; raises TypeError."""
    if isinstance(value, Condition):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Eq(value)
    raise TypeError(
        f"an argument condition must be an int or a sysemu condition (In, Gt, HasBits...), "
        f"not {type(value).__name__}"
    )
