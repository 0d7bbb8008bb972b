"""The tool interface: a tool defined here, registered at run time, gets a command-line option,
installs a handler on a real program and reports its result; the built-in tools keep their
results under their names."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.api.call import Call
from sysemu.api.decisions import Decision
from sysemu.api.handlers import HandlerSet
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult
from sysemu.cli.main import build_parser
from sysemu.tools import registry
from sysemu.tools.tool import Invocation, Tool, ToolHost, ToolOptions
from sysemu.tools.trace.cli import OPTIONS as TRACE_OPTIONS

SRC = str(Path(__file__).resolve().parent.parent / "src")

# A tool that answers getpid with a number of its own, counts the calls it answered and says
# how many in --stats: the whole of it is this class and its options.
FAKE_PID_TOOL = """
import types

from sysemu.tools.tool import Tool, ToolOptions


class FakePid(Tool):
    name = "fakepid"

    def __init__(self, pid):
        self.pid = pid
        self.answered = 0

    def install(self, handlers):
        handlers.add("getpid", self.answer)

    def answer(self, call):
        self.answered += 1
        return call.emulate(self.pid)

    def run_started(self):
        self.answered = 0

    def run_finished(self, result):
        return self.answered

    def stats_table(self, result):
        return f"fakepid answered {result.tools['fakepid']} getpid calls"


class FakePidOptions(ToolOptions):
    name = "fakepid"

    def add_arguments(self, parser, command):
        group = parser.add_argument_group("fake pid")
        group.add_argument("--fake-pid", type=int, metavar="N", help="getpid returns N")

    def configure(self, args, invocation):
        if args.fake_pid is None:
            return None
        if args.fake_pid <= 0:
            raise ValueError("--fake-pid: must be more than 0")
        return args.fake_pid

    def apply(self, config, host):
        host.use(FakePid(config))


fakepid_tool = types.ModuleType("fakepid_tool")
fakepid_tool.OPTIONS = FakePidOptions()
"""

CLI_WITH_THE_TOOL = (
    FAKE_PID_TOOL
    + """
import sys

from sysemu.cli.main import main
from sysemu.tools import registry

