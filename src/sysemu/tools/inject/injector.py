"""Carrying out injection specs with handlers: the fault-injection tool.

Each spec becomes one handler per syscall it names, in every ABI. The conditions the kernel
can check (the syscall set, ``fd=``) go into the seccomp filter, so calls that cannot match
never stop; the rest (paths, fd paths, processes, ``when``, probability) are checked in Python.

``when`` counts the calls that pass every other condition, per spec, per process and per
syscall (strace counts per thread: threads of one program are usually what a test means).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.abi import Abi, ArgKind, Syscall, signal_name, syscall_named
from sysemu.abi.abi import machine_abis
from sysemu.api.call import Call
from sysemu.api.conditions import Condition
from sysemu.api.decisions import (
    Decision,
    Defer,
    Emulate,
    Fail,
    Pass,
    Result,
    ResultHook,
    Rewrite,
)
from sysemu.api.handlers import HandlerSet
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult
from sysemu.tools.inject.spec import (
    InjectSpec,
    InjectSpecError,
    errno_text,
    parse_inject_spec,
)
from sysemu.tools.tool import Tool, ToolHost

if TYPE_CHECKING:
    from random import Random

    from sysemu.tools.net.families import FamilySelector


class Injection(NamedTuple):
    """One call the injector hit."""

    spec: str  # the spec, in canonical form
    syscall: str
    abi: Abi
    pid: int
    tid: int
    nth: int  # which matching call of this process it was, from 1
    action: str  # what was done: "error=ENOSPC", "retval=0", "signal=SIGUSR1", "delay"
    path: str | None  # the path or fd path that matched, when the spec has one


class Match(NamedTuple):
    """A call that a spec hits: which matching call of its process and syscall it is (``nth``,
    from 1: what ``when`` counts), the path or fd path that matched (when the spec has a
    condition on one) and, for ``short=``, the byte count the call is cut to."""

    nth: int
    path: str | None
    cut: int | None


def _action(spec: InjectSpec) -> str:
    parts = []
    if spec.error is not None:
        parts.append(f"error={errno_text(spec.error)}")
    if spec.retval is not None:
        parts.append(f"retval={spec.retval}")
    if spec.short is not None:
        parts.append(f"short={spec.short}")
    if spec.after:
        parts.append("after")
    if spec.signal is not None:
        parts.append(f"signal={signal_name(spec.signal)}")
    if spec.delay_enter_ns or spec.delay_exit_ns:
        parts.append("delay")
    return ":".join(parts)


def _first_param(syscall: Syscall, kinds: tuple[ArgKind, ...]) -> int | None:
    for index, param in enumerate(syscall.params):
        if param.kind in kinds:
            return index
    return None


# The byte count that short= cuts: read/write's count, sendto/recvfrom's len. (Not readv's or
# writev's vlen, which counts buffers, nor getdents64's count, which a short cut turns into
# EINVAL rather than fewer entries once it is below one entry.)
_BYTE_COUNTS = ("count", "len")


def _byte_count(syscall: Syscall) -> int | None:
    for index, param in enumerate(syscall.params):
        if param.name in _BYTE_COUNTS and param.kind is ArgKind.ULONG:
            return index
    return None


class Injector(Observer, Tool):
    """Injects faults by spec; ``records`` lists every injection of the last run, which the
    run's result keeps as ``result.tools["inject"]`` (``result.injections``).

    ``seed`` makes ``probability=`` reproducible; without one a random seed is drawn and kept
    in :attr:`seed`, so a run can be repeated. Its handlers go on the emulator's handler set
    as each spec is added (see :func:`injector_of`), in order with the user's own.
    """

    wants_results = False
    name = "inject"
    reads_registers = False
    """Whether the handlers read the stopped thread's registers beyond the arguments (the
    stack pointer): then every call stops in ptrace, which has them, not in user
    notification, which reports the arguments and the instruction pointer alone."""

    def __init__(self, seed: int | None = None) -> None:
        # (os.urandom, not the random module: most runs draw no chance, and the module costs
        # a millisecond of start-up.)
        self.seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
        self.records: list[Injection] = []
        self.specs: list[InjectSpec] = []
        self._counters: dict[tuple[int, int, str], int] = {}
        self._randoms: list[Random | None] = []
        self._root = 0

    def add(self, spec: InjectSpec | str, handlers: HandlerSet) -> InjectSpec:
        """Register ``spec``'s handlers in ``handlers``; raises InjectSpecError when no
        syscall of its set can satisfy its conditions (``fd=`` on calls without an fd)."""
        parsed = parse_inject_spec(spec) if isinstance(spec, str) else spec
        index = len(self.specs)
        self.specs.append(parsed)
        self._randoms.append(self._chance(index))
        registered = 0
        sees_result = bool(parsed.after or parsed.delay_exit_ns)
        for abi in machine_abis():
            for name in sorted(parsed.syscalls.names(abi)):
                syscall = syscall_named(name, abi)  # (syscall_1005: a number no table has)
                if syscall is None:
                    continue
                selector = _family_selector(syscall, parsed.families)
                check = None if selector is None else selector.check
                handler = self._handler_for(index, parsed, syscall, check)
                if handler is None:
                    continue
                conditions: dict[str, Condition | int] = {}
                if selector is not None:
                    conditions.update(selector.conditions)
                if parsed.fd is not None:
                    fd_index = _first_param(syscall, (ArgKind.FD,))
                    assert fd_index is not None  # _handler_for checked it
                    conditions[syscall.params[fd_index].name] = parsed.fd
                handlers.add(
                    name,
                    handler,
                    abi=abi,
                    arg_conditions=conditions,
                    # Without "after" or an exit delay an injection only decides, which lets
                    # the auto backend answer it through user notification; short= rewrites
                    # an argument and "after" or an exit delay see the result, which only
                    # ptrace can (unotify refuses them at the start).
                    decides_only=not (sees_result or parsed.short) and not self.reads_registers,
                    needs_ptrace=sees_result or parsed.short is not None or self.reads_registers,
                    path_prefixes=_literal_prefixes(parsed.path),
                )
                registered += 1
        if not registered:
            raise _unservable(parsed)
        return parsed

    def reset(self) -> None:
        """Forget the records and counters of a previous run."""
        self.records.clear()
        self._counters.clear()
        self._randoms = [self._chance(index) for index in range(len(self.specs))]

    def _chance(self, index: int) -> Random | None:
        """The random draws of spec ``index``, seeded from :attr:`seed` and the index (None
        for a spec without ``probability=``)."""
        if self.specs[index].probability is None:
            return None
        from random import Random  # noqa: PLC0415 (only specs with a chance)

        return Random(f"{self.seed}:{index}")

    def run_started(self) -> None:
        """A run starts: :meth:`reset`."""
        self.reset()

    def run_finished(self, result: RunResult) -> list[Injection]:
        """What was injected in the run, in order."""
        return list(self.records)

    def stats_table(self, result: RunResult) -> str | None:
        """Per spec and syscall, how many calls were injected (with the seed when a spec
        has a probability, so that the run can be repeated); None without specs."""
        if not self.specs:
            return None
        chance = any(spec.probability for spec in self.specs)
        injections = result.tools.get(self.name)
        return injection_table(
            injections if isinstance(injections, list) else [], self.seed if chance else None
        )

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        """Learn the started process's pid, for ``pid=root``."""
        if kind == "spawn":
            self._root = tid

    def _handler_for(
        self,
        index: int,
        spec: InjectSpec,
        syscall: Syscall,
        family_check: Callable[[Call], bool] | None = None,
    ) -> Callable[[Call], Decision | None] | None:
        """The handler of ``spec`` for ``syscall``: the match, then the injection (None when
        the syscall lacks the arguments the spec's conditions need)."""
        match = self._matcher(index, spec, syscall, family_check)
        if match is None:
            return None
        size_index = _byte_count(syscall)
        text = str(spec)
        action = _action(spec)
        records = self.records

        def inject(call: Call) -> Decision | None:
            matched = match(call)
            if matched is None:
                return None
            count, path, cut = matched
            records.append(
                Injection(text, call.name, call.abi, call.pid, call.tid, count, action, path)
            )
            if cut is not None:
                assert size_index is not None
                return _cut(spec, call, size_index, cut)
            return _decide(spec, call)

        # What the unotify backend names when it refuses a spec it cannot carry out.
        inject.__qualname__ = f"--inject '{text}'"
        return inject

    def _matcher(
        self,
        index: int,
        spec: InjectSpec,
        syscall: Syscall,
        family_check: Callable[[Call], bool] | None = None,
    ) -> Callable[[Call], Match | None] | None:
        """Whether a call of ``syscall`` is one ``spec`` (number ``index``) hits: a function
        of the call that returns its :class:`Match`, or None for a call it leaves alone;
        every condition is checked there, and a call that passes them all is counted for
        ``when``. None when the syscall lacks the arguments the conditions need."""
        if not _can_serve(spec, syscall):
            return None
        fd_index = _first_param(syscall, (ArgKind.FD,))
        size_index = _byte_count(syscall)
        counters = self._counters
        # Globs compiled once, not looked up in fnmatch's cache at every call.
        path_matches = _glob_matcher(spec.path)
        fdpath_matches = _glob_matcher(spec.fdpath)

        def match(call: Call) -> Match | None:
            if spec.pids is not None and not spec.pids.matches(call.pid, self._root):
                return None
            matched: str | None = None
            if path_matches is not None:
                matched = next((p for p in call.paths if path_matches(p)), None)
                if matched is None:
                    return None
            if fdpath_matches is not None:
                assert fd_index is not None
                matched = call.fd_path(call.args[fd_index])
                if matched is None or not fdpath_matches(matched):
                    return None
            if family_check is not None and not family_check(call):
                return None
            cut: int | None = None
            if spec.short is not None:
                assert size_index is not None  # _can_serve checked it
                cut = spec.short.cut(call.args[size_index])
                if cut is None:  # already that short: nothing to cut
                    return None
            key = (index, call.pid, call.name)
            count = counters[key] = counters.get(key, 0) + 1
            if spec.when is not None and not spec.when.matches(count):
                return None
            chance = self._randoms[index]
            # (A spec has draws exactly when it has a probability.)
            if chance is not None and chance.random() >= (spec.probability or 0.0):
                return None
            return Match(count, matched, cut)

        return match


