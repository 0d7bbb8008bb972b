"""32-bit programs whose C library makes socket calls through ``socketcall``: a rule on a socket
call sees them as that call, on every backend (see ``sysemu.abi.socketcall``).

Debian's i386 C library makes ``socket``, ``bind``, ``connect``, ``send``, ``accept`` and
``recv`` as ``socketcall(SYS_..., args)``; tests/programs/unix_exchange.c makes each once.
Without the engine's demultiplexing, every rule below would be walked past by the 32-bit
build.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from sysemu import Abi, Emulator
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Result

from .conftest import Programs

BACKENDS = ("seccomp", "ptrace", "sysemu", "auto", "unotify")
PTRACE_BACKENDS = ("seccomp", "ptrace", "sysemu", "auto")
WHOLE_EXCHANGE = [
    "socket 0", "bind 0", "listen 0", "connect 0", "send 0", "accept 0", "recv 0", "received hi"
]  # fmt: skip


def exchange(emu: Emulator, program: str, listen: Path, connect: Path) -> list[str]:
    """Run the exchange under ``emu``; its output lines."""
    result = emu.run([program, str(listen), str(connect)], capture_output=True, timeout=60)
    assert result.exit_code == 0, result.stderr
    return (result.stdout or b"").decode().splitlines()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rule_on_connect_sees_and_fails_a_32_bit_connect(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    seen: list[tuple[Abi, str, int]] = []
    emu = Emulator(backend=backend)

    @emu.on("connect", decides_only=True)
    def refuse(call: Call) -> Decision | None:
        address = call.args.socket_address(1)
        seen.append((call.abi, str(address), call.args.addrlen))
        return call.fail(errno.ECONNREFUSED)

    socket = tmp_path / "s.sock"
    lines = exchange(emu, programs.m32("unix_exchange"), socket, socket)
    assert lines == ["socket 0", "bind 0", "listen 0", f"connect {errno.ECONNREFUSED}"]
    assert len(seen) == 1
    abi, address, length = seen[0]
    assert abi is Abi.I386 and str(socket) in address and length == 110


@pytest.mark.parametrize("backend", BACKENDS)
def test_conditions_of_a_demultiplexed_call_are_checked(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    """The filter cannot check a condition on arguments that are in memory: Python does, so
    a rule for another fd leaves the connect alone, and one for this fd fails it."""
    emu = Emulator(backend=backend)
    emu.add("connect", lambda call: call.fail(errno.EACCES), sockfd=99, decides_only=True)
    emu.add("listen", lambda call: call.fail(errno.EADDRINUSE), backlog=1, decides_only=True)
    socket = tmp_path / "s.sock"
    lines = exchange(emu, programs.m32("unix_exchange"), socket, socket)
    assert lines[:3] == ["socket 0", "bind 0", f"listen {errno.EADDRINUSE}"]
    assert "connect 0" in lines or f"connect {errno.ECONNREFUSED}" in lines


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_a_rewritten_32_bit_connect_reaches_another_socket_and_results_are_seen(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    """A rewrite makes the direct call (i386 has them since Linux 4.3) with the new
    arguments; send, accept and recv (SYS_SEND, SYS_ACCEPT, SYS_RECV) are seen as sendto,
    accept4 and recvfrom, as the kernel makes them, with their results."""
    listen, elsewhere = tmp_path / "listen.sock", tmp_path / "nowhere.sock"
    results: list[tuple[str, int]] = []
    emu = Emulator(backend=backend)

    @emu.on("connect")
    def redirect(call: Call) -> Decision | None:
        original = call.read(call.raw[1], call.args.value(2))
        moved = original.replace(elsewhere.name.encode(), listen.name.encode())
        assert moved != original
        return call.rewrite(addr=moved.ljust(len(original), b"\0"))

    @emu.on(["sendto", "accept4", "recvfrom"])
    def observe(call: Call) -> Decision | None:
        def finished(result: Result) -> None:
            results.append((call.name, result.value))

        return call.observe(finished)

    lines = exchange(emu, programs.m32("unix_exchange"), listen, elsewhere)
    assert lines == WHOLE_EXCHANGE
    names = [name for name, _ in results]
    assert names == ["sendto", "accept4", "recvfrom"]
    assert results[0][1] == 2 and results[2][1] == 2 and results[1][1] > 2


def test_the_trace_shows_a_32_bit_programs_socket_calls_as_strace_does(
    programs: Programs, tmp_path: Path
) -> None:
    """Lines as strace writes them, from the words of the array; SYS_SEND, SYS_ACCEPT and
    SYS_RECV as the calls the kernel makes of them (strace names them send, accept, recv)."""
    program = programs.m32("unix_exchange")
    socket = tmp_path / "s.sock"
    command = [program, str(socket), str(socket)]
    strace = subprocess.run(
        ["strace", "-qq", "-e", "trace=socket,bind,listen,connect", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if strace.returncode != 0:
        pytest.skip(f"strace failed: {strace.stderr.strip()}")
    log = tmp_path / "trace.log"
    wanted = "trace=socket,bind,listen,connect,sendto,accept4,recvfrom"
    ran = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", f"-e{wanted}", "-o", str(log), "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    ours = [line for line in log.read_text().splitlines() if not line.startswith("+++")]
    assert ours[:5] == strace.stderr.splitlines()
    assert [" ".join(line.split()) for line in ours[5:]] == [
        'sendto(4, "hi", 2, 0, NULL, 0) = 2',
        "accept4(3, NULL, NULL, 0) = 5",
        'recvfrom(5, "hi", 7, 0, NULL, NULL) = 2',
    ]


def test_tracing_every_call_shows_the_operations_not_socketcall(
    programs: Programs, tmp_path: Path
) -> None:
    socket = tmp_path / "s.sock"
    log = tmp_path / "trace.log"
    command = [programs.m32("unix_exchange"), str(socket), str(socket)]
    ran = subprocess.run(
        [sys.executable, "-m", "sysemu", "run", "--trace", "-o", str(log), "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    text = log.read_text()
    assert "socketcall(" not in text
    assert f'connect(4, {{sa_family=AF_UNIX, sun_path="{socket}"}}, 110) = 0' in text
    assert 'recvfrom(5, "hi", 7, 0, NULL, NULL) = 2' in " ".join(text.split())


@pytest.mark.parametrize("backend", PTRACE_BACKENDS)
def test_the_virtual_filesystem_maps_a_32_bit_programs_socket_names(
    programs: Programs, tmp_path: Path, backend: str
) -> None:
    """bind and connect to a name under a bind point: both rewritten in the array, so the
    socket is made and found where the bind point leads (the virtual directory does not
    exist on the host)."""
    emu = Emulator(backend=backend)
    emu.fs.bind("/sysemu-virtual-sockets", str(tmp_path))
    seen: list[str] = []

    @emu.on("bind", abi=Abi.I386)
    def note(call: Call) -> Decision | None:
        seen.append(str(call.args.socket_address(1)))
        return None

    name = Path("/sysemu-virtual-sockets/s.sock")
    assert exchange(emu, programs.m32("unix_exchange"), name, name) == WHOLE_EXCHANGE
    assert seen and str(name) in seen[0]
