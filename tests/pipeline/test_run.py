"""``retailflow run`` (transform/runner.py): which weeks a request recomputes, what a broken week does to
the others, and what the run report records. Real DuckDB over tiny hand-written lakes (lakebuilder.py)
and over a small exported lake.

Fiscal weeks used: 202601 = 2025-12-28..2026-01-03, 202602 = 2026-01-04..10, 202603 = 2026-01-11..17.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.errors import RetailflowError
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.lake.state import load_reports
from retailflow.pipeline import RunFailed, run
from retailflow.tables import DIMENSION_TABLES
from tests.transform.lakebuilder import (
    LakeBuilder,
    calendar_csv,
    inv,
    quarantine_rows,
    run_lake,
    sale,
    settings,
    weekly_rows,
    write_edge_cases,
    write_messy_inputs,
)

WEEK_OF = {  # the fiscal week of every day these tests use
    **{d.isoformat(): 202601 for d in date_range(dt.date(2025, 12, 28), dt.date(2026, 1, 3))},
    **{d.isoformat(): 202602 for d in date_range(dt.date(2026, 1, 4), dt.date(2026, 1, 10))},
    **{d.isoformat(): 202603 for d in date_range(dt.date(2026, 1, 11), dt.date(2026, 1, 17))},
}
OLD_NS = 1_000_000_000 * 10**9  # 2001-09-09: a file still carrying this mtime was not rewritten


def day_rows(day: str, amount: str, n: int = 3) -> dict:
    """``n`` sales of ``amount`` each (trans_ids unique across days) and one inventory row per store."""
    base = int(day.replace("-", "")) * 100
    sales = [sale(base + i, 248 + i % 2, 5889, day, 1, amount, "1.00") for i in range(n)]
    inventory = [inv(day, 248, 5889, 5, 0, 0)]
    return {"sales": sales, "inventory": inventory}


def week_total(lake: LakeBuilder, week: int) -> Decimal:
    return sum((r["total_sales_amt"] for r in weekly_rows(lake, f"yr_wk_num = {week}")), Decimal(0))


def freeze(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    """Give files an old mtime and return their bytes and mtime: a rewrite would change at least the mtime."""
    for p in paths:
        os.utime(p, ns=(OLD_NS, OLD_NS))
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def snapshot(paths) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


@pytest.fixture
def three_weeks(tmp_path) -> LakeBuilder:
    """Raw data in weeks 202601, 202602 and 202603, all published once (sales of 10.00 each)."""
    lake = LakeBuilder(tmp_path / "lake")
    for day in ("2026-01-02", "2026-01-05", "2026-01-09", "2026-01-12"):
        lake.day(day, **day_rows(day, "10.00"))
    run_lake(lake.url)
    return lake


def rewrite(lake: LakeBuilder, amount: str) -> None:
    for day in ("2026-01-02", "2026-01-05", "2026-01-09", "2026-01-12"):
        lake.day(day, **day_rows(day, amount))


# -- which weeks ---------------------------------------------------------------------------------------


def test_a_date_recomputes_exactly_its_week(three_weeks):
    lake = three_weeks
    assert week_total(lake, 202602) == Decimal("60.00")
    others = freeze([lake.week_file(202601), lake.week_file(202603)])
    os.utime(lake.week_file(202602), ns=(OLD_NS, OLD_NS))
    rewrite(lake, "20.00")  # every week's input changes, only one week is asked for

    report = run_lake(lake.url, days=["2026-01-07"])  # a Wednesday with no raw partition of its own

    assert [w.yr_wk_num for w in report.weeks] == [202602]
    assert report.weeks[0].days == ["2026-01-05", "2026-01-09"]
    assert report.weeks[0].status == "published"
    assert week_total(lake, 202602) == Decimal("120.00")
    assert lake.week_file(202602).stat().st_mtime_ns != OLD_NS
    assert snapshot(others) == others  # the other weeks: same bytes, never rewritten
    assert week_total(lake, 202601) == Decimal("30.00") and week_total(lake, 202603) == Decimal("30.00")
    assert {i["day"] for i in report.inputs} == {"2026-01-05", "2026-01-09"}


def test_days_spanning_two_weeks_recompute_both(three_weeks):
    lake = three_weeks
    untouched = freeze([lake.week_file(202601)])
    rewrite(lake, "20.00")

    report = run_lake(lake.url, days=["2026-01-10", "2026-01-11"])  # a Saturday and the next Sunday

    assert [w.yr_wk_num for w in report.weeks] == [202602, 202603]
    assert all(w.status == "published" for w in report.weeks)
    assert week_total(lake, 202602) == Decimal("120.00")
    assert week_total(lake, 202603) == Decimal("60.00")
    assert snapshot(untouched) == untouched
    assert week_total(lake, 202601) == Decimal("30.00")


def test_all_recomputes_every_week_with_raw_data(three_weeks):
    lake = three_weeks
    rewrite(lake, "20.00")

    report = run(settings(lake.url), None)  # an outside producer's lake: no manifests

    assert report.request == {"days": "all"}
    assert [w.yr_wk_num for w in report.weeks] == [202601, 202602, 202603]
    assert [w.days for w in report.weeks] == [["2026-01-02"], ["2026-01-05", "2026-01-09"], ["2026-01-12"]]
    assert {w: week_total(lake, w) for w in (202601, 202602, 202603)} == {
        202601: Decimal("60.00"),
        202602: Decimal("120.00"),
        202603: Decimal("60.00"),
    }
    # No week without raw data was invented.
    published = sorted(p.name for p in (lake.root / "curated" / "weekly_sales_inventory").iterdir())
    assert published == ["yr_wk_num=202601", "yr_wk_num=202602", "yr_wk_num=202603"]


def test_a_week_missing_days_runs_with_the_days_present(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-04", **day_rows("2026-01-04", "10.00"))
    lake.day("2026-01-07", **day_rows("2026-01-07", "5.00", n=2))

    report = run_lake(lake.url, days=["2026-01-04"])

    (week,) = report.weeks
    assert week.yr_wk_num == 202602
    assert week.days == ["2026-01-04", "2026-01-07"]
    assert week.status == "published"
    assert week_total(lake, 202602) == Decimal("40.00")
    assert Decimal(week.totals["sales_amt"]) == Decimal("40.00")


def test_an_incomplete_partition_fails_its_week_and_only_its_week(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    for day in ("2026-01-05", "2026-01-12", "2026-01-13"):
        lake.day(day, **day_rows(day, "10.00"))
    run_lake(lake.url)
    old_202603 = snapshot([lake.week_file(202603)])
    for day in ("2026-01-05", "2026-01-12", "2026-01-13"):
        lake.day(day, **day_rows(day, "20.00"))
    (lake.root / "raw" / "dt=2026-01-13" / "inventory.csv.gz").unlink()

    with pytest.raises(RunFailed) as failed:
        run_lake(lake.url)

    message = str(failed.value)
    assert "1 of 2 week(s) not published" in message
    assert "week 202603" in message
    assert "raw/dt=2026-01-13" in message and "inventory" in message
    assert "Re-export" in message
    assert "202602:" not in message
    # The broken week keeps its old file, byte for byte; the other week of the same run is published.
    assert snapshot(old_202603) == old_202603
    assert week_total(lake, 202603) == Decimal("60.00")
    assert week_total(lake, 202602) == Decimal("60.00")
    report = load_reports(Lake(lake.url), limit=1)[0]
    assert report["status"] == "partial"
    assert {w["yr_wk_num"]: w["status"] for w in report["weeks"]} == {202602: "published", 202603: "failed"}
    # The broken week's days were not read at all.
    assert {i["day"] for i in report["inputs"]} == {"2026-01-05"}


def test_curated_dimensions_hold_exactly_their_contract_columns(three_weeks):
    """The store and calendar files once also carried the raw partition's day (partition_dt)."""
    run_lake(three_weeks.url, None)
    con = duckdb.connect()
    for table in DIMENSION_TABLES:
        files = str(three_weeks.root / "curated" / table.name / "*.parquet")
        names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($f)", {"f": files}).fetchall()]
        assert names == table.column_names, table.name


