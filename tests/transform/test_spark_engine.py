"""The Spark engine gives the DuckDB engine's output exactly: same rows, same values (doubles within
1e-9 relative), same quarantine, same counts, same parquet schema. One shared local[2] session."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from retailflow.config import Settings
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.pipeline import RunFailed
from retailflow.source import open_source
from retailflow.source.generate import GenerateSpec, generate
from retailflow.transform.spark_engine import SparkEngine
from tests.transform.lakebuilder import (
    LakeBuilder,
    quarantine_rows,
    run_lake,
    sale,
    weekly_rows,
    write_edge_cases,
    write_messy_inputs,
    write_worked_example,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]


def both_engines(tmp_path: Path, build, spark, days=None, **settings) -> tuple[LakeBuilder, LakeBuilder]:
    """Build the same raw zone twice and run DuckDB on one, Spark on the other."""
    a = build(LakeBuilder(tmp_path / "duckdb"))
    shutil.copytree(a.root / "raw", tmp_path / "spark" / "raw")
    b = LakeBuilder(tmp_path / "spark")
    run_lake(a.url, days, **settings)
    run_lake(b.url, days, engine=SparkEngine(session=spark), **settings)
    return a, b


def assert_same_rows(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right) and len(left) > 0
    for x, y in zip(left, right, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], float) or isinstance(y[key], float):
                assert (x[key] is None) == (y[key] is None), key
                if x[key] is not None:
                    assert math.isclose(x[key], y[key], rel_tol=1e-9, abs_tol=1e-9), (key, x, y)
            else:
                assert x[key] == y[key], (key, x, y)


def parquet_schema(path: Path) -> list[tuple]:
    """What readers (Glue, Athena, DuckDB) see: names, order, physical and Arrow types, nullability."""
    physical = pq.ParquetFile(path).schema
    arrow = pq.read_schema(path)
    return [(c.name, c.physical_type, str(arrow.field(c.name).type), c.max_definition_level) for c in physical]


def test_worked_example_same_on_spark(tmp_path, spark):
    a, b = both_engines(tmp_path, write_worked_example, spark, ["2026-01-04"])
    assert_same_rows(weekly_rows(a), weekly_rows(b))
    assert weekly_rows(b)[0]["potential_low_stock_impact"] == pytest.approx(22.0)


def test_every_edge_case_same_on_spark_with_identical_parquet_schemas(tmp_path, spark):
    a, b = both_engines(tmp_path, write_edge_cases, spark)
    assert_same_rows(weekly_rows(a), weekly_rows(b))
    for week in (202601, 202602, 202653, 202701):
        assert parquet_schema(a.week_file(week)) == parquet_schema(b.week_file(week))
    for table in ("store", "product", "calendar"):
        left, right = (next((x.root / "curated" / table).glob("*.parquet")) for x in (a, b))
        assert parquet_schema(left) == parquet_schema(right)
        assert pq.read_table(left).equals(pq.read_table(right))


def test_outside_producer_files_and_bad_rows_same_on_spark(tmp_path, spark):
    a, b = both_engines(tmp_path, write_messy_inputs, spark, quarantine_threshold=0.9)
    assert_same_rows(weekly_rows(a), weekly_rows(b))
    for table in ("sales", "inventory"):
        key = lambda r: tuple(str(v) for v in r.values())  # noqa: E731
        qa, qb = sorted(quarantine_rows(a, table), key=key), sorted(quarantine_rows(b, table), key=key)
        assert len(qa) > 3
        assert qa == qb
    reports = [sorted((x.root / "_state" / "runs").glob("*.json")) for x in (a, b)]
    import json

    counts = [json.loads(r[-1].read_text())["counts"] for r in reports]
    assert counts[0] == counts[1]


def test_realistic_generated_data_same_on_spark(tmp_path, spark):
    source = tmp_path / "source.duckdb"
    generate(source, GenerateSpec(dt.date(2026, 1, 4), dt.date(2026, 1, 17), stores=6, products=25, seed=3))
    days = [dt.date(2026, 1, 4) + dt.timedelta(days=i) for i in range(14)]
    for name in ("duckdb", "spark"):
        src = open_source(f"duckdb:///{source}")
        export_days(src, Lake(str(tmp_path / name)), days, threads=1)
        src.close()
    a, b = LakeBuilder(tmp_path / "duckdb"), LakeBuilder(tmp_path / "spark")
    run_lake(a.url, None)
    run_lake(b.url, None, engine=SparkEngine(session=spark))
    left, right = weekly_rows(a), weekly_rows(b)
    assert len(left) > 100
    assert_same_rows(left, right)
    assert parquet_schema(a.week_file(202602)) == parquet_schema(b.week_file(202602))


def test_spark_replaces_only_the_weeks_it_ran_and_a_failed_run_keeps_the_old_output(tmp_path, spark):
    lake = write_edge_cases(LakeBuilder(tmp_path / "lake"))
    run_lake(lake.url, None, engine=SparkEngine(session=spark))
    before = {w: lake.week_file(w).read_bytes() for w in (202601, 202602)}
    lake.day("2026-01-05", sales=[sale(9, 1, 10, "2026-01-05", "1", "1.00", "1.00")])
    run_lake(lake.url, ["2026-01-05"], engine=SparkEngine(session=spark))
    assert lake.week_file(202601).read_bytes() == before[202601]  # not asked for: untouched
    assert lake.week_file(202602).read_bytes() != before[202602]
    replaced = lake.week_file(202602).read_bytes()
    lake.day("2026-01-06", sales=[sale(10, 1, 10, "2026-01-06", "x", "1.00", "1.00")])
    with pytest.raises(RunFailed):
        run_lake(lake.url, ["2026-01-06"], engine=SparkEngine(session=spark))
    assert lake.week_file(202602).read_bytes() == replaced
    assert not list((lake.root / "_staging").glob("*"))


def test_cluster_entry_point_runs_against_a_lake(tmp_path, spark, monkeypatch):
    from retailflow.pipeline.spark_job import main

    monkeypatch.setenv("RETAILFLOW_ALLOW_MANIFESTLESS", "true")  # the built lake is an outside producer's
    lake = write_worked_example(LakeBuilder(tmp_path / "lake"))
    assert main(["--lake", lake.url, "--date", "2026-01-05", "--conf", "spark.sql.shuffle.partitions=2"]) == 0
    row = weekly_rows(lake)[0]
    assert row["total_sales_amt"] == Decimal("127.00")
    assert main(["--lake", lake.url]) == 1  # no week chosen: a message and exit 1, no traceback


def test_settings_reach_the_spark_engine():
    from retailflow.transform.engine import make_engine

    engine = make_engine(Settings(engine="spark", spark_master="local[1]", spark_conf="spark.x=1, spark.y=2"))
    assert isinstance(engine, SparkEngine)
    assert engine.master == "local[1]" and engine.conf == {"spark.x": "1", "spark.y": "2"}


def test_cli_run_on_spark_borrows_the_active_session_and_leaves_it_running(tmp_path, spark, monkeypatch):
    from tests.cli.clitools import make_invoker

    monkeypatch.setenv("RETAILFLOW_ALLOW_MANIFESTLESS", "true")  # the built lake is an outside producer's
    lake = write_worked_example(LakeBuilder(tmp_path / "lake"))
    invoke = make_invoker(tmp_path, monkeypatch)
    result = invoke(
        "run",
        "--lake",
        lake.url,
        "--date",
        "2026-01-05",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--spark-conf",
        "spark.sql.shuffle.partitions=2",
    )
    assert result.exit_code == 0, result.output
    assert "Published week(s) 202602" in result.stderr
    assert weekly_rows(lake)[0]["total_sales_amt"] == Decimal("127.00")
    assert spark.range(3).count() == 3  # the caller's session was borrowed, not stopped


def _exponent_floats(lake: LakeBuilder) -> LakeBuilder:
    """The worked example with the store table's floats written in exponent form (4.066e+01), as Arrow's
    CSV writer and Snowflake's unload may write them."""
    write_worked_example(lake)
    for folder in sorted((lake.root / "raw").iterdir()):
        path = folder / "store.csv.gz"
        text = gzip.decompress(path.read_bytes()).decode()
        header, *rows = text.splitlines()
        columns = header.lower().split(",")
        at = [columns.index("latitude"), columns.index("longitude")]
        out = [header]
        for row in rows:
            fields = row.split(",")
            for i in at:
                if fields[i] not in ("", "\\N"):
                    fields[i] = f"{float(fields[i]):e}"
            out.append(",".join(fields))
        path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode(), mtime=0))
    return lake


def test_floats_in_exponent_form_are_read_on_both_engines(tmp_path, spark):
    a, b = both_engines(tmp_path, _exponent_floats, spark)
    plain = write_worked_example(LakeBuilder(tmp_path / "plain"))
    run_lake(plain.url)
    read = lambda lake: duckdb.sql(  # noqa: E731
        f"SELECT store_key, latitude, longitude FROM '{lake.root}/curated/store/*.parquet' ORDER BY ALL"
    ).fetchall()
    expected = read(plain)
    assert any(lat is not None for _, lat, _ in expected)
    assert read(a) == expected and read(b) == expected  # never NULL for want of a pattern
