"""What a sweep shows: the table of its outcomes, the summary line and the JSON document."""

from __future__ import annotations

from collections.abc import Sequence

from sysemu.tools.sweep.points import Point
from sysemu.tools.sweep.runs import OutcomeKind, SweepOutcome

_CALL_WIDTH = 64


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def outcome_table(
    outcomes: Sequence[SweepOutcome], argv: Sequence[str], workdir: str | None = None
) -> str:
    """One row per point, in the sweep's order: its number, outcome, call and reproducer;
    a finding's detail (the signal, the traceback's last line) on a line of its own below.
    Paths in the work directory are shown relative to it, as the program named them."""
    rows = sorted(outcomes, key=lambda outcome: outcome.point.number)
    width = max([len(str(kind)) for kind in OutcomeKind])
    lines = [f"{'point':>5}  {'outcome':<{width}}  {'call':<{_CALL_WIDTH}}  reproducer"]
    for outcome in rows:
        point = outcome.point
        text = point.call.text
        if workdir is not None:
            text = text.replace(workdir.rstrip("/") + "/", "")
        call = _shorten(text, _CALL_WIDTH)
        lines.append(
            f"{point.number:>5}  {outcome.kind.value:<{width}}  {call:<{_CALL_WIDTH}}  "
            f"{point.reproducer(argv, workdir)}"
        )
        if outcome.kind.failing:
            lines.append(f"{'':>5}  {'':<{width}}  {outcome.detail}  [{point.call.site}]")
    return "\n".join(lines)


def summary_line(outcomes: Sequence[SweepOutcome], matching_calls: int) -> str:
    """``52 runs over 52 matching calls: 45 same, 7 clean failure`` (kinds in their order)."""
    counts = {kind: 0 for kind in OutcomeKind}
    for outcome in outcomes:
        counts[outcome.kind] += 1
    found = ", ".join(f"{n} {kind.value}" for kind, n in counts.items() if n)
    return f"{len(outcomes)} runs over {matching_calls} matching calls: {found or 'none'}"


def _point_json(point: Point, argv: Sequence[str], workdir: str | None) -> dict[str, object]:
    call = point.call
    return {
        "point": point.number,
        "spec": point.spec,
        "syscall": call.syscall,
        "nth": call.nth,
        "call": call.text,
        "path": call.path,
        "pid": call.pid,
        "root": call.root,
        "site": call.site,
        "site_calls": point.site_calls,
        "hits": point.hits,
        "reproducer": point.reproducer(argv, workdir),
    }


def sweep_json(
    outcomes: Sequence[SweepOutcome],
    argv: Sequence[str],
    specs: Sequence[str],
    matching_calls: int,
    workdir: str | None = None,
) -> dict[str, object]:
    """The sweep as one JSON document: the command, the specs, a record per point (its call,
    outcome, exit status or signal, detail and seconds) and the counts per outcome."""
    points = []
    for outcome in sorted(outcomes, key=lambda outcome: outcome.point.number):
        record = outcome.record
        entry = _point_json(outcome.point, argv, workdir)
        entry.update(
            outcome=outcome.kind.value,
            failing=outcome.kind.failing,
            detail=outcome.detail,
            exit_code=record.exit_code,
            signal=record.signal,
            seconds=round(record.seconds, 4),
        )
        points.append(entry)
    counts = {kind.value: 0 for kind in OutcomeKind}
    for outcome in outcomes:
        counts[outcome.kind.value] += 1
    return {
        "command": list(argv),
        "specs": list(specs),
        "workdir": workdir,
        "matching_calls": matching_calls,
        "runs": len(outcomes),
        "counts": counts,
        "failing": sum(1 for outcome in outcomes if outcome.kind.failing),
        "points": points,
    }
