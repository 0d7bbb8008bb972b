"""Handing the wait loop to the C accelerator (``ptrace.serve_seccomp_stops``): when it may,
the one configuration object it reads (:class:`~sysemu.kernel.loop_config.PtraceLoopConfig`),
and the callbacks through which it gives calls back to Python (a route to resolve, a call
the C trace writer hands over, a handler that raised).

The C loop serves the stops it can (a direct route's handler, the C trace writer's lines) and
returns every other event, which :meth:`_dispatcher`'s choice handles as the Python loop would. This
module must not carry out decisions itself: the C loop's twin of that is
:meth:`CallCycle._carry_out`, which it calls.
"""

from __future__ import annotations

from collections.abc import Callable

from sysemu._typing import Protocol
from sysemu.api.call import Call
from sysemu.api.decisions import Emulate, Fail, Outcome, Pass
from sysemu.api.observers import Observer
from sysemu.api.routes import HandlerError, Route
from sysemu.engine import untraced
from sysemu.engine.accelerated import c_trace_writer
from sysemu.engine.call_cycle import CallCycle
from sysemu.kernel import ptrace
from sysemu.kernel.loop_config import DecisionConfig, DirectRoute, PtraceLoopConfig


class Dispatch(Protocol):
    """What handles one event of ``waitpid`` (True ends the wait loop). ``info``: the stop's
    ``ptrace.syscall_info`` where the C loop read it already (one read per stop), else None."""

    def __call__(self, tid: int, status: int, info: tuple[int, ...] | None = None) -> bool:
        """Handle the event."""
        ...


