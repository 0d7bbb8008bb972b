"""System-call signatures per ABI: numbers, names, and what each argument register holds.

The rows come from the generated ``_table_x86_64``, ``_table_i386`` and ``_table_aarch64``
modules (see ``scripts/gen_syscalls.py``); this module turns them into :class:`Syscall`
entries whose parameters carry an :class:`ArgKind`, the number of register bits the kernel
reads, and their signedness. Each ABI's table is built on first use and then cached, so
importing this module costs nothing.
"""

from __future__ import annotations

import _thread
import enum
from collections.abc import Iterable

from sysemu._typing import NamedTuple
from sysemu.abi.abi import X32_SYSCALL_BIT, Abi, machine_abis

NI_SYSCALL = "sys_ni_syscall"


class ArgKind(enum.Enum):
    """What an argument register holds, as far as a rule or a decoder needs to know."""

    INT = "int"
    """A signed integer with no more specific meaning below (``int``, ``__s32``)."""
    UINT = "uint"
    """An unsigned 32-bit integer (``unsigned int``, ``u32``, ``uid_t``)."""
    LONG = "long"
    """A signed register-wide integer (``long``)."""
    ULONG = "ulong"
    """An unsigned register-wide or 64-bit integer (``unsigned long``, ``size_t``, ``u64``)."""
    POINTER = "pointer"
    """An address in the tracee that is not a string: buffers, structs, arrays."""
    STRING = "string"
    """The address of a NUL-terminated string that names no file (xattr or key names)."""
    PATH = "path"
    """The address of a NUL-terminated file name the kernel resolves."""
    FD = "fd"
    """A file descriptor number."""
    DIRFD = "dirfd"
    """A directory descriptor a relative PATH is resolved against (may be ``AT_FDCWD``)."""
    PID = "pid"
    """A process or thread ID (negative values name process groups where the call allows)."""
    SIGNAL = "signal"
    """A signal number."""
    MODE = "mode"
    """File permission bits and type (``umode_t``, and ``umask``'s argument)."""
    FLAGS = "flags"
    """A bit set of ``*_FLAG`` / ``O_*`` / ``AT_*`` style options."""
    OFFSET = "offset"
    """A file offset (``loff_t``, ``off_t``)."""


# NamedTuples rather than dataclasses: cheaper to create at start-up, and as immutable.
class Param(NamedTuple):
    """One argument of a system call.

    ``bits`` is how many low bits of the register the kernel uses (the rest is ignored, so a
    rule must compare only those); ``signed`` says whether those bits are two's complement.
    """

    name: str
    ctype: str
    kind: ArgKind
    bits: int
    signed: bool


class Syscall(NamedTuple):
    """One system call of one ABI: its table number, names and signature."""

    abi: Abi
    nr: int
    """The number in the ABI's table (x32 numbers without the x32 bit)."""
    name: str
    entry: str
    """The kernel function the table points at; ``sys_ni_syscall`` when not implemented."""
    params: tuple[Param, ...]

    @property
    def implemented(self) -> bool:
        """False for table slots the kernel answers with ENOSYS."""
        return self.entry != NI_SYSCALL

    @property
    def filter_nr(self) -> int:
        """The number a seccomp filter sees for this call (x32 calls carry the x32 bit)."""
        return self.nr + self.abi.nr_bias

    def param_index(self, name: str) -> int:
        """Position of the parameter called ``name``; raises KeyError if there is none."""
        for index, param in enumerate(self.params):
            if param.name == name:
                return index
        raise KeyError(f"{self.name} has no parameter {name!r}")

    @property
    def path_params(self) -> tuple[int, ...]:
        """Positions of the parameters that hold file names (:attr:`ArgKind.PATH`)."""
        return tuple(i for i, p in enumerate(self.params) if p.kind is ArgKind.PATH)


# ---------------------------------------------------------------------------------------------
# Classifying parameters
# ---------------------------------------------------------------------------------------------

_WORD = 0  # placeholder width: the ABI's register width

