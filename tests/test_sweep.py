"""Error-path sweeps: ``sysemu sweep``, :class:`sysemu.Sweep` and the ``sysemu_sweep`` fixture,
on a C program with one planted bug and on real programs (cp, tar, gzip, a Python script,
sqlite3, git). Each run is bounded by the sweep's timeout; the real programs' sweeps by
``per_site`` and ``max_runs``."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Sweep, SweepError
from sysemu.abi import abis_for_name
from sysemu.testing.pytest_plugin import SysemuSweep
from sysemu.tools.inject.spec import parse_inject_spec
from sysemu.tools.sweep.observe import Observed
from sysemu.tools.sweep.points import plan_points, point_spec
from sysemu.tools.sweep.runs import OutcomeKind, SweepOutcome

from .conftest import Programs

SRC = str(Path(__file__).parent.parent / "src")
SYSEMU = [sys.executable, "-m", "sysemu"]
ENV = {**os.environ, "PYTHONPATH": SRC}
TIMEOUT = 20.0  # seconds per run of a sweep
# rename(2) is renameat on asm-generic machines (aarch64), which have no rename.
RENAME = "rename" if abis_for_name("rename") else "renameat"
IO_CALLS = f"openat,read,write,fsync,{RENAME},close"
# Findings that can only be sysemu's own: a run it could not carry out, or a hang.
SYSEMU_FAULTS = {OutcomeKind.ERROR, OutcomeKind.HANG}


def sweep_command(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, "sweep", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def in_order(sweep: Sweep) -> list[SweepOutcome]:
    return sorted(sweep, key=lambda outcome: outcome.point.number)


def kinds(outcomes: list[SweepOutcome]) -> dict[OutcomeKind, int]:
    counted: dict[OutcomeKind, int] = {}
    for outcome in outcomes:
        counted[outcome.kind] = counted.get(outcome.kind, 0) + 1
    return counted


def run_reproducer(line: str) -> subprocess.CompletedProcess[bytes]:
    """Run a reproducer line as a shell would, with this checkout's sysemu as ``sysemu``."""
    assert " sysemu run --inject " in f" {line}"
    command = line.replace("sysemu run", f"{shlex.join(SYSEMU)} run", 1)
    return subprocess.run(["/bin/sh", "-c", command], env=ENV, capture_output=True,
                          timeout=60, check=False)  # fmt: skip


# The planted bug.


def test_the_planted_null_dereference_is_the_one_crash_and_its_reproducer_crashes(
    programs: Programs, tmp_path: Path
) -> None:
    sweep = Sweep(["write:error=ENOSPC"], [programs.unchecked_write, "out.txt"],
                  workdir=str(tmp_path), jobs=2, timeout=TIMEOUT)  # fmt: skip
    outcomes = in_order(sweep)
    assert [o.point.spec for o in outcomes] == [
        f"write:error=ENOSPC:when={k}:pid=root" for k in (1, 2, 3)
    ]
    assert [o.kind for o in outcomes] == [
        OutcomeKind.CLEAN_FAILURE, OutcomeKind.CRASH, OutcomeKind.CLEAN_FAILURE,
    ]  # fmt: skip
    crash = outcomes[1]
    assert crash.detail == "killed by SIGSEGV"
    assert crash.point.call.text == f'write(3<{tmp_path}/out.txt>, "body\\n", 5)'
    assert crash.point.call.site.startswith("unchecked_write+0x")
    assert not (tmp_path / "out.txt").exists()  # every run wrote in a copy
    line = crash.point.reproducer(sweep.argv, sweep.workdir)
    assert line.startswith(f"cd {tmp_path} && sysemu run --inject ")
    reproduced = run_reproducer(line)
    assert reproduced.returncode == 128 + signal.SIGSEGV, reproduced.stderr


