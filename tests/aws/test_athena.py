"""Athena (catalog/athena.py, catalog/dialects.py): the named queries rendered for Trino; the call path
(start, poll, fetch, errors) against the local Athena API, whose results are queued canned rows (it
executes no SQL); and the SQL's meaning, checked by running Athena's SQL on DuckDB over exactly the
partition locations Glue returns, against ``retailflow query``.

Fiscal weeks used: 202602 = 2026-01-04..10, 202603 = 2026-01-11..17.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.request
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from retailflow.catalog import athena, dialects, glue
from retailflow.catalog.named import NAMED_QUERIES, parameters_for, sql_for
from retailflow.catalog.query import run_query as duckdb_query
from retailflow.config import Settings
from retailflow.dashboard.superset.bundle import (
    DATABASE_NAME,
    AthenaCatalog,
    build_bundle,
    bundle_files,
    catalog_target,
    dataset_specs,
)
from retailflow.errors import RetailflowError
from retailflow.lake import Lake
from retailflow.sql import literal
from tests.catalog.test_build import week_data
from tests.cli.clitools import assert_one_line_error, make_invoker
from tests.transform.lakebuilder import LakeBuilder, run_lake

DB = "retail_athena"
RESULTS = "athena-results"
FAST = 0.01  # poll interval of the tests (s)


def athena_settings(url: str = "lake", **values) -> Settings:
    return Settings(
        lake=url,
        **{
            "allow_manifestless": True,
            "catalog": "glue",
            "glue_database": DB,
            "athena_output": f"s3://{RESULTS}/queries/",
            **values,
        },
    )


@pytest.fixture
def registered(aws, tmp_path) -> LakeBuilder:
    """Two weeks published with ``catalog = "glue"`` (tables and partitions in the local Glue)."""
    aws.bucket(RESULTS)
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    lake.day("2026-01-06", **week_data("2026-01-06", "4.00"))
    lake.day("2026-01-12", **week_data("2026-01-12", "1.00"))
    assert run_lake(lake.url, catalog="glue", glue_database=DB).status == "success"
    return lake


# -- rendering ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NAMED_QUERIES))
def test_every_named_query_renders_and_parses_as_trino(name):
    query = NAMED_QUERIES[name]
    rendered = sql_for(query, "athena")
    assert "$" not in rendered and "%(limit)s" in rendered
    assert ("%(week)s" in rendered) == ("$week" in query.sql)
    sent = dialects.bind_literals(rendered, parameters_for(query, 202602, 10))
    (tree,) = sqlglot.parse(sent, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, sqlglot.exp.Select)
    assert tree.args["limit"].expression.sql() == "10"
    if "$week" in query.sql:
        assert "yr_wk_num = 202602" in sent
    assert sql_for(query, "duckdb") == query.sql  # DuckDB runs the text as written


def test_duckdb_division_keeps_its_meaning_in_trino():
    """DuckDB's / divides as floating point; Trino's divides integers as integers."""
    rendered = dialects.render("SELECT SUM(a) / NULLIF(SUM(b), 0) AS r FROM t", "athena")
    assert "CAST(SUM(a) AS DOUBLE) / NULLIF(SUM(b), 0)" in " ".join(rendered.split())


def test_a_percent_sign_survives_pyformat():
    rendered = dialects.render("SELECT '100%' AS p, x FROM t WHERE y LIKE 'a%' LIMIT $limit", "athena")
    assert "'100%%'" in rendered
    assert dialects.bind_literals(rendered, {"limit": 3}).count("%") == 2


@pytest.mark.parametrize(
    "sql, words",
    [
        ("DROP TABLE weekly_sales_inventory", "DROP"),
        ("INSERT INTO store SELECT * FROM store", "INSERT"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("", "empty"),
    ],
)
def test_only_one_select_is_sent(aws, sql, words):
    with pytest.raises(RetailflowError, match=words) as info:
        athena.run_query(athena_settings(), sql, poll_interval=FAST)
    assert "\n" not in str(info.value)
    assert aws.client("athena").list_query_executions()["QueryExecutionIds"] == []  # refused before sending


# -- the call path, against the local Athena API ------------------------------------------------------------


def queue_results(aws, *results: tuple[list[tuple[str, str]], list[tuple]]) -> None:
    """Queue canned results, one per query to come: ([(column, athena type)], rows as Python values)."""

    def cell(value):
        return {} if value is None else {"VarCharValue": str(value)}

    payload = {"results": []}
    for columns, rows in results:
        header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
        payload["results"].append(
            {
                "column_info": [
                    {
                        "Name": n,
                        "Label": n,
                        "Type": t,
                        "Precision": 38 if t == "decimal" else 0,
                        "Scale": 2 if t == "decimal" else 0,
                        "Nullable": "NULLABLE",
                        "CaseSensitive": False,
                    }
                    for n, t in columns
                ],
                "rows": [header] + [{"Data": [cell(v) for v in row]} for row in rows],
            }
        )
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/static/athena/query-results",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def executions(aws) -> list[dict]:
    client = aws.client("athena")
    ids = client.list_query_executions()["QueryExecutionIds"]
    return [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def slow_queries(aws, polls: int) -> None:
    """Each query stays QUEUED, then RUNNING, for ``polls`` status requests (moto's state manager)."""
    body = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": polls}}
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/state-manager/set-transition", data=json.dumps(body).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()


TOP_PRODUCTS = [
    ("prod_key", "integer"),
    ("prod_name", "varchar"),
    ("category_name", "varchar"),
    ("sales_amt", "decimal"),
    ("units", "decimal"),
    ("avg_price", "double"),
]


def test_a_named_query_is_started_polled_and_fetched(registered, aws):
    queue_results(
        aws,
        (
            TOP_PRODUCTS,
            [(72479, "Product-72479", "Cat", "28.00", "6.00", 4.666), (5889, None, None, "14.00", "2.00", 7.0)],
        ),
    )
    slow_queries(aws, 2)
    settings = athena_settings(registered.url)
    columns, rows = athena.run_named(settings, "top_products", None, 5, poll_interval=FAST)
    assert columns == [c for c, _ in TOP_PRODUCTS]
    assert rows == [
        (72479, "Product-72479", "Cat", Decimal("28.00"), Decimal("6.00"), 4.666),
        (5889, None, None, Decimal("14.00"), Decimal("2.00"), 7.0),
    ]
    (execution,) = executions(aws)
    # The latest week came from Glue's partitions; the SQL sent is the rendering with literals.
    expected = dialects.bind_literals(sql_for(NAMED_QUERIES["top_products"], "athena"), {"week": 202603, "limit": 5})
    assert execution["Query"] == expected
    assert execution["QueryExecutionContext"]["Database"] == DB
    assert execution["WorkGroup"] == "primary"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS}/queries/")
    assert execution["Status"]["State"] == "SUCCEEDED"


