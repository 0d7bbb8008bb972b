"""What a handler set compiles into for the engine: routes, one per (ABI, number), with their
registrations and counters, and the seccomp rules that lead there.

:class:`~sysemu.api.handlers.HandlerSet` is what users build; this is what it becomes for one
run (:meth:`~sysemu.api.handlers.HandlerSet.compile`), and what the backends read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.abi import Abi, ArgKind, Syscall, syscall_by_number, unknown_syscall
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Defer, Outcome
from sysemu.api.observers import Observer
from sysemu.kernel.bpf import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_TRACE,
    ArgTest,
    Op,
    Rule,
)

if TYPE_CHECKING:
    from typing import Any

    from sysemu.api.execs import ExecHook

_clock = time.perf_counter_ns

Handler = Callable[[Call], Decision | None]
"""A function that receives a :class:`Call` and returns a decision or ``None``."""

Predicate = Callable[[Call], bool]


class HandlerError(Exception):
    """A handler raised; the original exception is the ``__cause__``."""

    def __init__(self, call_name: str, handler: Callable[..., object], tid: int) -> None:
        name = getattr(handler, "__qualname__", repr(handler))
        super().__init__(f"handler {name} raised on {call_name} (thread {tid})")
        self.call_name = call_name
        self.handler = handler
        self.tid = tid
        # The run's RunResult, when the error ended a run (set by Emulator.run).
        self.result: Any = None


class Registration(NamedTuple):
    """One handler registered for one syscall of one ABI."""

    handler: Handler
    syscall: Syscall
    tests: tuple[ArgTest, ...]
    when: Predicate | None
    # The handler promised to only pass, emulate or fail (no rewrites, no result hooks): the
    # "auto" backend may then decide its calls through seccomp user notification.
    decides_only: bool = False
    # The handler said it rewrites arguments or edits results: the unotify backend, which
    # cannot, refuses it before the run instead of failing at its first call.
    needs_ptrace: bool = False
    # The handler always fails the call with this errno, whatever its arguments: where the
    # run has a seccomp filter and nothing else wants the call, the filter answers it
    # (SECCOMP_RET_ERRNO) and it never stops; the handler serves the backends without one.
    filter_errno: int | None = None
    # A promise, like decides_only: the handler passes, with no effect, every call whose path
    # argument (the syscall's only one) is absolute, lexically normal (no "//", "." or "..")
    # and starts with none of these. The C wait loops read such a path and pass the call
    # without running the handler (see Route.direct); the Python loops let it decide.
    path_prefixes: tuple[str, ...] | None = None

    def accepts(self, call: Call) -> bool:
        """Whether the conditions hold for ``call`` (the kernel checked them only for the first
        registration of a route, and only up to the first that matched)."""
        raw = call.raw
        for test in self.tests:
            if not test.matches(raw[test.arg]):
                return False
        return self.when is None or self.when(call)


class SyscallStats:
    """Counters for one syscall of one ABI (``name`` and ``abi``, then the ``COUNTERS``)."""

    COUNTERS = (
        "stops", "passed", "emulated", "failed", "rewritten", "killed", "results_seen",
        "handler_errors", "handler_ns",
    )  # fmt: skip
    __slots__ = ("abi", "name", *COUNTERS)

    def __init__(self, name: str, abi: Abi) -> None:
        self.name = name
        self.abi = abi
        self.stops = self.passed = self.emulated = self.failed = self.rewritten = 0
        self.killed = self.results_seen = self.handler_errors = self.handler_ns = 0

    def add(self, other: SyscallStats) -> None:
        """Add ``other``'s counters to these."""
        for counter in self.COUNTERS:
            setattr(self, counter, getattr(self, counter) + getattr(other, counter))

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}={getattr(self, c)}" for c in self.COUNTERS if getattr(self, c))
        return f"<SyscallStats {self.name}/{self.abi} {counts}>"

    def count(self, outcome: Outcome) -> None:
        """Count one call with this outcome."""
        if outcome is Outcome.PASSED:
            self.passed += 1
        elif outcome is Outcome.EMULATED:
            self.emulated += 1
        elif outcome is Outcome.FAILED:
            self.failed += 1
        elif outcome is Outcome.REWRITTEN:
            self.rewritten += 1
        else:
            self.killed += 1


