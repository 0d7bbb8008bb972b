"""Paths the kernel gives back, given back in virtual names: ``getcwd`` and ``readlink`` of
``/proc/{self,thread-self,PID}[/task/TID]/{cwd,exe,root,fd/N}``.

Owns the exit hooks that rewrite those results in the tracee's buffer. It reads the
process's ``/proc`` links and the loaders exec rewriting started programs with
(:class:`~sysemu.tools.vfs.execs.ExecRewriter`); it resolves no argument and decides no
call. Socket names given back are :mod:`sysemu.tools.vfs.sockets`'.
"""

from __future__ import annotations

import errno
import os
import re

from sysemu.api.call import Call
from sysemu.api.decisions import Decision, Result, ResultHook
from sysemu.tools.vfs import binfmt
from sysemu.tools.vfs.execs import ExecRewriter
from sysemu.tools.vfs.paths import PathMap
from sysemu.tools.vfs.resolve import DELETED, Resolved, proc_self, to_virtual

_PROC_LINK = re.compile(r"^/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/(cwd|exe|root|fd/\d+)$")
READLINK_CALLS = frozenset({"readlink", "readlinkat"})


class ResultPaths:
    """The result hooks of one view."""

    def __init__(self, paths: PathMap, execs: ExecRewriter) -> None:
        self.paths = paths
        self.execs = execs

    @staticmethod
    def proc_link(where: Resolved) -> str | None:
        """Which ``/proc`` link (``cwd``, ``exe``, ``root``, ``fd/N``) a ``readlink`` of
        ``where`` reads, or ``None`` for any other path."""
        match = _PROC_LINK.match(where.virtual or where.host)
        return None if match is None else match.group(1)

    def readlink_hook(self, call: Call, where: Resolved, link: str) -> ResultHook:
        """A result hook giving ``readlink`` of a /proc magic link the virtual name."""
        buffer, size = call.args.buf, call.args.bufsiz
        paths = self.paths
        execs = self.execs

        def virtual_link(result: Result) -> int | None:
            if result.failed:
                return None
            proc_path = proc_self(where.host, call)
            try:
                target = os.readlink(proc_path)
            except OSError:
                return None
            if link == "exe" and target in execs.loaders:
                # Started by its loader (see ExecRewriter): the program is what it mapped.
                programs = execs.loaded_programs
                target = binfmt.loaded_program(os.path.dirname(proc_path), programs) or target
            if link == "root" and paths.root is not None:
                virtual: str | None = "/"
            else:
                virtual = to_virtual(paths, target)
            if virtual is None or virtual == target:
                return None
            data = os.fsencode(virtual)[:size]
            call.write(buffer, data)
            return len(data)

        return virtual_link

    def on_getcwd(self, call: Call) -> Decision:
        """``getcwd``: the virtual directory, its length checked against ``size``."""
        buffer, size = call.args.buf, call.args.size
        paths = self.paths

        def virtual_cwd(result: Result) -> int | None:
            if result.failed and result.errno != errno.ERANGE:
                return None
            host = call.cwd
            if host is None or host.endswith(DELETED):
                return None
            virtual = paths.to_virtual(host)
            # As the kernel says of a directory outside the caller's root.
            text = f"(unreachable){host}" if virtual is None else virtual
            if text == host:
                return None
            data = os.fsencode(text) + b"\0"
            if len(data) > size:
                return -errno.ERANGE
            call.write(buffer, data)
            return len(data)

        return call.observe(virtual_cwd)
