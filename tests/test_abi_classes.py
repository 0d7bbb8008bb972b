"""Tests of sysemu.abi.classes: strace's syscall classes and its syscall-set syntax.

The class table is checked three ways: spot checks of facts from strace(1), consistency with
the argument kinds of sysemu's own syscall tables, and a cross-check against the installed
strace, which runs real programs under ``-e trace=%CLASS`` (every call strace prints must be
in our class) and under ``-e inject=%CLASS:delay_enter=1`` (strace marks exactly the calls of
the class ``(DELAYED)``, so calls it leaves unmarked must be outside our class).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysemu.abi import (
    Abi,
    ArgKind,
    SyscallSet,
    class_names,
    names,
    parse_syscall_set,
    syscalls,
    syscalls_in_class,
)
from sysemu.abi.abi import machine_abis

ALL_NAMES: frozenset[str] = frozenset().union(*(names(abi) for abi in machine_abis()))
# Sets are read in the machine's ABIs (names, numbers, what @64 means), so the tests written
# with x86-64's names and personalities (open, stat64, @32, @x32) need an x86-64 machine;
# aarch64's syntax is tested in test_abi_aarch64.py.
x86_64_only = pytest.mark.skipif(
    machine_abis()[:1] != (Abi.X86_64,),
    reason="written with x86-64's syscall names and personalities; sets read the machine's",
)
DESIGNATOR = {Abi.X86_64: "64", Abi.I386: "32", Abi.X32: "x32", Abi.AARCH64: "64"}
LEGACY_CLASSES = ("file", "process", "network", "signal", "ipc", "desc", "memory")


def in_class(name: str, cls: str, abi: Abi = Abi.X86_64) -> bool:
    return name in syscalls_in_class(cls, abi)


# ---------------------------------------------------------------------------------------------
# Classes
# ---------------------------------------------------------------------------------------------


def test_class_names() -> None:
    assert class_names() == (
        "%file",
        "%process",
        "%network",
        "%signal",
        "%ipc",
        "%desc",
        "%memory",
        "%creds",
        "%clock",
        "%stat",
        "%lstat",
        "%fstat",
        "%%stat",
        "%statfs",
        "%fstatfs",
        "%%statfs",
        "%pure",
    )


@pytest.mark.parametrize(
    ("name", "member_of", "not_member_of"),
    [
        ("openat", {"%file", "%desc"}, {"%network", "%process"}),
        ("open", {"%file", "%desc"}, {"%stat"}),
        ("read", {"%desc"}, {"%file"}),
        ("close", {"%desc"}, {"%file"}),
        ("socket", {"%network"}, {"%desc", "%file"}),
        ("sendfile", {"%network", "%desc"}, set()),
        ("kill", {"%signal", "%process"}, {"%desc"}),
        ("tgkill", {"%signal", "%process"}, set()),
        ("rt_sigaction", {"%signal"}, {"%process"}),
        ("clone", {"%process"}, {"%signal", "%memory"}),
        ("execve", {"%process", "%file"}, {"%desc"}),
        ("execveat", {"%process", "%file", "%desc"}, set()),
        ("exit_group", {"%process"}, set()),
        ("wait4", {"%process"}, set()),
        ("mmap", {"%memory", "%desc"}, set()),
        ("brk", {"%memory"}, {"%desc"}),
        ("shmat", {"%ipc", "%memory"}, set()),
        ("semop", {"%ipc"}, set()),
        ("setuid", {"%creds"}, {"%pure"}),
        ("getuid", {"%creds", "%pure"}, set()),
        ("getpid", {"%pure"}, {"%process", "%creds"}),
        ("getpgid", set(), {"%pure"}),
        ("clock_gettime", {"%clock"}, set()),
        ("gettimeofday", {"%clock"}, set()),
        ("nanosleep", set(), {"%clock"}),
        ("stat", {"%file", "%stat", "%%stat"}, {"%lstat", "%fstat", "%desc"}),
        ("lstat", {"%file", "%lstat", "%%stat"}, {"%stat", "%fstat"}),
        ("fstat", {"%desc", "%fstat", "%%stat"}, {"%file", "%stat"}),
        ("newfstatat", {"%file", "%desc", "%fstat", "%%stat"}, {"%stat", "%lstat"}),
        ("statx", {"%file", "%desc", "%fstat", "%%stat"}, set()),
        ("statfs", {"%file", "%statfs", "%%statfs"}, {"%fstatfs", "%%stat"}),
        ("fstatfs", {"%desc", "%fstatfs", "%%statfs"}, {"%statfs", "%file"}),
        ("ustat", {"%%statfs"}, {"%statfs", "%fstatfs"}),
        ("getcwd", {"%file"}, {"%desc"}),
        ("close_range", set(), {"%desc"}),  # strace gives it no class at all
    ],
)
def test_class_membership(name: str, member_of: set[str], not_member_of: set[str]) -> None:
    abi = Abi.I386 if name == "ustat" else Abi.X86_64
    for cls in member_of:
        assert in_class(name, cls, abi), f"{name} should be in {cls}"
    for cls in not_member_of:
        assert not in_class(name, cls, abi), f"{name} should not be in {cls}"


def test_i386_only_calls_are_classified() -> None:
    i386 = Abi.I386
    assert syscalls_in_class("%stat", i386) == {"oldstat", "stat", "stat64"}
    assert syscalls_in_class("%lstat", i386) == {"oldlstat", "lstat", "lstat64"}
    assert syscalls_in_class("%fstat", i386) == {
        "oldfstat",
        "fstat",
        "fstat64",
        "fstatat64",
        "statx",
    }
    assert in_class("_llseek", "%desc", i386)
    for name in ("mmap", "mmap2"):
        assert in_class(name, "%memory", i386)
        assert in_class(name, "%desc", i386)
    assert in_class("ipc", "%ipc", i386)
    # strace gives socketcall %desc, not %network: the multiplexer itself names no socket call.
    assert in_class("socketcall", "%desc", i386)
    assert not in_class("socketcall", "%network", i386)
    assert {"getuid32", "geteuid32", "getgid32", "getegid32"} <= syscalls_in_class("%pure", i386)
    assert {"sigaction", "signal", "sigreturn"} <= syscalls_in_class("%signal", i386)
    assert "waitpid" in syscalls_in_class("%process", i386)


def test_membership_is_per_abi() -> None:
    assert "stat64" not in syscalls_in_class("%stat", Abi.X86_64)
    assert "newfstatat" not in syscalls_in_class("%fstat", Abi.I386)
    assert syscalls_in_class("%ipc", Abi.X86_64) >= {"semop", "shmget"}
    # The x32 table lacks the calls x32 gets in compat form or not at all.
    assert "uselib" in syscalls_in_class("%file", Abi.X86_64)
    assert "uselib" not in syscalls_in_class("%file", Abi.X32)
    for abi in machine_abis():
        for cls in class_names():
            assert syscalls_in_class(cls, abi) <= set(names(abi))


def test_every_member_is_a_known_syscall() -> None:
    for cls in class_names():
        members = frozenset().union(*(syscalls_in_class(cls, abi) for abi in machine_abis()))
        assert members <= ALL_NAMES
        # Every class has members in some ABI (aarch64 has no lstat, stat or ustat).
        assert any(syscalls_in_class(cls, abi) for abi in Abi), cls


def test_stat_like_classes_are_unions() -> None:
    for abi in machine_abis():
        stat_like = syscalls_in_class("%%stat", abi)
        parts = [syscalls_in_class(c, abi) for c in ("%stat", "%lstat", "%fstat")]
        assert stat_like == frozenset().union(*parts)
        statfs_like = syscalls_in_class("%%statfs", abi)
        parts = [syscalls_in_class(c, abi) for c in ("%statfs", "%fstatfs")]
        assert statfs_like - frozenset().union(*parts) <= {"ustat"}


def test_classes_agree_with_argument_kinds() -> None:
    for abi in machine_abis():
        file_class = syscalls_in_class("%file", abi)
        desc_or_net = syscalls_in_class("%desc", abi) | syscalls_in_class("%network", abi)
        for call in syscalls(abi):
            kinds = {param.kind for param in call.params}
            if ArgKind.PATH in kinds:
                assert call.name in file_class, f"{call.name} takes a file name"
            if kinds & {ArgKind.FD, ArgKind.DIRFD} and call.name != "close_range":
                assert call.name in desc_or_net, f"{call.name} takes a descriptor"


def test_pure_calls_take_no_arguments() -> None:
    for abi in machine_abis():
        for call in syscalls(abi):
            if call.name in syscalls_in_class("%pure", abi):
                assert call.params == (), call.name


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("%net", "%network"),
        *((legacy, "%" + legacy) for legacy in LEGACY_CLASSES),
    ],
)
def test_class_aliases(alias: str, canonical: str) -> None:
    for abi in machine_abis():
        assert syscalls_in_class(alias, abi) == syscalls_in_class(canonical, abi)
    assert str(parse_syscall_set(alias)) == canonical


@pytest.mark.parametrize("bad", ["%fle", "fle", "all", "%all", "%FILE", "", "%"])
def test_unknown_class(bad: str) -> None:
    with pytest.raises(ValueError, match=f"^unknown class {re.escape(repr(bad))}$"):
        syscalls_in_class(bad, Abi.X86_64)


# ---------------------------------------------------------------------------------------------
# Set syntax
# ---------------------------------------------------------------------------------------------


def selected(text: str, abi: Abi = Abi.X86_64) -> frozenset[str]:
    return parse_syscall_set(text).names(abi)


@x86_64_only
def test_names() -> None:
    assert isinstance(parse_syscall_set("open"), SyscallSet)
    assert selected("open,close") == {"open", "close"}
    assert selected("open,close", Abi.I386) == {"open", "close"}
    assert selected("open,open") == {"open"}


@x86_64_only
def test_a_name_counts_in_every_abi_that_has_it() -> None:
    # stat64 is i386-only: valid, and selects nothing elsewhere.
    assert selected("stat64", Abi.I386) == {"stat64"}
    assert selected("stat64") == frozenset()
    assert selected("stat64", Abi.X32) == frozenset()
    assert selected("newfstatat,stat64", Abi.I386) == {"stat64"}
    assert "stat64" not in parse_syscall_set("stat64")


@x86_64_only
def test_negation_applies_to_the_whole_set() -> None:
    everything = set(names(Abi.X86_64))
    assert selected("!open,close") == everything - {"open", "close"}
    assert selected("!%file") == everything - syscalls_in_class("%file", Abi.X86_64)
    assert selected("!/^open") == {n for n in everything if not n.startswith("open")}
    assert selected("!!open") == {"open"}
    assert selected("!!!open") == everything - {"open"}
    assert selected("!stat64", Abi.I386) == set(names(Abi.I386)) - {"stat64"}


@x86_64_only
def test_regex() -> None:
    # strace(1)'s regex equivalents of %statfs and %fstatfs.
    for abi in machine_abis():
        assert selected("/^(.*_)?statv?fs", abi) == syscalls_in_class("%statfs", abi)
        assert selected("/fstatv?fs", abi) == syscalls_in_class("%fstatfs", abi)
    assert selected("/^(.*_)?statv?fs", Abi.I386) == {"statfs", "statfs64"}
    # re.search semantics: unanchored.
    assert "newfstatat" in selected("/stat")
    assert selected("/^open$") == {"open"}
    assert selected("/^wait") == {"wait4", "waitid"}
    assert selected("/^wait", Abi.I386) == {"wait4", "waitid", "waitpid"}


def test_classes_in_sets() -> None:
    for cls in class_names():
        for abi in machine_abis():
            assert selected(cls, abi) == syscalls_in_class(cls, abi)
    assert selected("%stat,%lstat,%fstat") == selected("%%stat")
    assert selected("%net,read") == syscalls_in_class("%network", Abi.X86_64) | {"read"}


@x86_64_only
def test_all_and_none() -> None:
    for abi in machine_abis():
        assert selected("all", abi) == set(names(abi))
        assert selected("none", abi) == frozenset()
        assert selected("!none", abi) == set(names(abi))
        assert selected("!all", abi) == frozenset()
    assert parse_syscall_set("all").is_all
    assert parse_syscall_set("!none").is_all
    assert parse_syscall_set("open,all").is_all  # "all" is also an item, as in strace
    assert parse_syscall_set("/.").is_all
    assert parse_syscall_set("!open,close,open").is_all is False
    assert not parse_syscall_set("none").is_all
    assert not parse_syscall_set("%file").is_all
    # Restricted to one ABI, "all" is not all.
    assert not parse_syscall_set("all@64").is_all


@x86_64_only
def test_question_mark_ignores_unknown_items() -> None:
    assert selected("?opnat") == frozenset()
    assert selected("?opnat,open") == {"open"}
    assert selected("??opnat") == frozenset()
    assert selected("?%fle,close") == {"close"}
    assert selected("?/^zzz") == frozenset()
    assert selected("?99999") == frozenset()
    assert selected("?open") == {"open"}
    assert selected("?stat64@64") == frozenset()
    # A "?" does not excuse a malformed item.
    with pytest.raises(ValueError, match="bad regex"):
        parse_syscall_set("?/(")
    with pytest.raises(ValueError, match="bad personality"):
        parse_syscall_set("?open@65")


@x86_64_only
def test_personality_suffix() -> None:
    assert selected("open@32", Abi.I386) == {"open"}
    assert selected("open@32") == frozenset()
    assert selected("%file@x32", Abi.X32) == syscalls_in_class("%file", Abi.X32)
    assert selected("%file@x32") == frozenset()
    assert selected("/^stat@64") == {"stat", "statfs", "statx", "statmount"}
    assert selected("/^stat@64", Abi.I386) == frozenset()
    assert selected("all@32", Abi.I386) == set(names(Abi.I386))
    assert selected("all@32") == frozenset()
    assert selected("stat64@32", Abi.I386) == {"stat64"}


@x86_64_only
def test_numbers() -> None:
    assert selected("0") == {"read"}
    assert selected("0", Abi.I386) == {"restart_syscall"}
    assert selected("2@32", Abi.I386) == {"fork"}
    assert selected("2@32") == frozenset()
    assert selected("0002") == {"open"}
    assert str(parse_syscall_set("0002")) == "2"
    assert selected("512", Abi.X32) == {"rt_sigaction"}


@x86_64_only
def test_legacy_class_names_win_over_syscall_names() -> None:
    # As in strace: "signal" is the class; the i386 call of that name needs a regex.
    assert selected("signal", Abi.I386) == syscalls_in_class("%signal", Abi.I386)
    assert selected("/^signal$", Abi.I386) == {"signal"}
    assert selected("ipc", Abi.I386) == syscalls_in_class("%ipc", Abi.I386)


def test_everything_is_case_sensitive() -> None:
    # As in strace 6.1, which refuses all of these.
    for text, message in [
        ("Open", "unknown syscall 'Open'"),
        ("%FILE", "unknown class '%FILE'"),
        ("FILE", "unknown syscall 'FILE'"),
        ("ALL", "unknown syscall 'ALL'"),
        ("NONE", "unknown syscall 'NONE'"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_syscall_set(text)
    with pytest.raises(ValueError, match="unknown class '%NET'"):
        syscalls_in_class("%NET", Abi.X86_64)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("opnat", "unknown syscall 'opnat'"),
        pytest.param("open,opnat", "unknown syscall 'opnat'", marks=x86_64_only),
        ("%fle", "unknown class '%fle'"),
        ("/(", "bad regex '/(': missing ), unterminated subpattern at position 0"),
        ("/a{99999999999}", "bad regex '/a{99999999999}': "),
        ("/zzz", "regex '/zzz' matches no syscall"),
        pytest.param(
            "/^stat64@64", "regex '/^stat64' matches no syscall for x86_64", marks=x86_64_only
        ),
        ("", "empty syscall set ''"),
        ("!", "empty syscall set '!'"),
        ("open,,close", "empty item in syscall set 'open,,close'"),
        ("open,", "empty item in syscall set 'open,'"),
        (",open", "empty item in syscall set ',open'"),
        pytest.param(
            "open,!close", "unknown syscall '!close': '!' negates the whole set", marks=x86_64_only
        ),
        ("none,open", "'none' cannot be combined with other items"),
        ("99999", "unknown syscall number '99999'"),
        pytest.param(
            "520@64", "unknown syscall number '520' for x86_64", marks=x86_64_only
        ),  # an x32 number
        ("1x", "bad syscall number '1x'"),
        pytest.param(
            "open@65",
            "bad personality '@65' in 'open@65' (want @64, @32 or @x32)",
            marks=x86_64_only,
        ),
        ("open@", "bad personality '@' in 'open@'"),
        pytest.param("stat64@64", "unknown syscall 'stat64' for x86_64", marks=x86_64_only),
        ("@64", "empty syscall name in '@64'"),
        (" open", "unknown syscall ' open'"),
        pytest.param("none@64", "unknown syscall 'none' for x86_64", marks=x86_64_only),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_syscall_set(text)
    assert "\n" not in str(info.value)


def test_long_input_is_shortened_in_errors() -> None:
    with pytest.raises(ValueError) as info:
        parse_syscall_set("x" * 10_000)
    assert len(str(info.value)) < 120
    with pytest.raises(ValueError) as info:
        parse_syscall_set("9" * 10_000)
    assert str(info.value).startswith("unknown syscall number '999")


@x86_64_only
def test_equality_is_by_selection() -> None:
    assert parse_syscall_set("open,close") == parse_syscall_set("close,open")
    assert parse_syscall_set("%%stat") == parse_syscall_set("%stat,%lstat,%fstat")
    assert parse_syscall_set("all") == parse_syscall_set("!none")
    assert parse_syscall_set("!all") == parse_syscall_set("none")
    assert parse_syscall_set("/^open$") == parse_syscall_set("open")
    assert parse_syscall_set("open") != parse_syscall_set("open@64")
    assert parse_syscall_set("open") != parse_syscall_set("close")
    assert parse_syscall_set("open") != "open"
    assert hash(parse_syscall_set("open,close")) == hash(parse_syscall_set("/^(open|close)$"))
    assert len({parse_syscall_set("all"), parse_syscall_set("!none")}) == 1


@x86_64_only
def test_str_is_canonical() -> None:
    assert str(parse_syscall_set("open,close,open")) == "close,open"
    assert str(parse_syscall_set("!open,close")) == "!close,open"
    assert str(parse_syscall_set("%net,network")) == "%network"
    assert str(parse_syscall_set("signal")) == "%signal"
    assert str(parse_syscall_set("!none")) == "all"
    assert str(parse_syscall_set("open,all")) == "all"
    assert str(parse_syscall_set("!all")) == "none"
    assert str(parse_syscall_set("??opnat,?open")) == "?open,?opnat"
    assert str(parse_syscall_set("/^open@x32")) == "/^open@x32"
    assert repr(parse_syscall_set("close,open")) == "SyscallSet('close,open')"


@x86_64_only
def test_contains_uses_x86_64() -> None:
    files = parse_syscall_set("%file")
    assert "open" in files
    assert "read" not in files
    assert "stat64" not in files
    assert 42 not in files


@x86_64_only
def test_syscall_set_is_immutable() -> None:
    syscall_set = parse_syscall_set("open")
    with pytest.raises(AttributeError):
        syscall_set._negated = True
    with pytest.raises(AttributeError):
        del syscall_set._items
    assert syscall_set.names(Abi.X86_64) == {"open"}


def test_import_does_not_build_class_tables() -> None:
    code = (
        "import sys, sysemu.abi; "
        "assert 'sysemu.abi._table_x86_64' not in sys.modules; "
        "assert 'sysemu.abi._table_i386' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_SYNTAX = "!?%/@,.*+()[]{}^$|\\0123456789_abcdefilmnoprstwx"


def _check_parses_or_value_error(text: str) -> None:
    try:
        syscall_set = parse_syscall_set(text)
    except ValueError as error:
        message = str(error)
        assert message
        assert "\n" not in message
        assert len(message) < 300
        return
    # Whatever parses must also survive its own canonical text.
    again = parse_syscall_set(str(syscall_set))
    assert again == syscall_set
    assert str(again) == str(syscall_set)


@settings(deadline=None, max_examples=300)
@given(st.text())
def test_fuzz_arbitrary_text(text: str) -> None:
    _check_parses_or_value_error(text)


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=_SYNTAX, max_size=30))
def test_fuzz_syntax_characters(text: str) -> None:
    _check_parses_or_value_error(text)


_TOKENS = st.one_of(
    st.sampled_from(sorted(ALL_NAMES)),
    st.sampled_from([*class_names(), "%net", "all", "none", "%", "%%", "?", "!", "/", "@"]),
    st.text(alphabet=_SYNTAX, max_size=8),
)


@settings(deadline=None, max_examples=300)
@given(
    st.text(alphabet="!", max_size=2),
    st.lists(_TOKENS, min_size=1, max_size=5),
    st.sampled_from(["", "@64", "@32", "@x32", "@"]),
)
def test_fuzz_near_valid_sets(bangs: str, tokens: list[str], suffix: str) -> None:
    _check_parses_or_value_error(bangs + ",".join(token + suffix for token in tokens))


def _names_in(abis: list[Abi]) -> list[str]:
    return sorted(frozenset().union(*(names(abi) for abi in abis)))


@st.composite
def _valid_items(draw: st.DrawFn) -> str:
    """One item that parses: a name, class, regex, number, all, or a ?-excused unknown."""
    abi = draw(st.none() | st.sampled_from(machine_abis()))
    abis = list(machine_abis()) if abi is None else [abi]
    suffix = "" if abi is None else "@" + DESIGNATOR[abi]
    kind = draw(st.sampled_from(["name", "class", "regex", "number", "all", "unknown"]))
    if kind == "name":
        body = draw(st.sampled_from(_names_in(abis)))
    elif kind == "class":
        body = draw(st.sampled_from([*class_names(), "%net", *LEGACY_CLASSES]))
    elif kind == "regex":
        name = draw(st.sampled_from(_names_in(abis)))
        body = "/" + draw(st.sampled_from([f"^{name}$", name, name[:3], f"{name[-2:]}$", "."]))
    elif kind == "number":
        numbers = sorted({call.nr for a in abis for call in syscalls(a)})
        body = draw(st.sampled_from(["", "0"])) + str(draw(st.sampled_from(numbers)))
    elif kind == "all":
        body = "all"
    else:
        body = "?" + draw(st.from_regex(r"[a-z_%!0-9]{0,12}", fullmatch=True))
    optional = draw(st.booleans()) and kind != "unknown"
    return ("?" if optional else "") + body + suffix


_BANGS = st.text(alphabet="!", max_size=3)
_VALID_SETS = st.one_of(
    st.tuples(_BANGS, st.lists(_valid_items(), min_size=1, max_size=6)).map(
        lambda parts: parts[0] + ",".join(parts[1])
    ),
    st.tuples(_BANGS, st.sampled_from(["all", "none"])).map("".join),
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_VALID_SETS)
def test_round_trip(text: str) -> None:
    syscall_set = parse_syscall_set(text)
    canonical = str(syscall_set)
    again = parse_syscall_set(canonical)
    assert again == syscall_set
    assert hash(again) == hash(syscall_set)
    assert str(again) == canonical
    for abi in machine_abis():
        assert again.names(abi) == syscall_set.names(abi)


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_valid_items(), min_size=1, max_size=5))
def test_a_set_is_the_union_of_its_items_and_bang_complements_it(items: list[str]) -> None:
    text = ",".join(items)
    syscall_set = parse_syscall_set(text)
    negated = parse_syscall_set("!" + text)
    for abi in machine_abis():
        union = frozenset().union(*(parse_syscall_set(item).names(abi) for item in items))
        assert syscall_set.names(abi) == union
        assert negated.names(abi) == set(names(abi)) - union
    assert syscall_set.is_all == all(syscall_set.names(a) == set(names(a)) for a in machine_abis())


# ---------------------------------------------------------------------------------------------
# Cross-check against the installed strace
# ---------------------------------------------------------------------------------------------

STRACE = shutil.which("strace")

# A C program that makes calls of every class, built for the machine (and i386 on x86-64).
PROBE_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char big[1024];

int main(void)
{
    struct stat st;
    struct statfs sf;
    struct sigaction sa = {0};
    sigset_t set;
    gid_t groups[8];
    char buf[64];
    int fds[2];

    stat("/", &st);
    lstat("/", &st);
    fstat(0, &st);
    fstatat(AT_FDCWD, "/", &st, 0);
    /* glibc implements stat() with newer calls: make the old ones directly. */
#ifdef SYS_stat
    syscall(SYS_stat, "/", big);
    syscall(SYS_lstat, "/", big);
#endif
#ifdef SYS_stat64
    syscall(SYS_stat64, "/", big);
    syscall(SYS_lstat64, "/", big);
    syscall(SYS_fstat64, 0, big);
#endif
    statfs("/", &sf);
    fstatfs(0, &sf);
    access("/", F_OK);
    readlink("/proc/self/exe", buf, sizeof buf);
    getcwd(buf, sizeof buf);
    int fd = open("/dev/null", O_RDONLY);
    read(fd, buf, 1);
    lseek(fd, 0, SEEK_SET);
    dup2(fd, 10);
    fcntl(fd, F_GETFD);
    close(10);
    close(fd);
    pipe(fds);
    write(fds[1], "x", 1);
    read(fds[0], buf, 1);
    close(fds[0]);
    close(fds[1]);
    /* The vDSO answers these without entering the kernel: make real calls. */
    syscall(SYS_clock_gettime, CLOCK_REALTIME, big);
    syscall(SYS_clock_getres, CLOCK_REALTIME, big);
    syscall(SYS_gettimeofday, big, NULL);
#ifdef SYS_time
    syscall(SYS_time, NULL);
#endif
    syscall(SYS_getpid);
    syscall(SYS_getppid);
    syscall(SYS_gettid);
    getuid();
    geteuid();
    getgid();
    getegid();
    getpgrp();
    getpgid(0);
    setuid(getuid());
    setgid(getgid());
    getgroups(8, groups);
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    close(sock);
    socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    send(fds[0], "x", 1, 0);
    recv(fds[1], buf, 1, 0);
    shutdown(fds[0], SHUT_RDWR);
    close(fds[0]);
    close(fds[1]);
    int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (shm >= 0) {
        void *at = shmat(shm, NULL, 0);
        if (at != (void *)-1)
            shmdt(at);
        shmctl(shm, IPC_RMID, NULL);
    }
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (sem >= 0)
        semctl(sem, 0, IPC_RMID);
    int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (msg >= 0)
        msgctl(msg, IPC_RMID, NULL);
    void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(map, 4096, PROT_READ);
    madvise(map, 4096, MADV_DONTNEED);
    munmap(map, 4096);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    sigemptyset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    return 0;
}
"""