PathGuard = tuple[int, tuple[bytes, ...]]
"""A route's path guard: the index of its path argument and the prefixes (see
:attr:`Registration.path_prefixes`)."""

DirectEntry = tuple[Syscall, Handler, SyscallStats, "Route", int, int, PathGuard | None]
"""What :meth:`Route.direct` gives a wait loop (``sysemu.kernel.loop_config.DirectRoute``)."""


class Route:
    """Everything the engine needs for one (ABI, number) once the filter sent a call here.

    ``prechecked``: the kernel has already checked the conditions (one registration, no
    Python predicate, nothing else trapping the number). ``observe_results``: some observer
    needs the result of passed calls (a syscall-exit stop each). ``in_filter``: a seccomp
    filter answers the route's calls itself (see :attr:`Registration.filter_errno`), so
    they stop only where there is no filter.
    """

    __slots__ = (
        "in_filter", "observe_results", "observers", "prechecked", "registrations", "stats",
        "subcalls", "syscall",
    )  # fmt: skip

    def __init__(
        self,
        syscall: Syscall,
        registrations: tuple[Registration, ...],
        stats: SyscallStats,
        *,
        prechecked: bool = False,
        observers: tuple[Observer, ...] = (),
        observe_results: bool = False,
    ) -> None:
        self.syscall = syscall
        self.registrations = registrations
        self.stats = stats
        self.prechecked = prechecked
        self.observers = observers
        self.observe_results = observe_results
        self.in_filter = False
        # A multiplexer's route (socketcall): its operations that other routes want, by
        # number, with the words of arguments each reads (see demultiplex).
        self.subcalls: dict[int, tuple[Route, int]] | None = None

    def notifiable(self) -> bool:
        """Whether this route's calls can be decided through user notification (the ``auto``
        backend answers them so): every handler promised to only decide, and nobody wants
        the result."""
        return (
            bool(self.registrations)
            and not self.in_filter
            and all(r.decides_only for r in self.registrations)
            and not self.observe_results
        )

    def direct(self) -> DirectEntry | None:
        """What a wait loop needs to decide this route's calls on its own, without its general
        path (``sysemu.kernel.loop_config.DirectRoute``): ``(syscall, handler, stats, route,
        audit_arch, nr, path_guard)``, where ``path_guard`` is None or ``(argument index,
        prefixes as bytes)`` (see :attr:`Registration.path_prefixes`). None unless the route
        has one handler, whose conditions the kernel checked, and no observer (their
        ``call_finished`` would have to follow a reply that the notification loop sends late).
        """
        if (
            not self.prechecked
            or len(self.registrations) != 1
            or self.observers
            or self.subcalls is not None
        ):
            return None
        syscall = self.syscall
        return (
            syscall, self.registrations[0].handler, self.stats, self,
            syscall.abi.audit_arch, syscall.filter_nr, self._path_guard(),
        )  # fmt: skip

    def demultiplex(self, call: Call) -> tuple[Route, tuple[int, ...], int] | None:
        """For a call of a multiplexer (``socketcall``) whose operation another route wants:
        that route, the arguments of the direct call the kernel makes of it, read from the
        caller's array (see :mod:`sysemu.abi.socketcall`), and how many words of the array
        they are. None for any other operation, or an array the kernel could not read either
        (its ``EFAULT``)."""
        subcalls = self.subcalls
        wanted = subcalls.get(call.raw[0] & 0xFFFF_FFFF) if subcalls else None
        if wanted is None:
            return None
        from sysemu.abi import socketcall  # noqa: PLC0415 (32-bit programs only)

        route, words = wanted
        try:
            data = call.read(call.raw[1], words * socketcall.WORD_BYTES)
        except OSError:
            return None
        return route, socketcall.direct_args(data), words

    def _path_guard(self) -> PathGuard | None:
        prefixes = self.registrations[0].path_prefixes
        paths = [i for i, p in enumerate(self.syscall.params) if p.kind is ArgKind.PATH]
        if prefixes is None or len(paths) != 1:
            return None
        return paths[0], tuple(prefix.encode("utf-8", "surrogateescape") for prefix in prefixes)

    def decide(self, call: Call, *, kernel_checked: bool = True) -> Decision | None:
        """Ask the registered handlers in order; the first decision wins. Raises
        :class:`HandlerError` (from the handler's or predicate's exception, or a TypeError
        for a return value that is not a decision). ``kernel_checked=False``: the stop did
        not come from this route's own filter rule, so every condition is checked here."""
        start = _clock()
        prechecked = self.prechecked and kernel_checked
        try:
            if prechecked and len(self.registrations) == 1:
                # The common case, kept short: one handler the kernel already matched. A return
                # value that is not a Decision is caught where decisions are carried out.
                handler = self.registrations[0].handler
                try:
                    return handler(call)
                except Exception as error:
                    raise HandlerError(call.name, handler, call.tid) from error
            return self._ask(self.registrations, call, prechecked)
        finally:
            self.stats.handler_ns += _clock() - start

    def _ask(
        self, registrations: Sequence[Registration], call: Call, prechecked: bool
    ) -> Decision | None:
        for index, registration in enumerate(registrations):
            try:
                if not prechecked and not registration.accepts(call):
                    continue
                decision = registration.handler(call)
            except Exception as error:
                raise HandlerError(call.name, registration.handler, call.tid) from error
            if decision is None:
                continue
            if not isinstance(decision, Decision):
                raise HandlerError(call.name, registration.handler, call.tid) from TypeError(
                    f"a handler must return a Decision or None, not {type(decision).__name__}"
                )
            if isinstance(decision, Defer) and decision.then_others:
                # A delay with no opinion of its own: what the later handlers decide is
                # carried out when it ends (asked now: the call is the same then).
                decision.default = self._ask(registrations[index + 1 :], call, prechecked)
            return decision
        return None


