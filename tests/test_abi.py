"""Tests of sysemu.abi: syscall tables, signatures, errno and signal names, the generator."""

from __future__ import annotations

import errno
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sysemu.abi import (
    MAX_ERRNO,
    RESTART_ERRNOS,
    Abi,
    ArgKind,
    Syscall,
    abis_for_name,
    errno_description,
    errno_name,
    errno_number,
    is_error,
    layouts,
    linux_version,
    name_of,
    names,
    path_calls,
    signal_name,
    signal_number,
    syscall_by_name,
    syscall_by_number,
    syscalls,
)
from sysemu.abi.abi import X32_SYSCALL_BIT, machine_abis

REPO = Path(__file__).resolve().parent.parent
# The tables are data: their x86 facts are checked on every machine, by naming the ABI.
X86 = (Abi.X86_64, Abi.I386, Abi.X32)
GENERATOR = REPO / "scripts" / "gen_syscalls.py"
LINUX_SRC = Path("/tmp/linux-src")
ASM = Path("/usr/include/x86_64-linux-gnu/asm")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_syscalls", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


# --- numbers against the system's headers -----------------------------------------------------


def _header_numbers(path: Path) -> dict[str, int]:
    numbers = {}
    for match in re.finditer(
        r"^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?\s*$",
        path.read_text(),
        re.MULTILINE,
    ):
        numbers[match.group(1)] = int(match.group(2))
    return numbers


@pytest.mark.parametrize(
    ("abi", "header"),
    [(Abi.X86_64, "unistd_64.h"), (Abi.I386, "unistd_32.h"), (Abi.X32, "unistd_x32.h")],
)
def test_numbers_match_system_headers(abi: Abi, header: str) -> None:
    path = ASM / header
    if not path.is_file():
        pytest.skip(f"{path} not installed")
    expected = _header_numbers(path)
    assert len(expected) > 300
    ours = {call.name: call.nr for call in syscalls(abi)}
    wrong = {name: (nr, ours.get(name)) for name, nr in expected.items() if ours.get(name) != nr}
    assert wrong == {}


def test_tables_are_newer_than_the_system_headers() -> None:
    assert tuple(int(x) for x in linux_version().split(".")) >= (6, 1)
    for abi in Abi:
        assert syscall_by_name("mseal", abi).nr == 462


# --- signatures -------------------------------------------------------------------------------


def _sig(call: Syscall) -> list[tuple[str, ArgKind, int, bool]]:
    return [(p.name, p.kind, p.bits, p.signed) for p in call.params]


@pytest.mark.parametrize("abi", list(Abi))
def test_every_syscall_has_named_params(abi: Abi) -> None:
    for call in syscalls(abi):
        assert call.abi is abi
        for param in call.params:
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", param.name), (call.name, param)
            assert param.ctype, (call.name, param)
            assert param.bits in {16, 32, 64}, (call.name, param)
            assert param.bits <= abi.word_bits, (call.name, param)
        assert len(call.params) <= 6, call.name
        assert len({p.name for p in call.params}) == len(call.params), call.name
        if not call.implemented:
            assert call.params == ()


def test_syscalls_without_arguments_have_empty_params() -> None:
    for name in ("getpid", "fork", "sched_yield", "rt_sigreturn", "uretprobe"):
        assert syscall_by_name(name, Abi.X86_64).params == ()


def test_openat_signature() -> None:
    openat = syscall_by_name("openat", Abi.X86_64)
    assert openat.nr == 257
    assert _sig(openat) == [
        ("dfd", ArgKind.DIRFD, 32, True),
        ("filename", ArgKind.PATH, 64, False),
        ("flags", ArgKind.FLAGS, 32, True),
        ("mode", ArgKind.MODE, 16, False),
    ]
    assert openat.path_params == (1,)
    assert openat.param_index("mode") == 3
    with pytest.raises(KeyError):
        openat.param_index("pathname")


def test_write_signature_per_abi() -> None:
    write = syscall_by_name("write", Abi.X86_64)
    assert _sig(write) == [
        ("fd", ArgKind.FD, 32, False),
        ("buf", ArgKind.POINTER, 64, False),
        ("count", ArgKind.ULONG, 64, False),
    ]
    write32 = syscall_by_name("write", Abi.I386)
    assert write32.nr == 4
    assert [(p.kind, p.bits) for p in write32.params] == [
        (ArgKind.FD, 32),
        (ArgKind.POINTER, 32),
        (ArgKind.ULONG, 32),
    ]


