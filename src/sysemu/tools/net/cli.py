"""Command-line option of the network tool: ``--deny-network[=allow-loopback]``.

``configure`` checks the value; ``apply`` registers :func:`~.policy.deny_network`'s handlers
on the emulator, after the rules files' handlers (as ``--inject`` does). Imported at every
start of the command line: the policy itself is loaded only when the option is given.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.tools.tool import Invocation, OptionalValue, ToolHost, ToolOptions

if TYPE_CHECKING:
    import argparse

_EVERYTHING = "all"  # the option without a value
_LOOPBACK = "allow-loopback"


class NetConfig(NamedTuple):
    """What ``--deny-network`` asked for."""

    allow_loopback: bool


class NetOptions(ToolOptions):
    """``--deny-network`` of ``run`` and ``attach``."""

    name = "net"
    optional_values = (
        OptionalValue("--deny-network", "deny_network", _EVERYTHING, "its mode", _LOOPBACK),
    )

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add ``--deny-network`` to ``parser``."""
        parser.add_argument(
            "--deny-network",
            nargs="?",
            const=_EVERYTHING,
            default=None,
            metavar=_LOOPBACK,
            help="inet and inet6 socket() fail with EACCES (AF_UNIX works); with "
            "=allow-loopback, connects and sends to other machines fail with ENETUNREACH",
        )

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> NetConfig | None:
        """The policy asked for, or None without the option; ValueError for another value."""
        value = getattr(args, "deny_network", None)
        if value is None:
            return None
        if value not in (_EVERYTHING, _LOOPBACK):
            raise ValueError(
                f"--deny-network: {value!r} is not {_LOOPBACK} (write --deny-network -- CMD "
                f"to deny the network, --deny-network={_LOOPBACK} -- CMD to keep the loopback)"
            )
        return NetConfig(allow_loopback=value == _LOOPBACK)

    def apply(self, config: object, host: ToolHost) -> None:
        """Register the policy's handlers on the emulator's own handler set."""
        assert isinstance(config, NetConfig)
        from sysemu.tools.net.policy import deny_network  # noqa: PLC0415 (only when asked)

        deny_network(host.handlers, allow_loopback=config.allow_loopback)


OPTIONS = NetOptions()