def test_the_workgroup_comes_from_the_settings(aws):
    aws.bucket(RESULTS)
    aws.client("athena").create_work_group(Name="analysts", Configuration={})
    athena.run_query(athena_settings(athena_workgroup="analysts"), "SELECT 1", poll_interval=FAST)
    (execution,) = executions(aws)
    assert execution["WorkGroup"] == "analysts" and execution["Query"] == "SELECT 1"


def test_a_cancelled_query_is_one_line(aws):
    aws.bucket(RESULTS)
    slow_queries(aws, 5)
    client = aws.client("athena")
    with pytest.raises(RetailflowError, match="cancelled") as info:
        athena.run_query(
            athena_settings(),
            "SELECT 1",
            poll_interval=FAST,
            on_start=lambda query_id: client.stop_query_execution(QueryExecutionId=query_id),
        )
    assert "\n" not in str(info.value)


def test_an_unreachable_athena_is_one_line(aws, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    settings = athena_settings(aws_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RetailflowError) as info:
        athena.run_query(settings, "SELECT 1", poll_interval=FAST)
    assert "\n" not in str(info.value) and "Athena" in str(info.value)


def test_no_registered_week_says_what_to_do(aws):
    with pytest.raises(RetailflowError, match="catalog --target glue"):
        athena.run_named(athena_settings(), "top_products", None, 5, poll_interval=FAST)


def test_tables_come_from_glue(registered, aws):
    columns, rows = athena.list_tables(athena_settings(registered.url))
    assert columns == ["table_name", "columns"]
    tables = dict(rows)
    assert set(tables) == {"calendar", "product", "store", "weekly_sales_inventory", glue.ENRICHED_VIEW}
    assert "total_sales_amt decimal(18,2)" in tables["weekly_sales_inventory"]
    assert tables["weekly_sales_inventory"].endswith("yr_wk_num int")


# -- the SQL's meaning: Athena's SQL on DuckDB over Glue's locations -------------------------------------------


def duckdb_over_glue(aws) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose tables are exactly what Glue describes: the weekly table as the union of
    its partitions' locations (yr_wk_num from the partition value), the dimensions at their locations,
    and the enriched view from the Athena view's own SQL (rendered back to DuckDB)."""
    client = aws.client("glue")
    con = duckdb.connect()
    parts = glue.partitions(client, DB)
    assert parts
    weekly = "\nUNION ALL BY NAME\n".join(
        f"SELECT *, CAST({int(p['Values'][0])} AS INTEGER) AS yr_wk_num "
        f"FROM read_parquet({literal(p['StorageDescriptor']['Location'] + '*.parquet')}, hive_partitioning = false)"
        for p in parts
    )
    con.execute(f"CREATE VIEW weekly_sales_inventory AS {weekly}")
    for name in ("store", "product", "calendar"):
        location = client.get_table(DatabaseName=DB, Name=name)["Table"]["StorageDescriptor"]["Location"]
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({literal(location + '*.parquet')})")
    view = client.get_table(DatabaseName=DB, Name=glue.ENRICHED_VIEW)["Table"]
    definition = glue.decode_view(view["ViewOriginalText"])
    con.execute(f"CREATE VIEW {glue.ENRICHED_VIEW} AS {dialects.to_duckdb(definition['originalSql'])}")
    described = [r[0] for r in con.execute(f"DESCRIBE {glue.ENRICHED_VIEW}").fetchall()]
    assert described == [c["name"] for c in definition["columns"]]
    return con


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float | Decimal):
        return math.isclose(a, float(b), rel_tol=1e-12)
    return a == b


