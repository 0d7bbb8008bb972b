"""Network tools: keeping a program off the network (:func:`deny_network`, ``--deny-network``)
and selecting calls by address family (``--inject ...:family=inet``, :func:`family_selector`).

The command line imports :mod:`.cli` at every start; the rest is loaded on first use.
"""

from sysemu._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sysemu.tools.net.families import FamilySelector, family_selector
    from sysemu.tools.net.policy import deny_network

__all__ = ["FamilySelector", "deny_network", "family_selector"]

_LAZY = {
    "FamilySelector": "sysemu.tools.net.families",
    "family_selector": "sysemu.tools.net.families",
    "deny_network": "sysemu.tools.net.policy",
}


def __getattr__(name: str) -> object:
    import importlib  # noqa: PLC0415

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sysemu.tools.net' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
