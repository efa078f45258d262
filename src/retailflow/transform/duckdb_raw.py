"""Reading raw-zone files into DuckDB under the raw-zone reading rules (lake/rawformat.py)."""

from __future__ import annotations

import datetime as dt

from retailflow.lake.rawheader import group_by_header
from retailflow.lake.storage import Lake
from retailflow.tables import NULL_TOKENS, Table


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_csv(uris: list[str], n_columns: int) -> str:
    nulls = ", ".join(_sql_string(t) for t in NULL_TOKENS)
    # Positional names c0..cN: the header we read ourselves decides what each one is.
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    files = ", ".join(_sql_string(u) for u in uris)
    # Everything as text, no sniffing (typing is validation's job); the day comes from the dt= folder.
    return (
        f"read_csv([{files}], header=true, auto_detect=false, columns={{{columns}}}, delim=',', "
        f"quote='\"', escape='\"', nullstr=[{nulls}], strict_mode=true, encoding='utf-8', "
        "hive_partitioning=true, hive_types={'dt': DATE})"
    )


def raw_files_select(lake: Lake, table: Table, files: list[tuple[dt.date, str]]) -> str:
    """SQL selecting raw files' contract columns as text, lower-case, plus each file's partition day.

    Files that share a header are read by one read_csv, which DuckDB spreads over all cores.
    """
    selects = []
    for group in group_by_header(lake, table, [relative for _day, relative in files]):
        columns = ", ".join(f"c{group.positions[c]} AS {c}" for c in table.column_names)
        source = _read_csv([lake.uri(r) for r in group.relatives], group.n_columns)
        selects.append(f"SELECT {columns}, CAST(dt AS DATE) AS partition_dt FROM {source}")
    return "\nUNION ALL\n".join(selects)
