"""``scripts/strace_suite.py``'s own logic, offline: which lines of strace's ``gen_tests.in`` it
runs, with which options, and how it compares a trace with the expected lines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "strace_suite.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("strace_suite", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


suite = _load()

GEN_TESTS = """\
# comment
chdir	-a10
add_key	-a30 -s12
aio	-a14 -e trace=io_setup,io_submit
bare
clock	test_trace_expr 'times|times-.*' -e/clock
btrfs	+ioctl.test
bpf-v	-a20 -v -e trace=bpf
kcmp-y	-a22 -y -e trace=kcmp
net	-etrace=connect
dup-P	-a7 --trace=dup -P /dev/full 9>>/dev/full
memfd	-a16 -etrace=memfd_secret -y 7> /dev/null
kill	-a12 -esignal=none -e signal=!usr1 -Xverbose
secontext	-a15 --secontext -e trace=fchmod
"""


def test_only_plain_tests_with_mapped_options_are_selected(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "gen_tests.in").write_text(GEN_TESTS)
    tests = {test.name: test for test in suite.select_tests(tmp_path, widened=False)}
    assert sorted(tests) == ["add_key", "aio", "bare", "chdir", "net"]
    assert tests["add_key"].string_limit == 12
    assert tests["aio"].trace_set == "io_setup,io_submit"
    assert tests["bare"].trace_set == "bare"
    assert tests["net"].trace_set == "connect"


def test_the_widened_set_takes_the_shared_options_and_redirections(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "gen_tests.in").write_text(GEN_TESTS)
    tests = {test.name: test for test in suite.select_tests(tmp_path)}
    assert "secontext" not in tests and "clock" not in tests and "btrfs" not in tests
    assert tests["bpf-v"].options == ["-v"]
    assert tests["kcmp-y"].options == ["-y"]
    assert tests["dup-P"].options == ["-P", "/dev/full"]
    assert tests["dup-P"].redirections == ["9>>/dev/full"]
    assert tests["dup-P"].trace_set == "dup"
    assert tests["memfd"].redirections == ["7>/dev/null"]
    assert tests["kill"].options == ["-esignal=none", "-e", "signal=!usr1", "-Xverbose"]
    assert suite.redirected(["prog"], tests["dup-P"]) == [
        "sh", "-c", 'exec "$@" 9>>/dev/full', "sh", "prog",
    ]  # fmt: skip


def test_lines_are_compared_without_the_column_padding() -> None:
    strace = "getuid()                = 0\nclose(3) = -1 EBADF (Bad file descriptor)\n"
    sysemu = "getuid() = 0\nclose(3)                 = -1 EBADF (Bad file descriptor)\n"
    assert suite.compared(strace) == suite.compared(sysemu)
    assert suite.compared('write(1, "a  = 0", 6) = 6') == ['write(1, "a = 0", 6) = 6']
