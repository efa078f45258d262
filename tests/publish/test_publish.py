"""Publishing (publish/publisher.py, driven by transform/runner.py): idempotent, atomic per file, and a
failed or killed run never leaves a week half-written or missing. Real DuckDB, real files, and a real
process killed with os._exit in the middle of publishing.

Fiscal weeks used: 202602 = 2026-01-04..10, 202603 = 2026-01-11..17.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from retailflow.catalog.query import run_query
from retailflow.lake import Lake
from retailflow.lake.state import load_reports
from retailflow.pipeline import RunFailed, run
from retailflow.publish import Publication, publish
from retailflow.transform.duckdb_engine import DuckDBEngine
from tests.transform.lakebuilder import LakeBuilder, inv, quarantine_rows, run_lake, sale, settings, weekly_rows

DAYS = {"2026-01-05": 202602, "2026-01-12": 202603}


def write_days(lake: LakeBuilder, amount: str, n: int = 4, bad: int = 0) -> None:
    """Each day of DAYS: ``n`` sales of ``amount`` over two stores and two products, ``bad`` more with an
    unparseable quantity, and inventory rows."""
    for day in DAYS:
        base = int(day.replace("-", "")) * 1000
        sales = [
            sale(base + i, 248 + i % 2 * 806, 5889 if i < 2 else 15497, day, 1 + i, amount, "1.00") for i in range(n)
        ]
        sales += [sale(base + 500 + i, 248, 5889, day, "abc", amount, "1.00") for i in range(bad)]
        inventory = [inv(day, 248, 5889, 3, 1, 0), inv(day, 1054, 15497, 0, 0, 1)]
        lake.day(day, sales=sales, inventory=inventory)


def expected_total(amount: str, n: int = 4) -> Decimal:
    return Decimal(amount) * n


def parquet_total(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> Decimal:
    con = con or duckdb.connect()
    return con.execute(f"SELECT SUM(total_sales_amt) FROM read_parquet('{path}')").fetchone()[0]


def file_bytes(root: Path, *folders: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in folders
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def temporaries(root: Path, folder: str) -> list[Path]:
    return sorted((root / folder).rglob("_tmp.*")) if (root / folder).exists() else []


@pytest.fixture
def lake(tmp_path) -> LakeBuilder:
    return LakeBuilder(tmp_path / "lake")


# -- the publisher itself ------------------------------------------------------------------------------


def test_publish_moves_in_order_then_removes(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_bytes("_staging/r/a.parquet", b"new a")
    lake.write_bytes("_staging/r/b.parquet", b"new b")
    lake.write_bytes("curated/t/part-0.parquet", b"old a")
    lake.write_bytes("quarantine/dt=2026-01-05/sales.parquet", b"stale")
    publication = Publication()
    publication.add("_staging/r/a.parquet", "curated/t/part-0.parquet")
    publication.add("_staging/r/b.parquet", "curated/new/deep/part-0.parquet")  # folders are created
    publication.removals += ["quarantine/dt=2026-01-05/sales.parquet", "quarantine/dt=2026-01-06/sales.parquet"]

    written = publish(lake, publication)

    assert written == ["curated/t/part-0.parquet", "curated/new/deep/part-0.parquet"]
    assert lake.read_bytes("curated/t/part-0.parquet") == b"new a"
    assert lake.read_bytes("curated/new/deep/part-0.parquet") == b"new b"
    assert not lake.exists("_staging/r/a.parquet") and not lake.exists("_staging/r/b.parquet")
    assert not lake.exists("quarantine/dt=2026-01-05/sales.parquet")  # an absent removal is not an error


# -- (a) idempotence -----------------------------------------------------------------------------------


def test_the_same_input_twice_publishes_the_same_content(lake):
    write_days(lake, "10.00", bad=1)
    first = run_lake(lake.url, quarantine_threshold=0.5)
    rows, quarantine = weekly_rows(lake), quarantine_rows(lake, "sales")
    published = file_bytes(lake.root, "curated", "quarantine")

    second = run_lake(lake.url, quarantine_threshold=0.5)

    assert first.run_id != second.run_id
    assert len(rows) == 8 and len(quarantine) == 2  # two weeks x 4 store/products; one bad row per day
    assert weekly_rows(lake) == rows
    assert quarantine_rows(lake, "sales") == quarantine
    assert file_bytes(lake.root, "curated", "quarantine") == published  # byte for byte
    assert sorted(published) == [
        "curated/calendar/part-0.parquet",
        "curated/product/part-0.parquet",
        "curated/store/part-0.parquet",
        "curated/weekly_sales_inventory/yr_wk_num=202602/part-0.parquet",
        "curated/weekly_sales_inventory/yr_wk_num=202603/part-0.parquet",
        "quarantine/dt=2026-01-05/sales.parquet",
        "quarantine/dt=2026-01-12/sales.parquet",
    ]
    assert first.weeks == second.weeks and first.counts == second.counts


def test_a_day_that_becomes_clean_loses_its_quarantine_file(lake):
    write_days(lake, "10.00", bad=1)
    run_lake(lake.url, quarantine_threshold=0.5)
    assert (lake.root / "quarantine" / "dt=2026-01-05" / "sales.parquet").exists()

    write_days(lake, "10.00", bad=0)
    run_lake(lake.url, days=["2026-01-05"])

    assert not (lake.root / "quarantine" / "dt=2026-01-05" / "sales.parquet").exists()
    assert (lake.root / "quarantine" / "dt=2026-01-12" / "sales.parquet").exists()  # not recomputed: kept


# -- (b) a run killed in the middle of publishing ------------------------------------------------------

KILLED_RUN = r"""
import os, sys
from retailflow.config import Settings
from retailflow.lake.storage import Lake
from retailflow.pipeline import run

