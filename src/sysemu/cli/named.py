"""Which tools a ``run`` or ``attach`` command line names, read before its parser is built.

Building the parser imports the option module of every tool it offers, and a command line
such as ``sysemu run --inject SPEC -- make`` needs one. This reads the option strings the
arguments name and asks the registry for the tools that own them; where that cannot be told
for sure (an option that is not known, help, strace's ``-e`` and ``-p``, which stand for
tools' options, ``--stats``, which counts with the trace when nothing else is asked) every
tool is offered, so a mistake is reported as the full parser would report it.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.registry import OPTION_STRINGS

if TYPE_CHECKING:
    from collections.abc import Sequence

# The option strings of run's and attach's own parsers (tests/test_cli_named.py holds them
# against the parsers): those that need no tool, and those that may need any of them.
OWN_OPTIONS = (
    "--backend", "--drop-cap-sys-ptrace", "--rules", "--on-error", "--handler-timeout",
    "--no-vdso", "--allow-io-uring", "--error-errno", "--spin-us", "-f",
)  # fmt: skip
OPTIONS_FOR_EVERY_TOOL = ("-h", "--help", "--stats", "-e", "-p")

_KNOWN = frozenset(
    (*OWN_OPTIONS, *OPTIONS_FOR_EVERY_TOOL, *(o for s in OPTION_STRINGS.values() for o in s))
)
_LONG = tuple(option for option in _KNOWN if option.startswith("--"))


def options_named(arguments: Sequence[str]) -> frozenset[str] | None:
    """The option strings that ``arguments`` (after ``run`` or ``attach``, up to ``--``)
    name, as their parsers spell them, or None when every tool must be offered."""
    named: set[str] = set()
    for token in arguments:
        if token == "--":
            break
        if len(token) < 2 or token[0] != "-":
            continue  # a value, or the program and its arguments
        option = _option_of(token)
        if option is None or option in OPTIONS_FOR_EVERY_TOOL:
            return None
        named.add(option)
        if token[1] != "-":
            # "-yy", "-tt", "-s80": more short options, or the option's value. A letter that
            # is an option may be either: taken as one, it only offers one more tool.
            for letter in token[2:]:
                if f"-{letter}" in OPTIONS_FOR_EVERY_TOOL:
                    return None
                if f"-{letter}" in _KNOWN:
                    named.add(f"-{letter}")
    return frozenset(named)


def _option_of(token: str) -> str | None:
    """The option string ``token`` names, as argparse reads it (a unique abbreviation of a
    long option names it), or None if it names none."""
    if token[1] != "-":
        short = token[:2]
        return short if short in _KNOWN else None
    name = token.partition("=")[0]
    if name in _KNOWN:
        return name
    matches = [option for option in _LONG if option.startswith(name)]
    return matches[0] if len(matches) == 1 else None
