#!/usr/bin/env python3
"""Compare sysemu's trace of a program with strace's, call by call.

Usage::

    python3 scripts/compare_strace.py [-v [-n N]] [--differences N] [--keep DIR] [--timeout S] \\
        [--] CMD [ARG...]
    python3 scripts/compare_strace.py --corpus [--markdown] [--differences N] [-v [-n N]]

CMD runs twice: once as ``strace -f -qq -y -s 64 -o FILE1 CMD`` and once as
``python3 -m sysemu run --trace -y -s 64 -o FILE2 -- CMD`` (same cwd, environment, stdin and
stdout). Both traces are parsed (pid prefixes, ``<unfinished ...>``/``<... resumed>`` pairs
joined back into one call, signal lines kept apart, exit lines dropped) and compared thread by
thread:

* threads are paired by their place in the process tree (the root, then the k-th thread that
  thread created, recursively), that is by order of appearance under each parent, since the
  tids of the two runs differ;
* each pair's syscall names are aligned with ``difflib.SequenceMatcher``: "names+order" is the
  share of calls that align (over the longer of the two sequences);
* for aligned calls, "returns" is the share whose result values agree: errors by errno name,
  numbers and fds exactly, pids through the thread pairing, addresses and values that differ
  from run to run (``rt_sigreturn``, ``time``) as "any"; how the value is written (hex, octal,
  an fd's ``<path>``, strace's ``(flags FD_CLOEXEC)`` after it) is listed as "return text";
* "args" is the share of argument positions whose text agrees after normalisation: addresses
  (hex numbers of 7+ digits), pids, pipe/socket inodes, times, random bytes and mkstemp names
  are replaced by placeholders; a missing or extra argument counts as a mismatch.

One summary line is printed per program. ``--verbose`` adds the first ``-n`` differences,
strace's line above sysemu's; ``--differences N`` a table of the N most widespread systematic
ones (the same syscall and argument differing the same way): the to-do list of sysemu's
decoders. The exit status is 0 unless a run failed (strace or sysemu missing, a timeout, no
trace written, or different exit statuses under the two tracers, which points at the tracer).

Importable: ``compare(argv, cwd=..., env=..., timeout=...)`` returns a ``Comparison``;
``parse_trace(text)`` and ``compare_traces(strace_text, sysemu_text)`` work on saved traces.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STRING_LIMIT = 64
# Differences kept for --verbose per comparison; the counts cover all of them.
_KEPT_DIFFERENCES = 200
_EXAMPLE_WIDTH = 110

# --- Parsing ---------------------------------------------------------------------------------

# strace writes "1234 " before every line to a file under -f, and "[pid 1234] " to a terminal;
# sysemu writes "[pid 1234] " only while it traces more than one thread.
_PREFIX = re.compile(r"(?:\[pid\s+(\d+)\]|(\d+))\s+")
_SIGNAL = re.compile(r"--- (\S+)")
_RESUMED = re.compile(r"<\.\.\. (\w+) resumed>\s?(.*)$")
_CALL = re.compile(r"(\w+)\(")
_UNFINISHED = "<unfinished ...>"
_MARKS = (" (INJECTED)", " (REWRITTEN)")
# Calls whose positive result is the id of a new thread or process.
_CLONES = frozenset({"clone", "clone3", "fork", "vfork"})
# Calls whose result is the calling thread's id.
_OWN_TID = frozenset({"gettid", "set_tid_address"})


@dataclass(frozen=True)
class TracedCall:
    """One syscall of a trace: its name, argument texts, result text and the joined line."""

    name: str
    args: tuple[str, ...]
    ret: str
    line: str


@dataclass
class Trace:
    """A parsed trace: calls and signals per thread, in order of first appearance."""

    threads: dict[int, list[TracedCall]] = field(default_factory=dict)
    signals: dict[int, list[str]] = field(default_factory=dict)
    # Thread -> threads it created (results of its clone/fork calls), in creation order.
    children: dict[int, list[int]] = field(default_factory=dict)
    unparsed: list[str] = field(default_factory=list)

    @property
    def call_count(self) -> int:
        """How many calls the trace holds."""
        return sum(len(calls) for calls in self.threads.values())


def split_arguments(text: str, start: int = 0) -> tuple[list[str], int]:
    """The top-level arguments of a call whose ``(`` is just before ``start``, and the index
    after its closing ``)`` (-1 when the text ends first).

    Commas inside strings, ``[...]``, ``{...}``, ``(...)``, ``/* comments */`` and fd paths
    (``3</a,b>``) do not split.
    """
    args: list[str] = []
    depth = 0
    begin = index = start
    end = len(text)
    while index < end:
        char = text[index]
        if char == '"':
            index += 1
            while index < end and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char == "/" and text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = end if close < 0 else close + 1
        elif char == "<" and index > 0 and text[index - 1].isalnum():
            # An fd path: "3</usr/lib/x>" or "AT_FDCWD</tmp>"; pipes have brackets inside.
            close = text.find(">", index + 1)
            index = end if close < 0 else close
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                if char == ")":
                    args.append(text[begin:index].strip())
                    if args == [""]:
                        args = []
                    return args, index + 1
            else:
                depth -= 1
        elif char == "," and depth == 0:
            args.append(text[begin:index].strip())
            begin = index + 1
        index += 1
    args.append(text[begin:].strip())
    return args, -1


def parse_call(text: str) -> TracedCall | None:
    """``name(args) = result`` as a call; None for anything else."""
    match = _CALL.match(text)
    if match is None:
        return None
    args, after = split_arguments(text, match.end())
    if after < 0:
        return None
    result = re.match(r"\s*=\s*(.*)$", text[after:])
    if result is None:
        return None
    ret = result.group(1).strip()
    for mark in _MARKS:
        ret = ret.removesuffix(mark)
    return TracedCall(match.group(1), tuple(args), ret, text)


class _Parser:
    """Attributes lines to threads and joins split calls.

    sysemu omits the ``[pid N]`` prefix while a single thread is traced, so an unprefixed line
    belongs to the only live thread. The first thread's id is unknown until a prefix shows it:
    it is kept under a placeholder and renamed when an unknown tid appears that no clone call
    returned (a new child's id is always the result of one of its parent's calls, printed or
    announced as ``<unfinished ...>`` before the child's first line).
    """

    def __init__(self) -> None:
        self.trace = Trace()
        self.live: list[int] = []
        self.placeholder: int | None = None
        self.next_placeholder = -1
        self.created: set[int] = set()
        self.pending: dict[int, str] = {}

    def owner(self, tid: int | None) -> int:
        if tid is None:
            if self.placeholder is not None:
                return self.placeholder
            if self.live:
                # One live thread normally; otherwise the oldest is the best guess.
                return self.live[0]
            self.placeholder = self.next_placeholder
            self.next_placeholder -= 1
            self._add(self.placeholder)
            return self.placeholder
        if tid in self.live or tid in self.trace.threads:
            if tid not in self.live:
                self.live.append(tid)
            return tid
        if self.placeholder is not None and tid not in self.created:
            self._rename(self.placeholder, tid)
            self.placeholder = None
            return tid
        self._add(tid)
        return tid

    def _add(self, tid: int) -> None:
        self.live.append(tid)
        self.trace.threads.setdefault(tid, [])

    def _rename(self, old: int, new: int) -> None:
        trace = self.trace
        trace.threads = {(new if k == old else k): v for k, v in trace.threads.items()}
        if old in trace.signals:
            trace.signals[new] = trace.signals.pop(old)
        if old in trace.children:
            trace.children[new] = trace.children.pop(old)
        if old in self.pending:
            self.pending[new] = self.pending.pop(old)
        self.live = [new if t == old else t for t in self.live]

    def feed(self, raw: str) -> None:
        line = raw.rstrip("\n")
        if not line.strip():
            return
        prefix = _PREFIX.match(line)
        tid: int | None = None
        if prefix is not None:
            tid = int(prefix.group(1) or prefix.group(2))
            line = line[prefix.end() :]
        who = self.owner(tid)
        if line.startswith("+++ "):
            # "+++ exited with 0 +++", "+++ killed by SIGKILL +++", "+++ superseded ... +++".
            if who in self.live:
                self.live.remove(who)
            if who == self.placeholder:
                self.placeholder = None
            return
        if line.startswith("[ "):
            # A note, not a call: strace's "[ Process PID=1 runs in 32 bit mode. ]", sysemu's
            # "[ Operations submitted through io_uring are not traced ]".
            return
        if line.startswith("--- "):
            match = _SIGNAL.match(line)
            if match is not None:
                self.trace.signals.setdefault(who, []).append(match.group(1))
            return
        resumed = _RESUMED.match(line)
        if resumed is not None:
            head = self.pending.pop(who, f"{resumed.group(1)}(")
            self._record(who, head + resumed.group(2))
            return
        if line.rstrip().endswith(_UNFINISHED):
            self.pending[who] = line.rstrip().removesuffix(_UNFINISHED).rstrip()
            return
        self._record(who, line)

    def finish(self) -> None:
        """Close the calls still ``<unfinished ...>`` at the end: they never returned (the
        program was killed in them)."""
        for who, head in self.pending.items():
            self._record(who, head + ") = ?")
        self.pending.clear()

    def _record(self, who: int, text: str) -> None:
        call = parse_call(text)
        if call is None:
            self.trace.unparsed.append(text)
            return
        self.trace.threads.setdefault(who, []).append(call)
        if who == self.placeholder and call.name in _OWN_TID and call.ret.isdigit():
            # A lone thread never shows its tid in a prefix, but these calls return it.
            tid = int(call.ret)
            if tid not in self.trace.threads:
                self._rename(who, tid)
                self.placeholder = None
        if call.name in _CLONES and re.fullmatch(r"\d+", call.ret.split("<")[0]):
            child = int(call.ret.split("<")[0])
            if child > 0:
                self.created.add(child)
                self.trace.children.setdefault(who, []).append(child)


def parse_trace(text: str | Iterable[str]) -> Trace:
    """A trace in strace's ``-f`` format (strace's or sysemu's) as calls per thread."""
    parser = _Parser()
    for line in text.splitlines() if isinstance(text, str) else text:
        parser.feed(line)
    parser.finish()
    return parser.trace


def thread_keys(trace: Trace) -> dict[int, str]:
    """Each thread's place in the process tree: ``1`` for the first, ``1.2`` for the second
    thread ``1`` created...; threads no clone result names get ``?N`` in order of appearance."""
    keys: dict[int, str] = {}
    created = {child for children in trace.children.values() for child in children}

    def assign(tid: int, key: str) -> None:
        keys[tid] = key
        for number, child in enumerate(trace.children.get(tid, []), 1):
            if child not in keys:
                assign(child, f"{key}.{number}")

    orphans = 0
    for tid in trace.threads:
        if tid in keys:
            continue
        if not keys and tid not in created:
            assign(tid, "1")
        else:
            orphans += 1
            assign(tid, f"?{orphans}")
    return keys


# --- Normalisation ---------------------------------------------------------------------------

_ADDRESS = re.compile(r"\b0x[0-9a-f]{7,}\b")
_INODE = re.compile(r"\b(pipe|socket|net|anon_inode:\[[\w-]+\]):\[\d+\]")
_TIME_FIELD = re.compile(
    r"\b(tv_sec|tv_nsec|tv_usec|si_utime|si_stime|ru_utime|ru_stime|st_atime|st_mtime|st_ctime"
    r"|stx_atime|stx_mtime|stx_ctime|stx_btime)=(\{[^}]*\}|[^,}\]]*)"
)
_SI_PID = re.compile(r"\bsi_pid=(\d+)")
_PROC_PID = re.compile(r"/proc/(\d+)(?=/|>|\"|$)")
# mkstemp names (gcc's /tmp/ccAbC123.s): six random letters and digits after a short stem.
_MKSTEMP = re.compile(r"(/tmp/[a-z]{1,8})[A-Za-z0-9]{6}(?=[.\"<>/]|$)")
_NUMBER = re.compile(r"-?\d+")

# Results that differ from run to run whatever the tracer.
_ANY_RETURN = frozenset({"rt_sigreturn", "sigreturn", "restart_syscall", "time", "times"})
_PID_RETURN = frozenset({
    "getpid", "gettid", "getppid", "getpgrp", "getpgid", "getsid", "set_tid_address",
    "clone", "clone3", "fork", "vfork", "wait4", "waitpid",
})  # fmt: skip
_ADDRESS_RETURN = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
# Argument positions that hold a pid (or a negated process group).
_PID_ARGS: dict[str, tuple[int, ...]] = {
    "kill": (0,), "tkill": (0,), "tgkill": (0, 1), "wait4": (0,), "waitid": (1,),
    "setpgid": (0, 1), "getpgid": (0,), "getsid": (0,), "prlimit64": (0,),
    "sched_getaffinity": (0,), "sched_setaffinity": (0,), "sched_getparam": (0,),
    "sched_getscheduler": (0,), "pidfd_open": (0,), "process_vm_readv": (0,),
    "process_vm_writev": (0,), "rt_sigqueueinfo": (0,), "rt_tgsigqueueinfo": (0, 1),
}  # fmt: skip
# Arguments that are random by design.
_RANDOM_ARGS: dict[str, tuple[int, ...]] = {"getrandom": (0,)}


class Pids:
    """Turns the pids of one run into thread keys that the other run shares."""

    def __init__(self, keys: dict[int, str]) -> None:
        self.keys = keys

    def __call__(self, number: int) -> str:
        if number <= 0:
            # 0, -1 (any child), or a negated process group.
            if number < -1 and -number in self.keys:
                return f"-pid:{self.keys[-number]}"
            return str(number)
        key = self.keys.get(number)
        return f"pid:{key}" if key is not None else "pid:?"

    def text(self, text: str) -> str:
        """Pids inside a text: ``si_pid=N`` and ``/proc/N``."""
        text = _SI_PID.sub(lambda m: f"si_pid={self(int(m.group(1)))}", text)
        return _PROC_PID.sub(lambda m: f"/proc/{self(int(m.group(1)))}", text)


def normalise_text(text: str, pids: Pids) -> str:
    """A text with what differs between two runs of the same program replaced."""
    text = _ADDRESS.sub("0xADDR", text)
    text = _INODE.sub(r"\1:[INODE]", text)
    text = _TIME_FIELD.sub(r"\1=*", text)
    text = _MKSTEMP.sub(r"\1XXXXXX", text)
    return pids.text(text)


def normalise_arg(name: str, index: int, text: str, pids: Pids) -> str:
    """Argument ``index`` of syscall ``name`` with run-dependent values replaced."""
    if index in _RANDOM_ARGS.get(name, ()):
        return "*"
    if index in _PID_ARGS.get(name, ()) and _NUMBER.fullmatch(text):
        return pids(int(text))
    return normalise_text(text, pids)


@dataclass(frozen=True)
class Returned:
    """A result split as ``value<decoration> extra``: ``3</etc/x>``, ``-1 ENOENT (...)``."""

    value: str
    decoration: str
    errno: str | None
    extra: str


_RETURN = re.compile(r"(-?\d+|0x[0-9a-f]+|\?)(<[^>]*>)?(?:\s+(.*))?$")


def parse_return(text: str) -> Returned:
    """Split a result text."""
    match = _RETURN.match(text)
    if match is None:
        return Returned(text, "", None, "")
    value, decoration, extra = match.group(1), match.group(2) or "", match.group(3) or ""
    errno: str | None = None
    if value in ("-1", "?"):
        named = re.match(r"(E[A-Z0-9]+)\b", extra)
        numbered = re.match(r"errno (\d+)", extra)
        if named is not None:
            errno = named.group(1)
        elif numbered is not None:
            errno = f"errno {numbered.group(1)}"
    return Returned(value, decoration, errno, extra)


def _number(value: str) -> int:
    """``12``, ``0x1f`` or, as strace prints a umask, ``022``."""
    if len(value) > 1 and value.startswith("0") and value.isdigit():
        return int(value, 8)
    return int(value, 0)


def return_class(name: str, text: str, pids: Pids) -> str:
    """The value that must agree between the two runs' results of a call (how it is written,
    an fd's ``<path>`` and strace's explanations after it are compared by ``return_form``)."""
    returned = parse_return(text)
    if returned.errno is not None:
        return f"error {returned.errno}"
    if returned.value == "?" or name in _ANY_RETURN:
        return returned.value if returned.value == "?" else "any"
    try:
        number = _number(returned.value)
    except ValueError:
        return text
    if name in _PID_RETURN:
        return pids(number)
    if name in _ADDRESS_RETURN or (returned.value.startswith("0x") and number >= 1 << 32):
        return "address"
    return str(number)


def return_form(text: str, pids: Pids) -> tuple[str, str, str]:
    """How a result is written: the base of its number, its fd path, the text after it."""
    returned = parse_return(text)
    value = returned.value
    if value.startswith("0x"):
        base = "hex"
    elif len(value) > 1 and value.startswith("0"):
        base = "octal"
    else:
        base = "decimal"
    return base, normalise_text(returned.decoration, pids), normalise_text(returned.extra, pids)


# --- Comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One place where the traces differ: ``kind`` is ``sequence`` (calls present in one trace
    only), ``return``, ``args`` or ``thread`` (a thread only one trace has)."""

    thread: str
    position: int
    kind: str
    strace: tuple[str, ...]
    sysemu: tuple[str, ...]


@dataclass
class Tally:
    """How often one systematic difference was seen, with its first example."""

    count: int = 0
    strace: str = ""
    sysemu: str = ""
    programs: set[str] = field(default_factory=set)


@dataclass
class Comparison:
    """The result of comparing strace's and sysemu's traces of one run of a program."""

    argv: list[str]
    strace_calls: int = 0
    sysemu_calls: int = 0
    aligned: int = 0
    total: int = 0
    returns_matched: int = 0
    args_matched: int = 0
    args_total: int = 0
    threads: tuple[int, int, int] = (0, 0, 0)  # strace's, sysemu's, paired
    signals: tuple[int, int, int] = (0, 0, 0)  # strace's, sysemu's, aligned
    differences: list[Difference] = field(default_factory=list)
    difference_count: int = 0
    # (syscall, what) -> tally; what is "arg N", "argument count", "return", "return text",
    # "missing in sysemu" or "extra in sysemu".
    systematic: dict[tuple[str, str], Tally] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    strace_status: int | None = None
    sysemu_status: int | None = None
    unparsed: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))

    @property
    def failed(self) -> bool:
        """Whether a run failed (the rates then mean little)."""
        return bool(self.errors)

    @property
    def name_rate(self) -> float:
        """Share of calls whose names align, in percent."""
        return _percent(self.aligned, self.total)

    @property
    def return_rate(self) -> float:
        """Share of aligned calls whose results agree, in percent."""
        return _percent(self.returns_matched, self.aligned)

    @property
    def args_rate(self) -> float:
        """Share of argument positions of aligned calls whose texts agree, in percent."""
        return _percent(self.args_matched, self.args_total)

    def summary(self) -> str:
        """``names+order match 97.3% (1234/1268 calls), returns 95.1%, args 88.0%``."""
        text = (
            f"names+order match {self.name_rate:.1f}% ({self.aligned}/{self.total} calls), "
            f"returns {self.return_rate:.1f}%, args {self.args_rate:.1f}% "
            f"[threads {self.threads[0]}/{self.threads[1]}, "
            f"signals {self.signals[2]}/{max(self.signals[0], self.signals[1])}]"
        )
        unparsed = tuple(len(lines) for lines in self.unparsed)
        if any(unparsed):
            text += f" [lines not understood: strace {unparsed[0]}, sysemu {unparsed[1]}]"
        if self.errors:
            text += " FAILED: " + "; ".join(self.errors)
        return text

    def note(self, syscall: str, what: str, strace: str, sysemu: str) -> None:
        """Count one systematic difference."""
        tally = self.systematic.setdefault((syscall, what), Tally())
        if not tally.count:
            tally.strace, tally.sysemu = strace, sysemu
        tally.count += 1
        tally.programs.add(" ".join(self.argv))

    def add_difference(self, difference: Difference) -> None:
        """Keep a difference for --verbose (the first few) and count it."""
        self.difference_count += 1
        if len(self.differences) < _KEPT_DIFFERENCES:
            self.differences.append(difference)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def _compare_call(
    result: Comparison,
    pids: tuple[Pids, Pids],
    *,
    key: str,
    position: int,
    ours: TracedCall,
    theirs: TracedCall,
) -> None:
    """Compare an aligned pair: ``ours`` from strace, ``theirs`` from sysemu."""
    name = ours.name
    if return_class(name, ours.ret, pids[0]) == return_class(name, theirs.ret, pids[1]):
        result.returns_matched += 1
        if return_form(ours.ret, pids[0]) != return_form(theirs.ret, pids[1]):
            result.note(name, "return text", ours.ret, theirs.ret)
    else:
        result.note(name, "return", ours.ret, theirs.ret)
        result.add_difference(Difference(key, position, "return", (ours.line,), (theirs.line,)))
    count = max(len(ours.args), len(theirs.args))
    result.args_total += count
    differs = False
    for index in range(min(len(ours.args), len(theirs.args))):
        left = normalise_arg(name, index, ours.args[index], pids[0])
        right = normalise_arg(name, index, theirs.args[index], pids[1])
        if left == right:
            result.args_matched += 1
        else:
            differs = True
            result.note(name, f"arg {index + 1}", ours.args[index], theirs.args[index])
    if len(ours.args) != len(theirs.args):
        differs = True
        result.note(
            name,
            "argument count",
            f"{len(ours.args)}: {', '.join(ours.args)}",
            f"{len(theirs.args)}: {', '.join(theirs.args)}",
        )
    if differs:
        result.add_difference(Difference(key, position, "args", (ours.line,), (theirs.line,)))


def compare_traces(strace_text: str, sysemu_text: str, argv: Sequence[str] = ()) -> Comparison:
    """Compare two saved traces of the same program: strace's and sysemu's."""
    result = Comparison(list(argv))
    ours, theirs = parse_trace(strace_text), parse_trace(sysemu_text)
    result.unparsed = (ours.unparsed, theirs.unparsed)
    our_keys, their_keys = thread_keys(ours), thread_keys(theirs)
    pids = (Pids(our_keys), Pids(their_keys))
    their_by_key = {key: tid for tid, key in their_keys.items() if tid in theirs.threads}
    result.strace_calls, result.sysemu_calls = ours.call_count, theirs.call_count
    paired = 0
    seen: set[int] = set()
    signals_aligned = 0
    for tid, calls in ours.threads.items():
        key = our_keys[tid]
        other = their_by_key.get(key)
        if other is None:
            result.total += len(calls)
            result.add_difference(
                Difference(key, 0, "thread", tuple(c.line for c in calls[:5]), ())
            )
            continue
        seen.add(other)
        paired += 1
        other_calls = theirs.threads[other]
        result.total += max(len(calls), len(other_calls))
        matcher = difflib.SequenceMatcher(
            None, [c.name for c in calls], [c.name for c in other_calls], autojunk=False
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                result.aligned += i2 - i1
                for offset in range(i2 - i1):
                    _compare_call(
                        result,
                        pids,
                        key=key,
                        position=i1 + offset + 1,
                        ours=calls[i1 + offset],
                        theirs=other_calls[j1 + offset],
                    )
                continue
            for call in calls[i1:i2]:
                result.note(call.name, "missing in sysemu", call.line, "")
            for call in other_calls[j1:j2]:
                result.note(call.name, "extra in sysemu", "", call.line)
            result.add_difference(
                Difference(
                    key, i1 + 1, "sequence",
                    tuple(c.line for c in calls[i1:i2]),
                    tuple(c.line for c in other_calls[j1:j2]),
                )
            )  # fmt: skip
        our_signals = ours.signals.get(tid, [])
        their_signals = theirs.signals.get(other, [])
        signal_matcher = difflib.SequenceMatcher(None, our_signals, their_signals, autojunk=False)
        signals_aligned += sum(block.size for block in signal_matcher.get_matching_blocks())
    for tid, calls in theirs.threads.items():
        if tid not in seen:
            result.total += len(calls)
            result.add_difference(
                Difference(their_keys[tid], 0, "thread", (), tuple(c.line for c in calls[:5]))
            )
    result.threads = (len(ours.threads), len(theirs.threads), paired)
    result.signals = (
        sum(map(len, ours.signals.values())),
        sum(map(len, theirs.signals.values())),
        signals_aligned,
    )
    return result


# --- Running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    status: int | None
    stderr: str
    timed_out: bool


def _run(argv: Sequence[str], cwd: str | None, env: dict[str, str] | None, timeout: float) -> _Run:
    """Run a tracer in its own session, so a timeout can end the whole traced tree."""
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            return _Run(None, stderr, True)
        return _Run(process.returncode, stderr, False)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def compare(
    argv: list[str],
    *,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    prepare: Callable[[], None] | None = None,
    keep: str | None = None,
) -> Comparison:
    """Run ``argv`` under strace, then under sysemu, and compare the two traces.

    ``prepare`` is called before each run (to put back files the first run changed);
    ``keep`` is a directory where both traces are left as ``strace.txt`` and ``sysemu.txt``.
    """
    strace = shutil.which("strace")
    if strace is None:
        result = Comparison(list(argv))
        result.errors.append("strace is not installed")
        return result
    with tempfile.TemporaryDirectory(prefix="compare-strace-") as scratch:
        folder = Path(keep) if keep is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        strace_file, sysemu_file = folder / "strace.txt", folder / "sysemu.txt"
        strace_file.unlink(missing_ok=True)
        sysemu_file.unlink(missing_ok=True)
        limit = str(STRING_LIMIT)
        commands = (
            [strace, "-f", "-qq", "-y", "-s", limit, "-o", str(strace_file), "--", *argv],
            [sys.executable, "-m", "sysemu", "run", "--trace", "-y", "-s", limit,
             "-o", str(sysemu_file), "--", *argv],
        )  # fmt: skip
        runs = []
        for command in commands:
            if prepare is not None:
                prepare()
            runs.append(_run(command, cwd, env, timeout))
        strace_text, sysemu_text = _read(strace_file), _read(sysemu_file)
    result = compare_traces(strace_text, sysemu_text, argv)
    result.strace_status, result.sysemu_status = runs[0].status, runs[1].status
    for tool, run, text in (("strace", runs[0], strace_text), ("sysemu", runs[1], sysemu_text)):
        if run.timed_out:
            result.errors.append(f"{tool} timed out after {timeout:g} s")
        if not text.strip():
            result.errors.append(f"{tool} wrote no trace: {_last_line(run.stderr)}")
        if "Traceback (most recent call last)" in run.stderr:
            result.errors.append(f"{tool} raised: {_last_line(run.stderr)}")
    if not any(run.timed_out for run in runs) and not _same_status(runs[0].status, runs[1].status):
        result.errors.append(
            f"exit status {runs[0].status} under strace, {runs[1].status} under sysemu "
            f"({_last_line(runs[1].stderr)})"
        )
    return result


def _same_status(strace_status: int | None, sysemu_status: int | None) -> bool:
    """Whether both tracers report the same end: strace kills itself with the signal that
    killed the program (status -N here), sysemu exits with 128 + N as shells do."""
    if strace_status is not None and strace_status < 0:
        return sysemu_status in (strace_status, 128 - strace_status)
    return strace_status == sysemu_status


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


# --- A corpus of real programs ---------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """A corpus entry: run ``argv`` in a fresh directory that ``setup`` fills."""

    label: str
    argv: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


def _git_repo(folder: Path) -> None:
    """A repository with one commit and one untracked file, the same bytes for both runs (a
    fixed identity, dates and mtimes, so that the commit's hash and object paths agree)."""
    shutil.rmtree(folder / ".git", ignore_errors=True)
    stamp = "2020-01-01T00:00:00Z"
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
               GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)  # fmt: skip
    for name in ("tracked.txt", "untracked.txt"):
        (folder / name).write_text(f"{name}\n")
        os.utime(folder / name, (1577836800, 1577836800))
    for step in (["init", "-q"], ["add", "tracked.txt"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *step], cwd=folder, env=env, check=True, capture_output=True)


