"""The virtual filesystem on an emulator: a :class:`~sysemu.tools.vfs.VirtualFS`, installed
as it is configured at each run (so that a change applies to the next run), which also
finds the program in its view and says where a run starts."""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.tools.tool import Tool

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sysemu.api.handlers import HandlerSet
    from sysemu.tools.vfs import VirtualFS


class FileSystemTool(Tool):
    """Puts ``view`` in front of every run (``Emulator.fs`` is its :attr:`view`)."""

    name = "vfs"

    def __init__(self, view: VirtualFS) -> None:
        self.view = view

    def install(self, handlers: HandlerSet) -> None:
        """The view's handlers, as it is configured now."""
        self.view.install(handlers)

    def find_program(self, program: str, env: Mapping[str, str]) -> str | None:
        """``program`` looked up in the view (None when the view remaps no name)."""
        return self.view.find_program(program, env)

    @property
    def start_cwd(self) -> str | None:
        """Where the view's :meth:`~sysemu.tools.vfs.VirtualFS.cwd` (or root) starts a run."""
        return self.view.start_cwd
