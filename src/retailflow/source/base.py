"""The source interface: what the exporter needs from a transactional database, and the URL registry."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import redact_url
from retailflow.tables import Column, Table


class Source(Protocol):
    url: str  # may hold a password: show it only through retailflow.redact.redact_url

    def check(self, tables: tuple[Table, ...]) -> None:
        """Raise SourceError naming the first missing table, missing column or incompatible column type."""

    def read_day(self, table: Table, day: dt.date) -> pa.RecordBatchReader:
        """A fact table's rows of one day, columns in contract order."""

    def read_all(self, table: Table) -> pa.RecordBatchReader:
        """A dimension table's full snapshot, columns in contract order."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class NativeType:
    """A source column's type as the check compares it: its family (int, decimal, date, bool, text,
    double, or anything else), the scale of a decimal, and the type as the backend names it."""

    kind: str
    shown: str
    scale: int | None = None


# What each contract family accepts, for the message (the rule itself is ``compatible``).
EXPECTED = {
    "int": "an integer type of any width (or a NUMBER/DECIMAL of scale 0)",
    "decimal": "a NUMERIC/DECIMAL of scale 2 or more",
    "date": "DATE",
    "bool": "BOOLEAN",
    "text": "a character type (VARCHAR/TEXT)",
    "double": "a floating-point type (DOUBLE/FLOAT/REAL)",
}


def compatible(column: Column, found: NativeType) -> bool:
    """Whether a source column of type ``found`` can be read as the contract column (narrowly: the value
    casts to the contract's Arrow type without changing meaning)."""
    if column.kind == "int":
        return found.kind == "int" or (found.kind == "decimal" and found.scale == 0)
    if column.kind == "decimal":
        return found.kind == "decimal" and found.scale is not None and found.scale >= 2
    return found.kind == column.kind


def check_contract(
    url: str,
    tables: tuple[Table, ...],
    present: Mapping[str, Mapping[str, NativeType]],
    missing_table_hint: str,
) -> None:
    """The contract check every source runs on what it found (lower-case table -> column -> type): the
    first missing table, missing column or incompatible type is a one-line SourceError naming the table,
    the column and the URL (its password masked)."""
    shown = redact_url(url)
    for table in tables:
        if table.name not in present:
            raise SourceError(f"The source {shown} has no table '{table.name}'.", missing_table_hint)
        columns = present[table.name]
        missing = [c for c in table.column_names if c not in columns]
        if missing:
            raise SourceError(
                f"Source table '{table.name}' lacks column(s) {', '.join(missing)} (source {shown}).",
                "The exporter needs every column of the contract (see docs/raw-zone.md).",
            )
        for column in table.columns:
            found = columns[column.name]
            if not compatible(column, found):
                raise SourceError(
                    f"Source table '{table.name}' column '{column.name}' has type {found.shown}, expected "
                    f"{column.type} ({EXPECTED[column.kind]}) (source {shown}).",
                    "Change the column's type in the source, or export through a view that casts it.",
                )


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