# C type -> (bits, signed) for scalars; _WORD means "as wide as a register of the ABI".
_SCALARS: dict[str, tuple[int, bool]] = {
    "int": (32, True),
    "__s32": (32, True),
    "s32": (32, True),
    "pid_t": (32, True),
    "key_serial_t": (32, True),
    "clockid_t": (32, True),
    "timer_t": (32, True),
    "mqd_t": (32, True),
    "key_t": (32, True),
    "rwf_t": (32, True),
    "unsigned": (32, False),
    "unsigned int": (32, False),
    "u32": (32, False),
    "__u32": (32, False),
    "uint32_t": (32, False),
    "uid_t": (32, False),
    "gid_t": (32, False),
    "qid_t": (32, False),
    "umode_t": (16, False),
    "old_uid_t": (16, False),
    "old_gid_t": (16, False),
    "long": (_WORD, True),
    "off_t": (_WORD, True),
    "unsigned long": (_WORD, False),
    "size_t": (_WORD, False),
    "aio_context_t": (_WORD, False),
    "old_sigset_t": (_WORD, False),
    "loff_t": (64, True),
    "u64": (64, False),
    "__u64": (64, False),
}
# Typedefs that are pointers underneath.
_POINTER_TYPEDEFS = frozenset({"cap_user_header_t", "cap_user_data_t", "__sighandler_t"})
_CHAR_POINTERS = frozenset({"char *", "const char *"})
# ``const char *`` parameters that are byte buffers with a length, not NUL-terminated strings.
_BUFFER_NAMES = frozenset({"buf", "ubuf", "msg_ptr", "u_msg_ptr"})

_PATH_NAMES = frozenset(
    {
        "filename",
        "pathname",
        "path",
        "oldname",
        "newname",
        "oldpath",
        "newpath",
        "new",
        "dir_name",
        "dev_name",
        "library",
        "specialfile",
        "special",
        "new_root",
        "put_old",
        "from_path",
        "to_path",
    }
)
_FD_NAMES = frozenset(
    {
        "fd",
        "oldfd",
        "newfd",
        "fd_in",
        "fd_out",
        "fdin",
        "fdout",
        "epfd",
        "in_fd",
        "out_fd",
        "ufd",
        "fildes",
        "sockfd",
        "pidfd",
        "fanotify_fd",
        "ruleset_fd",
        "fs_fd",
        "kernel_fd",
        "initrd_fd",
        "group_fd",
        "mountdirfd",
        "mqdes",  # a message queue descriptor is a file descriptor on Linux
    }
)
_DIRFD_NAMES = frozenset({"dfd", "dirfd", "olddfd", "newdfd", "from_dfd", "to_dfd"})
_PID_NAMES = frozenset({"pid", "tgid", "pgid", "pid1", "pid2"})
_FLAGS_NAMES = frozenset(
    {
        "flags",
        "flag",
        "at_flags",
        "ms_flags",
        "oflag",
        "msgflg",
        "semflg",
        "shmflg",
        "swap_flags",
        "event_f_flags",
        "unshare_flags",
        "options",
        "prot",
    }
)
# Where the name alone would mislead: (syscall name, parameter name) -> kind.
_KIND_BY_CALL: dict[tuple[str, str], ArgKind] = {
    # The link target is stored as given and never resolved by this call.
    ("symlink", "old"): ArgKind.STRING,
    ("symlinkat", "oldname"): ArgKind.STRING,
    # Names that are file names although the parameter is just called "name".
    ("acct", "name"): ArgKind.PATH,
    ("umount", "name"): ArgKind.PATH,
    ("umount2", "name"): ArgKind.PATH,
    ("name_to_handle_at", "name"): ArgKind.PATH,
    ("mount", "type"): ArgKind.STRING,
    # fanotify_mark's "fd" is the directory its pathname is relative to.
    ("fanotify_mark", "fd"): ArgKind.DIRFD,
    ("mmap", "off"): ArgKind.OFFSET,
    ("umask", "mask"): ArgKind.MODE,
}

# Kinds whose values the kernel narrows to 32 bits whatever the C type (fdget, find_vpid...).
_NARROW_KINDS = frozenset({ArgKind.FD, ArgKind.DIRFD, ArgKind.PID, ArgKind.SIGNAL})


