"""Children made with ``CLONE_UNTRACED`` are followed like any other, on every backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from sysemu import Call, Emulator
from sysemu.abi import abis_for_name, syscall_by_name
from sysemu.abi.abi import Abi, machine_abis
from sysemu.abi.clone import CLONE3_NUMBERS, CLONE_NUMBERS, CLONE_UNTRACED
from sysemu.api.conditions import HasBits
from sysemu.engine import untraced
from sysemu.engine.untraced import UNTRACED_ROUTE, untraced_rules
from sysemu.kernel import bpf, ptrace, seccomp

from .conftest import Programs, hang_limit

PTRACE_BACKENDS = ["seccomp", "ptrace", "sysemu", "auto"]
BACKENDS = [*PTRACE_BACKENDS, "unotify"]
SYSEMU = [sys.executable, "-m", "sysemu"]


def child_lines(how: str, uid: int) -> list[str]:
    return [f"{how} child: getuid={uid} getpid_matches=1 open=ok", f"{how} child: exited 0"]


EMULATED = [*child_lines("clone", 4242), *child_lines("clone3", 4242)]


def skip_without(backend: str) -> None:
    if backend in ("unotify", "auto") and not seccomp.has_user_notification():
        pytest.skip("no seccomp user notification here")


# The kernel's part, without the kernel: the BPF interpreter runs the engine's rules.
@pytest.mark.parametrize(
    ("name", "numbers"), [("clone", CLONE_NUMBERS), ("clone3", CLONE3_NUMBERS)]
)
def test_the_written_out_numbers_are_the_tables(
    name: str, numbers: dict[int, tuple[int, ...]]
) -> None:
    expected: dict[int, set[int]] = {}
    for call in abis_for_name(name, list(Abi)):
        expected.setdefault(call.abi.audit_arch, set()).add(call.filter_nr)
    assert {arch: set(nrs) for arch, nrs in numbers.items()} == expected


def test_only_clones_with_the_flag_stop_and_every_clone3_does() -> None:
    allow = bpf.SECCOMP_RET_ALLOW
    program = bpf.compile_filter(
        untraced_rules(), arch_defaults={abi.audit_arch: allow for abi in machine_abis()}
    )
    stop = bpf.SECCOMP_RET_TRACE | UNTRACED_ROUTE
    sigchld = int(signal.SIGCHLD)
    machine = {abi.audit_arch for abi in machine_abis()}
    for arch, nrs in CLONE_NUMBERS.items():
        if arch not in machine:
            continue  # (no rules for another machine's calls)
        for nr in nrs:
            assert bpf.run(program, nr, arch, [CLONE_UNTRACED | sigchld]) == stop
            assert bpf.run(program, nr, arch, [sigchld]) == allow  # free for everyone else
            # The kernel reads the low 32 bits of the flags: neither may the filter look higher.
            assert bpf.run(program, nr, arch, [CLONE_UNTRACED << 32 | sigchld]) == allow
    for arch, nrs in CLONE3_NUMBERS.items():
        for nr in nrs if arch in machine else ():
            assert bpf.run(program, nr, arch, [0x7FFF0000, 64]) == stop  # flags in memory
    native = machine_abis()[0]
    getpid = syscall_by_name("getpid", native).nr  # (an argument it lacks: no test may look)
    assert bpf.run(program, getpid, native.audit_arch, [CLONE_UNTRACED]) == allow


# Real children.
def test_natively_every_child_reports(programs: Programs) -> None:
    done = subprocess.run(
        [programs.untraced_clone], capture_output=True, text=True, timeout=60, check=False
    )
    uid = os.getuid()
    expected = [*child_lines("clone", uid), *child_lines("clone3", uid)]
    assert (done.returncode, done.stdout.splitlines()) == (0, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["clone", "clone3"])
def test_a_rule_reaches_the_untraced_child(programs: Programs, backend: str, which: str) -> None:
    skip_without(backend)
    emu = Emulator(backend=backend)
    emu.on("getuid", decides_only=True)(lambda call: call.emulate(4242))
    result = emu.run([programs.untraced_clone, which], capture_output=True, timeout=60)
    assert result.stdout is not None
    assert (result.exit_code, result.stdout.decode().splitlines()) == (
        0,
        child_lines(which, 4242),
    )
    if backend != "unotify":  # (which sees no process events)
        assert result.processes == 2


@pytest.mark.skipif(not ptrace.SPEEDUPS, reason="the C accelerator is not built")
def test_the_c_loop_follows_a_clone3_nobody_else_wants(
    programs: Programs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every clone3 stops for the engine (glibc makes threads and posix_spawn children with
    it); where no handler or observer wants it, the C loop clears the flag itself, without a
    trip to Python, and the child is followed all the same."""
    followed_in_python: list[int] = []
    follow = untraced.follow

    def counting(*args: Any, **kwargs: Any) -> tuple[int, ...]:
        followed_in_python.append(args[3])
        return follow(*args, **kwargs)

    monkeypatch.setattr(untraced, "follow", counting)
    emu = Emulator(backend="seccomp")
    emu.on("getuid")(lambda call: call.emulate(4242))
    result = emu.run([programs.untraced_clone, "clone3"], capture_output=True, timeout=60)
    assert result.stdout is not None
    assert result.stdout.decode().splitlines() == child_lines("clone3", 4242)
    assert (result.exit_code, result.processes, followed_in_python) == (0, 2, [])


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_handlers_of_clone_see_the_call_as_the_kernel_runs_it(
    programs: Programs, backend: str
) -> None:
    emu = Emulator(backend=backend)
    emu.on("getuid")(lambda call: call.emulate(4242))
    seen: list[tuple[str, int]] = []

    # A condition the kernel checks, on a call the engine stops too: checked again in Python.
    @emu.on("clone", flags=HasBits(signal.SIGCHLD))
    def clone(call: Call) -> None:
        seen.append(("clone", call.args.flags))

    @emu.on("clone3")
    def clone3(call: Call) -> None:
        flags = int.from_bytes(call.read(call.args.uargs, 8), "little")
        seen.append(("clone3", flags))

    result = emu.run([programs.untraced_clone], capture_output=True, timeout=60)
    assert result.stdout is not None
    assert (result.exit_code, result.stdout.decode().splitlines()) == (0, EMULATED)
    assert seen == [("clone", signal.SIGCHLD), ("clone3", 0)]


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_trace_follows_the_untraced_children(programs: Programs, backend: str) -> None:
    done = subprocess.run(
        [*SYSEMU, "run", "--backend", backend, "--inject", "getuid:retval=4242",
         "--trace=getuid,openat,clone,clone3", "--", programs.untraced_clone],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.splitlines()) == (0, EMULATED)
    trace = done.stderr.splitlines()
    children = [line for line in trace if '"/dev/null"' in line]
    assert len(children) == 2 and all(line.startswith("[pid ") for line in children), trace
    assert sum("getuid() = 4242 (INJECTED)" in " ".join(line.split()) for line in trace) == 2
    clones = [line for line in trace if "clone(" in line or "clone3(" in line]
    assert clones and not any("CLONE_UNTRACED" in line for line in clones)


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_a_32_bit_program_s_children_are_followed(programs: Programs, backend: str) -> None:
    emu = Emulator(backend=backend)
    emu.on("getuid")(lambda call: call.emulate(4242))  # (the i386 getuid too)
    result = emu.run([programs.m32("untraced_clone")], capture_output=True, timeout=60)
    assert result.stdout is not None
    assert (result.exit_code, result.stdout.decode().splitlines()) == (0, EMULATED)


