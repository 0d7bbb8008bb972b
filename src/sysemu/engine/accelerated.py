"""The hook through which an observer lets the C wait loop write its lines itself.

An observer of every call costs the C wait loop (``ptrace.serve_seccomp_stops``) a trip to
Python per stop. An observer that can be served in C instead defines a method
``c_trace_writer()`` returning a line writer of the accelerator's type
(``ptrace.CTraceWriter``, built by that observer with its own callbacks), or None when it
cannot be served in C this time. The loop then writes the calls the writer can write, hands
over the others (and every call someone else also watches) to Python, and reports a failed
write as that observer's ``call_finished`` error. At most one observer of a run is served so.

The API layer's ``Observer`` knows nothing of this: the tracing tool's observer provides the
hook (``sysemu.tools.trace``); any observer with the method may.
"""

from __future__ import annotations

from sysemu.api.observers import Observer

HOOK = "c_trace_writer"
"""The name of the observer method the engine asks."""


def c_trace_writer(observer: Observer) -> object | None:
    """``observer``'s C line writer for this run, or None when it has none."""
    hook = getattr(observer, HOOK, None)
    return None if hook is None else hook()