def classify(syscall: str, name: str, ctype: str, word_bits: int) -> Param:
    """The :class:`Param` for argument ``name`` of type ``ctype`` of ``syscall``.

    ``word_bits`` is the ABI's register width (32 for i386, 64 otherwise).
    """
    if "*" in ctype or ctype.removeprefix("const ") in _POINTER_TYPEDEFS:
        if name in _PATH_NAMES and ctype in _CHAR_POINTERS:
            kind = ArgKind.PATH
        elif ctype == "const char *" and name not in _BUFFER_NAMES:
            kind = ArgKind.STRING
        else:
            kind = ArgKind.POINTER
        kind = _KIND_BY_CALL.get((syscall, name), kind)
        return Param(name, ctype, kind, word_bits, False)

    # Enums are ints; a type this table does not know is taken as an unsigned register.
    width, signed = (32, True) if ctype.startswith("enum ") else _SCALARS.get(ctype, (_WORD, False))
    bits = word_bits if width == _WORD else min(width, word_bits)
    if ctype == "umode_t":
        kind = ArgKind.MODE
    elif ctype in {"loff_t", "off_t"}:
        kind = ArgKind.OFFSET
    elif name == "sig":
        kind = ArgKind.SIGNAL
    elif name in _DIRFD_NAMES:
        kind = ArgKind.DIRFD
    elif name in _FD_NAMES:
        kind = ArgKind.FD
    elif name in _PID_NAMES or ctype == "pid_t":
        kind = ArgKind.PID
    elif name in _FLAGS_NAMES:
        kind = ArgKind.FLAGS
    elif width in {_WORD, 64}:
        kind = ArgKind.LONG if signed else ArgKind.ULONG
    else:
        kind = ArgKind.INT if signed else ArgKind.UINT
    kind = _KIND_BY_CALL.get((syscall, name), kind)
    if kind in _NARROW_KINDS:
        bits = min(bits, 32)
    return Param(name, ctype, kind, bits, signed)


# How a row whose parameter may hold a file name reads in a table's text: the parameter's
# name, after the tab that starts the parameters or the ';' between two, and before its type;
# or, for a call whose parameter is one by exception ("name" of umount), the call's name.
_PATH_NEEDLES = (
    *(f"{separator}{name}:" for name in sorted(_PATH_NAMES) for separator in ("\t", ";")),
    *(f"\t{call}\t" for (call, _), kind in _KIND_BY_CALL.items() if kind is ArgKind.PATH),
)

# ---------------------------------------------------------------------------------------------
# Tables, built on first use
# ---------------------------------------------------------------------------------------------


# Params by their "name:type" text and register width: most calls share their parameters
# ("fd:unsigned int", "filename:const char *"), and a vfs run classifies hundreds.
_PARAMS: dict[tuple[str, int], Param] = {}


def _param(syscall: str, item: str, word_bits: int) -> Param:
    """:func:`classify` for a table's ``name:type`` text, shared between calls unless
    ``syscall`` overrides that parameter's kind."""
    name, ctype = item.split(":", 1)
    if (syscall, name) in _KIND_BY_CALL:
        return classify(syscall, name, ctype, word_bits)
    key = (item, word_bits)
    param = _PARAMS.get(key)
    if param is None:
        param = _PARAMS[key] = classify(syscall, name, ctype, word_bits)
    return param


