from __future__ import annotations

import datetime as dt
import json

from retailflow.lake import layout
from retailflow.lake.rawzone import inspect_partition, raw_days
from retailflow.tables import CALENDAR
from tests.rawfiles import write_partition

TABLES = ["sales", "inventory", "store", "product", "calendar"]


def read_manifest(partition):
    return json.loads((partition / layout.MANIFEST_NAME).read_text())


def write_manifest(partition, doc):
    (partition / layout.MANIFEST_NAME).write_text(json.dumps(doc))


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


# -- an exported partition ----------------------------------------------------------------------------


def test_exported_partition_is_complete(lake, day, exported):
    state = inspect_partition(lake, day)
    assert state.complete and state.exists and state.has_manifest
    assert state.files == {t: f"{t}.csv.gz" for t in TABLES}
    assert state.version == exported.manifest_sha256
    assert "is complete (manifest verified)" in state.describe()


def test_absent_partition_misses_everything(lake, day):
    state = inspect_partition(lake, day)
    assert not state.exists and not state.complete
    assert state.missing == TABLES
    assert state.version is None


def test_missing_files_are_listed(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    (partition / "store.csv").unlink()
    (partition / "calendar.csv").unlink()
    state = inspect_partition(lake, day)
    assert not state.complete
    assert state.missing == ["store", "calendar"]
    assert state.problems == []
    assert "missing store.csv[.gz], calendar.csv[.gz]" in state.describe()


def test_missing_file_of_an_exported_partition_is_missing_and_corrupt(lake, day, partition):
    (partition / "inventory.csv.gz").unlink()
    state = inspect_partition(lake, day)
    assert state.missing == ["inventory"]
    assert any("inventory.csv.gz is listed in the manifest but absent" in p for p in state.problems)


def test_zero_byte_file_is_a_problem(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    (partition / "sales.csv").write_bytes(b"")
    state = inspect_partition(lake, day)
    assert not state.complete
    assert state.problems == ["sales.csv is empty (0 bytes)"]
    assert "corrupt" in state.describe()


def test_both_compressed_and_plain_variants_is_a_problem(lake, day, partition):
    (partition / "sales.csv").write_text("trans_id\n")
    state = inspect_partition(lake, day)
    assert not state.complete
    assert any("both sales.csv.gz and sales.csv" in p for p in state.problems)


def test_changed_size_does_not_match_the_manifest(lake, day, partition):
    with open(partition / "inventory.csv.gz", "ab") as handle:
        handle.write(b"more")
    state = inspect_partition(lake, day)
    assert not state.complete
    assert any("inventory.csv.gz has" in p and "the manifest says" in p for p in state.problems)


def test_same_size_different_content_does_not_match_the_manifest(lake, day, partition):
    size = (partition / "store.csv.gz").stat().st_size
    flip_last_byte(partition / "store.csv.gz")
    assert (partition / "store.csv.gz").stat().st_size == size
    state = inspect_partition(lake, day)
    assert not state.complete
    assert state.problems == ["store.csv.gz does not match its sha256 in the manifest"]


def test_same_size_change_is_not_seen_without_hash_verification(lake, day, partition):
    flip_last_byte(partition / "store.csv.gz")
    assert inspect_partition(lake, day, verify_hashes=False).complete


def test_manifest_listing_an_absent_file_is_corrupt(lake, day, partition):
    doc = read_manifest(partition)
    doc["files"]["returns.csv.gz"] = {"rows": 1, "bytes": 10, "sha256": "0" * 64}
    write_manifest(partition, doc)
    state = inspect_partition(lake, day)
    assert not state.complete
    assert state.problems == ["returns.csv.gz is listed in the manifest but absent"]


def test_file_not_in_the_manifest_is_corrupt(lake, day, partition):
    doc = read_manifest(partition)
    del doc["files"]["product.csv.gz"]
    write_manifest(partition, doc)
    state = inspect_partition(lake, day)
    assert not state.complete
    assert state.problems == ["product.csv.gz is not in the manifest"]


def test_replaced_variant_is_absent_and_not_in_the_manifest(lake, day, partition, tmp_path):
    (partition / "calendar.csv.gz").unlink()
    write_partition(tmp_path / "lake", day, tables=[CALENDAR])
    state = inspect_partition(lake, day)
    assert not state.complete
    assert "calendar.csv.gz is listed in the manifest but absent" in state.problems
    assert "calendar.csv is not in the manifest" in state.problems


def test_unreadable_manifest_is_corrupt(lake, day, partition):
    (partition / layout.MANIFEST_NAME).write_text("{not json")
    state = inspect_partition(lake, day)
    assert state.has_manifest and not state.complete
    assert any("_manifest.json is unreadable" in p for p in state.problems)
    assert "corrupt" in state.describe()


def test_manifest_without_files_object_is_corrupt(lake, day, partition):
    write_manifest(partition, {"format": "retailflow-raw-manifest/1", "files": ["sales.csv.gz"]})
    state = inspect_partition(lake, day)
    assert not state.complete
    assert any("unreadable" in p for p in state.problems)


def test_manifest_entry_without_sha256_is_corrupt(lake, day, partition):
    doc = read_manifest(partition)
    del doc["files"]["sales.csv.gz"]["sha256"]
    write_manifest(partition, doc)
    assert not inspect_partition(lake, day).complete


# -- an outside producer's partition (no manifest), where the settings accept one -----------------------

OUTSIDE = {"allow_manifestless": True}  # settings.allow_manifestless: outside producers write this lake


def test_outside_producer_partition_is_complete(lake, day, tmp_path):
    write_partition(tmp_path / "lake", day, header_case="lower")
    state = inspect_partition(lake, day, **OUTSIDE)
    assert state.complete and not state.has_manifest
    assert state.files == {t: f"{t}.csv" for t in TABLES}
    assert state.version and len(state.version) == 64
    assert "is complete (no manifest)" in state.describe()


def test_outside_producer_version_follows_content(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    first = inspect_partition(lake, day, **OUTSIDE).version
    write_partition(tmp_path / "lake", day)  # the same bytes again
    assert inspect_partition(lake, day, **OUTSIDE).version == first
    flip_last_byte(partition / "product.csv")
    changed = inspect_partition(lake, day, **OUTSIDE).version
    assert changed != first


def test_gzipped_outside_producer_partition_is_complete(lake, day, tmp_path):
    write_partition(tmp_path / "lake", day, gzip=True, header_case="upper")
    state = inspect_partition(lake, day, **OUTSIDE)
    assert state.complete
    assert state.files["sales"] == "sales.csv.gz"


def test_header_only_fact_files_are_complete(lake, day, tmp_path):
    write_partition(tmp_path / "lake", day, rows={"sales": [], "inventory": []})
    assert inspect_partition(lake, day, **OUTSIDE).complete


def test_temporary_files_are_ignored(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    (partition / f"{layout.TMP_PREFIX}0123.sales.csv.gz").write_bytes(b"")
    (partition / f"{layout.TMP_PREFIX}0123._manifest.json").write_text("{broken")
    state = inspect_partition(lake, day, **OUTSIDE)
    assert state.complete and not state.has_manifest


def test_temporary_file_does_not_count_as_the_file(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    (partition / "sales.csv").rename(partition / f"{layout.TMP_PREFIX}0123.sales.csv")
    assert inspect_partition(lake, day, **OUTSIDE).missing == ["sales"]


def test_temporary_files_beside_a_manifest_are_ignored(lake, day, partition):
    (partition / f"{layout.TMP_PREFIX}0123.store.csv.gz").write_bytes(b"half")
    assert inspect_partition(lake, day, **OUTSIDE).complete


def test_partition_without_a_manifest_is_not_complete_by_default(lake, day, tmp_path):
    write_partition(tmp_path / "lake", day)
    state = inspect_partition(lake, day)
    assert not state.complete and state.exists and state.lacks_manifest
    assert state.missing == [] and state.problems == []
    assert state.version is None
    text = state.describe()
    assert "no _manifest.json" in text and "Re-export the day" in text
    assert "allow_manifestless = true" in text and "RETAILFLOW_ALLOW_MANIFESTLESS=true" in text
    assert "\n" not in text


def test_exported_partition_without_its_manifest_is_not_complete(lake, day, partition):
    (partition / layout.MANIFEST_NAME).unlink()  # an export killed right before its manifest
    assert inspect_partition(lake, day).lacks_manifest
    assert not inspect_partition(lake, day).complete


# -- an export in progress, or killed ----------------------------------------------------------------


def test_export_marker_makes_a_whole_partition_not_ready(lake, day, partition):
    (partition / layout.EXPORT_MARKER_NAME).write_text("{}")
    for allow in (False, True):
        state = inspect_partition(lake, day, allow_manifestless=allow)
        assert not state.complete and state.export_in_progress and not state.lacks_manifest
        assert "export in progress or interrupted" in state.describe()
        assert "re-export the day" in state.describe()


def test_export_marker_beside_manifestless_files(lake, day, tmp_path):
    partition = write_partition(tmp_path / "lake", day)
    (partition / layout.EXPORT_MARKER_NAME).write_text("{}")
    state = inspect_partition(lake, day, allow_manifestless=True)
    assert not state.complete and state.export_in_progress


def test_only_the_marker_is_a_partition_that_exists(lake, day, tmp_path):
    folder = tmp_path / "lake" / layout.raw_partition(day)
    folder.mkdir(parents=True)
    (folder / layout.EXPORT_MARKER_NAME).write_text("{}")
    state = inspect_partition(lake, day)
    assert state.exists and not state.complete
    assert "export in progress or interrupted" in state.describe()


# -- listing days -------------------------------------------------------------------------------------


def test_raw_days_lists_only_day_partitions(lake, tmp_path):
    raw = tmp_path / "lake" / "raw"
    for name in (
        "dt=2026-01-06",
        "dt=2026-01-04",
        "dt=2026-13-01",
        "dt=20260105",
        "dt=bad",
        "other",
        f"{layout.TMP_PREFIX}dt=2026-01-08",
    ):
        (raw / name).mkdir(parents=True)
    (raw / "dt=2026-01-07").write_text("a file, not a folder")
    assert raw_days(lake) == [dt.date(2026, 1, 4), dt.date(2026, 1, 6)]


def test_raw_days_of_an_empty_lake(lake):
    assert raw_days(lake) == []
