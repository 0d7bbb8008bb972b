"""The decoders on the hard cases of strace's own test suite, offline: ``decoder_edges.c``
makes each call the awkward way (ids of -1, a string cut by an unmapped page, a path over
PATH_MAX, output integers, unknown flag bits, a nanosecond count above LONG_MAX, offsets by
address, MSG_TRUNC, a device number, an attribute value ending in NUL) and prints the line
strace writes for it; the trace must be those lines, from the C trace writer and from the
Python tracer alike. ``scripts/strace_suite.py`` runs strace's own programs the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Programs

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64",
    reason="decoder_edges.c makes x86-64's chown and mknod, which asm-generic machines lack",
)
REPOSITORY = Path(__file__).resolve().parent.parent
TRACED = "chown,chdir,getresuid,flock,unlinkat,nanosleep,getcpu,splice,recvfrom,mknod,fsetxattr"
_PADDING = re.compile(r" +(?== -?[0-9?])")


def _lines(text: str) -> list[str]:
    return [_PADDING.sub(" ", line) for line in text.splitlines()]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tracer", ["c", "python"])
def test_edge_calls_are_written_as_strace_writes_them(
    programs: Programs, tracer: str, tmp_path: Path
) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY / "src"))
    if tracer == "python":
        env["SYSEMU_NO_SPEEDUPS"] = "1"  # no C accelerator: the Python tracer writes every line
    log = tmp_path / "trace"
    argv = [sys.executable, "-m", "sysemu", "run", f"--trace={TRACED}", "-o", str(log), "--"]
    done = subprocess.run(
        [*argv, programs.decoder_edges],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=50,
    )
    if done.returncode == 77:
        pytest.skip("cannot map the pages the program needs")
    assert done.returncode == 0, done.stderr
    assert _lines(log.read_text()) == _lines(done.stdout)


@pytest.mark.timeout(60)
def test_edge_calls_have_their_structure_in_json(programs: Programs, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY / "src"))
    log = tmp_path / "trace.json"
    argv = [sys.executable, "-m", "sysemu", "run", "--json", "--trace=chown,getresuid,mknod"]
    done = subprocess.run(
        [*argv, "-o", str(log), "--", programs.decoder_edges],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        timeout=50,
    )
    if done.returncode == 77:
        pytest.skip("cannot map the pages the program needs")
    calls = {
        event["name"]: event["args"]
        for event in map(json.loads, log.read_text().splitlines())
        if event["event"] == "syscall"
    }
    assert calls["chown"]["user"] == calls["chown"]["group"] == -1
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in calls["getresuid"].values())
    assert calls["mknod"]["dev"] == {"major": 1, "minor": 3}