def test_the_command_line_prints_the_table_and_exits_1_on_a_crash(
    programs: Programs, tmp_path: Path
) -> None:
    program = programs.unchecked_write
    done = sweep_command("--inject", "write:error=ENOSPC", "--workdir", str(tmp_path),
                         "--timeout", str(TIMEOUT), "--", program, "out.txt")  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["point", "outcome", "call", "reproducer"]
    crash = next(line for line in lines if " crash " in line)
    assert "write:error=ENOSPC:when=2:pid=root" in crash and '"body\\n"' in crash
    assert any("killed by SIGSEGV" in line for line in lines)
    assert lines[-1] == "3 runs over 3 matching calls: 2 clean failure, 1 crash"
    assert done.stderr == ""  # no progress bar without a terminal


def test_json_has_one_record_per_point(programs: Programs, tmp_path: Path) -> None:
    done = sweep_command("--inject", "write:error=EIO", "--json", "--workdir", str(tmp_path),
                         "--", programs.unchecked_write, "out.txt")  # fmt: skip
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["counts"]["crash"] == 1 and document["failing"] == 1
    crash = next(p for p in document["points"] if p["outcome"] == "crash")
    assert crash["signal"] == signal.SIGSEGV and crash["nth"] == 2
    assert crash["reproducer"].endswith(
        f"write:error=EIO:when=2:pid=root -- {programs.unchecked_write} out.txt"
    )


def test_the_fixture_fails_the_test_with_the_table(
    sysemu_sweep: SysemuSweep, programs: Programs, tmp_path: Path
) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        sysemu_sweep("write:error=ENOSPC", [programs.unchecked_write, "out.txt"],
                     workdir=str(tmp_path), timeout=TIMEOUT)  # fmt: skip
    message = str(failed.value)
    assert "1 crash" in message and "write:error=ENOSPC:when=2:pid=root" in message


def test_the_fixture_returns_the_outcomes_when_nothing_is_found(
    sysemu_sweep: SysemuSweep, tmp_path: Path
) -> None:
    (tmp_path / "a").write_text("text\n")
    specs = ["openat:error=EIO:path=*/a", "read:error=EIO:fdpath=*/a"]
    outcomes = sysemu_sweep(specs, ["sort", "a"], workdir=str(tmp_path), timeout=TIMEOUT)
    assert [o.point.call.syscall for o in outcomes][:2] == ["openat", "read"]
    assert {o.kind for o in outcomes} == {OutcomeKind.CLEAN_FAILURE}


# Bad input: one line, exit status 2, before any run.


