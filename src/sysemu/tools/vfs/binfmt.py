"""What the kernel reads from a program file before it runs it: ``#!`` lines and ``PT_INTERP``.

Owns the parsing of executable files on the host, as ``fs/binfmt_script.c`` and
``fs/binfmt_elf.c`` read them: the interpreter of a ``#!`` script, the dynamic loader an ELF
program names, whether a loader takes ``--argv0``, and which program a loader has mapped
into a process. Pure file reading: it never touches a tracee, a ``Call`` or the path map
(:mod:`sysemu.tools.vfs.execs` decides what an exec becomes).
"""

from __future__ import annotations

import os
import struct

BINPRM_BUF_SIZE = 256  # how much of a file the kernel reads to find its #! line
INTERPRETER_DEPTH = 5  # the script and 4 more interpreters (BINPRM_MAX_RECURSION)
_PT_INTERP = 3
_ELFCLASS32, _ELFCLASS64 = 1, 2
_ELFDATA2LSB = 1


def shebang(host: str) -> tuple[bytes, bytes] | None:
    """The interpreter and optional argument of the executable ``#!`` script ``host``, as
    the kernel parses its first line; ``None`` for anything else (including a file that is
    not executable, or a line longer than the kernel reads)."""
    try:
        with open(host, "rb") as script:
            head = script.read(BINPRM_BUF_SIZE)
            executable = os.fstat(script.fileno()).st_mode & 0o111
    except OSError:
        return None
    if not head.startswith(b"#!") or not executable:
        return None
    line, newline, _ = head[2:].partition(b"\n")
    if not newline:
        return None
    interpreter, _, argument = line.replace(b"\t", b" ").strip(b" ").partition(b" ")
    return (interpreter, argument.strip(b" ")) if interpreter else None


def elf_interpreter(host: str) -> bytes | None:
    """The ``PT_INTERP`` path of the executable ELF file ``host`` (32- or 64-bit,
    little-endian), or ``None`` (not ELF, static, unreadable, or not executable)."""
    try:
        with open(host, "rb") as elf:
            if not os.fstat(elf.fileno()).st_mode & 0o111:
                return None
            header = elf.read(64)
            if len(header) < 52 or header[:4] != b"\x7fELF" or header[5] != _ELFDATA2LSB:
                return None
            if header[4] == _ELFCLASS64 and len(header) == 64:
                (table,) = struct.unpack_from("<Q", header, 32)
                size, count = struct.unpack_from("<HH", header, 54)
                entry = struct.Struct("<I4xQ16xQ")  # p_type, p_offset, p_filesz
            elif header[4] == _ELFCLASS32:
                (table,) = struct.unpack_from("<I", header, 28)
                size, count = struct.unpack_from("<HH", header, 42)
                entry = struct.Struct("<II8xI")
            else:
                return None
            if size < entry.size or count > 256:
                return None
            elf.seek(table)
            headers = elf.read(size * count)
            for at in range(0, len(headers) - size + 1, size):
                kind, offset, length = entry.unpack_from(headers, at)
                if kind == _PT_INTERP and 1 < length <= 4096:
                    elf.seek(offset)
                    return elf.read(length).split(b"\0", 1)[0] or None
    except (OSError, struct.error):
        return None
    return None


def takes_argv0(loader: str) -> bool:
    """Whether the loader at ``loader`` understands ``--argv0`` (glibc 2.33 and later,
    musl 1.2.2): its option names are plain strings in the file."""
    try:
        with open(loader, "rb") as file:
            # glibc compares with "--argv0", musl with "argv0": both end so.
            return b"argv0\0" in file.read(4 << 20)
    except OSError:
        return False


def loaded_program(process: str, programs: set[str]) -> str | None:
    """The program a loader started in ``process`` (``/proc/PID``): the one of ``programs``
    (host paths of the programs started so) that it has mapped."""
    try:
        with open(f"{process}/maps") as maps:
            for line in maps:
                fields = line.rstrip("\n").split(maxsplit=5)
                if len(fields) == 6 and fields[5] in programs:
                    return fields[5]
    except OSError:
        return None
    return None
