"""``python -m sysemu``: the same as the ``sysemu`` command."""

import sys

from sysemu.cli.main import main

sys.exit(main())
