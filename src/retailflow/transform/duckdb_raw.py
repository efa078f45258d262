"""Reading raw-zone files into DuckDB under the raw-zone reading rules (lake/rawformat.py).

Lines DuckDB's CSV reader cannot split into the header's fields (a field too many or too few, an
unterminated quote, bytes that are not UTF-8, a line over 64 MiB) are not errors: the reader skips them
and records them in rejects tables (``store_rejects``), from which ``rejects_select`` builds the plan's
``rejects_<table>`` input: each line whole, with its file and line number.
"""

from __future__ import annotations

import datetime as dt

from retailflow.lake.rawheader import group_by_header
from retailflow.lake.storage import Lake
from retailflow.sql import literal
from retailflow.tables import NULL_TOKENS, Table
from retailflow.transform.plan import REJECT_REASONS

MAX_LINE_BYTES = 64 << 20
# The read buffer, set explicitly: left alone, DuckDB sizes it 16x max_line_size (1 GiB), which alone
# exceeds a 1-2 GB memory_limit, and every run failed with "could not allocate block of size 1.0 GiB".
BUFFER_BYTES = MAX_LINE_BYTES
# The lake-relative path of a raw file, from the full path or URL the reader reports.
RAW_FILE_IN_PATH = "(raw/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+)$"
DAY_IN_PATH = "dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$"


def _read_csv(uris: list[str], n_columns: int, rejects: str | None) -> str:
    nulls = ", ".join(literal(t) for t in NULL_TOKENS)
    # Positional names c0..cN: the header we read ourselves decides what each one is.
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    files = ", ".join(literal(u) for u in uris)
    keep_rejects = (
        f", store_rejects=true, rejects_table={literal(rejects)}, rejects_scan={literal(rejects + '_scan')}"
        if rejects
        else ""
    )
    # Everything as text, no sniffing (typing is validation's job); the day comes from the dt= folder.
    return (
        f"read_csv([{files}], header=true, auto_detect=false, columns={{{columns}}}, delim=',', "
        f"quote='\"', escape='\"', nullstr=[{nulls}], strict_mode=true, encoding='utf-8', "
        f"max_line_size={MAX_LINE_BYTES}, buffer_size={BUFFER_BYTES}, hive_partitioning=true, hive_types={{'dt': DATE}}{keep_rejects})"
    )


def raw_files_select(lake: Lake, table: Table, files: list[tuple[dt.date, str]], rejects: str | None = None) -> str:
    """SQL selecting raw files' contract columns as text, lower-case, plus each file's partition day."""
    return raw_files_read(lake, table, files, rejects)[0]


def raw_files_read(
    lake: Lake, table: Table, files: list[tuple[dt.date, str]], rejects: str | None = None
) -> tuple[str, list[str]]:
    """``raw_files_select``'s SQL, and the rejects tables it fills.

    Files that share a header are read by one read_csv, which DuckDB spreads over all cores. With
    ``rejects``, each read keeps the lines it cannot split in the tables ``<rejects>_<n>`` (and
    ``<rejects>_<n>_scan``), created when the files are read.
    """
    selects, tables = [], []
    for n, group in enumerate(group_by_header(lake, table, [relative for _day, relative in files])):
        columns = ", ".join(f"c{group.positions[c]} AS {c}" for c in table.column_names)
        source = _read_csv(
            [lake.uri(r) for r in group.relatives], group.n_columns, f"{rejects}_{n}" if rejects else None
        )
        selects.append(f"SELECT {columns}, CAST(dt AS DATE) AS partition_dt FROM {source}")
        if rejects:
            tables.append(f"{rejects}_{n}")
    return "\nUNION ALL\n".join(selects), tables


def reader_options() -> str:
    """The reader's options, as they shape what a file yields (part of a typed file's fingerprint)."""
    return _read_csv(["<file>"], 1, "<rejects>")


def rejects_select(tables: list[str]) -> str:
    """The plan's rejects_<table> input from the reader's rejects tables: one row per rejected line."""
    reason = (
        f"CASE e.error_type WHEN 'INVALID ENCODING' THEN {literal(REJECT_REASONS['encoding'])} "
        f"WHEN 'INVALID UNICODE' THEN {literal(REJECT_REASONS['encoding'])} "
        f"WHEN 'LINE SIZE OVER MAXIMUM' THEN {literal(REJECT_REASONS['size'])} "
        f"ELSE {literal(REJECT_REASONS['split'])} END"
    )
    selects = [
        "SELECT CAST(regexp_extract(s.file_path, '" + DAY_IN_PATH + "', 1) AS DATE) AS partition_dt,\n"
        "       regexp_extract(s.file_path, '" + RAW_FILE_IN_PATH + "', 1) AS source_file,\n"
        f"       CAST(e.line AS BIGINT) AS source_line, e.csv_line AS raw_line, {reason} AS reason,\n"
        # One line can carry several errors: it is quarantined once, for the first.
        "       ROW_NUMBER() OVER (PARTITION BY e.scan_id, e.file_id, e.line ORDER BY e.error_type) AS nth\n"
        f"FROM {table} e JOIN {table}_scan s ON s.scan_id = e.scan_id AND s.file_id = e.file_id"
        for table in tables
    ]
    body = "\nUNION ALL\n".join(selects) if selects else _NO_REJECTS
    return (
        f"SELECT partition_dt, source_file, source_line, raw_line, reason FROM ({body}) r WHERE nth = 1"
        if selects
        else body
    )


_NO_REJECTS = (
    "SELECT CAST(NULL AS DATE) AS partition_dt, CAST(NULL AS VARCHAR) AS source_file, "
    "CAST(NULL AS BIGINT) AS source_line, CAST(NULL AS VARCHAR) AS raw_line, CAST(NULL AS VARCHAR) AS reason "
    "WHERE false"
)
