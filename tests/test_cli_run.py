"""The ``run``, ``catalog``, ``query`` and ``status`` commands through click (retailflow.cli), over tiny
hand-written lakes. Results go to stdout, messages to stderr; errors are one ``Error:`` line, exit 1."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from retailflow.catalog.named import NAMED_QUERIES
from tests.clitools import assert_one_line_error, make_invoker
from tests.transform.lakebuilder import LakeBuilder, inv, sale, weekly_rows


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    return make_invoker(tmp_path, monkeypatch)


def fill(lake: LakeBuilder, bad: int = 0) -> LakeBuilder:
    """Week 202602: stores 248 and 1054, products 5889 and 15497; ``bad`` more sales with quantity 'abc'."""
    sales = [
        sale(1, 248, 5889, "2026-01-05", 2, "20.00", "10.00"),
        sale(2, 248, 15497, "2026-01-05", 1, "50.00", "30.00"),
        sale(3, 1054, 15497, "2026-01-06", 4, "80.00", "60.00"),
    ]
    lake.day(
        "2026-01-05",
        sales=sales[:2] + [sale(100 + i, 248, 5889, "2026-01-05", "abc", "1.00", "1.00") for i in range(bad)],
        inventory=[inv("2026-01-05", 248, 5889, 0, 0, 1)],
    )
    lake.day("2026-01-06", sales=sales[2:])
    return lake


@pytest.fixture
def raw_lake(tmp_path) -> LakeBuilder:
    return fill(LakeBuilder(tmp_path / "lake"))


@pytest.fixture
def published(raw_lake, invoke) -> LakeBuilder:
    result = invoke("run", "--lake", raw_lake.url, "--date", "2026-01-05")
    assert result.exit_code == 0, result.output
    return raw_lake


# -- run -----------------------------------------------------------------------------------------------


def test_run_a_date_publishes_its_week(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url, "--date", "2026-01-05")

    assert result.exit_code == 0, result.output
    success = [line for line in result.stderr.splitlines() if line.startswith("✓")]
    assert len(success) == 1
    assert "Published week(s) 202602: 4 fact rows read, 0 quarantined" in success[0]
    assert "! The product table has 3 extra row(s)" in result.stderr  # the known duplicated product keys
    assert raw_lake.week_file(202602).exists()
    assert sum(r["total_sales_amt"] for r in weekly_rows(raw_lake)) == Decimal("150.00")
    assert result.stdout == ""


def test_run_a_range_and_all(raw_lake, invoke):
    # 2026-01-11 is in week 202603, which has no raw partition: that week fails, 202602 is still published.
    result = invoke("run", "--lake", raw_lake.url, "--from", "2026-01-10", "--to", "2026-01-11")
    assert_one_line_error(result, "1 of 2 week(s) not published", "week 202603", "no raw partition")
    assert raw_lake.week_file(202602).exists() and not raw_lake.week_file(202603).exists()

    raw_lake.day("2026-01-11", sales=[sale(9, 248, 5889, "2026-01-11", 1, "1.00", "1.00")])
    result = invoke("run", "--lake", raw_lake.url, "--all")
    assert result.exit_code == 0, result.output
    assert "Published week(s) 202602, 202603: 5 fact rows read" in result.stderr
    assert raw_lake.week_file(202603).exists()


def test_run_without_a_selection(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url)
    assert_one_line_error(result, "--date")
    assert len(result.stderr.strip().splitlines()) == 2  # the message, then the hint
    assert not (raw_lake.root / "curated").exists()


def test_run_without_a_selection_mentions_all(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url)
    assert_one_line_error(result, "--all")


def test_run_all_with_a_date(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url, "--all", "--date", "2026-01-05")
    assert_one_line_error(result, "--all", "not both")
    assert not (raw_lake.root / "curated").exists()


def test_run_over_the_quarantine_threshold(tmp_path, invoke):
    lake = fill(LakeBuilder(tmp_path / "lake"), bad=2)  # 2 of 4 sales rows of 2026-01-05

    result = invoke("run", "--lake", lake.url, "--date", "2026-01-05")

    assert_one_line_error(
        result,
        "2026-01-05",
        "sales",
        "50.0%",
        "quarantine/dt=2026-01-05/sales.parquet",
        "re-export",
        "quarantine_threshold",
    )
    assert "✓" not in result.stderr
    assert not lake.week_file(202602).exists()

    result = invoke("run", "--lake", lake.url, "--date", "2026-01-05", "--quarantine-threshold", "0.5")
    assert result.exit_code == 0, result.output
    assert "2 quarantined" in result.stderr


def test_run_on_an_empty_lake(tmp_path, invoke):
    assert_one_line_error(invoke("run", "--lake", str(tmp_path / "lake"), "--all"), "retailflow export")


def test_run_debug_shows_the_traceback(tmp_path, invoke):
    result = invoke("--debug", "run", "--lake", str(tmp_path / "lake"), "--all")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


# -- catalog -------------------------------------------------------------------------------------------


def test_catalog(published, invoke):
    catalog = published.root / "catalog" / "retailflow.duckdb"
    catalog.unlink()
    result = invoke("catalog", "--lake", published.url)
    assert result.exit_code == 0, result.output
    assert "✓ Catalog rebuilt" in result.stderr and str(catalog) in result.stderr
    assert catalog.exists()


def test_catalog_of_an_empty_lake(tmp_path, invoke):
    assert_one_line_error(invoke("catalog", "--lake", str(tmp_path / "lake")), "retailflow run")


# -- query ---------------------------------------------------------------------------------------------


def test_query_list(invoke):
    result = invoke("query", "--list")
    assert result.exit_code == 0
    for q in NAMED_QUERIES.values():
        assert q.name in result.stdout and q.description in result.stdout


def test_query_named_as_csv(published, invoke):
    result = invoke("query", "--lake", published.url, "--named", "top_products", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["prod_key", "prod_name", "category_name", "sales_amt", "units", "avg_price"]
    assert [(r["prod_key"], r["sales_amt"], r["units"]) for r in rows] == [("15497", "130", "5"), ("5889", "20", "2")]
    assert rows[0]["prod_name"] == "Product-15497"
    assert float(rows[0]["avg_price"]) == pytest.approx(26.0)


def test_query_named_with_week_and_limit(published, invoke):
    result = invoke(
        "query",
        "--lake",
        published.url,
        "--named",
        "stores_no_stock_impact",
        "--week",
        "202602",
        "--limit",
        "1",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "store_key": 248,
            "store_desc": "store_desc42",
            "city": "city_42",
            "no_stock_impact": 20,
            "no_stock_days": 1,
            "sales_amt": 70,
        }
    ]


def test_query_named_for_a_week_without_data(published, invoke):
    result = invoke("query", "--lake", published.url, "--named", "top_stores", "--week", "202552", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_query_sql_as_json(published, invoke):
    result = invoke("query", "--lake", published.url, "--format", "json", "SELECT 1 AS x")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"x": 1}]


def test_query_sql_as_a_table(published, invoke):
    result = invoke(
        "query",
        "--lake",
        published.url,
        "SELECT yr_wk_num, SUM(total_sales_amt) AS amt FROM weekly_sales_inventory GROUP BY 1",
    )
    assert result.exit_code == 0, result.output
    assert "202602" in result.stdout and "150.00" in result.stdout
    assert "1 row(s)" in result.stderr


def test_query_tables(published, invoke):
    result = invoke("query", "--lake", published.url, "--tables", "--format", "csv")
    assert result.exit_code == 0, result.output
    tables = {r["table_name"]: r["columns"] for r in csv.DictReader(io.StringIO(result.stdout))}
    assert set(tables) == {"calendar", "product", "store", "weekly_sales_inventory", "weekly_sales_inventory_enriched"}
    assert "yr_wk_num INTEGER" in tables["weekly_sales_inventory"]
    assert "total_sales_amt DECIMAL(18,2)" in tables["weekly_sales_inventory"]


def test_query_unknown_named(published, invoke):
    assert_one_line_error(
        invoke("query", "--lake", published.url, "--named", "top_widgets"), "top_widgets", "top_products"
    )


def test_query_without_sql(published, invoke):
    assert_one_line_error(invoke("query", "--lake", published.url), "No query given", "--named")


def test_query_with_bad_sql(published, invoke):
    assert_one_line_error(
        invoke("query", "--lake", published.url, "SELECT * FROM nowhere"), "The query failed", "nowhere"
    )


def test_query_without_a_catalog(tmp_path, invoke):
    assert_one_line_error(invoke("query", "--lake", str(tmp_path / "lake"), "SELECT 1"), "retailflow run")


# -- status --------------------------------------------------------------------------------------------


def test_status(published, invoke):
    result = invoke("status", "--lake", published.url)
    assert result.exit_code == 0, result.output
    assert "success" in result.stdout and "202602" in result.stdout
    assert "2026-01-05" in result.stdout and "2026-01-06" in result.stdout


def test_status_of_an_empty_lake(tmp_path, invoke):
    result = invoke("status", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "No runs yet." in result.stdout and "No raw partitions yet." in result.stdout


# -- help ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, words",
    [
        ("run", ["--lake", "--date", "--from", "--to", "--all", "--engine", "--quarantine-threshold"]),
        ("query", ["--lake", "--named", "--list", "--tables", "--week", "--limit", "--format"]),
        ("status", ["--lake", "--days", "--runs"]),
        ("catalog", ["--lake"]),
    ],
)
def test_help(invoke, command, words):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.output, word
