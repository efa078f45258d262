"""deploy/snowflake/unload.sql: generated from the contract, committed, valid Snowflake SQL; its daily task
unloads yesterday (America/New_York) with the same COPY statements as ``--day``; and a partition shaped
like what those statements write (no manifest) passes ``scan`` and ``run`` where allow_manifestless is on."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot
from click.testing import CliRunner
from sqlglot import exp

from retailflow.cli import cli
from retailflow.source import snowflake_unload
from retailflow.tables import ALL_TABLES, NULL_TOKEN, SALES, Table

DAY = "2026-01-05"
TASK_SCHEDULE = "'USING CRON 0 2 * * * America/New_York'"


def _statements(sql: str) -> list[exp.Expr]:
    return [s for s in sqlglot.parse(sql, read="snowflake") if s is not None]


def _task_body() -> str:
    """The Snowflake Scripting block between the task's $$ ... $$."""
    (body,) = re.findall(r"\$\$\n(.*?)\$\$", snowflake_unload.OUTPUT.read_text(), flags=re.DOTALL)
    return body


def _evaluate(expression: str, day: str) -> str:
    """The value of a Snowflake string expression made of string literals, ``||`` and the variable ``d``."""
    out = []
    for token in re.findall(r"'(?:[^'\\]|''|\\.)*'|\|\||\w+|\S", expression, flags=re.DOTALL):
        if token == "||":
            continue
        if token == snowflake_unload.DAY_VARIABLE:
            out.append(day)
        elif token.startswith("'"):
            out.append(re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else m.group(1), token[1:-1]))
        else:
            raise AssertionError(f"unexpected token {token!r} in {expression!r}")
    return "".join(out)


def _task_copies(day: str) -> list[str]:
    """The COPY statements the task's block runs, as they read once ``d`` holds ``day``."""
    body = _task_body()
    built = re.findall(r"^  stmt := (.*?);\n  EXECUTE IMMEDIATE :stmt;$", body, flags=re.DOTALL | re.MULTILINE)
    return [_evaluate(e, day) for e in built]


def _check_copy(copy: exp.Expr, table: Table, day: str) -> None:
    assert isinstance(copy, exp.Copy)
    assert copy.this.find(exp.Literal).name == f"@retailflow_lake/raw/dt={day}/{table.name}.csv.gz"
    select = copy.find(exp.Select)
    assert [c.alias_or_name for c in select.expressions] == table.column_names  # every contract column
    for column, item in zip(table.columns, select.expressions, strict=True):
        if column.kind == "double":  # FLOAT as plain decimal text, never an exponent
            assert isinstance(item, exp.Alias) and not item.args["alias"].quoted
            assert item.this.sql("snowflake") == f"TO_CHAR({column.name}, 'TM9')"
        else:
            assert isinstance(item, exp.Column) and not item.this.quoted  # unquoted: an upper-case header
    assert select.find(exp.Table).name == table.name
    assert [o.this.name for o in select.args["order"].expressions] == table.column_names
    where = select.args.get("where")
    if table.is_fact:
        assert where.find(exp.Column).name == table.date_column
        assert where.find(exp.Literal).name == day
    else:
        assert where is None
    options = {p.name.upper(): p for p in copy.find_all(exp.CopyParameter)}
    assert options["HEADER"].expression.sql().upper() == "TRUE"
    assert options["SINGLE"].expression.sql().upper() == "TRUE"
    assert "retailflow_raw_csv" in options["FILE_FORMAT"].sql("snowflake")


# -- the committed file ---------------------------------------------------------------------------------


def test_the_committed_file_is_the_generated_one():
    assert snowflake_unload.OUTPUT.read_text() == snowflake_unload.unload_sql(), (
        "deploy/snowflake/unload.sql is stale: run `python -m retailflow.source.snowflake_unload`"
    )


def test_every_statement_parses_as_snowflake_sql():
    statements = _statements(snowflake_unload.OUTPUT.read_text())
    assert [type(s).__name__ for s in statements] == ["Create"] * 3 + ["Command"] * 2
    # sqlglot has no grammar for CREATE TASK / ALTER TASK nor for Snowflake Scripting, so it keeps those two
    # as Commands (raw text). What they contain is parsed separately below: the day's expression and every
    # COPY statement the block builds parse fully.
    task, resume = (" ".join(f"{s.this} {s.expression}".split()) for s in statements[3:])
    assert task.startswith("CREATE OR REPLACE TASK retailflow_unload_raw_day")
    assert resume == "ALTER TASK retailflow_unload_raw_day RESUME"


