"""The catalog (the local stand-in for Glue + Athena): SQL views over the curated parquet."""

from retailflow.catalog.build import build_catalog, catalog_tables
from retailflow.catalog.query import connect, open_catalog, run_query, setup_sql

__all__ = ["build_catalog", "catalog_tables", "connect", "open_catalog", "run_query", "setup_sql"]