def test_athena_sql_means_what_retailflow_query_answers(registered, aws):
    """Every named query, for each week: the SQL sent to Athena, run on DuckDB over Glue's locations, gives
    the rows `retailflow query --named` gives."""
    con = duckdb_over_glue(aws)
    try:
        for name, query in sorted(NAMED_QUERIES.items()):
            for week in (202602, 202603):
                params = parameters_for(query, week, 10)
                sent = dialects.bind_literals(sql_for(query, "athena"), params)
                cursor = con.execute(dialects.to_duckdb(sent))
                got_columns, got = [d[0] for d in cursor.description], cursor.fetchall()
                columns, expected = duckdb_query(Lake(registered.url), query.sql, params)
                assert got_columns == columns, name
                assert len(got) == len(expected) and expected, (name, week)
                for got_row, row in zip(got, expected, strict=True):
                    assert all(same(a, b) for a, b in zip(got_row, row, strict=True)), (name, week, got_row, row)
    finally:
        con.close()


# -- the CLI ---------------------------------------------------------------------------------------------------


def test_cli_query_engine_athena_and_catalog_target_glue(registered, aws, tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    invoke = make_invoker(tmp_path / "cwd", monkeypatch)
    env = {
        "RETAILFLOW_GLUE_DATABASE": DB,
        "RETAILFLOW_ATHENA_OUTPUT": f"s3://{RESULTS}/cli/",
        "RETAILFLOW_LAKE": registered.url,
    }
    result = invoke("catalog", "--target", "glue", env=env)
    assert result.exit_code == 0, result.output
    assert f"Glue database {DB}: 2 week partition(s) (0 created, 2 updated, 0 removed)" in result.stderr

    monkeypatch.setattr(athena, "POLL_INTERVAL_S", FAST)
    queue_results(
        aws,
        (
            [("yr_wk_num", "integer"), ("sales_amt", "decimal"), ("week_start_dt", "date")],
            [(202603, "3.00", dt.date(2026, 1, 11))],
        ),
    )
    result = invoke(
        "query",
        "--engine",
        "athena",
        "--format",
        "json",
        "SELECT yr_wk_num, SUM(total_sales_amt) AS sales_amt, MIN(week_start_dt) AS week_start_dt "
        "FROM weekly_sales_inventory GROUP BY 1",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"yr_wk_num": 202603, "sales_amt": 3, "week_start_dt": "2026-01-11"}]

    result = invoke("query", "--engine", "athena", "--named", "weekly_trend", "--limit", "3", env=env)
    assert result.exit_code == 0, result.output
    assert any(
        e["Query"].endswith("GROUP BY\n  yr_wk_num\nORDER BY\n  yr_wk_num DESC\nLIMIT 3") for e in executions(aws)
    )

    result = invoke("query", "--engine", "athena", "DELETE FROM store", env=env)
    assert_one_line_error(result, "read-only", "DELETE")


