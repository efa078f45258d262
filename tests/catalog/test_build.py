"""The catalog (catalog/build.py): a DuckDB file of views over the curated parquet, rebuilt atomically.

Fiscal weeks used: 202602 = 2026-01-04..10, 202603 = 2026-01-11..17.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from retailflow.catalog import build_catalog, catalog_tables
from retailflow.catalog.query import run_query
from retailflow.errors import LakeError, RetailflowError
from retailflow.lake import Lake
from tests.transform.lakebuilder import DIMS, LakeBuilder, inv, run_lake, sale

CATALOG = "catalog/retailflow.duckdb"
BASE_VIEWS = {"weekly_sales_inventory", "store", "product", "calendar", "weekly_sales_inventory_enriched"}


def week_data(day: str, amount: str, bad: int = 0) -> dict:
    """Sales at two stores of two products, one of them 72479, a key the product table repeats."""
    base = int(day.replace("-", "")) * 1000
    sales = [
        sale(base + 1, 248, 72479, day, 2, amount, "1.00"),
        sale(base + 2, 1054, 72479, day, 1, amount, "1.00"),
        sale(base + 3, 248, 5889, day, 1, amount, "1.00"),
    ]
    sales += [sale(base + 100 + i, 248, 5889, day, "x", amount, "1.00") for i in range(bad)]
    return {"sales": sales, "inventory": [inv(day, 248, 5889, 3, 0, 0)]}


@pytest.fixture
def published(tmp_path) -> LakeBuilder:
    """Two published weeks, 202602 (sales of 10.00) and 202603 (sales of 1.00), no quarantine."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    lake.day("2026-01-12", **week_data("2026-01-12", "1.00"))
    run_lake(lake.url)
    return lake


