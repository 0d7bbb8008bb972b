"""strace's system-call classes and its syscall-set syntax, as data and a parser.

A *syscall set* is the text strace takes after ``-e trace=`` and ``-e inject=SET:...``
(strace(1), "Filtering"), for example ``%file,close``, ``!%memory`` or ``/^(.*_)?statv?fs``.
:func:`parse_syscall_set` reads one into an immutable :class:`SyscallSet`, which answers
which calls it selects in each :class:`~sysemu.abi.Abi`.

The syntax, as strace 6 reads it::

    SET   := "!"* ( "all" | "none" | ITEM ("," ITEM)* )
    ITEM  := "?"* BODY [ "@64" | "@32" | "@x32" ]
    BODY  := NAME | "%"CLASS | "/"REGEX | NUMBER | "all" | LEGACY-CLASS

- Each leading ``!`` negates the **whole** set: ``!open,close`` is every call except ``open``
  and ``close``. strace has no per-item exclusion, so a ``!`` anywhere else is an error.
- ``all`` and ``none`` select every call and no call. ``none`` is only valid as the whole set
  (after any ``!``); ``all`` is also valid as an item.
- A NAME counts in every ABI that has a call of that name; it is valid when **any** ABI knows
  it (``stat64`` is i386-only: it selects nothing in x86_64 and x32 and is not an error).
- ``%CLASS`` is one of :func:`class_names` or ``%net``, and the pre-``%`` spellings ``file``,
  ``process``, ``network``, ``signal``, ``ipc``, ``desc`` and ``memory`` still work. As in
  strace, those spellings win over call names: ``signal`` is the class; the i386 call
  ``signal`` is ``/^signal$``. Names, classes, ``all`` and ``none`` are all case-sensitive
  (strace 6.1 refuses ``%FILE`` and ``ALL``).
- ``/REGEX`` selects the names it matches, with :func:`re.search` semantics (strace uses a
  POSIX extended regex, unanchored); it is an error when it matches no call at all. A regex
  cannot contain ``,`` (the item separator), and its last ``@`` is read as a personality.
- NUMBER selects the call with that table number in each ABI (x32: with or without the x32
  bit, as :func:`~sysemu.abi.syscall_by_number` takes them).
- ``@64``, ``@32`` and ``@x32`` restrict an item to x86_64, i386 or x32; the item must then
  select something in that ABI.
- A ``?`` before an item turns "unknown call, class or number" and "regex matches nothing"
  from an error into an item that selects nothing. A bad regex or a bad ``@`` suffix is still
  an error.

Where this is stricter than strace 6.1: empty items (``open,,close``, a trailing comma) are
errors here, while strace skips them.

Class membership is sysemu's own table below, written from the ``TD``/``TF``/``TN``... flags
of strace's ``syscallent.h`` tables (strace 7.2; for the calls strace 6.1 also knows the
classes are the same) and checked against the installed strace by ``tests/test_abi_classes.py``.
Linux 7.3's ``fchroot``, newer than that strace, is ``%desc`` as ``fchdir`` is (it takes a
descriptor, not a file name).
Membership is by name, which holds for x86: where a name exists in several ABIs strace gives
it the same classes in each. A class's members in one ABI are its names that ABI has.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from sysemu.abi.abi import Abi, machine_abis
from sysemu.abi.syscalls import UNKNOWN_PREFIX, syscall_by_name, syscall_by_number, unknown_number
from sysemu.abi.syscalls import names as _table_names

__all__ = ["SyscallSet", "class_names", "parse_syscall_set", "syscalls_in_class"]

# Class -> its members, space-separated (split on first use: this module is imported with
# sysemu.abi, and 17 string constants cost nothing to load). The union of the three ABIs'
# names; a name in several ABIs has the same classes in each.
_CLASS_MEMBERS: dict[str, str] = {
    "%file": """
        access acct chdir chmod chown chown32 chroot creat execve execveat faccessat
        faccessat2 fanotify_mark fchmodat fchmodat2 fchownat file_getattr file_setattr
        fsconfig fspick fstatat64 futimesat getcwd getxattr getxattrat inotify_add_watch
        lchown lchown32 lgetxattr link linkat listxattr listxattrat llistxattr lremovexattr
        lsetxattr lstat lstat64 mkdir mkdirat mknod mknodat mount mount_setattr move_mount
        name_to_handle_at newfstatat oldlstat oldstat open open_tree open_tree_attr openat
        openat2 pivot_root quotactl readlink readlinkat removexattr removexattrat rename
        renameat renameat2 rmdir setxattr setxattrat stat stat64 statfs statfs64 statx swapoff
        swapon symlink symlinkat truncate truncate64 umount umount2 unlink unlinkat uselib
        utime utimensat utimensat_time64 utimes
    """,
    "%process": """
        clone clone3 execve execveat exit exit_group fork kill pidfd_send_signal
        rt_sigqueueinfo rt_tgsigqueueinfo tgkill tkill vfork wait4 waitid waitpid
    """,
    "%network": """
        accept accept4 bind connect getpeername getpmsg getsockname getsockopt listen putpmsg
        recvfrom recvmmsg recvmmsg_time64 recvmsg sendfile sendfile64 sendmmsg sendmsg sendto
        setsockopt shutdown socket socketpair
    """,
    "%signal": """
        io_uring_enter kill pause pidfd_send_signal rt_sigaction rt_sigpending rt_sigprocmask
        rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
        rt_tgsigqueueinfo sgetmask sigaction sigaltstack signal signalfd signalfd4 sigpending
        sigprocmask sigreturn sigsuspend ssetmask tgkill tkill
    """,
    "%ipc": """
        ipc msgctl msgget msgrcv msgsnd semctl semget semop semtimedop semtimedop_time64 shmat
        shmctl shmdt shmget
    """,
    "%desc": """
        _llseek _newselect bpf cachestat close copy_file_range creat dup dup2 dup3
        epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd
        eventfd2 execveat faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_init
        fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fchroot fcntl
        fcntl64 fdatasync fgetxattr file_getattr file_setattr finit_module flistxattr flock
        fremovexattr fsconfig fsetxattr fsmount fsopen fspick fstat fstat64 fstatat64 fstatfs
        fstatfs64 fsync ftruncate ftruncate64 futimesat getdents getdents64 getxattrat
        inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_uring_enter
        io_uring_register io_uring_setup ioctl kexec_file_load landlock_add_rule
        landlock_create_ruleset landlock_restrict_self linkat listxattrat lseek memfd_create
        memfd_secret mkdirat mknodat mmap mmap2 mount_setattr move_mount mq_getsetattr
        mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
        mq_timedsend_time64 name_to_handle_at newfstatat oldfstat open open_by_handle_at
        open_tree open_tree_attr openat openat2 perf_event_open pidfd_getfd pidfd_open
        pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 pread64 preadv preadv2
        process_madvise process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2
        quotactl_fd read readahead readdir readlinkat readv removexattrat renameat renameat2
        select sendfile sendfile64 setns setxattrat signalfd signalfd4 socketcall splice statx
        symlinkat sync_file_range syncfs tee timerfd_create timerfd_gettime timerfd_gettime64
        timerfd_settime timerfd_settime64 unlinkat userfaultfd utimensat utimensat_time64
        vmsplice write writev
    """,
    "%memory": """
        break brk get_mempolicy io_destroy io_setup io_uring_register madvise map_shadow_stack
        mbind migrate_pages mincore mlock mlock2 mlockall mmap mmap2 move_pages mprotect
        mremap mseal msync munlock munlockall munmap pkey_mprotect remap_file_pages
        set_mempolicy set_mempolicy_home_node shmat shmdt
    """,
    "%creds": """
        capget capset getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
        getgroups32 getresgid getresgid32 getresuid getresuid32 getuid getuid32 prctl setfsgid
        setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setregid
        setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setuid
        setuid32
    """,
    "%clock": """
        adjtimex clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
        clock_gettime64 clock_settime clock_settime64 gettimeofday settimeofday time
    """,
    "%stat": """
        oldstat stat stat64
    """,
    "%lstat": """
        lstat lstat64 oldlstat
    """,
    "%fstat": """
        fstat fstat64 fstatat64 newfstatat oldfstat statx
    """,
    "%%stat": """
        fstat fstat64 fstatat64 lstat lstat64 newfstatat oldfstat oldlstat oldstat stat stat64
        statx
    """,
    "%statfs": """
        statfs statfs64
    """,
    "%fstatfs": """
        fstatfs fstatfs64
    """,
    "%%statfs": """
        fstatfs fstatfs64 statfs statfs64 ustat
    """,
    "%pure": """
        getegid getegid32 geteuid geteuid32 getgid getgid32 getpgrp getpid getppid gettid
        getuid getuid32
    """,
}

# Other spellings strace accepts for a class.
_CLASS_ALIASES: dict[str, str] = {
    "%net": "%network",
    # strace's pre-"%" names, deprecated there but still accepted.
    "file": "%file",
    "process": "%process",
    "network": "%network",
    "signal": "%signal",
    "ipc": "%ipc",
    "desc": "%desc",
    "memory": "%memory",
}

# strace's personality designators: @64 is the machine's native ABI (x86_64, or aarch64).
_PERSONALITIES: dict[str, Abi] = {"64": Abi.X86_64, "32": Abi.I386, "x32": Abi.X32}
if machine_abis() == (Abi.AARCH64,):
    _PERSONALITIES = {"64": Abi.AARCH64}
_DESIGNATORS: dict[Abi, str] = {abi: text for text, abi in _PERSONALITIES.items()}
_NATIVE = next(iter(_PERSONALITIES.values()))
_WANTED = " or ".join(", ".join(f"@{text}" for text in _PERSONALITIES).rsplit(", ", 1))

# Longer digit strings cannot be a table number, and int() refuses very long ones.
_MAX_NUMBER_DIGITS = 10
# Longest input quoted whole in an error message.
_MAX_QUOTED = 60

_NAME = "name"
_CLASS = "class"
_REGEX = "regex"
_NUMBER = "number"
_ANY_NUMBER = "any number"
_ALL = "all"


def class_names() -> tuple[str, ...]:
    """The canonical class names (``"%file"``, ``"%%stat"``...), in strace(1)'s order.

    :func:`syscalls_in_class` and :func:`parse_syscall_set` also take ``%net`` and the legacy
    names without ``%`` (``file``, ``desc``...).
    """
    return tuple(_CLASS_MEMBERS)


def _canonical_class(text: str) -> str | None:
    if text in _CLASS_MEMBERS:
        return text
    return _CLASS_ALIASES.get(text)


@functools.cache
def _abi_names(abi: Abi) -> frozenset[str]:
    return frozenset(_table_names(abi))


@functools.cache
def _class_members(name: str) -> frozenset[str]:
    return frozenset(_CLASS_MEMBERS[name].split())


@functools.cache
def _class_in_abi(name: str, abi: Abi) -> frozenset[str]:
    return _class_members(name) & _abi_names(abi)


def syscalls_in_class(name: str, abi: Abi) -> frozenset[str]:
    """The names of the calls of ``abi`` in class ``name`` (``"%file"``, ``"%net"``...).

    Raises ValueError for a name that is no class.
    """
    canonical = _canonical_class(name)
    if canonical is None:
        raise ValueError(f"unknown class {_quote(name)}")
    return _class_in_abi(canonical, abi)


@functools.lru_cache(maxsize=256)
def _regex_matches(pattern: str, abi: Abi) -> frozenset[str]:
    compiled = re.compile(pattern)
    return frozenset(name for name in _abi_names(abi) if compiled.search(name))


@functools.lru_cache(maxsize=256)
def _named(name: str, abi: Abi) -> frozenset[str]:
    # One row looked up, not every name of the ABI: "openat" alone is the common set.
    try:
        syscall_by_name(name, abi)
    except KeyError:
        return frozenset()
    return frozenset({name})


@functools.lru_cache(maxsize=256)
def _number_name(number: int, abi: Abi) -> frozenset[str]:
    call = syscall_by_number(number, abi)
    return frozenset() if call is None else frozenset({call.name})


class _Item:
    """One comma-separated item of a set, resolved to what it means."""

    # A plain class, not a NamedTuple: defining one of those costs ~0.4 ms at import.
    __slots__ = ("abi", "kind", "optional", "value")

    def __init__(self, kind: str, value: str, abi: Abi | None, optional: bool) -> None:
        self.kind = kind
        """_NAME, _CLASS (value: canonical class name), _REGEX (value: the pattern), _NUMBER
        (value: decimal), _ANY_NUMBER (the same, for a number a table may lack) or _ALL
        (value: "all")."""
        self.value = value
        self.abi = abi
        """The ABI an ``@`` suffix limits the item to; None for all of them."""
        self.optional = optional
        """Written with ``?``: kept in the text even when it selects nothing."""

    def select(self, abi: Abi) -> frozenset[str]:
        """The names this item selects in ``abi``."""
        if self.abi is not None and self.abi is not abi:
            return frozenset()
        if self.kind == _ALL:
            return _abi_names(abi)
        if self.kind == _CLASS:
            return _class_in_abi(self.value, abi)
        if self.kind == _REGEX:
            return _regex_matches(self.value, abi)
        if self.kind == _NUMBER:
            if len(self.value) > _MAX_NUMBER_DIGITS:
                return frozenset()
            return _number_name(int(self.value), abi)
        if self.kind == _ANY_NUMBER:
            return _number_name(int(self.value), abi) or frozenset({UNKNOWN_PREFIX + self.value})
        return _named(self.value, abi)

    def __str__(self) -> str:
        body = "/" + self.value if self.kind == _REGEX else self.value
        prefix = "?" if self.optional else ""
        suffix = "" if self.abi is None else "@" + _DESIGNATORS[self.abi]
        return prefix + body + suffix


class SyscallSet:
    """An immutable set of system calls, read from strace's syntax by :func:`parse_syscall_set`.

    It selects calls per ABI (:meth:`names`), since the three ABIs name different calls.
    Two sets are equal when they select the same names in every ABI, however written;
    ``str()`` gives a normalised text that parses back to an equal set.
    """

    __slots__ = ("_cache", "_items", "_negated")

    _items: tuple[_Item, ...]
    _negated: bool
    _cache: dict[Abi, frozenset[str]]

    def __init__(self, items: Iterable[_Item] = (), *, negated: bool = False) -> None:
        """The union of ``items``, or everything else when ``negated``; an empty, not negated
        set selects nothing. Private to this module: build sets with :func:`parse_syscall_set`.
        """
        unique: dict[str, _Item] = {}
        for item in items:
            if item.kind == _ALL and item.abi is None:
                # An unrestricted "all" swallows the other items: "all" is "!none".
                unique.clear()
                negated = not negated
                break
            unique.setdefault(str(item), item)
        object.__setattr__(self, "_items", tuple(unique[text] for text in sorted(unique)))
        object.__setattr__(self, "_negated", negated)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def names(self, abi: Abi) -> frozenset[str]:
        """The names of the calls of ``abi`` this set selects."""
        found = self._cache.get(abi)
        if found is None:
            selected: frozenset[str] = frozenset().union(*(i.select(abi) for i in self._items))
            found = _abi_names(abi) - selected if self._negated else selected
            self._cache[abi] = found
        return found

    def __contains__(self, name: object) -> bool:
        """Whether the set selects the call ``name`` of the machine's native ABI."""
        return isinstance(name, str) and name in self.names(_NATIVE)

    @property
    def is_all(self) -> bool:
        """True when the set selects every call of every ABI (``all``, ``!none``, ``/.``...)."""
        if self._negated and not self._items:
            return True  # "all" itself, known without listing every call of every ABI
        return all(self.names(abi) == _abi_names(abi) for abi in machine_abis())

    def _key(self) -> tuple[frozenset[str], ...]:
        return tuple(self.names(abi) for abi in machine_abis())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SyscallSet):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        if not self._items:
            return "all" if self._negated else "none"
        text = ",".join(str(item) for item in self._items)
        return "!" + text if self._negated else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


