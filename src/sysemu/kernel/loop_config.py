"""What the C accelerator's wait loops and C trace writer are given: one object each, not tuples.

The C accelerator (``kernel/csrc/``) has three entry points that run for a whole run or many
stops: the ptrace backends' wait loop (``ptrace_serve``), the notification loop
(``notif_serve``) and the C trace writer (``CTraceWriter``). Each takes one of the objects below,
built once per run by the engine (or once per tracing observer), and reads its attributes once
per call, never per stop. The Python twins of those loops (``Tracer._loop_python``,
``NotifySupervisor._loop_python``, ``TraceObserver``) are the reference: every attribute here
names something they use too.

This module owns the shape of that contract and nothing else; it must not import the engine or
the api (the types and callbacks are passed in), so that the kernel layer stays below them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DirectRoute = tuple[object, ...]
"""A route one handler decides without Python's loop: ``(syscall, handler, stats, route,
audit_arch, nr, path_guard)``, as ``sysemu.api.routes.Route.direct`` makes it."""


class DecisionConfig:
    """What deciding a direct route's call needs, the same for both wait loops (``decide.c``).

    ``tasks`` maps a tid to the engine's ``TaskState``; ``call_type`` is the ``Call`` class the
    handler receives; ``emulate_type``, ``fail_type`` and ``pass_type`` are the decisions the
    loop carries out itself (``pass_type`` None: a ``Pass`` goes to ``carry_out`` like any
    other decision); ``raised(call, route, handler, error)`` is told of a handler's
    ``Exception``; ``carry_out(what, call, route, decision)`` carries out any other decision
    (``what``: the task state, or the notification id). ``serial``: None, or a lock (with
    ``acquire()`` and ``release()``) that the loop holds while a stop runs Python code, when
    two loops serve one handler set (the ``auto`` backend): its handlers then run one at a
    time, as on one thread.
    """

    __slots__ = (
        "call_type",
        "carry_out",
        "emulate_type",
        "fail_type",
        "pass_type",
        "raised",
        "serial",
        "tasks",
    )

    def __init__(
        self,
        *,
        tasks: dict[int, Any],
        call_type: type,
        emulate_type: type,
        fail_type: type,
        pass_type: type | None,
        raised: Callable[..., object],
        carry_out: Callable[..., object],
        serial: object | None = None,
    ) -> None:
        self.tasks = tasks
        self.call_type = call_type
        self.emulate_type = emulate_type
        self.fail_type = fail_type
        self.pass_type = pass_type
        self.raised = raised
        self.carry_out = carry_out
        self.serial = serial


class PtraceLoopConfig(DecisionConfig):
    """The ptrace backends' C wait loop (``ptrace_serve``, the twin of ``Tracer._loop_python``).

    ``mode``: 0 seccomp stops, 1 syscall stops (``PTRACE_SYSCALL``), 2 ``PTRACE_SYSEMU``.
    ``direct``: per route id, its :data:`DirectRoute` or None (seccomp stops); ``by_number``:
    the same keyed ``audit_arch << 32 | nr`` (syscall stops). ``stop``: a one-byte flag the
    engine sets when every stop must come back to Python. ``spin_ns``: how long to poll for
    the next stop. ``resume_request``: how a served thread is resumed. ``trace``: the C
    trace writer or None, with its callbacks into the engine ``resolve(nr)`` and
    ``adopt(tid, nr, raw, ip, sp)``. ``follow_clone3``: ``(key, route, flag)`` when the loop
    clears ``flag`` (``CLONE_UNTRACED``) in the ``struct clone_args`` of a seccomp stop with
    filter data ``route`` of call ``key`` (``audit_arch << 32 | nr``) itself, as
    ``engine/untraced.py`` does in Python (nobody else wants that call); None: Python does.
    """

    __slots__ = (
        "adopt",
        "by_number",
        "direct",
        "follow_clone3",
        "mode",
        "resolve",
        "resume_request",
        "spin_ns",
        "stop",
        "trace",
    )

    def __init__(
        self,
        *,
        decision: DecisionConfig,
        mode: int,
        direct: list[DirectRoute | None],
        by_number: dict[int, DirectRoute | None],
        stop: bytearray,
        spin_ns: int,
        resume_request: int,
        trace: object | None,
        resolve: Callable[[int], object],
        adopt: Callable[[int, int, tuple[int, ...], int, int], object],
        follow_clone3: tuple[int, int, int] | None = None,
    ) -> None:
        _copy_decision(self, decision)
        _check_routes(direct, 7)
        if follow_clone3 is not None and (
            len(follow_clone3) != 3 or not all(isinstance(n, int) for n in follow_clone3)
        ):
            raise TypeError("follow_clone3 must be (key, route, flag), three ints, or None")
        _check_routes(by_number.values(), 7)
        self.mode = mode
        self.direct = direct
        self.by_number = by_number
        self.stop = stop
        self.spin_ns = spin_ns
        self.resume_request = resume_request
        self.trace = trace
        self.resolve = resolve
        self.adopt = adopt
        self.follow_clone3 = follow_clone3


class NotifyLoopConfig(DecisionConfig):
    """The notification C loop (``notif_serve``, the twin of ``NotifySupervisor._loop_python``).

    ``fd``: the listener's; ``poll_first``: poll before each receive (kernels before 6.6, see
    ``kernel/unotify.py``); ``direct``: :data:`DirectRoute` keyed ``audit_arch << 32 | nr``;
    ``task_type(tid)`` makes the state of a thread first seen; ``listener`` (the
    ``kernel.unotify.Listener``, which this module does not import: it names this one) is set
    on every ``Call``; ``general(notification)`` answers a notification of any other route.
    """

    __slots__ = ("direct", "fd", "general", "listener", "poll_first", "task_type")

    def __init__(
        self,
        *,
        decision: DecisionConfig,
        fd: int,
        direct: dict[int, Any],
        task_type: Callable[[int], object],
        listener: object,
        general: Callable[[tuple[Any, ...]], object],
        poll_first: bool = False,
    ) -> None:
        _copy_decision(self, decision)
        _check_routes(direct.values(), 7)
        self.fd = fd
        self.poll_first = poll_first
        self.direct = direct
        self.task_type = task_type
        self.listener = listener
        self.general = general


class TraceWriterConfig:
    """The C trace writer (``CTraceWriter``, the twin of the tracing tool's ``TraceObserver``).

    ``write(text)`` writes to the trace stream; ``live``, ``pending`` and ``unshown`` are the
    Python tracer's own live threads and calls in progress, which both sides update;
    ``key_of(syscall)`` and ``spec_of(syscall, key)`` say how a call is shown
    (``sysemu.tools.trace.c_writer``); ``adopt_of(call, texts, started, shown)`` hands a call over
    to the Python tracer; ``mode_of(st_mode)`` and ``error_of(-errno)`` give texts C asks for
    once per value. The options are strace's: ``string_limit`` (``-s``), ``fd_paths``
    (``-y``), ``timestamps`` (0, 1 ``-t``, 2 ``-tt``), ``durations`` (``-T``); ``each_line``
    writes each line at once (a terminal). ``fd``, when not -1, is ``stream``'s file descriptor,
    which C writes its lines of ASCII to itself while ``stream`` is open, instead of calling
    ``write``: the stream must keep nothing unwritten after a line (line-buffered text).
    """

    __slots__ = (
        "adopt_of",
        "durations",
        "each_line",
        "error_of",
        "fd",
        "fd_paths",
        "key_of",
        "live",
        "mode_of",
        "pending",
        "spec_of",
        "stream",
        "string_limit",
        "timestamps",
        "unshown",
        "write",
    )

    def __init__(
        self,
        *,
        write: Callable[[str], object],
        live: set[int],
        pending: dict[int, Any],
        unshown: dict[int, Any],
        key_of: Callable[..., tuple[int, int]],
        spec_of: Callable[..., object],
        adopt_of: Callable[..., object],
        mode_of: Callable[[int], str],
        error_of: Callable[[int], str],
        string_limit: int,
        fd_paths: bool = False,
        timestamps: int = 0,
        durations: bool = False,
        each_line: bool = False,
        stream: object = None,
        fd: int = -1,
    ) -> None:
        self.write = write
        self.live = live
        self.pending = pending
        self.unshown = unshown
        self.key_of = key_of
        self.spec_of = spec_of
        self.adopt_of = adopt_of
        self.mode_of = mode_of
        self.error_of = error_of
        self.string_limit = string_limit
        self.fd_paths = fd_paths
        self.timestamps = timestamps
        self.durations = durations
        self.each_line = each_line
        self.stream = stream
        self.fd = fd


def _check_routes(routes: Iterable[DirectRoute | None], size: int) -> None:
    """The C loops take a route's items by position, unchecked: a route is checked here."""
    for route in routes:
        if route is not None and not (type(route) is tuple and len(route) >= size):
            raise TypeError(f"a direct route is a tuple of at least {size} items, not {route!r}")


def _copy_decision(config: DecisionConfig, decision: DecisionConfig) -> None:
    for name in DecisionConfig.__slots__:
        setattr(config, name, getattr(decision, name))


__all__ = [
    "DecisionConfig",
    "DirectRoute",
    "NotifyLoopConfig",
    "PtraceLoopConfig",
    "TraceWriterConfig",
]