def views_in(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()


def test_the_views(published):
    lake = Lake(published.url)
    assert set(catalog_tables(lake)) == BASE_VIEWS
    assert views_in(Path(lake.path(CATALOG))) == BASE_VIEWS
    tables = run_query(lake, "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'")[1]
    assert tables == []  # views only: no data is copied into the catalog


def test_quarantine_views_appear_with_quarantine_files(published):
    published.day("2026-01-13", **week_data("2026-01-13", "1.00", bad=1))
    run_lake(published.url, days=["2026-01-13"], quarantine_threshold=0.5)

    lake = Lake(published.url)
    assert set(catalog_tables(lake)) == BASE_VIEWS | {"quarantine_sales"}  # no inventory was quarantined
    assert views_in(Path(lake.path(CATALOG))) == BASE_VIEWS | {"quarantine_sales"}
    _, rows = run_query(lake, "SELECT partition_dt::VARCHAR, sales_qty, reason FROM quarantine_sales")
    assert len(rows) == 1 and rows[0][:2] == ("2026-01-13", "x") and "sales_qty" in rows[0][2]


def test_product_is_deduplicated(published):
    lake = Lake(published.url)
    _, rows = run_query(lake, "SELECT COUNT(*), COUNT(DISTINCT prod_key) FROM product")
    assert rows == [(1212, 1212)]
    raw = gzip.decompress((published.root / "raw" / "dt=2026-01-12" / "product.csv.gz").read_bytes())
    assert raw == (DIMS / "product.csv").read_bytes()
    assert len(raw.decode().strip().splitlines()) - 1 == 1215  # the snapshot repeats three keys
    _, rows = run_query(lake, "SELECT COUNT(*) FROM product WHERE prod_key = 72479")
    assert rows == [(1,)]


def test_enriched_rows_are_not_doubled_by_repeated_product_keys(published):
    lake = Lake(published.url)
    _, plain = run_query(lake, "SELECT COUNT(*), SUM(total_sales_amt) FROM weekly_sales_inventory")
    _, enriched = run_query(lake, "SELECT COUNT(*), SUM(total_sales_amt) FROM weekly_sales_inventory_enriched")
    assert plain == enriched == [(6, Decimal("33.00"))]
    _, rows = run_query(
        lake,
        "SELECT DISTINCT prod_name, store_desc FROM weekly_sales_inventory_enriched "
        "WHERE prod_key = 72479 AND store_key = 248",
    )
    assert rows == [("Product-72479", "store_desc42")]


def test_max_week_and_its_type(published):
    lake = Lake(published.url)
    _, rows = run_query(lake, "SELECT MAX(yr_wk_num), typeof(MAX(yr_wk_num)) FROM weekly_sales_inventory")
    assert rows == [(202603, "INTEGER")]
    _, rows = run_query(
        lake,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'weekly_sales_inventory' AND column_name = 'yr_wk_num'",
    )
    assert rows == [("INTEGER",)]
    _, rows = run_query(
        lake, "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1 ORDER BY 1"
    )
    assert rows == [(202602, Decimal("30.00")), (202603, Decimal("3.00"))]


def test_a_filter_on_the_week_prunes_the_other_partitions(published):
    published.week_file(202603).write_bytes(b"this is not a parquet file" * 10)
    lake = Lake(published.url)

    _, rows = run_query(
        lake, "SELECT SUM(total_sales_amt), COUNT(*) FROM weekly_sales_inventory WHERE yr_wk_num = 202602"
    )
    assert rows == [(Decimal("30.00"), 3)]
    _, rows = run_query(
        lake, "SELECT SUM(total_sales_amt) FROM weekly_sales_inventory_enriched WHERE yr_wk_num = 202602"
    )
    assert rows == [(Decimal("30.00"),)]
    # Without the filter the broken file is read: the pruning above is what kept it out.
    with pytest.raises(RetailflowError, match="yr_wk_num=202603"):
        run_query(lake, "SELECT SUM(total_sales_amt) FROM weekly_sales_inventory")


NEW_READER = r"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
weeks = [r[0] for r in con.execute("SELECT DISTINCT yr_wk_num FROM weekly_sales_inventory ORDER BY 1").fetchall()]
views = sorted(r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
print(json.dumps({"weeks": weeks, "views": views}))
"""


def test_a_rebuild_leaves_open_readers_working(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    run_lake(lake.url)
    catalog = lake.root / "catalog" / "retailflow.duckdb"
    inode = catalog.stat().st_ino
    reader = duckdb.connect(str(catalog), read_only=True)  # a BI tool holding the catalog open
    try:
        assert reader.execute("SELECT DISTINCT yr_wk_num FROM weekly_sales_inventory").fetchall() == [(202602,)]

        # A new week (with a quarantined row, so the catalog gains a view), then an explicit rebuild.
        lake.day("2026-01-12", **week_data("2026-01-12", "1.00", bad=1))
        run_lake(lake.url, days=["2026-01-12"], quarantine_threshold=0.5)
        assert build_catalog(Lake(lake.url)) == CATALOG

        assert catalog.stat().st_ino != inode  # replaced by a rename, not rewritten in place
        # The open connection still answers, from the catalog it opened (views over the same parquet).
        assert reader.execute(
            "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1 ORDER BY 1"
        ).fetchall() == [(202602, Decimal("30.00")), (202603, Decimal("3.00"))]
        assert reader.execute("SELECT COUNT(*) FROM product").fetchone() == (1212,)
        old_views = {r[0] for r in reader.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert old_views == BASE_VIEWS
        # A new connection (another process, as a BI tool reconnecting) sees the new catalog.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
        done = subprocess.run(
            [sys.executable, "-c", NEW_READER, str(catalog)], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {
            "weeks": [202602, 202603],
            "views": sorted(BASE_VIEWS | {"quarantine_sales"}),
        }
    finally:
        reader.close()
    assert sorted(os.listdir(catalog.parent)) == ["retailflow.duckdb"]  # no _tmp.* left behind


def test_building_the_catalog_twice_gives_the_same_views(published):
    lake = Lake(published.url)
    first = views_in(Path(lake.path(CATALOG)))
    build_catalog(lake)
    build_catalog(lake)
    assert views_in(Path(lake.path(CATALOG))) == first
    assert sorted(os.listdir(lake.path("catalog"))) == ["retailflow.duckdb"]


def test_an_empty_lake_has_nothing_to_catalog(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(LakeError, match="retailflow run"):
        build_catalog(lake)
    assert not lake.exists(CATALOG)


def test_a_lake_with_only_raw_data_has_nothing_to_catalog(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    with pytest.raises(LakeError, match="retailflow run"):
        build_catalog(Lake(lake.url))
    assert not (lake.root / "catalog").exists() or os.listdir(lake.root / "catalog") == []
