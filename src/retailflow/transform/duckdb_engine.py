"""The embedded engine: DuckDB in-process, reading the raw CSVs and writing parquet directly."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

import duckdb

from retailflow.errors import LakeError
from retailflow.lake import layout
from retailflow.lake.storage import Lake
from retailflow.sql import literal, memory_size
from retailflow.tables import DIMENSION_TABLES, FACT_TABLES, TABLES
from retailflow.transform.duckdb_raw import raw_files_select, rejects_select
from retailflow.transform.inputs import RunInputs
from retailflow.transform.plan import Step
from retailflow.transform.schema import WEEKLY_COLUMN_NAMES

PARQUET = "FORMAT parquet, COMPRESSION snappy"


def connect(lake: Lake | None = None, temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if temp_directory:  # where DuckDB spills what does not fit in memory (its owner removes it)
        con.execute(f"SET temp_directory = {literal(temp_directory)}")
    con.execute("SET preserve_insertion_order = false")
    if lake is not None and not lake.is_local:
        con.register_filesystem(lake.fs)  # s3:// and friends go through the lake's own fsspec filesystem
    return con


def default_memory_limit() -> str:
    """Half the machine's memory: DuckDB's own default (80%) leaves too little for anything else."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total // 2 // 2**20)}MB"


class DuckDBEngine:
    name = "duckdb"
    # A few weeks per pass bounds memory by those weeks, not by the whole history (--all over years).
    weeks_per_pass = 4

    def __init__(self, threads: int | None = None, memory_limit: str | None = None):
        self.con: duckdb.DuckDBPyConnection | None = None
        self.threads = threads
        self.memory_limit = memory_limit or default_memory_limit()
        self._spill: tempfile.TemporaryDirectory | None = None

    def load(self, lake: Lake, inputs: RunInputs) -> None:
        self._disconnect()  # a new pass starts from a fresh database
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="retailflow-duckdb-")
        self.con = connect(lake, temp_directory=self._spill.name)
        self.con.execute(f"SET memory_limit = {literal(memory_size(self.memory_limit))}")
        if self.threads:
            self.con.execute(f"SET threads = {int(self.threads)}")
        for table_name, files in inputs.facts.items():
            self._create_raw_view(lake, table_name, [(f.day, f.relative) for f in files], keep_rejects=True)
        for table_name, f in inputs.dims.items():
            self._create_raw_view(lake, table_name, [(f.day, f.relative)])

    def _create_raw_view(
        self, lake: Lake, table_name: str, files: list[tuple[dt.date, str]], keep_rejects: bool = False
    ) -> None:
        table = TABLES[table_name]
        if files:
            select = raw_files_select(lake, table, files, rejects=f"csv_rejects_{table_name}" if keep_rejects else None)
        else:  # no partition of this table: an empty input with the right columns
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in table.column_names)
            select = f"SELECT {cols}, CAST(NULL AS DATE) AS partition_dt WHERE false"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW raw_{table_name} AS {select}")

    def execute(self, plan: list[Step]) -> None:
        for table in FACT_TABLES:  # empty until the files are read (when <table>_checked is computed)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW rejects_{table.name} AS {rejects_select([])}")
        for step in plan:
            kind = "TABLE" if step.materialize else "VIEW"
            try:
                self.con.execute(f"CREATE OR REPLACE TEMP {kind} {step.name} AS\n{step.sql}")
            except (duckdb.InvalidInputException, duckdb.IOException) as exc:  # a file the reader cannot read
                raise LakeError(
                    f"A raw file could not be read: {csv_error_summary(exc)}.",
                    "Re-export that day, or fix the file.",
                ) from None
            if step.name.endswith("_checked") and step.name.removesuffix("_checked") in {t.name for t in FACT_TABLES}:
                self._create_rejects_view(step.name.removesuffix("_checked"))

    def _create_rejects_view(self, table_name: str) -> None:
        """rejects_<table> from the reader's rejects tables, which reading the files has just filled."""
        prefix = f"csv_rejects_{table_name}_"
        tables = [
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?) AND NOT ends_with(table_name, '_scan')",
                [prefix],
            ).fetchall()
        ]
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW rejects_{table_name} AS {rejects_select(sorted(tables))}")

    def fetch(self, view: str) -> list[dict[str, Any]]:
        cursor = self.con.execute(f"SELECT * FROM {view}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _copy(self, query: str, lake: Lake, relative: str) -> str:
        lake.makedirs(relative.rpartition("/")[0])
        self.con.execute(f"COPY ({query}) TO {literal(lake.uri(relative))} ({PARQUET})")
        return relative

    def stage_weekly(self, lake: Lake, staging: str, weeks: list[int]) -> dict[int, str]:
        cols = ", ".join(WEEKLY_COLUMN_NAMES)
        staged = {}
        for week in weeks:
            staged[week] = self._copy(
                f"SELECT {cols} FROM weekly_metrics WHERE yr_wk_num = {int(week)} ORDER BY store_key, prod_key",
                lake,
                f"{staging}/{layout.weekly_partition(week)}/{layout.PART_FILE}",
            )
        return staged

    def stage_quarantine(self, lake: Lake, staging: str) -> dict[tuple[str, str], str]:
        staged = {}
        for table in FACT_TABLES:
            view = f"quarantine_{table.name}"
            days = [r[0] for r in self.con.execute(f"SELECT DISTINCT partition_dt FROM {view}").fetchall()]
            for day in days:
                staged[(day.isoformat(), table.name)] = self._copy(
                    f"SELECT * FROM {view} WHERE partition_dt = CAST({literal(day.isoformat())} AS DATE) ORDER BY ALL",
                    lake,
                    f"{staging}/{layout.quarantine_file(day, table.name)}",
                )
        return staged

    def stage_dims(self, lake: Lake, staging: str) -> dict[str, str]:
        return {
            table.name: self._copy(
                f"SELECT * FROM dim_{table.name} ORDER BY {table.keys[0]}",
                lake,
                f"{staging}/{layout.curated_table(table.name)}/{layout.PART_FILE}",
            )
            for table in DIMENSION_TABLES
        }

    def _disconnect(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def close(self) -> None:
        self._disconnect()
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None


def csv_error_summary(exc: Exception) -> str:
    """'<file>: CSV Error on Line: 3 (Expected Number of Columns: 2 Found: 1)' from DuckDB's long message."""
    text = str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    file = next((line.split("=", 1)[1].strip() for line in lines if line.startswith("file =")), None)
    first = lines[0].replace("Invalid Input Error: ", "") if lines else text
    detail = next((line for line in lines[1:] if line.startswith("Expected") or "Could not convert" in line), None)
    return f"{file + ': ' if file else ''}{first}{f' ({detail})' if detail else ''}"
