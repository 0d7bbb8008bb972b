"""A rules file for ``sysemu run --rules``: deny one file, and fake the process id.

sysemu run --rules examples/deny_and_fake.py -- sh -c 'cat /etc/hostname; echo $$'
"""

import errno

from sysemu import Call, Decision, Emulator


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on("openat")
    def deny_hostname(call: Call) -> Decision | None:
        if call.path == "/etc/hostname":
            return call.fail(errno.EACCES)  # the kernel never runs it
        return None  # the kernel runs every other openat as usual

    @emu.on("getpid")
    def fake_pid(call: Call) -> Decision:
        return call.emulate(4242)
