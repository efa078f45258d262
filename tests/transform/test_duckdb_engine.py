"""The DuckDB engine's raw reading of long lines (raw-zone.md: a line over 64 MiB is quarantined whole).

A run reads a file in one of two ways: a nightly run's one new file (fewer files than threads) into a table
first, any other through a view. Both must read the same lines the same way.
"""

from __future__ import annotations

import datetime as dt
import gzip

import pytest

from retailflow.lake import manifest
from retailflow.pipeline import RunFailed
from retailflow.tables import SALES
from retailflow.transform.duckdb_engine import DuckDBEngine
from retailflow.transform.duckdb_raw import MAX_LINE_BYTES
from retailflow.transform.plan import REJECT_REASONS
from tests.transform.lakebuilder import (
    LakeBuilder,
    inv,
    published_files,
    quarantine_rows,
    run_lake,
    sale,
    weekly_rows,
)

DAY = "2026-01-05"


def sales_with_note(note_chars: int) -> bytes:
    """Three sales of product 10; the second carries an extra column (ignored by the contract) of
    ``note_chars`` characters."""
    rows = [sale(n, 1, 10, DAY, str(n), f"{n}0.00", "1.00") for n in (1, 2, 3)]
    header = ",".join(c.upper() for c in SALES.column_names) + ",NOTE\n"
    lines = [",".join(str(r[c]) for c in SALES.column_names) for r in rows]
    notes = ["a", "x" * note_chars, "b"]
    return (header + "".join(f"{line},{note}\n" for line, note in zip(lines, notes, strict=True))).encode()


def run_day(lake: LakeBuilder, raw_sales: bytes, threads: int) -> None:
    lake.day(DAY, raw_sales=raw_sales, inventory=[inv(DAY, 1, 10, 4, 0, 0)])
    run_lake(lake.url, [DAY], engine=DuckDBEngine(threads=threads), quarantine_threshold=1.0)


@pytest.mark.parametrize("threads", [2, 1], ids=["file-read-into-a-table", "file-read-through-a-view"])
def test_a_line_over_64_mib_is_quarantined_whole_for_its_length(tmp_path, threads):
    lake = LakeBuilder(tmp_path / "lake")
    run_day(lake, sales_with_note(MAX_LINE_BYTES + 1000), threads)
    assert [(q["source_file"], q["source_line"], q["reason"]) for q in quarantine_rows(lake, "sales")] == [
        (f"raw/dt={DAY}/sales.csv.gz", 3, REJECT_REASONS["size"])
    ]
    (week,) = weekly_rows(lake, "store_key = 1 AND prod_key = 10")
    assert week["total_sales_qty"] == 1 + 3


def test_both_ways_of_reading_publish_the_same_bytes(tmp_path):
    lakes = [LakeBuilder(tmp_path / f"lake{threads}") for threads in (1, 2)]
    for lake, threads in zip(lakes, (1, 2), strict=True):
        run_day(lake, sales_with_note(MAX_LINE_BYTES - 1000), threads)
        (week,) = weekly_rows(lake, "store_key = 1 AND prod_key = 10")
        assert week["total_sales_qty"] == 1 + 2 + 3  # a line just under the limit is an ordinary line
    assert published_files(lakes[0].root) == published_files(lakes[1].root)


def with_manifest(folder) -> None:
    """A manifest for a built partition (every file's data rows: its lines less the header)."""
    files = {}
    for path in sorted(folder.glob("*.csv.gz")):
        data = path.read_bytes()
        rows = gzip.decompress(data).count(b"\n") - 1
        files[path.name] = manifest.FileEntry(rows, len(data), manifest.digest(data))
    day = dt.date.fromisoformat(DAY)
    doc = manifest.build(day, files, "duckdb:///test.duckdb", dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    (folder / "_manifest.json").write_bytes(manifest.encode(doc))


def test_a_line_the_reader_drops_unrecorded_fails_the_manifests_row_count(tmp_path):
    """DuckDB 1.5's reader, keeping rejects, drops a line over twice its buffer (128 MiB) without recording
    it. A partition with a manifest (retailflow's exporter writes one) catches it: the day fails."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, raw_sales=sales_with_note(2 * MAX_LINE_BYTES + 1000), inventory=[inv(DAY, 1, 10, 4, 0, 0)])
    with_manifest(lake.root / "raw" / f"dt={DAY}")
    with pytest.raises(RunFailed, match="sales of 2026-01-05: its file yielded 2 rows but the manifest records 3"):
        run_lake(lake.url, [DAY], allow_manifestless=False, quarantine_threshold=1.0)
