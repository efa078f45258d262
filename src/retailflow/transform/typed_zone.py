"""The typed zone: each raw fact file parsed and checked row by row once, kept as parquet (DuckDB engine).

    typed/dt=YYYY-MM-DD/<table>.<fingerprint>.parquet          the day's rows of <table>_parsed (plan.py)
    typed/dt=YYYY-MM-DD/<table>.<fingerprint>.rejects.parquet  the day's lines the reader could not split

A week's run reads the days an earlier run parsed from here and parses only the others (a nightly run:
one new day, not seven). Everything that needs more than the row itself (the calendar rule, duplicates,
conflicts, counts, metrics) is computed from these rows on every run, as before.

The fingerprint names what a file was made from: the raw partition's version (its manifest hash), the raw
file, and the SQL that reads and checks it. A day is read from here only when its names match: same bytes,
same rules; otherwise it is parsed from raw and written again. Files are content-addressed, so writers
racing on a day write the same bytes; each goes in under a temporary name and is renamed into place,
rejects first, so a rows file means the pair is whole. Versions no longer current are removed when their
replacement is written; the next run's sweep removes days whose raw partition is gone and days more than a
week older than the newest raw day (``sweep``): the zone holds about a week.

Nothing here is a source of truth: delete ``typed/`` (or set typed_zone = false) and the next run parses
from raw and writes it again, with the same results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from retailflow.lake import layout
from retailflow.lake.storage import Lake
from retailflow.tables import Table
from retailflow.transform.dialect import Dialect
from retailflow.transform.plan import fact_steps

FORMAT = "retailflow-typed-1"
KEPT_DAYS = 7  # the days a nightly run reads again: its week's, all within a week of the newest day


def parse_sql(table: Table, d: Dialect, reader: str) -> str:
    """The SQL a typed file is made by: the raw reader's options and the plan's parse and check steps."""
    steps = {s.name: s.sql for s in fact_steps(table, d)}
    return "\n".join([reader, *(steps[f"{table.name}_{step}"] for step in ("typed", "parsed", "fresh"))])


def fingerprint(table: Table, day: dt.date, version: str, relative: str, sql: str) -> str:
    text = "\n".join([FORMAT, table.name, day.isoformat(), version, relative, sql])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rows_file(day: dt.date, table: Table, fp: str) -> str:
    return layout.typed_file(day, table.name, fp)


def rejects_file(day: dt.date, table: Table, fp: str) -> str:
    return layout.typed_file(day, table.name, fp, rejects=True)


def remove_replaced(lake: Lake, day: dt.date, table: Table, fp: str) -> None:
    """Remove the day's files of ``table`` from other fingerprints (older raw versions or rules)."""
    folder = layout.typed_partition(day)
    for name in lake.listdir(folder):
        if name.startswith(f"{table.name}.") and f".{fp}." not in name and not layout.is_temporary(name):
            lake.remove(f"{folder}/{name}")


def sweep(lake: Lake, raw_days: Iterable[dt.date]) -> list[dt.date]:
    """Remove the typed days a nightly run will not read again: those whose raw partition is gone, and
    those more than a week older than the newest raw day. Return them."""
    days = sorted(raw_days)
    keep = {d.isoformat() for d in days if d > days[-1] - dt.timedelta(days=KEPT_DAYS)} if days else set()
    swept = []
    for name in lake.subdirs(layout.TYPED):
        day = layout.day_of_raw_partition(name)
        if day is not None and day.isoformat() not in keep:
            lake.remove(layout.typed_partition(day), recursive=True)
            swept.append(day)
    return swept