class Traced(NamedTuple):
    """A command to run under strace, and the ABIs its calls can come from."""

    label: str
    argv: tuple[str, ...]
    abis: tuple[Abi, ...]


def _build_probe(directory: Path, *flags: str) -> str | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    source = directory / "probe.c"
    source.write_text(PROBE_C)
    output = directory / ("probe" + "".join(flags))
    result = subprocess.run(
        [cc, "-O1", *flags, "-o", str(output), str(source)], capture_output=True, check=False
    )
    return str(output) if result.returncode == 0 else None


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> list[Traced]:
    """The commands of the cross-check; skips when strace cannot trace here."""
    if STRACE is None:
        pytest.skip("strace is not installed")
    works = subprocess.run(
        [STRACE, "-qq", "-o", os.devnull, "true"], capture_output=True, check=False
    )
    if works.returncode != 0:
        pytest.skip(f"strace does not work here: {works.stderr.decode(errors='replace')}")
    native = machine_abis()[:1]  # x86_64, or aarch64
    commands = [
        Traced("ls", ("ls", "-l", "/"), native),
        Traced("sh", ("sh", "-c", "echo hi | cat"), native),
        Traced("date", ("date",), native),
        Traced(
            "python",
            (sys.executable, "-c", "import socket, os; socket.socket(); os.stat('/')"),
            native,
        ),
    ]
    commands = [c for c in commands if shutil.which(c.argv[0])]
    directory = tmp_path_factory.mktemp("strace-probe")
    probe = _build_probe(directory)
    if probe is not None:
        commands.append(Traced("probe", (probe,), native))
    probe32 = _build_probe(directory, "-m32") if native == (Abi.X86_64,) else None
    if probe32 is not None:
        # The 32-bit program starts as the 64-bit execve that loads it.
        commands.append(Traced("probe -m32", (probe32,), (Abi.X86_64, Abi.I386)))
    return commands