sys.modules["fakepid_tool"] = fakepid_tool
registry.register("fakepid_tool")  # the one registration line
sys.exit(main(sys.argv[1:]))
"""
)


def cli_with_the_tool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "sysemu_with_fakepid.py"
    script.write_text(CLI_WITH_THE_TOOL)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )


def test_a_registered_tool_adds_its_option_runs_and_reports(tmp_path: Path) -> None:
    result = cli_with_the_tool(tmp_path, "run", "--fake-pid", "4242", "--stats", "--",
                               "sh", "-c", "echo $$")  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "4242\n"), result.stderr
    # Its table comes after the handlers' own, which counts the call it answered.
    assert "fakepid answered 1 getpid calls" in result.stderr
    handlers_table = result.stderr.index("getpid  ")
    assert handlers_table < result.stderr.index("fakepid answered")


def test_a_registered_tool_is_in_the_help_and_checks_its_input(tmp_path: Path) -> None:
    for command in ("run", "attach"):
        shown = cli_with_the_tool(tmp_path, command, "--help")
        assert shown.returncode == 0
        assert re.search(r"\nfake pid:\n  --fake-pid N +getpid returns N\n", shown.stdout)
    assert "--fake-pid" not in cli_with_the_tool(tmp_path, "doctor", "--help").stdout
    marker = tmp_path / "ran"
    refused = cli_with_the_tool(tmp_path, "run", "--fake-pid", "0", "--", "touch", str(marker))
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == ["sysemu: --fake-pid: must be more than 0"]
    assert not marker.exists()
    # Without the registration the option does not exist.
    plain = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--fake-pid", "1", "--", "true"],
        capture_output=True, text=True, timeout=60, check=False, env={"PYTHONPATH": SRC},
    )  # fmt: skip
    assert plain.returncode == 2 and "unrecognized arguments: --fake-pid" in plain.stderr


class SecondTool(Tool):
    """Counts getpid calls without deciding them, as a handler with no opinion."""

    name = "getpids"

    def __init__(self) -> None:
        self.seen = 0

    def install(self, handlers: HandlerSet) -> None:
        handlers.add("getpid", self.count)

    def count(self, call: Call) -> Decision | None:
        self.seen += 1
        return None

    def run_started(self) -> None:
        self.seen = 0

    def run_finished(self, result: RunResult) -> int:
        return self.seen


class SecondOptions(ToolOptions):
    name = "getpids"

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        parser.add_argument("--count-getpid", action="store_true")

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> bool | None:
        return True if args.count_getpid else None

    def apply(self, config: object, host: ToolHost) -> None:
        host.use(SecondTool())


def test_a_tool_registered_in_this_process_is_offered_and_removed() -> None:
    registry.register(SecondOptions())
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register(SecondOptions())
        args = build_parser("run").parse_args(["run", "--count-getpid", "--", "true"])
        assert args.count_getpid
        assert [o.name for o in registry.tool_options("run")][-1] == "getpids"
    finally:
        registry.unregister("getpids")
    assert "getpids" not in [o.name for o in registry.tool_options()]


def test_tools_on_the_emulator_report_under_their_names() -> None:
    emu = Emulator()
    counter = emu.use(SecondTool())
    assert emu.tools == {"getpids": counter}
    emu.inject("getppid", retval=7)

    @emu.on("getpid")
    def fake(call: Call) -> Decision:
        return call.emulate(99)

    result = emu.run(["sh", "-c", "echo $$ $PPID"], capture_output=True)
    # The tool's handler comes after the emulator's own: it saw nothing, fake decided first.
    assert result.stdout == b"99 7\n"
    assert result.tool("getpids", int) == 0
    assert result.tools["inject"] is not None
    assert result.tool("inject", list) == result.injections
    assert [i.syscall for i in result.injections] == ["getppid"]
    with pytest.raises(TypeError, match="tool 'getpids' left a int, not list"):
        result.tool("getpids", list)
    with pytest.raises(KeyError):
        result.tool("trace", dict)


def test_the_trace_tool_leaves_its_summary(tmp_path: Path) -> None:
    emu = Emulator()
    args = build_parser("run").parse_args(
        ["run", "--trace=getpid", "-o", str(tmp_path / "trace"), "--", "true"]
    )
    config = TRACE_OPTIONS.configure(args, Invocation("run", "seccomp"))
    TRACE_OPTIONS.apply(config, emu)
    result = emu.run(["sh", "-c", "echo $$"], capture_output=True)
    for tool in emu.tools.values():
        assert tool.close() is None
    assert result.tool("trace", dict)["getpid"][0] == 1
    assert (tmp_path / "trace").read_text().startswith("getpid()  ")


def test_no_tool_is_wired_into_the_api_layer() -> None:
    api = Path(SRC) / "sysemu" / "api"
    for path in api.glob("*.py"):
        text = path.read_text()
        for name in ("c_writer", "CTraceWriter", "sysemu.tools", "TraceObserver", "VirtualFS"):
            assert name not in text, f"{path.name} names {name}"
    assert not hasattr(Observer(), "c_writer")


def test_the_command_line_knows_no_tool_by_name() -> None:
    main = Path(SRC) / "sysemu" / "cli" / "main.py"
    imported = {
        node.module
        for node in ast.walk(ast.parse(main.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("sysemu.tools")
    }
    assert imported == {"sysemu.tools.registry", "sysemu.tools.tool"}


def test_the_conveniences_are_the_tools_in_use() -> None:
    emu = Emulator(seed=5)
    assert emu.injector is None and emu.tools == {}
    emu.inject("getpid", error="EPERM")
    assert emu.tools["inject"] is emu.injector and emu.injector.seed == 5
    view = emu.fs.hide("/nowhere")
    assert emu.tools["vfs"].view is view  # type: ignore[attr-defined]
    emu.fs = None
    assert list(emu.tools) == ["inject"]


def test_the_registered_tools_cost_the_command_line_only_their_options() -> None:
    # Every start imports the registered modules: the machinery stays out until it is used.
    code = (
        "import sys, sysemu.cli.main as m; m.build_parser().parse_args(['run', '--', 'true']);"
        "print(*sorted(n for n in sys.modules if n.startswith('sysemu.tools')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": SRC},
    ).stdout.split()  # fmt: skip
    assert {"sysemu.tools.inject.cli", "sysemu.tools.trace.cli", "sysemu.tools.vfs.cli"} <= set(
        loaded
    )
    heavy = {"sysemu.tools.inject.injector", "sysemu.tools.trace.tracer", "sysemu.tools.vfs.vfs"}
    assert heavy.isdisjoint(loaded)


def test_no_tool_is_configured_by_default() -> None:
    """What lets a run given no option skip the tools' options (and their modules): with
    every option at its default, no registered tool asks to be applied."""
    args = build_parser("run").parse_args(["run", "--", "true"])
    for options in registry.tool_options("run"):
        assert options.configure(args, Invocation("run", "auto")) is None, options.name


def _tool_modules_after(arguments: list[str], cwd: Path) -> list[str]:
    """Runs ``sysemu`` with ``arguments`` in a new interpreter: its status, then the tools
    whose modules it loaded (the interface and the registry are not tools)."""
    code = (
        f"import sys, sysemu.cli.main as m; status = m.main({arguments!r});"
        "print(status, *sorted({n.split('.')[2] for n in sys.modules"
        " if n.startswith('sysemu.tools.')} - {'tool', 'registry'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": SRC}, cwd=cwd, timeout=60,
    )  # fmt: skip
    return done.stdout.split()


def test_a_run_given_no_option_loads_no_tool_module(tmp_path: Path) -> None:
    assert _tool_modules_after(["run", "--", "true"], tmp_path) == ["0"]
    assert _tool_modules_after(["run", "true"], tmp_path) == ["0"]
    # An option anywhere before the program brings every tool's options back.
    loaded = _tool_modules_after(["run", "--stats", "--", "true"], tmp_path)
    assert loaded[0] == "0" and {"inject", "trace", "vfs", "net"} <= set(loaded)
