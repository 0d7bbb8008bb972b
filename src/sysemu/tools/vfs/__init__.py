"""The virtual filesystem: a view of the filesystem for a traced program, without root.

``VirtualFS().bind("/data", "/srv/data").hide("/data/secret").readonly("/data")`` then
``vfs.install(emu.handlers)``: the program sees ``/srv/data`` at ``/data`` (every path
argument is rewritten before the kernel sees it), ``/data/secret`` does not exist, and nothing
under ``/data`` can be changed. ``root(dir)`` is a chroot without privileges;
``add_file(path, LiveFile())`` is a file whose reads and writes Python answers. See
``docs/vfs.md`` for what works and what does not yet; :mod:`.cli` adds the command-line options.
"""

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

if TYPE_CHECKING:
    from sysemu.tools.vfs.live import LiveFile
    from sysemu.tools.vfs.paths import PathMap
    from sysemu.tools.vfs.vfs import VirtualFS, path_syscalls

_LAZY = {
    "LiveFile": "sysemu.tools.vfs.live",
    "PathMap": "sysemu.tools.vfs.paths",
    "VirtualFS": "sysemu.tools.vfs.vfs",
    "path_syscalls": "sysemu.tools.vfs.vfs",
}

__all__ = ["LiveFile", "PathMap", "VirtualFS", "path_syscalls"]


__getattr__ = lazy_names(__name__, _LAZY)