def test_a_lake_without_raw_partitions(tmp_path):
    with pytest.raises(RetailflowError, match="retailflow export") as failed:
        run(Settings(lake=str(tmp_path / "lake")), None)
    assert not isinstance(failed.value, RunFailed)
    assert "no raw partitions" in str(failed.value)
    (report,) = load_reports(Lake(str(tmp_path / "lake")))
    assert report["status"] == "failed" and "no raw partitions" in report["error"]


# -- the run report ------------------------------------------------------------------------------------


def raw_sums(lake: Lake) -> dict[int, dict[str, Decimal]]:
    """Sums of the raw sales CSVs per fiscal week, computed straight from the files."""
    con = duckdb.connect()
    rows = con.execute(
        "SELECT dt, SUM(CAST(sales_qty AS DECIMAL(38,2))), SUM(CAST(sales_amt AS DECIMAL(38,2))), "
        "SUM(CAST(sales_cost AS DECIMAL(38,2))) "
        f"FROM read_csv('{lake.path('raw')}/dt=*/sales.csv.gz', all_varchar = true, nullstr = '\\N', "
        "hive_partitioning = true) GROUP BY dt"
    ).fetchall()
    out: dict[int, dict[str, Decimal]] = {}
    for day, qty, amt, cost in rows:
        week = out.setdefault(
            WEEK_OF[str(day)], {"sales_qty": Decimal(0), "sales_amt": Decimal(0), "sales_cost": Decimal(0)}
        )
        week["sales_qty"] += qty
        week["sales_amt"] += amt
        week["sales_cost"] += cost
    return out


