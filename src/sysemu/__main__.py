"""``python -m sysemu``: the same as the ``sysemu`` command."""

import gc

gc.disable()  # until the program starts: see sysemu.cli.main.entry

from sysemu.cli.main import entry  # noqa: E402

entry()
