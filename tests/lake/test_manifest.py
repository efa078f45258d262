"""The raw manifest (lake/manifest.py): whatever source URL the exporter passes, it is recorded redacted."""

from __future__ import annotations

import datetime as dt

from retailflow.lake import manifest
from retailflow.lake.manifest import FileEntry


def test_build_records_the_source_without_its_password():
    files = {"sales.csv.gz": FileEntry(rows=1, bytes=10, sha256="0" * 64)}
    doc = manifest.build(
        dt.date(2026, 1, 5), files, "snowflake://admin:hunter2@acct/db?token=t0k3n", dt.datetime(2026, 1, 6, 2, 0)
    )
    assert doc["source"] == "snowflake://admin:***@acct/db?token=***"
    assert b"hunter2" not in manifest.encode(doc) and b"t0k3n" not in manifest.encode(doc)
    assert manifest.parse(manifest.encode(doc)) == files


def test_a_source_without_secrets_is_kept():
    doc = manifest.build(dt.date(2026, 1, 5), {}, "duckdb:///source.duckdb", dt.datetime(2026, 1, 6, 2, 0))
    assert doc["source"] == "duckdb:///source.duckdb"
