"""The Snowflake-side unload: the SQL that writes each day's raw partition straight from Snowflake to the
lake (``COPY INTO @stage/raw/dt=<day>/<table>.csv.gz``), generated from the contract (retailflow.tables).

``deploy/snowflake/unload.sql`` is this module's output, committed; a test keeps the two equal:

    python -m retailflow.source.snowflake_unload                    # rewrites deploy/snowflake/unload.sql
    python -m retailflow.source.snowflake_unload --day 2026-01-05   # one day's COPY statements, to stdout

The committed file creates the storage integration, the raw zone's CSV file format and the stage, and a
Snowflake task that runs every day at 02:00 America/New_York and unloads the business day that just
ended (yesterday in that time zone, computed inside Snowflake: a task cannot take a templated day).
``--day`` prints the same COPY statements for one concrete day (a backfill or a re-run by hand).

The files follow the raw-zone contract (docs/raw-zone.md): one gzipped CSV per table, a header (the
SELECT's unquoted names, which Snowflake writes upper-case; readers accept any case), ``\\N`` for NULL,
rows sorted, sales last. An unload writes no ``_manifest.json``: the lake sets ``allow_manifestless``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from retailflow.lake import layout
from retailflow.sql import identifier, literal
from retailflow.tables import ALL_TABLES, NULL_TOKEN, SALES, Column, Table

OUTPUT = Path(__file__).resolve().parents[3] / "deploy" / "snowflake" / "unload.sql"
INTEGRATION = "retailflow_raw_zone"
FILE_FORMAT = "retailflow_raw_csv"
STAGE = "retailflow_lake"
TASK = "retailflow_unload_raw_day"
DEFAULT_LAKE = "s3://retailflow-lake/"
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/retailflow-snowflake-unload"
DEFAULT_WAREHOUSE = "retailflow_unload_wh"
TIMEZONE = "America/New_York"  # the business day's time zone (Settings.timezone's default)
SCHEDULE_HOUR = 2  # 02:00 in TIMEZONE: the day before is over, and the partition is there before the scan
MAX_FILE_SIZE = 5_368_709_120  # 5 GB, the largest single file Snowflake writes to S3
DAY_VARIABLE = "d"  # the task's Snowflake Scripting variable holding the day, 'YYYY-MM-DD'
STATEMENT_VARIABLE = "stmt"  # the COPY statement built for that day (EXECUTE IMMEDIATE takes a variable)
# Sales last: without a manifest, its arrival is what says the day is complete (docs/raw-zone.md). Each
# file appears whole (an S3 object is visible only once written), so no temporary names are needed.
UNLOAD_ORDER = tuple(sorted(ALL_TABLES, key=lambda t: t is SALES))
_MARK = "\x01DAY\x01"  # where the day goes in a statement the task builds as a string


def _string(value: str) -> str:
    """A Snowflake string literal: like DuckDB's, but a backslash is an escape there, so it is doubled."""
    return literal(value.replace("\\", "\\\\"))


def setup_statements(lake: str = DEFAULT_LAKE, role_arn: str = DEFAULT_ROLE_ARN) -> list[str]:
    """The one-off setup: the storage integration (Snowflake's IAM role on the lake), the raw zone's CSV
    file format and the stage on the lake's root."""
    root = lake if lake.endswith("/") else f"{lake}/"
    return [
        f"CREATE STORAGE INTEGRATION IF NOT EXISTS {INTEGRATION}\n"
        "  TYPE = EXTERNAL_STAGE\n  STORAGE_PROVIDER = 'S3'\n  ENABLED = TRUE\n"
        f"  STORAGE_AWS_ROLE_ARN = {_string(role_arn)}\n"
        f"  STORAGE_ALLOWED_LOCATIONS = ({_string(root + layout.RAW + '/')})",
        f"CREATE FILE FORMAT IF NOT EXISTS {FILE_FORMAT}\n"
        "  TYPE = CSV\n  COMPRESSION = GZIP\n  FIELD_DELIMITER = ','\n"
        "  FIELD_OPTIONALLY_ENCLOSED_BY = '\"'\n"
        f"  NULL_IF = ({_string(NULL_TOKEN)})\n"
        "  EMPTY_FIELD_AS_NULL = FALSE\n  ESCAPE_UNENCLOSED_FIELD = NONE\n"
        "  DATE_FORMAT = 'YYYY-MM-DD'",
        f"CREATE STAGE IF NOT EXISTS {STAGE}\n"
        f"  URL = {_string(root)}\n  STORAGE_INTEGRATION = {INTEGRATION}\n"
        f"  FILE_FORMAT = (FORMAT_NAME = {FILE_FORMAT})",
    ]


def _select_item(column: Column) -> str:
    """A column as the file gets it. FLOAT goes out as plain decimal text ('TM9': text-minimal, never an
    exponent): the raw zone's readers take 40.66 but not 4.066e+01, and the unload's own rendering of a
    FLOAT is not something the file format controls. Aliased to its own name: the header stays the same."""
    name = identifier(column.name)
    return f"TO_VARCHAR({name}, 'TM9') AS {name}" if column.kind == "double" else name


