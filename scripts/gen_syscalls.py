#!/usr/bin/env python3
"""Generate sysemu's system-call tables: x86 from a Linux source tree, aarch64 from uapi headers.

Usage::

    python3 scripts/gen_syscalls.py [--linux DIR] [--aarch64-headers DIR] [--check]

``DIR`` must hold ``arch/x86/entry/syscalls/syscall_64.tbl``,
``arch/x86/entry/syscalls/syscall_32.tbl`` and ``include/linux/syscalls.h``;
``include/linux/compat.h``, ``arch/x86/include/asm/syscalls*.h`` and
``arch/x86/include/asm/sys_ia32.h`` are read too when present, and ``DIR/Makefile`` gives the
version written into the headers.  The output is ``src/sysemu/abi/_table_x86_64.py`` (rows of
the x86_64 and x32 ABIs) and ``src/sysemu/abi/_table_i386.py``.  With ``--check`` nothing is
written: the script exits 1 when the files in the repository differ from what it would write.

Each row is ``(number, name, entry point, params)`` (x86_64 rows also carry the table's abi
column, "common", "64" or "x32"), where params are ``(name, C type)`` pairs taken from the
kernel's prototype for that ABI.  Calls whose prototypes have no parameter names, and the
architecture-specific calls no generic header declares, are named from ``OVERRIDES`` below.
Rows without an implementation keep their number and name, with the entry point
``sys_ni_syscall`` and no params.

``--aarch64-headers`` takes the files of Debian's ``linux-libc-dev`` package (6.11 or later,
unpacked with ``dpkg-deb -x``: the root that holds ``usr/``) and writes
``src/sysemu/abi/_table_aarch64.py``.  arm64 numbers its calls from the asm-generic table
(``usr/lib/linux/uapi/arm64/asm/unistd_64.h``, generated from ``scripts/syscall.tbl``), whose
64-bit entry points are the x86-64 ones of the same name: each row takes its entry point and
params from the x86_64 row of that name (made in the same run with ``--linux``, else read from
the committed ``_table_x86_64.py``), except where ``AARCH64_ENTRIES`` says otherwise. Calls
numbered 424 or more that the headers do not have yet are taken from the x86_64 rows: since
Linux 5.1 a new call gets the same number on every architecture.

Standard library only; the kernel files are read, never copied into the repository.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "src" / "sysemu" / "abi"
OUT_X86_64 = "_table_x86_64.py"
OUT_I386 = "_table_i386.py"
OUT_AARCH64 = "_table_aarch64.py"

TBL_64 = "arch/x86/entry/syscalls/syscall_64.tbl"
# The first number every architecture shares (Linux 5.1's pidfd_send_signal on): a call added
# since has that number everywhere, so the aarch64 table may take newer calls from x86_64's.
UNIFIED_FROM = 424
TBL_32 = "arch/x86/entry/syscalls/syscall_32.tbl"
HEADERS_REQUIRED = ("include/linux/syscalls.h",)
# Read after syscalls.h, so a generic prototype wins over an arch header's duplicate of it.
HEADERS_OPTIONAL = (
    "include/linux/compat.h",
    "arch/x86/include/asm/syscalls.h",
    "arch/x86/include/asm/syscalls_32.h",
    "arch/x86/include/asm/syscalls_64.h",
    "arch/x86/include/asm/sys_ia32.h",
)

NI_SYSCALL = "sys_ni_syscall"

# Where linux-libc-dev keeps arm64's generated number list (6.11 and later), and its version.
AARCH64_UNISTD = (
    "usr/lib/linux/uapi/arm64/asm/unistd_64.h",
    "usr/include/aarch64-linux-gnu/asm/unistd_64.h",
)
UAPI_VERSION = "usr/include/linux/version.h"

Param = tuple[str, str]
Params = tuple[Param, ...]

# ---------------------------------------------------------------------------------------------
# Hand-written data.  Names follow the man pages (section 2) where they name the argument;
# types follow the kernel's definitions.  Keys are entry points, optionally prefixed with the
# ABI group ("x86_64:" covers x86_64 and x32, "i386:", "x32:") when the ABIs differ.
# ---------------------------------------------------------------------------------------------

# Full prototypes for entry points that no generic header declares.
OVERRIDES: dict[str, Params] = {
    # arch/x86: declared (if at all) only in arch headers, often without names.
    "sys_mmap": (
        ("addr", "unsigned long"),
        ("len", "unsigned long"),
        ("prot", "unsigned long"),
        ("flags", "unsigned long"),
        ("fd", "unsigned long"),
        ("off", "unsigned long"),
    ),
    "sys_arch_prctl": (("code", "int"), ("addr", "unsigned long")),
    "sys_modify_ldt": (("func", "int"), ("ptr", "void *"), ("bytecount", "unsigned long")),
    "sys_iopl": (("level", "unsigned int"),),
    "sys_rt_sigreturn": (),
    "sys_sigreturn": (),
    "compat_sys_x32_rt_sigreturn": (),
    "sys_set_thread_area": (("u_info", "struct user_desc *"),),
    "sys_get_thread_area": (("u_info", "struct user_desc *"),),
    "sys_vm86old": (("info", "struct vm86_struct *"),),
    "sys_vm86": (("fn", "unsigned long"), ("v86", "struct vm86plus_struct *")),
    # arch/x86/kernel/sys_ia32.c: 64-bit arguments of i386 calls arrive as two 32-bit halves,
    # low half first.
    "sys_ia32_pread64": (
        ("fd", "unsigned int"),
        ("buf", "char *"),
        ("count", "u32"),
        ("pos_lo", "u32"),
        ("pos_hi", "u32"),
    ),
    "sys_ia32_pwrite64": (
        ("fd", "unsigned int"),
        ("buf", "const char *"),
        ("count", "u32"),
        ("pos_lo", "u32"),
        ("pos_hi", "u32"),
    ),
    "sys_ia32_truncate64": (
        ("path", "const char *"),
        ("length_lo", "unsigned long"),
        ("length_hi", "unsigned long"),
    ),
    "sys_ia32_ftruncate64": (
        ("fd", "unsigned int"),
        ("length_lo", "unsigned long"),
        ("length_hi", "unsigned long"),
    ),
    "sys_ia32_readahead": (
        ("fd", "int"),
        ("offset_lo", "unsigned int"),
        ("offset_hi", "unsigned int"),
        ("count", "size_t"),
    ),
    "sys_ia32_fadvise64": (
        ("fd", "int"),
        ("offset_lo", "unsigned int"),
        ("offset_hi", "unsigned int"),
        ("len", "size_t"),
        ("advice", "int"),
    ),
    "sys_ia32_fadvise64_64": (
        ("fd", "int"),
        ("offset_lo", "__u32"),
        ("offset_hi", "__u32"),
        ("len_lo", "__u32"),
        ("len_hi", "__u32"),
        ("advice", "int"),
    ),
    "sys_ia32_sync_file_range": (
        ("fd", "int"),
        ("offset_lo", "unsigned int"),
        ("offset_hi", "unsigned int"),
        ("nbytes_lo", "unsigned int"),
        ("nbytes_hi", "unsigned int"),
        ("flags", "int"),
    ),
    "sys_ia32_fallocate": (
        ("fd", "int"),
        ("mode", "int"),
        ("offset_lo", "unsigned int"),
        ("offset_hi", "unsigned int"),
        ("len_lo", "unsigned int"),
        ("len_hi", "unsigned int"),
    ),
    # x32 entry points whose argument layout differs from the native call they replace: the
    # position is one 64-bit register, not the native pos_l/pos_h pair.
    "compat_sys_preadv64": (
        ("fd", "unsigned long"),
        ("vec", "const struct iovec *"),
        ("vlen", "unsigned long"),
        ("pos", "loff_t"),
    ),
    "compat_sys_pwritev64": (
        ("fd", "unsigned long"),
        ("vec", "const struct iovec *"),
        ("vlen", "unsigned long"),
        ("pos", "loff_t"),
    ),
    "compat_sys_preadv64v2": (
        ("fd", "unsigned long"),
        ("vec", "const struct iovec *"),
        ("vlen", "unsigned long"),
        ("pos", "loff_t"),
        ("flags", "rwf_t"),
    ),
    "compat_sys_pwritev64v2": (
        ("fd", "unsigned long"),
        ("vec", "const struct iovec *"),
        ("vlen", "unsigned long"),
        ("pos", "loff_t"),
        ("flags", "rwf_t"),
    ),
}

# Names for prototypes that the headers give with types only; the header's types are kept.
NAME_OVERRIDES: dict[str, tuple[str, ...]] = {
    "sys_io_submit": ("ctx_id", "nr", "iocbpp"),
    "sys_pselect6": ("nfds", "readfds", "writefds", "exceptfds", "timeout", "sigmask"),
    "sys_pselect6_time32": ("nfds", "readfds", "writefds", "exceptfds", "timeout", "sigmask"),
    "sys_ppoll": ("fds", "nfds", "tmo_p", "sigmask", "sigsetsize"),
    "sys_ppoll_time32": ("fds", "nfds", "tmo_p", "sigmask", "sigsetsize"),
    "sys_socket": ("domain", "type", "protocol"),
    "sys_socketpair": ("domain", "type", "protocol", "sv"),
    "sys_bind": ("sockfd", "addr", "addrlen"),
    "sys_listen": ("sockfd", "backlog"),
    "sys_accept": ("sockfd", "addr", "addrlen"),
    "sys_accept4": ("sockfd", "addr", "addrlen", "flags"),
    "sys_connect": ("sockfd", "addr", "addrlen"),
    "sys_getsockname": ("sockfd", "addr", "addrlen"),
    "sys_getpeername": ("sockfd", "addr", "addrlen"),
    "sys_sendto": ("sockfd", "buf", "len", "flags", "dest_addr", "addrlen"),
    "sys_recvfrom": ("sockfd", "buf", "len", "flags", "src_addr", "addrlen"),
    "sys_shutdown": ("sockfd", "how"),
    "sys_send": ("sockfd", "buf", "len", "flags"),
    "sys_recv": ("sockfd", "buf", "len", "flags"),
    "sys_rt_sigaction": ("sig", "act", "oact", "sigsetsize"),
    "sys_sigaction": ("sig", "act", "oact"),
    "sys_old_readdir": ("fd", "dirp", "count"),
    "sys_uname": ("buf",),
    "sys_olduname": ("buf",),
    # x86 selects CLONE_BACKWARDS for 32-bit code only: tls comes before child_tidptr there.
    "x86_64:sys_clone": ("flags", "newsp", "parent_tidptr", "child_tidptr", "tls"),
    "i386:sys_clone": ("flags", "newsp", "parent_tidptr", "tls", "child_tidptr"),
}

# aarch64 calls whose entry point differs from the x86-64 call of the same name:
# name -> (entry point, params) (include/uapi/asm-generic/unistd.h, mm/fadvise.c).
AARCH64_ENTRIES: dict[str, tuple[str, Params]] = {
    # asm-generic's __NR3264_fadvise64 is sys_fadvise64_64 on 64-bit: a 64-bit len.
    "fadvise64": (
        "sys_fadvise64_64",
        (("fd", "int"), ("offset", "loff_t"), ("len", "loff_t"), ("advice", "int")),
    ),
    # arm64 selects CLONE_BACKWARDS (arch/arm64/Kconfig): tls before child_tidptr, as i386.
    "clone": (
        "sys_clone",
        (
            ("flags", "unsigned long"),
            ("newsp", "unsigned long"),
            ("parent_tidptr", "int *"),
            ("tls", "unsigned long"),
            ("child_tidptr", "int *"),
        ),
    ),
}

# What the preprocessor conditions in the headers evaluate to for each ABI's kernel build
# (arch/x86/Kconfig, arch/x86/include/asm/unistd.h).  A name not listed here is unknown: a
# prototype under an unknown condition is used only when no known-good variant exists.
_COMMON_MACROS: dict[str, bool] = {
    # The prototypes sit under #ifndef CONFIG_ARCH_HAS_SYSCALL_WRAPPER; x86 sets it, but its
    # wrappers keep these exact signatures, so read the block as if it were unset.
    "CONFIG_ARCH_HAS_SYSCALL_WRAPPER": False,
    "CONFIG_ARCH_SPLIT_ARG64": False,
    "CONFIG_CLONE_BACKWARDS2": False,
    "CONFIG_CLONE_BACKWARDS3": False,
    "CONFIG_ODD_RT_SIGACTION": False,
    "CONFIG_OLD_SIGSUSPEND": False,
    "CONFIG_OLD_SIGSUSPEND3": True,
    "CONFIG_HAVE_UID16": True,
    "CONFIG_COMPAT": True,
    "CONFIG_X86": True,
    "__ARCH_WANT_SYS_UTIME": True,
    "__LITTLE_ENDIAN": True,
}
MACROS: dict[str, dict[str, bool]] = {
    "x86_64": {
        **_COMMON_MACROS,
        "CONFIG_X86_32": False,
        "CONFIG_X86_64": True,
        "CONFIG_64BIT": True,
        "CONFIG_CLONE_BACKWARDS": False,
        "CONFIG_OLD_SIGACTION": False,
        "__ARCH_WANT_STAT64": False,
        "__ARCH_WANT_SYS_OLD_GETRLIMIT": False,
    },
    "i386": {
        **_COMMON_MACROS,
        "CONFIG_X86_32": True,
        "CONFIG_X86_64": False,
        "CONFIG_64BIT": False,
        "CONFIG_CLONE_BACKWARDS": True,
        "CONFIG_OLD_SIGACTION": True,
        "__ARCH_WANT_STAT64": True,
        "__ARCH_WANT_SYS_OLD_GETRLIMIT": True,
    },
}
BITS_PER_LONG = {"x86_64": 64, "i386": 32}

# Scalar types that take two registers on i386 (low half first), for native sys_* prototypes.
_WIDE_TYPES = frozenset(
    {"loff_t", "u64", "__u64", "s64", "__s64", "long long", "unsigned long long"}
)


# ---------------------------------------------------------------------------------------------
# Table files
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TblRow:
    """One line of a syscall_*.tbl file."""

    nr: int
    abi: str
    name: str
    entry: str


def parse_tbl(text: str) -> list[TblRow]:
    """Rows of a syscall table file, in file order; rows without an entry point get ni_syscall."""
    rows = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 3:
            raise ValueError(f"malformed table line: {raw!r}")
        entry = fields[3] if len(fields) > 3 else NI_SYSCALL
        rows.append(TblRow(int(fields[0]), fields[1], fields[2], entry))
    return rows


def read_version(linux: Path) -> str:
    """``VERSION.PATCHLEVEL`` from the tree's top Makefile, or ``unknown``."""
    try:
        text = (linux / "Makefile").read_text(errors="replace")
    except OSError:
        return "unknown"
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL)\s*=\s*(\S+)\s*$", text, re.MULTILINE))
    if "VERSION" in fields and "PATCHLEVEL" in fields:
        return f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# C prototypes