@pytest.mark.parametrize(
    ("spec", "command", "says"),
    [
        ("write:error=EIO:when=3", ["true"], "has when="),
        ("fsync:error=EIO", ["true"], "makes no call that 'fsync:error=EIO' matches"),
        ("write:error=EIO", ["false"], "false fails without injection (exit 1)"),
        ("nosuchcall:error=EIO", ["true"], "nosuchcall"),
        ("write:error=ENOTANERRNO", ["true"], "ENOTANERRNO"),
        ("write:error=EIO:probability=0.5", ["true"], "probability="),
        ("write:error=EIO", ["/nonexistent/program"], "/nonexistent/program"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(spec: str, command: list[str], says: str) -> None:
    done = sweep_command("--inject", spec, "--", *command)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sysemu: ")
    assert says in done.stderr


def test_the_api_refuses_bad_specs_at_once() -> None:
    with pytest.raises(SweepError, match="has when="):
        Sweep(["read:error=EIO:when=1"], ["true"])


# Real programs.


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree to copy and archive: work/src with four files and a subdirectory."""
    work = tmp_path / "work"
    (work / "src" / "sub").mkdir(parents=True)
    for index in range(4):
        (work / "src" / f"f{index}").write_text("line\n" * (50 * index + 1))
    (work / "src" / "sub" / "g").write_text("g\n")
    return work


def real_sweep(
    specs: list[str], argv: list[str], workdir: Path, **options: object
) -> list[SweepOutcome]:
    sweep = Sweep(specs, argv, workdir=str(workdir), jobs=2, timeout=TIMEOUT, per_site=True,
                  **options)  # fmt: skip
    outcomes = in_order(sweep)
    faults = [o for o in outcomes if o.kind in SYSEMU_FAULTS]
    assert not faults, [(o.point.spec, o.detail) for o in faults]
    return outcomes


def test_cp_of_a_tree_reports_every_failure_it_sees(tree: Path) -> None:
    outcomes = real_sweep([f"{IO_CALLS}:error=EIO"], ["cp", "-r", "src", "dst"], tree,
                          max_runs=30)  # fmt: skip
    counted = kinds(outcomes)
    assert counted.get(OutcomeKind.CLEAN_FAILURE, 0) >= 3
    assert OutcomeKind.CRASH not in counted and OutcomeKind.TRACEBACK not in counted


def test_tar_of_a_tree(tree: Path) -> None:
    outcomes = real_sweep([f"{IO_CALLS}:error=ENOSPC:path=*/src*", "write:error=ENOSPC"],
                          ["tar", "cf", "out.tar", "src"], tree)  # fmt: skip
    counted = kinds(outcomes)
    assert counted.get(OutcomeKind.CLEAN_FAILURE, 0) >= 2
    assert OutcomeKind.CRASH not in counted


def test_gzip_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("".join(f"{n}\n" for n in range(20000)))
    outcomes = real_sweep([f"{IO_CALLS}:error=EIO"], ["gzip", "-k", "data.txt"], tmp_path,
                          check="test -f data.txt")  # fmt: skip
    counted = kinds(outcomes)
    assert counted.get(OutcomeKind.CLEAN_FAILURE, 0) >= 2
    assert OutcomeKind.CRASH not in counted and OutcomeKind.CHECK_FAILED not in counted


SAVE_JSON = """\
import json, os
data = {"items": list(range(50)), "name": "new"}
with open("state.json.tmp", "w") as out:
    json.dump(data, out)
    out.flush()
    os.fsync(out.fileno())
os.replace("state.json.tmp", "state.json")
"""
# The file is old or new, never half-written: what json.dump plus os.replace promises.
LOADS = (
    f"{shlex.quote(sys.executable)} -c "
    "\"import json; assert json.load(open('state.json'))['name'] in ('old', 'new')\""
)


def test_a_python_script_that_replaces_a_json_file(tmp_path: Path) -> None:
    (tmp_path / "save.py").write_text(SAVE_JSON)
    (tmp_path / "state.json").write_text('{"items": [], "name": "old"}')
    specs = [f"write,fsync,{RENAME},close:error=EIO:fdpath=*state*",
             f"openat,{RENAME}:error=ENOSPC:path=*state*"]  # fmt: skip
    outcomes = real_sweep(specs, [sys.executable, "save.py"], tmp_path, check=LOADS)
    counted = kinds(outcomes)
    # The script handles no OSError: each failure it sees is a traceback, and the replace
    # keeps the file whole.
    assert counted.get(OutcomeKind.TRACEBACK, 0) >= 3, counted
    details = {o.detail.split(":")[0] for o in outcomes if o.kind is OutcomeKind.TRACEBACK}
    assert details == {"OSError"}
    assert OutcomeKind.CHECK_FAILED not in counted and OutcomeKind.CRASH not in counted


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="sqlite3 is not installed")
def test_sqlite3_inserting_rows(tmp_path: Path) -> None:
    subprocess.run(["sqlite3", str(tmp_path / "db.sqlite"), "create table t(a, b);"],
                   check=True, timeout=30)  # fmt: skip
    outcomes = real_sweep(
        [f"{IO_CALLS}:error=EIO:path=*db.sqlite*", "write,fsync:error=ENOSPC:fdpath=*db.sqlite*"],
        ["sqlite3", "db.sqlite", "insert into t values (1, 'x'); insert into t values (2, 'y');"],
        tmp_path,
        check="sqlite3 db.sqlite 'pragma integrity_check;' | grep -qx ok",
    )
    counted = kinds(outcomes)
    assert counted.get(OutcomeKind.CLEAN_FAILURE, 0) >= 2, counted
    assert OutcomeKind.CRASH not in counted and OutcomeKind.CHECK_FAILED not in counted


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_in_a_small_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    environment = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=environment, check=True, timeout=30,
                       capture_output=True)  # fmt: skip

    git("init", "-q")
    git("config", "user.email", "sweep@example.invalid")
    git("config", "user.name", "sweep")
    (repo / "a.txt").write_text("a\n")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    (repo / "b.txt").write_text("b\n")
    git("add", "b.txt")
    outcomes = real_sweep(
        [f"{IO_CALLS}:error=EIO:path=*.git/*", "write:error=ENOSPC:fdpath=*.git/*"],
        ["git", "commit", "-q", "-m", "two"],
        repo,
        max_runs=40,
        env=environment,
        check="git fsck --no-progress",
    )
    counted = kinds(outcomes)
    assert counted.get(OutcomeKind.CLEAN_FAILURE, 0) >= 2, counted
    assert OutcomeKind.CRASH not in counted


def test_a_point_names_its_process_and_close_fails_after_it_ran() -> None:
    spec = parse_inject_spec("close,write:error=EIO")
    in_root = Observed(0, 0, "close", 3, 100, True, "close(3)", None, "prog+0x10")
    in_child = in_root._replace(syscall="write", root=False, text="write(1, ...)")
    # Linux releases the descriptor even when close fails: the kernel runs it, then the
    # program sees the error.
    assert point_spec(spec, in_root) == "close:error=EIO:when=3:pid=root:after"
    assert point_spec(spec, in_child) == "write:error=EIO:when=3:pid=!root"


def test_a_run_past_the_timeout_is_a_hang_and_a_failed_check_is_found(tmp_path: Path) -> None:
    hangs = Sweep(["write:error=EIO:fdpath=*/out"], ["sh", "-c", "echo hi > out || sleep 60"],
                  workdir=str(tmp_path), timeout=2.0)  # fmt: skip
    [hung] = list(hangs)
    assert hung.kind is OutcomeKind.HANG and hung.kind.failing
    checked = Sweep(["write:error=EIO:fdpath=*/data"], ["sh", "-c", "echo new > data || true"],
                    workdir=str(tmp_path), check="grep -q new data", timeout=TIMEOUT)  # fmt: skip
    [lost] = list(checked)
    assert lost.kind is OutcomeKind.CHECK_FAILED and lost.record.exit_code == 0


def observed_calls(count: int, sites: int) -> list[Observed]:
    """``count`` writes of the started process, made at ``sites`` call sites in turn."""
    return [
        Observed(n, 0, "write", n + 1, 100, True, f"write({n})", None, f"prog+{n % sites:#x}")
        for n in range(count)
    ]


def test_points_per_site_sampled_and_capped() -> None:
    specs = [parse_inject_spec("write:error=EIO")]
    calls = observed_calls(100, 4)
    every = plan_points(specs, calls)
    assert [p.spec for p in every[:2]] == ["write:error=EIO:when=1:pid=root",
                                           "write:error=EIO:when=2:pid=root"]  # fmt: skip
    assert {p.site_calls for p in every} == {25}
    per_site = plan_points(specs, calls, per_site=True)
    assert [p.call.nth for p in per_site] == [1, 2, 3, 4]
    sampled = plan_points(specs, calls, sample=10, seed=3)
    # One from each tenth of the run, the same for the same seed.
    assert [(p.call.nth - 1) // 10 for p in sampled] == list(range(10))
    assert sampled == plan_points(specs, calls, sample=10, seed=3)
    assert [p.number for p in plan_points(specs, calls, max_runs=5)] == [1, 2, 3, 4, 5]
