"""What every backend raises and how every backend treats a failing handler.

This module owns the engine's exceptions (a program that cannot be executed, a run past its
time limit, a handler set a backend cannot serve), the one mapping from a child's exit status
127 to :class:`ExecError`, the one "a handler must return a Decision" error, and the
``on_error`` policy (:class:`FailurePolicy`). It must not touch a process: what a verdict means
for the registers or the notification reply is each mechanism's own business.
"""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Callable, Sequence

from sysemu.api.decisions import Defer, Outcome
from sysemu.api.handlers import OnError
from sysemu.api.results import RunResult
from sysemu.api.routes import HandlerError, Route
from sysemu.kernel.memory import TraceeMemoryError

ErrorReporter = Callable[[HandlerError], None]
"""Where a handler's error goes when the run goes on (``OnError.FAIL`` or ``PASS``)."""


class ExecError(OSError):
    """The program could not be executed (reported by the child before exec)."""


class AttachError(OSError):
    """The process could not be attached to (it does not exist, or ptrace is refused)."""


class UnsupportedError(ValueError):
    """The handler set asks for something the chosen backend cannot do."""


class RunTimeoutError(TimeoutError):
    """The run took longer than its timeout; every traced process was killed.

    ``result`` is the run's :class:`RunResult` up to then.
    """

    def __init__(self, argv: Sequence[str], timeout: float, result: RunResult) -> None:
        super().__init__(f"{' '.join(argv)} timed out after {timeout:g} s and was killed")
        self.argv = list(argv)
        self.timeout = timeout
        self.result = result


# The exit status the spawned child uses when exec failed (as a shell does for "not found").
EXEC_FAILED_STATUS = 127


def exec_failure(
    status: int | None, message: str | None, path: str, code: int = 0
) -> ExecError | None:
    """The :class:`ExecError` of a run whose root ended with wait ``status``, given the
    message and errno ``code`` the child sent before exec (None: it sent none, so exec
    succeeded and any exit status 127 is the program's own)."""
    if message is None or status is None:
        return None
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != EXEC_FAILED_STATUS:
        return None
    return ExecError(code or errno.ENOEXEC, f"cannot execute {path}: {message}")


def not_a_decision(call_name: str, handler: object, tid: int, value: object) -> HandlerError:
    """The error of a handler that returned something that is neither a Decision nor None."""
    failure = HandlerError(call_name, handler, tid)  # type: ignore[arg-type]
    failure.__cause__ = TypeError(
        f"a handler must return a Decision or None, not {type(value).__name__}"
    )
    return failure


def check_replacement(value: object, *, deferred: bool = False) -> None:
    """Raise TypeError unless ``value`` is what a result hook may return: an int, None, or
    (not as a Defer's own resolution) a Defer."""
    if value is None or isinstance(value, int) or (not deferred and isinstance(value, Defer)):
        return
    kinds = "an int or None" if deferred else "an int, a Defer or None"
    raise TypeError(f"a result hook must return {kinds}, not {type(value).__name__}")


class Verdict(enum.Enum):
    """What happens to a call whose handler failed, as :class:`FailurePolicy` rules."""

    KILL = "kill"  # the tree is killed; the call must not run
    FAIL = "fail"  # the call fails with the policy's errno
    PASS = "pass"  # the kernel runs the call as it is


def caller_gone(error: HandlerError) -> bool:
    """Whether a handler raised only because the thread that made its call is gone: reading or
    writing that thread's memory failed with ESRCH. A thread can be killed while it is stopped
    for its handler (another thread's exit_group, a SIGKILL) or, under notification, leave the
    call; nothing the handler decides can reach it any more. (Seen with a Go program exiting
    while a thread's futex call was being decided: 5.10 under TCG.) The memory of another
    thread (a call kept from an earlier stop) is the handler's own error."""
    cause = error.__cause__
    return (
        isinstance(cause, TraceeMemoryError)
        and cause.errno == errno.ESRCH
        and cause.tid == error.tid != 0
    )


class FailurePolicy:
    """The ``on_error`` policy, shared by every backend: it records each handler error,
    counts the call's outcome, reports the error when the run goes on, and says what the
    backend must do with the call (a :class:`Verdict`)."""

    def __init__(self, on_error: OnError, error_errno: int, report: ErrorReporter | None) -> None:
        self.on_error = on_error
        self.error_errno = error_errno
        self.report = report
        self.errors: list[HandlerError] = []
        # The error that ended the run (OnError.KILL), if one did.
        self.fatal: HandlerError | None = None

    def handler_failed(self, error: HandlerError, route: Route) -> Verdict:
        """Record ``error`` (raised by a handler of ``route``) and rule on its call. A handler
        that failed only because its caller is gone (:func:`caller_gone`) did nothing wrong:
        the call is passed (the kernel ends it), with no error recorded or reported."""
        if caller_gone(error):
            route.stats.count(Outcome.PASSED)
            return Verdict.PASS
        route.stats.handler_errors += 1
        self.errors.append(error)
        if self.on_error is OnError.KILL:
            if self.fatal is None:
                self.fatal = error
            route.stats.count(Outcome.KILLED)
            return Verdict.KILL
        if self.report is not None:
            self.report(error)
        if self.on_error is OnError.FAIL:
            route.stats.count(Outcome.FAILED)
            return Verdict.FAIL
        route.stats.count(Outcome.PASSED)
        return Verdict.PASS

    def hook_failed(self, error: HandlerError) -> bool:
        """An exec hook raised (there is no call to fail or pass): recorded; True when the
        run must end (``OnError.KILL``), else reported and the program goes on."""
        self.errors.append(error)
        if self.on_error is OnError.KILL:
            if self.fatal is None:
                self.fatal = error
            return True
        if self.report is not None:
            self.report(error)
        return False

    def observer_failed(self, error: HandlerError) -> None:
        """An observer (or a writer acting for one) raised: recorded and reported, never
        fatal: observers only watch, and the program must not pay for a broken one."""
        self.errors.append(error)
        if self.report is not None:
            self.report(error)