# The filter's data for "look the route up by ABI and number": used when observers watch every
# call, which would need more routes than a filter can hold.
DYNAMIC_ROUTE = 0xFFFF
# A handler set whose filter would be longer than this traps everything (see compile()): the
# kernel takes 4096 instructions (BPF_MAXINSNS), and the engines put their own rules first.
MAX_FILTER_INSTRUCTIONS = 3584


class CompiledHandlers:
    """A handler set compiled for one run: the routes and the seccomp rules that lead there.

    ``arch_defaults`` gives, per audit arch, what the filter returns for calls no rule names
    (``SECCOMP_RET_TRACE | DYNAMIC_ROUTE`` when observers watch every call).
    """

    __slots__ = (
        "arch_defaults", "exec_hooks", "observers", "personality", "routes", "rules", "watch_all"
    )  # fmt: skip

    def __init__(
        self, observers: tuple[Observer, ...] = (), watch_all: tuple[Observer, ...] = ()
    ) -> None:
        self.routes: list[Route] = []
        self.rules: list[Rule] = []
        self.observers = observers
        self.watch_all = watch_all
        self.arch_defaults: dict[int, int] = {}
        # Called at every exec of the tree, before the new image runs (see api/execs.py).
        self.exec_hooks: tuple[ExecHook, ...] = ()
        # personality(2) bits a spawned program starts with (ADDR_NO_RANDOMIZE, say).
        self.personality = 0

    def dynamic_route(self, abi: Abi, nr: int) -> Route:
        """A route for a call that has no handler, for the observers that watch every call."""
        syscall = syscall_by_number(nr, abi) or unknown_syscall(nr, abi)
        stats = SyscallStats(syscall.name, abi)
        observe_results = any(observer.wants_results for observer in self.watch_all)
        return Route(
            syscall,
            (),
            stats,
            prechecked=True,
            observers=self.watch_all,
            observe_results=observe_results,
        )


