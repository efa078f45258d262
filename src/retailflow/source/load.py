"""Filling a source database other than DuckDB: the generator writes a DuckDB file (its SQL is DuckDB's),
then the backend's one bulk path copies the five tables in (PostgreSQL: COPY through ADBC; Snowflake: a
stage and COPY INTO). Never row by row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from retailflow.errors import SourceError
from retailflow.source.base import scheme_of

# URL scheme -> "module:function(url, duckdb_path, on_progress)"; imported only when used.
LOADERS: dict[str, str] = {
    "postgresql": "retailflow.source.postgresql_source:load",
    "snowflake": "retailflow.source.snowflake_source:load",
}


def load_into(url: str, duckdb_path: Path, on_progress: Callable[[], None] | None = None) -> None:
    """Replace the source tables at ``url`` with those of the DuckDB file ``duckdb_path``."""
    scheme = scheme_of(url)
    if scheme not in LOADERS:
        raise SourceError(
            f"retailflow generate cannot fill a {scheme or 'plain'} source.",
            f"Use a duckdb:// path, or one of: {', '.join(f'{s}://' for s in sorted(LOADERS))}.",
        )
    module, _, name = LOADERS[scheme].partition(":")
    getattr(importlib.import_module(module), name)(url, duckdb_path, on_progress)
