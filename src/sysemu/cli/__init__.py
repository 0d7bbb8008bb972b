"""The ``sysemu`` command line."""
