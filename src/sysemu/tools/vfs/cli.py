"""Command-line options for the virtual filesystem: ``--bind``, ``--hide``, ``--readonly``,
``--root``, ``--cwd``.

:data:`OPTIONS` is the tool's command line (``run`` only): it turns the parsed values into a
:class:`VirtualFS` and puts it on the emulator as a
:class:`~sysemu.tools.vfs.tool.FileSystemTool`, which starts the program in
:attr:`VirtualFS.start_cwd`. :func:`add_arguments` adds the options to a parser (as an
argument group), :func:`configure` turns the parsed values into an installed
:class:`VirtualFS`, or ``None`` when none was given.
"""

from __future__ import annotations

import argparse
import os

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.tool import Invocation, ToolHost, ToolOptions

if TYPE_CHECKING:
    from sysemu.api.handlers import HandlerSet
    from sysemu.tools.vfs.vfs import VirtualFS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the virtual filesystem's options to ``parser``."""
    group = parser.add_argument_group("virtual filesystem (like proot, without root)")
    group.add_argument(
        "--bind",
        dest="vfs_bind",
        action="append",
        default=[],
        metavar="VIRT=HOST",
        help="show HOST (a file or directory) at VIRT; a bare PATH means PATH=PATH (repeatable)",
    )
    group.add_argument(
        "--file",
        dest="vfs_file",
        action="append",
        default=[],
        metavar="VIRT=CONTENT_FILE",
        help="a read-only file at VIRT with CONTENT_FILE's content and read/execute bits, for "
        "this program only (repeatable)",
    )
    group.add_argument(
        "--hide",
        dest="vfs_hide",
        action="append",
        default=[],
        metavar="PATH",
        help="PATH and everything under it do not exist (repeatable)",
    )
    group.add_argument(
        "--readonly",
        dest="vfs_readonly",
        action="append",
        default=[],
        metavar="PATH",
        help="changes to PATH or under it fail with EROFS (repeatable)",
    )
    group.add_argument(
        "--root",
        dest="vfs_root",
        metavar="DIR",
        help="map every absolute path under DIR, like chroot (binds take precedence)",
    )
    group.add_argument(
        "--cwd",
        dest="vfs_cwd",
        metavar="DIR",
        help="start in DIR (a path as the program sees it; default / with --root)",
    )


def configure(args: argparse.Namespace, handlers: HandlerSet) -> VirtualFS | None:
    """:func:`build` the :class:`VirtualFS` the options describe and install it on
    ``handlers``; ``None`` when no option was given."""
    vfs = build(args)
    if vfs is not None:
        vfs.install(handlers)
    return vfs


def build(args: argparse.Namespace) -> VirtualFS | None:
    """The :class:`VirtualFS` the options describe (for ``Emulator.fs``, which installs it
    at each run), or ``None`` when no option was given. Raises ``ValueError`` with a one-line
    message for a bind or root that does not exist, a malformed ``--bind``, a relative path
    where a virtual one is needed (with ``--root``), or a ``--cwd`` that is no directory.
    """
    binds: list[str] = getattr(args, "vfs_bind", None) or []
    files: list[str] = getattr(args, "vfs_file", None) or []
    hides: list[str] = getattr(args, "vfs_hide", None) or []
    readonly: list[str] = getattr(args, "vfs_readonly", None) or []
    root: str | None = getattr(args, "vfs_root", None)
    cwd: str | None = getattr(args, "vfs_cwd", None)
    if not (binds or files or hides or readonly or root or cwd):
        return None
    from sysemu.tools.vfs.vfs import VirtualFS  # noqa: PLC0415 (only runs with a vfs pay)

    vfs = VirtualFS()
    if root is not None:
        _check(os.path.isdir(root), f"--root {root}: no such directory")
        vfs.root(root)

    def virtual(option: str, path: str) -> str:
        if path.startswith("/"):
            return path
        # Without a root the program's names are the host's: a relative path is sysemu's.
        _check(root is None, f"{option} {path}: must be an absolute path with --root")
        return os.path.abspath(path)

    for spec in binds:
        left, equals, right = spec.partition("=")
        host = right if equals else left
        _check(bool(left) and bool(host), f"--bind {spec}: expected VIRT=HOST or PATH")
        _check(os.path.lexists(host), f"--bind {spec}: {host} does not exist")
        vfs.bind(virtual("--bind", left), host)
    for spec in files:
        left, equals, content = spec.partition("=")
        _check(
            bool(left) and equals == "=" and bool(content),
            f"--file {spec}: expected VIRT=CONTENT_FILE",
        )
        _check(os.path.isfile(content), f"--file {spec}: {content} is not a file")
        with open(content, "rb") as source:
            # The content file's read and execute bits: a script given as --file can be run.
            mode = os.fstat(source.fileno()).st_mode & 0o555
            vfs.add_file(virtual("--file", left), source.read(), mode=mode)
    for path in hides:
        vfs.hide(virtual("--hide", path))
    for path in readonly:
        vfs.readonly(virtual("--readonly", path))
    if cwd is not None:
        vfs.cwd(virtual("--cwd", cwd))
        start = vfs.start_cwd
        _check(start is not None and os.path.isdir(start), f"--cwd {cwd}: no such directory")
    return vfs


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class FileSystemOptions(ToolOptions):
    """The ``virtual filesystem`` group of ``run``."""

    name = "vfs"
    commands = ("run",)

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add the virtual filesystem's group to ``parser``."""
        add_arguments(parser)

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> VirtualFS | None:
        """:func:`build`, and a check that the backend can serve the view: ``unotify``
        can only refuse calls, so of these options it runs ``--readonly`` alone."""
        vfs = build(args)
        if vfs is not None and invocation.backend == "unotify" and not vfs.decides_only:
            raise ValueError(
                "--backend unotify cannot rewrite paths: of the virtual filesystem's "
                "options it can only run --readonly (use seccomp or auto)"
            )
        return vfs

    def apply(self, config: object, host: ToolHost) -> None:
        """Put the view in front of every run, after the rules' handlers; the program is
        looked up in it and starts in its ``--cwd``."""
        from sysemu.tools.vfs import VirtualFS  # noqa: PLC0415
        from sysemu.tools.vfs.tool import FileSystemTool  # noqa: PLC0415 (runs with a vfs)

        assert isinstance(config, VirtualFS)
        host.use(FileSystemTool(config))


OPTIONS = FileSystemOptions()
