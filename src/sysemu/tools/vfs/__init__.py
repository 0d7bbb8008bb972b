"""The virtual filesystem: a view of the filesystem for a traced program, without root.

``VirtualFS().bind("/data", "/srv/data").hide("/data/secret").readonly("/data")`` then
``vfs.install(emu.handlers)``: the program sees ``/srv/data`` at ``/data`` (every path
argument is rewritten before the kernel sees it), ``/data/secret`` does not exist, and nothing
under ``/data`` can be changed. ``root(dir)`` is a chroot without privileges. See
``docs/vfs.md`` for what works and what does not yet; :mod:`.cli` adds the command-line options.
"""

from sysemu.tools.vfs.paths import PathMap
from sysemu.tools.vfs.vfs import VirtualFS, path_syscalls

__all__ = ["PathMap", "VirtualFS", "path_syscalls"]
