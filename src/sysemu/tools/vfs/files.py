"""sysemu's private files: the host side of added files, dict directories, glue and snapshots.

Owns one private temporary directory per :class:`~sysemu.tools.vfs.VirtualFS` (made on first
use, removed with it), the files written into it, and the snapshots that content functions
make at each open (removed as soon as the open returns). It knows nothing of virtual paths,
the path map or the handlers that point the program at these files.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sysemu._contexts import suppress
from sysemu._typing import TYPE_CHECKING
from sysemu.api.call import Call
from sysemu.api.decisions import Result, ResultHook

if TYPE_CHECKING:
    import tempfile

ContentSource = Callable[[Call], bytes | str]
"""What ``add_file`` calls at each open of a file with computed content."""


class PrivateFiles:
    """A private directory of sysemu's and the files in it."""

    def __init__(self) -> None:
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    def directory(self) -> str:
        """The private directory (made on first use, removed with this object)."""
        if self._directory is None:
            # Imported here: tempfile brings shutil, random and three compression modules,
            # milliseconds that a run which only binds or hides paths does not spend.
            import tempfile  # noqa: PLC0415

            self._directory = tempfile.TemporaryDirectory(prefix="sysemu-vfs-")
        return self._directory.name

    @property
    def name(self) -> str:
        """The private directory's path, as ``tempfile.TemporaryDirectory`` names it."""
        return self.directory()

    def new_directory(self) -> str:
        """A new empty directory, readable by everyone, in the private directory."""
        import tempfile  # noqa: PLC0415 (loaded by directory() already)

        made = tempfile.mkdtemp(dir=self.directory())
        os.chmod(made, 0o755)
        return made

    def new_file(self, data: bytes, mode: int) -> str:
        """A new file holding ``data``, with ``mode``, in the private directory."""
        import tempfile  # noqa: PLC0415 (loaded by directory() already)

        fd, host = tempfile.mkstemp(dir=self.directory())
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(host, mode)
        return host

    def snapshot(self, call: Call, source: ContentSource, mode: int) -> str:
        """A new file with what ``source`` makes for ``call`` (a handler error, under the
        emulator's ``on_error``, if it raises)."""
        content = source(call)
        return self.new_file(content.encode() if isinstance(content, str) else content, mode)


def removing(files: list[str]) -> ResultHook:
    """A result hook that removes ``files`` (snapshots the kernel has opened, or failed to)."""

    def remove(_result: Result) -> None:
        for file in files:
            with suppress(OSError):
                os.unlink(file)

    return remove
