"""What sysemu's modules use of :mod:`contextlib`, without importing it.

A run whose calls are answered through user notification, or that has a virtual filesystem,
loads modules that need only ``suppress`` of contextlib; importing contextlib would cost about
0.8 ms of that run's start (2.9M instructions over what those runs import anyway).
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["suppress"]


class suppress:  # noqa: N801 (contextlib's name, for what does what contextlib's does)
    """``with suppress(OSError): ...``: an exception of the listed kinds raised in the block
    ends the block silently, as :class:`contextlib.suppress` does (for exceptions that are
    not groups: sysemu raises none)."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return kind is not None and issubclass(kind, self._kinds)
