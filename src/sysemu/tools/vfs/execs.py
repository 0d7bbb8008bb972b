"""Exec rewriting: ``execve``/``execveat`` made into the exec the kernel would make in the view.

Owns what an exec becomes when names are mapped: a ``#!`` script becomes the exec of its
interpreter looked up in the virtual view, and an ELF program whose dynamic loader is
elsewhere in the view than on the host is started by that loader. It also remembers which
loaders and programs were started so, for ``readlink`` of ``/proc/PID/exe``
(:mod:`sysemu.tools.vfs.results`). File parsing is :mod:`sysemu.tools.vfs.binfmt`'s; the
path argument's resolution and every hidden or read-only check happen before this is asked.
"""

from __future__ import annotations

import os
import struct

from sysemu._contexts import suppress
from sysemu.api.call import AT_FDCWD, Call
from sysemu.api.decisions import Decision
from sysemu.tools.vfs import binfmt
from sysemu.tools.vfs.paths import PathMap, normalize
from sysemu.tools.vfs.resolve import PathError, Resolved, Resolver

EXEC_CALLS = frozenset({"execve", "execveat"})


class ExecRewriter:
    """Rewrites the execs of one view, and remembers the loaders it started programs with."""

    def __init__(self, paths: PathMap, resolver: Resolver) -> None:
        self.paths = paths
        self.resolver = resolver
        # Host paths of dynamic loaders that programs were started with, and of those
        # programs (see readlink of /proc/PID/exe), and which loaders take --argv0.
        self.loaders: set[str] = set()
        self.loaded_programs: set[str] = set()
        self._argv0_loaders: dict[str, bool] = {}

    def rewrite(self, call: Call, index: int, raw: str, where: Resolved) -> Decision | None:
        """An ``execve``/``execveat``, when names are mapped, made into the exec the kernel
        would make with the names the program means; ``None`` where the kernel gets them
        right by itself.

        - A ``#!`` script becomes the exec of its interpreter, as the kernel would make it:
          ``argv`` = interpreter, its argument, the script's path *as the program named it*,
          then the old ``argv[1:]``, with the interpreter looked up in the virtual tree. Left
          to the kernel, the interpreter would be looked up on the host and get the
          rewritten host path as ``$0``.
        - An ELF program whose interpreter (``PT_INTERP``, the dynamic loader) is somewhere
          else in the virtual view than on the host (a root with its own C library, an
          application that ships its loader) is started by that loader, as ``ld.so
          [--argv0 ARGV0] PROGRAM ARGS...``: the kernel would look the loader up on the host.
        """
        named = raw  # execveat relative to a directory fd: the kernel says /dev/fd/N/raw
        relative_to_fd = call.name == "execveat" and call.args.dfd != AT_FDCWD
        if relative_to_fd and not raw.startswith("/") and where.virtual is not None:
            named = where.virtual
        # An interpreter may be a script too: the kernel follows up to 4 more #! lines, and
        # each interpreter's name goes before the previous program's in argv.
        words: list[bytes] = [os.fsencode(named)]
        host_interpreter = None
        host = where.host
        # Only where the kernel would get a name wrong: the process's name (comm) is then
        # the interpreter's, not the script's as it would be natively.
        needed = where.rewrite is not None
        for _depth in range(binfmt.INTERPRETER_DEPTH):
            line = binfmt.shebang(host)
            if line is None:
                break
            interpreter, argument = line
            if not interpreter.startswith(b"/"):
                return None  # relative to the working directory: rare, left to the kernel
            words[:0] = [interpreter, *([argument] if argument else [])]
            virtual = normalize(os.fsdecode(interpreter))
            host = host_interpreter = self.paths.to_host(virtual)
            needed = needed or host != virtual
        else:
            return None  # too deep: the kernel's ELOOP
        loader = self._loader_for(host)
        if loader is None and (host_interpreter is None or not needed):
            return None  # the kernel gets every name right, or refuses the file
        argv_index = call.syscall.param_index("argv")
        old_argv = read_pointer_array(call, call.args.value(argv_index))
        if old_argv is None:
            return None  # a bad argv: the kernel's EFAULT
        argv: list[str | bytes]
        if host_interpreter is not None:
            argv = [*words, *old_argv[1:]]
            filename = host_interpreter
        else:
            argv = list(old_argv) or [words[0]]
        if loader is not None:
            virtual_loader, filename = loader
            self.loaded_programs.add(host)
            program = words[0] if host_interpreter is not None else os.fsencode(named)
            first = (
                [virtual_loader, "--argv0", argv[0]]
                if self._takes_argv0(filename)
                else [virtual_loader]
            )
            argv = [*first, program, *argv[1:]]
        # (Both calls name them so.)
        return call.rewrite(filename=filename, argv=argv)

    def _loader_for(self, host: str) -> tuple[str, str] | None:
        """The dynamic loader the ELF program at ``host`` names, virtual and host paths, if
        the virtual one is not where the kernel would look (the same path on the host)."""
        interpreter = binfmt.elf_interpreter(host)
        if interpreter is None or not interpreter.startswith(b"/"):
            return None
        virtual = normalize(os.fsdecode(interpreter))
        try:
            resolved = self.resolver.follow_links("/", virtual, True)
        except PathError:
            return None
        loader = self.paths.to_host(resolved)
        if not os.path.isfile(loader):
            return None  # none: the kernel's ENOENT, or the host's file
        with suppress(OSError):
            if os.path.samefile(loader, virtual):
                return None  # the file the kernel finds on the host
        self.loaders.add(loader)
        return virtual, loader

    def _takes_argv0(self, loader: str) -> bool:
        known = self._argv0_loaders.get(loader)
        if known is None:
            known = self._argv0_loaders[loader] = binfmt.takes_argv0(loader)
        return known


def read_pointer_array(call: Call, address: int, limit: int = 65536) -> list[bytes] | None:
    """The strings of a NULL-terminated array of pointers (``argv``) in the caller's memory,
    in its ABI's pointer size; ``None`` if it cannot be read."""
    if address == 0:
        return []
    word = call.abi.pointer_size
    unpack = struct.Struct("<Q" if word == 8 else "<I").unpack_from
    found: list[bytes] = []
    try:
        while len(found) < limit:
            block = call.read(address + len(found) * word, 64 * word)
            for at in range(0, len(block), word):
                (pointer,) = unpack(block, at)
                if pointer == 0:
                    return found
                found.append(call.read_bytes_until_nul(pointer, 131072))
    except OSError:
        return None
    return None