def test_clone_argument_order_differs_between_abis() -> None:
    assert [p.name for p in syscall_by_name("clone", Abi.X86_64).params] == [
        "flags",
        "newsp",
        "parent_tidptr",
        "child_tidptr",
        "tls",
    ]
    # x86 builds 32-bit clone with CONFIG_CLONE_BACKWARDS.
    assert [p.name for p in syscall_by_name("clone", Abi.I386).params] == [
        "flags",
        "newsp",
        "parent_tidptr",
        "tls",
        "child_tidptr",
    ]
    assert syscall_by_name("clone", Abi.X32).params == syscall_by_name("clone", Abi.X86_64).params


def test_argument_kinds() -> None:
    kill = syscall_by_name("kill", Abi.X86_64)
    assert [p.kind for p in kill.params] == [ArgKind.PID, ArgKind.SIGNAL]
    assert [p.kind for p in syscall_by_name("symlink", Abi.X86_64).params] == [
        ArgKind.STRING,
        ArgKind.PATH,
    ]
    assert syscall_by_name("renameat2", Abi.X86_64).path_params == (1, 3)
    assert syscall_by_name("fanotify_mark", Abi.X86_64).params[3].kind is ArgKind.DIRFD
    assert syscall_by_name("lseek", Abi.X86_64).params[1].kind is ArgKind.OFFSET
    assert syscall_by_name("pread64", Abi.X86_64).params[3].kind is ArgKind.OFFSET
    assert syscall_by_name("setxattr", Abi.X86_64).params[1].kind is ArgKind.STRING
    assert syscall_by_name("execve", Abi.X86_64).params[1].kind is ArgKind.POINTER
    assert syscall_by_name("mmap", Abi.X86_64).params[4].kind is ArgKind.FD
    assert (
        syscall_by_name("mmap", Abi.X86_64).params[4].bits == 32
    )  # declared unsigned long, used as int
    assert syscall_by_name("read", Abi.X86_64).params[1].kind is ArgKind.POINTER
    # i386 passes 64-bit values as two halves; the split shows in the signature.
    pread32 = syscall_by_name("pread64", Abi.I386)
    assert [p.name for p in pread32.params] == ["fd", "buf", "count", "pos_lo", "pos_hi"]
    mark32 = syscall_by_name("fanotify_mark", Abi.I386)
    assert [p.name for p in mark32.params][2:4] == ["mask_lo", "mask_hi"]
    # x32's preadv takes the position in one register, unlike x86_64's pos_l/pos_h.
    assert [p.name for p in syscall_by_name("preadv", Abi.X32).params] == [
        "fd",
        "vec",
        "vlen",
        "pos",
    ]


def test_unimplemented_slots() -> None:
    sysctl = syscall_by_name("_sysctl", Abi.X86_64)
    assert not sysctl.implemented
    assert sysctl.entry == "sys_ni_syscall"
    assert sysctl.params == ()
    assert not syscall_by_name("uselib", Abi.X86_64).implemented  # table row without an entry point
    assert not syscall_by_name("break", Abi.I386).implemented
    assert syscall_by_name("read", Abi.X86_64).implemented


# --- lookups ----------------------------------------------------------------------------------


def test_abis_for_name() -> None:
    found = abis_for_name("openat", X86)
    assert [call.abi for call in found] == [Abi.X86_64, Abi.I386, Abi.X32]
    assert {call.name for call in found} == {"openat"}
    assert [c.abi for c in abis_for_name("socketcall", X86)] == [Abi.I386]
    assert [c.abi for c in abis_for_name("arch_prctl", X86)] == [Abi.X86_64, Abi.I386, Abi.X32]
    assert abis_for_name("no_such_call", X86) == ()


def test_open_numbers() -> None:
    assert syscall_by_name("open", Abi.I386).nr == 5
    assert syscall_by_name("open", Abi.X86_64).nr == 2
    assert syscall_by_name("open", Abi.X86_64).nr == 2


def test_the_default_abi_is_the_machines() -> None:
    native = machine_abis()[0]
    assert syscall_by_name("read") == syscall_by_name("read", native)
    assert [call.abi for call in abis_for_name("read")] == list(machine_abis())
    with pytest.raises(KeyError, match=f"unknown syscall 'x' for {native}"):
        syscall_by_name("x")