def test_the_task_runs_daily_at_2am_new_york_time_on_a_warehouse():
    sql = snowflake_unload.OUTPUT.read_text()
    header = sql[sql.index("CREATE OR REPLACE TASK") : sql.index("AS\nEXECUTE IMMEDIATE $$")]
    assert f"SCHEDULE = {TASK_SCHEDULE}" in header
    assert "WAREHOUSE = retailflow_unload_wh" in header
    assert "warehouse = etl_wh" in snowflake_unload.unload_sql(warehouse="etl_wh").lower()


def test_the_task_computes_yesterday_in_the_business_time_zone():
    (default,) = re.findall(r"^  d STRING DEFAULT (.*);$", _task_body(), flags=re.MULTILINE)
    select = sqlglot.parse_one(f"SELECT {default}", read="snowflake")  # parses fully
    assert not isinstance(select, exp.Command)
    convert = select.find(exp.ConvertTimezone)
    assert convert.args["target_tz"].name == "America/New_York"
    assert isinstance(convert.args["timestamp"], exp.CurrentTimestamp)
    add = select.find(exp.DateAdd)
    assert add.expression.to_py() == -1 and add.unit.name.upper() == "DAY"
    assert select.find(exp.Cast).to.is_type("date")  # the day in New York, not the timestamp's UTC day
    assert select.find(exp.TimeToStr).args["format"].name == "%Y-%m-%d"  # TO_CHAR(..., 'YYYY-MM-DD')


def test_the_task_unloads_the_five_tables_with_the_one_day_statements():
    copies = _task_copies(DAY)
    assert copies == snowflake_unload.day_statements(DAY)  # what --day prints, with d = that day
    assert len(copies) == len(ALL_TABLES) and snowflake_unload.UNLOAD_ORDER[-1] is SALES  # sales last
    for table, sql in zip(snowflake_unload.UNLOAD_ORDER, copies, strict=True):
        (copy,) = _statements(sql)  # each built statement parses fully as a COPY, nothing left as a Command
        _check_copy(copy, table, DAY)


def test_the_file_format_writes_the_projects_null_token_in_gzipped_csv():
    (file_format,) = [s for s in _statements(snowflake_unload.unload_sql()) if "FILE FORMAT" in s.sql("snowflake")]
    properties = {p.name.upper(): p for p in file_format.find_all(exp.Property) if p.name}
    null_if = properties["NULL_IF"]
    assert [lit.name for lit in null_if.find_all(exp.Literal)] == [NULL_TOKEN]
    text = file_format.sql("snowflake")
    assert "TYPE=CSV" in text.replace(" ", "") and "COMPRESSION=GZIP" in text.replace(" ", "")
    assert "NULL_IF = ('\\\\N')" in snowflake_unload.OUTPUT.read_text()  # the Snowflake literal of \N


def test_one_day_prints_its_copy_statements(capsys):
    assert snowflake_unload.main(["--day", DAY]) == 0
    out = capsys.readouterr().out
    assert "TASK" not in out and "$$" not in out
    assert "WHERE trans_dt = TO_DATE('2026-01-05')" in out
    statements = _statements(out)
    assert len(statements) == len(ALL_TABLES)
    for table, copy in zip(snowflake_unload.UNLOAD_ORDER, statements, strict=True):
        _check_copy(copy, table, DAY)


# -- a partition shaped like the unload's output ---------------------------------------------------------


def _snowflake_field(value: object) -> str:
    """One field as Snowflake's COPY INTO writes it with the project's file format: NULL as the first
    NULL_IF value (unquoted), strings enclosed in double quotes (FIELD_OPTIONALLY_ENCLOSED_BY, quotes
    doubled), booleans TRUE/FALSE, dates per DATE_FORMAT, NUMBER(38,2) with its two decimals, FLOAT as the
    SELECT renders it (TO_VARCHAR(x, 'TM9'), a string)."""
    if value is None:
        return NULL_TOKEN
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, float):  # TO_VARCHAR(x, 'TM9'): a string, so enclosed; digits, never an exponent
        return '"' + format(Decimal(repr(value)), "f") + '"'
    if isinstance(value, (dt.date, Decimal, int)):
        return str(value)
    raise TypeError(type(value))