def parse_syscall_set(text: str, *, any_number: bool = False) -> SyscallSet:
    """The :class:`SyscallSet` strace would read from ``text`` (``-e trace=TEXT``).

    See the module docstring for the syntax. Raises ValueError, with a one-line message, for
    text strace would refuse (an unknown call, class or number, a bad regex or ``@`` suffix)
    and for empty items. With ``any_number``, a number no table has (an experimental call)
    is no error: it selects the name ``syscall_<nr>`` in every ABI (or the ``@`` one), and
    that name, or strace's ``syscall_0x<hex>``, is read as the number.
    """
    body = text.lstrip("!")
    # Each leading "!" inverts what follows, as in strace: "!!x" is "x".
    negated = (len(text) - len(body)) % 2 == 1
    if body == "none":
        return SyscallSet(negated=negated)
    if not body:
        raise ValueError(f"empty syscall set {_quote(text)}")
    tokens = body.split(",")
    if "" in tokens:
        raise ValueError(f"empty item in syscall set {_quote(text)}")
    return SyscallSet((_parse_item(token, any_number) for token in tokens), negated=negated)


def _parse_item(token: str, any_number: bool = False) -> _Item:
    body = token.lstrip("?")
    optional = len(body) != len(token)
    abi: Abi | None = None
    at = body.rfind("@")
    if at >= 0:
        designator = body[at + 1 :]
        abi = _PERSONALITIES.get(designator)
        if abi is None:
            raise ValueError(
                f"bad personality {_quote('@' + designator)} in {_quote(token)} (want {_WANTED})"
            )
        body = body[:at]
    where = "" if abi is None else f" for {abi}"
    abis = machine_abis() if abi is None else (abi,)

    def known(item: _Item) -> bool:
        return any(item.select(a) for a in abis)

    if body.startswith("/"):
        _check_regex(body[1:], token)
        item = _Item(_REGEX, body[1:], abi, optional)
        if not optional and not known(item):
            raise ValueError(f"regex {_quote(body)} matches no syscall{where}")
        return item
    if body[:1].isascii() and body[:1].isdigit():
        if body.isascii() and body.isdigit():
            # A number too long for int() is no table's number either.
            digits = str(int(body)) if len(body) <= _MAX_NUMBER_DIGITS else body
            item = _Item(_NUMBER, digits, abi, optional)
            if optional or known(item):
                return item
            if any_number and len(body) <= _MAX_NUMBER_DIGITS:
                return _Item(_ANY_NUMBER, digits, abi, False)
            raise ValueError(f"unknown syscall number {_quote(body)}{where}")
        if optional:
            return _Item(_NAME, body, abi, optional)
        raise ValueError(f"bad syscall number {_quote(body)}")
    # Classes before names, as in strace: "signal" is the class, not the i386 call.
    if body == "all":
        return _Item(_ALL, "all", abi, False)
    canonical = _canonical_class(body)
    if canonical is not None:
        return _Item(_CLASS, canonical, abi, False)
    item = _Item(_NAME, body, abi, optional)
    if optional or known(item):
        return item
    number = unknown_number(body) if any_number else None
    if number is not None and number < 10**_MAX_NUMBER_DIGITS:
        return _Item(_ANY_NUMBER, str(number), abi, False)
    if body.startswith("%"):
        known_classes = (*_CLASS_MEMBERS, *(a for a in _CLASS_ALIASES if a.startswith("%")))
        from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415 (an error path)

        raise ValueError(f"unknown class {_quote(body)}{did_you_mean(body, known_classes)}")
    if not body:
        raise ValueError(f"empty syscall name in {_quote(token)}")
    if body == "none" and abi is None:
        raise ValueError("'none' cannot be combined with other items")
    if body.startswith("!"):
        raise ValueError(
            f"unknown syscall {_quote(body)}: '!' negates the whole set and is only allowed first"
        )
    known_names = (name for a in abis for name in _abi_names(a))
    from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415 (an error path)

    raise ValueError(f"unknown syscall {_quote(body)}{where}{did_you_mean(body, known_names)}")


def _quote(text: str) -> str:
    """``repr(text)``, shortened: error messages stay one readable line whatever the input
    (measured on the repr, where one character may take ten: ``'\U0001f600'``)."""
    quoted = repr(text)
    if len(quoted) <= _MAX_QUOTED:
        return quoted
    cut = text[: _MAX_QUOTED - 3]
    while len(repr(cut + "...")) > _MAX_QUOTED:
        cut = cut[:-1]
    return repr(cut + "...")


def _check_regex(pattern: str, token: str) -> None:
    try:
        re.compile(pattern)
    # re.error is not a ValueError; deep nesting and huge repeat counts raise others, and a
    # FutureWarning ("possible nested set") is an exception under -W error.
    except (re.error, RecursionError, OverflowError, Warning) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"bad regex {_quote(token)}: {detail}") from None
