""" "Did you mean" for options argparse does not know (``--trce`` is answered with ``--trace``).

Python 3.11's argparse names an unknown option but suggests nothing; the parser's own option
strings, and those of the subcommand being parsed, are the names to choose from.
"""

from __future__ import annotations

import argparse

from sysemu.abi.suggest import did_you_mean

_UNRECOGNIZED = "unrecognized arguments: "


def option_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """What to add to argparse's ``message`` about ``parser``'s arguments: the nearest known
    option to the first unknown one, or nothing."""
    if not message.startswith(_UNRECOGNIZED):
        return ""
    unknown = [word for word in message[len(_UNRECOGNIZED) :].split() if word.startswith("-")]
    if not unknown:
        return ""
    word = unknown[0].split("=", 1)[0]
    return did_you_mean(word, _option_strings(parser))


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of ``parser`` and of its subcommands' parsers (long ones only:
    a one-letter option is too short to be told from a typo)."""
    found: list[str] = []
    for action in parser._actions:  # argparse has no public way to list them
        found += [option for option in action.option_strings if option.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _option_strings(sub)
    return found
