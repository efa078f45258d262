"""``retailflow query``: SQL against the catalog, opened read-only; the latest week, the list of tables."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from retailflow.errors import RetailflowError
from retailflow.lake import layout
from retailflow.lake.storage import Lake


@contextlib.contextmanager
def open_catalog(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the catalog (downloaded first when the lake is not local)."""
    if not lake.exists(layout.catalog()):
        raise RetailflowError(
            f"There is no catalog in {lake.url} yet.", "Run `retailflow run` (or `retailflow catalog`) first."
        )
    workdir = None
    try:
        if lake.is_local:
            path = lake.path(layout.catalog())
        else:
            workdir = Path(tempfile.mkdtemp(prefix="retailflow-catalog-"))
            path = str(workdir / "retailflow.duckdb")
            with lake.open(layout.catalog()) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        con = duckdb.connect(path, read_only=True)
        if not lake.is_local:
            con.register_filesystem(lake.fs)
        try:
            yield con
        finally:
            con.close()
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run_query(lake: Lake, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    with open_catalog(lake) as con:
        try:
            cursor = con.execute(sql, params or {})
        except duckdb.Error as exc:
            message = str(exc).strip().splitlines()[0]
            raise RetailflowError(f"The query failed: {message}", "Tables: `retailflow query --tables`.") from None
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()


def latest_week(lake: Lake) -> int | None:
    _, rows = run_query(lake, f"SELECT MAX(yr_wk_num) FROM {layout.WEEKLY_TABLE}")
    return rows[0][0] if rows else None


def list_tables(lake: Lake) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The catalog's tables and views, one row each: ``table_name`` and its ``columns`` ("name TYPE, ...")."""
    return run_query(
        lake,
        "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
        "AS columns FROM information_schema.columns GROUP BY table_name ORDER BY table_name",
    )
