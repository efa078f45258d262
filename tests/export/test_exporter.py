from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from retailflow.errors import LakeError, SourceError
from retailflow.export import export_days
from retailflow.lake import Lake, layout
from retailflow.lake.rawzone import inspect_partition
from retailflow.source import open_source
from retailflow.source.dims import create_table_sql
from retailflow.source.duckdb_source import url_of
from retailflow.tables import ALL_TABLES, INVENTORY, SALES, TABLES

DATA_FILES = sorted(f"{t.name}.csv.gz" for t in ALL_TABLES)


def csv_rows(path: Path) -> list[list[str]]:
    """All lines of a gzipped raw file, header first, parsed as CSV."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def file_hashes(partition: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in partition.iterdir() if p.name in DATA_FILES}


def temporaries(root: Path) -> list[str]:
    return [p.name for p in root.rglob(f"{layout.TMP_PREFIX}*")] if root.exists() else []


def manifest_of(partition: Path) -> dict:
    return json.loads((partition / layout.MANIFEST_NAME).read_text())


# -- what an export writes ----------------------------------------------------------------------------


def test_export_writes_five_gzipped_files_and_a_manifest(partition):
    assert sorted(p.name for p in partition.iterdir()) == sorted(DATA_FILES + [layout.MANIFEST_NAME])
    for name in DATA_FILES:
        assert (partition / name).read_bytes()[:2] == b"\x1f\x8b", name


def test_manifest_matches_the_files(partition, exported, day, source_url):
    doc = manifest_of(partition)
    assert doc["format"] == "retailflow-raw-manifest/1"
    assert doc["dt"] == day.isoformat()
    assert doc["source"] == source_url
    assert doc["exported_at"].endswith("Z")
    assert sorted(doc["files"]) == DATA_FILES
    for name, entry in doc["files"].items():
        data = (partition / name).read_bytes()
        assert entry["bytes"] == len(data), name
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["rows"] == len(csv_rows(partition / name)) - 1, name
        assert exported.files[name].sha256 == entry["sha256"]
    assert exported.manifest_sha256 == hashlib.sha256((partition / layout.MANIFEST_NAME).read_bytes()).hexdigest()


def test_headers_are_the_contract_columns_upper_case(partition):
    for table in ALL_TABLES:
        assert csv_rows(partition / f"{table.name}.csv.gz")[0] == [c.upper() for c in table.column_names]


def test_null_is_written_as_backslash_n(partition):
    header, *rows = csv_rows(partition / "store.csv.gz")
    region = header.index("REGION")
    assert len(rows) == 151
    assert {row[region] for row in rows} == {"\\N"}
    raw = gzip.decompress((partition / "store.csv.gz").read_bytes()).decode()
    assert ",\\N," in raw


def test_fact_rows_are_all_of_the_day(partition, day):
    for table in (SALES, INVENTORY):
        header, *rows = csv_rows(partition / f"{table.name}.csv.gz")
        at = header.index(table.date_column.upper())
        assert rows and {row[at] for row in rows} == {day.isoformat()}, table.name


def test_row_counts_match_the_source(exported, source_con, day):
    for table in (SALES, INVENTORY):
        count = source_con.execute(
            f"SELECT count(*) FROM {table.name} WHERE {table.date_column} = ?", [day]
        ).fetchone()[0]
        assert exported.files[f"{table.name}.csv.gz"].rows == count, table.name
    assert exported.fact_rows == exported.files["sales.csv.gz"].rows + exported.files["inventory.csv.gz"].rows


def test_values_survive_the_round_trip(partition, source_con, day):
    header, *rows = csv_rows(partition / "sales.csv.gz")
    first = dict(zip(header, rows[0], strict=True))
    expected = source_con.execute(
        "SELECT trans_id, sales_qty, sales_amt FROM sales WHERE trans_dt = ? ORDER BY ALL LIMIT 1", [day]
    ).fetchone()
    assert (int(first["TRANS_ID"]), first["SALES_QTY"], first["SALES_AMT"]) == (
        expected[0],
        f"{expected[1]:.2f}",
        f"{expected[2]:.2f}",
    )


def test_exported_partition_is_complete(lake, day, exported):
    state = inspect_partition(lake, day)
    assert state.complete and state.has_manifest
    assert state.version == exported.manifest_sha256


def test_day_without_facts_is_header_only_and_complete(source, lake, empty_day):
    (result,) = export_days(source, lake, [empty_day])
    partition = Path(lake.path(layout.raw_partition(empty_day)))
    for table in (SALES, INVENTORY):
        assert csv_rows(partition / f"{table.name}.csv.gz") == [[c.upper() for c in table.column_names]]
        assert result.files[f"{table.name}.csv.gz"].rows == 0
    assert result.fact_rows == 0
    assert inspect_partition(lake, empty_day).complete


def test_several_days_in_parallel(source, lake, spec):
    days = [spec.start + dt.timedelta(days=i) for i in range(5)]
    done = []
    results = export_days(source, lake, days, threads=3, on_day_done=lambda r: done.append(r.day))
    assert [r.day for r in results] == days
    assert sorted(done) == days
    assert all(inspect_partition(lake, d).complete for d in days)


def test_gzip_level_changes_bytes_not_content(source, tmp_path, day):
    fast, small = Lake(str(tmp_path / "fast")), Lake(str(tmp_path / "small"))
    export_days(source, fast, [day], gzip_level=1)
    export_days(source, small, [day], gzip_level=9)
    name = f"{layout.raw_partition(day)}/calendar.csv.gz"
    assert gzip.decompress(fast.read_bytes(name)) == gzip.decompress(small.read_bytes(name))
    assert len(small.read_bytes(name)) < len(fast.read_bytes(name))


# -- re-export ----------------------------------------------------------------------------------------


def test_reexport_replaces_the_partition_and_removes_strays(source, lake, day, partition):
    (partition / "sales.csv").write_text("trans_id\n1\n")  # an outside producer's variant
    (partition / "inventory.csv").write_text("cal_dt\n")
    (partition / f"{layout.TMP_PREFIX}dead.sales.csv.gz").write_bytes(b"left by a killed export")
    (partition / "sales.csv.gz").write_bytes(b"old")
    export_days(source, lake, [day])
    assert sorted(p.name for p in partition.iterdir()) == sorted(DATA_FILES + [layout.MANIFEST_NAME])
    assert inspect_partition(lake, day).complete


def test_unchanged_data_gives_identical_files_and_a_new_manifest(source, lake, day, partition, exported):
    before, manifest_before = file_hashes(partition), manifest_of(partition)
    (again,) = export_days(source, lake, [day])
    assert file_hashes(partition) == before
    manifest_after = manifest_of(partition)
    assert manifest_after["files"] == manifest_before["files"]
    assert manifest_after["exported_at"] != manifest_before["exported_at"]
    assert again.manifest_sha256 != exported.manifest_sha256


def test_changed_data_replaces_the_facts(lake, day, partition, other_source_db):
    before = file_hashes(partition)
    other = open_source(url_of(other_source_db))
    try:
        export_days(other, lake, [day])
    finally:
        other.close()
    after = file_hashes(partition)
    assert after["sales.csv.gz"] != before["sales.csv.gz"]
    assert after["store.csv.gz"] == before["store.csv.gz"]  # same shipped dimension tables
    assert inspect_partition(lake, day).complete


# -- failures -----------------------------------------------------------------------------------------


def fail_on_inventory(monkeypatch, source):
    """Make the (real) source's read_day fail on the inventory table, after sales was read and written."""
    real_read_day = source.read_day

    def read_day(table, day):
        if table.name == INVENTORY.name:
            raise RuntimeError("connection lost while reading inventory")
        return real_read_day(table, day)

    monkeypatch.setattr(source, "read_day", read_day)