lake_url, kill_at, log = sys.argv[1], sys.argv[2], sys.argv[3]
original = Lake.commit
calls = []

def commit(self, tmp, relative):
    if relative.startswith(("_state/", "typed/")):  # the run's records and its typed zone: not published
        return original(self, tmp, relative)
    calls.append(relative)
    if (kill_at.isdigit() and len(calls) == int(kill_at)) or relative == kill_at:
        with open(log, "w") as f:
            f.write("\n".join(calls[:-1]))
        os._exit(137)
    return original(self, tmp, relative)

Lake.commit = commit
run(Settings(lake=lake_url, allow_manifestless=True), None)  # a built lake: no manifests
"""


def run_killed(lake: LakeBuilder, kill_at: str, log: Path) -> list[str]:
    """Run every week in a child process that dies before Lake.commit's ``kill_at``-th call (or before
    committing that path); return the paths it committed before dying."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, lake.url, kill_at, str(log)],
        capture_output=True,
        text=True,
        env=env,
        cwd=lake.root.parent,
        timeout=120,
    )
    assert done.returncode == 137, done.stderr
    return log.read_text().splitlines() if log.read_text() else []


@pytest.mark.parametrize("kill_at, new_weeks", [("1", set()), ("2", {202602}), ("3", {202602, 202603})])
def test_a_run_killed_mid_publish_leaves_whole_weeks_and_the_next_run_completes(lake, tmp_path, kill_at, new_weeks):
    write_days(lake, "10.00")
    run_lake(lake.url)
    old = {w: expected_total("10.00") for w in DAYS.values()}
    new = {w: expected_total("20.00") for w in DAYS.values()}
    write_days(lake, "20.00")  # both weeks' inputs changed since the last successful run

    committed = run_killed(lake, kill_at, tmp_path / "commits.log")

    weekly = [f"curated/weekly_sales_inventory/yr_wk_num={w}/part-0.parquet" for w in sorted(DAYS.values())]
    assert committed == weekly[: int(kill_at) - 1]
    # Every week file is whole: readable, and entirely the old version or entirely the new one.
    totals = {w: parquet_total(lake.week_file(w)) for w in DAYS.values()}
    assert totals == {w: new[w] if w in new_weeks else old[w] for w in DAYS.values()}
    assert {w: len(weekly_rows(lake, f"yr_wk_num = {w}")) for w in DAYS.values()} == {202602: 4, 202603: 4}
    # Nothing curated is missing or half-written, and the old catalog still answers.
    for table in ("store", "product", "calendar"):
        assert (
            duckdb.connect()
            .execute(f"SELECT COUNT(*) FROM read_parquet('{lake.root / 'curated' / table / 'part-0.parquet'}')")
            .fetchone()[0]
            > 0
        )
    assert temporaries(lake.root, "curated") == []
    _, rows = run_query(Lake(lake.url), "SELECT COUNT(*) FROM weekly_sales_inventory")
    assert rows == [(8,)]
    # The killed run left its staged files behind (and no report).
    assert [p for p in (lake.root / "_staging").rglob("*.parquet")]
    assert len(load_reports(Lake(lake.url))) == 1

    report = run(settings(lake.url), None)  # the normal rerun

    assert report.status == "success"
    assert {w: parquet_total(lake.week_file(w)) for w in DAYS.values()} == new
    assert list((lake.root / "_staging").iterdir()) == []
    _, rows = run_query(
        Lake(lake.url), "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1 ORDER BY 1"
    )
    assert rows == sorted(new.items())


def test_a_run_killed_while_cataloging_leaves_no_temporary_behind(lake, tmp_path):
    write_days(lake, "10.00")
    run_lake(lake.url)
    write_days(lake, "20.00")

    committed = run_killed(lake, "catalog/retailflow.duckdb", tmp_path / "commits.log")
    assert "curated/calendar/part-0.parquet" in committed  # everything but the catalog was published
    run(settings(lake.url), None)

    assert temporaries(lake.root, "catalog") == []


# -- (c) a reader while weeks are republished ----------------------------------------------------------


