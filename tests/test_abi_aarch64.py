"""The aarch64 ABI as data: its generated table, its numbers against the asm-generic header,
its layouts. Pure data: these run on any machine."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sysemu.abi import Abi, ArgKind, layouts, syscall_by_name, syscall_by_number, syscalls
from sysemu.abi.abi import AUDIT_ARCH_AARCH64, machine_abis

REPO = Path(__file__).resolve().parent.parent
GENERATOR = REPO / "scripts" / "gen_syscalls.py"
GENERIC_UNISTD = Path("/usr/include/asm-generic/unistd.h")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_syscalls_aarch64", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_aarch64_is_the_asm_generic_numbering() -> None:
    assert Abi.AARCH64.audit_arch == AUDIT_ARCH_AARCH64
    assert Abi.of(AUDIT_ARCH_AARCH64, 56) is Abi.AARCH64
    assert (Abi.AARCH64.pointer_size, Abi.AARCH64.word_bits, Abi.AARCH64.nr_bias) == (8, 64, 0)
    assert syscall_by_name("openat", Abi.AARCH64).nr == 56
    assert syscall_by_name("clone", Abi.AARCH64).nr == 220
    assert syscall_by_name("execve", Abi.AARCH64).nr == 221
    assert syscall_by_name("newfstatat", Abi.AARCH64).nr == 79
    names = {call.name for call in syscalls(Abi.AARCH64)}
    for legacy in ("open", "stat", "lstat", "access", "pipe", "fork", "vfork", "dup2", "poll"):
        assert legacy not in names, legacy
    for legacy in ("select", "getdents", "time", "alarm"):
        assert legacy not in names, legacy


def test_aarch64_signatures_classify_paths() -> None:
    openat = syscall_by_name("openat", Abi.AARCH64)
    assert [p.kind for p in openat.params[:2]] == [ArgKind.DIRFD, ArgKind.PATH]
    fadvise = syscall_by_name("fadvise64", Abi.AARCH64)
    assert fadvise.entry == "sys_fadvise64_64" and fadvise.params[2].ctype == "loff_t"
    call = syscall_by_number(291, Abi.AARCH64)
    assert call is not None and call.name == "statx"


def test_machine_abis() -> None:
    assert machine_abis("x86_64") == (Abi.X86_64, Abi.I386, Abi.X32)
    assert machine_abis("aarch64") == (Abi.AARCH64,)
    assert machine_abis("riscv64") == ()


def _generic_numbers(text: str) -> dict[str, int]:
    """Numbers of asm-generic/unistd.h for a 64-bit kernel: the plain defines, and the
    ``__NR3264_`` ones under the names a 64-bit build gives them."""
    numbers = {m[0]: int(m[1]) for m in re.findall(r"^#define __NR_(\w+) (\d+)$", text, re.M)}
    wide = {m[0]: int(m[1]) for m in re.findall(r"^#define __NR3264_(\w+) (\d+)$", text, re.M)}
    for name, target in re.findall(r"^#define __NR_(\w+) __NR3264_(\w+)$", text, re.M):
        if target in wide:  # (some targets are defined for 32-bit builds only)
            numbers.setdefault(name, wide[target])
    return numbers


def test_numbers_match_the_asm_generic_header() -> None:
    if not GENERIC_UNISTD.is_file():
        pytest.skip(f"{GENERIC_UNISTD} not installed (linux-libc-dev)")
    expected = _generic_numbers(GENERIC_UNISTD.read_text())
    checked = 0
    for name, nr in expected.items():
        call = syscall_by_number(nr, Abi.AARCH64)
        if 403 <= nr <= 423 or name in {"syscalls", "arch_specific_syscall"}:
            continue  # the time64 calls of 32-bit ABIs, or a count
        if name in {"llseek", "fstatat64", "fstat64", "statfs64", "fstatfs64", "mmap2"}:
            continue  # the 32-bit spellings of numbers that 64-bit kernels name otherwise
        assert call is not None, (name, nr)
        if call.name == name:
            checked += 1
    assert checked > 250


def test_generator_reproduces_the_committed_table(tmp_path: Path) -> None:
    """From a uapi header that lists the committed table's numbers, the generator writes the
    committed file again: the entry points and params come from the x86_64 rows."""
    gen = _load_generator()
    committed = (REPO / "src/sysemu/abi/_table_aarch64.py").read_text()
    version = re.search(r'^LINUX_VERSION = "(\d+)\.(\d+)"$', committed, re.M)
    assert version is not None
    # The calls the committed file took from the x86_64 table's unified numbers (if it took
    # any) were not in its headers: nor are they in this one.
    unified = re.search(r"; (\d+)-(\d+) from the x86_64 table", committed)
    borrowed_from = int(unified[1]) if unified is not None else None
    from_headers = [
        c for c in syscalls(Abi.AARCH64) if borrowed_from is None or c.nr < borrowed_from
    ]
    header = tmp_path / gen.AARCH64_UNISTD[0]
    header.parent.mkdir(parents=True)
    header.write_text("".join(f"#define __NR_{c.name} {c.nr}\n" for c in from_headers))
    version_h = tmp_path / gen.UAPI_VERSION
    version_h.parent.mkdir(parents=True)
    version_h.write_text(
        f"#define LINUX_VERSION_MAJOR {version[1]}\n#define LINUX_VERSION_PATCHLEVEL {version[2]}\n"
    )
    x86_64 = gen._committed_x86_64_rows(REPO / "src/sysemu/abi")
    assert gen.generate_aarch64(tmp_path, x86_64) == committed


def test_aarch64_stat_is_the_asm_generic_layout() -> None:
    stat = layouts.stat_layout("newfstatat", Abi.AARCH64)
    assert stat is not None and stat is layouts.stat_layout("fstat", Abi.AARCH64)
    assert stat.size == 120  # of 128: the two reserved ints at the end are not read
    fields = ("st_mode", "st_nlink", "st_rdev", "st_size", "st_blksize", "st_blocks", "st_atime")
    assert [stat.field(name) for name in fields] == [
        (16, 4), (20, 4), (32, 8), (48, 8), (56, 4), (64, 8), (72, 8)
    ]  # fmt: skip
    for table in (layouts.IOVEC, layouts.TIMESPEC, layouts.RLIMIT, layouts.SIGACTION):
        assert table[Abi.AARCH64].size == table[Abi.X86_64].size
