"""The DuckDB engine's typed zone (transform/typed_zone.py): days parsed once and read back give the same
published files, byte for byte, as parsing every day from raw; a changed raw file, a changed calendar or
a damaged typed file is handled; racing writers leave whole files; days whose raw is gone are swept."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from retailflow.lake import Lake
from retailflow.pipeline import stages
from retailflow.pipeline.records import Selection
from retailflow.tables import SALES
from retailflow.transform import typed_zone
from retailflow.transform.dialect import DUCKDB
from retailflow.transform.duckdb_engine import DuckDBEngine
from retailflow.transform.duckdb_raw import reader_options
from tests.transform.lakebuilder import (
    LakeBuilder,
    calendar_csv,
    inv,
    published_files,
    quarantine_rows,
    run_lake,
    sale,
    settings,
    write_edge_cases,
    write_messy_inputs,
    write_worked_example,
)

DAY = "2026-01-05"
HEADER = ",".join(c.upper() for c in SALES.column_names)


def build(root: Path) -> LakeBuilder:
    """Every kind of input: the worked example, the edge cases, messy files and lines that cannot be split."""
    lake = write_messy_inputs(write_edge_cases(write_worked_example(LakeBuilder(root))))
    good = [f"{i},10,1,2026-01-13,1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00" for i in range(9000, 9100)]
    lines = [
        HEADER,
        *good,
        "9999,10,1,2026-01-13,1200,2.00",
        "9998,10,1,2026-01-13,1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00,X",
    ]
    lake.day("2026-01-13", raw_sales=("\n".join(lines) + "\n").encode(), inventory=[inv("2026-01-13", 1, 10, 5, 0, 0)])
    return lake


def typed_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "typed").rglob("*") if p.is_file())


def run(lake: LakeBuilder, engine: DuckDBEngine | None = None, **values):
    return run_lake(lake.url, None, engine=engine, quarantine_threshold=1.0, **values)


def raw_days(lake: LakeBuilder) -> list[str]:
    return sorted(p.name.removeprefix("dt=") for p in (lake.root / "raw").iterdir())


def test_runs_reading_the_typed_zone_publish_the_same_bytes_as_runs_parsing_raw(tmp_path, monkeypatch):
    # Every day of this lake (it spans a year of edge cases) kept typed, not only the last week's.
    monkeypatch.setattr(typed_zone, "KEPT_DAYS", 10_000)
    from_raw = build(tmp_path / "raw-only")
    report = run(from_raw, typed_zone=False)
    assert not (from_raw.root / "typed").exists()

    lake = build(tmp_path / "typed")
    for day in raw_days(lake):  # night after night: each run parses its days and keeps them typed
        run_lake(lake.url, [day], quarantine_threshold=1.0)
    written = typed_files(lake.root)
    assert len(written) == 4 * len(raw_days(lake))  # rows + rejects, sales + inventory
    assert published_files(lake.root) == published_files(from_raw.root)

    engine = DuckDBEngine()
    again = run(lake, engine=engine)  # every day read typed, none parsed
    engine.close()
    assert [d.isoformat() for d in engine.typed_days["sales"]] == raw_days(lake)
    assert [d.isoformat() for d in engine.typed_days["inventory"]] == raw_days(lake)
    assert typed_files(lake.root) == written
    assert published_files(lake.root) == published_files(from_raw.root)
    assert again.counts == report.counts


def test_a_run_keeps_its_last_seven_days_typed_the_days_a_nightly_run_reads_again(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    days = [(dt.date(2026, 1, 4) + dt.timedelta(days=n)).isoformat() for n in range(10)]
    for day in days:
        lake.day(day, sales=[sale(1, 1, 10, day, "1", "10.00", "6.00")], inventory=[inv(day, 1, 10, 5, 0, 0)])
    run(lake)  # a backfill of all ten days
    assert sorted(p.name.removeprefix("dt=") for p in (lake.root / "typed").iterdir()) == days[3:]


def test_the_lines_that_cannot_be_split_come_back_from_the_typed_zone(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    good = [f"{i},10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00" for i in range(9000, 9100)]
    lines = [HEADER, *good, f"9999,10,1,{DAY},1200,2.00", f"9998,10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00,X"]
    lake.day(DAY, raw_sales=("\n".join(lines) + "\n").encode(), inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    run(lake)
    before = quarantine_rows(lake, "sales")
    engine = DuckDBEngine()
    run(lake, engine=engine)
    engine.close()
    assert engine.typed_days["sales"] == [dt.date.fromisoformat(DAY)]
    assert [(r["source_file"], r["source_line"], r["reason"]) for r in quarantine_rows(lake, "sales")] == [
        (f"raw/dt={DAY}/sales.csv.gz", 102, "the line does not split into the header fields"),
        (f"raw/dt={DAY}/sales.csv.gz", 103, "the line does not split into the header fields"),
    ]
    assert quarantine_rows(lake, "sales") == before


def test_a_reexported_day_is_parsed_again_and_its_old_typed_files_go(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=[sale(1, 1, 10, DAY, "1", "10.00", "6.00")], inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    run(lake)
    old = typed_files(lake.root)
    lake.day(DAY, sales=[sale(1, 1, 10, DAY, "7", "70.00", "6.00")], inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    engine = DuckDBEngine()
    run(lake, engine=engine)
    engine.close()
    assert engine.typed_days["sales"] == []  # the new version was parsed, not read
    new = typed_files(lake.root)
    assert len(new) == len(old) == 4 and not set(new) & set(old)
    con = duckdb.connect()
    [(qty,)] = con.execute(
        "SELECT total_sales_qty FROM read_parquet($glob)",
        {"glob": str(lake.root / "curated/weekly_sales_inventory/*/*.parquet")},
    ).fetchall()
    assert str(qty) == "7.00"


def test_a_day_missing_from_the_calendar_is_parsed_from_raw_with_its_delivered_text(tmp_path):
    lake = LakeBuilder(tmp_path / "lake", calendar=calendar_csv(skip_day="2026-01-06"))
    lake.day("2026-01-05", sales=[sale(1, 1, 10, "2026-01-05", "1", "10.00", "6.00")])
    lake.day("2026-01-06", sales=[sale(2, 1, 10, "2026-01-06", "3", "10.5", "6.00")])
    for _ in range(2):
        engine = DuckDBEngine()
        run(lake, engine=engine)
        engine.close()
        [row] = quarantine_rows(lake, "sales")
        assert row["reason"] == "trans_dt 2026-01-06 is not in the calendar"
        assert (row["sales_qty"], row["sales_amt"]) == ("3", "10.5")  # as delivered, not 3.00 / 10.50
    assert engine.typed_days["sales"] == [dt.date(2026, 1, 5)]


def test_deleting_the_typed_zone_rebuilds_it_and_typed_zone_false_writes_none(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=[sale(1, 1, 10, DAY, "1", "10.00", "6.00")], inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    run(lake)
    written = typed_files(lake.root)
    shutil.rmtree(lake.root / "typed")
    run(lake)
    assert typed_files(lake.root) == written
    shutil.rmtree(lake.root / "typed")
    run(lake, typed_zone=False)
    assert not (lake.root / "typed").exists()


def test_days_a_week_older_than_the_newest_raw_day_are_swept(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    days = [(dt.date(2026, 1, 4) + dt.timedelta(days=n)).isoformat() for n in range(12)]
    for n, day in enumerate(days):
        lake.day(day, sales=[sale(n, 1, 10, day, "1", "10.00", "6.00")], inventory=[inv(day, 1, 10, 5, 0, 0)])
        if n < 5:  # five nights, each keeping its day typed
            run_lake(lake.url, [day])
    # The newest day is 2026-01-15: the five nights' days (01-04 .. 01-08) are more than a week older and go;
    # this run parses its week (01-11 .. 01-15) and keeps it.
    run_lake(lake.url, [days[-1]])
    assert sorted(p.name.removeprefix("dt=") for p in (lake.root / "typed").iterdir()) == days[7:]


def test_days_whose_raw_partition_is_gone_are_swept(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    for day in ("2026-01-05", "2026-01-06"):
        lake.day(day, sales=[sale(1, 1, 10, day, "1", "10.00", "6.00")], inventory=[inv(day, 1, 10, 5, 0, 0)])
    run(lake)
    shutil.rmtree(lake.root / "raw" / "dt=2026-01-05")
    run(lake)
    assert sorted(p.name for p in (lake.root / "typed").iterdir()) == ["dt=2026-01-06"]


@pytest.mark.parametrize("damage", ["truncated", "zeroed"])
def test_a_damaged_typed_file_is_parsed_again_and_rewritten(tmp_path, damage):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=[sale(1, 1, 10, DAY, "1", "10.00", "6.00")], inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    run(lake)
    expected = published_files(lake.root)
    [rows] = [p for p in (lake.root / "typed").rglob("sales.*.parquet") if ".rejects." not in p.name]
    data = rows.read_bytes()
    if damage == "truncated":  # an interrupted copy from elsewhere: no footer
        rows.write_bytes(data[:100])
    else:  # the first half zeroed
        rows.write_bytes(data[:4] + bytes(len(data) // 2 - 4) + data[len(data) // 2 :])
    engine = DuckDBEngine()
    run(lake, engine=engine)
    engine.close()
    assert engine.typed_days["sales"] == []  # parsed from raw
    rewritten = duckdb.connect().execute("SELECT * FROM read_parquet($f) ORDER BY ALL", {"f": str(rows)}).fetchall()
    assert rewritten and rows.read_bytes() != data[:100]  # and written whole again
    assert published_files(lake.root) == expected


def test_computes_racing_on_the_same_days_leave_one_whole_version_of_each_file(tmp_path):
    """Two orchestrated computes (no writer lease) parse the same days at once: content-addressed files,
    renamed into place, so both stage the same output and the zone holds whole files only."""
    lake_builder = build(tmp_path / "lake")
    config = settings(lake_builder.url, quarantine_threshold=1.0)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def one() -> None:
        try:
            lake = Lake(lake_builder.url)
            planned = stages.plan_weeks(config, Selection.of(None), lake=lake)
            barrier.wait()
            results.append((lake, stages.compute(config, planned, lake=lake)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    staged = [{w: lake.read_bytes(s.staged) for w, s in computed.weekly.items()} for lake, computed in results]
    assert staged[0] == staged[1]
    files = typed_files(lake_builder.root)
    assert not [f for f in files if "/_tmp." in f]
    per_table_day = [f.rsplit(".", 2)[0] if ".rejects." not in f else f.rsplit(".", 3)[0] for f in files]
    assert len(per_table_day) == 2 * len(set(per_table_day))  # one version: a rows and a rejects file each
    con = duckdb.connect()
    for f in files:  # every file whole
        con.execute("SELECT COUNT(*) FROM read_parquet($f)", {"f": str(lake_builder.root / f)}).fetchone()
    engine = DuckDBEngine()
    run(lake_builder, engine=engine)
    engine.close()
    newest = dt.date.fromisoformat(raw_days(lake_builder)[-1])
    kept = [d for d in raw_days(lake_builder) if dt.date.fromisoformat(d) > newest - dt.timedelta(days=7)]
    assert [d.isoformat() for d in engine.typed_days["sales"]] == kept


def test_the_fingerprint_changes_with_the_raw_version_the_file_and_the_rules():
    day = dt.date(2026, 1, 5)
    sql = typed_zone.parse_sql(SALES, DUCKDB, reader_options())
    base = typed_zone.fingerprint(SALES, day, "v1", "raw/dt=2026-01-05/sales.csv.gz", sql)
    assert base == typed_zone.fingerprint(SALES, day, "v1", "raw/dt=2026-01-05/sales.csv.gz", sql)
    assert base != typed_zone.fingerprint(SALES, day, "v2", "raw/dt=2026-01-05/sales.csv.gz", sql)
    assert base != typed_zone.fingerprint(SALES, day, "v1", "raw/dt=2026-01-05/sales.csv", sql)
    assert base != typed_zone.fingerprint(SALES, day, "v1", "raw/dt=2026-01-05/sales.csv.gz", sql + " ")
    assert "NOT regexp_matches" in sql and "max_line_size" in sql and "is not in the calendar" in sql