@pytest.mark.parametrize("backend", BACKENDS)
def test_children_in_a_new_user_namespace_as_ioctl_nsfs_makes_them(
    programs: Programs, backend: str
) -> None:
    skip_without(backend)
    argv = [programs.untraced_clone, "both", "newuser"]
    native = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    if native.returncode != 0:
        pytest.skip(f"no user namespaces here: {native.stdout!r}")
    emu = Emulator(backend=backend)
    emu.on("getuid", decides_only=True)(lambda call: call.emulate(4242))
    result = emu.run(argv, capture_output=True, timeout=60)
    assert result.stdout is not None
    assert (result.exit_code, result.stdout.decode().splitlines()) == (0, EMULATED)


def test_attached_the_untraced_children_are_followed(programs: Programs) -> None:
    process = subprocess.Popen(
        [programs.untraced_clone, "both", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    watchdog = threading.Timer(hang_limit(60), process.kill)  # attach has no timeout of its own
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        emu = Emulator()
        emu.on("getuid")(lambda call: call.emulate(4242))

        def go() -> None:
            # Seized is not yet attached: a call made before the first stop goes unseen, and
            # an emulated machine stretches that moment. So the program is asked for getuid
            # until sysemu's answer comes back; only then may the clones come.
            assert process.stdin is not None and process.stdout is not None
            while True:
                process.stdin.write(b"p")
                process.stdin.flush()
                if process.stdout.readline() == b"probe: getuid=4242\n":
                    break
                time.sleep(0.01)
            process.stdin.write(b"x")
            process.stdin.close()

        threading.Thread(target=go, daemon=True).start()
        result = emu.attach(process.pid)
        assert result.processes == 3
        assert process.stdout.read().decode().splitlines() == EMULATED
    finally:
        watchdog.cancel()
        process.kill()
        process.wait(timeout=10)
