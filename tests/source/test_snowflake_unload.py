"""deploy/snowflake/unload.sql: generated from the contract, committed, valid Snowflake SQL."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from retailflow.source import snowflake_unload
from retailflow.tables import ALL_TABLES, NULL_TOKEN, SALES


def _statements(sql: str) -> list[exp.Expr]:
    return [s for s in sqlglot.parse(sql, read="snowflake") if s is not None]


def test_the_committed_file_is_the_generated_one():
    assert snowflake_unload.OUTPUT.read_text() == snowflake_unload.unload_sql(), (
        "deploy/snowflake/unload.sql is stale: run `python -m retailflow.source.snowflake_unload`"
    )


def test_every_statement_parses_as_snowflake_sql():
    statements = _statements(snowflake_unload.OUTPUT.read_text())
    assert not [s for s in statements if isinstance(s, exp.Command)]  # nothing sqlglot gave up on
    assert [type(s).__name__ for s in statements] == ["Create"] * 3 + ["Copy"] * len(ALL_TABLES)


def test_each_table_unloads_its_contract_columns_to_its_raw_file():
    copies = [s for s in _statements(snowflake_unload.unload_sql()) if isinstance(s, exp.Copy)]
    assert snowflake_unload.UNLOAD_ORDER[-1] is SALES  # sales last: it says the day is complete
    for table, copy in zip(snowflake_unload.UNLOAD_ORDER, copies, strict=True):
        assert copy.this.find(exp.Literal).name == f"@retailflow_lake/raw/dt={{{{ ds }}}}/{table.name}.csv.gz"
        select = copy.find(exp.Select)
        assert [c.name for c in select.expressions] == table.column_names
        assert select.find(exp.Table).name == table.name
        assert [o.this.name for o in select.args["order"].expressions] == table.column_names
        where = select.args.get("where")
        if table.is_fact:
            assert where.find(exp.Column).name == table.date_column
        else:
            assert where is None


def test_the_file_format_writes_the_projects_null_token():
    (file_format,) = [s for s in _statements(snowflake_unload.unload_sql()) if "FILE FORMAT" in s.sql("snowflake")]
    null_if = next(p for p in file_format.find_all(exp.Property) if p.name.upper() == "NULL_IF")
    assert [lit.name for lit in null_if.find_all(exp.Literal)] == [NULL_TOKEN]


def test_one_day_replaces_the_placeholder(capsys):
    assert snowflake_unload.main(["--day", "2026-01-05"]) == 0
    out = capsys.readouterr().out
    assert "{{" not in out
    assert "'@retailflow_lake/raw/dt=2026-01-05/sales.csv.gz'" in out
    assert "WHERE trans_dt = TO_DATE('2026-01-05')" in out
    assert len(_statements(out)) == 3 + len(ALL_TABLES)