class CLoopServing(CallCycle):
    """The C wait loop's side of a tracer (see the module doc). The tracer supplies
    :meth:`_dispatcher`, :meth:`_serve_holds` and the spin budget."""

    _spin_ns: int
    # The observer whose C trace writer the C loop drives (see _c_trace), set per run.
    _traced_by: Observer | None = None

    def _dispatcher(self) -> Dispatch:
        """What handles one event of ``waitpid``: the tracer's."""
        raise NotImplementedError

    def _serve_holds(self) -> bool:
        """Serve the tree while threads are held; True ends the loop (the tracer's)."""
        raise NotImplementedError

    def _c_serve(self) -> Callable[[], None] | None:
        """The C wait loop (``ptrace.serve_seccomp_stops``) for this run, or None where the
        Python loop must serve: no accelerator, observers of every call without a filter
        (unless the tracing tool's C trace writer is the one, outside PTRACE_SYSEMU), a
        handler time limit, or an architecture other than the one the accelerator was built
        for. (A release request sets ``_hand_back[0]`` first: the C loop then hands every
        stop to :meth:`_after_stop`.)"""
        serve = ptrace.serve_seccomp_stops
        mode = int(self._stops)
        # Without a filter, an observer of every call needs every stop seen: in C only by the
        # C trace writer (the tracing tool's), and not under PTRACE_SYSEMU.
        traced_in_c = mode < 2 and any(map(c_trace_writer, self._compiled.observers))
        if (
            serve is None
            or (self._ptrace_only and self._compiled.watch_all and not traced_in_c)
            or self._alarm is not None
            or self._arch.native_abi.audit_arch != ptrace.ACCELERATED_AUDIT_ARCH
        ):
            return None
        direct: list[DirectRoute | None] = [route.direct() for route in self._routes]
        # For syscall stops (no filter data): the same by ABI and number.
        by_number = {
            route.syscall.abi.audit_arch << 32 | route.syscall.filter_nr: entry
            for route, entry in zip(self._routes, direct, strict=True)
        }
        if self._ptrace_only:  # clone and clone3 go to Python, which follows untraced children
            by_number.update(dict.fromkeys((arch << 32 | nr for arch, nr in untraced.CALLS)))
        dispatch = self._dispatcher()
        # Built once per run; the C loop reads it at each call, never per stop.
        config = PtraceLoopConfig(
            decision=DecisionConfig(
                tasks=self._tasks,
                call_type=Call,
                emulate_type=Emulate,
                fail_type=Fail,
                pass_type=Pass,
                raised=self._c_raised,
                carry_out=self._carry_out,
                serial=self._serial,
            ),
            mode=mode,
            direct=direct,
            by_number=by_number,
            stop=self._hand_back,
            spin_ns=self._spin_ns,
            resume_request=self._plain,
            trace=self._c_trace() if mode < 2 else None,
            resolve=self._c_route,
            adopt=self._c_adopted,
            follow_clone3=self._c_follows_clone3(),
        )

        def loop() -> None:
            # Between two events the C loop serves direct stops itself; the rest comes here,
            # with the stop's syscall info when C read it. (False: no event, but a thread is
            # held now, which Python's wait serves.)
            while True:
                event = serve(config)
                if event is None:
                    return
                if isinstance(event, tuple) and dispatch(*event):
                    return
                if self._holds and self._serve_holds():
                    return

        return loop

    def _c_follows_clone3(self) -> tuple[int, int, int] | None:
        """What the C loop needs to follow the native ``clone3`` itself (``(key, route,
        flag)``, see ``PtraceLoopConfig``), when the filter stops it for the engine alone:
        no handler or observer wants it. Every ``clone3`` stops once (glibc makes threads and
        ``posix_spawn`` children with it), which is a trip to Python otherwise."""
        if self._ptrace_only or self._compiled.watch_all:
            return None
        key = untraced.native_clone3(self._arch.native_abi.audit_arch)
        if key is None or key in self._by_call:
            return None
        arch, nr = key
        return arch << 32 | nr, untraced.UNTRACED_ROUTE, untraced.CLONE_UNTRACED

    def _c_trace(self) -> object | None:
        """The C trace writer of the one observer that has one (the tracing tool), ready for
        this run; None without one."""
        for observer in self._compiled.observers:
            writer = c_trace_writer(observer)
            if writer is not None:
                writer.begin(self._c_trace_failed)  # type: ignore[attr-defined]
                self._traced_by = observer
                return writer
        return None

    def _c_trace_failed(self, error: Exception) -> None:
        """Writing the C trace writer's lines raised (a full disk): reported as the observer's
        own ``call_finished`` would have been, never fatal (see ``notify``)."""
        observer = self._traced_by
        assert observer is not None  # set with the writer
        failure = HandlerError("call_finished", observer.call_finished, 0)
        failure.__cause__ = error
        self._policy.observer_failed(failure)

    def _c_route(self, nr: int) -> tuple[object, object] | bool | None:
        """For the C trace writer, on the first native call ``nr`` it sees: (stats, syscall)
        when the call's route has no handler and the writer's observer is its only
        observer (so writing its line is all there is to do); False when Python must serve
        the call; None when nobody watches it (a syscall stop of the ptrace backend)."""
        key = (self._arch.native_abi.audit_arch, nr)
        if key in untraced.CALLS:
            return False  # Python follows the children of CLONE_UNTRACED
        route = self._by_call.get(key)
        if route is None and self._compiled.watch_all:
            route = self._dynamic_route(*key)
        if route is None:
            return None
        if (
            route.registrations
            or route.observers != (self._traced_by,)
            or not route.observe_results
        ):
            return False
        return route.stats, route.syscall

    def _c_adopted(self, tid: int, nr: int, raw: tuple[int, ...], ip: int, sp: int) -> Call | None:
        """A call the C trace writer served at entry, handed over before its exit stop: from
        now on it is Python's, waiting for its result as if :meth:`_decide` had passed it."""
        state = self._tasks.get(tid)
        key = (self._arch.native_abi.audit_arch, nr)
        route = self._by_call.get(key) or self._dynamic.get(key)
        if state is None or route is None:
            return None
        call = Call(route.syscall, raw, state, ip, sp)
        state.await_result(call, route, None, Outcome.PASSED)
        return call

    def _c_raised(
        self, call: Call, route: Route, handler: Callable[..., object], error: Exception
    ) -> None:
        """A direct route's handler raised (the C loop's ``except Exception``)."""
        failure = HandlerError(call.name, handler, call.tid)
        failure.__cause__ = error
        self._handler_failed(failure, call.tid, route, call, at_exit=False)