class _Table:
    """One ABI's rows, read from its generated module's ``TABLE`` text (a line per row:
    number, ABI column, name, entry point, ``name:type`` parameters joined by ``;``; see
    ``scripts/gen_syscalls.py``). A row is found by searching the text and made into a
    :class:`Syscall` on first lookup: a run with a handful of handlers reads a handful of
    rows, and loading the text is one copy."""

    __slots__ = (
        "_abi",
        "_by_name",
        "_by_nr",
        "_calls",
        "_columns",
        "_names",
        "_split",
        "_text",
        "_with_paths",
        "linux_version",
    )

    def __init__(self, abi: Abi, version: str, text: str, columns: frozenset[str]) -> None:
        self.linux_version = version
        self._abi = abi
        self._text = text
        self._columns = columns  # the rows of this ABI: the text may hold another's (x32's)
        self._by_name: dict[str, Syscall | None] = {}
        self._by_nr: dict[int, Syscall | None] = {}
        self._calls: tuple[Syscall, ...] | None = None
        self._names: tuple[str, ...] | None = None
        self._split: list[list[str]] | None = None
        self._with_paths: tuple[Syscall, ...] | None = None

    def _found(self, needle: str, field: int, value: str) -> Syscall | None:
        """The first row of this ABI whose ``field`` is ``value``, where ``needle`` is what
        that field looks like in the text with its separators."""
        text = self._text
        at = text.find(needle)
        while at >= 0:
            start = text.rfind("\n", 0, at + 1) + 1
            end = text.find("\n", at + 1)
            fields = text[start:end].split("\t")
            if fields[field] == value and fields[1] in self._columns:
                return self._entry(fields)
            at = text.find(needle, at + 1)
        return None

    def _syscall(self, fields: list[str]) -> Syscall:
        nr, _column, name, kernel_entry, params = fields
        word_bits = self._abi.word_bits
        signature = tuple(_param(name, item, word_bits) for item in params.split(";") if item)
        return Syscall(self._abi, int(nr), name, kernel_entry, signature)

    def _lines(self) -> list[list[str]]:
        """Every row of this ABI, split into its fields, in number order (the generator
        writes the rows so); split once, for the lookups that walk the whole table."""
        if self._split is None:
            columns = self._columns
            rows = (line.split("\t") for line in self._text[1:-1].split("\n"))
            self._split = [row for row in rows if row[1] in columns]
        return self._split

    def _entry(self, fields: list[str]) -> Syscall:
        """The row's :class:`Syscall`, made once (a lookup by number may have made it)."""
        nr = int(fields[0])
        entry = self._by_nr.get(nr)
        if entry is None:
            entry = self._by_nr[nr] = self._syscall(fields)
        return entry

    def by_name(self, name: str) -> Syscall | None:
        try:
            return self._by_name[name]
        except KeyError:
            found = self._by_name[name] = self._found(f"\t{name}\t", 2, name)
            return found

    def by_nr(self, nr: int) -> Syscall | None:
        if nr in self._by_nr:
            return self._by_nr[nr]
        found = self._by_nr[nr] = self._found(f"\n{nr}\t", 0, str(nr))
        return found

    def with_paths(self) -> tuple[Syscall, ...]:
        """The implemented calls with a :attr:`ArgKind.PATH` parameter, in number order.

        Only rows whose text names a parameter that could be one are classified, and they
        are found by searching the text for those names: splitting every row of the three
        x86 ABIs cost each ``--bind`` run about 20M instructions.
        """
        if self._with_paths is not None:
            return self._with_paths
        text = self._text
        starts: set[int] = set()
        for needle in _PATH_NEEDLES:
            at = text.find(needle)
            while at >= 0:
                starts.add(text.rfind("\n", 0, at) + 1)
                at = text.find(needle, at + 1)
        found = []
        for start in sorted(starts):  # (the rows are written in number order)
            fields = text[start : text.find("\n", start)].split("\t")
            if fields[1] in self._columns and fields[3] != NI_SYSCALL:
                entry = self._entry(fields)
                if entry.path_params:
                    found.append(entry)
        self._with_paths = tuple(found)
        return self._with_paths

    @property
    def names(self) -> tuple[str, ...]:
        """Every call's name, in number order (no call is classified for it)."""
        if self._names is None:
            self._names = tuple(fields[2] for fields in self._lines())
        return self._names

    @property
    def calls(self) -> tuple[Syscall, ...]:
        if self._calls is None:
            self._calls = tuple(self._entry(fields) for fields in self._lines())
        return self._calls


_TABLES: dict[Abi, _Table] = {}
_LOCK = _thread.allocate_lock()  # threading.Lock, without importing threading
# The ABI column values of each ABI's rows (syscall_64.tbl holds x86_64's and x32's).
_COLUMNS = {
    Abi.X86_64: frozenset({"common", "64"}),
    Abi.X32: frozenset({"common", "x32"}),
    Abi.I386: frozenset({"i386"}),
    Abi.AARCH64: frozenset({"common"}),
}


def _load(abi: Abi) -> _Table:
    # Imported here, not at the top: importing sysemu.abi must not pay for the tables.
    if abi is Abi.I386:
        from sysemu.abi import _table_i386 as table  # noqa: PLC0415
    elif abi is Abi.AARCH64:
        from sysemu.abi import _table_aarch64 as table  # type: ignore[no-redef]  # noqa: PLC0415
    else:
        from sysemu.abi import _table_x86_64 as table  # type: ignore[no-redef]  # noqa: PLC0415
    return _Table(abi, table.LINUX_VERSION, table.TABLE, _COLUMNS[abi])


def _table(abi: Abi) -> _Table:
    table = _TABLES.get(abi)
    if table is None:
        with _LOCK:
            table = _TABLES.get(abi)
            if table is None:
                table = _TABLES[abi] = _load(abi)
    return table


