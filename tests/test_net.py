"""Socket addresses in the handler API (``call.args.addr``, ``call.rewrite(addr=...)``),
against real programs talking to real servers on the loopback."""

from __future__ import annotations

import contextlib
import errno
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysemu import Emulator
from sysemu.abi import sockaddr
from sysemu.abi.sockaddr import SocketAddress
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Result
from sysemu.api.routes import HandlerError
from sysemu.engine.errors import UnsupportedError
from sysemu.tools import net
from sysemu.tools.inject import InjectSpecError, parse_inject_spec

from .conftest import Programs

# Rewriting an argument needs the registers: every backend but unotify.
REWRITING = ("seccomp", "ptrace", "sysemu", "auto")
BACKENDS = (*REWRITING, "unotify")

CLIENT = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
with socket.socket(family) as client:
    client.settimeout(20)
    client.connect((sys.argv[1], int(sys.argv[2])))
    print(client.getpeername()[1], client.recv(100).decode(), end="")
"""


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def greeting_server(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP server on ``host`` that greets each client; yields its port and stops on the
    way out whatever happened."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family)
    server.bind((host, 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.sendall(b"hello from the server\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        server.close()


def redirecting(emu: Emulator, wrong_port: int, target: tuple[str, int]) -> list[SocketAddress]:
    """Register the few lines of handler that send a client's connect to ``wrong_port``
    to ``target`` instead; returns the addresses the handler saw."""
    seen: list[SocketAddress] = []

    def redirect(call: Call) -> Decision | None:
        address = call.args.addr
        seen.append(address)
        if address is not None and address.port == wrong_port:
            return call.rewrite(addr=target)
        return None

    emu.handlers.add("connect", redirect, needs_ptrace=True)
    return seen


@pytest.mark.parametrize("backend", REWRITING)
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_clients_connect_is_redirected_to_another_port(backend: str, host: str) -> None:
    wrong_port = unused_port(host)
    with greeting_server(host) as port:
        emu = Emulator(backend=backend)
        seen = redirecting(emu, wrong_port, (host, port))
        result = emu.run(
            [sys.executable, "-c", CLIENT, host, str(wrong_port)],
            capture_output=True,
            timeout=60,
        )
    assert result.stderr == b""
    assert result.exit_code == 0
    # The kernel connected it to the server, and getpeername says so.
    assert result.stdout == f"{port} hello from the server\n".encode()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    assert [(a.family, a.host, a.port) for a in seen if a is not None] == [
        (family, host, wrong_port)
    ]
    assert seen[0] is not None and seen[0].family_name == family.name
    assert result.stats["connect"].rewritten == 1


def test_without_the_handler_the_client_is_refused() -> None:
    # The control: the port the client names really has nobody listening.
    wrong_port = unused_port()
    result = Emulator().run(
        [sys.executable, "-c", CLIENT, "127.0.0.1", str(wrong_port)],
        capture_output=True,
        timeout=60,
    )
    assert result.exit_code == 1
    assert b"ConnectionRefusedError" in result.stderr


def test_unotify_refuses_an_address_rewrite_before_the_program_starts() -> None:
    emu = Emulator(backend="unotify")
    redirecting(emu, 1, ("127.0.0.1", 2))
    with pytest.raises(UnsupportedError, match="rewrites arguments"):
        emu.run(["true"], timeout=60)


def test_unotify_reports_a_rewrite_from_an_undeclared_handler() -> None:
    wrong_port = unused_port()
    emu = Emulator(backend="unotify")

    @emu.on("connect")
    def redirect(call: Call) -> Decision | None:
        return call.rewrite(addr=("127.0.0.1", 1))

    with pytest.raises(HandlerError) as raised:
        emu.run([sys.executable, "-c", CLIENT, "127.0.0.1", str(wrong_port)], timeout=60)
    assert "cannot carry out Rewrite" in str(raised.value.__cause__)


UNIX_CLIENT = """
import socket, sys
with socket.socket(socket.AF_UNIX) as client:
    client.connect(sys.argv[1])
    print(client.recv(100).decode(), end="")
