"""``sysemu doctor``: what this kernel offers sysemu, found by trying, not by version numbers.

Probes that change the calling process (installing a seccomp filter) run in a forked child.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
from collections.abc import Callable

from sysemu.abi.syscalls import linux_version
from sysemu.api.handlers import HandlerSet
from sysemu.cli.version import environment_line
from sysemu.kernel import ptrace, raw, seccomp
from sysemu.kernel.arch import host_arch_type
from sysemu.kernel.bpf import SECCOMP_RET_ALLOW, compile_filter
from sysemu.kernel.memory import TraceeMemory
from sysemu.kernel.seccomp import SECCOMP_FILTER_FLAG_NEW_LISTENER
from sysemu.kernel.unotify import (
    ADDFD,
    NOTIF_ADDFD,
    SECCOMP_ADDFD_FLAG_SEND,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    Listener,
)


def _in_child(probe: Callable[[], bool]) -> bool:
    """Run ``probe`` in a forked child (it may install a filter) and return its answer."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(0 if probe() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _listener(flags: int = 0) -> int:
    allow = {abi.audit_arch: SECCOMP_RET_ALLOW for abi in host_arch_type().abis}
    allow_all = seccomp.PreparedFilter(compile_filter([], arch_defaults=allow))
    return allow_all.install(no_new_privs=True, flags=SECCOMP_FILTER_FLAG_NEW_LISTENER | flags)


def _wait_killable() -> bool:
    try:
        _listener(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
    except OSError:
        return False
    return True


def _sync_wake_up() -> bool:
    return Listener(_listener()).wake_up_on_caller_cpu()


def _addfd_send() -> bool:
    # Asked about no notification: a known flag fails with ENOENT, an unknown one EINVAL.
    request = bytearray(ADDFD.pack(0, SECCOMP_ADDFD_FLAG_SEND, 0, 0, 0))
    try:
        fcntl.ioctl(_listener(), NOTIF_ADDFD, request, True)
    except OSError as failure:
        return failure.errno == errno.ENOENT
    return True


def _process_vm_readv() -> bool:
    buffer = b"probe"
    try:
        return TraceeMemory(os.getpid()).read(raw.address_of(buffer), 5) == b"probe"
    except OSError:
        return False


def _yama() -> str:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as scope:
            value = scope.read().strip()
    except OSError:
        return "no Yama (ptrace limited only by credentials)"
    meaning = {
        "0": "classic: any process of the same user",
        "1": "restricted: descendants only (enough: sysemu starts its programs; attach needs "
        "root or CAP_SYS_PTRACE)",
        "2": "admin only: sysemu needs CAP_SYS_PTRACE",
        "3": "no ptrace at all: use --backend unotify",
    }
    return f"{value} ({meaning.get(value, 'unknown')})"


def report() -> list[tuple[str, bool | str, str]]:
    """(capability, present or a value, what it is for), in the order printed."""
    notify = seccomp.has_user_notification()
    get_info, set_info = ptrace.known_requests(
        ptrace.PTRACE_GET_SYSCALL_INFO, ptrace.PTRACE_SET_SYSCALL_INFO
    )
    return [
        ("kernel", os.uname().release, os.uname().machine),
        (
            "system-call ABIs",
            ", ".join(str(abi) for abi in host_arch_type().abis),
            "a filter kills the calls of any other (32-bit ARM programs on arm64)",
        ),
        ("Yama ptrace_scope", _yama(), "who may be traced"),
        ("seccomp SECCOMP_RET_TRACE", seccomp.has_trace_action(), "the auto and seccomp backends"),
        ("PTRACE_GET_SYSCALL_INFO (5.3)", get_info, "one request per stop"),
        (
            "PTRACE_SET_SYSCALL_INFO (6.16)",
            set_info,
            "rewrites: number and arguments in one request, not a register read and write"
            if ptrace.set_syscall_info_works is not False
            else "not used: SYSEMU_NO_SET_SYSCALL_INFO is set (rewrites through registers)",
        ),
        ("process_vm_readv (3.2)", _process_vm_readv(), "fast tracee memory reads"),
        ("seccomp user notification (5.0)", notify, "the unotify backend"),
        (
            "SECCOMP_ADDFD_FLAG_SEND (5.14)",
            notify and _in_child(_addfd_send),
            "unotify: OpenFile's descriptor goes with the reply (else added, then replied)",
        ),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19)",
            notify and _in_child(_wait_killable),
            "unotify: signals cannot re-notify a call being decided",
        ),
        (
            "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6)",
            notify and _in_child(_sync_wake_up),
            "unotify: about 3 µs instead of 12 per call",
        ),
        (
            "C accelerator",
            ptrace.SPEEDUPS,
            "wait loops and per-stop requests in C"
            if ptrace.serve_seccomp_stops is not None
            else "per-stop requests without ctypes (rebuild for the C wait loops)"
            if ptrace.SPEEDUPS
            else "every request through ctypes, the wait loops in Python (not built, or "
            "SYSEMU_NO_SPEEDUPS is set)",
        ),
        ("syscall tables from Linux", linux_version(), tables_cover(os.uname().release)),
    ]


def _version(text: str) -> tuple[int, ...]:
    """The leading ``major.minor`` of a kernel release string, as numbers."""
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def tables_cover(release: str) -> str:
    """Whether the generated tables name every call of the kernel ``release``."""
    if _version(release) > _version(linux_version()):
        return "this kernel is newer: calls added since have numbers but no names"
    return "every call of this kernel has a name"


def print_report() -> int:
    """Print the report; exit status 0 if the default backend can run here, else 1."""
    rows = report()
    print(environment_line())
    for name, value, purpose in rows:
        shown = ("yes" if value else "NO") if isinstance(value, bool) else value
        print(f"{name:<46} {shown:<8}  {purpose}")
    usable = bool(rows[2][1])
    print()
    if usable:
        print("backend: auto (the default) works here.")
    elif rows[6][1]:
        print("backend: the default cannot run here; use --backend unotify or ptrace.")
    else:
        print("backend: only --backend ptrace can run here.")
    return 0 if usable else 1


def auto_routes(handlers: HandlerSet) -> tuple[list[str], list[str]]:
    """The names of the calls the ``auto`` backend would answer through user notification,
    and of those it would stop in ptrace, for ``handlers`` (each name once, whatever ABIs)."""
    compiled = handlers.compile(ptrace.host_arch().abis)
    notified: dict[str, None] = {}
    stopped: dict[str, None] = {}
    for route in compiled.routes:
        if not route.registrations and not route.observers:
            continue
        (notified if route.notifiable() else stopped)[route.syscall.name] = None
    return sorted(notified), sorted(set(stopped) - set(notified))


def print_auto_routes(handlers: HandlerSet) -> None:
    """Print :func:`auto_routes` under the kernel report."""
    notified, stopped = auto_routes(handlers)
    print()
    print("with --backend auto, these rules would be decided:")
    print(f"  {'by user notification (no ptrace stop)':<40} {', '.join(notified) or '-'}")
    print(f"  {'in a ptrace stop (rewrite, results)':<40} {', '.join(stopped) or '-'}")
    if stopped:
        print("  (a call is decided by notification when all its handlers are decides_only and")
        print("  no observer wants its result)")