def _unload_like_snowflake(con: duckdb.DuckDBPyConnection, lake: Path, day: str) -> Path:
    """What the task's COPY statements write for ``day``: <table>.csv.gz, an upper-case header (the
    SELECT's unquoted names), rows in the ORDER BY's order, \\N for NULL, gzip, no manifest."""
    partition = lake / "raw" / f"dt={day}"
    partition.mkdir(parents=True)
    for table in snowflake_unload.UNLOAD_ORDER:  # sales last, as the task does
        cols = ", ".join(table.column_names)
        where = f" WHERE {table.date_column} = DATE '{day}'" if table.date_column else ""
        rows = con.execute(f"SELECT {cols} FROM {table.name}{where} ORDER BY {cols}").fetchall()
        lines = [",".join(c.upper() for c in table.column_names)]
        lines += [",".join(_snowflake_field(v) for v in row) for row in rows]
        (partition / f"{table.name}.csv.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return partition


def test_a_partition_shaped_like_the_unloads_output_passes_scan_and_run(source_con, tmp_path):
    week = [dt.date(2026, 1, 4) + dt.timedelta(days=i) for i in range(7)]  # fiscal week 202602, Sun..Sat
    lake = tmp_path / "lake"
    for day in week:
        partition = _unload_like_snowflake(source_con, lake, day.isoformat())
    assert sorted(p.name for p in partition.iterdir()) == sorted(f"{t.name}.csv.gz" for t in ALL_TABLES)
    with gzip.open(partition / "inventory.csv.gz", "rt") as f:
        assert f.readline().startswith("CAL_DT,STORE_KEY,PROD_KEY,")
    with gzip.open(partition / "store.csv.gz", "rt") as f:
        assert f.readline().startswith("STORE_KEY,STORE_NUM,STORE_DESC,")
        assert f",{NULL_TOKEN}," in f.read()  # the source's NULLs, as the file format's NULL_IF token
    runner = CliRunner()
    env = {"RETAILFLOW_ALLOW_MANIFESTLESS": "true"}

    strict = runner.invoke(cli, ["scan", "--lake", str(lake), "--date", week[1].isoformat(), "--trigger", "none"])
    assert strict.exit_code == 3, strict.output  # without the setting: no manifest, not ready
    assert "no _manifest.json" in strict.output

    scanned = runner.invoke(
        cli,
        ["scan", "--lake", str(lake), "--from", week[0].isoformat(), "--to", week[-1].isoformat()]
        + ["--trigger", "none", "--json"],
        env=env,
    )
    assert scanned.exit_code == 0, scanned.output
    outcomes = [json.loads(doc) for doc in re.split(r"(?m)^(?=\{)", scanned.output) if doc.strip()]
    assert [(o["date"], o["status"]) for o in outcomes] == [(d.isoformat(), "ready") for d in week]
    assert all("complete (no manifest)" in o["message"] for o in outcomes)

    ran = runner.invoke(cli, ["run", "--lake", str(lake), "--date", week[1].isoformat()], env=env)
    assert ran.exit_code == 0, ran.output
    published = lake / "curated" / "weekly_sales_inventory" / "yr_wk_num=202602" / "part-0.parquet"
    assert published.exists()
    con = duckdb.connect()
    got = con.execute(f"SELECT sum(total_sales_qty) FROM read_parquet('{published}')").fetchone()[0]
    expected = source_con.execute(
        f"SELECT sum(sales_qty) FROM sales WHERE trans_dt BETWEEN DATE '{week[0]}' AND DATE '{week[-1]}'"
    ).fetchone()[0]
    assert got == expected  # every row read, none quarantined
    store = lake / "curated" / "store" / "part-0.parquet"  # FLOATs as TM9 text, NULLs as \N: all typed back
    query = "SELECT store_key, latitude, longitude, region, prov_state_cd FROM {} ORDER BY store_key"
    assert (
        con.execute(query.format(f"read_parquet('{store}')")).fetchall()
        == source_con.execute(query.format("store")).fetchall()
    )
    assert not list(lake.glob("quarantine/**/*.parquet"))
