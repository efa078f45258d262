"""The embedded engine: DuckDB in-process, reading the raw CSVs and writing parquet directly."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import duckdb

from retailflow.errors import LakeError
from retailflow.lake import layout
from retailflow.lake.storage import Lake
from retailflow.sql import literal, memory_bytes
from retailflow.tables import CALENDAR, DIMENSION_TABLES, FACT_TABLES, TABLES, Table
from retailflow.transform import typed_zone
from retailflow.transform.dialect import DUCKDB
from retailflow.transform.duckdb_raw import raw_files_read, reader_options, rejects_select
from retailflow.transform.inputs import RunInputs
from retailflow.transform.plan import REJECT_COLUMNS, Step, no_typed_rows, parsed_columns, typed_select
from retailflow.transform.schema import WEEKLY_COLUMN_NAMES

PARQUET = "FORMAT parquet, COMPRESSION snappy"
# The share of duckdb_memory_limit given to DuckDB's buffer manager. The rest is headroom for what it does
# not account for (readers' and writers' buffers, allocator slack: ~0.5 GB measured at 9.3M fact rows under
# a 1GB limit) and the Python process, so the whole run stays within the limit and spills rather than grows.
BUFFER_SHARE = 0.6


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

    def __init__(self, threads: int | None = None, memory_limit: str | None = None, typed_zone: bool = True):
        self.con: duckdb.DuckDBPyConnection | None = None
        self.threads = threads
        self.memory_limit = memory_limit or default_memory_limit()
        self.typed_zone = typed_zone
        self._spill: tempfile.TemporaryDirectory | None = None
        self._lake: Lake | None = None
        self._rejects_tables: dict[str, list[str]] = {}  # table -> the reader's rejects tables (once read)
        self._typed_read: dict[str, list[tuple[dt.date, str]]] = {}  # table -> days read from the typed zone
        self._typed_due: dict[str, list[tuple[dt.date, str]]] = {}  # table -> of those, days to keep typed
        self.typed_days: dict[str, list[dt.date]] = {}  # table -> the days all passes read typed (not parsed)

    def load(self, lake: Lake, inputs: RunInputs) -> None:
        self._disconnect()  # a new pass starts from a fresh database
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="retailflow-duckdb-")
        self.con = connect(lake, temp_directory=self._spill.name)
        buffers = int(memory_bytes(self.memory_limit) * BUFFER_SHARE)
        self.con.execute(f"SET memory_limit = {literal(f'{max(buffers // 10**6, 64)}MB')}")
        if self.threads:
            self.con.execute(f"SET threads = {int(self.threads)}")
        self._lake = lake
        for table_name, f in inputs.dims.items():
            self._create_raw_view(lake, table_name, [(f.day, f.relative)])
        calendar_days = self._calendar_days() if inputs.facts and self.typed_zone else set()
        for table_name, files in inputs.facts.items():
            table = TABLES[table_name]
            sql = typed_zone.parse_sql(table, DUCKDB, reader_options())
            fingerprints = {
                f.day: typed_zone.fingerprint(table, f.day, f.version, f.relative, sql)
                for f in files
                if self.typed_zone and f.version
            }
            candidates = [
                (f.day, fingerprints[f.day]) for f in files if f.day in fingerprints and f.day in calendar_days
            ]
            typed = self._readable(lake, table, candidates)
            parse = [f for f in files if f.day not in dict(typed)]
            self._typed_read[table_name] = typed
            self.typed_days.setdefault(table_name, []).extend(day for day, _fp in typed)
            keep_from = inputs.keep_typed_from or dt.date.min
            self._typed_due[table_name] = [
                (f.day, fingerprints[f.day])
                for f in parse
                if f.day in fingerprints and f.day >= keep_from and f.day in calendar_days
            ]
            with self._reading():
                self._rejects_tables[table_name] = self._create_raw_view(
                    lake, table_name, [(f.day, f.relative) for f in parse], keep_rejects=True
                )
                self._create_typed_view(lake, table, typed)

    def _readable(self, lake: Lake, table: Table, typed: list[tuple[dt.date, str]]) -> list[tuple[dt.date, str]]:
        """The typed days whose pair of files DuckDB can open: a missing one (never written, or a writer died
        between the two) or a damaged one is parsed from raw again, and rewritten."""
        ok = []
        for day, fp in typed:
            try:
                for file in (typed_zone.rows_file(day, table, fp), typed_zone.rejects_file(day, table, fp)):
                    self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(lake.uri(file))})")
                ok.append((day, fp))
            except duckdb.Error:
                pass
        return ok

    def _create_typed_view(self, lake: Lake, table: Table, typed: list[tuple[dt.date, str]]) -> None:
        """typed_<table>: the days read from the typed zone."""
        files = [literal(lake.uri(typed_zone.rows_file(day, table, fp))) for day, fp in typed]
        cols = ", ".join(c.name for c in parsed_columns(table))
        select = f"SELECT {cols} FROM read_parquet([{', '.join(files)}])" if files else no_typed_rows(table, DUCKDB)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW typed_{table.name} AS {select}")

    def _calendar_days(self) -> set[dt.date]:
        """The snapshot's calendar days: a typed day is read only when it is one of them, so every row the
        calendar rule can fail was parsed now, with its delivered text (plan.py keeps it for those)."""
        typed = typed_select(CALENDAR, DUCKDB, keep_source=False)
        return {d for (d,) in self.con.execute(f"SELECT cal_dt FROM ({typed}) c WHERE cal_dt IS NOT NULL").fetchall()}

    def _create_raw_view(
        self, lake: Lake, table_name: str, files: list[tuple[dt.date, str]], keep_rejects: bool = False
    ) -> list[str]:
        """raw_<table> over ``files``; returns the names of the rejects tables reading them will create."""
        table = TABLES[table_name]
        rejects: list[str] = []
        if files:
            select, rejects = raw_files_read(
                lake, table, files, rejects=f"csv_rejects_{table_name}" if keep_rejects else None
            )
        else:  # no partition of this table: an empty input with the right columns
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in table.column_names)
            select = f"SELECT {cols}, CAST(NULL AS DATE) AS partition_dt WHERE false"
        # A gzip file is read by one thread, and so is everything a view over it computes: when there are
        # fewer files than threads (a nightly run's one new day), read the text once, then type it in parallel.
        kind = "TABLE" if keep_rejects and 0 < len(files) < self._threads() else "VIEW"
        self.con.execute(f"CREATE OR REPLACE TEMP {kind} raw_{table_name} AS {select}")
        return rejects

    def _threads(self) -> int:
        return int(self.con.execute("SELECT current_setting('threads')").fetchone()[0])

    def execute(self, plan: list[Step]) -> None:
        for table in FACT_TABLES:  # empty until the files are read (when <table>_fresh is computed)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW rejects_{table.name} AS {rejects_select([])}")
        for step in plan:
            table = TABLES.get(step.name.removesuffix("_fresh")) if step.name.endswith("_fresh") else None
            kind = "TABLE" if step.materialize else "VIEW"
            with self._reading():
                self.con.execute(f"CREATE OR REPLACE TEMP {kind} {step.name} AS\n{step.sql}")
            if table is not None:  # the raw files were just read
                self._create_rejects_view(table.name)
                self._keep_typed(table)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A file the reader cannot read, as one line naming it and saying what to do."""
        try:
            yield
        except (duckdb.InvalidInputException, duckdb.IOException) as exc:
            if f"/{layout.TYPED}/dt=" in str(exc):
                raise LakeError(
                    f"A file of the typed zone could not be read: {csv_error_summary(exc)}.",
                    f"Delete {self._lake.uri(layout.TYPED)} (or that day's folder in it): the next run "
                    "parses those days from raw again.",
                ) from None
            raise LakeError(
                f"A raw file could not be read: {csv_error_summary(exc)}.", "Re-export that day, or fix the file."
            ) from None

    def _create_rejects_view(self, table_name: str) -> None:
        """rejects_<table>: the lines the reader just rejected, and those of the days read typed."""
        selects = [rejects_select(self._rejects_tables[table_name])]
        files = [
            self._lake.uri(typed_zone.rejects_file(day, TABLES[table_name], fp))
            for day, fp in self._typed_read[table_name]
        ]
        if files:
            cols = ", ".join(["partition_dt", *(c.name for c in REJECT_COLUMNS), "reason"])
            selects.append(f"SELECT {cols} FROM read_parquet([{', '.join(literal(u) for u in files)}])")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW rejects_{table_name} AS {' UNION ALL '.join(selects)}")

    def _keep_typed(self, table: Table) -> None:
        """Write the days just parsed into the typed zone (rejects first: a rows file means the pair is whole).
        Their days are in the calendar, so their fresh rows are their parsed rows (plan.py)."""
        for day, fp in self._typed_due[table.name]:
            on_day = f"WHERE partition_dt = CAST({literal(day.isoformat())} AS DATE)"
            self._copy_atomic(f"SELECT * FROM rejects_{table.name} {on_day}", typed_zone.rejects_file(day, table, fp))
            self._copy_atomic(f"SELECT * FROM {table.name}_fresh {on_day}", typed_zone.rows_file(day, table, fp))
            typed_zone.remove_replaced(self._lake, day, table, fp)

    def _copy_atomic(self, query: str, relative: str) -> None:
        lake = self._lake
        lake.makedirs(relative.rpartition("/")[0])
        tmp = lake.temp_name(relative)
        try:
            self.con.execute(f"COPY ({query}) TO {literal(lake.uri(tmp))} ({PARQUET})")
            lake.commit(tmp, relative)
        except BaseException:
            lake.remove(tmp)
            raise

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
