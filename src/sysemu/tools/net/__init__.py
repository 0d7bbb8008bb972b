"""Network tools: keeping a program off the network (:func:`deny_network`, ``--deny-network``)
and selecting calls by address family (``--inject ...:family=inet``, :func:`family_selector`).

The command line imports :mod:`.cli` at every start; the rest is loaded on first use.
"""

from sysemu._typing import TYPE_CHECKING
from sysemu.tools import lazy_names

if TYPE_CHECKING:
    from sysemu.tools.net.families import FamilySelector, family_selector
    from sysemu.tools.net.policy import deny_network

__all__ = ["FamilySelector", "deny_network", "family_selector"]

_LAZY = {
    "FamilySelector": "sysemu.tools.net.families",
    "family_selector": "sysemu.tools.net.families",
    "deny_network": "sysemu.tools.net.policy",
}


__getattr__ = lazy_names(__name__, _LAZY)