# -- Superset on Athena (the bundle; the live import needs PyAthena in .venv-superset) -------------------------


def athena_target(aws) -> AthenaCatalog:
    return AthenaCatalog(DB, "us-east-1", "primary", f"s3://{RESULTS}/superset/", aws.endpoint)


def test_the_catalog_setting_chooses_the_bundles_target(monkeypatch):
    assert catalog_target(Settings(), "/lake/catalog/retailflow.duckdb") == "/lake/catalog/retailflow.duckdb"
    settings = athena_settings(aws_region="eu-west-1", athena_workgroup="bi")
    assert catalog_target(settings, "/x") == AthenaCatalog(DB, "eu-west-1", "bi", f"s3://{RESULTS}/queries/", "")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(RetailflowError, match="region"):
        catalog_target(athena_settings(), "/x")


def test_the_athena_bundle_speaks_trino(aws):
    files = bundle_files(athena_target(aws))
    database = files[f"databases/{DATABASE_NAME}.yaml"]
    uri = database["sqlalchemy_uri"]
    assert uri.startswith(f"awsathena+rest://@athena.us-east-1.amazonaws.com:443/{DB}?")
    assert "work_group=primary" in uri and "s3_staging_dir=s3%3A%2F%2F" in uri and "endpoint_url=http" in uri
    assert "read_only" not in json.dumps(database["extra"])
    datasets = [content for path, content in files.items() if path.startswith("datasets/")]
    assert len(datasets) == len(dataset_specs())
    for dataset in datasets:
        assert dataset["schema"] == DB
        tree = sqlglot.parse_one(dataset["sql"], read="trino")
        assert not [n for n in tree.find_all(sqlglot.exp.Add) if n.this.name.endswith("_dt")]  # no date + n
        for item in dataset["metrics"] + [c for c in dataset["columns"] if c["expression"]]:
            sqlglot.parse_one(item["expression"], read="trino")
    assert build_bundle(athena_target(aws)) == build_bundle(athena_target(aws))  # deterministic
    # The DuckDB bundle is unchanged: its datasets' SQL as written, schema main.
    duck = bundle_files("/lake/catalog/retailflow.duckdb")
    for name, spec in dataset_specs().items():
        assert duck[f"datasets/{DATABASE_NAME}/{name}.yaml"]["sql"] == spec.sql
        assert duck[f"datasets/{DATABASE_NAME}/{name}.yaml"]["schema"] == "main"


def test_the_athena_datasets_mean_what_the_duckdb_datasets_mean(registered, aws):
    """Each Superset dataset as Athena runs it, on DuckDB over Glue's locations, equals the DuckDB dataset
    on the DuckDB catalog (the week before included: Trino's date_add for DuckDB's date + 7)."""
    files = bundle_files(athena_target(aws))
    con = duckdb_over_glue(aws)
    try:
        for name, spec in dataset_specs().items():
            athena_sql = files[f"datasets/{DATABASE_NAME}/{name}.yaml"]["sql"]
            got = sorted(con.execute(dialects.to_duckdb(athena_sql)).fetchall(), key=repr)
            _, expected = duckdb_query(Lake(registered.url), spec.sql)
            expected = sorted(expected, key=repr)
            assert len(got) == len(expected) and expected, name
            for got_row, row in zip(got, expected, strict=True):
                assert all(same(a, b) for a, b in zip(got_row, row, strict=True)), (name, got_row, row)
    finally:
        con.close()
