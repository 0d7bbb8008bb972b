"""The configuration of a virtual filesystem: binds, a root, hidden and read-only trees, added
files and directories, and the directory to start in.

Owns :class:`VfsConfig`, the public configuration half of
:class:`~sysemu.tools.vfs.VirtualFS`: each method checks its arguments (a one-line
``ValueError``), records them in the :class:`~sysemu.tools.vfs.paths.PathMap` and writes added
contents into sysemu's private files. It registers no handler and touches no tracee.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.vfs.files import ContentSource, PrivateFiles
from sysemu.tools.vfs.live import LiveFile, LiveFiles
from sysemu.tools.vfs.paths import PathMap, ancestors, join, normalize

if TYPE_CHECKING:
    from typing import Self

FileContent = bytes | str | ContentSource | LiveFile
"""What ``add_file`` takes: fixed content, a function of the open, or a live file."""
Tree = Mapping[str, "FileContent | Tree"]
"""What ``add`` takes for a directory: names to file contents and to subdirectories."""


class VfsConfig:
    """What a view is made of; :class:`~sysemu.tools.vfs.VirtualFS` adds its handlers.

    All paths are virtual (what the program sees) and absolute, except the host sides of
    :meth:`bind` and :meth:`root`. Every method returns the object, so calls chain.
    """

    def __init__(self) -> None:
        self.paths = PathMap()
        self._cwd: str | None = None
        # Where added contents live (a private directory, removed with this object).
        self._files = PrivateFiles()
        # add_file paths whose content a function makes at each open.
        self._dynamic: dict[str, tuple[ContentSource, int]] = {}
        # add_file paths whose every read and write a LiveFile answers.
        self._live = LiveFiles(self._files.directory)

    def bind(self, virtual: str, host: str) -> Self:
        """Show the host path ``host`` (which must exist) at the absolute ``virtual`` path;
        binds take precedence over the root, and the deepest bind covering a path wins."""
        host = os.path.abspath(host)
        if not os.path.lexists(host):
            raise ValueError(f"bind {virtual}={host}: {host} does not exist")
        self.paths.bind(virtual_path(virtual, "bind"), host)
        return self

    def add_file(self, virtual: str, content: FileContent, *, mode: int | None = None) -> Self:
        """A file that exists only for the program, at the absolute ``virtual`` path, listed
        in its directory. Changes by path (``unlink``, ``rename``, ``chmod``...) fail with
        ``EROFS``; ``mode`` gives its permission bits (``0o555`` for a program or script the
        program can run).

        ``content`` is one of:

        - bytes or str: a read-only file with that content (``mode`` 0o444 by default);
        - a function that makes the content each time the program opens the file: it gets
          the :class:`Call` of the ``open`` (``call.pid``, ``call.path``...) and returns bytes
          or str. Each open then reads its own snapshot, which stays as it was for as long as
          that descriptor is open, like a file replaced by rename;
        - a :class:`~sysemu.tools.vfs.live.LiveFile`: each ``read``, ``write``, ``lseek``
          and ``fstat`` of the program on it calls the object, so content can change between
          two reads of one descriptor and writes can go to a callback (see
          :mod:`sysemu.tools.vfs.live` for what it answers and what it costs). Its mode comes
          from the methods it overrides (``0o444`` for ``read``, ``0o222`` for ``write``) and
          cannot be given.

        Fixed content and snapshots are written to a private file of sysemu's (removed when
        this object is, or, for a snapshot, as soon as the open returns), which is what the
        program opens: every way of reading a file works on it (``read``, ``pread``,
        ``readv``, ``lseek``, ``mmap``, ``fstat``, ``dup``, inheritance across ``fork`` and
        ``exec``). ``stat`` without an open sees the last snapshot.
        """
        key = normalize(virtual_path(virtual, "add_file"))
        if isinstance(content, LiveFile):
            if mode is not None:
                raise ValueError(f"add_file {virtual}: a LiveFile's mode comes from its methods")
            if not (content.readable or content.writable):
                raise ValueError(f"add_file {virtual}: the LiveFile has neither read nor write")
            mode = (0o444 if content.readable else 0) | (0o222 if content.writable else 0)
            self._live.files[key] = content
            data = b""
        else:
            mode = 0o444 if mode is None else mode
            if not 0 <= mode <= 0o7777:
                raise ValueError(f"add_file {virtual}: mode {mode:#o} is not a permission mode")
            if callable(content):
                self._dynamic[key] = (content, mode)
                data = b""
            else:
                data = content.encode() if isinstance(content, str) else content
        self.bind(virtual, self._files.new_file(data, mode))
        return self.readonly(virtual)

    def add(self, virtual: str, content: FileContent | Tree, *, mode: int | None = None) -> Self:
        """A file (see :meth:`add_file`) or, for a mapping, a directory that exists only for
        the program: ``add("/etc/app", {"app.conf": b"...", "conf.d": {"10-x.conf": "..."}})``.

        In a directory, names map to anything :meth:`add_file` takes or to a mapping (a
        subdirectory). Fixed contents are written as real files into a private directory of
        sysemu's, so they cost nothing after the open; functions and live files are added at
        their paths as by :meth:`add_file`. The whole tree is read-only (``EROFS``);
        ``mode`` applies to its fixed files (``0o444`` by default).
        """
        if not isinstance(content, Mapping):
            return self.add_file(virtual, content, mode=mode)
        virtual = normalize(virtual_path(virtual, "add"))
        directory = self._files.new_directory()
        self._fill(directory, virtual, content, 0o444 if mode is None else mode)
        self.bind(virtual, directory)
        return self.readonly(virtual)

    def _fill(self, directory: str, virtual: str, tree: Tree, mode: int) -> None:
        """Write ``tree`` into the host ``directory`` shown at ``virtual``."""
        for name, content in tree.items():
            if not name or "/" in name or name in (".", "..") or "\0" in name:
                raise ValueError(f"add {virtual}: {name!r} is not a file name")
            host, path = os.path.join(directory, name), join(virtual, name)
            if isinstance(content, Mapping):
                os.mkdir(host, 0o755)
                self._fill(host, path, content, mode)
            elif isinstance(content, bytes | str):
                if not 0 <= mode <= 0o7777:
                    raise ValueError(f"add {path}: mode {mode:#o} is not a permission mode")
                with open(host, "wb") as file:
                    file.write(content.encode() if isinstance(content, str) else content)
                os.chmod(host, mode)
            else:
                # Listed by the kernel under this name; the file is bound over it.
                os.close(os.open(host, os.O_CREAT | os.O_WRONLY, 0o444))
                self.add_file(path, content)

    def hide(self, path: str) -> Self:
        """Make the virtual ``path`` and everything under it absent."""
        self.paths.hide(virtual_path(path, "hide"))
        return self

    def readonly(self, path: str) -> Self:
        """Make changes to the virtual ``path`` and anything under it fail with ``EROFS``."""
        self.paths.make_readonly(virtual_path(path, "readonly"))
        return self

    def root(self, directory: str) -> Self:
        """Map every absolute path no bind covers under the host ``directory``."""
        directory = os.path.abspath(directory)
        if not os.path.isdir(directory):
            raise ValueError(f"root {directory}: not a directory")
        self.paths.set_root(directory)
        return self

    def cwd(self, directory: str) -> Self:
        """Start the program in the virtual ``directory`` (see :attr:`start_cwd`)."""
        self._cwd = virtual_path(directory, "cwd")
        return self

    @property
    def start_cwd(self) -> str | None:
        """The host directory the program must be started in (``Emulator.run(cwd=...)``):
        the one ``cwd`` names, ``/`` of the root when there is a root, else ``None``
        (sysemu's own working directory)."""
        virtual = self._cwd if self._cwd is not None else "/" if self.paths.root else None
        return None if virtual is None else self.paths.to_host(virtual)

    @property
    def decides_only(self) -> bool:
        """Whether every handler of this configuration only passes or fails calls (read-only
        paths alone): then it also runs on the ``unotify`` backend, without ptrace. Binds, a
        root and hidden paths rewrite arguments or edit results, which needs ptrace."""
        return not (self.paths.remaps or self.paths.has_hidden)

    def _glue_missing_parents(self) -> None:
        """Give every bind whose parent directories do not exist (on the host, or in the
        root) empty private directories there, as proot does: then ``/a`` of a bind at
        ``/a/b`` is a directory whose listing shows ``b``, not a missing name."""
        paths = self.paths
        for virtual in sorted(paths.binds):
            missing = [
                ancestor
                for ancestor in ancestors(virtual)
                if ancestor not in ("/", virtual) and not os.path.lexists(paths.to_host(ancestor))
            ]
            for ancestor in reversed(missing):  # shallowest first
                paths.bind(ancestor, self._files.new_directory())


def virtual_path(path: str, what: str) -> str:
    """``path`` normalised, or a ``ValueError`` naming ``what`` if it is not absolute."""
    if not path.startswith("/"):
        raise ValueError(f"{what} {path}: a virtual path must be absolute")
    return normalize(path)
