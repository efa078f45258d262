"""The ``retailflow`` command line: it parses flags, calls one stage of retailflow, and prints.

    root.py       the root group (settings from file and environment) and ``main``; registers the commands
    options.py    what the commands share: error handling, ``settings_of``, common options
    source.py     generate           export.py   export          scan.py     scan
    run.py        run                catalog.py  catalog, query  status.py   status
    dashboard.py  dashboard          demo.py     demo            superset.py superset up|down|status|bundle

Command modules import options.py, never each other; only root.py imports them all.
"""

from retailflow.cli.root import cli, main

__all__ = ["cli", "main"]