def _table_nr(nr: int, abi: Abi) -> int:
    # x32 numbers are accepted with or without the x32 bit.
    return nr & ~X32_SYSCALL_BIT if abi is Abi.X32 else nr


def _native() -> Abi:
    # The machine's native ABI; x86_64 on a machine sysemu does not run on (data lookups only).
    return next(iter(machine_abis()), Abi.X86_64)


def syscall_by_name(name: str, abi: Abi | None = None) -> Syscall:
    """The call named ``name`` in ``abi`` (default: the machine's native ABI); raises KeyError
    if that ABI has none."""
    abi = _native() if abi is None else abi
    call = _table(abi).by_name(name)
    if call is None:
        raise KeyError(f"unknown syscall {name!r} for {abi}")
    return call


def syscall_by_number(nr: int, abi: Abi) -> Syscall | None:
    """The call with table number ``nr`` in ``abi`` (x32: with or without the x32 bit)."""
    return _table(abi).by_nr(_table_nr(nr, abi))


def syscalls(abi: Abi) -> tuple[Syscall, ...]:
    """Every call of ``abi``, unimplemented slots included, in number order."""
    return _table(abi).calls


def path_calls(abi: Abi) -> tuple[Syscall, ...]:
    """Every implemented call of ``abi`` with a file name parameter, in number order."""
    return _table(abi).with_paths()


def names(abi: Abi) -> tuple[str, ...]:
    """The names of every call of ``abi``, in number order."""
    return _table(abi).names


def name_of(abi: Abi, nr: int) -> str:
    """The name of call ``nr`` in ``abi``, or ``"syscall_<nr>"`` for a number it lacks."""
    call = _table(abi).by_nr(_table_nr(nr, abi))
    return call.name if call is not None else f"syscall_{nr}"


UNKNOWN_PREFIX = "syscall_"
"""How a number no table names is called: ``syscall_1005`` (strace writes ``syscall_0x3ed``)."""


def unknown_syscall(nr: int, abi: Abi) -> Syscall:
    """An entry for number ``nr`` of ``abi`` that its table lacks (an experimental call, or
    one newer than the tables): named ``syscall_<nr>``, six unsigned register-wide arguments,
    as strace shows such calls."""
    params = tuple(
        Param(f"arg{i}", "unsigned long", ArgKind.ULONG, abi.word_bits, False) for i in range(6)
    )
    return Syscall(abi=abi, nr=nr, name=f"{UNKNOWN_PREFIX}{nr}", entry="", params=params)


def unknown_number(name: str) -> int | None:
    """The number in ``syscall_1005`` or strace's ``syscall_0x3ed``; None for other names."""
    if not name.startswith(UNKNOWN_PREFIX):
        return None
    digits = name[len(UNKNOWN_PREFIX) :]
    if digits.isascii() and digits.isdigit():
        return int(digits)
    hex_digits = digits[2:]
    if digits[:2] == "0x" and hex_digits.isascii() and hex_digits.isalnum():
        try:
            return int(hex_digits, 16)
        except ValueError:  # (letters past f)
            return None
    return None


def syscall_named(name: str, abi: Abi) -> Syscall | None:
    """The call ``name`` of ``abi``, where ``syscall_<nr>`` names number ``nr`` (the table's
    call when it has one, else :func:`unknown_syscall`); None when ``abi`` has no such name."""
    found = _table(abi).by_name(name)
    if found is not None:
        return found
    number = unknown_number(name)
    if number is None:
        return None
    return syscall_by_number(number, abi) or unknown_syscall(number, abi)


def abis_for_name(name: str, abis: Iterable[Abi] | None = None) -> tuple[Syscall, ...]:
    """The call named ``name`` in every ABI of ``abis`` that has one (default: the machine's,
    :func:`~sysemu.abi.abi.machine_abis`, in that order: x86_64, i386, x32 on x86-64).

    Empty when no ABI knows the name. A rule about ``openat`` uses this to cover 32-bit and
    x32 programs too.
    """
    found = (_table(abi).by_name(name) for abi in (machine_abis() if abis is None else abis))
    return tuple(call for call in found if call is not None)


def linux_version(abi: Abi | None = None) -> str:
    """The Linux version (``"7.3"``) whose headers ``abi``'s table (default: the machine's
    native ABI's) was generated from."""
    return _table(_native() if abi is None else abi).linux_version
