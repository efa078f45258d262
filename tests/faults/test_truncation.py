"""Silent loss: a compressed file cut short is corrupt, never data; a file that yields another number of
rows than its manifest records fails its week."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib

import pytest

from retailflow.config import Settings
from retailflow.lake import Lake, layout
from retailflow.lake.rawzone import inspect_partition
from retailflow.pipeline import RunFailed, run
from tests.conftest import DAY as DAY_EXPORTED
from tests.transform.lakebuilder import LakeBuilder, run_lake, sale

DAY = "2026-01-05"


def _cut_at_a_row_boundary(data: bytes) -> bytes:
    """A gzip stream of the first half of ``data``'s lines: valid deflate blocks, no final block, no
    trailer (what a copy interrupted mid-file leaves)."""
    lines = data.split(b"\n")
    half = b"\n".join(lines[: len(lines) // 2]) + b"\n"
    stream = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return stream.compress(half) + stream.flush(zlib.Z_SYNC_FLUSH)  # no Z_FINISH: no trailer


def test_a_gzip_cut_at_a_row_boundary_is_corrupt_not_a_shorter_file(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    folder = lake.day(DAY, sales=[sale(i, 1, 10, DAY, 1, "2.00", "1.00") for i in range(1, 260)])
    lake.day("2026-01-06")  # a complete day of the same week: the run has dimensions to read
    whole = gzip.decompress((folder / "sales.csv.gz").read_bytes())
    cut = _cut_at_a_row_boundary(whole)
    assert zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(cut).count(b"\n") > 100  # it reads as data
    (folder / "sales.csv.gz").write_bytes(cut)

    state = inspect_partition(Lake(lake.url), dt.date.fromisoformat(DAY), allow_manifestless=True)
    assert not state.complete
    assert state.problems == ["sales.csv.gz is cut short: its gzip stream ends without its trailer (re-deliver it)"]
    with pytest.raises(RunFailed, match="sales.csv.gz is cut short: its gzip stream ends without its trailer"):
        run_lake(lake.url, [DAY])
    assert not lake.week_file(202602).exists()


def test_not_gzip_at_all_is_corrupt(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    folder = lake.day(DAY, sales=[sale(1, 1, 10, DAY, 1, "2.00", "1.00")])
    (folder / "inventory.csv.gz").write_bytes(b"INVENTORY,NOT,GZIPPED\n")
    state = inspect_partition(Lake(lake.url), dt.date.fromisoformat(DAY), allow_manifestless=True)
    assert [p.split(" (")[0] for p in state.problems] == ["inventory.csv.gz is not a valid gzip file"]


@pytest.fixture
def exported_lake(lake, exported):
    return lake, DAY_EXPORTED


def test_rows_must_match_the_manifest(exported_lake):
    """A manifest whose row count disagrees with what its (hash-verified) file yields fails the week."""
    lake, day = exported_lake
    manifest_path = layout.manifest(day)
    manifest = lake.read_json(manifest_path)
    sales = next(n for n in manifest["files"] if n.startswith("sales"))
    manifest["files"][sales]["rows"] += 1
    lake.write_bytes(manifest_path, json.dumps(manifest).encode())
    with pytest.raises(RunFailed, match=r"yielded \d+ rows but the manifest records \d+; re-export the day"):
        run(Settings(lake=lake.url), [day])


def test_rows_matching_the_manifest_pass(exported_lake):
    lake, day = exported_lake
    report = run(Settings(lake=lake.url), [day])
    manifest = lake.read_json(layout.manifest(day))
    sales = next(e for n, e in manifest["files"].items() if n.startswith("sales"))
    assert (
        next(c for c in report.counts if c["table"] == "sales" and c["day"] == day.isoformat())["read"] == sales["rows"]
    )
