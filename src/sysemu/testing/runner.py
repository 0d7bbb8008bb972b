"""``run_traced``: run a command under sysemu like ``subprocess.run``, for tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sysemu.api.results import Stats
from sysemu.emulator import Emulator
from sysemu.tools.inject.injector import Injection


class TracedRun(subprocess.CompletedProcess[bytes]):
    """A finished run: ``args``, ``returncode``, ``stdout`` and ``stderr`` (bytes) as from
    ``subprocess.run``, plus ``injections`` (what was injected, in order), ``stats`` and
    ``signal`` (the signal that killed the program, or ``None``).

    ``returncode`` follows subprocess: ``-N`` when signal N killed the program.
    """

    def __init__(
        self,
        args: Sequence[str],
        returncode: int,
        stdout: bytes,
        stderr: bytes,
        *,
        injections: list[Injection],
        stats: Stats,
        signal: int | None,
    ) -> None:
        super().__init__(list(args), returncode, stdout, stderr)
        self.injections = injections
        self.stats = stats
        self.signal = signal

    def injected(self, syscall: str | None = None) -> list[Injection]:
        """The injections, or only those into ``syscall``."""
        return [i for i in self.injections if syscall is None or i.syscall == syscall]


def run_traced(
    args: Sequence[str],
    *,
    inject: Iterable[str] = (),
    rules: Callable[[Emulator], Any] | None = None,
    seed: int | None = 0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    input: bytes | None = None,
    timeout: float = 60.0,
    check: bool = False,
) -> TracedRun:
    """Run ``args`` under the ``inject`` specs (``--inject`` syntax) and ``rules`` (a function
    that registers handlers on the Emulator), capturing its output.

    ``seed`` defaults to 0, so ``probability=`` specs are reproducible in tests. The run is
    killed after ``timeout`` seconds (``RunTimeoutError``). With ``check``, a non-zero exit
    raises ``subprocess.CalledProcessError``.
    """
    emu = Emulator(seed=seed)
    if rules is not None:
        rules(emu)
    for spec in inject:
        emu.inject(spec)
    import tempfile  # noqa: PLC0415 (only runs pay for it, not importing sysemu)

    with tempfile.TemporaryFile() as stdin:
        if input is not None:
            stdin.write(input)
            stdin.seek(0)
        result = emu.run(
            args,
            env=env,
            cwd=cwd,
            stdin=stdin if input is not None else None,
            capture_output=True,
            timeout=timeout,
        )
    returncode = -result.signal if result.signal is not None else result.exit_code
    completed = TracedRun(
        args,
        returncode,
        result.stdout or b"",
        result.stderr or b"",
        injections=result.injections,
        stats=result.stats,
        signal=result.signal,
    )
    if check:
        completed.check_returncode()
    return completed
