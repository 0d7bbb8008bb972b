"""Injection points: which matching calls of the reference run a sweep fails, one per run.

A point is one ``--inject`` spec that hits one call: the spec narrowed to the call's syscall,
with ``when=K``, K being what the injector counts (the K-th matching call of that syscall in a
process, see :mod:`sysemu.tools.inject.injector`). Since that count is per process, a call of
the started process gets ``pid=root``, and a call of any other process ``pid=!root``: process
ids change from run to run and nothing else names a child process, so such a point fails the
K-th matching call of every child that makes one (the table shows the first). A spec that has
a ``pid=`` of its own keeps it. A point's spec is exactly what its reproducer passes to
``sysemu run --inject``.

``close`` is failed with ``after``: Linux releases the descriptor even when close reports an
error (close(2)), so the kernel runs the call and the program only sees the error. Failed
without running, the descriptor would stay open, which no kernel does: a pipe's write end
left open that way keeps its reader waiting for an end of file forever (``git commit``'s
parent, reading the pipe that tells it its child has started, hung so in every such run).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from sysemu._typing import NamedTuple
from sysemu.abi.classes import parse_syscall_set
from sysemu.tools.inject.spec import InjectSpec, PidFilter, When
from sysemu.tools.sweep.observe import Observed

# Calls that release what they are given even when they fail: see the module docstring.
_RELEASED_ON_FAILURE = frozenset({"close"})
_ROOT = PidFilter(frozenset({"root"}), frozenset())
_CHILDREN = PidFilter(frozenset(), frozenset({"root"}))


class Point(NamedTuple):
    """One injection point: the spec of its run and the reference call it fails."""

    number: int
    """Its place in the sweep, from 1, in the order the reference run made the calls."""
    spec: str
    """The ``--inject`` spec of its run: ``write:error=EIO:when=3:pid=root``."""
    call: Observed
    """The (first) reference call it fails."""
    hits: int
    """How many calls of the reference run it fails (more than 1 only for ``pid=!root``)."""
    site_calls: int
    """How many matching calls of the reference run were made at the same site."""

    def reproducer(self, argv: Sequence[str], workdir: str | None = None) -> str:
        """The one-line shell command that runs this point again."""
        command = f"sysemu run --inject {shlex.quote(self.spec)} -- {shlex.join(argv)}"
        return f"cd {shlex.quote(workdir)} && {command}" if workdir else command


def point_spec(spec: InjectSpec, call: Observed) -> str:
    """``spec`` narrowed to the one call ``call`` (see the module docstring)."""
    pids = spec.pids
    if pids is None:
        pids = _ROOT if call.root else _CHILDREN
    after = spec.after or (
        call.syscall in _RELEASED_ON_FAILURE and (spec.error is not None or spec.retval is not None)
    )
    narrowed = spec._replace(
        syscalls=parse_syscall_set(call.syscall), when=When(call.nth), pids=pids, after=after
    )
    return str(narrowed)


def plan_points(
    specs: Sequence[InjectSpec],
    observed: Sequence[Observed],
    *,
    per_site: bool = False,
    sample: int | None = None,
    seed: int = 0,
    max_runs: int | None = None,
) -> list[Point]:
    """The points of a sweep over the reference run's ``observed`` calls: one per distinct
    point spec, in the order of their first call; with ``per_site``, only the first of each
    call site (per spec and syscall); with ``sample``, that many spread evenly (one drawn
    with ``seed`` from each of ``sample`` equal stretches); at most ``max_runs``."""
    firsts: dict[str, Observed] = {}
    hits: dict[str, int] = {}
    site_calls: dict[tuple[int, str, str], int] = {}
    for call in observed:
        text = point_spec(specs[call.spec_index], call)
        firsts.setdefault(text, call)
        hits[text] = hits.get(text, 0) + 1
        site = (call.spec_index, call.syscall, call.site)
        site_calls[site] = site_calls.get(site, 0) + 1
    chosen = list(firsts.items())
    if per_site:
        seen: set[tuple[int, str, str]] = set()
        kept = []
        for text, call in chosen:
            site = (call.spec_index, call.syscall, call.site)
            if site not in seen:
                seen.add(site)
                kept.append((text, call))
        chosen = kept
    if sample is not None and sample < len(chosen):
        chosen = _spread(chosen, sample, seed)
    if max_runs is not None:
        chosen = chosen[:max_runs]
    return [
        Point(
            number,
            text,
            call,
            hits[text],
            site_calls[(call.spec_index, call.syscall, call.site)],
        )
        for number, (text, call) in enumerate(chosen, 1)
    ]


def _spread(items: list[tuple[str, Observed]], count: int, seed: int) -> list[tuple[str, Observed]]:
    """``count`` of ``items``, one drawn at random (from ``seed``) in each of ``count``
    stretches of equal length: spread over the whole run, unlike the first ``count``."""
    from random import Random  # noqa: PLC0415 (only samples draw)

    draw = Random(seed)
    size = len(items) / count
    return [items[int(i * size) + draw.randrange(max(1, int((i + 1) * size) - int(i * size)))]
            for i in range(count)]  # fmt: skip
