"""Benchmark rules: emulate every getpid, declared decide-only (the auto backend then answers
it through seccomp user notification)."""

from sysemu import Call, Decision, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on("getpid", decides_only=True)
    def fake_pid(call: Call) -> Decision:
        return call.emulate(42424242)