def unload_statement(table: Table, day: str) -> str:
    """One table's file of the day's partition: a fact table's rows of the day, a dimension's snapshot.
    The header is the SELECT's names, unquoted, so Snowflake writes them upper-case (CAL_DT, ...). Rows
    are sorted by the table's own columns (qualified, so a FLOAT sorts as a number, not as its text)."""
    name = identifier(table.name)
    cols = ", ".join(_select_item(c) for c in table.columns)
    order = ", ".join(f"{name}.{identifier(c)}" for c in table.column_names)
    where = f"\n  WHERE {identifier(table.date_column)} = TO_DATE({_string(day)})" if table.date_column else ""
    location = f"@{STAGE}/{layout.RAW}/dt={day}/{table.name}.csv.gz"
    return (
        f"COPY INTO {_string(location)}\n"
        f"FROM (\n  SELECT {cols}\n  FROM {name}{where}\n  ORDER BY {order}\n)\n"
        f"FILE_FORMAT = (FORMAT_NAME = {FILE_FORMAT})\n"
        f"HEADER = TRUE\nSINGLE = TRUE\nOVERWRITE = TRUE\nMAX_FILE_SIZE = {MAX_FILE_SIZE}"
    )


def day_statements(day: str) -> list[str]:
    """The COPY statements of one concrete day, in unload order."""
    return [unload_statement(t, day) for t in UNLOAD_ORDER]


def yesterday_expression(timezone: str = TIMEZONE) -> str:
    """Snowflake SQL for the business day that just ended, as 'YYYY-MM-DD': yesterday in ``timezone``
    (whatever the account's or the session's time zone)."""
    return f"TO_CHAR(DATEADD(day, -1, CONVERT_TIMEZONE({_string(timezone)}, CURRENT_TIMESTAMP())::DATE), 'YYYY-MM-DD')"


def dynamic_statement(table: Table) -> str:
    """Snowflake Scripting: the table's COPY statement as a string expression with the day taken from the
    variable ``d`` (a stage path cannot be a bind variable, so the statement is built, then run)."""
    pieces = unload_statement(table, _MARK).split(_MARK)
    return f" || {DAY_VARIABLE} || ".join(_string(p) for p in pieces)


def task_statements(warehouse: str = DEFAULT_WAREHOUSE, timezone: str = TIMEZONE) -> list[str]:
    """The daily task (created suspended, then resumed): at 02:00 in the business time zone it unloads
    yesterday's partition, sales last. Its body is a Snowflake Scripting block, the form a task runs."""
    copies = "".join(
        f"  {STATEMENT_VARIABLE} := {dynamic_statement(t)};\n  EXECUTE IMMEDIATE :{STATEMENT_VARIABLE};\n"
        for t in UNLOAD_ORDER
    )
    body = (
        "EXECUTE IMMEDIATE $$\n"
        "DECLARE\n"
        f"  {DAY_VARIABLE} STRING DEFAULT {yesterday_expression(timezone)};\n"
        f"  {STATEMENT_VARIABLE} STRING;\n"
        "BEGIN\n"
        f"{copies}"
        f"  RETURN 'unloaded {layout.RAW}/dt=' || {DAY_VARIABLE};\n"
        "END;\n"
        "$$"
    )
    return [
        f"CREATE OR REPLACE TASK {TASK}\n"
        f"  WAREHOUSE = {identifier(warehouse)}\n"
        f"  SCHEDULE = {_string(f'USING CRON 0 {SCHEDULE_HOUR} * * * {timezone}')}\n"
        "  USER_TASK_TIMEOUT_MS = 14400000\n"
        f"  COMMENT = {_string('retailflow: the raw partition of the business day that just ended')}\n"
        f"AS\n{body}",
        f"ALTER TASK {TASK} RESUME",
    ]


def unload_sql(
    lake: str = DEFAULT_LAKE,
    role_arn: str = DEFAULT_ROLE_ARN,
    warehouse: str = DEFAULT_WAREHOUSE,
    timezone: str = TIMEZONE,
) -> str:
    parts = [
        "-- GENERATED by `python -m retailflow.source.snowflake_unload` from src/retailflow/tables.py: do not edit.",
        "-- The Snowflake-side unload of each day's raw partition (docs/snowflake.md). Run it in the source's",
        "-- database and schema (the task's COPY statements name the tables unqualified).",
        "",
        "-- One-off setup (ACCOUNTADMIN for the integration; then DESC INTEGRATION for the IAM trust policy).",
    ]
    parts += [f"{s};\n" for s in setup_statements(lake, role_arn)]
    parts.append(
        f"-- Every day at {SCHEDULE_HOUR:02d}:00 {timezone}: the partition of yesterday (in {timezone}), sales last.\n"
        "-- (One day by hand: python -m retailflow.source.snowflake_unload --day YYYY-MM-DD.)"
    )
    parts += [f"{s};\n" for s in task_statements(warehouse, timezone)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retailflow.source.snowflake_unload", description=__doc__)
    parser.add_argument("--day", type=dt.date.fromisoformat, help="print one day's COPY statements instead")
    parser.add_argument("--lake", default=DEFAULT_LAKE, help="the lake's root, s3://bucket/prefix/")
    parser.add_argument("--role-arn", default=DEFAULT_ROLE_ARN, help="the IAM role Snowflake assumes")
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, help="the warehouse the task runs on")
    parser.add_argument("--timezone", default=TIMEZONE, help="the business day's time zone (IANA name)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where the generated SQL goes")
    args = parser.parse_args(argv)
    if args.day:
        day = args.day.isoformat()
        sys.stdout.write(f"-- The raw partition of {day}, sales last.\n")
        sys.stdout.write("".join(f"{s};\n\n" for s in day_statements(day)))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(unload_sql(args.lake, args.role_arn, args.warehouse, args.timezone))
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
