"""The reference run's observer: every call the sweep's specs match, where it came from.

The observer is an :class:`~sysemu.tools.inject.injector.Injector` whose handlers record
instead of inject, so a call "matches" exactly as it would under ``--inject``: the same
seccomp filter, the same ``path=``/``fd=``/``fdpath=``/``pid=``/``family=``/``short=``
conditions, the same count per spec, process and syscall that ``when=`` counts.

The call site is the return address into the program's own code. At the stop the thread is
inside a libc wrapper (``write``, or ``fwrite`` -> ``_IO_file_write`` -> ``write``), so the
words of the stack from the stack pointer upwards are read and the first one that points into
an executable mapping of the program's file (``/proc/PID/exe``) is taken: the return address
of the innermost frame of the program itself. Without frame pointers nothing tells a return
address from a code pointer kept in a local variable; such a word is rare, and a wrong site
only groups calls less well (the injection itself is by count, never by site). A program whose
every call comes through a shared library (an interpreter) gets the first return address into
any file instead. Addresses are turned into ``file+offset`` through ``/proc/PID/maps``, which
does not change with address-space randomisation from one run to the next.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sysemu._typing import NamedTuple
from sysemu.abi import ArgKind, Syscall
from sysemu.api.call import Call
from sysemu.api.decisions import Decision
from sysemu.tools.inject.injector import Injector
from sysemu.tools.inject.spec import InjectSpec

# How much stack is scanned for a return address into the program: 512 words reach through
# libc's stdio layers (fwrite, fflush, the FILE's write) with room to spare.
_STACK_WORDS = 512


class Observed(NamedTuple):
    """One matching call of the reference run."""

    order: int
    """Its place among every matching call of the run (of any spec), from 0."""
    spec_index: int
    syscall: str
    nth: int
    """Which matching call of its process and syscall it was, from 1: what ``when=`` counts."""
    pid: int
    root: bool
    """Whether the started process made it (``pid=root``)."""
    text: str
    """The call with its decoded arguments, as a trace shows them: ``write(3</tmp/f>, ...)``."""
    path: str | None
    """The path it names, or the path of its file descriptor."""
    site: str
    """Where the program made it: ``file+0xOFFSET`` (see the module docstring)."""


class _Mapping(NamedTuple):
    start: int
    end: int
    offset: int
    path: str
    executable: bool


def _mappings(pid: int) -> list[_Mapping]:
    """The file-backed mappings of process ``pid``."""
    found = []
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) < 6 or not fields[5].startswith("/"):
                    continue
                start, end = (int(part, 16) for part in fields[0].split("-"))
                path = fields[5].rstrip("\n").removesuffix(" (deleted)")
                found.append(_Mapping(start, end, int(fields[2], 16), path, "x" in fields[1]))
    except OSError:  # the process is gone
        return []
    return found


_AT_ENTRY = 9  # <elf.h>: the auxiliary vector's entry for the program's entry point


def _entry_point(pid: int) -> int | None:
    """The program's entry point, from its auxiliary vector. The vector sits on the stack
    above the first frame, so until main's frames are there (while the dynamic loader maps
    the libraries) it is the one word of the stack pointing into the program; it is no
    return address."""
    try:
        with open(f"/proc/{pid}/auxv", "rb") as auxv:
            data = auxv.read()
    except OSError:
        return None
    for index in range(0, len(data) - 15, 16):
        if int.from_bytes(data[index : index + 8], "little") == _AT_ENTRY:
            return int.from_bytes(data[index + 8 : index + 16], "little")
    return None


def _place(address: int, mappings: list[_Mapping]) -> str | None:
    for mapping in mappings:
        if mapping.start <= address < mapping.end:
            offset = address - mapping.start + mapping.offset
            return f"{os.path.basename(mapping.path)}+{offset:#x}"
    return None


def call_site(call: Call) -> str:
    """Where ``call`` was made: the first return address on its stack into the program's
    own file, else into any file, else the call's own instruction (see the module
    docstring); ``?`` when nothing can be read."""
    mappings = [m for m in _mappings(call.pid) if m.executable]
    try:
        program = os.readlink(f"/proc/{call.pid}/exe").removesuffix(" (deleted)")
    except OSError:
        program = ""
    stack = b""
    if call.sp:
        try:
            stack = call.memory.read(call.sp, _STACK_WORDS * 8, partial=True)
        except OSError:
            stack = b""
    entry = _entry_point(call.pid)
    words = [int.from_bytes(stack[i : i + 8], "little") for i in range(0, len(stack) - 7, 8)]
    words = [word for word in words if word != entry]
    for wanted in (program, None):
        for word in words:
            for mapping in mappings:
                if mapping.start <= word < mapping.end and wanted in (None, mapping.path):
                    return _place(word, [mapping]) or "?"
    return _place(call.ip, mappings) or "?"


def call_text(call: Call) -> str:
    """``call`` with its arguments as the trace decodes them at entry (those the kernel fills
    in, such as read's buffer, are ``...``), file descriptors followed by their path."""
    # The trace's decoders are loaded only by the reference run, which shows calls.
    from sysemu.tools.trace.context import ENTRY, Context  # noqa: PLC0415
    from sysemu.tools.trace.decoders import shown_arguments  # noqa: PLC0415
    from sysemu.tools.trace.decoders_scalar import dec_fd  # noqa: PLC0415

    parts = []
    try:
        context = Context(call, limit=32, exiting=False)
        for index, decoder, phase in shown_arguments(call):
            if phase != ENTRY:
                parts.append("...")
                continue
            value = call.args.value(index)
            text = decoder(context, value, index)
            if decoder is dec_fd:
                fd_path = call.fd_path(value)
                if fd_path is not None:
                    text += f"<{fd_path}>"
            parts.append(text)
    except (OSError, ValueError, KeyError, IndexError):  # memory gone: the registers alone
        parts = [hex(value) for value in call.raw[: len(call.syscall.params)]]
    return f"{call.name}({', '.join(parts)})"


def _named_path(call: Call, syscall: Syscall) -> str | None:
    paths = call.paths
    if paths:
        return paths[0]
    for index, param in enumerate(syscall.params):
        if param.kind is ArgKind.FD:
            return call.fd_path(call.args.value(index))
    return None


class MatchRecorder(Injector):
    """An injector that injects nothing: its handlers let every call run and record, in
    :attr:`observed`, each call that a spec matches (see the module docstring)."""

    reads_registers = True  # the stack pointer, for the call site

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.observed: list[Observed] = []

    def reset(self) -> None:
        """Forget the calls of a previous run, and the counters."""
        super().reset()
        self.observed.clear()

    def _handler_for(
        self,
        index: int,
        spec: InjectSpec,
        syscall: Syscall,
        family_check: Callable[[Call], bool] | None = None,
    ) -> Callable[[Call], Decision | None] | None:
        match = self._matcher(index, spec, syscall, family_check)
        if match is None:
            return None
        observed = self.observed

        def record(call: Call) -> None:
            matched = match(call)
            if matched is not None:
                observed.append(
                    Observed(
                        len(observed),
                        index,
                        call.name,
                        matched.nth,
                        call.pid,
                        call.pid == self._root,
                        call_text(call),
                        matched.path or _named_path(call, syscall),
                        call_site(call),
                    )
                )

        record.__qualname__ = f"sweep reference of '{spec}'"
        return record
