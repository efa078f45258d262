"""``retailflow catalog``: (re)build ``<lake>/catalog/retailflow.duckdb``.

The catalog holds views only, no data: each curated table is a view over its parquet files, so it is
small and quick to rebuild. It is built under a temporary name and renamed into place (uploaded, for an
S3 lake), so a reader (a BI tool holding it open read-only) never sees it half-built; a reader that has
the old file open keeps reading the old views until it reconnects.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb

from retailflow.errors import LakeError
from retailflow.lake import layout
from retailflow.lake.storage import Lake
from retailflow.sql import literal
from retailflow.tables import DIMENSION_TABLES, FACT_TABLES


def catalog_tables(lake: Lake) -> dict[str, str]:
    """View name -> its SQL, for every curated table (and quarantine table) that has files."""
    views: dict[str, str] = {}
    weekly = layout.curated_table(layout.WEEKLY_TABLE)
    if lake.subdirs(weekly):
        # The partition value is read as text and cast here rather than with hive_types: DuckDB 1.5
        # answers MAX(yr_wk_num) from typed hive columns with an internal error. Filters on yr_wk_num
        # still prune partitions through the cast (tests/catalog/test_build.py).
        views[layout.WEEKLY_TABLE] = (
            "SELECT * REPLACE (CAST(yr_wk_num AS INTEGER) AS yr_wk_num)\n"
            f"FROM read_parquet({literal(lake.uri(weekly) + '/*/*.parquet')}, "
            "hive_partitioning = true, hive_types_autocast = false)"
        )
    for table in (t.name for t in DIMENSION_TABLES):
        if layout.PART_FILE in lake.listdir(layout.curated_table(table)):
            views[table] = (
                f"SELECT * FROM read_parquet({literal(lake.uri(layout.curated_table(table)) + '/*.parquet')})"
            )
    quarantine_days = lake.subdirs(layout.QUARANTINE)
    for table in (t.name for t in FACT_TABLES):
        if any(f"{table}.parquet" in lake.listdir(f"{layout.QUARANTINE}/{d}") for d in quarantine_days):
            views[f"quarantine_{table}"] = (
                f"SELECT * FROM read_parquet({literal(lake.uri(layout.QUARANTINE) + f'/*/{table}.parquet')}, "
                "hive_partitioning = false, union_by_name = true)"
            )
    if layout.WEEKLY_TABLE in views and "store" in views and "product" in views:
        # What most dashboard questions need: the metrics with store and product names attached.
        views["weekly_sales_inventory_enriched"] = (
            "SELECT w.*, s.store_desc, s.city, s.prov_state_cd, s.market_key, s.market_name, s.latitude, s.longitude,\n"
            "       p.prod_name, p.brand_name, p.category_key, p.category_name, p.subcategory_name\n"
            f"FROM {layout.WEEKLY_TABLE} w\n"
            "LEFT JOIN store s ON s.store_key = w.store_key\n"
            "LEFT JOIN product p ON p.prod_key = w.prod_key"
        )
    return views


def build_catalog(lake: Lake) -> str:
    """Rebuild the catalog file atomically; return its lake-relative path."""
    views = catalog_tables(lake)
    if not views:
        raise LakeError(f"Nothing is published in {lake.url} yet.", "Run `retailflow run` first.")
    target = layout.catalog()
    lake.sweep_temporaries(target.rpartition("/")[0])  # what a killed build left (builds are not concurrent)
    workdir = Path(tempfile.mkdtemp(prefix="retailflow-catalog-"))
    try:
        if lake.is_local:
            lake.makedirs(target.rpartition("/")[0])
            tmp_rel = lake.temp_name(target)
            build_path = Path(lake.path(tmp_rel))
        else:
            tmp_rel, build_path = None, workdir / "retailflow.duckdb"
        con = duckdb.connect(str(build_path))
        try:
            if not lake.is_local:
                con.register_filesystem(lake.fs)
            for name, sql in views.items():
                con.execute(f"CREATE VIEW {name} AS\n{sql}")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if lake.is_local:
            lake.commit(tmp_rel, target)
        else:
            with lake.atomic_writer(target) as handle, open(build_path, "rb") as built:
                shutil.copyfileobj(built, handle)
    except BaseException:
        if lake.is_local and tmp_rel:
            lake.remove(tmp_rel)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return target
