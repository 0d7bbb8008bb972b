"""Argument conditions the kernel checks: calls that fail them never stop the program.

Written as keyword arguments of :meth:`Emulator.on`: ``fd=2`` (equality), ``fd=In(1, 2)``,
``flags=HasBits(os.O_CREAT)``, ``count=Gt(4096)``. Each compiles to a seccomp-BPF test on the
argument register, and to the same test in Python for handlers that share a syscall.

Comparisons are unsigned on the argument's width as the kernel reads it (32 bits for an
``int``), so a negative value such as ``AT_FDCWD`` (-100) is fine for equality but refused for
ordering, where its unsigned meaning would surprise.
"""

from __future__ import annotations

from sysemu.api.records import Record
from sysemu.kernel.bpf import ArgTest, Op


class Condition(Record):
    """An argument condition; see the subclasses."""

    __slots__ = ()

    def to_test(self, index: int, bits: int) -> ArgTest:
        """The BPF test for argument ``index`` of width ``bits``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._fields()))})"


class _Compare(Condition):
    """A comparison of the argument with one value."""

    __slots__ = ("value",)
    _op = Op.EQ

    def __init__(self, value: int) -> None:
        self.value = value

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, self._op, (self.value,), bits=bits)


class Eq(_Compare):
    """The argument equals ``value`` (a plain int as keyword argument means the same)."""

    __slots__ = ()


class Ne(_Compare):
    """The argument differs from ``value``."""

    __slots__ = ()
    _op = Op.NE


class In(Condition):
    """The argument is one of ``values``."""

    __slots__ = ("values",)

    def __init__(self, *values: int) -> None:
        if not values:
            raise ValueError(f"{type(self).__name__}() needs at least one value")
        self.values = values

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.IN, self.values, bits=bits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.values))})"


class NotIn(In):
    """The argument is none of ``values``."""

    __slots__ = ()

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.NOT_IN, self.values, bits=bits)


class Masked(Condition):
    """``argument & mask == value``."""

    __slots__ = ("mask", "value")

    def __init__(self, mask: int, value: int) -> None:
        self.mask = mask
        self.value = value

    def to_test(self, index: int, bits: int) -> ArgTest:
        """See :meth:`Condition.to_test`."""
        return ArgTest(index, Op.MASKED_EQ, (self.value,), mask=self.mask, bits=bits)


def HasBits(bits: int) -> Masked:  # noqa: N802 (reads as a condition, like the classes)
    """Every bit of ``bits`` is set in the argument."""
    return Masked(bits, bits)


def LacksBits(bits: int) -> Masked:  # noqa: N802
    """No bit of ``bits`` is set in the argument."""
    return Masked(bits, 0)


class _Ordering(_Compare):
    __slots__ = ()

    def __init__(self, value: int) -> None:
        if value < 0:
            raise ValueError(
                f"{type(self).__name__}({value}): ordering conditions compare unsigned values"
            )
        super().__init__(value)


class Gt(_Ordering):
    """The argument is greater than ``value`` (unsigned)."""

    __slots__ = ()
    _op = Op.GT


class Ge(_Ordering):
    """The argument is at least ``value`` (unsigned)."""

    __slots__ = ()
    _op = Op.GE


class Lt(_Ordering):
    """The argument is less than ``value`` (unsigned)."""

    __slots__ = ()
    _op = Op.LT


class Le(_Ordering):
    """The argument is at most ``value`` (unsigned)."""

    __slots__ = ()
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
