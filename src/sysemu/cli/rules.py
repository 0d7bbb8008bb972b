"""Loading handlers from a rules file (``sysemu run --rules FILE.py``).

A rules file is a Python module that defines ``register(emu)``; sysemu calls it once with the
:class:`~sysemu.Emulator` before the program starts::

    import errno

    def register(emu):
        @emu.on("openat")
        def deny_hostname(call):
            if call.path == "/etc/hostname":
                return call.fail(errno.EACCES)

Any error while loading it (a missing file, a syntax error, an unknown syscall name in a
registration) is reported as one line naming the file, before anything runs.
"""

from __future__ import annotations

import os
import sys

from sysemu._typing import TYPE_CHECKING
from sysemu.emulator import Emulator

if TYPE_CHECKING:
    from typing import Any


class RulesError(Exception):
    """A rules file could not be loaded; the message is one line."""


def _where(error: BaseException, path: str) -> str:
    """``file:line`` of the innermost frame of ``error`` that is in the rules file."""
    import traceback  # noqa: PLC0415 (an error path: start-up does not pay for it)

    line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return f"{path}:{line}" if line else path


def load_rules(path: str, emu: Emulator) -> None:
    """Execute the rules file at ``path`` and call its ``register(emu)``; raises RulesError."""
    if not os.path.isfile(path):
        raise RulesError(f"--rules {path}: no such file")
    name = "sysemu_rules_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    # Compiled and run as a module by hand: importlib.util (and the contextlib it loads) would
    # cost every run with rules a millisecond, and write a .pyc beside the user's file.
    module = type(sys)(name)
    module.__file__ = path
    try:
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec")
        exec(code, module.__dict__)
    except Exception as error:
        message = error.msg if isinstance(error, SyntaxError) else error
        raise RulesError(f"{_where(error, path)}: {type(error).__name__}: {message}") from None
    register: Any = getattr(module, "register", None)
    if not callable(register):
        raise RulesError(f"{path}: a rules file must define register(emu)")
    try:
        register(emu)
    except Exception as error:
        raise RulesError(f"{_where(error, path)}: {type(error).__name__}: {error}") from None
