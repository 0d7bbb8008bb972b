"""Benchmark rules: ``read_openat_path.py`` declared decide-only, so that the auto backend
answers openat through seccomp user notification rather than a ptrace stop.

The handler reads ``call.path`` (copied out of the program's memory) and lets every call run.
"""

from sysemu import Call, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""
    path_bytes = 0

    @emu.on("openat", decides_only=True)
    def read_path(call: Call) -> None:
        nonlocal path_bytes
        path_bytes += len(call.path or "")  # use the value so the read is never skipped
