"""Tools made of handlers and observers: tracing, fault injection, the virtual filesystem.

Each is a package that plugs into runs, results and the command line through the interface
in :mod:`sysemu.tools.tool`; :mod:`sysemu.tools.registry` lists those the command line offers.
"""