def test_failed_export_of_a_new_day_leaves_nothing_complete(monkeypatch, source, lake, day):
    fail_on_inventory(monkeypatch, source)
    with pytest.raises(RuntimeError, match="connection lost"):
        export_days(source, lake, [day])
    assert not inspect_partition(lake, day).complete
    assert temporaries(Path(lake.path())) == []


def test_failed_reexport_keeps_the_old_partition(monkeypatch, lake, day, partition, exported, other_source_db):
    before = file_hashes(partition)
    other = open_source(url_of(other_source_db))
    try:
        fail_on_inventory(monkeypatch, other)
        with pytest.raises(RuntimeError):
            export_days(other, lake, [day])
    finally:
        other.close()
    state = inspect_partition(lake, day)
    assert temporaries(Path(lake.path())) == []
    if state.complete:  # then it must be the old partition, whole: the old manifest and the old files
        assert state.version == exported.manifest_sha256
        assert file_hashes(partition) == before


@pytest.mark.parametrize("failing", ["inventory.csv.gz", "store.csv.gz", "sales.csv.gz", layout.MANIFEST_NAME])
def test_failure_while_publishing_never_leaves_a_complete_mix(
    monkeypatch, tmp_path, lake, day, partition, other_source_db, failing
):
    old = file_hashes(partition)
    other = open_source(url_of(other_source_db))
    try:
        reference = Lake(str(tmp_path / "reference"))
        export_days(other, reference, [day])
        new = file_hashes(Path(reference.path(layout.raw_partition(day))))
        assert new["sales.csv.gz"] != old["sales.csv.gz"]

        real_commit = lake.commit

        def commit(tmp, relative):
            if relative.endswith(f"/{failing}"):
                raise OSError(f"network error while publishing {failing}")
            return real_commit(tmp, relative)

        monkeypatch.setattr(lake, "commit", commit)
        with pytest.raises(OSError, match="network error"):
            export_days(other, lake, [day])
    finally:
        other.close()

    state = inspect_partition(lake, day)
    assert temporaries(Path(lake.path())) == []
    if state.complete:
        assert file_hashes(partition) in (old, new), "a complete partition mixing two exports"


