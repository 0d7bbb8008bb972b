"""The injection spec language: strace's ``-e inject=`` syntax, plus conditions strace lacks.

Grammar (one spec; ``--inject`` may be given many times)::

    spec        = set *( ":" option )
    set         = strace's syscall set: names, !name, /regex, %class, all (comma-separated)
    option      = "error=" errno          ; ENOSPC or 1..4095: the call fails with it
                / "retval=" integer       ; the call returns this value (decimal or 0x...)
                / "short=" short          ; the kernel runs the call with its count cut
                / "signal=" signal        ; SIGUSR1, USR1 or 1..64: sent to the calling thread
                / "delay_enter=" duration ; wait before the call runs
                / "delay_exit=" duration  ; wait after the call ran
                / "when=" when            ; which matching calls (counted from 1)
                / "path=" glob            ; a path argument, resolved against cwd or dirfd
                / "fd=" integer           ; the call's file descriptor argument
                / "fdpath=" glob          ; what that descriptor refers to (/proc/PID/fd/N)
                / "pid=" pids             ; only these processes
                / "family=" families      ; socket's domain, or the address connect/bind/sendto pass
                / "probability=" number   ; inject with this probability (0 < p <= 1)
                / "after"                 ; error/retval replace the result after the call ran
    when        = first [ ".." last ] [ "+" [ step ] ]
    duration    = digits [ "s" / "ms" / "us" / "ns" ]  ; microseconds without a unit
    pids        = pid *( "," pid ),  pid = [ "!" ] ( integer / "root" )
    families    = family *( "," family ), family = inet / inet6 / unix / netlink / packet / AF_*
    short       = integer / percent "%"   ; at most that many bytes, or that share (1..99%)

At least one of error, retval, short, signal, delay_enter or delay_exit is required; error,
retval and short exclude each other; ``after`` needs error or retval. ``short`` rewrites the
byte count argument (``count`` of read/write/pread64/pwrite64, ``len`` of sendto/recvfrom...)
before the call runs, so that the kernel itself makes a short transfer; calls whose count is
already that small are not hit. Values cannot contain ``:``. An
option given twice keeps the last one, as in strace. ``when``: ``3`` is the third matching
call only, ``3+`` the third and every later one, ``3+2`` every second one from the third,
``3..5`` the third to fifth; first, last and step are 1..65535.
"""

from __future__ import annotations

import re

from sysemu._typing import NamedTuple
from sysemu.abi import MAX_ERRNO, errno_name, errno_number, signal_name, signal_number
from sysemu.abi.classes import SyscallSet, parse_syscall_set


class InjectSpecError(ValueError):
    """A spec that does not parse; the message is one line that names the spec."""


class When(NamedTuple):
    """Which matching calls are hit, counted from 1: see the module docstring."""

    first: int
    last: int | None = None
    step: int | None = None  # None: only ``first`` (unless ``every``); 1 with "+"
    every: bool = False  # "first+" without a step

    def matches(self, count: int) -> bool:
        """Whether the ``count``-th matching call is hit."""
        if count < self.first or (self.last is not None and count > self.last):
            return False
        if self.step is not None:
            return (count - self.first) % self.step == 0
        return self.every or self.last is not None or count == self.first

    def __str__(self) -> str:
        text = str(self.first)
        if self.last is not None:
            text += f"..{self.last}"
        if self.step is not None:
            text += f"+{self.step}"
        elif self.every:
            text += "+"
        return text