# ---------------------------------------------------------------------------------------------

# A condition is a preprocessor expression that must evaluate to ``expected``.
Condition = tuple[str, bool]


@dataclass(frozen=True)
class Prototype:
    """One declaration of a syscall entry point, with the #if conditions around it."""

    entry: str
    params: tuple[tuple[str | None, str], ...]  # (name or None when the header omits it, type)
    conditions: tuple[Condition, ...]

    @property
    def named(self) -> bool:
        """Whether every parameter has a name."""
        return all(name is not None for name, _ in self.params)


_DECL = re.compile(
    r"^(?:asmlinkage\s+)?(?:(?:unsigned|signed|long|int|ssize_t|void)\s+)+\**\s*"
    r"(?P<entry>(?:compat_)?sys(?:32)?_\w+)\s*\((?P<params>.*)\)$",
    re.DOTALL,
)
_STRIP = re.compile(r"\b(?:__user|__force|__rcu|__kernel|__nocast|asmlinkage)\b")
_ATTRIBUTE = re.compile(r"__attribute__\s*\(\(.*?\)\)")
_TYPE_WORDS = frozenset(
    {
        "int",
        "long",
        "short",
        "char",
        "unsigned",
        "signed",
        "void",
        "const",
        "volatile",
        "struct",
        "union",
        "enum",
        "u8",
        "u16",
        "u32",
        "u64",
        "s8",
        "s16",
        "s32",
        "s64",
        "__u8",
        "__u16",
        "__u32",
        "__u64",
        "__s8",
        "__s16",
        "__s32",
        "__s64",
    }
)