"""


@pytest.mark.parametrize("backend", REWRITING)
@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_an_af_unix_connect_is_redirected_to_a_path(
    backend: str, abstract: bool, tmp_path: Path
) -> None:
    real = f"\0sysemu-test-{id(tmp_path)}" if abstract else str(tmp_path / "real.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(real)
    server.listen()

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _peer = server.accept()
            with connection:
                connection.sendall(b"unix hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    seen: list[str | None] = []

    def redirect(call: Call) -> Decision | None:
        address = call.args.addr
        seen.append(None if address is None else address.path)
        if address is not None and address.path == "/nonexistent/app.sock":
            return call.rewrite(addr=real)
        return None

    emu = Emulator(backend=backend)
    emu.handlers.add("connect", redirect, needs_ptrace=True)
    try:
        result = emu.run(
            [sys.executable, "-c", UNIX_CLIENT, "/nonexistent/app.sock"],
            capture_output=True,
            timeout=60,
        )
    finally:
        server.close()  # (wakes nothing: the thread's accept is answered or times out)
        thread.join(1)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"unix hello\n"
    assert "/nonexistent/app.sock" in seen


SERVER = """
import socket, sys
with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen()
    print(server.getsockname()[1], flush=True)
    connection, peer = server.accept()
    print(peer[1], flush=True)
    connection.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.sendto(b"ping", udp.getsockname())
        data, source = udp.recvfrom(10)
        print(source[1], flush=True)
"""


@pytest.mark.parametrize("backend", REWRITING)
def test_addresses_the_kernel_fills_are_read_in_a_result_hook(backend: str) -> None:
    """accept's peer, recvfrom's source and getsockname's name, read after the call ran;
    sendto's destination at entry."""
    seen: dict[str, list[SocketAddress | None]] = {}

    def remember(call: Call) -> Decision | None:
        if call.name == "sendto":
            seen.setdefault("sendto", []).append(call.args.addr)
            return None

        def filled(result: Result) -> None:
            if not result.failed:
                seen.setdefault(call.name, []).append(call.args.addr)

        return call.observe(filled)

    emu = Emulator(backend=backend)
    emu.handlers.add(["accept4", "accept", "recvfrom", "getsockname", "sendto"], remember)
    # The program connects to itself: a client thread would do, a second process is plainer.
    program = SERVER.replace(
        "connection, peer = server.accept()",
        "import threading\n"
        "    peer_socket = socket.socket()\n"
        "    threading.Thread(target=peer_socket.connect, args=(server.getsockname(),)).start()\n"
        "    connection, peer = server.accept()",
    )
    result = emu.run([sys.executable, "-c", program], capture_output=True, timeout=60)
    assert result.exit_code == 0, result.stderr
    listening, peer_port, source_port = map(int, result.stdout.split())
    [accepted] = seen["accept4"] + seen.get("accept", [])
    assert accepted is not None and (accepted.host, accepted.port) == ("127.0.0.1", peer_port)
    names = [a.port for a in seen["getsockname"] if a is not None]
    assert listening in names and source_port in names
    assert [(a.host, a.port) for a in seen["recvfrom"] if a is not None] == [
        ("127.0.0.1", source_port)
    ]
    assert [(a.host, a.port) for a in seen["sendto"] if a is not None] == [
        ("127.0.0.1", source_port)
    ]


