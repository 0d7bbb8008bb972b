#!/usr/bin/env python3
"""Run strace's own decoder tests against sysemu's trace: the sharpest yardstick there is.

Usage::

    python3 scripts/strace_suite.py [--only NAME[,NAME...]] [--jobs N] [--tracers LIST] \\
        [--cache DIR] [--lines N] [--quiet]

strace's test programs make each call in many ways (valid and invalid pointers, unknown flags,
-1 ids, short buffers, every command of a multiplexer) and print on their standard output the
exact line strace must write for each. This script:

1. fetches the source of the installed strace's version from Debian's source packages
   (``apt-get source``; a machine without a ``deb-src`` entry is told what to enable) into the
   cache (``~/.cache/sysemu/strace-suite`` unless ``--cache``), and configures it once;
2. selects the tests of ``tests/gen_tests.in`` that are a plain ``run_strace_match_diff`` with
   the options ``-a``, ``-s`` and ``-e trace=`` only (``--set old``; ``-a``, strace's column,
   is ignored: both sides are compared with the spaces before `` = `` collapsed), and by
   default (``--set widened``) also those with the display options sysemu shares with strace
   (``-v``, ``-X``, ``-e abbrev=``/``verbose=``/``raw=``/``signal=``, ``-P``, ``-y``, ``-yy``)
   and the shell redirections they open the program's fds with (``9>>/dev/full``), which
   both tracers are given as written;
3. builds their programs under ``nice -n 19`` (kept in the cache: a second run builds nothing);
4. runs each program once alone (exit status 77: skipped, as strace's suite does), then under
   each tracer: ``strace`` and ``sysemu run --trace=SET -o LOG`` with the C trace writer
   (``c``) and with the Python tracer alone (``python``, ``SYSEMU_NO_SPEEDUPS=1``), comparing
   the trace with what the program printed in that run, as strace's ``match_diff`` does;
5. prints the pass counts and, per test strace passes and a sysemu tracer fails, the first
   differing lines (expected ``-``, traced ``+``).

It is a measurement, not part of the test command: it needs the network once, a C compiler
and about a minute of two cores per cold build.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "sysemu" / "strace-suite"
TRACERS = ("strace", "c", "python")
TIMEOUT = 120.0
SKIPPED = 77
# strace pads the " = " of each line to column -a; sysemu to its own: compared without.
_COLUMN = re.compile(r" +(?== -?[0-9?])")
_OPTION = re.compile(r"-[as][0-9]+")
# The display options both tracers take as strace spells them (--set widened).
_SHARED = re.compile(
    r"-v|--no-abbrev|-yy?|-X(raw|abbrev|verbose)|--const-print-style=(raw|abbrev|verbose)"
    r"|--trace-path=.+|-e ?(abbrev|a|verbose|v|raw|x|signal|signals|s)=.+"
    r"|--(abbrev|verbose|raw|signal)=.+"
)
_SHARED_WITH_VALUE = ("-P", "-X")
_REDIRECTION = re.compile(r"[0-9]*(<|>|>>)(/dev/[a-z]+)?")


@dataclass
class Test:
    """One test of ``gen_tests.in``: its program and the tracing options it runs with."""

    name: str
    trace_set: str
    string_limit: int | None = None
    options: list[str] = field(default_factory=list)
    """Display options given to both tracers as written (``-v``, ``-P PATH``...)."""
    redirections: list[str] = field(default_factory=list)
    """Shell redirections the program (and each tracer) runs with: ``9>>/dev/full``."""


@dataclass
class Outcome:
    """How one test went: skipped (why), or per tracer passed and the first differences."""

    test: Test
    skipped: str = ""
    passed: dict[str, bool] = field(default_factory=dict)
    differences: dict[str, list[str]] = field(default_factory=dict)


def run(argv: list[str], cwd: Path, **options: object) -> subprocess.CompletedProcess[str]:
    """``argv`` in ``cwd``, its output captured as text; fails loudly."""
    return subprocess.run(argv, cwd=cwd, check=True, text=True, capture_output=True, **options)  # type: ignore[call-overload,no-any-return]


def installed_version() -> str:
    """The Debian version of the installed strace package."""
    return run(["dpkg-query", "-W", "-f", "${Version}", "strace"], Path("/")).stdout.strip()


def fetch_source(cache: Path, version: str) -> Path:
    """strace's configured source tree for ``version``, fetched and configured on first use."""
    root = cache / version
    source = root / "source"
    if not (source / "configure").exists():
        if not subprocess.run(
            ["apt-cache", "showsrc", "strace"], check=False, capture_output=True, text=True
        ).stdout:
            sys.exit(
                "no source package for strace: add a 'deb-src' entry for this release "
                "(Types: deb-src in /etc/apt/sources.list.d/debian.sources), then apt-get update"
            )
        root.mkdir(parents=True, exist_ok=True)
        print(f"fetching strace {version} source into {root}", file=sys.stderr)
        run(["apt-get", "source", "-q", "--download-only", f"strace={version}"], root)
        shutil.rmtree(source, ignore_errors=True)
        dsc = next(root.glob("strace_*.dsc"))
        run(["dpkg-source", "-x", dsc.name, "source"], root)
    if not (source / "tests" / "Makefile").exists():
        print("configuring strace (nice -n 19)", file=sys.stderr)
        run(["nice", "-n", "19", "./configure", "-q", "--enable-mpers=no"], source)
    return source