def _strip_comments(text: str) -> str:
    """The text with C comments replaced by spaces (newlines kept, so line structure stays)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return re.sub(r"/\*.*?\*/|//[^\n]*", blank, text, flags=re.DOTALL)


def normalise_type(ctype: str) -> str:
    """A C type with kernel annotations dropped and spacing made canonical (``const char *``)."""
    ctype = _ATTRIBUTE.sub(" ", ctype)
    ctype = _STRIP.sub(" ", ctype)
    tokens = re.findall(r"\*|[A-Za-z_]\w*|\d+|\S", ctype)
    out = ""
    for tok in tokens:
        if tok == "*":
            out += "*" if out.endswith("*") else " *"
        elif out.endswith("*"):
            out += tok  # kernel style: ``char *const *``
        else:
            out = f"{out} {tok}" if out else tok
    return out.strip()


def split_param(raw: str) -> tuple[str | None, str]:
    """``(name, type)`` of one C parameter; name is None when the declaration has none."""
    text = _STRIP.sub(" ", _ATTRIBUTE.sub(" ", raw)).strip()
    # Array parameters (``int fds[2]``) decay to pointers.
    text, arrays = re.subn(r"\[[^\]]*\]", "", text)
    match = re.search(r"([A-Za-z_]\w*)\s*$", text)
    if match:
        head = text[: match.start()]
        word = match.group(1)
        head_tokens = re.findall(r"[A-Za-z_]\w*|\*", head)
        is_name = (
            bool(head_tokens)
            and word not in _TYPE_WORDS
            and not word.endswith("_t")
            and head_tokens[-1] not in {"struct", "union", "enum"}
        )
        if is_name:
            ctype = normalise_type(head + " *" * arrays)
            return word, ctype
    return None, normalise_type(text + " *" * arrays)


def split_params(text: str) -> list[str]:
    """Top-level comma-separated pieces of a parameter list."""
    pieces, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces]


def parse_prototypes(text: str) -> list[Prototype]:
    """Every ``sys_*``/``compat_sys_*`` declaration in a header, with its #if context.

    Handles declarations spread over several lines, comments anywhere, ``#define`` bodies
    (skipped, continuation lines included) and nested ``#if``/``#ifdef``/``#elif``/``#else``.
    """
    lines = _strip_comments(text).split("\n")
    stack: list[list[Condition]] = []  # one frame per open #if; a frame is a conjunction
    protos: list[Prototype] = []
    stmt = ""
    stmt_conditions: tuple[Condition, ...] = ()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        stripped = line.strip()
        if stripped.startswith("#"):
            # Join continuation lines of the directive.
            while stripped.endswith("\\") and i < len(lines):
                stripped = stripped[:-1] + " " + lines[i].strip()
                i += 1
            _directive(stripped[1:].strip(), stack)
            continue
        if not stmt.strip():
            stmt_conditions = tuple(c for frame in stack for c in frame)
        for ch in line + "\n":
            stmt += ch
            if ch in ";{}" and stmt.count("(") == stmt.count(")"):
                _finish(stmt, stmt_conditions, protos)
                stmt = ""
                stmt_conditions = tuple(c for frame in stack for c in frame)
    return protos


def _directive(text: str, stack: list[list[Condition]]) -> None:
    """Apply one preprocessor directive to the condition stack."""
    keyword, _, rest = text.partition(" ")
    rest = rest.strip()
    if keyword == "ifdef":
        stack.append([(f"defined({rest})", True)])
    elif keyword == "ifndef":
        stack.append([(f"defined({rest})", False)])
    elif keyword == "if":
        stack.append([(rest, True)])
    elif keyword == "elif" and stack:
        frame = stack[-1]
        # Every earlier branch was false; the latest one was the last condition in the frame.
        flipped = [
            (expr, not want) if n == len(frame) - 1 else (expr, want)
            for n, (expr, want) in enumerate(frame)
        ]
        stack[-1] = [*flipped, (rest, True)]
    elif keyword == "else" and stack:
        expr, want = stack[-1][-1]
        stack[-1] = [*stack[-1][:-1], (expr, not want)]
    elif keyword == "endif" and stack:
        stack.pop()


def _finish(stmt: str, conditions: tuple[Condition, ...], out: list[Prototype]) -> None:
    """Record ``stmt`` if it declares a syscall entry point."""
    text = " ".join(stmt.split()).rstrip(";{} ").strip()
    match = _DECL.match(text)
    if not match:
        return
    raw = match.group("params").strip()
    params = [] if raw in {"", "void"} else [split_param(p) for p in split_params(raw)]
    out.append(Prototype(match.group("entry"), tuple(params), conditions))


# --- preprocessor expressions, three-valued (True / False / None = unknown) -------------------

_TOKEN = re.compile(r"\s*(defined|\|\||&&|==|!=|<=|>=|[()!<>]|[A-Za-z_]\w*|\d+)")


def evaluate(expr: str, macros: Mapping[str, bool | int]) -> bool | None:
    """Evaluate a preprocessor condition; None when it depends on something not in ``macros``.

    Include guards (``_FOO_H``) count as undefined.
    """
    tokens = _TOKEN.findall(expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def value_of(name: str) -> bool | int | None:
        if name in macros:
            return macros[name]
        if re.fullmatch(r"_\w*_H", name):
            return False
        return None

    def primary() -> bool | int | None:
        tok = take()
        if tok == "(":
            val = or_expr()
            if peek() == ")":
                take()
            return val
        if tok == "!":
            inner = primary()
            return None if inner is None else not inner
        if tok == "defined":
            paren = peek() == "("
            if paren:
                take()
            name = take()
            if paren and peek() == ")":
                take()
            val = value_of(name)
            return None if val is None else bool(val)
        if tok.isdigit():
            return int(tok)
        return value_of(tok)

    def comparison() -> bool | int | None:
        left = primary()
        while peek() in {"==", "!=", "<", ">", "<=", ">="}:
            op = take()
            right = primary()
            if left is None or right is None:
                left = None
                continue
            left = {
                "==": left == right,
                "!=": left != right,
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[op]
        return left

    def and_expr() -> bool | int | None:
        left = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            if left is False or right is False or left == 0 or right == 0:
                left = False
            elif left is None or right is None:
                left = None
            else:
                left = True
        return left

    def or_expr() -> bool | int | None:
        left = and_expr()
        while peek() == "||":
            take()
            right = and_expr()
            if (left not in (None, False, 0)) or (right not in (None, False, 0)):
                left = True
            elif left is None or right is None:
                left = None
            else:
                left = False
        return left

    try:
        result = or_expr()
    except IndexError:
        return None
    return None if result is None else bool(result)


def _score(proto: Prototype, group: str) -> int:
    """2: every condition holds for ``group``; 1: some unknown; 0: excluded."""
    macros: dict[str, bool | int] = {**MACROS[group], "BITS_PER_LONG": BITS_PER_LONG[group]}
    score = 2
    for expr, want in proto.conditions:
        val = evaluate(expr, macros)
        if val is None:
            score = 1
        elif val != want:
            return 0
    return score


class Resolver:
    """Finds the parameter list of an entry point for one ABI group."""

    def __init__(self, prototypes: Iterable[Prototype]) -> None:
        self.by_entry: dict[str, list[Prototype]] = {}
        for proto in prototypes:
            self.by_entry.setdefault(proto.entry, []).append(proto)

    def best(self, entry: str, group: str) -> Prototype | None:
        """The declaration of ``entry`` that ``group``'s build would see (first wins ties)."""
        best: Prototype | None = None
        best_score = 0
        for proto in self.by_entry.get(entry, ()):
            score = _score(proto, group)
            if score > best_score:
                best, best_score = proto, score
        return best

    def params(self, entry: str, group: str, abi: str) -> Params:
        """Named parameters of ``entry`` as called through ``abi`` (a group member).

        Raises LookupError when neither the headers nor the overrides name them.
        """
        if entry == NI_SYSCALL:
            return ()
        for key in (f"{abi}:{entry}", f"{group}:{entry}", entry):
            if key in OVERRIDES:
                return OVERRIDES[key]
        proto = None
        if entry.startswith("compat_sys_") and BITS_PER_LONG[group] == 64:
            # x32 compat entry points keep the native call's arguments; only the layout of the
            # pointed-to structures differs. (Until 6.17 compat.h declared its prototypes under
            # CONFIG_COMPAT, which this build lacks; 7.x declares them unconditionally.)
            native = "sys_" + entry[len("compat_sys_") :]
            proto = self.best(native, group) or self.best(
                re.sub(r"_time(32|64)$", "", native), group
            )
        if proto is None:
            proto = self.best(entry, group)
        if proto is None:
            raise LookupError(f"{abi}: no prototype for {entry}")
        names: Sequence[str | None] = [name for name, _ in proto.params]
        for key in (f"{abi}:{proto.entry}", f"{group}:{proto.entry}", proto.entry):
            if key in NAME_OVERRIDES:
                names = NAME_OVERRIDES[key]
                break
        if len(names) != len(proto.params) or any(n is None for n in names):
            raise LookupError(f"{abi}: {entry} has unnamed parameters: {proto.params}")
        params = [(str(n), t) for n, (_, t) in zip(names, proto.params, strict=True)]
        if BITS_PER_LONG[group] == 32:
            params = _split_wide(params)
        return tuple(params)