def test_unknown_name() -> None:
    with pytest.raises(KeyError, match="unknown syscall 'x' for x86_64"):
        syscall_by_name("x", Abi.X86_64)
    with pytest.raises(KeyError, match="for i386"):
        syscall_by_name("arch_specific_nonsense", Abi.I386)
    with pytest.raises(KeyError):
        syscall_by_name("socketcall", Abi.X86_64)  # an i386-only call


def test_by_number_and_name_of() -> None:
    assert syscall_by_number(0, Abi.X86_64) == syscall_by_name("read", Abi.X86_64)
    assert syscall_by_number(3, Abi.I386) == syscall_by_name("read", Abi.I386)
    assert syscall_by_number(100_000, Abi.X86_64) is None
    assert name_of(Abi.X86_64, 59) == "execve"
    assert name_of(Abi.X86_64, 1000) == "syscall_1000"
    assert name_of(Abi.I386, 11) == "execve"


def test_x32_numbers() -> None:
    rt = syscall_by_name("rt_sigaction", Abi.X32)
    assert rt.nr == 512
    assert rt.filter_nr == X32_SYSCALL_BIT | 512
    assert rt.entry == "compat_sys_rt_sigaction"
    assert syscall_by_number(512, Abi.X32) == rt
    assert syscall_by_number(X32_SYSCALL_BIT | 512, Abi.X32) == rt
    assert name_of(Abi.X32, X32_SYSCALL_BIT | 0) == "read"
    assert syscall_by_name("read", Abi.X32).filter_nr == X32_SYSCALL_BIT
    assert syscall_by_name("read", Abi.X86_64).filter_nr == 0
    # "64"-only rows are not x32 calls, and x32-only rows are not x86_64 calls.
    assert syscall_by_number(13, Abi.X32) is None
    assert syscall_by_number(512, Abi.X86_64) is None


def test_names_and_order() -> None:
    for abi in Abi:
        calls = syscalls(abi)
        assert [c.nr for c in calls] == sorted(c.nr for c in calls)
        assert names(abi) == tuple(c.name for c in calls)
        assert len(set(names(abi))) == len(calls)