def make_source(path: Path, skip_table: str | None = None, drop_column: tuple[str, str] | None = None) -> str:
    con = duckdb.connect(str(path))
    for table in ALL_TABLES:
        if table.name != skip_table:
            con.execute(create_table_sql(table))
    if drop_column:
        con.execute(f"ALTER TABLE {drop_column[0]} DROP COLUMN {drop_column[1]}")
    con.close()
    return url_of(path)


@pytest.mark.parametrize(
    "broken, named",
    [({"skip_table": "calendar"}, "calendar"), ({"drop_column": ("inventory", "waste_qty")}, "waste_qty")],
)
def test_incomplete_source_fails_before_anything_is_written(tmp_path, lake, day, broken, named):
    src = open_source(make_source(tmp_path / "broken.duckdb", **broken))
    try:
        with pytest.raises(SourceError, match=named):
            export_days(src, lake, [day])
    finally:
        src.close()
    assert not Path(lake.path()).exists()


def test_unwritable_lake_fails_and_writes_nothing(tmp_path, source, day):
    (tmp_path / "afile").write_text("a file where the lake's parent folder should be")
    lake = Lake(str(tmp_path / "afile" / "lake"))
    with pytest.raises(LakeError):
        export_days(source, lake, [day])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    assert (tmp_path / "afile").read_text() == "a file where the lake's parent folder should be"


def test_manifest_never_carries_credentials():
    from retailflow.lake import manifest

    built = manifest.build(
        dt.date(2026, 1, 5), {}, "postgresql://user:secret@db.example.com/retail", dt.datetime(2026, 1, 6)
    )
    assert built["source"] == "postgresql://user:***@db.example.com/retail"
    assert (
        manifest.build(dt.date(2026, 1, 5), {}, "duckdb:///source.duckdb", dt.datetime(2026, 1, 6))["source"]
        == "duckdb:///source.duckdb"
    )


def test_every_contract_table_is_exported(exported):
    assert sorted(exported.files) == sorted(f"{name}.csv.gz" for name in TABLES)
    assert exported.files["store.csv.gz"].rows == 151
    assert exported.files["product.csv.gz"].rows == 1215  # the real table, duplicated keys included
