"""Randomness from a seed, for repeatable runs: ``getrandom``, opens of ``/dev/urandom`` and
``/dev/random``, and the ``AT_RANDOM`` bytes of every exec'd image.

The bytes come from one stream per run, in the order the program asks for them, so a program
that asks in the same order gets the same bytes. Opens of the random devices are answered
with a file of stream bytes that sysemu writes for the run (each open reads it from the start:
the same bytes again, which repeatable runs want and real randomness would not give).
"""

from __future__ import annotations

import contextlib
import os
import random

from sysemu.api.call import Call
from sysemu.api.decisions import Decision
from sysemu.api.execs import ExecImage
from sysemu.api.handlers import HandlerSet
from sysemu.kernel.auxv import AT_RANDOM_SIZE

ADDR_NO_RANDOMIZE = 0x0040000  # include/uapi/linux/personality.h
RANDOM_DEVICES = ("/dev/urandom", "/dev/random")
_DEVICE_FILE_SIZE = 1 << 20
_MOST_PER_CALL = 1 << 25  # getrandom's own limit for one call


class SeededRandomness:
    """The seeded stream and the handlers that hand it out."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._stream = random.Random(seed)
        self._device_file: str | None = None

    def begin(self) -> None:
        """Start the stream again (a new run gets the same bytes as the last)."""
        self._stream = random.Random(self.seed)

    def draw(self, size: int) -> bytes:
        """The next ``size`` bytes of the stream."""
        return self._stream.randbytes(size)

    def install(self, handlers: HandlerSet) -> None:
        """Register the handlers, the exec hook, and address-space randomization off."""
        handlers.add("getrandom", self.getrandom, decides_only=True)
        handlers.add(["open", "openat"], self.open_device, when=_opens_a_device)
        handlers.on_exec(self.seed_image)
        handlers.add_personality(ADDR_NO_RANDOMIZE)

    def getrandom(self, call: Call) -> Decision | None:
        """``getrandom(buf, count, flags)``: ``count`` bytes of the stream."""
        address, count = call.raw[0], min(call.raw[1], _MOST_PER_CALL)
        if not address and count:
            return None  # the kernel's EFAULT
        call.write(address, self.draw(count))
        return call.emulate(count)

    def open_device(self, call: Call) -> Decision:
        """An open of a random device: a file of stream bytes instead."""
        return call.open_file(self._device_path())

    def seed_image(self, image: ExecImage) -> None:
        """The exec hook: the image's ``AT_RANDOM`` bytes from the stream."""
        image.set_random_bytes(self.draw(AT_RANDOM_SIZE))

    def _device_path(self) -> str:
        if self._device_file is None:
            import tempfile  # noqa: PLC0415 (it loads shutil: only runs that open a device)

            generator = random.Random(self.seed ^ 0x5EED)
            handle, path = tempfile.mkstemp(prefix="sysemu-random-")
            with os.fdopen(handle, "wb") as output:
                output.write(generator.randbytes(_DEVICE_FILE_SIZE))
            self._device_file = path
        return self._device_file

    def close(self) -> None:
        """Remove the run's device file."""
        if self._device_file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._device_file)
            self._device_file = None


def _opens_a_device(call: Call) -> bool:
    return call.path in RANDOM_DEVICES