class Short(NamedTuple):
    """How ``short=`` cuts a byte count: to at most ``limit`` bytes, or to ``percent`` of it
    (at least 1)."""

    limit: int | None = None
    percent: int | None = None

    def cut(self, count: int) -> int | None:
        """The count the call runs with instead of ``count``; None when it is not shorter."""
        if self.limit is not None:
            cut = self.limit
        else:
            assert self.percent is not None
            cut = max(1, count * self.percent // 100)
        return cut if cut < count else None

    def __str__(self) -> str:
        return f"{self.percent}%" if self.percent is not None else str(self.limit)


class PidFilter(NamedTuple):
    """Processes a spec applies to: listed pids and ``root`` (the started process), or all
    but the negated ones."""

    include: frozenset[int | str]
    exclude: frozenset[int | str]

    def matches(self, pid: int, root: int) -> bool:
        """Whether process ``pid`` is selected, ``root`` being the started process."""
        keys = {pid, "root"} if pid == root else {pid}
        if keys & self.exclude:
            return False
        return not self.include or bool(keys & self.include)

    def __str__(self) -> str:
        def show(item: int | str) -> str:
            return str(item)

        parts = sorted(map(show, self.include)) + sorted("!" + show(i) for i in self.exclude)
        return ",".join(parts)


class InjectSpec(NamedTuple):
    """One parsed spec (see the module docstring); ``str()`` gives it back in canonical form."""

    syscalls: SyscallSet
    error: int | None = None
    retval: int | None = None
    short: Short | None = None
    signal: int | None = None
    delay_enter_ns: int = 0
    delay_exit_ns: int = 0
    when: When | None = None
    path: str | None = None
    fd: int | None = None
    fdpath: str | None = None
    pids: PidFilter | None = None
    families: frozenset[int] | None = None
    probability: float | None = None
    after: bool = False

    def __str__(self) -> str:
        parts = [str(self.syscalls)]
        if self.error is not None:
            parts.append(f"error={errno_text(self.error)}")
        if self.retval is not None:
            parts.append(f"retval={self.retval}")
        if self.short is not None:
            parts.append(f"short={self.short}")
        if self.signal is not None:
            parts.append(f"signal={signal_name(self.signal)}")
        if self.delay_enter_ns:
            parts.append(f"delay_enter={_show_duration(self.delay_enter_ns)}")
        if self.delay_exit_ns:
            parts.append(f"delay_exit={_show_duration(self.delay_exit_ns)}")
        if self.when is not None:
            parts.append(f"when={self.when}")
        if self.path is not None:
            parts.append(f"path={self.path}")
        if self.fd is not None:
            parts.append(f"fd={self.fd}")
        if self.fdpath is not None:
            parts.append(f"fdpath={self.fdpath}")
        if self.pids is not None:
            parts.append(f"pid={self.pids}")
        if self.families is not None:
            from sysemu.abi.sockaddr import family_name  # noqa: PLC0415 (specs with families)

            names = sorted(family_name(f).removeprefix("AF_").lower() for f in self.families)
            parts.append(f"family={','.join(names)}")
        if self.probability is not None:
            parts.append(f"probability={self.probability!r}")
        if self.after:
            parts.append("after")
        return ":".join(parts)


_DURATION = re.compile(r"(\d+)(s|ms|us|ns)?")
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1, None: 1_000}
_WHEN = re.compile(r"(\d+)(?:\.\.(\d+))?(\+(\d+)?)?")
_INTEGER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|\d+)")
_MAX_COUNT = 65535


def errno_text(number: int) -> str:
    """``ENOSPC``, or the number for an errno without a name (the grammar allows 1..4095)."""
    try:
        return errno_name(number)
    except ValueError:
        return str(number)


