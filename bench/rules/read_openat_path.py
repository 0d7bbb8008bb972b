"""Benchmark rules: a pass-through handler on openat that reads the path argument.

Reading ``call.path`` copies the string out of the program's memory, the costly part of most
real handlers; the kernel then runs every call unchanged.
"""

from sysemu import Call, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""
    path_bytes = 0

    @emu.on("openat")
    def read_path(call: Call) -> None:
        nonlocal path_bytes
        path_bytes += len(call.path or "")  # use the value so the read is never skipped
