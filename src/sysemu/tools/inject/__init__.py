"""Fault injection by argument: strace's ``-e inject=`` syntax plus conditions on paths, file
descriptors, processes and chance. See :mod:`.spec` for the language, :mod:`.injector` for
how specs become handlers and :mod:`.cli` for ``--inject`` and ``--seed``. The injector's
records of a run are ``result.tools["inject"]`` (also ``result.injections``)."""

from sysemu._typing import TYPE_CHECKING

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


def __getattr__(name: str) -> object:
    # Loaded on first use: the command line imports .cli at every start, and most runs do
    # not inject.
    import importlib  # noqa: PLC0415

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
