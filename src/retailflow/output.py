"""Printing query results as a table, CSV or JSON. Column names and cells are shown as they are (never read
as rich markup)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from typing import Any

from rich.table import Column, Table
from rich.text import Text

from retailflow import console


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() or abs(value) > 2**53 else int(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else str(value)
    if isinstance(value, decimal.Decimal):
        return f"{value:,}"
    return str(value)


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str = "table") -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in row] for row in rows])
    elif fmt == "json":
        sys.stdout.write(
            json.dumps([{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows], indent=2) + "\n"
        )
    else:
        table = Table(*(Column(header=Text(str(c))) for c in columns), show_lines=False)
        for row in rows:
            table.add_row(*(Text(_cell(v)) for v in row))
        console.out.print(table)
        console.err.print(f"{len(rows)} row(s)")