def _split_wide(params: Sequence[Param]) -> list[Param]:
    """Split 64-bit scalars into the two 32-bit registers i386 passes them in, low half first."""
    out: list[Param] = []
    for name, ctype in params:
        if ctype in _WIDE_TYPES:
            out += [(f"{name}_lo", "u32"), (f"{name}_hi", "u32")]
        else:
            out.append((name, ctype))
    return out


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header(version: str, what: str) -> list[str]:
    return [
        f"# Generated by scripts/gen_syscalls.py from Linux {version}; do not edit.",
        f'"""{what}."""',
        "",
        f"LINUX_VERSION = {_q(version)}",
        "",
    ]


def _literal_row(nr: int, column: str, name: str, entry: str, params: Params) -> str:
    """One row of a table's ``TABLE`` string, as a Python string literal ending in a newline:
    number, ABI column, name, entry point and parameters (``name:type`` joined by ``;``),
    separated by tabs."""
    fields = ";".join(f"{param}:{ctype}" for param, ctype in params)
    text = f"{nr}\t{column}\t{name}\t{entry}\t{fields}"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '\\n"'


def _render_table(
    version: str, what: str, rows: Sequence[tuple[int, str, str, str, Params]]
) -> str:
    lines = _header(version, what)
    lines += [
        "# One line per row: number, ABI column, name, entry point, parameters (name:type joined",
        "# by ';'), separated by tabs; sysemu.abi.syscalls reads the rows it is asked for. One",
        "# string loads as one copy, where ~450 tuples of tuples of strings took milliseconds.",
        "TABLE = (",
        '    "\\n"',
    ]
    # In number order, which sysemu.abi.syscalls relies on (the .tbl files are already).
    lines += [f"    {_literal_row(*row)}" for row in sorted(rows, key=lambda row: row[0])]
    lines.append(")")
    return "\n".join(lines) + "\n"