def _c_file(folder: Path) -> None:
    (folder / "hello.o").unlink(missing_ok=True)
    (folder / "hello.c").write_text("int answer(void) { return 42; }\n")


# The interpreter running this script rather than "python3" from PATH, which may be a shim (a
# shell script that runs pyenv first) or not depending on how the script was started.
_PYTHON = os.path.realpath(sys.executable)
_THREADS = (
    "import threading; ts = [threading.Thread(target=print, args=(i,)) for i in range(3)]; "
    "[t.start() for t in ts]; [t.join() for t in ts]"
)

CORPUS: tuple[Program, ...] = (
    Program("cat /etc/hostname", ("cat", "/etc/hostname")),
    Program("ls -la /usr", ("ls", "-la", "/usr")),
    Program("sh -c 'echo hi | tr a-z A-Z'", ("sh", "-c", "echo hi | tr a-z A-Z")),
    Program(
        "python3 -c 'import json; print(json.dumps({1: 2}))'",
        (_PYTHON, "-c", "import json; print(json.dumps({1: 2}))"),
    ),
    Program("git --version", ("git", "--version")),
    Program("git status (fresh repo)", ("git", "status"), _git_repo),
    Program("gcc -c hello.c", ("gcc", "-c", "hello.c", "-o", "hello.o"), _c_file),
    Program("date", ("date",)),
    Program(
        "tar cf /dev/null /usr/include/linux", ("tar", "cf", "/dev/null", "/usr/include/linux")
    ),
    # Beyond the list: threads (futex races) and posix_spawn (vfork).
    Program("python3: 3 threads print", (_PYTHON, "-c", _THREADS)),
    Program(
        "python3: subprocess.run(['true'])",
        (_PYTHON, "-c", "import subprocess; subprocess.run(['true'])"),
    ),
)


