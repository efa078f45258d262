"""``python -m retailflow.cli``: the same as the ``retailflow`` command."""

from retailflow.cli.root import main

main()