def render_x86_64(version: str, rows: Sequence[tuple[TblRow, Params]]) -> str:
    """Source of ``_table_x86_64.py``: the rows of syscall_64.tbl (columns common, 64, x32)."""
    return _render_table(
        version,
        "x86_64 and x32 rows of syscall_64.tbl, with named parameters",
        [(row.nr, row.abi, row.name, row.entry, params) for row, params in rows],
    )


def render_i386(version: str, rows: Sequence[tuple[TblRow, Params]]) -> str:
    """Source of ``_table_i386.py``: the rows of syscall_32.tbl (column i386)."""
    return _render_table(
        version,
        "i386 rows of syscall_32.tbl, with named parameters",
        [(row.nr, row.abi, row.name, row.entry, params) for row, params in rows],
    )


def parse_unistd(text: str) -> list[tuple[int, str]]:
    """``(number, name)`` of each ``#define __NR_name number`` of a generated unistd header."""
    found = re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", text, re.MULTILINE)
    return [(int(match.group(2)), match.group(1)) for match in found]


def read_uapi_version(headers: Path) -> str:
    """``MAJOR.PATCHLEVEL`` from the package's ``linux/version.h``, or ``unknown``."""
    try:
        text = (headers / UAPI_VERSION).read_text()
    except OSError:
        return "unknown"
    fields = dict(re.findall(r"^#define LINUX_VERSION_(MAJOR|PATCHLEVEL) (\d+)", text, re.M))
    if "MAJOR" in fields and "PATCHLEVEL" in fields:
        return f"{fields['MAJOR']}.{fields['PATCHLEVEL']}"
    return "unknown"


