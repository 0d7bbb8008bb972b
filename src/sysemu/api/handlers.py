"""The handler set: which calls stop, and who decides about them.

Handlers are registered per syscall name (every ABI that has a call of that name is covered, so
an ``int $0x80`` ``openat`` cannot slip past a rule written for ``openat``) or per number (for
calls that do not exist yet). The set compiles into routes, one per (ABI, number), and into the
seccomp rules that make exactly those calls stop: the set of handlers *is* the filter.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Callable, Iterable, Mapping, Sequence

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import (
    Abi,
    Syscall,
    abis_for_name,
    syscall_by_number,
    syscall_named,
    unknown_syscall,
)
from sysemu.abi.abi import machine_abis
from sysemu.abi.syscalls import names, unknown_number
from sysemu.api.call import Call
from sysemu.api.conditions import Condition, as_condition
from sysemu.api.decisions import Decision, Fail
from sysemu.api.execs import VDSO_CALLS, ExecHook, hide_vdso
from sysemu.api.observers import Observer
from sysemu.api.routes import (
    MAX_FILTER_INSTRUCTIONS,
    CompiledHandlers,
    Handler,
    Predicate,
    Registration,
    compile_routes,
)
from sysemu.kernel.arch import native_abi
from sysemu.kernel.bpf import (
    ArgTest,
    FilterTooLongError,
    Op,
    compile_filter,
    length_bound,
)

if TYPE_CHECKING:
    pass

SyscallSpec = str | int | Syscall | Iterable[str | int | Syscall]


class OnError(enum.Enum):
    """What happens to a call whose handler raised (the traceback is reported either way)."""

    KILL = "kill"  # fail closed: the whole traced program is killed (the default)
    FAIL = "fail"  # the call fails with the emulator's ``error_errno`` (EIO unless set)
    PASS = "pass"  # the kernel runs the call as if no handler had seen it


# A handler registered for more names than this was not written for the vDSO's calls in
# particular (a negated or class set): no warning that they rarely stop.
_NAMES_MEANT = 16


def resolve_syscalls(spec: SyscallSpec, abi: Abi | None = None) -> list[Syscall]:
    """The table entries a syscall spec names; raises ValueError for unknown names.

    A name covers every ABI that has it (or just ``abi``); a number means the native ABI's
    call (or ``abi``'s), and may be a number no kernel knows yet. In a list, a name of another
    machine's ABIs only (``clock_gettime64``, i386's, on aarch64) is left out, so that one
    list serves every machine; a list of such names alone is refused as one name is.
    """
    items: Iterable[str | int | Syscall] = [spec] if isinstance(spec, str | int | Syscall) else spec
    single = isinstance(spec, str | int | Syscall)
    found: list[Syscall] = []
    foreign: ValueError | None = None
    for item in items:
        if isinstance(item, Syscall):
            found.append(item)
            continue
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise TypeError(f"a syscall is a name or a number, not {item!r}")
        if isinstance(item, int):
            if item < 0:
                raise ValueError(f"syscall numbers are not negative: {item}")
            where = abi or native_abi()
            found.append(syscall_by_number(item, where) or unknown_syscall(item, where))
            continue
        if abi is not None:
            named = syscall_named(item, abi)
            if named is None:
                hint = _did_you_mean(item, names(abi))
                raise ValueError(f"unknown syscall {item!r} for the {abi} ABI{hint}")
            found.append(named)
            continue
        entries = abis_for_name(item)
        number = unknown_number(item)
        if not entries and number is not None:  # "syscall_1005", as a trace prints it
            found.extend(resolve_syscalls(number))
            continue
        if not entries:  # (another machine's call, as mkdir is on aarch64, says whose it is)
            elsewhere = ", ".join(str(each) for each in Abi if syscall_named(item, each))
            whose = f" on this machine (a call of {elsewhere})" if elsewhere else ""
            hint = _did_you_mean(item, (name for each in machine_abis() for name in names(each)))
            error = ValueError(f"unknown syscall {item!r}{whose}{hint}")
            if single or not elsewhere:
                raise error
            foreign = foreign or error
            continue
        found.extend(entries)
    if foreign is not None and not found:
        raise foreign
    return found


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    # Error paths only: start-up does not load the suggestion module.
    from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415

    return did_you_mean(word, known)


def _tests_for(syscall: Syscall, conditions: dict[str, Condition]) -> tuple[ArgTest, ...]:
    tests = []
    for name, condition in conditions.items():
        try:
            index = syscall.param_index(name)
        except KeyError:
            params = ", ".join(p.name for p in syscall.params) or "none"
            hint = _did_you_mean(name, (p.name for p in syscall.params))
            raise ValueError(
                f"{syscall.name} ({syscall.abi}) has no argument {name!r} (it has: {params})" + hint
            ) from None
        bits = min(syscall.params[index].bits, syscall.abi.word_bits)
        test = condition.to_test(index, bits)
        for value in (*test.values, test.mask if test.op is Op.MASKED_EQ else 0):
            # Out of the argument's range, a value would be silently cut to its width.
            if not -(1 << (bits - 1)) <= value < 1 << bits:
                raise ValueError(
                    f"{syscall.name} ({syscall.abi}): {name}={value} does not fit the "
                    f"argument ({bits} bits)"
                )
        tests.append(test)
    return tuple(tests)


class HandlerSet:
    """An ordered collection of handler registrations and observers."""

    def __init__(self) -> None:
        self._registrations: list[Registration] = []
        self._observers: list[tuple[Observer, list[Syscall] | None]] = []
        self._exec_hooks: list[ExecHook] = []
        self._personality = 0
        self._vdso_handled = False

    def on_exec(self, hook: ExecHook) -> None:
        """Call ``hook`` with an :class:`~sysemu.api.execs.ExecImage` at every exec of the
        traced tree, before the new image runs its first instruction (a hook added twice is
        called once). It may edit the image's start-up block; an error it raises is a
        handler error of ``execve``. Needs a ptrace-based backend."""
        if not callable(hook):
            raise TypeError(f"an exec hook must be callable, not {hook!r}")
        if hook not in self._exec_hooks:
            self._exec_hooks.append(hook)

    def add_personality(self, flags: int) -> None:
        """Start a spawned program with these ``personality(2)`` bits set too
        (``ADDR_NO_RANDOMIZE``, 0x0040000, turns address-space randomization off); exec keeps
        them, so the whole tree has them. Attaching ignores them."""
        self._personality |= flags

    def vdso_handled(self) -> None:
        """Say that an exec hook here deals with the vDSO itself (the time tool's, which
        replaces its clock functions): no warning about calls it would answer."""
        self._vdso_handled = True

    @property
    def vdso_hidden(self) -> bool:
        """Whether :func:`~sysemu.api.execs.hide_vdso` is one of the exec hooks, or another
        deals with the vDSO (:meth:`vdso_handled`)."""
        return self._vdso_handled or hide_vdso in self._exec_hooks

    def vdso_calls(self) -> list[str]:
        """The calls the vDSO answers in user space that a handler or observer here names:
        they never stop while the vDSO is in place (see :attr:`vdso_hidden`). Handlers of
        sweeping sets (``--inject '!getpid:...'``) are not taken to mean them."""
        # Grouped by the handler's code: a tool's closures (one per call of a set) are one.
        by_handler: dict[object, set[str]] = {}
        for registration in self._registrations:
            handler = registration.handler
            code = getattr(getattr(handler, "__func__", handler), "__code__", handler)
            by_handler.setdefault(code, set()).add(registration.syscall.name)
        named_sets = [*by_handler.values()]
        named_sets += [
            {entry.name for entry in entries} for _o, entries in self._observers if entries
        ]
        named: set[str] = set()
        for names_ in named_sets:
            if len(names_) <= _NAMES_MEANT:
                named |= names_
        return sorted(named & VDSO_CALLS)

    def observe(
        self, observer: Observer, syscalls: SyscallSpec | None = None, *, abi: Abi | None = None
    ) -> None:
        """Add ``observer`` for ``syscalls`` (every call of every ABI when ``None``), and for
        the life events of every traced thread."""
        if not isinstance(observer, Observer):
            raise TypeError(f"an observer must be a sysemu.Observer, not {observer!r}")
        entries = None if syscalls is None else resolve_syscalls(syscalls, abi)
        self._observers.append((observer, entries))

    def add(
        self,
        syscalls: SyscallSpec,
        handler: Handler,
        *,
        abi: Abi | None = None,
        when: Predicate | None = None,
        arg_conditions: Mapping[str, Condition | int] | None = None,
        decides_only: bool = False,
        needs_ptrace: bool = False,
        path_prefixes: Sequence[str] | None = None,
        **conditions: Condition | int,
    ) -> None:
        """Register ``handler``; see :meth:`on`. ``arg_conditions`` are more keyword
        conditions, for argument names that clash with this method's own parameters.
        ``needs_ptrace=True`` says the handler rewrites arguments or edits results, so that
        the ``unotify`` backend refuses it before anything runs."""
        if decides_only and needs_ptrace:
            raise ValueError("a handler cannot both only decide and need ptrace")
        prefixes = None if path_prefixes is None else tuple(path_prefixes)
        if prefixes is not None and not all(p.startswith("/") for p in prefixes):
            raise ValueError(f"path_prefixes must be absolute paths, not {prefixes!r}")
        if not callable(handler):
            raise TypeError(f"a handler must be callable, not {handler!r}")
        if when is not None and not callable(when):
            raise TypeError(f"when= must be a callable taking the Call, not {when!r}")
        merged = {**(arg_conditions or {}), **conditions}
        parsed = {name: as_condition(value) for name, value in merged.items()}
        for syscall in resolve_syscalls(syscalls, abi):
            tests = _tests_for(syscall, parsed)
            registration = Registration(
                handler, syscall, tests, when, decides_only, needs_ptrace, path_prefixes=prefixes
            )
            self._registrations.append(registration)

    def on(
        self,
        syscalls: SyscallSpec,
        *,
        abi: Abi | None = None,
        when: Predicate | None = None,
        decides_only: bool = False,
        path_prefixes: Sequence[str] | None = None,
        **conditions: Condition | int,
    ) -> Callable[[Handler], Handler]:
        """Decorator: ``handler`` decides about the named calls.

        ``syscalls`` is a name, a number or a list of them. Keyword ``conditions`` on argument
        names (``fd=2``, ``flags=HasBits(os.O_CREAT)``) are checked by the kernel, so calls
        that fail them never stop the program; ``when`` is a Python predicate on the
        :class:`Call`, checked after the stop. ``decides_only=True`` promises that the handler
        only passes, emulates or fails (no rewrite, no result hook): the ``auto`` backend then
        decides its calls through seccomp user notification, without a ptrace stop.
        ``path_prefixes`` is a promise too: the handler passes, with no effect, every call
        whose path argument is absolute, lexically normal (no ``//``, ``.`` or ``..``
        component) and starts with none of these strings; the C wait loops then pass such calls
        without running the handler (a syscall with one path argument; the rest always
        reach it). Unknown names raise ValueError at once.
        """

        def register(handler: Handler) -> Handler:
            self.add(
                syscalls,
                handler,
                abi=abi,
                when=when,
                arg_conditions=conditions,
                decides_only=decides_only,
                path_prefixes=path_prefixes,
            )
            return handler

        return register

    def __len__(self) -> int:
        return len(self._registrations)

    def guarded_against_io_uring(self) -> HandlerSet:
        """This set, or a copy in which ``io_uring_setup`` fails with ENOSYS first when a
        handler decides about a call that an io_uring operation can do instead (see
        :mod:`sysemu.abi.io_uring`): such a program's kernel workers would make the call
        where no rule sees it. ENOSYS is what a kernel without io_uring answers, and liburing's
        users (and the runtimes built on it) fall back to plain calls."""
        if not self._registrations:
            return self
        from sysemu.abi.io_uring import IO_URING_OPERATIONS  # noqa: PLC0415 (rules only)

        if not any(r.syscall.name in IO_URING_OPERATIONS for r in self._registrations):
            return self
        guarded = HandlerSet()
        for syscall in resolve_syscalls("io_uring_setup", None):
            guarded._registrations.append(
                Registration(_no_io_uring, syscall, (), None, True, filter_errno=errno.ENOSYS)
            )
        guarded._registrations.extend(self._registrations)
        guarded._observers = list(self._observers)
        guarded._exec_hooks = list(self._exec_hooks)
        guarded._personality = self._personality
        guarded._vdso_handled = self._vdso_handled
        return guarded

    def copy(self) -> HandlerSet:
        """A new set with the same registrations and observers, to add more to without
        changing this one."""
        twin = HandlerSet()
        twin._registrations = list(self._registrations)
        twin._observers = list(self._observers)
        twin._exec_hooks = list(self._exec_hooks)
        twin._personality = self._personality
        twin._vdso_handled = self._vdso_handled
        return twin

    def compile(self, abis: Iterable[Abi]) -> CompiledHandlers:
        """Routes and seccomp rules for the ABIs an architecture has."""
        allowed = set(abis)
        by_key: dict[tuple[Abi, int], list[Registration]] = {}
        for registration in self._registrations:
            syscall = registration.syscall
            if syscall.abi in allowed:
                by_key.setdefault((syscall.abi, syscall.nr), []).append(registration)
        watched: dict[tuple[Abi, int], Syscall] = {}
        for _observer, entries in self._observers:
            for syscall in entries or ():
                if syscall.abi in allowed:
                    watched.setdefault((syscall.abi, syscall.nr), syscall)
                    by_key.setdefault((syscall.abi, syscall.nr), [])
        watch_all = tuple(observer for observer, entries in self._observers if entries is None)
        # An observer registered several times (once per ABI, say) hears each event once.
        unique = tuple(dict.fromkeys(observer for observer, _ in self._observers))
        # A filter with a rule for each of hundreds of calls may pass the kernel's 4096
        # instructions; then every call of the machine's ABIs stops, and Python finds the
        # route by number (the same as for observers of every call).
        compiled = compile_routes(
            by_key, watched, allowed, watch_all, unique, registered=self._observers, many=False
        )
        size = length_bound(compiled.rules, len(allowed))
        if size > MAX_FILTER_INSTRUCTIONS:  # may not fit: compile it to know
            try:
                size = len(compile_filter(compiled.rules, arch_defaults=compiled.arch_defaults))
            except FilterTooLongError:
                size = MAX_FILTER_INSTRUCTIONS + 1
        if size > MAX_FILTER_INSTRUCTIONS:
            compiled = compile_routes(
                by_key, watched, allowed, watch_all, unique, registered=self._observers, many=True
            )
        compiled.exec_hooks = tuple(self._exec_hooks)
        compiled.personality = self._personality
        return compiled


def _no_io_uring(_call: Call) -> Decision:
    """``io_uring_setup`` under rules that its operations would bypass: as without io_uring."""
    return Fail(errno.ENOSYS)
