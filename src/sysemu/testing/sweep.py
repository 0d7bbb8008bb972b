"""``Sweep``: an error-path sweep whose runs are made with sysemu's :class:`~sysemu.Emulator`.

The machinery is :class:`sysemu.tools.sweep.sweep.Sweeper` (a tool, which knows no emulator
class); this front-end class only says which emulator each run gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from sysemu.emulator import Emulator
from sysemu.tools.inject.spec import InjectSpec
from sysemu.tools.sweep.sweep import Sweeper


class Sweep(Sweeper):
    """Fail each call that ``specs`` (``--inject`` specs without ``when=``) match in a run of
    ``argv``, one call per run, and classify each run; iterate for a
    :class:`~sysemu.tools.sweep.runs.SweepOutcome` per run as the runs finish::

        from sysemu import Sweep

        sweep = Sweep(["write,fsync:error=EIO"], ["./save", "out.json"], workdir="project")
        for outcome in sweep:
            if outcome.kind.failing:
                print(outcome.kind, outcome.detail, outcome.point.reproducer(sweep.argv))

    ``check``: a shell command run after each run in its directory; a non-zero exit is a
    finding. ``jobs``: runs at a time (default: the CPU count). ``workdir``: a directory each
    run (and the reference run) gets a scratch copy of, and starts in; without it every run
    starts in ``cwd``. ``timeout``: seconds before a run counts as hung. ``per_site``,
    ``sample`` (spread evenly, drawn with ``seed``) and ``max_runs`` choose fewer points.
    ``backend``: as for :class:`~sysemu.Emulator`. Raises
    :class:`~sysemu.tools.sweep.sweep.SweepError` for a bad spec at once, and from
    :meth:`reference` (or the first iteration) when the program fails without injection or
    makes no matching call.
    """

    def __init__(
        self,
        specs: Sequence[str | InjectSpec],
        argv: Sequence[str],
        *,
        check: str | None = None,
        jobs: int | None = None,
        workdir: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        per_site: bool = False,
        sample: int | None = None,
        seed: int = 0,
        max_runs: int | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(
            specs, argv, check=check, jobs=jobs, workdir=workdir, cwd=cwd, env=env,
            timeout=timeout, per_site=per_site, sample=sample, seed=seed, max_runs=max_runs,
            host=partial(Emulator, backend=backend, seed=0),
        )  # fmt: skip
        self.backend = backend
