"""Fault injection by argument: strace's ``-e inject=`` syntax plus conditions on paths, file
descriptors, processes and chance. See :mod:`.spec` for the language, :mod:`.injector` for
how specs become handlers and :mod:`.cli` for ``--inject`` and ``--seed``. The injector's
records of a run are ``result.tools["inject"]`` (also ``result.injections``)."""

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

if TYPE_CHECKING:
    from sysemu.tools.inject.injector import Injection, Injector
    from sysemu.tools.inject.spec import InjectSpec, InjectSpecError, parse_inject_spec

_LAZY = {
    "Injection": "sysemu.tools.inject.injector",
    "Injector": "sysemu.tools.inject.injector",
    "InjectSpec": "sysemu.tools.inject.spec",
    "InjectSpecError": "sysemu.tools.inject.spec",
    "parse_inject_spec": "sysemu.tools.inject.spec",
}

__all__ = ["InjectSpec", "InjectSpecError", "Injection", "Injector", "parse_inject_spec"]


__getattr__ = lazy_names(__name__, _LAZY)
