"""The backends by name: each is a small strategy over the shared core.

A backend decides *how* the kernel is made to stop the calls handlers asked for; the handlers
never know which one runs them. Four are the ptrace :class:`~sysemu.engine.tracer.Tracer`
with a way of stopping calls (:class:`~sysemu.engine.tracer.Stops`) and, for ``auto``, a
user-notification companion; ``unotify`` is :class:`~sysemu.engine.notify.NotifySupervisor`
alone. Attaching to a running process is a way to *start* (see :mod:`sysemu.engine.attach`),
not a backend. This module must not serve a stop itself.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple, Protocol
from sysemu.api.handlers import OnError
from sysemu.api.routes import CompiledHandlers
from sysemu.engine.errors import ErrorReporter
from sysemu.kernel.arch import Arch

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sysemu.api.results import RunResult
    from sysemu.engine.attach import Attacher
    from sysemu.engine.tracer import Companion, Stops, Tracer

BACKENDS = ("seccomp", "ptrace", "unotify", "sysemu", "auto")
DEFAULT_BACKEND = "auto"
"""``auto``: calls whose handlers only decide are answered through user notification, a stop
that costs 6-12 µs when the program computes between its calls, against 45-60 µs for a
ptrace stop (``bench/sparse.py``); every other call stops in ptrace, as under ``seccomp``,
which is what ``auto`` is when no handler only decides, when the kernel has no user
notification (Linux < 5.0), or with a handler time limit (a signal, which only the ptrace
thread can take)."""


def any_notifiable(compiled: CompiledHandlers) -> bool:
    """Whether ``compiled`` has a route that user notification can decide
    (:meth:`~sysemu.api.routes.Route.notifiable`; else auto is seccomp)."""
    return any(route.notifiable() for route in compiled.routes)


class Settings(NamedTuple):
    """What every backend is configured with, besides the compiled handlers."""

    on_error: OnError
    error_errno: int
    report: ErrorReporter | None
    spin_us: int | None = None
    handler_timeout: float | None = None


class Runner(Protocol):
    """A backend ready to run one program."""

    def run(
        self,
        argv: Sequence[str],
        *,
        path: str,
        env: Mapping[str, str],
        cwd: str | None = None,
        stdio: Sequence[int | None] = (None, None, None),
        timeout: float | None = None,
    ) -> RunResult:
        """Start ``argv`` (``path`` is the resolved executable) and serve it to the end."""
        ...


def runner(name: str, compiled: CompiledHandlers, arch: Arch, settings: Settings) -> Runner:
    """The backend ``name`` (one of :data:`BACKENDS`) for one run of ``compiled``."""
    if name == "unotify":
        from sysemu.engine.notify import NotifySupervisor  # noqa: PLC0415 (its backend only)

        return NotifySupervisor(
            compiled,
            on_error=settings.on_error,
            error_errno=settings.error_errno,
            report=settings.report,
        )
    from sysemu.engine.tracer import Stops  # noqa: PLC0415 (not for unotify)

    companion: Companion | None = None
    # (auto's module, with socket and threading, only where it has something to answer.)
    if name == "auto" and settings.handler_timeout is None and any_notifiable(compiled):
        from sysemu.engine.auto import companion_for  # noqa: PLC0415 (its backend only)

        companion = companion_for(compiled)
    stops = {"ptrace": Stops.EVERY_CALL, "sysemu": Stops.EMULATE_ALL}.get(name, Stops.FILTER)
    return _tracer(compiled, arch, settings, stops, companion)


def attacher(compiled: CompiledHandlers, arch: Arch, settings: Settings) -> Attacher:
    """An :class:`~sysemu.engine.attach.Attacher` for ``compiled``: a tracer that stops
    every call (a filter could never be removed again) and starts by seizing a process."""
    from sysemu.engine.attach import Attacher  # noqa: PLC0415 (attaching only)
    from sysemu.engine.tracer import Stops  # noqa: PLC0415

    return Attacher(_tracer(compiled, arch, settings, Stops.EVERY_CALL))


def _tracer(
    compiled: CompiledHandlers,
    arch: Arch,
    settings: Settings,
    stops: Stops,
    companion: Companion | None = None,
) -> Tracer:
    from sysemu.engine.tracer import Tracer  # noqa: PLC0415 (not for unotify)

    return Tracer(
        compiled,
        arch,
        on_error=settings.on_error,
        error_errno=settings.error_errno,
        report=settings.report,
        spin_us=settings.spin_us,
        handler_timeout=settings.handler_timeout,
        stops=stops,
        companion=companion,
    )