def test_a_concurrent_reader_sees_one_whole_version_or_the_other(lake):
    write_days(lake, "10.00")
    run_lake(lake.url, days=["2026-01-05"])
    path = lake.week_file(202602)
    versions = {"10.00": expected_total("10.00"), "30.00": expected_total("30.00")}
    seen: list[Decimal] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        con = duckdb.connect()  # one long-lived connection, as a BI tool holds
        while not stop.is_set() and len(seen) < 100_000:
            try:
                seen.append(parquet_total(path, con))
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(repr(exc))
            time.sleep(0.005)  # leave the writer some CPU
        con.close()

    def reader_caught_up(reads: int) -> None:  # wait until the reader has finished more than ``reads`` reads
        deadline = time.monotonic() + 10
        while len(seen) + len(errors) <= reads and time.monotonic() < deadline:
            time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        reader_caught_up(0)
        for i in range(5):
            amount = "30.00" if i % 2 == 0 else "10.00"
            write_days(lake, amount)
            run_lake(lake.url, days=["2026-01-05"])
            assert parquet_total(path) == versions[amount]
            reader_caught_up(len(seen) + len(errors) + 1)  # two more reads: the second began after the publish
    finally:
        stop.set()
        thread.join(timeout=30)

    assert errors == []
    assert len(seen) >= 6
    assert set(seen) == set(versions.values())  # both versions were read, and nothing else
    assert len(load_reports(Lake(lake.url))) == 6


# -- (d) a failed run ----------------------------------------------------------------------------------


def test_a_failed_run_keeps_the_published_week_and_writes_quarantine_and_report(lake):
    write_days(lake, "10.00")
    run_lake(lake.url, days=["2026-01-05"])
    week = lake.week_file(202602)
    before = (week.read_bytes(), week.stat().st_mtime_ns)
    catalog = lake.root / "catalog" / "retailflow.duckdb"
    catalog_before = catalog.read_bytes()
    write_days(lake, "20.00", n=4, bad=4)  # half of the day's sales rows: quantity 'abc'

    with pytest.raises(RunFailed) as failed:
        run_lake(lake.url, days=["2026-01-05"])

    assert "4 of 8 sales rows of 2026-01-05 (50.0%) were quarantined" in str(failed.value)
    assert (week.read_bytes(), week.stat().st_mtime_ns) == before
    assert parquet_total(week) == expected_total("10.00")
    assert catalog.read_bytes() == catalog_before
    quarantined = quarantine_rows(lake, "sales")
    assert len(quarantined) == 4
    assert all("sales_qty does not parse" in r["reason"] and "abc" in r["reason"] for r in quarantined)
    assert [r["sales_qty"] for r in quarantined] == ["abc"] * 4  # the delivered text, kept
    report = load_reports(Lake(lake.url), limit=1)[0]
    assert report["status"] == "failed"
    assert report["weeks"][0]["status"] == "failed"
    assert "quarantine_threshold" in report["weeks"][0]["errors"][0]
    assert {(c["table"], c["read"], c["quarantined"]) for c in report["counts"]} == {
        ("sales", 8, 4),
        ("inventory", 2, 0),
    }
    assert "quarantine/dt=2026-01-05/sales.parquet" in report["outputs"]
    assert not any("weekly_sales_inventory" in o for o in report["outputs"])


# -- (e) reconciliation --------------------------------------------------------------------------------


class DropsARow(DuckDBEngine):
    """An engine with a bug: its weekly_metrics loses store 248 / product 5889."""

    def execute(self, plan):
        super().execute(
            [
                dataclasses.replace(s, sql=f"SELECT * FROM ({s.sql}) x WHERE NOT (store_key = 248 AND prod_key = 5889)")
                if s.name == "weekly_metrics"
                else s
                for s in plan
            ]
        )


def test_output_that_does_not_reconcile_is_not_published(lake):
    write_days(lake, "10.00")
    run_lake(lake.url, days=["2026-01-05"])
    week = lake.week_file(202602)
    before = week.read_bytes()
    write_days(lake, "20.00")
    lake.day("2026-01-12", sales=[sale(9, 1054, 15497, "2026-01-12", 1, "5.00", "1.00")])  # reconciles

    with pytest.raises(RunFailed, match="does not reconcile") as failed:
        run(settings(lake.url), None, engine=DropsARow())

    message = str(failed.value)
    assert "week 202602" in message and "week 202603" not in message
    assert "input amt 80.00 but output" in message
    assert week.read_bytes() == before
    assert parquet_total(lake.week_file(202603)) == Decimal("5.00")
    report = load_reports(Lake(lake.url), limit=1)[0]
    assert report["status"] == "partial"
    assert not any("yr_wk_num=202602" in o for o in report["outputs"])


def test_output_that_does_not_reconcile_on_a_fresh_lake_publishes_nothing(lake):
    write_days(lake, "10.00")

    with pytest.raises(RunFailed, match="does not reconcile"):
        run(settings(lake.url), [dt.date(2026, 1, 5)], engine=DropsARow())

    assert not (lake.root / "curated").exists()
    assert not (lake.root / "catalog").exists()
