"""The source interface: what the exporter needs from a transactional database, and the URL registry."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Protocol

import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import redact_url
from retailflow.tables import Table


class Source(Protocol):
    url: str  # may hold a password: show it only through retailflow.redact.redact_url

    def check(self, tables: tuple[Table, ...]) -> None:
        """Raise SourceError naming the first missing table or column of the contract."""

    def read_day(self, table: Table, day: dt.date) -> pa.RecordBatchReader:
        """A fact table's rows of one day, columns in contract order."""

    def read_all(self, table: Table) -> pa.RecordBatchReader:
        """A dimension table's full snapshot, columns in contract order."""

    def close(self) -> None: ...


# URL scheme -> "module:class" of its driver, imported only when a URL of that scheme is opened (so a
# driver's client library is needed only by those who use it).
DRIVERS: dict[str, str] = {
    "duckdb": "retailflow.source.duckdb_source:DuckDBSource",
    "postgresql": "retailflow.source.postgresql_source:PostgreSQLSource",
    "snowflake": "retailflow.source.snowflake_source:SnowflakeSource",
}
_FACTORIES: dict[str, Callable[[str], Source]] = {}


def register(scheme: str, factory: Callable[[str], Source]) -> None:
    """Make ``scheme://...`` URLs open with ``factory(url)`` (for drivers outside this package)."""
    _FACTORIES[scheme] = factory


def scheme_of(url: str) -> str:
    if "://" in url:
        return url.split("://", 1)[0].split("+", 1)[0]
    if url.endswith((".duckdb", ".db")):
        return "duckdb"
    return ""


def open_source(url: str) -> Source:
    if not url.strip():
        raise SourceError(
            f"The source setting is {'empty' if not url else 'blank'} ({url!r}).",
            "Pass --source duckdb:///path/to/source.duckdb, or set RETAILFLOW_SOURCE.",
        )
    scheme = scheme_of(url)
    factory = _FACTORIES.get(scheme)
    if factory is None and scheme in DRIVERS:
        module, _, name = DRIVERS[scheme].partition(":")
        factory = getattr(importlib.import_module(module), name)
    if factory is None:
        known = ", ".join(sorted({*DRIVERS, *_FACTORIES}))
        raise SourceError(f"No source driver for {redact_url(url)!r}.", f"Supported URL schemes: {known}.")
    return factory(url)