def _can_serve(spec: InjectSpec, syscall: Syscall) -> bool:
    """Whether ``syscall`` has the arguments ``spec``'s conditions look at."""
    if (spec.fd is not None or spec.fdpath is not None) and _first_param(
        syscall, (ArgKind.FD,)
    ) is None:
        return False
    if spec.families and _family_selector(syscall, spec.families) is None:
        return False  # the call names no address family before it runs
    if spec.short is not None and _byte_count(syscall) is None:
        return False
    return spec.path is None or _first_param(syscall, (ArgKind.PATH,)) is not None


def _unservable(spec: InjectSpec) -> InjectSpecError:
    return InjectSpecError(
        f"inject spec '{spec}': no syscall of the set has the arguments its "
        "conditions need (a path for path=, a file descriptor for fd=/fdpath=, a domain "
        "or an address passed in for family=, a byte count for short=)"
    )


def check_spec(spec: InjectSpec) -> InjectSpec:
    """``spec``, if some syscall of its set can serve it; raises InjectSpecError as
    :meth:`Injector.add` would (for checking input before anything is registered)."""
    for abi in machine_abis():
        for name in spec.syscalls.names(abi):
            syscall = syscall_named(name, abi)
            if syscall is not None and _can_serve(spec, syscall):
                return spec
    raise _unservable(spec)