def raw_row_counts(lake: Lake) -> dict[tuple[str, str], int]:
    con = duckdb.connect()
    counts = {}
    for table in ("sales", "inventory"):
        for day, n in con.execute(
            f"SELECT dt, COUNT(*) FROM read_csv('{lake.path('raw')}/dt=*/{table}.csv.gz', all_varchar = true, "
            "hive_partitioning = true) GROUP BY dt"
        ).fetchall():
            counts[(str(day), table)] = n
    return counts


def test_the_run_report(source, lake, spec):
    days = date_range(spec.start, spec.end)  # two whole fiscal weeks, exported with manifests
    export_days(source, lake, days)

    report = run(Settings(lake=lake.url), None)

    path = Path(lake.path(f"_state/runs/{report.run_id}.json"))
    saved = json.loads(path.read_text())
    assert saved["status"] == "success" and saved["error"] is None
    assert saved["engine"] == "duckdb" and saved["finished_at"]
    # Inputs: every day, with the version the scan knows it by (the manifest's sha256).
    assert [i["day"] for i in saved["inputs"]] == [d.isoformat() for d in days]
    for i in saved["inputs"]:
        manifest = Path(lake.path(f"raw/dt={i['day']}/_manifest.json")).read_bytes()
        assert i["version"] == hashlib.sha256(manifest).hexdigest()
        assert i["manifest"] is True
    # Counts: one entry per day and table; read = used + duplicates + quarantined; read = the file's rows.
    expected_counts = raw_row_counts(lake)
    assert {(c["day"], c["table"]) for c in saved["counts"]} == set(expected_counts)
    assert len(saved["counts"]) == 2 * len(days)
    for c in saved["counts"]:
        assert c["read"] == c["used"] + c["duplicates"] + c["quarantined"], c
        assert c["read"] == expected_counts[(c["day"], c["table"])], c
        assert c["quarantined"] == 0 and c["duplicates"] == 0
    assert sum(c["read"] for c in saved["counts"] if c["table"] == "sales") > 100
    # Per-week totals: exactly the sums of the raw CSVs, and of the published rows.
    sums = raw_sums(lake)
    assert sorted(sums) == [202602, 202603]
    assert [w["yr_wk_num"] for w in saved["weeks"]] == [202602, 202603]
    for w in saved["weeks"]:
        assert w["status"] == "published" and w["errors"] == []
        assert {k: Decimal(v) for k, v in w["totals"].items()} == sums[w["yr_wk_num"]]
        assert w["days"] == [d for d, wk in WEEK_OF.items() if wk == w["yr_wk_num"]]
        published = (
            duckdb.connect()
            .execute(
                f"SELECT SUM(total_sales_amt) FROM read_parquet('{lake.path('curated/weekly_sales_inventory')}"
                f"/yr_wk_num={w['yr_wk_num']}/part-0.parquet')"
            )
            .fetchone()[0]
        )
        assert published == sums[w["yr_wk_num"]]["sales_amt"]
    # Durations of every stage, and what was written.
    assert set(saved["durations_s"]) == {"plan", "load", "compute", "write", "publish", "catalog"}
    assert all(isinstance(v, (int, float)) and v >= 0 for v in saved["durations_s"].values())
    assert "curated/weekly_sales_inventory/yr_wk_num=202602/part-0.parquet" in saved["outputs"]
    assert "curated/weekly_sales_inventory/yr_wk_num=202603/part-0.parquet" in saved["outputs"]
    assert saved["dimensions"] == {"snapshot_day": "2026-01-17", "product_rows": 1215, "product_duplicate_rows": 3}
    # The returned report is the saved one.
    assert saved == json.loads(json.dumps(report.to_dict(), default=str))