def _takes_value(word: str, value: str) -> bool:
    """Whether ``word`` is a shared option whose value is the next word (``-P PATH``)."""
    return word in _SHARED_WITH_VALUE or (word == "-e" and bool(_SHARED.fullmatch(f"-e{value}")))


def select_tests(source: Path, widened: bool = True) -> list[Test]:
    """The tests of ``gen_tests.in`` run as plain ``run_strace_match_diff`` with options this
    harness maps onto sysemu's (``-a``, ``-s``, ``-e trace=``) and nothing else; ``widened``:
    also with the display options both take and shell redirections."""
    tests = []
    for line in (source / "tests" / "gen_tests.in").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *words = shlex.split(line)
        test = Test(name, name)
        usable = True
        words_left = list(words)
        while words_left:
            word = words_left.pop(0)
            if word == "-e" and words_left and words_left[0].startswith("trace="):
                test.trace_set = words_left.pop(0).removeprefix("trace=")
            elif word.startswith(("-etrace=", "--trace=")):
                test.trace_set = word.split("=", 1)[1]
            elif _OPTION.fullmatch(word):
                if word.startswith("-s"):
                    test.string_limit = int(word[2:])
            elif widened and words_left and _takes_value(word, words_left[0]):
                test.options += [word, words_left.pop(0)]
            elif widened and _SHARED.fullmatch(word):
                test.options.append(word)
            elif widened and _REDIRECTION.fullmatch(word):
                if not word.endswith(("/dev/null", "/dev/full", "/dev/zero")) and words_left:
                    word += words_left.pop(0)  # "7> /dev/null"
                test.redirections.append(word)
            else:
                usable = False
                break
        if usable:
            tests.append(test)
    return tests


def build(source: Path, tests: list[Test], jobs: int) -> set[str]:
    """Build the programs of ``tests`` (those not built yet); the names that built."""
    tests_dir = source / "tests"
    missing = [test.name for test in tests if not (tests_dir / test.name).exists()]
    if missing:
        print(f"building {len(missing)} test programs (nice -n 19)", file=sys.stderr)
        base = ["nice", "-n", "19", "make", "-s", "-k", f"-j{jobs}"]
        with open(source.parent / "build.log", "w") as log:
            # The generated headers first, alone: make builds them before "all" only.
            for goals in (["ksysent.h", "scno.h"], ["libtests.a"]):
                subprocess.run([*base, *goals], check=False, cwd=tests_dir, stdout=log, stderr=log)
            subprocess.run([*base, *missing], check=False, cwd=tests_dir, stdout=log, stderr=log)
    return {test.name for test in tests if (tests_dir / test.name).exists()}


