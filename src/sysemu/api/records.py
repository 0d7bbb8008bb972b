"""A base for small slotted value classes: equality, hashing and fields from ``__slots__``.

Decisions and conditions are made often (one decision per intercepted call) and defined at
import time; plain slotted classes are cheaper on both counts than dataclasses.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def field_names(cls: type) -> tuple[str, ...]:
    """The slots of ``cls`` and its bases, base first: the fields of a record class."""
    return tuple(
        name for klass in reversed(cls.__mro__) for name in vars(klass).get("__slots__", ())
    )


class Record:
    """Values equal when their class and fields are; ``repr`` shows ``Name(field=value)``."""

    __slots__ = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in field_names(type(self)))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        assert isinstance(other, Record)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in field_names(type(self)))
        return f"{type(self).__name__}({shown})"
