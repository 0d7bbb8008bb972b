""" "Did you mean": the nearest known names to a misspelt one, for one-line errors.

Used wherever a name the user typed is looked up (syscall, class, argument, errno, option), so
that ``opnat`` is answered with ``openat``. Only error paths call it: :mod:`difflib` is imported
on first use.
"""

from __future__ import annotations

from collections.abc import Iterable


def close_names(word: str, known: Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` names of ``known`` that look like ``word``, the nearest first
    (case is ignored when comparing: ``enoent`` finds ``ENOENT``). The cut-off is high
    enough that a name made up to be unknown (``EFOO``) gets no suggestion."""
    import difflib  # noqa: PLC0415 (error paths only)

    by_folded: dict[str, str] = {}
    for name in known:
        by_folded.setdefault(name.lower(), name)
    found = difflib.get_close_matches(word.lower(), list(by_folded), n=limit, cutoff=0.7)
    return [by_folded[match] for match in found]


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``" (did you mean 'openat'?)"``, or ``" (did you mean 'open' or 'openat'?)"``, to end
    an error message with; empty when nothing looks like ``word``."""
    found = close_names(word, known)
    if not found:
        return ""
    quoted = [repr(name) for name in found]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {listed}?)"