def injector_of(host: ToolHost, seed: int | None = None) -> Injector:
    """The injector in use by ``host`` (an emulator), made and put in use on first call
    (with ``seed``, drawn at random when None). Its observer (for ``pid=root``) watches the
    life of every thread, on the emulator's own handler set."""
    tool = host.tools.get(Injector.name)
    if isinstance(tool, Injector):
        return tool
    injector = Injector(seed)
    host.use(injector)
    host.handlers.observe(injector, [])
    return injector


def injection_table(injections: list[Injection], seed: int | None) -> str:
    """Per spec and syscall: how many calls were injected (for ``--stats``)."""
    counts: dict[tuple[str, str], int] = {}
    for injection in injections:
        key = (injection.spec, injection.syscall)
        counts[key] = counts.get(key, 0) + 1
    seeded = f"   (--seed {seed})" if seed is not None else ""
    lines = [f"{'injected':>8}  {'syscall':<16} spec{seeded}"]
    lines += [f"{n:>8}  {name:<16} {spec}" for (spec, name), n in counts.items()]
    if not counts:
        lines.append(f"{0:>8}  (no call matched)")
    return "\n".join(lines)


def _decide(spec: InjectSpec, call: Call) -> Decision | None:
    """What an injection does to ``call``: a signal first, then the decision; delays hold
    the calling thread only (a Defer), never the rest of the tree."""
    if spec.signal is not None:
        call.send_signal(spec.signal)
    value = -spec.error if spec.error is not None else spec.retval
    decision: Decision | None = None
    if spec.after and value is not None:
        decision = Pass(then=_replaced_after(value, spec.delay_exit_ns))
    elif spec.error is not None:
        decision = Fail(spec.error)
    elif spec.retval is not None:
        decision = Emulate(spec.retval)
    elif spec.delay_exit_ns:
        decision = Pass(then=_replaced_after(None, spec.delay_exit_ns))
    if decision is not None and not spec.after and value is not None:
        # The call does not run: its exit is now, so both delays are waited at its entry.
        waited = spec.delay_enter_ns + spec.delay_exit_ns
        return Defer(waited / 1e9, decision) if waited else decision
    if spec.delay_enter_ns:
        # With no decision of its own (None), what the later handlers decide follows the wait.
        return Defer(spec.delay_enter_ns / 1e9, decision, then_others=decision is None)
    return decision  # None: a signal only, and the call runs as the others decide


