"""``sysemu --version`` and the first line of ``sysemu doctor``."""

from __future__ import annotations

import os
import sys

from sysemu import __version__


def version_line() -> str:
    """``sysemu 0.1.0``: what ``sysemu --version`` prints."""
    return f"sysemu {__version__}"


def environment_line() -> str:
    """The version with the Python and the kernel it runs on, for reports (``doctor``)."""
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"{version_line()} (Python {python}, Linux {os.uname().release})"
