"""``python -m sysemu``: the same as the ``sysemu`` command."""

from sysemu.cli.main import entry

entry()