def _replaced_after(value: int | None, delay_ns: int) -> ResultHook:
    """A result hook that replaces the result with ``value`` (None: keeps it), after holding
    the thread at its exit stop for ``delay_ns``."""

    def replace(_result: Result) -> int | Defer | None:
        return Defer(delay_ns / 1e9, value) if delay_ns else value

    return replace


def _cut(spec: InjectSpec, call: Call, index: int, cut: int) -> Decision:
    """short=: the kernel runs ``call`` with its byte count (argument ``index``) cut to
    ``cut``, and makes the short transfer itself; a signal and delays as :func:`_decide`
    does them. (The register keeps the cut value after the call, as with every rewrite: a
    libc wrapper returns the call's result and reads it no more.)"""
    if spec.signal is not None:
        call.send_signal(spec.signal)
    args: list[int | None] = [None] * 6  # one per argument register, as Call.rewrite makes
    args[index] = cut
    then = _replaced_after(None, spec.delay_exit_ns) if spec.delay_exit_ns else None
    rewrite = Rewrite(tuple(args), None, then)
    return Defer(spec.delay_enter_ns / 1e9, rewrite) if spec.delay_enter_ns else rewrite


def parse_specs(texts: Iterable[str]) -> list[InjectSpec]:
    """Parse several specs; raises InjectSpecError naming the first bad one."""
    return [parse_inject_spec(text) for text in texts]


def _family_selector(syscall: Syscall, families: frozenset[int] | None) -> FamilySelector | None:
    """``family=``'s selector for ``syscall`` (see sysemu.tools.net.families); None without."""
    if not families:
        return None
    from sysemu.tools.net.families import family_selector  # noqa: PLC0415 (family= only)

    return family_selector(syscall, families)


def _literal_prefixes(glob: str | None) -> tuple[str] | None:
    """What every path ``glob`` matches starts with, as a path guard of the handler (see
    ``HandlerSet.on``): its text up to the first wildcard, when that is an absolute
    directory or more; None where no such prefix narrows anything."""
    if glob is None:
        return None
    wildcard = min((i for i in map(glob.find, "*?[") if i >= 0), default=len(glob))
    prefix = glob[:wildcard]
    return (prefix,) if prefix.startswith("/") and len(prefix) > 1 else None


def _glob_matcher(glob: str | None) -> Callable[[str], object] | None:
    """A test of a whole path against ``glob`` (shell rules, as fnmatchcase: ``*`` also
    crosses ``/``), compiled once; None for no glob."""
    return None if glob is None else re.compile(fnmatch.translate(glob)).match
