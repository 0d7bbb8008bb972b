"""sysemu: conditional system-call emulation for unmodified Linux programs.

Register handlers for the calls you care about; each receives a :class:`Call` after the program
made it and before the kernel runs it, and decides: let the kernel run it (return ``None``),
answer it (:meth:`Call.emulate`, :meth:`Call.fail`), change it (:meth:`Call.rewrite`,
:meth:`Call.change_to`) or see its result (:meth:`Call.observe`). Calls no handler asked for
never stop the program::

    import errno
    from sysemu import Emulator

    emu = Emulator()

    @emu.on("openat")
    def deny_hostname(call):
        if call.path == "/etc/hostname":
            return call.fail(errno.EACCES)

    result = emu.run(["cat", "/etc/hostname"])
"""

import gc as _gc

# Importing the package makes thousands of classes, functions and tables, containers that the
# cyclic collector counts: it would run a dozen collections meanwhile, over a millisecond of
# every start, to find no garbage. So it waits until the imports are done. Then the objects
# are moved to the oldest generation unexamined (freeze, unfreeze), since the first young
# collection after re-enabling would otherwise walk all of them, for another millisecond:
# they live as long as the interpreter does. Not when the importer froze objects of its own:
# unfreezing would thaw those too.
_collecting = _gc.isenabled()
_promote_unexamined = _gc.get_freeze_count() == 0
_gc.disable()
try:
    from sysemu._typing import TYPE_CHECKING
    from sysemu.abi import Abi
    from sysemu.api.call import Args, Call
    from sysemu.api.conditions import (
        Condition,
        Eq,
        Ge,
        Gt,
        HasBits,
        In,
        LacksBits,
        Le,
        Lt,
        Masked,
        Ne,
        NotIn,
    )
    from sysemu.api.decisions import Decision, Defer, Emulate, Fail, Outcome, Pass, Result, Rewrite
    from sysemu.api.handlers import OnError
    from sysemu.api.observers import Observer
    from sysemu.api.results import RunResult, Stats
    from sysemu.api.routes import HandlerError, SyscallStats
    from sysemu.emulator import Emulator
    from sysemu.engine.errors import ExecError, RunTimeoutError, UnsupportedError
    from sysemu.engine.spawn import ProgramNotFoundError
    from sysemu.tools.tool import Tool, ToolOptions
finally:
    if _collecting:
        if _promote_unexamined:
            _gc.freeze()
            _gc.unfreeze()
        _gc.enable()
    del _collecting, _promote_unexamined

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sysemu.abi.sockaddr import SocketAddress
    from sysemu.api.execs import ExecImage
    from sysemu.testing.sweep import Sweep
    from sysemu.tools.inject.injector import Injection
    from sysemu.tools.inject.spec import InjectSpecError
    from sysemu.tools.sweep.runs import SweepOutcome
    from sysemu.tools.sweep.sweep import SweepError
    from sysemu.tools.time.clock import SteppedClock, VirtualClock

_LAZY = {
    "ExecImage": "sysemu.api.execs",
    "SteppedClock": "sysemu.tools.time.clock",
    "VirtualClock": "sysemu.tools.time.clock",
    "SocketAddress": "sysemu.abi.sockaddr",
    "Injection": "sysemu.tools.inject.injector",
    "InjectSpecError": "sysemu.tools.inject.spec",
    "Sweep": "sysemu.testing.sweep",
    "SweepError": "sysemu.tools.sweep.sweep",
    "SweepOutcome": "sysemu.tools.sweep.runs",
}


def __getattr__(name: str) -> object:
    # Loaded on first use: most runs neither inject, sweep nor read socket addresses.
    import importlib  # noqa: PLC0415

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sysemu' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Abi",
    "Args",
    "Call",
    "Condition",
    "Decision",
    "Defer",
    "Emulate",
    "Emulator",
    "Eq",
    "ExecError",
    "ExecImage",
    "Fail",
    "Ge",
    "Gt",
    "HandlerError",
    "HasBits",
    "In",
    "InjectSpecError",
    "Injection",
    "LacksBits",
    "Le",
    "Lt",
    "Masked",
    "Ne",
    "NotIn",
    "Observer",
    "OnError",
    "Outcome",
    "Pass",
    "ProgramNotFoundError",
    "Result",
    "Rewrite",
    "RunResult",
    "RunTimeoutError",
    "SocketAddress",
    "Stats",
    "SteppedClock",
    "Sweep",
    "SweepError",
    "SweepOutcome",
    "SyscallStats",
    "Tool",
    "ToolOptions",
    "UnsupportedError",
    "VirtualClock",
    "__version__",
]
