"""Directory listings as the program sees them: hidden names left out, bound names put in.

Owns the ``getdents``/``getdents64`` handler: at entry it finds the directory the descriptor
refers to and what the view changes in its listing; at exit it edits the records the kernel
wrote (the record format is :mod:`sysemu.tools.vfs.dirents`'), and when every record of a
batch was dropped it makes the kernel read on instead of returning 0. It never resolves path
arguments and never changes the path map.
"""

from __future__ import annotations

import errno
import os
import signal
import stat

from sysemu.abi.errnos import ERESTARTNOINTR
from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Result
from sysemu.tools.vfs.dirents import (
    DT_BLK,
    DT_CHR,
    DT_DIR,
    DT_FIFO,
    DT_LNK,
    DT_REG,
    DT_SOCK,
    DT_UNKNOWN,
    DirentLayout,
    drop_names,
    layout_for,
    record,
)
from sysemu.tools.vfs.paths import PathMap
from sysemu.tools.vfs.resolve import child

# Signals whose default action is to do nothing, in order of preference for again().
_QUIET_SIGNALS = (signal.SIGURG, signal.SIGWINCH)
_MIN_KERNEL_ROOM = 512  # more than the longest record (a 255-byte name)
_DIRENT_TYPES = {
    stat.S_IFDIR: DT_DIR, stat.S_IFREG: DT_REG, stat.S_IFLNK: DT_LNK, stat.S_IFCHR: DT_CHR,
    stat.S_IFBLK: DT_BLK, stat.S_IFIFO: DT_FIFO, stat.S_IFSOCK: DT_SOCK,
}  # fmt: skip


class Listings:
    """The listing handler of one view."""

    def __init__(self, paths: PathMap) -> None:
        self.paths = paths

    def on_getdents(self, call: Call) -> Decision | None:
        """``getdents``/``getdents64``: an exit hook for directories whose listing the view
        changes (hidden names, bound names the host directory lacks), else nothing."""
        # Every getdents of the program stops here: the register itself, not call.args.fd
        # (its decoding costs more than a microsecond of Python per call).
        directory = call.fd_path(call.raw[0] & 0xFFFF_FFFF)
        if directory is None or not directory.startswith("/"):
            return None
        hidden = self.paths.hidden_names(directory)
        layout = layout_for(call.name, call.abi)
        added = self._bound_entries(call, directory, hidden, layout)
        if not hidden and not added:
            return None  # no exit stop for directories with nothing to change
        names = frozenset(os.fsencode(name) for name in hidden)
        address = call.args.dirent

        def listed(result: Result) -> int | None:
            if result.failed or result.value <= 0:
                return None  # (0, the end: the bound names went out with the first batch)
            data = call.read(address, result.value)
            kept = drop_names(data, layout, names) if names else None
            if kept is not None:
                data = kept
            elif not added:
                return None
            data = added + data
            if not data:
                # Returning 0 would mean "end of directory": have the kernel read on instead.
                return again(call)
            call.write(address, data)
            return len(data)

        if added:
            # The kernel fills a smaller buffer, so that the bound names fit before its own.
            return call.rewrite(count=call.args.count - len(added), then=listed)
        return call.observe(listed)

    def _bound_entries(
        self, call: Call, directory: str, hidden: frozenset[str], layout: DirentLayout
    ) -> bytes:
        """Records for the names binds add to the listing of the host ``directory``, when
        this call starts a pass over it (file position 0), and only names the host
        directory lacks; empty otherwise."""
        bound = self.paths.bound_names(directory)
        if not bound or _file_position(call.tid, call.args.fd) != 0:
            return b""
        records = []
        for name, host in sorted(bound.items()):
            if name in hidden or os.path.lexists(child(directory, name)):
                continue
            try:
                status = os.lstat(host)
            except OSError:
                continue  # a bind whose host went away shows nothing, as a lookup would
            d_type = _DIRENT_TYPES.get(stat.S_IFMT(status.st_mode), DT_UNKNOWN)
            records.append(record(layout, status.st_ino, os.fsencode(name), d_type))
        added = b"".join(records)
        # Leave the kernel room for at least one record of its own (EINVAL otherwise).
        return added if call.args.count - len(added) >= _MIN_KERNEL_ROOM else b""


def _file_position(tid: int, fd: int) -> int | None:
    """The file position of ``fd`` in thread ``tid`` (``pos:`` of its fdinfo), or ``None``."""
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}", "rb") as info:
            first = info.readline()
    except OSError:
        return None
    if not first.startswith(b"pos:"):
        return None
    return int(first[4:])


def again(call: Call) -> int:
    """The value that makes the kernel run ``call`` again instead of returning: a signal the
    thread neither blocks nor handles is pending, so the kernel takes the
    ``-ERESTARTNOINTR`` path, finds nothing to deliver and restarts the call. Falls back to
    ``-EINTR`` when every candidate signal is blocked."""
    blocked, caught = _signal_masks(call.tid)
    candidates = [s for s in _QUIET_SIGNALS if not blocked >> (s - 1) & 1]
    quiet = [s for s in candidates if not caught >> (s - 1) & 1]
    chosen = quiet or candidates
    if not chosen:
        return -errno.EINTR
    call.send_signal(chosen[0])
    return -ERESTARTNOINTR


def _signal_masks(tid: int) -> tuple[int, int]:
    """The thread's blocked and caught signal masks, from /proc (all blocked if unknown)."""
    blocked, caught = -1, -1
    try:
        with open(f"/proc/{tid}/status") as status:
            for line in status:
                if line.startswith("SigBlk:"):
                    blocked = int(line.split()[1], 16)
                elif line.startswith("SigCgt:"):
                    caught = int(line.split()[1], 16)
    except OSError:
        pass
    return blocked, caught
