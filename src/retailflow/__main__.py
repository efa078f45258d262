"""``python -m retailflow``: the same as the ``retailflow`` command."""

from retailflow.cli import main

main()
