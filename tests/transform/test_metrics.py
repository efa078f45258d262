"""Every metric of docs/metrics.md against hand-computed numbers, and every edge case it names.

Fiscal weeks used: FY2026 starts Sunday 2025-12-28, so 202601 = 2025-12-28..2026-01-03 (crosses the
calendar year), 202602 = 2026-01-04..2026-01-10, and FY2026 has 53 weeks (202653 = 2026-12-27..2027-01-02).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from retailflow.transform.schema import WEEKLY_COLUMNS
from tests.transform.lakebuilder import LakeBuilder, run_lake, weekly_rows, write_edge_cases, write_worked_example

D = Decimal


def one_row(lake: LakeBuilder, store: int, prod: int, week: int | None = None) -> dict:
    where = f"store_key = {store} AND prod_key = {prod}" + (f" AND yr_wk_num = {week}" if week else "")
    rows = weekly_rows(lake, where)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def worked_example(tmp_path_factory) -> LakeBuilder:
    lake = write_worked_example(LakeBuilder(tmp_path_factory.mktemp("worked") / "lake"))
    run_lake(lake.url, ["2026-01-04"])
    return lake


def test_worked_example_every_column(worked_example):
    row = one_row(worked_example, 1, 10)
    assert row["yr_wk_num"] == 202602
    assert (row["yr_num"], row["wk_num"]) == (2026, 2)
    assert (row["week_start_dt"], row["week_end_dt"]) == (dt.date(2026, 1, 4), dt.date(2026, 1, 10))
    assert row["total_sales_qty"] == D("12.50")
    assert row["total_sales_amt"] == D("127.00")
    assert row["avg_sales_price"] == pytest.approx(10.16, rel=1e-12)
    assert row["total_cost"] == D("105.00")
    assert row["eow_dt"] == dt.date(2026, 1, 8)
    assert row["eow_stock_on_hand_qty"] == D("6.00")
    assert row["eow_stock_on_order_qty"] == D("5.00")
    assert row["no_stock_instances"] == 2  # Monday, Tuesday
    assert row["low_stock_instances"] == 2  # Sunday (daily sum 5 > 4), Monday (0 < 1)
    assert row["total_low_stock_impact"] == 4
    assert row["potential_low_stock_impact"] == pytest.approx(22.0, rel=1e-12)  # (50-40) + (12-0)
    assert row["no_stock_impact"] == D("12.00")  # money: Monday's sales_amt, plus Tuesday's 0
    assert row["out_of_stock_pct"] == pytest.approx(2 / 7, rel=1e-12)
    assert row["in_stock_pct"] == pytest.approx(5 / 7, rel=1e-12)
    assert row["weeks_of_supply"] == pytest.approx(0.48, rel=1e-12)


def test_worked_example_is_the_only_row(worked_example):
    assert len(weekly_rows(worked_example)) == 1


@pytest.fixture(scope="module")
def edge_lake(tmp_path_factory) -> LakeBuilder:
    lake = write_edge_cases(LakeBuilder(tmp_path_factory.mktemp("edges") / "lake"))
    run_lake(lake.url, None)
    return lake


def test_low_stock_compares_the_daily_sum_not_single_transactions(edge_lake):
    row = one_row(edge_lake, 2, 20)
    assert row["total_sales_qty"] == D("9.00")
    assert row["low_stock_instances"] == 1  # 8 on hand < 9 sold that day, though each sale was 3
    # unit price 27/9 = 3, stock value 8 x 3 = 24, impact 27 - 24 = 3
    assert row["potential_low_stock_impact"] == pytest.approx(3.0, rel=1e-12)


def test_on_hand_equal_to_the_days_sales_is_not_low(edge_lake):
    row = one_row(edge_lake, 2, 21)
    assert row["low_stock_instances"] == 0
    assert row["potential_low_stock_impact"] == 0.0


def test_sales_without_inventory_row_are_neither_out_of_stock_nor_low(edge_lake):
    row = one_row(edge_lake, 2, 22)
    assert (row["no_stock_instances"], row["low_stock_instances"], row["total_low_stock_impact"]) == (0, 0, 0)
    assert row["eow_dt"] is None and row["eow_stock_on_hand_qty"] is None and row["eow_stock_on_order_qty"] is None
    assert row["weeks_of_supply"] is None
    assert row["no_stock_impact"] == D("0.00") and row["potential_low_stock_impact"] == 0.0
    assert row["total_sales_amt"] == D("50.00")


def test_inventory_without_sales_has_zero_sales_and_counts_its_stock_out(edge_lake):
    row = one_row(edge_lake, 2, 23)
    assert row["total_sales_qty"] == D("0.00") and row["total_sales_amt"] == D("0.00")
    assert row["total_cost"] == D("0.00")
    assert row["avg_sales_price"] is None  # total qty 0
    assert row["no_stock_instances"] == 1 and row["low_stock_instances"] == 0
    assert row["no_stock_impact"] == D("0.00")
    assert row["eow_dt"] == dt.date(2026, 1, 6)
    assert (row["eow_stock_on_hand_qty"], row["eow_stock_on_order_qty"]) == (D("0.00"), D("3.00"))
    assert row["weeks_of_supply"] is None  # qty 0


def test_out_of_stock_and_low_on_the_same_day_with_nothing_on_hand(edge_lake):
    row = one_row(edge_lake, 2, 24)
    assert (row["no_stock_instances"], row["low_stock_instances"], row["total_low_stock_impact"]) == (1, 1, 2)
    assert row["no_stock_impact"] == D("7.00")
    assert row["potential_low_stock_impact"] == pytest.approx(7.0, rel=1e-12)  # 7 - 0 x 3.5
    assert row["weeks_of_supply"] == 0.0  # 0 on hand / 2 sold


def test_week_without_inventory(edge_lake):
    row = one_row(edge_lake, 2, 25)
    assert row["eow_dt"] is None and row["eow_stock_on_hand_qty"] is None
    assert row["no_stock_instances"] == 0 and row["out_of_stock_pct"] == 0.0 and row["in_stock_pct"] == 1.0
    assert row["weeks_of_supply"] is None
    assert row["avg_sales_price"] == pytest.approx(5.0)


def test_week_with_zero_sales_takes_the_last_inventory_day_as_end_of_week(edge_lake):
    row = one_row(edge_lake, 2, 26)
    assert row["eow_dt"] == dt.date(2026, 1, 9)
    assert (row["eow_stock_on_hand_qty"], row["eow_stock_on_order_qty"]) == (D("3.00"), D("2.00"))
    assert row["total_sales_qty"] == D("0.00") and row["avg_sales_price"] is None
    assert row["no_stock_instances"] == 1 and row["out_of_stock_pct"] == pytest.approx(1 / 7)
    assert row["weeks_of_supply"] is None


def test_inventory_and_sales_on_different_days_are_not_joined(edge_lake):
    row = one_row(edge_lake, 2, 27)
    assert row["low_stock_instances"] == 0  # Tuesday's 1 on hand is not compared with Wednesday's 6 sold
    assert row["no_stock_instances"] == 1  # Tuesday
    assert row["no_stock_impact"] == D("0.00")  # no sales on Tuesday; Wednesday had no inventory row
    assert row["eow_dt"] == dt.date(2026, 1, 6)
    assert row["weeks_of_supply"] == pytest.approx(1 / 6)


def test_duplicated_product_keys_are_not_double_counted(edge_lake):
    row = one_row(edge_lake, 2, 72479)
    assert (row["total_sales_qty"], row["total_sales_amt"], row["total_cost"]) == (D("2.00"), D("20.00"), D("10.00"))
    import duckdb

    products = (
        duckdb.connect()
        .execute(
            f"SELECT COUNT(*), COUNT(DISTINCT prod_key) FROM read_parquet('{edge_lake.root}/curated/product/*.parquet')"
        )
        .fetchone()
    )
    assert products == (1212, 1212)


def test_fiscal_week_crossing_the_calendar_year(edge_lake):
    row = one_row(edge_lake, 3, 30)
    assert row["yr_wk_num"] == 202601 and (row["yr_num"], row["wk_num"]) == (2026, 1)
    assert (row["week_start_dt"], row["week_end_dt"]) == (dt.date(2025, 12, 28), dt.date(2026, 1, 3))
    assert row["total_sales_qty"] == D("3.00") and row["total_sales_amt"] == D("40.00")
    assert row["eow_dt"] == dt.date(2026, 1, 2)
    assert row["low_stock_instances"] == 1  # 1 on hand < 2 sold on Jan 2


def test_53_week_year_and_the_week_after(edge_lake):
    rows = weekly_rows(edge_lake, "store_key = 3 AND prod_key = 31")
    assert [(r["yr_wk_num"], r["yr_num"], r["wk_num"]) for r in rows] == [(202653, 2026, 53), (202701, 2027, 1)]
    assert (rows[0]["week_start_dt"], rows[0]["week_end_dt"]) == (dt.date(2026, 12, 27), dt.date(2027, 1, 2))
    assert (rows[1]["week_start_dt"], rows[1]["week_end_dt"]) == (dt.date(2027, 1, 3), dt.date(2027, 1, 9))


def test_out_of_stock_every_day(edge_lake):
    row = one_row(edge_lake, 3, 32)
    assert row["no_stock_instances"] == 7 and row["out_of_stock_pct"] == 1.0 and row["in_stock_pct"] == 0.0
    assert row["no_stock_impact"] == D("14.00")
    assert row["eow_dt"] == dt.date(2026, 1, 10)
    assert row["weeks_of_supply"] == pytest.approx(10 / 7)


def test_one_row_per_week_store_and_product(edge_lake):
    rows = weekly_rows(edge_lake)
    keys = [(r["yr_wk_num"], r["store_key"], r["prod_key"]) for r in rows]
    assert len(keys) == len(set(keys))
    # 9 store/products in 202602, (3, 30) in 202601, (3, 31) in 202653 and 202701, (3, 32) in 202602
    assert len(rows) == 9 + 1 + 2 + 1
    assert sorted({k[0] for k in keys}) == [202601, 202602, 202653, 202701]


def test_parquet_files_follow_the_one_schema(edge_lake):
    schema = pq.read_schema(edge_lake.week_file(202602))
    assert schema.names == [c.name for c in WEEKLY_COLUMNS]  # yr_wk_num lives in the folder name only
    physical = {f.name: f.physical_type for f in pq.ParquetFile(edge_lake.week_file(202602)).schema}
    expected = {"INTEGER": "INT32", "DATE": "INT32", "DOUBLE": "DOUBLE", "DECIMAL(18,2)": "INT64"}
    assert physical == {c.name: expected[c.type] for c in WEEKLY_COLUMNS}
