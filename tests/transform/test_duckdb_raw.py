"""Reading raw files through a real DuckDB connection, whoever wrote them (lake/rawformat.py's rules).

Files are written where they live in a lake, raw/dt=YYYY-MM-DD/<table>.csv[.gz], and read with
transform.duckdb_raw.raw_files_select (header read by lake/rawheader.py, columns mapped by
lake/rawformat.map_columns).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from retailflow.errors import LakeError
from retailflow.lake import layout
from retailflow.lake.rawheader import read_header
from retailflow.tables import CALENDAR, INVENTORY, SALES, STORE
from retailflow.transform.duckdb_raw import raw_files_select
from tests.rawfiles import csv_bytes, sample_rows, write_raw_file


@pytest.fixture
def con():
    con = duckdb.connect()
    yield con
    con.close()


def relative(day: dt.date, name: str) -> str:
    return f"{layout.raw_partition(day)}/{name}"


def put(lake, day, name, table, rows, **options) -> str:
    """Write a raw file into the lake's partition of ``day``; returns its lake-relative path."""
    rel = relative(day, name)
    write_raw_file(Path(lake.path(rel)), table, rows, **options)
    return rel


def put_bytes(lake, day, name, data: bytes) -> str:
    rel = relative(day, name)
    path = Path(lake.path(rel))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


def read(con, lake, table, *files: tuple[dt.date, str]) -> list[dict]:
    """The files' rows as dicts (contract columns + partition_dt), via raw_files_select."""
    cursor = con.execute(raw_files_select(lake, table, list(files)))
    names = [d[0] for d in cursor.description]
    return sorted(
        (dict(zip(names, row, strict=True)) for row in cursor.fetchall()), key=lambda r: [str(v) for v in r.values()]
    )


def expected(rows, day):
    return sorted(({**row, "partition_dt": day} for row in rows), key=lambda r: [str(v) for v in r.values()])


# -- formats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, gz", [("sales.csv", False), ("sales.csv.gz", True)])
def test_plain_and_gzipped_files(con, lake, day, name, gz):
    rows = sample_rows(SALES, day, 3)
    rel = put(lake, day, name, SALES, rows, gzip=gz)
    assert read(con, lake, SALES, (day, rel)) == expected(rows, day)


@pytest.mark.parametrize("header_case", ["lower", "upper", "mixed"])
@pytest.mark.parametrize("column_order", [None, "reversed"])
def test_any_header_case_and_column_order(con, lake, day, header_case, column_order):
    rows = sample_rows(INVENTORY, day)
    rel = put(lake, day, "inventory.csv", INVENTORY, rows, header_case=header_case, column_order=column_order)
    result = read(con, lake, INVENTORY, (day, rel))
    assert result == expected(rows, day)
    assert list(result[0]) == INVENTORY.column_names + ["partition_dt"]


def test_extra_columns_are_ignored(con, lake, day):
    rows = sample_rows(CALENDAR, day)
    rel = put(lake, day, "calendar.csv", CALENDAR, rows, extra_columns={"loaded_at": "2026-01-06", "batch": 7})
    assert read(con, lake, CALENDAR, (day, rel)) == expected(rows, day)


def test_an_extra_dt_column_does_not_replace_the_partition_day(con, lake, day):
    rows = sample_rows(SALES, day)
    rel = put(lake, day, "sales.csv", SALES, rows, extra_columns={"dt": "1999-12-31"})
    assert read(con, lake, SALES, (day, rel)) == expected(rows, day)


@pytest.mark.parametrize("null", ["\\N", "", "\\\\N"])
def test_null_tokens_read_as_null(con, lake, day, null):
    rows = sample_rows(STORE, day, 1)
    rows[0]["region"] = None
    rows[0]["latitude"] = None
    rel = put(lake, day, "store.csv", STORE, rows, null=null)
    (row,) = read(con, lake, STORE, (day, rel))
    assert row["region"] is None and row["latitude"] is None
    assert row["store_desc"] == "store_desc-0"


def test_quoted_empty_field_is_null_too(con, lake, day):
    header = ",".join(CALENDAR.column_names)
    rel = put_bytes(
        lake, day, "calendar.csv", (header + '\n2026-01-05,"",1,Monday,2026,2,202602,1,20261,1,20261\n').encode()
    )
    (row,) = read(con, lake, CALENDAR, (day, rel))
    assert row["cal_type_desc"] is None
    assert row["day_of_wk_desc"] == "Monday"


@pytest.mark.parametrize("gz", [False, True])
def test_utf8_bom(con, lake, day, gz):
    rows = sample_rows(SALES, day)
    rel = put(lake, day, "sales.csv.gz" if gz else "sales.csv", SALES, rows, bom=True, header_case="upper", gzip=gz)
    assert read_header(lake, rel)[0] == "TRANS_ID"
    assert read(con, lake, SALES, (day, rel)) == expected(rows, day)


def test_crlf_line_ends(con, lake, day):
    rows = sample_rows(SALES, day)
    rel = put(lake, day, "sales.csv", SALES, rows, line_end="\r\n")
    assert read(con, lake, SALES, (day, rel)) == expected(rows, day)


def test_quoted_fields_with_commas_quotes_and_non_ascii(con, lake, day):
    rows = sample_rows(STORE, day, 1)
    rows[0]["addr"] = '12 Main St, Suite "B"'
    rows[0]["city"] = "Montréal"
    rel = put(lake, day, "store.csv", STORE, rows)
    assert b'"12 Main St, Suite ""B"""' in Path(lake.path(rel)).read_bytes()
    (row,) = read(con, lake, STORE, (day, rel))
    assert row["addr"] == '12 Main St, Suite "B"'
    assert row["city"] == "Montréal"


