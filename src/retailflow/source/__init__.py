"""The transactional source database: the interface the exporter reads through, and its implementations.

A source is chosen by URL scheme (``duckdb:///path.duckdb`` today). Adding PostgreSQL or Snowflake means
one new module that implements :class:`~retailflow.source.base.Source` and one ``register`` call; the
exporter does not change.
"""

from retailflow.source.base import Source, open_source, register

__all__ = ["Source", "open_source", "register"]
