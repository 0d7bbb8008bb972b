"""The injection spec parser: strace's syntax, our options, and bad input."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sysemu.tools.inject.spec import InjectSpecError, When, parse_inject_spec


def test_strace_syntax() -> None:
    spec = parse_inject_spec("chdir:error=ENOENT:when=3+")
    assert spec.error == errno.ENOENT
    assert spec.when == When(3, None, None, every=True)
    assert "chdir" in spec.syscalls
    assert parse_inject_spec("openat,close:retval=0x10").retval == 16
    assert parse_inject_spec("%file:error=13").error == errno.EACCES
    assert parse_inject_spec("getpid:signal=USR1").signal == 10
    assert parse_inject_spec("read:delay_enter=10ms:delay_exit=5").delay_exit_ns == 5000


def test_our_options() -> None:
    spec = parse_inject_spec(
        "write:error=ENOSPC:fdpath=*/app.log:fd=3:pid=root,!42:probability=0.25:when=2..5+2"
    )
    assert spec.fdpath == "*/app.log" and spec.fd == 3 and spec.probability == 0.25
    assert spec.pids is not None and spec.pids.matches(100, root=100)
    assert not spec.pids.matches(42, root=100)
    assert spec.when is not None and [n for n in range(1, 9) if spec.when.matches(n)] == [2, 4]
    after = parse_inject_spec("write:retval=1:after")
    assert after.after and after.retval == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no syscall set"),
        ("opnat:error=EIO", "unknown syscall 'opnat'"),
        ("openat", "nothing to inject"),
        ("openat:error=EFOO", "unknown errno name 'EFOO'"),
        ("openat:error=0", "out of range 1..4095"),
        ("openat:error=EIO:retval=1", "exclude each other"),
        ("openat:when=0:error=EIO", "first must be between 1 and 65535"),
        ("openat:when=5..3:error=EIO", "last (3) is before first (5)"),
        ("openat:when=x:error=EIO", "when must be FIRST"),
        ("openat:signal=SIGFOO", "SIGFOO"),
        ("openat:delay_enter=5m", "duration"),
        ("openat:after", "after needs error= or retval="),
        ("openat:error", "needs a value"),
        ("openat:bogus=1:error=EIO", "unknown option 'bogus'"),
        ("openat:probability=0:error=EIO", "probability must be in (0, 1]"),
        ("openat:pid=abc:error=EIO", "pid must be"),
        ("openat:syscall=getpid:error=EIO", "not supported"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InjectSpecError) as caught:
        parse_inject_spec(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"inject spec {text!r}: ")


names = st.sampled_from(["openat", "write", "read", "getpid", "%file", "%desc", "/^sta", "!close"])
errors = st.sampled_from(["ENOENT", "EIO", "ENOSPC", "13"])
option = st.one_of(
    errors.map(lambda e: f"error={e}"),
    st.integers(-5, 2**20).map(lambda v: f"retval={v}"),
    st.sampled_from(["USR1", "SIGTERM", "9"]).map(lambda s: f"signal={s}"),
    st.tuples(st.integers(1, 999), st.sampled_from(["", "s", "ms", "us", "ns"])).map(
        lambda d: f"delay_enter={d[0]}{d[1]}"
    ),
    st.tuples(st.integers(1, 50), st.integers(0, 50), st.sampled_from(["", "+", "+3"])).map(
        lambda w: f"when={w[0]}{'..' + str(w[0] + w[1]) if w[1] else ''}{w[2]}"
    ),
    st.sampled_from(["path=/etc/*", "fdpath=*/x.log", "fd=2", "pid=root", "pid=!root,7"]),
    st.floats(0.01, 1).map(lambda p: f"probability={p}"),
)


@given(st.lists(names, min_size=1, max_size=3), st.lists(option, min_size=1, max_size=5))
def test_round_trip(syscalls: list[str], options: list[str]) -> None:
    text = ":".join([",".join(syscalls), *options])
    try:
        spec = parse_inject_spec(text)
    except InjectSpecError:
        return  # e.g. error and retval together, or nothing to inject
    assert parse_inject_spec(str(spec)) == spec


@given(st.text(max_size=80))
def test_garbage_is_a_clear_error_never_a_traceback(text: str) -> None:
    try:
        parse_inject_spec(text)
    except InjectSpecError as error:
        assert "\n" not in str(error).replace(repr(text), "")
