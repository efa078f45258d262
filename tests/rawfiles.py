"""Write raw-zone CSV files the way outside producers write them, not the way our exporter does.

The raw zone is a contract (lake/rawformat.py, lake/rawzone.py): any producer may deliver
``<table>.csv`` or ``<table>.csv.gz``, with the header in any case and any column order, extra columns,
``\\N`` or an empty field for NULL, and a UTF-8 BOM. These helpers write such files so the readers and
the completeness rules can be tested against every variant.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip as gzip_mod
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from retailflow.lake import layout
from retailflow.tables import ALL_TABLES, Table

Row = Mapping[str, object]  # contract column -> value (None is NULL)


def sample_rows(table: Table, day: dt.date, n: int = 2) -> list[dict[str, object]]:
    """``n`` plausible, distinct rows of ``table`` for ``day`` (every value present, as text)."""
    rows = []
    for i in range(n):
        row: dict[str, object] = {}
        for column in table.columns:
            if column.name == table.date_column or column.kind == "date":
                row[column.name] = day.isoformat()
            elif column.kind == "int":
                row[column.name] = str(100 + i)
            elif column.kind == "decimal":
                row[column.name] = f"{i + 1}.25"
            elif column.kind == "double":
                row[column.name] = f"{i + 1}.5"
            elif column.kind == "bool":
                row[column.name] = "true" if i % 2 == 0 else "false"
            else:
                row[column.name] = f"{column.name}-{i}"
        rows.append(row)
    return rows


def _case(name: str, header_case: str, index: int) -> str:
    if header_case == "lower":
        return name.lower()
    if header_case == "upper":
        return name.upper()
    if header_case == "mixed":  # alternate: Store_Key, STORE_NUM, Store_Desc, ...
        return name.upper() if index % 2 else "_".join(part.capitalize() for part in name.split("_"))
    raise ValueError(f"header_case must be lower, upper or mixed, not {header_case!r}")


def csv_bytes(
    table: Table,
    rows: Iterable[Row],
    *,
    gzip: bool = False,
    header_case: str = "lower",
    column_order: str | Sequence[str] | None = None,
    extra_columns: Mapping[str, object] | None = None,
    drop_columns: Iterable[str] = (),
    null: str = "\\N",
    bom: bool = False,
    line_end: str = "\n",
) -> bytes:
    """The bytes of a raw file of ``table``.

    column_order: None (contract order), "reversed", or the contract column names in the wanted order.
    extra_columns: columns outside the contract, name -> value on every row; written first, so the
    contract columns are not at their usual positions.
    drop_columns: contract columns to leave out (a producer that breaks the contract).
    null: how None is written: "\\N" (a Snowflake unload) or "" (most CSV writers).
    """
    if column_order is None:
        order = list(table.column_names)
    elif column_order == "reversed":
        order = list(reversed(table.column_names))
    else:
        order = list(column_order)
    dropped = set(drop_columns)
    order = [c for c in order if c not in dropped]
    extras = dict(extra_columns or {})

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    header = list(extras) + [_case(c, header_case, i) for i, c in enumerate(order)]
    writer.writerow(header)
    for row in rows:
        values = [str(v) for v in extras.values()]
        values += [null if row.get(c) is None else str(row[c]) for c in order]
        writer.writerow(values)
    text = ("\ufeff" if bom else "") + buffer.getvalue()
    data = text.encode("utf-8")
    return gzip_mod.compress(data, mtime=0) if gzip else data


def write_raw_file(path: Path, table: Table, rows: Iterable[Row], **options) -> Path:
    """Write one raw file (options as in :func:`csv_bytes`); the name should end .csv or .csv.gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(table, rows, **options))
    return path


def write_partition(
    lake_root: Path,
    day: dt.date,
    rows: Mapping[str, Sequence[Row]] | None = None,
    tables: Iterable[Table] = ALL_TABLES,
    **options,
) -> Path:
    """Write a whole raw partition ``raw/dt=<day>/`` as an outside producer would: no manifest, and
    ``<table>.csv`` (or ``.csv.gz`` with gzip=True). ``rows`` overrides the sample rows per table name
    (an empty list gives a header-only file). Returns the partition folder."""
    rows = rows or {}
    folder = lake_root / layout.raw_partition(day)
    suffix = ".csv.gz" if options.get("gzip") else ".csv"
    for table in tables:
        table_rows = rows[table.name] if table.name in rows else sample_rows(table, day)
        write_raw_file(folder / f"{table.name}{suffix}", table, table_rows, **options)
    return folder
