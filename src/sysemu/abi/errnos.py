"""Error numbers by name and back, including the kernel-internal ones a tracer sees.

Names and numbers of the ordinary errors come from Python's :mod:`errno` (which mirrors the C
library of the running Linux system). A tracer also sees values user space never gets: at a
syscall-exit stop the return register may hold ``-ERESTARTSYS`` and its kind, which the
kernel turns into a restart or ``EINTR`` after the stop; those are listed here by hand from
``include/linux/errno.h``.

Lookups by name ignore case (``"enoent"`` is ``ENOENT``) and accept a decimal number as a
string (``"13"``); aliases (``EWOULDBLOCK``, ``EDEADLOCK``, ``ENOTSUP``) map to their number,
and a number maps back to the canonical Linux name (``EAGAIN``, ``EDEADLK``, ``EOPNOTSUPP``),
as strace prints them.
"""

from __future__ import annotations

import errno
import os

MAX_ERRNO = 4095
"""The largest error number (``include/linux/err.h``); returns from -4095 to -1 are errors."""


def is_error(value: int) -> bool:
    """Whether a raw syscall return is ``-errno`` (-4095 to -1), as the kernel's
    ``IS_ERR_VALUE`` decides; other negative values (addresses from ``mmap``) are results."""
    return -MAX_ERRNO <= value < 0


ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ENOIOCTLCMD = 515
ERESTART_RESTARTBLOCK = 516

# The restarts are the four values the signal code of every architecture switches on when it
# delivers a signal after a call (arch/x86/kernel/signal.c, handle_signal and
# arch_do_signal_or_restart): it turns them into a restart or EINTR. ENOIOCTLCMD (515) sits
# between them in include/linux/errno.h but is no restart: ioctl turns it into ENOTTY, and
# should it ever reach a return register no signal code looks at it, so it stays an error.
RESTART_ERRNOS = frozenset({ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK})
"""Values that mean "interrupted by a signal; the kernel decides between restart and EINTR"."""

# include/linux/errno.h; the descriptions are ours.
_KERNEL_INTERNAL: dict[str, tuple[int, str]] = {
    "ERESTARTSYS": (
        ERESTARTSYS,
        "Interrupted by a signal; restarted if the handler has SA_RESTART, else EINTR",
    ),
    "ERESTARTNOINTR": (ERESTARTNOINTR, "Interrupted by a signal; always restarted"),
    "ERESTARTNOHAND": (
        ERESTARTNOHAND,
        "Interrupted by a signal; restarted if no handler ran, else EINTR",
    ),
    "ENOIOCTLCMD": (ENOIOCTLCMD, "No such ioctl command (user space sees ENOTTY)"),
    "ERESTART_RESTARTBLOCK": (
        ERESTART_RESTARTBLOCK,
        "Interrupted by a signal; resumed by restart_syscall if no handler ran, else EINTR",
    ),
    "EPROBE_DEFER": (517, "Driver probe deferred until later"),
    "EOPENSTALE": (518, "Open found a stale dentry; the lookup is retried"),
    "ENOPARAM": (519, "Filesystem parameter not supported"),
    "EBADHANDLE": (521, "Illegal NFS file handle"),
    "ENOTSYNC": (522, "NFS update synchronization mismatch"),
    "EBADCOOKIE": (523, "NFS readdir cookie is stale"),
    "ENOTSUPP": (524, "Operation not supported (NFS; user space should see EOPNOTSUPP)"),
    "ETOOSMALL": (525, "Buffer or request is too small"),
    "ESERVERFAULT": (526, "NFS server hit an error it cannot translate"),
    "EBADTYPE": (527, "Type not supported by the NFS server"),
    "EJUKEBOX": (528, "NFS request started but will not finish before the timeout"),
    "EIOCBQUEUED": (529, "Asynchronous I/O queued; a completion event will follow"),
    "ERECALLCONFLICT": (530, "NFS: conflict with a recalled delegation"),
    "ENOGRACE": (531, "NFS lock reclaim refused: grace period over"),
}

# Where Linux has two names for one number, the one strace and the kernel headers lead with.
_CANONICAL = {errno.EAGAIN: "EAGAIN", errno.EDEADLK: "EDEADLK", errno.EOPNOTSUPP: "EOPNOTSUPP"}


def _tables() -> tuple[dict[str, int], dict[int, str]]:
    by_name: dict[str, int] = {}
    for name in dir(errno):
        value = getattr(errno, name)
        if name.startswith("E") and name.isupper() and isinstance(value, int):
            by_name[name] = value
    by_number = {number: _CANONICAL.get(number, name) for number, name in errno.errorcode.items()}
    for name, (number, _) in _KERNEL_INTERNAL.items():
        by_name[name] = number
        by_number[number] = name
    return by_name, by_number


# Small (about 150 entries each), so built at import.
_BY_NAME, _BY_NUMBER = _tables()
_DESCRIPTIONS = {number: text for number, text in _KERNEL_INTERNAL.values()}


def errno_number(name: str) -> int:
    """The number of error ``name`` (``"ENOENT"``, ``"enoent"`` or ``"2"``).

    Raises ValueError for a name no table knows, or a number outside 1..4095.
    """
    text = name.strip()
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= MAX_ERRNO:
            raise ValueError(f"errno {number} out of range 1..{MAX_ERRNO}")
        return number
    found = _BY_NAME.get(text.upper())
    if found is None:
        from sysemu.abi.suggest import did_you_mean  # noqa: PLC0415 (an error path)

        raise ValueError(f"unknown errno name {name!r}{did_you_mean(text, _BY_NAME)}")
    return found


def errno_name(number: int) -> str:
    """The canonical name of error ``number``; a negative syscall return (-2) also works.

    Raises ValueError for a number with no name.
    """
    name = _BY_NUMBER.get(-number if -MAX_ERRNO <= number < 0 else number)
    if name is None:
        raise ValueError(f"unknown errno number {number}")
    return name


def errno_description(error: int | str) -> str:
    """A one-line description of an error given by number or by name.

    Raises ValueError for an unknown error.
    """
    number = errno_number(error) if isinstance(error, str) else abs(error)
    errno_name(number)  # unknown numbers raise here, not in strerror
    return _DESCRIPTIONS.get(number) or os.strerror(number)
