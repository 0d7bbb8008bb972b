"""Benchmark rules: a handler on openat that lets the kernel run every call and reads nothing.

Beside ``read_openat_path.py`` it tells what reading ``call.path`` adds to a stop.
"""

from sysemu import Call, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on("openat")
    def look(call: Call) -> None:
        return None  # the kernel runs the call as if we were not here