def _committed_x86_64_rows(out: Path) -> list[tuple[TblRow, Params]]:
    namespace: dict[str, object] = {}
    exec((out / OUT_X86_64).read_text(), namespace)  # generated data: literals only
    text = namespace["TABLE"]
    assert isinstance(text, str)
    return [_parse_row(line) for line in text.split("\n") if line]


def _parse_row(line: str) -> tuple[TblRow, Params]:
    """A row of a ``TABLE`` text, as :func:`_literal_row` wrote it."""
    nr, column, name, entry, fields = line.split("\t")
    params = tuple(
        (param, ctype)
        for param, ctype in (item.split(":", 1) for item in fields.split(";") if item)
    )
    return TblRow(int(nr), column, name, entry), params


def generate_aarch64(headers: Path, x86_64: Sequence[tuple[TblRow, Params]]) -> str:
    """Source of ``_table_aarch64.py`` from the unpacked ``linux-libc-dev`` at ``headers``,
    with entry points and params from the x86_64 rows ``x86_64``.

    Raises FileNotFoundError without the number list, LookupError for a name that neither
    the x86_64 rows nor ``AARCH64_ENTRIES`` give an entry point.
    """
    unistd = next((headers / rel for rel in AARCH64_UNISTD if (headers / rel).is_file()), None)
    if unistd is None:
        raise FileNotFoundError(f"{headers}: missing {' or '.join(AARCH64_UNISTD)}")
    native = {row.name: (row.entry, params) for row, params in x86_64 if row.abi != "x32"}
    rows: list[tuple[TblRow, Params]] = []
    missing = []
    for nr, name in parse_unistd(unistd.read_text()):
        found = AARCH64_ENTRIES.get(name) or native.get(name)
        if found is None:
            missing.append(name)
            continue
        rows.append((TblRow(nr, "common", name, found[0]), found[1]))
    if missing:
        raise LookupError("aarch64: no entry point for " + ", ".join(missing))
    # From 424 on, every architecture gives a new call the same number (the unified table,
    # Linux 5.1): the x86_64 rows of a newer kernel than the headers name the rest.
    known = {row.nr for row, _ in rows}
    newer = [
        (TblRow(row.nr, "common", row.name, row.entry), params)
        for row, params in x86_64
        if row.nr >= UNIFIED_FROM and row.abi == "common" and row.nr not in known
    ]
    what = "aarch64 (asm-generic) calls, with named parameters"
    if newer:
        what += f"; {newer[0][0].nr}-{newer[-1][0].nr} from the x86_64 table's unified numbers"
    return _render_table(
        read_uapi_version(headers),
        what,
        [(row.nr, row.abi, row.name, row.entry, params) for row, params in rows + newer],
    )


