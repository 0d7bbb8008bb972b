"""A call's cycle at ptrace stops, on the seccomp, ptrace and sysemu backends: its entry stop,
the handlers' decision, carrying the decision out, and its exit stop when someone asked for the
result. :class:`CallCycle` owns that and the state it needs (the routes, the tasks' pending
calls, the failure policy, held threads); :class:`~sysemu.engine.tracer.Tracer` builds on it
the run's lifecycle, the wait loop and the tree's own events (fork, exec, signals, exits). It
must not start, wait for or reap anything.

The kernel facts it is built on (Linux >= 4.8 ordering):

* The filter returns ``SECCOMP_RET_TRACE | route``, so only calls some handler asked for stop,
  and the stop says which route (which handlers) it is for without any lookup. The tracee stops
  in ``PTRACE_EVENT_SECCOMP`` *after* the syscall-entry report and before the call runs.
* There, a number of -1 makes the kernel skip the call, and the return register is what it
  returns (:meth:`Arch.skip_with_return`). Resuming with ``PTRACE_CONT`` gives no
  syscall-exit stop: ``ptrace_resume`` clears the syscall-trace flag for every request but
  ``PTRACE_SYSCALL``. So a call costs one stop, and two only when a handler asked to see its
  result.
* Between that seccomp stop and the exit stop, other stops of the same thread can come (fork,
  clone and exec events, group-stops); each must be resumed with ``PTRACE_SYSCALL`` too, or
  the exit stop is lost. :class:`TaskState.pending_hook` marks such threads.
* A result of ``-ERESTARTSYS`` and friends at the exit stop means a signal interrupted the call
  and the kernel will restart it: the restarted call enters again, stops at seccomp again and
  is decided afresh, so the hook is not called for the interrupted attempt.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable

from sysemu._typing import TYPE_CHECKING
from sysemu.abi.errnos import RESTART_ERRNOS
from sysemu.api.call import READ_AT_ENTRY, Call
from sysemu.api.decisions import (
    Decision,
    Defer,
    Emulate,
    Fail,
    OpenFile,
    Outcome,
    Pass,
    Result,
    ResultHook,
    Rewrite,
)
from sysemu.api.observers import Observer
from sysemu.api.routes import CompiledHandlers, HandlerError, Route
from sysemu.engine import common, untraced
from sysemu.engine.common import HandlerAlarm, Stops, kill_if_alive, tell_observers
from sysemu.engine.errors import FailurePolicy, Verdict, check_replacement, not_a_decision
from sysemu.engine.tasks import Reexecution, RewriteAgain, RewriteRecord, ScratchMapping, TaskState
from sysemu.engine.untraced import UNTRACED_ROUTE
from sysemu.kernel import ptrace
from sysemu.kernel.arch import Arch, native_number

if TYPE_CHECKING:
    from _thread import LockType

    from sysemu.engine.holds import Holds
    from sysemu.engine.scratch import ScratchSpaces

_EXECVE = native_number("execve")  # the child sysemu forks is always a native process


class CallCycle:
    """The calls of one traced tree, from entry stop to exit stop (see the module doc)."""

    def __init__(
        self,
        compiled: CompiledHandlers,
        arch: Arch,
        stops: Stops,
        policy: FailurePolicy,
        alarm: HandlerAlarm | None,
    ) -> None:
        """``stops``: how calls are made to stop; ``policy``: what a handler's failure does;
        ``alarm``: the handlers' time limit, if any."""
        self._compiled = compiled
        self._routes = compiled.routes
        self._route_count = len(compiled.routes)
        self._dynamic: dict[tuple[int, int], Route] = {}
        self._route_arch = [route.syscall.abi.audit_arch for route in compiled.routes]
        self._route_nr = [route.syscall.filter_nr for route in compiled.routes]
        self._arch = arch
        self._audit_arches = frozenset(abi.audit_arch for abi in arch.abis)
        self._killed_foreign: set[int] = set()  # processes killed for a foreign call, told
        self._alarm = alarm
        self._stops = stops
        self._emulate_all = emulate_all = stops is Stops.EMULATE_ALL
        self._ptrace_only = ptrace_only = stops is not Stops.FILTER
        self._at_seccomp = not ptrace_only  # where calls are decided (for Arch.rewrite)
        # The request that resumes a thread nobody waits on: PTRACE_CONT lets it run until the
        # filter stops it again; without a filter, PTRACE_SYSCALL is what stops it at all, and
        # PTRACE_SYSEMU also keeps the kernel from running its next call.
        self._plain = (
            ptrace.PTRACE_SYSEMU
            if emulate_all
            else ptrace.PTRACE_SYSCALL
            if ptrace_only
            else ptrace.PTRACE_CONT
        )
        self._by_call = {
            (route.syscall.abi.audit_arch, route.syscall.filter_nr): route
            for route in compiled.routes
        }
        if ptrace_only:
            for route in compiled.routes:
                # No kernel checked the conditions: Python must.
                if any(r.tests for r in route.registrations):
                    route.prechecked = False
        self._policy = policy
        self._tasks: dict[int, TaskState] = {}
        self._scratch: ScratchSpaces | None = None  # rewrites' data (scratch.py), made at need
        # 1 when the run is ending (timeout, a handler error) or a thread is held: the C loop
        # then hands every stop to Python.
        self._hand_back = bytearray(1)
        # Threads held at a stop by a Defer (see engine/holds.py), made at the first hold.
        self._holds: Holds | None = None
        # With a companion (auto's notification thread), the lock that whichever of the two
        # threads runs Python code for a stop holds: handlers run one at a time, as on one.
        self._serial: LockType | None = None

    def _serialized(self, carry_out: Callable[[object], None]) -> Callable[[object], None]:
        """``carry_out`` (of a held thread's resolution, which the wait loop calls outside
        any stop) holding the serial lock, if there is one (see ``_serial``)."""
        serial = self._serial
        if serial is None:
            return carry_out

        def serially(resolution: object) -> None:
            with serial:
                carry_out(resolution)

        return serially

    def _on_seccomp(self, tid: int, info: tuple[int, ...] | None = None) -> None:
        info = info or ptrace.syscall_info(tid)  # (read by the C loop already, or not)
        if info is None:
            return
        op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, route_id = info
        if op != ptrace.SYSCALL_INFO_SECCOMP:
            self._resume(tid, 0)
            return
        if (
            route_id < self._route_count
            and self._route_arch[route_id] == arch
            and self._route_nr[route_id] == nr
        ):
            self._decide(tid, self._routes[route_id], (a0, a1, a2, a3, a4, a5), ip, sp)
            return
        # Not our route: the filter trapped everything (DYNAMIC_ROUTE), the program's own filter
        # returned SECCOMP_RET_TRACE with its data (which overrides ours), or a clone the engine
        # stopped. By number then, every condition checked here: nothing slips past a rule.
        args: tuple[int, ...] = (a0, a1, a2, a3, a4, a5)
        if route_id == UNTRACED_ROUTE and (arch, nr) in untraced.CALLS:
            args = untraced.follow(self._arch, tid, arch, nr, args, seccomp=True)
        route = self._by_call.get((arch, nr))
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(arch, nr)
        if route is None:
            self._resume(tid, 0)
            return
        self._decide(tid, route, args, ip, sp, kernel_checked=False)

    def _on_entry(self, tid: int, info: tuple[int, ...]) -> None:
        """A ptrace-only backend's syscall-entry stop: every call's; its number decides first."""
        _op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, _data = info
        state = self._tasks.get(tid) or self._adopt(tid)
        key = (arch, nr)
        if key in untraced.CALLS:
            a0, a1, a2, a3, a4, a5 = untraced.follow(
                self._arch, tid, arch, nr, (a0, a1, a2, a3, a4, a5), seccomp=False
            )
        route = self._by_call.get(key)
        if route is None and arch not in self._audit_arches:  # (AArch32 on arm64)
            common.killed_if_foreign(self._arch.abis, arch, state.pid, self._killed_foreign)
            return
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(arch, nr)
        if route is None or (state.spawning and nr != _EXECVE):
            # Not asked for; or sysemu's own child still on its way to exec the program.
            state.rewritten = None  # no restart of a rewritten call: that has a route
            if self._emulate_all:
                self._run_after_all(state)
            else:
                ptrace.resume(ptrace.PTRACE_SYSCALL, tid, 0)
            return
        self._decide(tid, route, (a0, a1, a2, a3, a4, a5), ip, sp)

    def _decide(
        self,
        tid: int,
        route: Route,
        args: tuple[int, ...],
        ip: int,
        sp: int,
        *,
        kernel_checked: bool = True,
    ) -> None:
        """A call on its way into the kernel that some handler or observer wants: ask, and
        carry out the decision."""
        state = self._tasks.get(tid) or self._adopt(tid)
        call = Call(route.syscall, args, state, ip, sp)
        if route.subcalls is not None:  # socketcall: decided as the call it makes
            from sysemu.engine.multiplexed import demultiplexed  # noqa: PLC0415 (32-bit only)

            if found := demultiplexed(route, call, state):
                route, call, kernel_checked = *found, False
        stats = route.stats
        stats.stops += 1
        if self._policy.fatal is not None:  # the tree is being killed; let nothing else run
            self._arch.skip_and_continue(tid, -errno.EPERM, self._plain)
            return
        if state.rewritten is not None and self._restarted_rewrite(state, call):
            return
        observers = route.observers
        if observers:
            if call.syscall.name in READ_AT_ENTRY:  # changed by call_finished
                call.keep_entry()
            self._tell("call_entered", observers, call)
        try:
            if not route.registrations:
                decision = None
            elif self._alarm is None:
                decision = route.decide(call, kernel_checked=kernel_checked)
            else:
                with self._alarm:
                    decision = route.decide(call, kernel_checked=kernel_checked)
        except HandlerError as error:
            self._handler_failed(error, tid, route, call, at_exit=False)
            return
        self._carry_out(state, call, route, decision)

    def _carry_out(
        self, state: TaskState, call: Call, route: Route, decision: Decision | None
    ) -> None:
        """Carry out a handler's decision on a call stopped at its entry."""
        tid = state.tid
        stats = route.stats
        observers = route.observers
        try:
            if decision is None:
                stats.passed += 1
                self._pass(state, call, route, None, Outcome.PASSED)
            elif type(decision) is Emulate:
                stats.emulated += 1
                # Observers hear of it while the thread is still stopped, so that they can read
                # what the handler wrote into its memory.
                if observers:
                    self._emulated(call, route, decision.value, Outcome.EMULATED)
                self._arch.skip_and_continue(tid, decision.value, self._plain)
            elif type(decision) is Fail:
                stats.failed += 1
                if observers:
                    self._emulated(call, route, -decision.errno, Outcome.FAILED)
                self._arch.skip_and_continue(tid, -decision.errno, self._plain)
            elif type(decision) is Pass:
                stats.passed += 1
                self._pass(state, call, route, decision.then, Outcome.PASSED)
            else:
                self._apply_other(state, call, route, decision)
        except HandlerError as error:
            self._handler_failed(error, tid, route, call, at_exit=False)

    def _apply_other(self, state: TaskState, call: Call, route: Route, decision: object) -> None:
        """Rewrites, holds, and the slow path for subclasses of the decision types."""
        if isinstance(decision, Defer):
            self._hold(state, call, route, decision)
            return
        if isinstance(decision, Emulate | Fail):
            outcome = Outcome.EMULATED if isinstance(decision, Emulate) else Outcome.FAILED
            value = decision.value if isinstance(decision, Emulate) else -decision.errno
            if route.observers:
                self._emulated(call, route, value, outcome)
            self._arch.skip_and_continue(state.tid, value, self._plain)
        elif isinstance(decision, Pass):
            self._pass(state, call, route, decision.then, Outcome.PASSED)
        elif isinstance(decision, Rewrite):
            self._rewrite(state, call, route, decision)
        elif isinstance(decision, OpenFile):
            self._rewrite(state, call, route, decision.as_openat(call.abi))
        else:
            raise not_a_decision(call.name, route.registrations[0].handler, call.tid, decision)
        route.stats.count(decision.outcome)

    def _emulated(self, call: Call, route: Route, value: int, outcome: Outcome) -> None:
        self._tell("call_finished", route.observers, call, outcome, Result(value))

    def _pass(
        self,
        state: TaskState,
        call: Call,
        route: Route,
        then: ResultHook | None,
        outcome: Outcome,
    ) -> None:
        if self._emulate_all:
            if then is not None or route.observe_results:
                state.await_result(call, route, then, outcome)
            elif route.observers:
                self._tell("call_finished", route.observers, call, outcome, None)
            self._run_after_all(state)
            return
        if then is None and not route.observe_results:
            ptrace.resume(self._plain, state.tid, 0)
            if route.observers:
                self._tell("call_finished", route.observers, call, outcome, None)
            return
        state.await_result(call, route, then, outcome)
        ptrace.resume(ptrace.PTRACE_SYSCALL, state.tid, 0)

    def _rewrite(self, state: TaskState, call: Call, route: Route, decision: Rewrite) -> None:
        """Carry out a rewrite, its data (if any) written in the thread's scratch slot, which
        is mapped first if the process has none (engine/scratch.py); below the stack pointer
        in a process that refused the mapping."""
        spaces = self._scratch or self._scratch_spaces()
        word = call.abi.pointer_size
        size = spaces.data_size(decision.args, word)
        base = 0
        if size:
            slot = spaces.slot(state.pid, state.tid, size)
            if slot is None and not spaces.refused(state.pid):
                self._map_scratch(state, call, route, decision, size)
                return
            base = slot if slot is not None else (self._arch.user_stack_limit(call.sp) - size) & ~15
        args, blobs = spaces.lay_out(call.raw, decision.args, base, word)
        try:
            for address, data in blobs:
                call.memory.write(address, data)
        except OSError as error:
            spaces.forget(state.pid)  # unmapped by the program? map again next time
            raise HandlerError(call.name, route.registrations[0].handler, call.tid) from error
        nr = call.nr if decision.nr is None else decision.nr
        if type(call) is not Call:  # one made through socketcall
            from sysemu.engine.multiplexed import rewrite_multiplexed  # noqa: PLC0415

            rewrite_multiplexed(self._arch, call, decision, nr, args, seccomp=self._at_seccomp)
        else:
            self._arch.rewrite(state.tid, call.abi, nr, args, seccomp=self._at_seccomp)
        if blobs:
            record = RewriteRecord(call.sp, nr, tuple(args), tuple(blobs), decision.then, route)
            state.rewritten = record
        self._pass(state, call, route, decision.then, Outcome.REWRITTEN)

    def _map_scratch(
        self, state: TaskState, call: Call, route: Route, decision: Rewrite, size: int
    ) -> None:
        """Make the thread map a scratch area instead of making its call; the call enters
        again after that (:meth:`_scratch_mapped`), and ``decision`` is carried out then."""
        tid, arch, spaces = state.tid, self._arch, self._scratch_spaces()
        area = spaces.area_size(size)
        nr = arch.map_numbers.get(call.abi)
        if nr is None:  # an architecture that cannot: the stack then
            spaces.mapped(state.pid, None, area)
            self._rewrite(state, call, route, decision)
            return
        saved, mapping = arch.save_call(tid), spaces.map_arguments(area)
        if saved is None or not arch.rewrite(tid, call.abi, nr, mapping, seccomp=self._at_seccomp):
            return  # gone
        state.rewritten = ScratchMapping(
            saved, state.pid, area, call.sp, call.nr, call.raw, decision, route
        )
        if self._emulate_all:  # PTRACE_SYSEMU runs nothing: enter again, for the mmap
            arch.reexecute(tid)
            state.reexecuting = Reexecution.TO_ENTRY
        ptrace.resume(ptrace.PTRACE_SYSCALL, tid, 0)

    def _scratch_mapped(self, state: TaskState, record: ScratchMapping, rval: int) -> None:
        """The exit stop of the mmap :meth:`_map_scratch` made: the area is the process's,
        and the thread enters its own call again (decided already: :class:`RewriteAgain`)."""
        spaces = self._scratch_spaces()
        spaces.mapped(record.tgid, spaces.mapped_address(rval), record.size)
        state.rewritten = RewriteAgain(*record[3:])  # sp, nr, args, decision, route
        if self._arch.reenter(state.tid, record.saved):
            ptrace.resume(self._plain, state.tid, 0)

    def _scratch_spaces(self) -> ScratchSpaces:
        if self._scratch is None:
            from sysemu.engine.scratch import ScratchSpaces  # noqa: PLC0415 (runs that rewrite)

            self._scratch = ScratchSpaces()
        return self._scratch

    def _restarted_rewrite(self, state: TaskState, call: Call) -> bool:
        """Whether ``call`` is the thread's last rewritten call, run again by the kernel after
        a signal (``-ERESTART*``): then it is carried out as rewritten once more, its data
        written again first (a signal handler's own rewrite may have used the slot, and the
        kernel restarts the call with the rewritten registers). Or the call entered again
        once its process had a scratch area: its decision is carried out now."""
        record = state.rewritten
        state.rewritten = None
        if record is None or record.sp != call.sp or record.args != call.raw:
            return False
        if record.nr != call.nr or type(record) is ScratchMapping:
            return False
        if type(record) is RewriteAgain:
            try:
                self._rewrite(state, call, record.route, record.decision)
            except HandlerError as error:
                self._handler_failed(error, state.tid, record.route, call, at_exit=False)
            return True
        assert type(record) is RewriteRecord
        try:
            for address, data in record.blobs:
                call.memory.write(address, data)
        except OSError:
            return False  # decided afresh
        state.rewritten = record  # it may be interrupted again
        record.route.stats.rewritten += 1
        self._pass(state, call, record.route, record.then, Outcome.REWRITTEN)
        return True

    def _run_after_all(self, state: TaskState) -> None:
        """PTRACE_SYSEMU skipped the call: make it again, this time for the kernel to run."""
        if self._arch.reexecute(state.tid):
            state.reexecuting = Reexecution.TO_ENTRY
            ptrace.resume(ptrace.PTRACE_SYSCALL, state.tid, 0)

    def _dynamic_route(self, arch: int, nr: int) -> Route:
        key = (arch, nr)
        route = self._dynamic.get(key)
        if route is None:
            abi = self._arch.abi_of(arch, nr)
            route = self._compiled.dynamic_route(abi, nr & ~abi.nr_bias)
            self._dynamic[key] = route
        return route

    def _on_syscall_stop(self, tid: int, info: tuple[int, ...] | None = None) -> None:
        state = self._tasks.get(tid)
        call = state.pending_call if state is not None else None
        if call is None and not self._ptrace_only and (state is None or not state.rewritten):
            self._resume(tid, 0)
            return
        info = info or ptrace.syscall_info(tid)
        if info is None:
            return
        if state is not None and state.reexecuting:
            # A call PTRACE_SYSEMU skipped, being made again: first the exit of the skipped
            # attempt, then the real entry, then the real exit (handled below as any other).
            if state.reexecuting == Reexecution.TO_ENTRY:
                if info[0] == ptrace.SYSCALL_INFO_ENTRY:
                    state.reexecuting = Reexecution.TO_EXIT
                ptrace.resume(ptrace.PTRACE_SYSCALL, tid, 0)
                return
            if info[0] == ptrace.SYSCALL_INFO_EXIT:
                state.reexecuting = Reexecution.NONE
        if info[0] == ptrace.SYSCALL_INFO_ENTRY and self._ptrace_only:
            self._on_entry(tid, info)
            return
        if state is not None and type(state.rewritten) is ScratchMapping:
            if info[0] == ptrace.SYSCALL_INFO_EXIT:
                self._scratch_mapped(state, state.rewritten, info[4])
            else:
                ptrace.syscall(tid)  # on its way to the mmap's exit
            return
        if state is None or call is None:
            self._resume(tid, 0)
            return
        if info[0] != ptrace.SYSCALL_INFO_EXIT:
            ptrace.syscall(tid)  # still on the way to the exit stop
            return
        rval = info[4]
        route, hook, outcome = state.pending_route, state.pending_hook, state.pending_outcome
        state.clear_pending()
        assert route is not None
        if -rval in RESTART_ERRNOS:
            if route.observers:  # (the hook is not told: the program never sees this result)
                self._tell("call_interrupted", route.observers, call, Result(rval))
            ptrace.resume(self._plain, tid, 0)  # it will enter again and be decided again
            return
        if hook is not None:
            route.stats.results_seen += 1
            try:
                if self._alarm is None:
                    replacement = hook(Result(rval))
                else:
                    with self._alarm:
                        replacement = hook(Result(rval))
                check_replacement(replacement)
            except Exception as error:  # the hook is a handler too: same policy
                self._hook_failed(error, hook, tid, route, call)
                return
            if isinstance(replacement, Defer):
                # Held at its exit stop; the resolution is what the hook would have returned.
                def carry_out(resolution: object) -> None:
                    try:
                        check_replacement(resolution, deferred=True)
                    except TypeError as error:
                        assert hook is not None
                        self._hook_failed(error, hook, tid, route, call)
                        return
                    self._finish_exit(tid, call, route, outcome, rval, resolution)

                self._held().hold(tid, replacement, self._serialized(carry_out))
                self._hand_back[0] = 1
                return
            self._finish_exit(tid, call, route, outcome, rval, replacement)
            return
        self._finish_exit(tid, call, route, outcome, rval, None)

    def _hook_failed(
        self, error: Exception, hook: ResultHook, tid: int, route: Route, call: Call
    ) -> None:
        handler_error = HandlerError(route.syscall.name, hook, tid)
        handler_error.__cause__ = error
        self._handler_failed(handler_error, tid, route, call, at_exit=True)

    def _finish_exit(  # noqa: PLR0917 (the exit stop's own state, passed on as it is)
        self, tid: int, call: Call, route: Route, outcome: Outcome, rval: int, replacement: object
    ) -> None:
        """The end of a call's exit stop: its result replaced (an int), observers told, and
        the thread resumed."""
        if isinstance(replacement, int):
            self._arch.set_return(tid, replacement)
            rval = replacement
        if route.observers:  # before resuming: the buffers the call filled are still intact
            self._tell("call_finished", route.observers, call, outcome, Result(rval))
        ptrace.resume(self._plain, tid, 0)

    def _held(self) -> Holds:
        """The held threads (made at the first hold: a run that holds none never loads it)."""
        if self._holds is None:
            from sysemu.engine.holds import Holds  # noqa: PLC0415 (only runs that hold)

            self._holds = Holds()
        return self._holds

    def _hold(self, state: TaskState, call: Call, route: Route, defer: Defer) -> None:
        """A handler deferred its decision: the thread stays at its entry stop until the
        Defer is resolved, then the resolution is carried out as the handler's decision."""

        def carry_out(resolution: object) -> None:
            if resolution is not None and not isinstance(resolution, Decision):
                handler = route.registrations[0].handler
                error = not_a_decision(call.name, handler, call.tid, resolution)
                self._handler_failed(error, state.tid, route, call, at_exit=False)
                return
            self._carry_out(state, call, route, resolution)

        self._held().hold(state.tid, defer, self._serialized(carry_out))
        self._hand_back[0] = 1  # the C loop returns to Python, whose wait serves holds

    def _handler_failed(
        self, error: HandlerError, tid: int, route: Route, call: Call, *, at_exit: bool
    ) -> None:
        verdict = self._policy.handler_failed(error, route)
        if verdict is Verdict.KILL:
            self._hand_back[0] = 1
            # Make sure the call cannot run, then kill the tree (SIGKILL also ends the stop).
            if at_exit:
                self._arch.set_return(tid, -errno.EIO)
            else:
                self._arch.skip_with_return(tid, -errno.EPERM)
            self._kill_tasks()
            return
        if verdict is Verdict.FAIL:
            value = -self._policy.error_errno
            if at_exit:
                self._arch.set_return(tid, value)
            else:
                self._arch.skip_with_return(tid, value)
            outcome, result = Outcome.FAILED, Result(value)
        else:
            outcome, result = Outcome.PASSED, None
        state = self._tasks.get(tid) if self._emulate_all and not at_exit else None
        if outcome is Outcome.PASSED and state is not None:
            # PTRACE_SYSEMU skipped the call: passed, it must be made again, as _pass does
            # (resumed as it was, it failed with ENOSYS).
            self._run_after_all(state)
        else:
            ptrace.cont(tid)
        if route.observers:
            self._tell("call_finished", route.observers, call, outcome, result)

    def _adopt(self, tid: int) -> TaskState:
        """A thread whose first stop the kernel reported before its parent's fork/clone event."""
        state = TaskState(tid)
        self._tasks[tid] = state
        return state

    def _resume(self, tid: int, sig: int) -> None:
        state = self._tasks.get(tid)
        if state is not None and (state.pending_call is not None or state.reexecuting):
            ptrace.syscall(tid, sig)
        else:
            ptrace.resume(self._plain, tid, sig)

    def _tell(self, method: str, observers: Iterable[Observer], *args: object) -> None:
        tell_observers(observers, method, args, self._policy)

    def _kill_tasks(self) -> None:
        for tid in list(self._tasks):
            kill_if_alive(tid)
