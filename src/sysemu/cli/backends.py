"""What a backend cannot serve, found from the command line alone, before anything is built.

The engine refuses the same combinations when a run starts (``UnsupportedError``, raised
before the program is spawned), but in the engine's words: about observers, handlers and
results. Here the refusal names the option the user typed and the backends that can serve
it, so that ``sysemu run --backend unotify --trace -- true`` is one line and exit status 2.
"""

from __future__ import annotations

import argparse

PTRACE_BACKENDS = "seccomp, ptrace, sysemu or auto (the default)"
"""The backends that stop calls in ptrace, and so can see results and run every handler."""

STATS_ALONE_ON_UNOTIFY = (
    "--stats: with no rule, --inject or --trace it counts every call, which the unotify "
    f"backend never sees; use --backend {PTRACE_BACKENDS}"
)


def unsupported(args: argparse.Namespace) -> str | None:
    """Why ``args`` ask ``sysemu run``'s backend for something it cannot do, or None."""
    if getattr(args, "backend", None) != "unotify":
        return None
    # The trace's options are there only when the command line named one of them.
    trace, output, json, timeline = (
        getattr(args, name, None) for name in ("trace", "output", "json", "timeline")
    )
    if trace is not None or output or json or timeline:
        option = (
            "--trace" if trace is not None
            else "-o" if output
            else "--json" if json
            else "--timeline"
        )  # fmt: skip
        return (
            f"{option}: the unotify backend cannot trace (it sees neither every call nor any "
            f"result); use --backend {PTRACE_BACKENDS}"
        )
    if getattr(args, "no_vdso", False):
        return (
            "--no-vdso: the unotify backend cannot hide the vDSO (it needs ptrace's exec "
            f"event); use --backend {PTRACE_BACKENDS}"
        )
    if args.handler_timeout is not None:
        return (
            "--handler-timeout: the unotify backend cannot time handlers out (it needs "
            f"ptrace); use --backend {PTRACE_BACKENDS}"
        )
    return None
