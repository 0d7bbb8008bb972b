"""Decisions as the Call helpers make them, and the C method that Call.emulate is."""

from __future__ import annotations

from typing import Any, cast

import pytest

from sysemu import Call
from sysemu.api.decisions import Emulate, Fail
from sysemu.kernel import ptrace


def test_call_helpers_make_the_same_decisions_as_the_classes() -> None:
    call = Call.__new__(Call)  # the helpers read nothing of the call
    for value in (0, 42424242, -2, 2**64 - 1):
        made = call.emulate(value)
        assert type(made) is Emulate and made == Emulate(value) and made.value == value
    assert call.fail("ENOENT") == Fail(2)


def test_the_c_method_refuses_what_it_cannot_fill() -> None:
    if ptrace.record_method is None:
        pytest.skip("the C accelerator is not built")

    class TwoSlots:
        __slots__ = ("a", "b")

    class WithDict:
        a: int

    make = cast(Any, ptrace.record_method(Call, Emulate, "value", "make", "make(value)"))
    call = Call.__new__(Call)
    assert make.__get__(call)(7) == Emulate(7)
    with pytest.raises(TypeError):  # a method of its owner's objects only
        make.__get__(object())
    for unfit, field in ((TwoSlots, "a"), (WithDict, "a"), (Emulate, "missing")):
        with pytest.raises(TypeError, match="one slot"):
            ptrace.record_method(Call, unfit, field, "make", "")
    with pytest.raises(TypeError, match="one record type"):
        ptrace.record_method(Call, Fail, "errno", "make", "")