def compile_routes(
    by_key: dict[tuple[Abi, int], list[Registration]],
    watched: dict[tuple[Abi, int], Syscall],
    allowed: set[Abi],
    watch_all: tuple[Observer, ...],
    unique: tuple[Observer, ...],
    *,
    registered: list[tuple[Observer, list[Syscall] | None]],
    many: bool,
) -> CompiledHandlers:
    """The routes and rules of ``HandlerSet.compile``; with ``many``, no rules: every call
    of the allowed ABIs stops and is routed by number."""
    compiled = CompiledHandlers(observers=unique, watch_all=watch_all)
    # Every architecture the machine has gets a default; any other is killed by the filter.
    default = SECCOMP_RET_TRACE | DYNAMIC_ROUTE if watch_all else SECCOMP_RET_ALLOW
    compiled.arch_defaults = {abi.audit_arch: default for abi in allowed}
    if many:
        dynamic = SECCOMP_RET_TRACE | DYNAMIC_ROUTE
        compiled.arch_defaults = {abi.audit_arch: dynamic for abi in allowed}
    for route_id, ((abi, nr), registrations) in enumerate(by_key.items()):
        syscall = registrations[0].syscall if registrations else watched[(abi, nr)]
        observers = tuple(
            dict.fromkeys(
                observer
                for observer, entries in registered
                if entries is None or any(e.abi is abi and e.nr == nr for e in entries)
            )
        )
        # The kernel enforced the conditions only if nothing else traps this number.
        prechecked = not registrations or (
            len(registrations) == 1 and registrations[0].when is None and not observers
        )
        compiled.routes.append(
            Route(
                syscall,
                tuple(registrations),
                SyscallStats(syscall.name, abi),
                prechecked=prechecked,
                observers=observers,
                observe_results=any(observer.wants_results for observer in observers),
            )
        )
        if many:
            compiled.routes[-1].prechecked = False
            continue
        if _filter_answers(registrations, observers):
            compiled.routes[-1].in_filter = True
            errno_value = registrations[0].filter_errno
            assert errno_value is not None  # (checked by _filter_answers)
            compiled.rules.append(
                Rule(abi.audit_arch, syscall.filter_nr, SECCOMP_RET_ERRNO | errno_value)
            )
            continue
        action = SECCOMP_RET_TRACE | route_id
        if not registrations or observers:
            # Observers see every call of this number, whatever the conditions say.
            compiled.rules.append(Rule(abi.audit_arch, syscall.filter_nr, action))
            continue
        for registration in registrations:
            compiled.rules.append(
                Rule(abi.audit_arch, syscall.filter_nr, action, registration.tests)
            )
            if not registration.tests:
                break  # every later rule for this call is unreachable
    for abi in allowed:
        _demultiplex_socket_calls(compiled, abi, many=many)
    return compiled


def _demultiplex_socket_calls(compiled: CompiledHandlers, abi: Abi, *, many: bool) -> None:
    """Where ``abi`` multiplexes socket calls (i386's ``socketcall``) and routes want some of
    them, send those operations to the multiplexer's route, which hands each to the route
    of its direct call (:meth:`Route.demultiplex`): a rule on ``connect`` sees a 32-bit C
    library's ``connect`` too. The filter checks the operation number; nothing else stops."""
    routes = {route.syscall.name: route for route in compiled.routes if route.syscall.abi is abi}
    if not routes and not compiled.watch_all:  # (and the tables stay unread)
        return
    from sysemu.abi import socketcall  # noqa: PLC0415 (runs with rules only)

    multiplexer = socketcall.multiplexer_of(abi)
    if multiplexer is None:
        return
    # Observers of every call see each operation as its call, as strace shows them.
    wanted = socketcall.DIRECT_NAMES if compiled.watch_all else set(routes)
    subcalls = {}
    for number, (syscall, words) in socketcall.subcalls_for(abi, wanted).items():
        if syscall.name not in routes:  # (only with observers of every call)
            routes[syscall.name] = compiled.dynamic_route(abi, syscall.nr)
            compiled.routes.append(routes[syscall.name])
        subcalls[number] = (routes[syscall.name], words)
    if not subcalls:
        return
    route = routes.get(multiplexer.name)
    if route is None:
        route = (
            compiled.dynamic_route(abi, multiplexer.nr)
            if compiled.watch_all
            else Route(multiplexer, (), SyscallStats(multiplexer.name, abi), prechecked=True)
        )
        compiled.routes.append(route)
    route.subcalls = subcalls
    if many:  # every call stops and is routed by number: no rule
        return
    operation = ArgTest(0, Op.IN, tuple(sorted(subcalls)), bits=32)
    action = SECCOMP_RET_TRACE | compiled.routes.index(route)
    compiled.rules.append(Rule(abi.audit_arch, multiplexer.filter_nr, action, (operation,)))


def _filter_answers(registrations: list[Registration], observers: tuple[Observer, ...]) -> bool:
    """Whether the filter can answer a route's calls itself: one registration, which fails
    every call with a fixed errno, and no observer to show them to."""
    return (
        len(registrations) == 1
        and registrations[0].filter_errno is not None
        and not registrations[0].tests
        and registrations[0].when is None
        and not observers
    )
