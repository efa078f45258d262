"""``retailflow catalog`` and ``retailflow query`` (retailflow.cli.catalog) over a published tiny lake."""

from __future__ import annotations

import csv
import io
import json

import pytest

from retailflow.catalog.named import NAMED_QUERIES
from tests.cli.clitools import assert_one_line_error


@pytest.mark.parametrize(
    "command, words",
    [
        ("query", ["--lake", "--named", "--list", "--tables", "--week", "--limit", "--format"]),
        ("catalog", ["--lake"]),
    ],
)
def test_help(invoke, command, words):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.output, word


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
