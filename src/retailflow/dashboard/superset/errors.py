"""The one error the Superset modules raise (process.py, client.py, server.py): a ``RetailflowError``."""

from __future__ import annotations

from retailflow.errors import RetailflowError


class SupersetError(RetailflowError):
    """Superset could not be set up, started, provisioned or stopped."""
