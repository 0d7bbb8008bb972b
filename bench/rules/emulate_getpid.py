"""Benchmark rules: answer every getpid with 42424242; the kernel never runs it.

The program prints the last value getpid returned, so the benchmark can check the handler ran.
"""

from sysemu import Call, Decision, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on("getpid")
    def fake_pid(call: Call) -> Decision:
        return call.emulate(42424242)