def test_socket_addresses_encode_and_decode_both_ways() -> None:
    for endpoint, size, shown in [
        (("127.0.0.1", 8080), 16, "127.0.0.1:8080"),
        (("::1", 443), 28, "[::1]:443"),
        ("/run/app.sock", 2 + 13 + 1, "/run/app.sock"),
        ("\0name", 2 + 5, "@name"),
        ("", 2, ""),
    ]:
        data = sockaddr.encode(endpoint)
        assert len(data) == size
        decoded = sockaddr.decode(data)
        assert decoded is not None and str(decoded) == shown
        assert sockaddr.encode(decoded) == data
    # The layout as C has it: the family in host order, the port in network order.
    assert sockaddr.encode(("10.1.2.3", 0x1234)) == (b"\x02\x00\x12\x34\x0a\x01\x02\x03" + bytes(8))
    for bad in [("localhost", 80), ("127.0.0.1", 70000), ("1.2.3.4", 1, 0, 5), "x" * 109]:
        with pytest.raises(ValueError):
            sockaddr.encode(bad)  # type: ignore[arg-type]
    assert sockaddr.decode(b"\x02") is None
    assert sockaddr.family_number("inet6") == socket.AF_INET6
    assert sockaddr.family_number("AF_UNIX") == socket.AF_UNIX
    loopback = [("127.0.0.9", True), ("0.0.0.0", True), ("10.0.0.1", False), ("::1", True),
                ("::ffff:127.0.0.1", True), ("2001:db8::1", False)]  # fmt: skip
    for host, expected in loopback:
        decoded = sockaddr.decode(sockaddr.encode((host, 1)))
        assert decoded is not None and sockaddr.is_loopback(decoded) is expected, host


# --- --deny-network and --inject family= ------------------------------------------------------

SYSEMU = [sys.executable, "-m", "sysemu", "run"]

NETWORK_USER = """
import socket, sys
for host, port in (arg.rsplit(":", 1) for arg in sys.argv[1:]):
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=20) as client:
            print(host, client.recv(100).decode().strip())
    except OSError as error:
        print(host, error.errno)
left, right = socket.socketpair()
left.send(b"unix works")
print(right.recv(100).decode())
"""


def sysemu_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYSEMU, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_deny_network_fails_inet_sockets_and_keeps_unix_ones(backend: str) -> None:
    with greeting_server() as port, greeting_server("::1") as port6:
        result = sysemu_run(
            f"--backend={backend}",
            "--deny-network",
            "--",
            sys.executable,
            "-c",
            NETWORK_USER,
            f"127.0.0.1:{port}",
            f"[::1]:{port6}",
        )
    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"127.0.0.1 {errno.EACCES}",
        f"[::1] {errno.EACCES}",
        "unix works",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_deny_network_with_the_loopback_reaches_only_this_machine(backend: str) -> None:
    with greeting_server() as port, greeting_server("::1") as port6:
        result = sysemu_run(
            f"--backend={backend}",
            "--deny-network=allow-loopback",
            "--",
            sys.executable,
            "-c",
            NETWORK_USER,
            f"127.0.0.1:{port}",
            f"[::1]:{port6}",
            "192.0.2.1:80",  # TEST-NET-1 (RFC 5737) and the IPv6 documentation prefix
            "[2001:db8::1]:80",
        )
    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "127.0.0.1 hello from the server",
        "[::1] hello from the server",
        f"192.0.2.1 {errno.ENETUNREACH}",
        f"[2001:db8::1] {errno.ENETUNREACH}",
        "unix works",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", [64, 32])
def test_deny_network_covers_every_send_and_socketcall(
    programs: Programs, backend: str, bits: int
) -> None:
    """sendto, sendmsg, sendmmsg and connect, from a 64-bit program and from a 32-bit one
    whose C library makes most of them through socketcall."""
    program = programs.net_calls if bits == 64 else programs.m32("net_calls")
    everything = ["socketpair 0", "socket 0", "sendto 0", "sendmsg 0", "sendmmsg 0", "connect 0"]
    unreachable = [f"{line.split()[0]} {errno.ENETUNREACH}" for line in everything[2:]]
    for option, host, expected in [
        ("--deny-network", "127.0.0.1", ["socketpair 0", f"socket {errno.EACCES}"]),
        ("--deny-network=allow-loopback", "127.0.0.1", everything),
        ("--deny-network=allow-loopback", "192.0.2.1", everything[:2] + unreachable),
    ]:
        result = sysemu_run(f"--backend={backend}", option, "--", program, host, "9")
        assert (result.returncode, result.stderr) == (0, ""), option
        assert result.stdout.splitlines() == expected, (option, host)


