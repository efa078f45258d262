"""Lake paths holding characters that SQL, URIs or shells treat specially work on both engines: every
path reaches SQL through retailflow.sql.literal, never pasted as text."""

from __future__ import annotations

import shutil

import pytest

from retailflow.catalog import run_query
from retailflow.lake import Lake
from retailflow.transform.spark_engine import SparkEngine
from tests.transform.lakebuilder import LakeBuilder, inv, run_lake, sale, weekly_rows

DAY = "2026-01-05"
ODD_NAMES = ["it's a lake", "50% lake", "lake #1", "läke ünïcode", "x'); COPY (SELECT 1) TO '/tmp/pwned.csv"]


def _build(root) -> LakeBuilder:
    lake = LakeBuilder(root)
    lake.day(DAY, sales=[sale(1, 248, 5889, DAY, 2, "4.00", "3.00")], inventory=[inv(DAY, 248, 5889, 5, 0, 0)])
    return lake


@pytest.mark.parametrize("name", ODD_NAMES)
def test_duckdb_runs_and_queries_a_lake_whose_path_is_odd(tmp_path, name):
    lake = _build(tmp_path / name)
    run_lake(lake.url, [DAY])
    assert [r["total_sales_amt"] for r in weekly_rows(lake)] == [4]
    _, rows = run_query(Lake(lake.url), "SELECT SUM(total_sales_amt) FROM weekly_sales_inventory")
    assert rows == [(4,)]
    assert not (tmp_path / "pwned.csv").exists()


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_spark_runs_a_lake_whose_path_is_odd(tmp_path, spark):
    for name in ODD_NAMES[:4]:
        lake = _build(tmp_path / name)
        run_lake(lake.url, [DAY], engine=SparkEngine(session=spark))
        assert [r["total_sales_amt"] for r in weekly_rows(lake)] == [4], name
        shutil.rmtree(lake.root)
