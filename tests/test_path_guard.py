"""Path guards: a handler registered with ``path_prefixes`` is not run, by the C wait loops, for
calls whose path is plain, absolute and outside the prefixes; every other call reaches it.

The program opens files by many spellings of a path. The handler fails the calls whose
resolved path is under the guarded directory and passes the rest; it records the raw paths it
was given. With the accelerator, exactly the plain absolute paths outside the prefix never
reach it; without (``SYSEMU_NO_SPEEDUPS=1``, the Python loops) every call does. Both runs must
give the program the same answers and count the same stops.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sysemu import Emulator
from sysemu.api.call import Call
from sysemu.api.decisions import Decision
from sysemu.kernel import ptrace

BACKENDS = ("seccomp", "unotify", "auto", "ptrace")

# (raw path the program opens, whether it reaches the handler under a C loop)
SPELLINGS = (
    ("/etc/hostname", False),  # plain, outside: the guard passes it
    ("/etc/passwd", False),
    ("{d}/inside", True),  # under the prefix
    ("{d}", False),  # the directory itself: not under "{d}/", for the guard and the handler
    ("//etc/hostname", True),  # not lexically normal: the handler judges
    ("/etc/./hostname", True),
    ("{d}/../{n}/inside", True),
    ("/etc/hostname/.", True),
    ("/etc/..", True),
    ("inside", True),  # relative: the handler resolves it
    ("/nonexistent-sysemu-guard/x", False),  # plain and outside, even if it does not exist
)

SCRIPT = r"""
import json, os, sys
from sysemu import Emulator
sys.path.insert(0, sys.argv[1])
from test_path_guard import run_guarded
print(json.dumps(run_guarded(sys.argv[2], sys.argv[3])))
"""


def spellings(directory: str) -> list[tuple[str, bool]]:
    """The paths of :data:`SPELLINGS` for the guarded ``directory``."""
    name = os.path.basename(directory)
    return [(raw.format(d=directory, n=name), reached) for raw, reached in SPELLINGS]


def run_guarded(backend: str, directory: str) -> dict[str, Any]:
    """Run the opening program under a guarded handler: what it printed, what the handler
    saw and the openat counters."""
    seen: list[str] = []
    emu = Emulator(backend=backend)

    @emu.on("openat", decides_only=True, path_prefixes=(directory + "/",))
    def deny_inside(call: Call) -> Decision | None:
        path = call.path
        seen.append(path if isinstance(path, str) else repr(path))
        if any(p.startswith(directory + "/") for p in call.paths):
            return call.fail(errno.EACCES)
        return None

    opener = (
        "import os, sys\n"
        f"os.chdir({directory!r})\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        os.close(os.open(path, os.O_RDONLY))\n"
        "        print(path, 'ok')\n"
        "    except OSError as error:\n"
        "        print(path, error.errno)\n"
    )
    paths = [raw for raw, _ in spellings(directory)]
    result = emu.run([sys.executable, "-S", "-c", opener, *paths], capture_output=True, timeout=60)
    stats = result.stats["openat"]
    return {
        "stdout": result.stdout.decode(),
        "exit_code": result.exit_code,
        "seen": [path for path in seen if path in paths],
        "stops": stats.stops,
        "passed": stats.passed,
        "failed": stats.failed,
    }


@pytest.fixture
def guarded_directory(tmp_path: Path) -> str:
    directory = tmp_path / "guarded"
    directory.mkdir()
    (directory / "inside").write_text("secret\n")
    return str(directory)


@pytest.mark.skipif(ptrace.serve_seccomp_stops is None, reason="the guard is the C loops'")
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_c_loops_pass_plain_paths_outside_the_prefixes_without_the_handler(
    backend: str, guarded_directory: str
) -> None:
    native = run_guarded(backend, guarded_directory)
    expected_seen = [raw for raw, reached in spellings(guarded_directory) if reached]
    assert native["seen"] == expected_seen
    answers = dict(line.rsplit(" ", 1) for line in native["stdout"].splitlines())
    denied = str(errno.EACCES)
    assert answers[f"{guarded_directory}/inside"] == denied
    assert answers["inside"] == denied
    assert answers[f"{guarded_directory}/../guarded/inside"] == denied
    assert answers["/etc/hostname"] == "ok"
    assert answers["//etc/hostname"] == "ok"
    assert answers[guarded_directory] == "ok"  # the directory itself is not under "dir/"
    assert native["failed"] == 3

    # The Python loops run the handler for every call, and must answer and count the same.
    env = {**os.environ, "SYSEMU_NO_SPEEDUPS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent), backend, guarded_directory],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    python = json.loads(done.stdout)
    assert python["seen"] == [raw for raw, _ in spellings(guarded_directory)]
    assert python["stdout"] == native["stdout"]
    assert python["exit_code"] == native["exit_code"]
    for counter in ("stops", "passed", "failed"):
        assert python[counter] == native[counter], counter


def test_path_prefixes_must_be_absolute() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="absolute"):
        emu.add("openat", lambda call: None, path_prefixes=("tmp/",))


def test_an_injection_with_a_path_glob_is_guarded_by_its_literal_prefix(
    guarded_directory: str,
) -> None:
    """``--inject ...:path=GLOB`` registers its handler with the glob's text up to the first
    wildcard as its prefix, and still injects exactly where the glob matches."""
    emu = Emulator()
    emu.inject(f"openat:error=ENOSPC:path={guarded_directory}/ins*")
    registration = next(r for r in emu.handlers._registrations if r.syscall.name == "openat")
    assert registration.path_prefixes == (f"{guarded_directory}/ins",)
    result = emu.run(
        ["sh", "-c", f"cat {guarded_directory}/inside; cat /etc/hostname >/dev/null; echo $?"],
        capture_output=True,
        timeout=60,
    )
    assert b"No space left on device" in result.stderr
    assert result.stdout == b"0\n"
    assert [i.path for i in result.tools["inject"]] == [f"{guarded_directory}/inside"]
