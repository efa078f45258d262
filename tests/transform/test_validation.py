"""Validation and quarantine: each rule, the duplicate and conflict handling, and counts that add up."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from retailflow.pipeline import RunFailed
from retailflow.tables import INVENTORY, SALES
from tests.transform.lakebuilder import LakeBuilder, calendar_csv, inv, quarantine_rows, run_lake, sale, weekly_rows

DAY = "2026-01-05"  # week 202602


def good_sales(n: int, store: int = 1, prod: int = 10, day: str = DAY, start_id: int = 1000) -> list[dict]:
    return [sale(start_id + i, store, prod, day, "1", "10.00", "6.00") for i in range(n)]


def counts_of(report, table: str, day: str = DAY) -> dict:
    return next(c for c in report.counts if c["table"] == table and c["day"] == day)


# Each rule: a bad row, the reason it must get (a substring), and the table it belongs to.
SALES_RULES = [
    ("sales_qty does not parse", {"sales_qty": "abc"}),
    ("sales_amt does not parse", {"sales_amt": "1e3"}),
    ("prod_key does not parse", {"prod_key": "2.5"}),
    ("trans_dt does not parse", {"trans_dt": "2026-02-30"}),
    ("store_key is missing", {"store_key": None}),
    ("trans_id is missing", {"trans_id": None}),
    ("sales_qty is negative", {"sales_qty": "-1"}),
    ("sales_amt is negative", {"sales_amt": "-10.00"}),
    ("sales_cost is negative", {"sales_cost": "-0.01"}),
    ("sales_amt is missing", {"sales_amt": None}),
    ("is not the partition day", {"trans_dt": "2026-01-06"}),
]
INVENTORY_RULES = [
    ("inventory_on_hand_qty does not parse", {"inventory_on_hand_qty": "many"}),
    ("inventory_on_hand_qty is negative", {"inventory_on_hand_qty": "-3"}),
    ("inventory_on_order_qty is negative", {"inventory_on_order_qty": "-1"}),
    ("out_of_stock_flg is not 0 or 1", {"out_of_stock_flg": "2"}),
    ("promotion_flg does not parse", {"promotion_flg": "maybe"}),
    ("cal_dt is missing", {"cal_dt": None}),
    ("is not the partition day", {"cal_dt": "2026-01-04"}),
]


@pytest.mark.parametrize("reason,change", SALES_RULES, ids=[r for r, _ in SALES_RULES])
def test_sales_rule_quarantines_the_row_with_its_reason(tmp_path, reason, change):
    lake = LakeBuilder(tmp_path / "lake")
    bad = sale(1, 1, 10, DAY, "1", "10.00", "6.00")
    bad.update(change)
    lake.day(DAY, sales=good_sales(200) + [bad])
    report = run_lake(lake.url, [DAY])
    rows = quarantine_rows(lake, "sales")
    assert len(rows) == 1 and reason in rows[0]["reason"], rows
    for column, value in change.items():  # the field is kept exactly as delivered
        assert rows[0][column] == (None if value is None else str(value))
    c = counts_of(report, "sales")
    assert (c["read"], c["used"], c["duplicates"], c["quarantined"]) == (201, 200, 0, 1)
    assert weekly_rows(lake)[0]["total_sales_qty"] == Decimal("200.00")  # the bad row is not used


@pytest.mark.parametrize("reason,change", INVENTORY_RULES, ids=[r for r, _ in INVENTORY_RULES])
def test_inventory_rule_quarantines_the_row_with_its_reason(tmp_path, reason, change):
    lake = LakeBuilder(tmp_path / "lake")
    good = [inv(DAY, 1, p, 5, 0, 0) for p in range(100, 300)]
    bad = inv(DAY, 1, 10, 5, 0, 0)
    bad.update(change)
    lake.day(DAY, inventory=good + [bad])
    report = run_lake(lake.url, [DAY])
    rows = quarantine_rows(lake, "inventory")
    assert len(rows) == 1 and reason in rows[0]["reason"], rows
    c = counts_of(report, "inventory")
    assert (c["read"], c["used"], c["duplicates"], c["quarantined"]) == (201, 200, 0, 1)


def test_negative_margin_is_valid(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=[sale(1, 1, 10, DAY, "1", "10.00", "12.00", sales_mgrn="-2.00")])
    report = run_lake(lake.url, [DAY])
    assert counts_of(report, "sales")["quarantined"] == 0
    assert weekly_rows(lake)[0]["total_cost"] == Decimal("12.00")


def test_date_missing_from_the_calendar_is_quarantined(tmp_path):
    lake = LakeBuilder(tmp_path / "lake", calendar=calendar_csv(skip_day="2026-01-06"))
    lake.day("2026-01-05", sales=good_sales(10))
    lake.day("2026-01-06", sales=[sale(1, 1, 10, "2026-01-06", "1", "10.00", "6.00")])
    with pytest.raises(RunFailed):  # 1 of 1 rows of 2026-01-06 quarantined: above the threshold
        run_lake(lake.url, ["2026-01-05"])
    rows = quarantine_rows(lake, "sales")
    assert [r["reason"] for r in rows] == ["trans_dt 2026-01-06 is not in the calendar"]


def test_exact_duplicates_collapse_to_one_and_are_counted(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    row = sale(1, 1, 10, DAY, "2", "20.00", "10.00")
    lake.day(
        DAY,
        sales=[row, dict(row), dict(row, sales_qty="2.00")],  # '2.00' is the same value as '2'
        inventory=[inv(DAY, 1, 10, 5, 0, 0), inv(DAY, 1, 10, 5, 0, 0)],
    )
    report = run_lake(lake.url, [DAY])
    s, i = counts_of(report, "sales"), counts_of(report, "inventory")
    assert (s["read"], s["used"], s["duplicates"], s["quarantined"]) == (3, 1, 2, 0)
    assert (i["read"], i["used"], i["duplicates"], i["quarantined"]) == (2, 1, 1, 0)
    out = weekly_rows(lake)[0]
    assert out["total_sales_qty"] == Decimal("2.00") and out["total_sales_amt"] == Decimal("20.00")


def test_trans_id_with_different_contents_quarantines_every_version(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    first = sale(7, 1, 10, DAY, "2", "20.00", "10.00")
    lake.day(DAY, sales=good_sales(200) + [first, dict(first), dict(first, sales_amt="25.00")])
    with pytest.raises(RunFailed):
        run_lake(lake.url, [DAY])  # 3 of 203 quarantined = 1.5%: over the default threshold of 1%
    rows = quarantine_rows(lake, "sales")
    assert len(rows) == 3 and all("trans_id 7 appears with 2 different contents" in r["reason"] for r in rows)
    report = run_lake(lake.url, [DAY], quarantine_threshold=0.05)
    c = counts_of(report, "sales")
    assert (c["read"], c["used"], c["duplicates"], c["quarantined"]) == (203, 200, 0, 3)
    assert weekly_rows(lake)[0]["total_sales_amt"] == Decimal("2000.00")


def test_trans_id_conflict_across_days_of_the_week(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(
        "2026-01-05",
        sales=good_sales(10, day="2026-01-05", start_id=100) + [sale(7, 1, 10, "2026-01-05", "1", "1.00", "1.00")],
    )
    lake.day(
        "2026-01-06",
        sales=good_sales(10, day="2026-01-06", start_id=200) + [sale(7, 1, 10, "2026-01-06", "1", "1.00", "1.00")],
    )
    with pytest.raises(RunFailed):
        run_lake(lake.url, ["2026-01-05"])
    assert len(quarantine_rows(lake, "sales")) == 2


def test_several_different_inventory_rows_for_one_day_are_all_quarantined(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    good = [inv(DAY, 1, p, 5, 0, 0) for p in range(100, 400)]
    lake.day(DAY, inventory=good + [inv(DAY, 1, 10, 5, 0, 0), inv(DAY, 1, 10, 6, 0, 0)])
    report = run_lake(lake.url, [DAY], quarantine_threshold=0.05)
    rows = quarantine_rows(lake, "inventory")
    assert len(rows) == 2 and all("2 different inventory rows" in r["reason"] for r in rows)
    assert counts_of(report, "inventory")["quarantined"] == 2
    assert not [r for r in weekly_rows(lake) if r["prod_key"] == 10]  # no guess at which row is right


def test_threshold_failure_publishes_nothing_for_that_week_and_says_why(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=good_sales(10))
    run_lake(lake.url, [DAY])
    before = lake.week_file(202602).read_bytes()
    bad = [sale(500 + i, 1, 10, DAY, "x", "1.00", "1.00") for i in range(2)]
    lake.day(DAY, sales=good_sales(10) + bad)
    with pytest.raises(RunFailed) as failure:
        run_lake(lake.url, [DAY])
    message = str(failure.value)
    assert "2 of 12 sales rows of 2026-01-05 (16.7%) were quarantined" in message
    assert "quarantine/dt=2026-01-05/sales.parquet" in message
    assert lake.week_file(202602).read_bytes() == before  # the old week stands
    assert len(quarantine_rows(lake, "sales")) == 2  # and the reasons are there to read
    reports = sorted((lake.root / "_state" / "runs").glob("*.json"))
    assert json.loads(reports[-1].read_text())["status"] == "failed"


def test_threshold_is_configurable(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=good_sales(10) + [sale(99, 1, 10, DAY, "x", "1.00", "1.00")])
    report = run_lake(lake.url, [DAY], quarantine_threshold=0.10)
    assert report.status == "success"


def test_counts_add_up_for_every_day_and_table(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    row = sale(1, 1, 10, DAY, "1", "10.00", "6.00")
    lake.day(
        DAY,
        sales=good_sales(500) + [row, dict(row), dict(row, prod_key="x"), dict(row, trans_id=None)],
        inventory=[inv(DAY, 1, 10, 5, 0, 0), inv(DAY, 1, 10, 5, 0, 0), inv(DAY, 1, 11, -1, 0, 0)],
    )
    lake.day("2026-01-06")  # an empty day: header-only files
    report = run_lake(lake.url, [DAY], quarantine_threshold=0.5)
    for c in report.counts:
        assert c["read"] == c["used"] + c["duplicates"] + c["quarantined"], c
    assert counts_of(report, "sales") == {
        "day": DAY,
        "table": "sales",
        "read": 504,
        "used": 501,
        "duplicates": 1,
        "quarantined": 2,
        "unknown_store": 501,  # the hand-made stores and products are not in the real dimension tables
        "unknown_product": 501,
    }
    assert counts_of(report, "sales", "2026-01-06")["read"] == 0


def test_every_quarantine_file_has_the_raw_columns_and_a_reason(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(
        DAY,
        sales=good_sales(5) + [sale(1, 1, 10, DAY, "bad", "1.00", "1.00")],
        inventory=[inv(DAY, 1, 10, "bad", 0, 0)],
    )
    with pytest.raises(RunFailed):
        run_lake(lake.url, [DAY])
    for table in (SALES, INVENTORY):
        rows = quarantine_rows(lake, table.name)
        # ... and, for lines the reader could not split, where they came from (NULL for these rows)
        assert set(rows[0]) == {"partition_dt", *table.column_names, "reason", "source_file", "source_line", "raw_line"}
        assert rows[0]["source_file"] is None and rows[0]["raw_line"] is None


def test_a_clean_rerun_removes_the_old_quarantine(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=good_sales(5) + [sale(1, 1, 10, DAY, "bad", "1.00", "1.00")])
    with pytest.raises(RunFailed):
        run_lake(lake.url, [DAY])
    assert quarantine_rows(lake, "sales")
    lake.day(DAY, sales=good_sales(5))
    run_lake(lake.url, [DAY])
    assert quarantine_rows(lake, "sales") == []