def _show_duration(ns: int) -> str:
    for unit in ("s", "ms", "us"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def _integer(text: str, what: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{what} must be an integer, not {text!r}")
    return int(text, 0)


def _duration(text: str, what: str) -> int:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{what} must be a duration like 10ms, 500us or 2s, not {text!r}")
    ns = int(match.group(1)) * _UNIT_NS[match.group(2)]
    if ns > 3600 * _UNIT_NS["s"]:
        raise ValueError(f"{what} is more than an hour: {text!r}")
    return ns


def _when(text: str) -> When:
    match = _WHEN.fullmatch(text)
    if match is None:
        raise ValueError(f"when must be FIRST[..LAST][+[STEP]], not {text!r}")
    first = int(match.group(1))
    last = None if match.group(2) is None else int(match.group(2))
    step = None if match.group(4) is None else int(match.group(4))
    for name, value in (("first", first), ("last", last), ("step", step)):
        if value is not None and not 1 <= value <= _MAX_COUNT:
            raise ValueError(f"when: {name} must be between 1 and {_MAX_COUNT}, not {value}")
    if last is not None and last < first:
        raise ValueError(f"when: last ({last}) is before first ({first})")
    every = match.group(3) is not None and step is None
    return When(first, last, step, every)


def _short(text: str) -> Short:
    if text.endswith("%"):
        percent = text[:-1]
        if not percent.isdigit() or not 1 <= int(percent) <= 99:
            raise ValueError(f"short=P% needs a share between 1% and 99%, not {text!r}")
        return Short(percent=int(percent))
    limit = _integer(text, "short")
    if not 1 <= limit < 1 << 63:
        raise ValueError(
            f"short must be a byte count of 1 or more, or a share like 50%, not {text!r}"
        )
    return Short(limit=limit)


def _pids(text: str) -> PidFilter:
    include: set[int | str] = set()
    exclude: set[int | str] = set()
    for item in text.split(","):
        negated = item.startswith("!")
        name = item[1:] if negated else item
        value: int | str
        if name == "root":
            value = "root"
        elif name.isdigit() and int(name) > 0:
            value = int(name)
        else:
            raise ValueError(f"pid must be a process id, 'root', or either with '!': {item!r}")
        (exclude if negated else include).add(value)
    return PidFilter(frozenset(include), frozenset(exclude))


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"probability must be a number, not {text!r}") from None
    if not 0 < value <= 1:
        raise ValueError(f"probability must be in (0, 1], not {text!r}")
    return value


def _glob(text: str, what: str) -> str:
    if not text:
        raise ValueError(f"{what} needs a pattern")
    return text


def parse_inject_spec(text: str) -> InjectSpec:
    """Parse one spec; raises :class:`InjectSpecError` with a one-line message."""
    try:
        return _parse(text)
    except InjectSpecError:
        raise
    except ValueError as error:
        raise InjectSpecError(f"inject spec {text!r}: {error}") from None


def _parse(text: str) -> InjectSpec:
    set_text, *options = text.split(":")
    if not set_text:
        raise ValueError("no syscall set before the first ':'")
    # Numbers no kernel has yet are fine: handlers may implement experimental calls.
    fields: dict[str, object] = {"syscalls": parse_syscall_set(set_text, any_number=True)}
    for option in options:
        key, equals, value = option.partition("=")
        if key == "after":
            if equals and value not in ("1", "yes", "true"):
                raise ValueError(f"after takes no value, not {value!r}")
            fields["after"] = True
            continue
        if not equals:
            raise ValueError(f"option {option!r} needs a value (name=value)")
        if key == "error":
            number = errno_number(value)
            if not 1 <= number <= MAX_ERRNO:
                raise ValueError(f"error must be between 1 and 4095, not {value!r}")
            fields["error"] = number
        elif key == "retval":
            retval = _integer(value, "retval")
            if not -(1 << 63) <= retval < 1 << 64:
                raise ValueError(f"retval does not fit a 64-bit register: {value!r}")
            fields["retval"] = retval
        elif key == "short":
            fields["short"] = _short(value)
        elif key == "signal":
            fields["signal"] = signal_number(value)
        elif key == "delay_enter":
            fields["delay_enter_ns"] = _duration(value, key)
        elif key == "delay_exit":
            fields["delay_exit_ns"] = _duration(value, key)
        elif key == "when":
            fields["when"] = _when(value)
        elif key == "path":
            fields["path"] = _glob(value, key)
        elif key == "fd":
            fd = _integer(value, "fd")
            if not 0 <= fd < 2**31:
                raise ValueError(f"fd must be a file descriptor number, not {value!r}")
            fields["fd"] = fd
        elif key == "fdpath":
            fields["fdpath"] = _glob(value, key)
        elif key == "pid":
            fields["pids"] = _pids(value)
        elif key == "family":
            from sysemu.abi.sockaddr import family_number  # noqa: PLC0415 (specs with families)

            fields["families"] = frozenset(family_number(name) for name in value.split(","))
        elif key == "probability":
            fields["probability"] = _probability(value)
        elif key == "syscall":
            raise ValueError("syscall= (inject another call) is not supported; use the API")
        else:
            known = ("error", "retval", "signal", "delay_enter", "delay_exit", "when", "path",
                     "fd", "fdpath", "pid", "family", "probability", "short", "after")  # fmt: skip
            from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415 (an error path)

            raise ValueError(f"unknown option {key!r}{did_you_mean(key, known)}")
    spec = InjectSpec(**fields)  # type: ignore[arg-type]
    if spec.error is not None and spec.retval is not None:
        raise ValueError("error and retval exclude each other")
    if spec.short is not None and (spec.error is not None or spec.retval is not None):
        raise ValueError("short runs the call: it excludes error and retval")
    if spec.after and spec.error is None and spec.retval is None:
        raise ValueError("after needs error= or retval=")
    if not (
        spec.error is not None
        or spec.retval is not None
        or spec.short is not None
        or spec.signal is not None
        or spec.delay_enter_ns
        or spec.delay_exit_ns
    ):
        raise ValueError("nothing to inject: give error=, retval=, short=, signal= or a delay")
    return spec
