"""The embedded default source: a DuckDB database file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import redact_url
from retailflow.tables import Table

BATCH_ROWS = 256_000


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
        present: dict[str, set[str]] = {}
        for table_name, column_name in self.con.execute(
            "SELECT lower(table_name), lower(column_name) FROM information_schema.columns"
        ).fetchall():
            present.setdefault(table_name, set()).add(column_name)
        for table in tables:
            if table.name not in present:
                raise SourceError(
                    f"The source {redact_url(self.url)} has no table '{table.name}'.",
                    "Run `retailflow generate` to create a source, or point --source at the right database.",
                )
            missing = [c for c in table.column_names if c not in present[table.name]]
            if missing:
                raise SourceError(
                    f"Source table '{table.name}' lacks column(s) {', '.join(missing)}.",
                    "The exporter needs every column of the contract (see docs/raw-zone.md).",
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
