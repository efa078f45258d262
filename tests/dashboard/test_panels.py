"""panels.cube_with_previous_sql() and the week-before metrics, on a small hand-made lake (no Superset).

Fiscal weeks 202602 = 2026-01-04..10, 202603 = 2026-01-11..17, 202605 = 2026-01-25..31 (202604 is not
published). Stores S1 = 248, S2 = 1054 and X = 1 (not in the store table: its names are NULL); products
P1 = 5889 (category-3), P2 = 15497 (category-1), P3 = 16735 (category-5), Q = 10 (not in the product table:
no category).

    cell (store, category)   202602            202603            202605
    S1 / category-3          P1 3 / 30.00      P1 1 / 7.00       -
    S1 / category-1          P2 10 / 200.00    -                 -          only the week before 202603
    S2 / category-3          P1 5 / 100.00     -                 -          only the week before 202603
    S2 / category-5          -                 P3 2 / 40.00      -          new in 202603
    S2 / category-1          -                 -                 P2 4 / 80.00
    X  / no category         Q 1 / 10.00       Q 2 / 20.00       -          NULL names and category
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from retailflow.catalog import open_catalog
from retailflow.dashboard import panels
from retailflow.lake import Lake
from tests.transform.lakebuilder import LakeBuilder, inv, run_lake, sale

S1, S2, X = 248, 1054, 1
P1, P2, P3, Q = 5889, 15497, 16735, 10
FACTS = {
    "2026-01-04": ([sale(1, S1, P1, "2026-01-04", 3, "30.00", "20.00")], [inv("2026-01-04", S1, P1, 0, 5, 1)]),
    "2026-01-05": (
        [
            sale(2, S1, P2, "2026-01-05", 10, "200.00", "150.00"),
            sale(3, S2, P1, "2026-01-05", 5, "100.00", "80.00"),
            sale(4, X, Q, "2026-01-05", 1, "10.00", "6.00"),
        ],
        [inv("2026-01-05", S1, P2, 50, 0, 0), inv("2026-01-05", S2, P1, 1, 0, 1)],
    ),
    "2026-01-12": (
        [
            sale(5, S1, P1, "2026-01-12", 1, "7.00", "5.00"),
            sale(6, S2, P3, "2026-01-12", 2, "40.00", "30.00"),
            sale(7, X, Q, "2026-01-12", 2, "20.00", "12.00"),
        ],
        [inv("2026-01-12", S2, P3, 0, 0, 1)],
    ),
    "2026-01-26": ([sale(8, S2, P2, "2026-01-26", 4, "80.00", "60.00")], [inv("2026-01-26", S2, P2, 9, 0, 0)]),
}
ADDITIVE = list(panels.CUBE_COLUMNS)
PREV = [panels.PREVIOUS + c for c in ADDITIVE]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    builder = LakeBuilder(tmp_path_factory.mktemp("panels") / "lake")
    for day, (sales, inventory) in FACTS.items():
        builder.day(day, sales=sales, inventory=inventory)
    report = run_lake(builder.url)
    assert [w.yr_wk_num for w in report.weeks] == [202602, 202603, 202605]
    return Lake(builder.url)


def rows(lake: Lake, sql: str) -> list[dict]:
    with open_catalog(lake) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def test_the_columns_are_the_cubes_and_the_week_befores(lake):
    with open_catalog(lake) as con:
        cube = [d[0] for d in con.execute(f"SELECT * FROM ({panels.cube_sql(None)}) LIMIT 0").description]
        with_previous = con.execute(f"SELECT * FROM ({panels.cube_with_previous_sql()}) LIMIT 0").description
        types = {d[0]: d[1] for d in with_previous}
    assert cube == [*panels.CUBE_DIMENSIONS, *ADDITIVE]
    assert list(types) == [*cube, *PREV]
    assert all(types[panels.PREVIOUS + c] == types[c] for c in ADDITIVE)


def test_summed_per_week_the_prev_columns_are_the_week_befores_columns(lake):
    sums = ", ".join(f"SUM({c}) AS {c}" for c in ADDITIVE + PREV)
    shown = {
        r["yr_wk_num"]: r
        for r in rows(lake, f"SELECT yr_wk_num, {sums} FROM ({panels.cube_with_previous_sql()}) GROUP BY 1")
    }
    cube_sums = ", ".join(f"SUM({c}) AS {c}" for c in ADDITIVE)
    cube = {
        r["week_start_dt"]: r
        for r in rows(lake, f"SELECT week_start_dt, {cube_sums} FROM ({panels.cube_sql(None)}) GROUP BY 1")
    }
    starts = {
        r["yr_wk_num"]: r["week_start_dt"]
        for r in rows(lake, "SELECT DISTINCT yr_wk_num, week_start_dt FROM weekly_sales_inventory")
    }
    assert sorted(shown) == [202602, 202603, 202605]
    for week, start in starts.items():
        before = cube.get(start - dt.timedelta(days=7))
        for c in ADDITIVE:
            assert same(shown[week][c], cube[start][c]), (week, c)
            assert same(shown[week][panels.PREVIOUS + c], before[c] if before else None), (week, c)
    # The week before 202603 is 202602, all of it; 202602 and 202605 have no published week before.
    assert shown[202603]["prev_sales_amt"] == Decimal("340.00") and shown[202603]["prev_store_products"] == 4
    assert shown[202602]["prev_sales_amt"] is None and shown[202605]["prev_sales_amt"] is None


def test_a_cell_of_the_week_before_only_still_counts(lake):
    cells = {
        (r["store_key"], r["category_name"]): r
        for r in rows(lake, f"SELECT * FROM ({panels.cube_with_previous_sql()}) WHERE yr_wk_num = 202603")
    }
    assert set(cells) == {(S1, "category-3"), (S1, "category-1"), (S2, "category-3"), (S2, "category-5"), (X, None)}
    gone = cells[(S1, "category-1")]  # sold in 202602 only
    assert all(gone[c] is None for c in ADDITIVE)
    assert gone["prev_sales_amt"] == Decimal("200.00") and gone["prev_store_products"] == 1
    assert (gone["store_desc"], gone["prov_state_cd"], gone["yr_wk_num"]) == ("store_desc42", "WI", 202603)
    new = cells[(S2, "category-5")]  # sold in 202603 only
    assert new["sales_amt"] == Decimal("40.00") and all(new[c] is None for c in PREV)
    unknown = cells[(X, None)]  # no store names, no category: still one row, matched with its week before
    assert unknown["store_desc"] is None
    assert (unknown["sales_amt"], unknown["prev_sales_amt"]) == (Decimal("20.00"), Decimal("10.00"))
    # A week whose week before is not published: only its own cells, nothing before.
    later = rows(lake, f"SELECT * FROM ({panels.cube_with_previous_sql()}) WHERE yr_wk_num = 202605")
    assert [(r["store_key"], r["category_name"]) for r in later] == [(S2, "category-1")]
    assert all(later[0][c] is None for c in PREV)


@pytest.mark.parametrize("where", ["true", f"store_key = {S1}", "category_name = 'category-3'", f"store_key = {S2}"])
def test_the_week_before_metrics_and_changes_are_the_cubes(lake, where):
    """Over any filter, Metric.sql(PREVIOUS) of 202603 is Metric.sql() of 202602, and change_sql() is what
    the HTML headline shows: relative change, or percentage points for a percent."""
    with_previous = panels.cube_with_previous_sql()
    for m in panels.METRICS.values():
        (got,) = rows(
            lake,
            f"SELECT {m.sql()} AS now, {m.sql(panels.PREVIOUS)} AS before, {m.change_sql()} AS change "
            f"FROM ({with_previous}) WHERE yr_wk_num = 202603 AND {where}",
        )
        (now,) = rows(
            lake, f"SELECT {m.sql()} AS v FROM ({panels.cube_sql(None)}) WHERE yr_wk_num = 202603 AND {where}"
        )
        (before,) = rows(
            lake, f"SELECT {m.sql()} AS v FROM ({panels.cube_sql(None)}) WHERE yr_wk_num = 202602 AND {where}"
        )
        assert same(got["now"], now["v"]), (m.name, where)
        assert same(got["before"], before["v"]), (m.name, where)
        if now["v"] is None or before["v"] is None or (not m.change_in_points and before["v"] == 0):
            assert got["change"] is None, (m.name, where)
        elif m.change_in_points:
            assert same(got["change"], 100 * (float(now["v"]) - float(before["v"]))), (m.name, where)
        else:
            expected = (float(now["v"]) - float(before["v"])) / abs(float(before["v"]))
            assert same(got["change"], expected), (m.name, where)
