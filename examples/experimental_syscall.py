"""An experimental system call, implemented in Python (``sysemu run --rules``).

Number 1000 is one no kernel implements: without sysemu the call fails with ENOSYS. Under
these rules it returns the sum of its first two arguments::

    cc -o experimental_syscall examples/experimental_syscall.c
    sysemu run --rules examples/experimental_syscall.py -- ./experimental_syscall
    1000(2, 3) = 5
    1001() = -1 Function not implemented
"""

from sysemu import Call, Decision, Emulator

SYS_ADD = 1000


def register(emu: Emulator) -> None:
    """Called once by sysemu before the program starts."""

    @emu.on(SYS_ADD)
    def add(call: Call) -> Decision:
        # A number outside the syscall table has generic arguments arg0..arg5.
        return call.emulate(call.args.arg0 + call.args.arg1)