def test_counts_add_up_with_duplicates_and_quarantined_rows(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    good = [sale(1, 248, 5889, "2026-01-05", 1, "10.00", "1.00"), sale(2, 248, 5889, "2026-01-05", 2, "20.00", "2.00")]
    lake.day(
        "2026-01-05",
        sales=[*good, good[0], sale(3, 248, 5889, "2026-01-05", "abc", "5.00", "1.00")],
        inventory=[inv("2026-01-05", 248, 5889, 5, 0, 0), inv("2026-01-05", 248, 5889, 5, 0, 0)],
    )

    report = run_lake(lake.url, days=["2026-01-05"], quarantine_threshold=1.0)

    counts = {c["table"]: c for c in report.counts}
    assert counts["sales"] == {
        "day": "2026-01-05",
        "table": "sales",
        "read": 4,
        "used": 2,
        "duplicates": 1,
        "quarantined": 1,
        "unknown_store": 0,  # store 248 and product 5889 are in the dimension tables
        "unknown_product": 0,
    }
    assert counts["inventory"] == {
        "day": "2026-01-05",
        "table": "inventory",
        "read": 2,
        "used": 1,
        "duplicates": 1,
        "quarantined": 0,
        "unknown_store": 0,
        "unknown_product": 0,
    }
    assert report.weeks[0].totals == {"sales_qty": "3.00", "sales_amt": "30.00", "sales_cost": "3.00"}
    assert week_total(lake, 202602) == Decimal("30.00")


def test_a_raw_day_missing_from_the_calendar_is_read_and_quarantined(tmp_path):
    lake = LakeBuilder(tmp_path / "lake", calendar=calendar_csv(skip_day="2026-01-06"))
    lake.day("2026-01-05", **day_rows("2026-01-05", "10.00"))
    lake.day("2026-01-06", **day_rows("2026-01-06", "7.00", n=2))

    # With the default threshold, the day's rows (all quarantined) fail the week, naming the day.
    with pytest.raises(RunFailed, match="2026-01-06"):
        run_lake(lake.url, days=["2026-01-05"])
    assert not lake.week_file(202602).exists()

    report = run_lake(lake.url, days=["2026-01-05"], quarantine_threshold=1.0)

    assert report.weeks[0].days == ["2026-01-05", "2026-01-06"]
    rows = [r for r in quarantine_rows(lake, "sales") if str(r["partition_dt"]) == "2026-01-06"]
    assert len(rows) == 2
    assert all("not in the calendar" in r["reason"] for r in rows)
    inventory = quarantine_rows(lake, "inventory")
    assert len(inventory) == 1 and "not in the calendar" in inventory[0]["reason"]
    counts = {(c["day"], c["table"]): c for c in report.counts}
    assert counts[("2026-01-06", "sales")]["quarantined"] == 2 == counts[("2026-01-06", "sales")]["read"]
    assert week_total(lake, 202602) == Decimal("30.00")  # only 2026-01-05's sales


# -- the staging area ----------------------------------------------------------------------------------


def staging_entries(lake: LakeBuilder) -> list[Path]:
    folder = lake.root / "_staging"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_staging_is_empty_after_success_and_after_failure(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **day_rows("2026-01-05", "10.00"))
    leftover = lake.root / "_staging" / "20260101T000000Z-dead00" / "curated" / "x.parquet"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"left by a killed run")

    run_lake(lake.url, days=["2026-01-05"])
    assert staging_entries(lake) == []

    bad = [sale(100 + i, 248, 5889, "2026-01-05", "abc" if i % 2 else 1, "1.00", "1.00") for i in range(4)]
    lake.day("2026-01-05", sales=bad)
    with pytest.raises(RunFailed):
        run_lake(lake.url, days=["2026-01-05"])
    assert staging_entries(lake) == []
    assert load_reports(Lake(lake.url), limit=1)[0]["status"] == "failed"


