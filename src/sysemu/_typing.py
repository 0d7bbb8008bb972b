"""What sysemu's modules use of :mod:`typing` at run time, without importing it.

Every module sysemu's command line loads uses ``from __future__ import annotations``, so
annotations are never evaluated at run time; what is left of ``typing`` there are these names.
Type checkers get ``typing``'s own (they take any ``TYPE_CHECKING`` as true); at run time
``import typing`` would cost about 3 ms of every ``sysemu run``, and each class made by
``typing.NamedTuple`` a few hundred µs more than by :func:`collections.namedtuple` (it turns
every field's annotation, a string here, into a compiled ``ForwardRef``).
"""

from collections import namedtuple

__all__ = ["TYPE_CHECKING", "NamedTuple", "Protocol"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple, Protocol
else:
    # typing.NamedTuple's rules (3.11): the names a class body may not set, and those it has
    # that are not copied onto the tuple class.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
         "_make", "_replace", "_asdict", "_source"}
    )  # fmt: skip
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleType(type):
        def __new__(cls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(cls, name, bases, namespace)
            annotations = namespace.get("__annotations__", {})
            with_default: list[str] = []
            for field in annotations:
                if field in namespace:
                    with_default.append(field)
                elif with_default:
                    raise TypeError(f"Non-default namedtuple field {field} cannot follow "
                                    f"default field{'s' if len(with_default) > 1 else ''} "
                                    f"{', '.join(with_default)}")  # fmt: skip
            defaults = [namespace[field] for field in with_default]
            made = namedtuple(name, annotations, defaults=defaults, module=namespace["__module__"])
            made.__annotations__ = made.__new__.__annotations__ = dict(annotations)
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
                if key not in _SPECIAL and key not in made._fields:
                    setattr(made, key, value)
            return made

    class NamedTuple(metaclass=_NamedTupleType):
        """``class Point(NamedTuple): x: int`` makes what :class:`typing.NamedTuple` makes: a
        :func:`collections.namedtuple` with the annotated fields, their defaults, and the
        class body's methods and docstrings (annotations stay strings: typing would make
        ``ForwardRef`` objects of them)."""

    # A protocol is only ever a type to check against: at run time, a plain base.
    Protocol = object