def test_values_stay_text(con, lake, day):
    rows = sample_rows(SALES, day, 1)
    rows[0]["sales_qty"] = "007.50"
    rel = put(lake, day, "sales.csv", SALES, rows)
    (row,) = read(con, lake, SALES, (day, rel))
    assert row["sales_qty"] == "007.50"  # typing is the validation step's job


@pytest.mark.parametrize("gz", [False, True])
def test_header_only_file_has_no_rows(con, lake, day, gz):
    rel = put(lake, day, "sales.csv.gz" if gz else "sales.csv", SALES, [], gzip=gz, header_case="upper")
    assert read(con, lake, SALES, (day, rel)) == []


def test_files_of_several_days_with_different_headers(con, lake, day):
    other = day + dt.timedelta(days=1)
    first = sample_rows(SALES, day)
    second = sample_rows(SALES, other)
    a = put(lake, day, "sales.csv", SALES, first, header_case="lower")
    b = put(lake, other, "sales.csv.gz", SALES, second, header_case="upper", column_order="reversed", gzip=True)
    assert read(con, lake, SALES, (day, a), (other, b)) == sorted(
        expected(first, day) + expected(second, other), key=lambda r: [str(v) for v in r.values()]
    )


# -- broken files -------------------------------------------------------------------------------------


def test_missing_contract_column_names_column_and_file(lake, day):
    rel = put(lake, day, "inventory.csv", INVENTORY, sample_rows(INVENTORY, day), drop_columns=["waste_qty"])
    with pytest.raises(LakeError) as info:
        raw_files_select(lake, INVENTORY, [(day, rel)])
    assert "waste_qty" in str(info.value)
    assert rel in str(info.value)


def test_header_only_file_still_needs_every_column(lake, day):
    rel = put(lake, day, "sales.csv", SALES, [], drop_columns=["discount"])
    with pytest.raises(LakeError, match="discount"):
        raw_files_select(lake, SALES, [(day, rel)])


@pytest.mark.parametrize("duplicate", ["trans_dt", "TRANS_DT"])
def test_duplicate_header_is_an_error(lake, day, duplicate):
    rel = put(lake, day, "sales.csv", SALES, sample_rows(SALES, day), extra_columns={duplicate: "2026-01-06"})
    with pytest.raises(LakeError) as info:
        raw_files_select(lake, SALES, [(day, rel)])
    assert "twice" in str(info.value) and rel in str(info.value)


def test_duplicate_header_in_a_header_only_gzipped_file_is_an_error(lake, day):
    rel = put(lake, day, "sales.csv.gz", SALES, [], gzip=True, extra_columns={"STORE_KEY": ""})
    with pytest.raises(LakeError, match="twice"):
        raw_files_select(lake, SALES, [(day, rel)])


def test_empty_file_is_an_error_naming_it(lake, day):
    rel = put_bytes(lake, day, "sales.csv", b"")
    with pytest.raises(LakeError, match=rel):
        raw_files_select(lake, SALES, [(day, rel)])


def test_not_a_gzip_file_is_an_error_naming_it(lake, day):
    rel = put_bytes(lake, day, "sales.csv.gz", b"definitely not gzip data\n")
    with pytest.raises(LakeError, match=rel):
        raw_files_select(lake, SALES, [(day, rel)])


def test_absent_file_is_an_error_naming_it(lake, day):
    with pytest.raises(LakeError, match="does not exist"):
        raw_files_select(lake, SALES, [(day, relative(day, "sales.csv"))])


RAGGED = {
    "missing fields": b"2026-01-07,Fiscal,3\n",
    "extra fields": b"2026-01-07,Fiscal,3,Wednesday,2026,2,202602,1,20261,1,20261,x\n",
}


@pytest.mark.parametrize("kind", sorted(RAGGED))
def test_ragged_row_fails_naming_the_file(con, lake, day, kind):
    rel = put_bytes(lake, day, "calendar.csv", csv_bytes(CALENDAR, sample_rows(CALENDAR, day)) + RAGGED[kind])
    # The header is fine, so the SQL is built; reading the rows fails. The engine turns DuckDB's CSV errors
    # into LakeError; either way the error must say which file is broken.
    with pytest.raises((LakeError, duckdb.InvalidInputException)) as info:
        read(con, lake, CALENDAR, (day, rel))
    assert lake.uri(rel) in str(info.value) or rel in str(info.value)


# -- what the exporter wrote --------------------------------------------------------------------------


def test_reads_an_exported_file(con, lake, day, exported, source_con):
    rel = relative(day, "sales.csv.gz")
    assert read_header(lake, rel) == [c.upper() for c in SALES.column_names]
    rows = read(con, lake, SALES, (day, rel))
    assert len(rows) == source_con.execute("SELECT count(*) FROM sales WHERE trans_dt = ?", [day]).fetchone()[0]
    assert {r["trans_dt"] for r in rows} == {day.isoformat()}
    assert {r["partition_dt"] for r in rows} == {day}


def test_exported_null_reads_as_null(con, lake, day, exported):
    rows = read(con, lake, STORE, (day, relative(day, "store.csv.gz")))
    assert len(rows) == 151
    assert {r["region"] for r in rows} == {None}
