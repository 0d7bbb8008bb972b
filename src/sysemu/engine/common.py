"""What every backend does the same way: telling observers, and building the run's result."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from sysemu.api.handlers import HandlerError, Route
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult, Stats


def notify(
    observers: Iterable[Observer],
    method: str,
    args: tuple[object, ...],
    errors: list[HandlerError],
    report: Callable[[HandlerError], None] | None,
) -> None:
    """Call ``method`` of each observer; an observer's error is recorded and reported, never
    fatal: observers only watch, and the program must not pay for a broken one."""
    for observer in observers:
        bound = getattr(observer, method)
        try:
            bound(*args)
        except Exception as error:
            failure = HandlerError(method, bound, 0)
            failure.__cause__ = error
            errors.append(failure)
            if report is not None:
                report(failure)


def run_result(
    status: int | None,
    routes: Iterable[Route],
    *,
    errors: list[HandlerError],
    fatal: HandlerError | None,
    processes: int,
    threads: int,
) -> RunResult:
    """The :class:`RunResult` of a run whose first process ended with wait ``status``."""
    exit_code, sig, core = 0, None, False
    if status is not None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            exit_code = 128 + sig
            core = os.WCOREDUMP(status)
        else:
            exit_code = os.WEXITSTATUS(status)
    return RunResult(
        exit_code,
        signal=sig,
        core_dumped=core,
        stats=Stats([route.stats for route in routes]),
        handler_errors=list(errors),
        fatal_error=fatal,
        processes=processes,
        threads=threads,
    )
