"""The command line loads only the tools it names (``sysemu.cli.named``): the static listings
match the parsers, the scan is never narrower than argparse's reading, and a run that names
one tool works with that tool alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sysemu.cli.main import build_parser
from sysemu.cli.named import OPTIONS_FOR_EVERY_TOOL, OWN_OPTIONS, options_named
from sysemu.tools import registry

from .test_cli import ROOT


def _option_strings(parser: object, command: str) -> set[str]:
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[attr-defined]
    return {string for action in sub._actions for string in action.option_strings}


@pytest.mark.parametrize("command", ["run", "attach"])
def test_the_listings_are_the_parsers_options(command: str) -> None:
    """Every option a parser offers is listed once, as its own or as one tool's."""
    alone = _option_strings(build_parser(command, tools=frozenset()), command)
    assert alone <= set(OWN_OPTIONS) | set(OPTIONS_FOR_EVERY_TOOL)
    everything = _option_strings(build_parser(command), command)
    for module, strings in registry.OPTION_STRINGS.items():
        with_tool = _option_strings(build_parser(command, tools=frozenset(strings)), command)
        offered = command in registry.tool_options(owning=strings)[0].commands
        assert with_tool - alone == (set(strings) if offered else set()), module
    listed = {string for strings in registry.OPTION_STRINGS.values() for string in strings}
    assert everything - alone <= listed


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--", "ls", "--trace"], set()),
        (["ls", "-l"], set()),  # "-l" is no option of sysemu's: every tool, as argparse sees it
        (["--inject", "openat:error=EIO", "--", "cat"], {"--inject"}),
        (["--inj=openat:error=EIO", "--", "cat"], {"--inject"}),
        (
            ["--backend", "seccomp", "--trace=openat", "-yy", "--", "ls"],
            {"--backend", "--trace", "-y"},
        ),
        (["-s80", "-o", "out", "--", "ls"], {"-s", "-o"}),
        (
            ["--bind", "/a=/b", "--time-freeze", "2020-01-01", "--", "ls"],
            {"--bind", "--time-freeze"},
        ),
    ],
)
def test_the_options_named(arguments: list[str], named: set[str]) -> None:
    found = options_named(arguments)
    if arguments == ["ls", "-l"]:
        assert found is None
    else:
        assert found == named


@pytest.mark.parametrize(
    "arguments",
    [
        ["--trce", "--", "ls"],  # unknown: the full parser reports it, with its suggestion
        ["--t", "--", "ls"],  # an abbreviation of several options
        ["-e", "trace=openat", "--", "ls"],  # strace's spellings stand for tools' options
        ["-p", "1"],
        ["--stats", "--", "ls"],  # counts with the trace when nothing else is asked
        ["--help"],
        ["-o/tmp/pe", "--", "ls"],  # a value that reads as -p and -e: every tool, to be safe
    ],
)
def test_what_may_need_any_tool_offers_every_tool(arguments: list[str]) -> None:
    assert options_named(arguments) is None


def _run_in_process(tmp_path: Path, arguments: list[str]) -> list[str]:
    """Run ``sysemu ARGUMENTS`` in a fresh interpreter: its stdout (the program's output, then
    the tools' option modules it imported and the status) and its stderr."""
    script = textwrap.dedent(
        f"""
        import sys
        from sysemu.cli.main import main
        status = main({arguments!r})
        loaded = sorted(m for m in sys.modules if m.endswith("cli") and "tools" in m)
        print("loaded", *loaded, "status", status)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )
    return [result.stdout, result.stderr]


@pytest.mark.parametrize("backend", ["auto", "unotify", "seccomp"])
def test_an_injection_runs_with_its_tool_alone(tmp_path: Path, backend: str) -> None:
    (tmp_path / "data").write_text("hello\n")
    stdout, stderr = _run_in_process(
        tmp_path,
        [
            "run",
            "--backend",
            backend,
            "--inject",
            "openat:error=EACCES:path=*data",
            "--",
            "cat",
            "data",
        ],
    )
    assert "Permission denied" in stderr
    assert stdout.split()[-3:] == ["sysemu.tools.inject.cli", "status", "1"]
    assert stdout.split()[:2] == ["loaded", "sysemu.tools.inject.cli"]


def test_a_trace_runs_with_its_tool_alone(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("hello\n")
    stdout, stderr = _run_in_process(tmp_path, ["run", "--trace=openat", "-y", "--", "cat", "data"])
    assert f', "data", O_RDONLY) = 3<{tmp_path}/data>' in stderr
    assert stdout.split() == ["hello", "loaded", "sysemu.tools.trace.cli", "status", "0"]


def test_unotify_refuses_a_trace_named_with_its_tool(tmp_path: Path) -> None:
    stdout, stderr = _run_in_process(tmp_path, ["run", "--backend", "unotify", "--", "true"])
    assert stdout.split() == ["loaded", "status", "0"]
    _, stderr = _run_in_process(tmp_path, ["run", "--backend", "unotify", "--json", "--", "true"])
    assert "--json: the unotify backend cannot trace" in stderr