def test_deny_network_is_one_line_when_misspelt() -> None:
    result = sysemu_run("--deny-network=loopback", "--", "true")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "allow-loopback" in result.stderr
    # Without "--", the option takes the command as its value, and the message says so.
    result = sysemu_run("--deny-network", "true")
    assert result.returncode == 2
    assert result.stderr == (
        "sysemu: run: no command given; --deny-network took 'true' as its mode (write "
        "--deny-network -- CMD, or --deny-network=allow-loopback -- CMD)\n"
    )


FAMILIES = """
import socket
for family, address in ((socket.AF_INET, ("127.0.0.1", 9)), (socket.AF_INET6, ("::1", 9)),
                        (socket.AF_UNIX, "/nonexistent/socket")):
    try:
        with socket.socket(family) as client:
            client.connect(address)
    except OSError as error:
        print(family.name, error.errno)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_inject_by_family(backend: str) -> None:
    emu = Emulator(backend=backend)
    emu.inject("socket:error=EAFNOSUPPORT:family=inet6")
    emu.inject("connect:error=ENETDOWN:family=inet,unix")
    result = emu.run([sys.executable, "-c", FAMILIES], capture_output=True, timeout=60)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        f"AF_INET {errno.ENETDOWN}",
        f"AF_INET6 {errno.EAFNOSUPPORT}",
        f"AF_UNIX {errno.ENETDOWN}",
    ]
    assert sorted((i.syscall, i.action) for i in result.injections) == [
        ("connect", "error=ENETDOWN"),
        ("connect", "error=ENETDOWN"),
        ("socket", "error=EAFNOSUPPORT"),
    ]
    if backend in ("seccomp", "unotify"):
        # The kernel compared socket's domain: the other sockets never stopped.
        assert result.stats["socket"].stops == 1


def test_family_specs_parse_and_print_back() -> None:
    spec = parse_inject_spec("%network:error=EACCES:family=INET6,af_inet,unix")
    assert spec.families == {socket.AF_INET, socket.AF_INET6, socket.AF_UNIX}
    assert str(spec) == "%network:error=EACCES:family=inet,inet6,unix"
    assert parse_inject_spec(str(spec)) == spec
    with pytest.raises(InjectSpecError, match="unknown address family 'ipx'"):
        parse_inject_spec("socket:error=EACCES:family=ipx")
    with pytest.raises(InjectSpecError, match="family="):
        Emulator().inject("read:error=EIO:family=inet")


def test_the_command_line_loads_the_policy_only_when_asked() -> None:
    code = (
        "import sys, sysemu.cli.main as m; m.build_parser().parse_args(['run', '--', 'true']);"
        "print(*sorted(n for n in sys.modules if n.startswith('sysemu.tools.net')))"
    )
    source = str(Path(__file__).resolve().parent.parent / "src")
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": source},
    ).stdout.split()  # fmt: skip
    assert loaded == ["sysemu.tools.net", "sysemu.tools.net.cli"]
    assert net.deny_network.__module__ == "sysemu.tools.net.policy"


IO_URING = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
fd = libc.syscall(425, 4, params)  # io_uring_setup(4 entries)
print(ctypes.get_errno() if fd < 0 else "a ring")
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_deny_network_leaves_no_io_uring_to_go_around_it(backend: str) -> None:
    native = subprocess.run(
        [sys.executable, "-c", IO_URING], capture_output=True, text=True, timeout=60, check=True
    )
    if native.stdout != "a ring\n":
        pytest.skip(f"io_uring_setup fails here without sysemu: {native.stdout.strip()}")
    for option in ("--deny-network", "--deny-network=allow-loopback"):
        result = sysemu_run(f"--backend={backend}", option, "--", sys.executable, "-c", IO_URING)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == f"{errno.ENOSYS}\n", option
