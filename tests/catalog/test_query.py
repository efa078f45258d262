"""``retailflow query`` (catalog/query.py, catalog/named.py): the named business questions against a small
hand-made lake whose answers are worked out below, and the errors of run_query / open_catalog.

Week 202602 (2026-01-04..10), stores S1 = 248, S2 = 1054, S3 = 1103, products P1 = 5889, P2 = 15497,
P3 = 16735:

    store/product  sales (qty / amt)   inventory (on hand, oos)  no_stock_impact  potential low  wos
    S1 / P1        01-04  3 /  30.00   01-04  0, oos              30.00            30 - 0 = 30     0 / 3 = 0
    S1 / P2        01-05 10 / 200.00   01-05 50                    0               -              50 / 10 = 5
    S1 / P3        none                01-09  0 (no sales)         0               -              NULL
    S2 / P1        01-05  5 / 100.00   01-05  1, oos             100.00           100 - 1*20 = 80  1 / 5 = 0.2
    S2 / P3        01-06  2 /  40.00   01-06  4                    0               -              4 / 2 = 2
    S3 / P2        01-07 20 / 300.00   01-07 10                    0              300 - 10*15 = 150  10 / 20 = 0.5
    S3 / P3        01-08  4 /  80.00   01-08  8                    0               -              8 / 4 = 2

Week 202603: one sale, S1 / P1 on 2026-01-12, 1 / 7.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from retailflow.catalog import open_catalog, run_query
from retailflow.catalog.named import NAMED_QUERIES, NamedQuery, parameters_for
from retailflow.catalog.query import latest_week
from retailflow.errors import RetailflowError
from retailflow.lake import Lake
from tests.transform.lakebuilder import LakeBuilder, inv, run_lake, sale

S1, S2, S3 = 248, 1054, 1103
P1, P2, P3 = 5889, 15497, 16735
WEEK = 202602


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """Published once per module; the tests only read it."""
    builder = LakeBuilder(tmp_path_factory.mktemp("query") / "lake")
    facts = {
        "2026-01-04": ([sale(1, S1, P1, "2026-01-04", 3, "30.00", "20.00")], [inv("2026-01-04", S1, P1, 0, 5, 1)]),
        "2026-01-05": (
            [
                sale(2, S1, P2, "2026-01-05", 10, "200.00", "150.00"),
                sale(3, S2, P1, "2026-01-05", 5, "100.00", "80.00"),
            ],
            [inv("2026-01-05", S1, P2, 50, 0, 0), inv("2026-01-05", S2, P1, 1, 0, 1)],
        ),
        "2026-01-06": ([sale(4, S2, P3, "2026-01-06", 2, "40.00", "30.00")], [inv("2026-01-06", S2, P3, 4, 0, 0)]),
        "2026-01-07": ([sale(5, S3, P2, "2026-01-07", 20, "300.00", "200.00")], [inv("2026-01-07", S3, P2, 10, 0, 0)]),
        "2026-01-08": ([sale(6, S3, P3, "2026-01-08", 4, "80.00", "60.00")], [inv("2026-01-08", S3, P3, 8, 0, 0)]),
        "2026-01-09": ([], [inv("2026-01-09", S1, P3, 0, 0, 0)]),
        "2026-01-12": ([sale(7, S1, P1, "2026-01-12", 1, "7.00", "5.00")], []),
    }
    for day, (sales, inventory) in facts.items():
        builder.day(day, sales=sales, inventory=inventory)
    run_lake(builder.url)
    return Lake(builder.url)


def named(lake: Lake, name: str, week: int | None = WEEK, limit: int = 10) -> list[dict]:
    q = NAMED_QUERIES[name]
    columns, rows = run_query(lake, q.sql, parameters_for(q, week, limit))
    return [dict(zip(columns, r, strict=True)) for r in rows]


# The ORDER BY of each named query, as a sort key over its result rows.
ORDERS = {
    "top_products": lambda r: (-r["sales_amt"], r["prod_key"]),
    "top_stores": lambda r: (-r["sales_amt"], r["store_key"]),
    "stores_no_stock_impact": lambda r: (-r["no_stock_impact"], r["store_key"]),
    "products_low_stock_impact": lambda r: (-r["potential_low_stock_impact"], r["prod_key"]),
    "lowest_in_stock": lambda r: (r["in_stock_pct"], r["store_key"]),
    "least_weeks_of_supply": lambda r: (r["weeks_of_supply"], r["store_key"], r["prod_key"]),
    "weekly_trend": lambda r: -r["yr_wk_num"],
}


def test_every_named_query_has_an_order_check():
    assert set(ORDERS) == set(NAMED_QUERIES)


@pytest.mark.parametrize("name", sorted(NAMED_QUERIES))
def test_every_named_query_runs_in_its_order(lake, name):
    rows = named(lake, name)
    assert len(rows) >= 2
    assert rows == sorted(rows, key=ORDERS[name])
    assert len(named(lake, name, limit=1)) == 1


def test_top_products(lake):
    rows = named(lake, "top_products")
    assert [(r["prod_key"], r["sales_amt"], r["units"]) for r in rows] == [
        (P2, Decimal("500.00"), Decimal("30.00")),
        (P1, Decimal("130.00"), Decimal("8.00")),
        (P3, Decimal("120.00"), Decimal("6.00")),
    ]
    assert rows[0]["prod_name"] == "Product-15497"
    assert rows[0]["avg_price"] == pytest.approx(500 / 30)


def test_top_stores(lake):
    rows = named(lake, "top_stores")
    assert [(r["store_key"], r["sales_amt"]) for r in rows] == [
        (S3, Decimal("380.00")),
        (S1, Decimal("230.00")),
        (S2, Decimal("140.00")),
    ]


def test_stores_no_stock_impact_puts_the_biggest_loss_first(lake):
    rows = named(lake, "stores_no_stock_impact")
    assert rows[0]["store_key"] == S2
    assert rows[0]["no_stock_impact"] == Decimal("100.00")
    assert rows[0]["no_stock_days"] == 1 and rows[0]["sales_amt"] == Decimal("140.00")
    assert [(r["store_key"], r["no_stock_impact"]) for r in rows[1:]] == [(S1, Decimal("30.00")), (S3, Decimal("0.00"))]


def test_products_low_stock_impact(lake):
    rows = named(lake, "products_low_stock_impact")
    assert [(r["prod_key"], r["low_stock_days"]) for r in rows] == [(P2, 1), (P1, 2), (P3, 0)]
    assert [r["potential_low_stock_impact"] for r in rows] == [pytest.approx(150.0), pytest.approx(110.0), 0.0]


def test_lowest_in_stock(lake):
    rows = named(lake, "lowest_in_stock")
    assert [r["store_key"] for r in rows] == [S2, S1, S3]
    assert rows[0]["in_stock_pct"] == pytest.approx((6 / 7 + 1) / 2)
    assert rows[1]["in_stock_pct"] == pytest.approx((6 / 7 + 1 + 1) / 3)
    assert rows[1]["products"] == 3  # S1 / P3, stock but no sales, counts here


def test_least_weeks_of_supply_leaves_out_store_products_without_sales(lake):
    rows = named(lake, "least_weeks_of_supply")
    assert [(r["store_key"], r["prod_key"]) for r in rows] == [
        (S1, P1),
        (S2, P1),
        (S3, P2),
        (S2, P3),
        (S3, P3),
        (S1, P2),
    ]
    assert [r["weeks_of_supply"] for r in rows] == pytest.approx([0.0, 0.2, 0.5, 2.0, 2.0, 5.0])
    assert all(r["total_sales_qty"] > 0 for r in rows)
    assert rows[0]["eow_dt"] == dt.date(2026, 1, 4)
    _, present = run_query(
        lake, f"SELECT COUNT(*) FROM weekly_sales_inventory WHERE store_key = {S1} AND prod_key = {P3}"
    )
    assert present == [(1,)]  # in the table, but not an answer


def test_weekly_trend_is_newest_first(lake):
    rows = named(lake, "weekly_trend", week=None)
    assert [(r["yr_wk_num"], r["sales_amt"]) for r in rows] == [(202603, Decimal("7.00")), (202602, Decimal("750.00"))]
    assert rows[1]["week_start_dt"] == dt.date(2026, 1, 4)
    assert rows[1]["no_stock_impact"] == Decimal("130.00")
    assert rows[1]["cost"] == Decimal("540.00")


def test_named_queries_default_to_the_latest_week(lake):
    assert latest_week(lake) == 202603
    rows = named(lake, "top_products", week=latest_week(lake))
    assert [(r["prod_key"], r["sales_amt"]) for r in rows] == [(P1, Decimal("7.00"))]


# -- parameters ----------------------------------------------------------------------------------------


def test_parameters_for_passes_week_only_when_used():
    assert parameters_for(NAMED_QUERIES["weekly_trend"], 202602, 5) == {"limit": 5}
    assert parameters_for(NAMED_QUERIES["top_products"], 202602, 5) == {"limit": 5, "week": 202602}
    for q in NAMED_QUERIES.values():
        assert ("week" in parameters_for(q, 1, 1)) == ("$week" in q.sql)
    plain = NamedQuery("plain", "no week", "SELECT 1 LIMIT $limit")
    assert parameters_for(plain, None, 3) == {"limit": 3}


def test_an_extra_parameter_is_rejected_which_is_why_week_is_left_out(lake):
    q = NAMED_QUERIES["weekly_trend"]
    with pytest.raises(RetailflowError, match="The query failed"):
        run_query(lake, q.sql, {"limit": 5, "week": 202602})


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC 1",
        "SELECT * FROM weekly_sales_inventri",
        "SELECT no_such_column FROM weekly_sales_inventory",
        "SELECT CAST('abc' AS INTEGER)",
    ],
)
def test_bad_sql_is_a_one_line_error(lake, sql):
    with pytest.raises(RetailflowError) as failed:
        run_query(lake, sql)
    assert str(failed.value).startswith("The query failed: ")
    assert "\n" not in str(failed.value)
    assert failed.value.hint and "--tables" in failed.value.hint


def test_the_catalog_is_opened_read_only(lake):
    with pytest.raises(RetailflowError, match="read-only"):
        run_query(lake, "CREATE TABLE scratch AS SELECT 1 AS x")
    with open_catalog(lake) as con:
        assert con.execute("SELECT COUNT(*) FROM weekly_sales_inventory").fetchone() == (8,)


def test_run_query_returns_columns_and_rows(lake):
    assert run_query(lake, "SELECT 1 AS x, 'a' AS y") == (["x", "y"], [(1, "a")])


def test_no_catalog_yet(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(RetailflowError, match="retailflow run"):
        with open_catalog(lake):
            pass
    with pytest.raises(RetailflowError, match="retailflow run"):
        run_query(lake, "SELECT 1")