# "PID name(" on entry or a whole call, "PID <... name resumed>" when another task came between.
_CALL_LINE = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_][a-z0-9_]*)(?:\(| resumed>)")
# A call that returned ("= ?" is one that never does, like exit_group).
_RETURNED = re.compile(r"\)\s+= [^?]")


def _strace(command: Traced, output: Path, *filters: str) -> Iterator[str]:
    """Runs ``command`` under strace with ``filters``; yields the lines of the trace."""
    assert STRACE is not None
    result = subprocess.run(
        [
            STRACE,
            "-f",
            "-qq",
            "-e",
            "signal=none",
            *filters,
            "-o",
            str(output),
            "--",
            *command.argv,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{command.label}: {result.stderr.decode(errors='replace')}"
    yield from output.read_text(errors="replace").splitlines()


def _delayed(command: Traced, output: Path, set_text: str) -> tuple[set[str], set[str]]:
    """The calls ``command`` made that strace put in ``set_text``, and those it left out.

    With every call traced and ``-e inject=SET:delay_enter=1``, strace marks exactly the calls
    of SET "(DELAYED)" on return; a call that returned unmarked is outside SET. The first line
    is the execve strace starts in, too early to be delayed, and is left out.
    """
    inside: set[str] = set()
    outside: set[str] = set()
    filters = ("-e", "trace=all", "-e", f"inject={set_text}:delay_enter=1")
    for line in list(_strace(command, output, *filters))[1:]:
        match = _CALL_LINE.match(line)
        if match is None or match.group(1) not in ALL_NAMES:
            continue
        if "(DELAYED)" in line:
            inside.add(match.group(1))
        elif _RETURNED.search(line):
            outside.add(match.group(1))
    return inside, outside


@pytest.mark.parametrize("cls", class_names())
def test_strace_agrees(cls: str, traced: list[Traced], tmp_path: Path) -> None:
    trace_file = tmp_path / "trace"
    printed_anything = False
    for command in traced:
        ours = frozenset().union(*(syscalls_in_class(cls, abi) for abi in command.abis))

        # -e trace=%CLASS: everything strace prints is in the class. Names in no table
        # (socketcall's "send" and "recv" on i386) are strace's own and are left out.
        printed = set()
        for line in _strace(command, trace_file, "-e", f"trace={cls}"):
            match = _CALL_LINE.match(line)
            assert match or line.startswith("[ Process"), line
            if match and match.group(1) in ALL_NAMES:
                printed.add(match.group(1))
        assert printed <= ours, f"{command.label}: strace's {cls} has {printed - ours}"
        printed_anything |= bool(printed)

        # The reverse: what strace leaves out of the class, we leave out too.
        inside, outside = _delayed(command, trace_file, cls)
        assert inside <= ours, f"{command.label}: strace's {cls} has {inside - ours}"
        assert not outside & ours, f"{command.label}: strace's {cls} lacks {outside & ours}"
    in_machine = any(syscalls_in_class(cls, abi) for abi in machine_abis())  # (no lstat on arm64)
    if in_machine and any(command.label.startswith("probe") for command in traced):
        assert printed_anything, f"the probe program made no {cls} call"


# Texts strace and parse_syscall_set both accept or both refuse. Left out are the differences
# the module docstring documents (empty items) and calls newer than strace 6.1.
_SAME_VERDICT = [
    pytest.param("open,close", marks=x86_64_only),
    pytest.param("!open,close", marks=x86_64_only),
    pytest.param("!!open", marks=x86_64_only),
    "all",
    "none",
    "!none",
    pytest.param("open,all", marks=x86_64_only),
    "%file,%net",
    "signal",
    "?",
    "?opnat",
    "?%fle,read",
    "?/zzz",
    "?1x",
    pytest.param("stat64", marks=x86_64_only),
    pytest.param("0,1@32", marks=x86_64_only),
    "all@64",
    "/^(.*_)?statv?fs",
    "%desc@x32",
    "opnat",
    "%fle",
    "%FILE",
    "ALL",
    "Open",
    "open,none",
    "none@64",
    "open,!close",
    "!",
    "/(",
    "?/(",
    "/zzz",
    "stat64@64",
    "open@65",
    "99999",
    "1x",
    "@64",
]


@pytest.mark.parametrize("text", _SAME_VERDICT)
def test_strace_accepts_what_we_accept(text: str, traced: list[Traced]) -> None:
    assert STRACE is not None
    result = subprocess.run(
        [STRACE, "-qq", "-o", os.devnull, "-e", f"trace={text}", "true"],
        capture_output=True,
        check=False,
    )
    try:
        parse_syscall_set(text)
    except ValueError as error:
        assert result.returncode != 0, f"strace accepts {text!r}; we say: {error}"
    else:
        assert result.returncode == 0, f"we accept {text!r}; strace says: {result.stderr!r}"


@pytest.mark.parametrize(
    "text",
    [
        "!%file",
        "/^(open|close)",
        "!read,write",
        pytest.param("%desc@32", marks=x86_64_only),
        "%desc@64",
        "?opnat,getpid",
        "!!getpid",
        "0,1,2,3",
        "!/^get",
        "%memory,%ipc",
        pytest.param("all@32", marks=x86_64_only),
        "!%process,%signal",
    ],
)
def test_strace_selects_what_we_select(text: str, traced: list[Traced], tmp_path: Path) -> None:
    syscall_set = parse_syscall_set(text)
    probes = [command for command in traced if command.label.startswith("probe")]
    if not probes:
        pytest.skip("the probe program did not build")
    for command in probes:
        # After its first line (the execve strace starts in) a probe makes calls of one ABI.
        abi = command.abis[-1]
        ours = syscall_set.names(abi)
        inside, outside = _delayed(command, tmp_path / "trace", text)
        assert inside | outside, f"{command.label}: no call seen"
        assert inside <= ours, f"{command.label}: strace also selects {inside - ours}"
        assert not outside & ours, f"{command.label}: strace does not select {outside & ours}"


def test_error_messages_stay_short_for_escaped_characters() -> None:
    # repr() writes such characters as \x1f or \U0001xxxx: the quoted text is cut by its repr.
    text = "@000000000000000" + "\x1f" * 4 + "\x08" + "\U00011af9\U00012544\U00014647" * 4
    _check_parses_or_value_error(text)
    _check_parses_or_value_error("\U0002ebe1" * 200)