def tracer_command(
    tracer: str, test: Test, log: Path, program: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment running ``program`` under ``tracer``."""
    env = dict(os.environ)
    limit = [] if test.string_limit is None else ["-s", str(test.string_limit)]
    if tracer == "strace":
        return [
            "strace",
            "-o",
            str(log),
            "-e",
            f"trace={test.trace_set}",
            *limit,
            *test.options,
            str(program),
        ], env
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPOSITORY / "src"), env.get("PYTHONPATH")])
    )
    if tracer == "python":
        env["SYSEMU_NO_SPEEDUPS"] = "1"
    argv = [
        sys.executable,
        "-m",
        "sysemu",
        "run",
        f"--trace={test.trace_set}",
        "-o",
        str(log),
        *limit,
        *test.options,
    ]
    return [*argv, "--", str(program)], env


def redirected(argv: list[str], test: Test) -> list[str]:
    """``argv`` run by a shell that opens the test's redirections first (the tracers pass the
    fds on to the program)."""
    if not test.redirections:
        return argv
    return ["sh", "-c", f'exec "$@" {" ".join(test.redirections)}', "sh", *argv]


def compared(text: str) -> list[str]:
    """Lines as compared: without the padding before `` = ``."""
    return [_COLUMN.sub(" ", line) for line in text.splitlines()]


def run_test(source: Path, test: Test, tracers: tuple[str, ...], lines: int) -> Outcome:
    """Run one test alone, then under each tracer, in a directory of its own."""
    outcome = Outcome(test)
    program = source / "tests" / test.name
    with tempfile.TemporaryDirectory(prefix=f"{test.name}.", dir=source / "tests") as work:
        cwd = Path(work)
        try:
            alone = subprocess.run(
                redirected([str(program)], test),
                check=False,
                cwd=cwd,
                capture_output=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            outcome.skipped = "timed out alone"
            return outcome
        if alone.returncode != 0:
            outcome.skipped = (
                "skipped by the program"
                if alone.returncode == SKIPPED
                else f"failed alone ({alone.returncode})"
            )
            return outcome
        for tracer in tracers:
            log = cwd / f"log.{tracer}"
            argv, env = tracer_command(tracer, test, log, program)
            try:
                done = subprocess.run(
                    redirected(argv, test),
                    check=False,
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                outcome.passed[tracer] = False
                outcome.differences[tracer] = ["(timed out)"]
                continue
            expected = compared(done.stdout)
            traced = compared(log.read_text(errors="replace")) if log.exists() else []
            outcome.passed[tracer] = done.returncode == 0 and expected == traced
            if not outcome.passed[tracer]:
                diff = [
                    d
                    for d in difflib.unified_diff(expected, traced, lineterm="", n=0)
                    if not d.startswith(("---", "+++ ", "@@"))
                ]
                if done.returncode != 0:
                    diff.insert(0, f"(exit status {done.returncode}: {done.stderr.strip()[-200:]})")
                outcome.differences[tracer] = diff[:lines]
    return outcome


def main() -> int:
    """Fetch, build, run, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", default=[], help="run these tests only (NAME[,NAME...])"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="tests run at once, and make -j"
    )
    parser.add_argument("--tracers", default=",".join(TRACERS), help="among strace,c,python")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where strace's source is built"
    )
    parser.add_argument(
        "--lines", type=int, default=6, help="differing lines shown per failing test"
    )
    parser.add_argument("--quiet", action="store_true", help="the summary only")
    parser.add_argument(
        "--set",
        choices=("old", "widened"),
        default="widened",
        help="old: the tests with -a, -s, -e trace= only; widened (default): also those with "
        "the display options both tracers take (-v, -X, -P, -yy, -e signal=...)",
    )
    options = parser.parse_args()
    tracers = tuple(options.tracers.split(","))
    started = time.monotonic()
    source = fetch_source(options.cache, installed_version())
    tests = select_tests(source, widened=options.set == "widened")
    only = {name for names in options.only for name in names.split(",")}
    if only:
        tests = [test for test in tests if test.name in only]
    built = build(source, tests, options.jobs)
    with ThreadPoolExecutor(options.jobs) as pool:
        outcomes = list(
            pool.map(
                lambda test: run_test(source, test, tracers, options.lines),
                [t for t in tests if t.name in built],
            )
        )
    ran = [outcome for outcome in outcomes if not outcome.skipped]
    strace_passed = {o.test.name for o in ran if o.passed.get("strace", True)}
    if not options.quiet:
        for outcome in outcomes:
            if outcome.skipped:
                print(f"SKIP {outcome.test.name}: {outcome.skipped}")
        for outcome in ran:
            for tracer in tracers:
                if not outcome.passed[tracer] and (
                    tracer == "strace" or outcome.test.name in strace_passed
                ):
                    print(f"FAIL {outcome.test.name} [{tracer}]")
                    for line in outcome.differences[tracer]:
                        print(f"    {line}")
    print(
        f"selected {len(tests)}, not built {len(tests) - len(built)},"
        f" skipped {len(outcomes) - len(ran)}, run {len(ran)}"
    )
    for tracer in tracers:
        passed = sum(1 for o in ran if o.passed[tracer] and o.test.name in strace_passed)
        if tracer == "strace":
            print(f"strace passes {len(strace_passed)} of {len(ran)}")
        else:
            share = 100 * passed / len(strace_passed) if strace_passed else 0.0
            print(
                f"sysemu [{tracer}] passes {passed} of the {len(strace_passed)}"
                f" strace passes ({share:.0f}%)"
            )
    print(f"took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