def test_the_report_counts_each_published_weeks_rows(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **day_rows("2026-01-05", "10.00"))
    lake.day("2026-01-12", **day_rows("2026-01-12", "10.00", n=1))

    report = run_lake(lake.url)

    assert [(w.yr_wk_num, w.rows) for w in report.weeks] == [(202602, 2), (202603, 1)]
    assert len(weekly_rows(lake, "yr_wk_num = 202602")) == 2
    saved = load_reports(Lake(lake.url), limit=1)[0]
    assert [w["rows"] for w in saved["weeks"]] == [2, 1]


# -- passes: groups of weeks computed and published together ----------------------------------------


def test_plans_split_into_passes_of_whole_weeks():
    from retailflow.pipeline.records import DayInput, Planned, Selection, Week

    days = {202601: [dt.date(2025, 12, 30)], 202602: [dt.date(2026, 1, 5), dt.date(2026, 1, 6)], 202603: []}
    planned = Planned(
        run_id="r",
        started_at="now",
        selection=Selection(),
        weeks=tuple(Week(w, tuple(ds)) for w, ds in days.items()) + (Week(202604, (), ("broken",)),),
        inputs=tuple(DayInput(d, "v", True, {"sales": f"raw/dt={d}/sales.csv.gz"}) for ds in days.values() for d in ds),
        dims_day=dt.date(2026, 1, 6),
        dims={},
    )
    passes = planned.passes(2)
    assert [[w.yr_wk_num for w in p.weeks] for p in passes] == [[202601, 202602], [202603]]
    assert [i.day for i in passes[0].inputs] == [dt.date(2025, 12, 30), dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    assert passes[1].inputs == ()
    assert [[w.yr_wk_num for w in p.weeks] for p in planned.passes(0)] == [[202601, 202602, 202603]]


def test_one_week_per_pass_gives_the_same_output_and_isolates_a_failing_week(tmp_path):
    from tests.transform.lakebuilder import write_edge_cases

    together = write_edge_cases(LakeBuilder(tmp_path / "together"))
    run_lake(together.url, None)
    apart = write_edge_cases(LakeBuilder(tmp_path / "apart"))
    report = run_lake(apart.url, None, weeks_per_pass=1)
    assert weekly_rows(apart) == weekly_rows(together)
    assert report.status == "success" and report.durations_s["compute"] > 0
    # A bad day in one week: that week fails, the weeks of the other passes are still published.
    apart.day("2026-01-07", sales=[sale(999, 1, 10, "2026-01-07", "x", "1.00", "1.00")])
    with pytest.raises(RunFailed):
        run_lake(apart.url, None, weeks_per_pass=1)
    latest = json.loads(sorted((apart.root / "_state" / "runs").glob("*.json"))[-1].read_text())
    assert {w["yr_wk_num"]: w["status"] for w in latest["weeks"]} == {
        202601: "published",
        202602: "failed",
        202653: "published",
        202701: "published",
    }


@pytest.mark.parametrize("limit", ["1GB", "2GB"])
def test_a_run_fits_a_small_duckdb_memory_limit(tmp_path, limit):
    """The raw reader's buffer is sized explicitly: DuckDB's default (16x max_line_size = 1 GiB) alone broke
    every run under a 1-2 GB memory_limit."""
    lake = write_messy_inputs(write_edge_cases(LakeBuilder(tmp_path / "lake")))
    report = run_lake(lake.url, quarantine_threshold=1.0, duckdb_memory_limit=limit)
    assert report.status == "success" and lake.week_file(202603).is_file()
