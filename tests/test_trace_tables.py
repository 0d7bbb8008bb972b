"""The decoder tables load by syscall name: a trace of a set imports the decoder modules its
calls need, and a table looked at whole is the one every module's rows make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

# Modules a trace of openat alone has no use for.
NOT_FOR_OPENAT = {
    "sysemu.tools.trace.decoders_more", "sysemu.tools.trace.decoders_layouts",
    "sysemu.tools.trace.decoders_records", "sysemu.tools.trace.decoders_msghdr",
    "sysemu.tools.trace.decoders_sockopt", "sysemu.tools.trace.decoders_uring",
    "sysemu.tools.trace.decoders_quota", "sysemu.tools.trace.xlat_more",
}  # fmt: skip


def loaded_after(script: str) -> set[str]:
    """The sysemu.tools.trace modules a fresh interpreter has loaded after ``script``."""
    code = (
        f"{script}\nimport json, sys\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('sysemu.tools.trace')]))"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_a_trace_of_openat_loads_only_the_modules_openat_needs(tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    loaded = loaded_after(
        "from sysemu.cli.main import main\n"
        f"main(['run', '--trace=openat', '-o', {str(log)!r}, '--', 'cat', '/etc/hostname'])"
    )
    assert "openat(" in log.read_text()
    assert "sysemu.tools.trace.decoders" in loaded
    assert loaded & NOT_FOR_OPENAT == set()


def test_a_name_loads_its_part_and_the_whole_table_has_every_row() -> None:
    loaded = loaded_after(
        "from sysemu.tools.trace import decoders\n"
        "assert 'fchown' in decoders.SYSCALLS and 'uid_t' in decoders.BY_CTYPE\n"
        "assert decoders.SYSCALLS.get('close') is None and 'close' not in decoders.RETURNS"
    )
    assert "sysemu.tools.trace.decoders_more" in loaded
    assert "sysemu.tools.trace.decoders_uring" not in loaded


def test_the_index_names_every_row_of_the_modules_loaded_by_name() -> None:
    code = (
        "import json\nfrom sysemu.tools.trace import decoders\n"
        "core = sorted(dict.keys(decoders.SYSCALLS))  # before any part is loaded\n"
        "from sysemu.tools.trace import decoders_more as more\n"
        "print(json.dumps([core, sorted(more.MORE_SYSCALLS), sorted(more.MORE_RETURNS),"
        " sorted(more.BY_CTYPE), sorted(decoders._MORE_NAMES), sorted(decoders._MORE_CTYPES)]))"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    core, rows, returns, ctypes, index, index_ctypes = map(set, json.loads(out.stdout))
    assert sorted((rows | returns) - index) == [], "add these names to decoders._MORE_NAMES"
    assert sorted(index - rows - returns) == [], "remove these from decoders._MORE_NAMES"
    assert ctypes == index_ctypes
    # A name in two places would be found where it is looked up first, not where the eager
    # tables' last update put it.
    assert sorted(core & rows) == []