def test_import_does_not_build_tables() -> None:
    code = (
        "import sys, sysemu.abi\n"
        # The package re-exports the function syscalls(), which hides the module's name.
        "s = sys.modules['sysemu.abi.syscalls']\n"
        "assert s._TABLES == {}, s._TABLES.keys()\n"
        "assert 'sysemu.abi._table_x86_64' not in sys.modules\n"
        "assert 'sysemu.abi._table_i386' not in sys.modules\n"
        "s.name_of(s.Abi.I386, 3)\n"
        "assert list(s._TABLES) == [s.Abi.I386]\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- errno ------------------------------------------------------------------------------------


def test_errno_round_trip() -> None:
    assert errno_number("ENOENT") == 2
    assert errno_name(2) == "ENOENT"
    assert errno_number("enoent") == 2
    assert errno_number(" EACCES ") == 13
    assert errno_number("13") == 13
    assert errno_name(-2) == "ENOENT"  # as a syscall returns it
    assert errno_description(2) == os.strerror(2)
    assert errno_description("ENOENT") == os.strerror(2)
    for number in errno.errorcode:
        assert errno_number(errno_name(number)) == number


def test_errno_aliases() -> None:
    assert errno_number("EWOULDBLOCK") == errno_number("EAGAIN") == 11
    assert errno_name(11) == "EAGAIN"
    assert errno_number("EDEADLOCK") == 35
    assert errno_name(35) == "EDEADLK"
    assert errno_number("ENOTSUP") == 95
    assert errno_name(95) == "EOPNOTSUPP"
    assert errno_number("ENOTSUPP") == 524  # the kernel-internal one, not an alias


def test_restart_errnos() -> None:
    assert errno_number("ERESTARTSYS") == 512
    assert errno_name(512) == "ERESTARTSYS"
    assert errno_name(-513) == "ERESTARTNOINTR"
    assert errno_name(514) == "ERESTARTNOHAND"
    assert errno_name(515) == "ENOIOCTLCMD"
    assert errno_name(516) == "ERESTART_RESTARTBLOCK"
    assert {512, 513, 514, 516} == RESTART_ERRNOS
    assert "SA_RESTART" in errno_description(512)
    assert "Unknown" not in errno_description("ERESTART_RESTARTBLOCK")
    assert errno_name(529) == "EIOCBQUEUED"


def test_errno_errors() -> None:
    with pytest.raises(ValueError, match=r"^unknown errno name 'EFOO'$"):
        errno_number("EFOO")
    with pytest.raises(ValueError, match="out of range"):
        errno_number("0")
    with pytest.raises(ValueError, match="out of range"):
        errno_number("5000")
    with pytest.raises(ValueError, match=r"^unknown errno number 4000$"):
        errno_name(4000)
    with pytest.raises(ValueError):
        errno_description(4000)


# --- signals ----------------------------------------------------------------------------------


def test_signal_round_trip() -> None:
    assert signal_number("SIGUSR1") == 10
    assert signal_number("USR1") == 10
    assert signal_number("usr1") == 10
    assert signal_number("10") == 10
    assert signal_name(10) == "SIGUSR1"
    assert signal_number("SIGCLD") == 17
    assert signal_name(17) == "SIGCHLD"
    for number in range(1, 65):
        assert signal_number(signal_name(number)) == number


def test_realtime_signals_match_strace() -> None:
    # strace 6.1 prints kill(pid, 32) as SIGRTMIN and kill(pid, 34) as SIGRT_2.
    assert signal_name(32) == "SIGRTMIN"
    assert signal_name(33) == "SIGRT_1"
    assert signal_name(34) == "SIGRT_2"
    assert signal_name(64) == "SIGRT_32"
    assert signal_number("SIGRTMIN") == 32
    assert signal_number("SIGRTMIN+3") == 35
    assert signal_number("RTMIN+3") == 35
    assert signal_number("SIGRT_5") == 37
    assert signal_number("SIGRTMAX") == 64
    assert signal_number("SIGRTMAX-1") == 63


def test_signal_errors() -> None:
    with pytest.raises(ValueError, match=r"^unknown signal name 'SIGFOO'$"):
        signal_number("SIGFOO")
    with pytest.raises(ValueError, match="out of range"):
        signal_number("SIGRTMIN+40")
    with pytest.raises(ValueError, match="out of range"):
        signal_number("0")
    with pytest.raises(ValueError, match="out of range"):
        signal_number("65")
    with pytest.raises(ValueError, match=r"^unknown signal number 65$"):
        signal_name(65)
    with pytest.raises(ValueError):
        signal_name(0)


# --- the generator ----------------------------------------------------------------------------

FIXTURE = r"""
#ifndef _LINUX_SYSCALLS_H
#define _LINUX_SYSCALLS_H
#define SYSCALL_DEFINE0(sname)                 \
    asmlinkage long sys_##sname(void);     \
    asmlinkage long sys_##sname(void)

/* a comment with asmlinkage long sys_fake(int x); inside */
asmlinkage long sys_read(unsigned int fd, char __user *buf, size_t count);
asmlinkage long sys_openat(int dfd, const char __user *filename, int flags,
               umode_t mode);   // trailing comment
asmlinkage long sys_socket(int, int, int);
asmlinkage long sys_execve(const char __user *filename,
        const char __user *const __user *argv,
        const char __user *const __user *envp);
asmlinkage long sys_getpid(void);
asmlinkage long sys_pipe(int __user fildes[2]);
#ifdef CONFIG_CLONE_BACKWARDS
asmlinkage long sys_clone(unsigned long, unsigned long, int __user *, unsigned long,
           int __user *);
#else
#ifdef CONFIG_CLONE_BACKWARDS3
asmlinkage long sys_clone(unsigned long, unsigned long, int, int __user *,
              int __user *, unsigned long);
#else
asmlinkage long sys_clone(unsigned long, unsigned long, int __user *,
           int __user *, unsigned long);
#endif
#endif
#if BITS_PER_LONG == 32
asmlinkage long sys_fcntl64(unsigned int fd, unsigned int cmd, unsigned long arg);
#endif
#if defined(CONFIG_ARCH_SPLIT_ARG64)
asmlinkage long sys_fanotify_mark(int fanotify_fd, unsigned int flags,
                                unsigned int mask_1, unsigned int mask_2,
                int dfd, const char  __user * pathname);
#elif defined(CONFIG_CLONE_BACKWARDS3)
asmlinkage long sys_fanotify_mark(int a, int b);
#else
asmlinkage long sys_fanotify_mark(int fanotify_fd, unsigned int flags,
                  u64 mask, int fd,
                  const char  __user *pathname);
#endif
static inline long ksys_truncate(const char __user *pathname, loff_t length)
{
    return do_sys_truncate(pathname, length);
}
#endif
"""


def test_prototype_parser() -> None:
    protos = gen.parse_prototypes(FIXTURE)
    by_entry: dict[str, list[gen.Prototype]] = {}
    for proto in protos:
        by_entry.setdefault(proto.entry, []).append(proto)
    assert "sys_fake" not in by_entry
    assert "ksys_truncate" not in by_entry
    assert len(by_entry["sys_clone"]) == 3
    (read,) = by_entry["sys_read"]
    assert read.params == (
        ("fd", "unsigned int"),
        ("buf", "char *"),
        ("count", "size_t"),
    )
    (openat,) = by_entry["sys_openat"]
    assert openat.params[-1] == ("mode", "umode_t")
    (socket,) = by_entry["sys_socket"]
    assert socket.params == ((None, "int"), (None, "int"), (None, "int"))
    assert not socket.named
    (execve,) = by_entry["sys_execve"]
    assert execve.params[1] == ("argv", "const char *const *")
    (getpid,) = by_entry["sys_getpid"]
    assert getpid.params == ()
    (pipe,) = by_entry["sys_pipe"]
    assert pipe.params == (("fildes", "int *"),)


def test_prototype_parser_handles_tabs() -> None:
    (proto,) = gen.parse_prototypes("asmlinkage long sys_a(int\tfd,\n\t\tstruct x __user *\tp);")
    assert proto.params == (("fd", "int"), ("p", "struct x *"))


def test_resolver_picks_the_x86_variant() -> None:
    resolver = gen.Resolver(gen.parse_prototypes(FIXTURE))
    assert [n for n, _ in resolver.params("sys_clone", "x86_64", "x86_64")] == [
        "flags",
        "newsp",
        "parent_tidptr",
        "child_tidptr",
        "tls",
    ]
    clone32 = resolver.params("sys_clone", "i386", "i386")
    assert [n for n, _ in clone32] == ["flags", "newsp", "parent_tidptr", "tls", "child_tidptr"]
    assert clone32[3] == ("tls", "unsigned long")
    assert resolver.params("sys_fanotify_mark", "x86_64", "x86_64")[2] == ("mask", "u64")
    assert resolver.params("sys_fanotify_mark", "i386", "i386")[2:4] == (
        ("mask_lo", "u32"),
        ("mask_hi", "u32"),
    )
    assert resolver.best("sys_fcntl64", "x86_64") is None
    assert resolver.best("sys_fcntl64", "i386") is not None
    assert resolver.params("sys_socket", "x86_64", "x86_64")[0] == ("domain", "int")
    assert resolver.params("sys_mmap", "x86_64", "x86_64")[4] == ("fd", "unsigned long")
    assert resolver.params("sys_ni_syscall", "i386", "i386") == ()
    # An x32 compat entry point falls back to the native prototype.
    assert resolver.params("compat_sys_read", "x86_64", "x32")[0] == ("fd", "unsigned int")
    with pytest.raises(LookupError):
        resolver.params("sys_nonexistent", "x86_64", "x86_64")


def test_preprocessor_evaluation() -> None:
    macros = {"A": True, "B": False, "BITS_PER_LONG": 32}
    assert gen.evaluate("defined(A)", macros) is True
    assert gen.evaluate("defined B", macros) is False
    assert gen.evaluate("defined(A) && !defined(B)", macros) is True
    assert gen.evaluate("defined(B) || defined(C)", macros) is None
    assert gen.evaluate("defined(A) || defined(C)", macros) is True
    assert gen.evaluate("BITS_PER_LONG == 32", macros) is True
    assert gen.evaluate("BITS_PER_LONG == 64", macros) is False
    assert gen.evaluate("defined(_LINUX_SYSCALLS_H)", macros) is False


def test_table_parser() -> None:
    rows = gen.parse_tbl(
        "# comment\n0\tcommon\tread\t\t\tsys_read\n"
        "60\tcommon\texit\t\t\tsys_exit\t\t\t-\t\t\tnoreturn\n"
        "134\t64\tuselib\n462 \tcommon  mseal\t\t\tsys_mseal\n"
    )
    assert [(r.nr, r.abi, r.name, r.entry) for r in rows] == [
        (0, "common", "read", "sys_read"),
        (60, "common", "exit", "sys_exit"),
        (134, "64", "uselib", "sys_ni_syscall"),
        (462, "common", "mseal", "sys_mseal"),
    ]


def test_generated_files_are_current() -> None:
    if not (LINUX_SRC / gen.TBL_64).is_file():
        pytest.skip(f"no Linux source tree at {LINUX_SRC}")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--linux", str(LINUX_SRC), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generated_header_names_the_version() -> None:
    first = (REPO / "src/sysemu/abi/_table_x86_64.py").read_text().splitlines()[0]
    assert re.fullmatch(
        r"# Generated by scripts/gen_syscalls\.py from Linux (\d+\.\d+|unknown); do not edit\.",
        first,
    )


def test_struct_layouts_put_fields_where_the_kernel_does() -> None:
    """Offsets from the kernel's headers (struct stat, compat_stat, stat64, statx, iovec)."""
    x86_64 = layouts.stat_layout("newfstatat", Abi.X86_64)
    assert x86_64 is layouts.stat_layout("fstat", Abi.X32)
    assert x86_64 is not None and x86_64.size == 120  # the reserved tail is not read
    assert [x86_64.field(n) for n in ("st_ino", "st_nlink", "st_mode", "st_size")] == [
        (8, 8), (16, 8), (24, 4), (48, 8)
    ]  # fmt: skip
    old = layouts.stat_layout("fstat", Abi.I386)
    assert old is not None and old.size == 64
    assert [old.field(n) for n in ("st_ino", "st_nlink", "st_size")] == [(4, 4), (10, 2), (20, 4)]
    stat64 = layouts.stat_layout("fstatat64", Abi.I386)
    assert stat64 is not None and stat64.size == 96
    assert [stat64.field(n) for n in ("st_ino", "st_nlink", "st_size")] == [
        (88, 8), (20, 4), (44, 8)
    ]  # fmt: skip
    assert layouts.stat_layout("fstat64", Abi.X86_64) is None
    statx = layouts.stat_layout("statx", Abi.I386)
    assert statx is layouts.STATX
    assert [statx.field(n) for n in ("stx_nlink", "stx_mode", "stx_ino", "stx_size")] == [
        (16, 4), (28, 2), (32, 8), (40, 8)
    ]  # fmt: skip
    assert layouts.IOVEC[Abi.X32].size == 8 and layouts.IOVEC[Abi.X86_64].size == 16
    flock = layouts.FLOCK[Abi.X86_64]
    assert flock.size == 32
    assert [flock.field(n) for n in ("l_whence", "l_start", "l_len", "l_pid")] == [
        (2, 2), (8, 8), (16, 8), (24, 4)
    ]  # fmt: skip
    assert layouts.SOCK_FPROG[Abi.X86_64].field("filter") == (8, 8)
    with pytest.raises(ValueError, match="do not fit"):
        layouts.Layout("QQ", "only_one")
    head = layouts.STATX.head("stx_size")
    assert head.size == 48 and head.field("stx_size") == (40, 8)
    assert layouts.SYSINFO[Abi.X86_64].head("uptime").size == 8
    with pytest.raises(ValueError, match="inside the repeated item 3Q"):
        layouts.SYSINFO[Abi.X86_64].head("load5")


def test_pointer_size_is_the_programs_not_the_registers() -> None:
    assert [abi.pointer_size for abi in (Abi.X86_64, Abi.I386, Abi.X32)] == [8, 4, 4]
    assert [abi.word_bits for abi in (Abi.X86_64, Abi.I386, Abi.X32)] == [64, 32, 64]


def test_is_error_is_the_kernels_is_err_value() -> None:
    assert [is_error(v) for v in (-MAX_ERRNO - 1, -MAX_ERRNO, -1, 0, 1)] == [
        False, True, True, False, False
    ]  # fmt: skip


@pytest.mark.parametrize("abi", list(Abi))
def test_the_path_calls_are_every_call_with_a_path_parameter(abi: Abi) -> None:
    """path_calls finds its rows by searching the table's text for parameter names; it must
    give what classifying every call of the ABI gives."""
    every = [call for call in syscalls(abi) if call.implemented and call.path_params]
    assert path_calls(abi) == tuple(every)
    assert {"openat", "execve"} <= {call.name for call in every}
