"""The embedded default source: a DuckDB database file."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import redact_url
from retailflow.source.base import NativeType, check_contract
from retailflow.tables import Table

BATCH_ROWS = 256_000
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def native_type(data_type: str) -> NativeType:
    """A DuckDB column type (information_schema's data_type) as the contract check compares it."""
    name = data_type.upper()
    match = _DECIMAL.match(name)
    if match:
        return NativeType("decimal", data_type, int(match.group(2)))
    if name in _INTEGERS:
        return NativeType("int", data_type)
    kind = {"DATE": "date", "BOOLEAN": "bool", "VARCHAR": "text", "DOUBLE": "double", "FLOAT": "double"}.get(name)
    return NativeType(kind or "other", data_type)


def path_of(url: str) -> Path:
    """``duckdb:///rel/path.duckdb`` is relative, ``duckdb:////abs/path.duckdb`` absolute (SQLAlchemy's rule)."""
    if "://" in url and not url.split("://", 1)[1].startswith("/"):
        raise SourceError(
            f"Source URL {redact_url(url)!r} is not a duckdb URL.",
            "Use duckdb:///relative/path.duckdb or duckdb:////abs/path.duckdb.",
        )
    path = url.split("://", 1)[1][1:] if "://" in url else url
    if not path.strip():
        raise SourceError(f"Source URL {redact_url(url)!r} names no file.", "Use duckdb:///path/to/source.duckdb.")
    return Path(path)


def url_of(path: Path | str) -> str:
    return f"duckdb:///{path}"  # an absolute path brings its own leading slash: duckdb:////abs


class DuckDBSource:
    def __init__(self, url: str):
        self.url = url
        self.path = path_of(url)
        shown = path_of(redact_url(url))  # the file as messages show it (a secret query value as ***)
        if not self.path.is_file():
            raise SourceError(
                f"Source database {shown} does not exist.",
                "Create one with `retailflow generate`, or point --source at your database.",
            )
        try:
            self.con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(
                f"Cannot open source database {shown}: {reason.replace(str(self.path), str(shown))}"
            ) from None

    def check(self, tables: tuple[Table, ...]) -> None:
        present: dict[str, dict[str, NativeType]] = {}
        for table_name, column_name, data_type in self.con.execute(
            "SELECT lower(table_name), lower(column_name), data_type FROM information_schema.columns"
        ).fetchall():
            present.setdefault(table_name, {})[column_name] = native_type(data_type)
        check_contract(
            self.url,
            tables,
            present,
            "Run `retailflow generate` to create a source, or point --source at the right database.",
        )

    def read_day(self, table: Table, day: dt.date) -> pa.RecordBatchReader:
        cols = ", ".join(table.column_names)
        # Sorted, so unchanged data gives identical files. A cursor per call: days export in parallel threads.
        sql = f"SELECT {cols} FROM {table.name} WHERE {table.date_column} = ? ORDER BY ALL"
        return self.con.cursor().execute(sql, [day]).to_arrow_reader(BATCH_ROWS)

    def read_all(self, table: Table) -> pa.RecordBatchReader:
        cols = ", ".join(table.column_names)
        return self.con.cursor().execute(f"SELECT {cols} FROM {table.name} ORDER BY ALL").to_arrow_reader(BATCH_ROWS)

    def close(self) -> None:
        self.con.close()
