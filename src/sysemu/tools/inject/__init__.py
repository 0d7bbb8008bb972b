"""Fault injection by argument: strace's ``-e inject=`` syntax plus conditions on paths, file
descriptors, processes and chance. See :mod:`.spec` for the language and :mod:`.injector` for
how specs become handlers."""

from sysemu.tools.inject.injector import Injection, Injector
from sysemu.tools.inject.spec import InjectSpec, InjectSpecError, parse_inject_spec

__all__ = ["InjectSpec", "InjectSpecError", "Injection", "Injector", "parse_inject_spec"]
