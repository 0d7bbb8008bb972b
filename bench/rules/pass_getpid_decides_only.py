"""Benchmark rules: let the kernel run every getpid, declared decide-only (the auto backend then
passes it through seccomp user notification)."""

from sysemu import Call, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on("getpid", decides_only=True)
    def look(call: Call) -> None:
        return None  # the kernel runs the call as if we were not here