def generate(linux: Path) -> tuple[dict[str, str], list[tuple[TblRow, Params]]]:
    """File name -> generated source, for the tree at ``linux``, and its x86_64 rows.

    Raises LookupError naming every entry point left without named parameters.
    """
    missing = [p for p in (TBL_64, TBL_32, *HEADERS_REQUIRED) if not (linux / p).is_file()]
    if missing:
        raise FileNotFoundError(f"{linux}: missing {', '.join(missing)}")
    prototypes: list[Prototype] = []
    for rel in (*HEADERS_REQUIRED, *HEADERS_OPTIONAL):
        path = linux / rel
        if path.is_file():
            prototypes += parse_prototypes(path.read_text(errors="replace"))
    resolver = Resolver(prototypes)
    version = read_version(linux)
    errors: list[str] = []

    def resolve(
        rows: list[TblRow], group: str, abi_of: dict[str, str]
    ) -> list[tuple[TblRow, Params]]:
        out = []
        for row in rows:
            try:
                params = resolver.params(row.entry, group, abi_of.get(row.abi, group))
            except LookupError as exc:
                errors.append(str(exc))
                params = ()
            out.append((row, params))
        return out

    rows64 = parse_tbl((linux / TBL_64).read_text())
    rows32 = parse_tbl((linux / TBL_32).read_text())
    res64 = resolve(rows64, "x86_64", {"common": "x86_64", "64": "x86_64", "x32": "x32"})
    res32 = resolve(rows32, "i386", {"i386": "i386"})
    if errors:
        raise LookupError("no named parameters for:\n  " + "\n  ".join(sorted(set(errors))))
    return {
        OUT_X86_64: render_x86_64(version, res64),
        OUT_I386: render_i386(version, res32),
    }, res64


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--linux", type=Path, help="Linux source tree (the x86 tables)")
    parser.add_argument(
        "--aarch64-headers",
        type=Path,
        help="unpacked linux-libc-dev, 6.11 or later (the aarch64 table)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed tables are stale"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.linux is None and args.aarch64_headers is None:
        parser.error("give --linux, --aarch64-headers or both")
    files: dict[str, str] = {}
    try:
        if args.linux is not None:
            files, x86_64 = generate(args.linux)
        else:
            x86_64 = _committed_x86_64_rows(args.out)
        if args.aarch64_headers is not None:
            files[OUT_AARCH64] = generate_aarch64(args.aarch64_headers, x86_64)
    except (OSError, LookupError) as exc:
        print(f"gen_syscalls: {exc}", file=sys.stderr)
        return 2
    stale = []
    for name, text in files.items():
        path = args.out / name
        current = path.read_text() if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("gen_syscalls: out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
