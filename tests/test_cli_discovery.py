"""Finding one's way on the command line: ``--stats`` alone, numbers and unknown calls,
``sysemu syscalls``, "did you mean", and strace's spellings."""

from __future__ import annotations

import pytest

from .conftest import Programs
from .test_cli import BACKENDS, skip_without, sysemu


def strace_c_rows(stderr: str) -> dict[str, list[int]]:
    """strace -c's table: syscall -> [calls, errors]."""
    lines = stderr.splitlines()
    start = lines.index("% time     seconds  usecs/call     calls    errors syscall")
    rows: dict[str, list[int]] = {}
    for line in lines[start + 2 :]:
        if line.startswith("------"):
            break
        fields = line.split()
        errors = int(fields[4]) if len(fields) == 6 else 0
        rows[fields[-1]] = [int(fields[3]), errors]
    return rows


# --stats alone counts every call, as strace -c does.
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "unotify"])
def test_stats_alone_counts_every_call(backend: str, programs: Programs) -> None:
    skip_without(backend)
    result = sysemu("run", "--backend", backend, "--stats", "--",
                    programs.example("experimental_syscall"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = strace_c_rows(result.stderr)
    assert rows["execve"] == [1, 0]
    assert rows["syscall_1000"] == [1, 1] and rows["syscall_1001"] == [1, 1]  # ENOSYS
    assert rows["write"][0] >= 1 and rows["exit_group"] == [1, 0]
    assert sum(calls for calls, _ in rows.values()) > 10
    assert "stops   passed" not in result.stderr  # no decision table: nothing was decided


def test_stats_alone_is_refused_by_unotify_which_sees_no_call() -> None:
    skip_without("unotify")
    result = sysemu("run", "--backend", "unotify", "--stats", "--", "true")
    assert result.returncode == 2
    assert result.stderr.startswith("sysemu: --stats:") and result.stderr.count("\n") == 1
    assert "--backend seccomp" in result.stderr


def test_stats_with_a_rule_counts_only_the_decided_calls() -> None:
    result = sysemu("run", "--inject", "getpid:retval=7", "--stats", "--", "sh", "-c", "echo $$")
    assert result.stdout == "7\n"
    assert "% time" not in result.stderr  # the other calls never stopped
    assert any(line.split()[:2] == ["getpid", "1"] for line in result.stderr.splitlines())
