"""Dialect.pack_texts / unpack_text: delivered texts survive the trip through one packed column exactly."""

from __future__ import annotations

import duckdb

from retailflow.transform.dialect import DUCKDB

TEXTS = ['a "quoted", field', "back\\slash", "line\nbreak", "tab\tand ünïcödé ✓", "", None, "null", "[1,2]"]


def test_texts_come_back_exactly_nulls_included():
    con = duckdb.connect()
    items = [f"CAST(${i} AS VARCHAR)" for i in range(1, len(TEXTS) + 1)]
    packed = DUCKDB.pack_texts(items)
    unpacked = ", ".join(DUCKDB.unpack_text("p", i) for i in range(len(TEXTS)))
    row = con.execute(f"SELECT {unpacked} FROM (SELECT {packed} AS p) t", TEXTS).fetchone()
    assert list(row) == TEXTS