def run_program(program: Program, *, timeout: float = 60) -> Comparison:
    """Compare the traces of one corpus program, run in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="trace-match-") as folder:
        setup = program.setup
        prepare = (lambda: setup(Path(folder))) if setup is not None else None
        result = compare(list(program.argv), cwd=folder, timeout=timeout, prepare=prepare)
    result.argv = [program.label]
    return result


# --- Output ----------------------------------------------------------------------------------


def _cut(text: str, width: int = _EXAMPLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_differences(result: Comparison, count: int) -> list[str]:
    """The first ``count`` differences, strace's line above sysemu's."""
    lines: list[str] = []
    for difference in result.differences[:count]:
        where = f"thread {difference.thread}, call {difference.position}"
        lines.append(f"  [{difference.kind}] {where}")
        for tool, texts in (("strace", difference.strace), ("sysemu", difference.sysemu)):
            shown = list(texts[:6]) or ["(nothing)"]
            if len(texts) > 6:
                shown.append(f"... {len(texts) - 6} more")
            for text in shown:
                lines.append(f"    {tool}: {_cut(text, 150)}")
    if result.difference_count > count:
        lines.append(f"  ... {result.difference_count - count} more differences")
    return lines


def merge_systematic(results: Iterable[Comparison]) -> dict[tuple[str, str], Tally]:
    """The systematic differences of several comparisons, added up."""
    merged: dict[tuple[str, str], Tally] = {}
    for result in results:
        for key, tally in result.systematic.items():
            total = merged.setdefault(key, Tally(0, tally.strace, tally.sysemu))
            total.count += tally.count
            total.programs |= tally.programs
    return merged


def format_systematic(table: dict[tuple[str, str], Tally], count: int) -> list[str]:
    """The ``count`` most frequent systematic differences as a Markdown table."""
    lines = [
        "| syscall | what | times | programs | strace | sysemu |",
        "|---|---|---|---|---|---|",
    ]
    ranked = sorted(table.items(), key=lambda item: (-len(item[1].programs), -item[1].count))
    for (syscall, what), tally in ranked[:count]:
        strace_text = _cut(tally.strace).replace("|", "\\|")
        sysemu_text = _cut(tally.sysemu).replace("|", "\\|")
        lines.append(
            f"| {syscall} | {what} | {tally.count} | {len(tally.programs)} "
            f"| `{strace_text}` | `{sysemu_text}` |"
        )
    return lines


def format_table(results: Sequence[Comparison]) -> list[str]:
    """The measured table, in Markdown."""
    lines = [
        "| program | calls (strace / sysemu) | threads | names+order | returns | args |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        failed = " (FAILED)" if result.failed else ""
        label = " ".join(result.argv).replace("|", "\\|")
        lines.append(
            f"| `{label}`{failed} | {result.strace_calls} / "
            f"{result.sysemu_calls} | {result.threads[0]} / {result.threads[1]} | "
            f"{result.name_rate:.1f}% | {result.return_rate:.1f}% | {result.args_rate:.1f}% |"
        )
    totals = Comparison(["all"])
    for result in results:
        totals.aligned += result.aligned
        totals.total += result.total
        totals.returns_matched += result.returns_matched
        totals.args_matched += result.args_matched
        totals.args_total += result.args_total
    lines.append(
        f"| **all** | {sum(r.strace_calls for r in results)} / "
        f"{sum(r.sysemu_calls for r in results)} | | {totals.name_rate:.1f}% | "
        f"{totals.return_rate:.1f}% | {totals.args_rate:.1f}% |"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Compare sysemu's trace of a program with strace's.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show the first differences")
    parser.add_argument(
        "-n", type=int, default=20, metavar="N", help="how many differences --verbose shows (20)"
    )
    parser.add_argument(
        "--differences", type=int, default=0, metavar="N",
        help="show the N most frequent systematic differences",
    )  # fmt: skip
    parser.add_argument("--corpus", action="store_true", help="run the built-in corpus")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--keep", metavar="DIR", help="leave both traces in DIR")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per run (60)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD [ARG...]")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if options.corpus == bool(command):
        parser.error("give either CMD or --corpus")
    results: list[Comparison] = []
    if options.corpus:
        programs: Iterable[Program] = CORPUS
    else:
        programs = [Program(" ".join(command), tuple(command))]
    for program in programs:
        if options.corpus:
            result = run_program(program, timeout=options.timeout)
        else:
            result = compare(list(program.argv), timeout=options.timeout, keep=options.keep)
        results.append(result)
        print(f"{program.label}: {result.summary()}", flush=True)
        if options.verbose:
            print("\n".join(format_differences(result, options.n)), flush=True)
    if options.markdown:
        print()
        print("\n".join(format_table(results)))
    if options.differences:
        print()
        print("\n".join(format_systematic(merge_systematic(results), options.differences)))
    return 1 if any(result.failed for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
