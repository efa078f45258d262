"""map_columns: a raw file's header -> the contract's columns (any case, any order, extras ignored)."""

from __future__ import annotations

import pytest

from retailflow.errors import LakeError
from retailflow.lake.rawformat import map_columns, normalize_header
from retailflow.tables import CALENDAR, NULL_TOKENS, SALES, STORE

WHERE = "raw/dt=2026-01-05/sales.csv"


def test_lower_case_header_in_contract_order():
    assert map_columns(SALES, SALES.column_names, WHERE) == {c: c for c in SALES.column_names}


def test_upper_case_header_maps_to_the_files_names():
    header = [c.upper() for c in SALES.column_names]
    mapping = map_columns(SALES, header, WHERE)
    assert list(mapping) == SALES.column_names  # contract order, whatever the file's order
    assert mapping["trans_id"] == "TRANS_ID"


def test_mixed_case_any_order_with_extras():
    header = ["Loaded_At"] + [c.title() for c in reversed(CALENDAR.column_names)] + ["comment"]
    mapping = map_columns(CALENDAR, header, WHERE)
    assert list(mapping) == CALENDAR.column_names
    assert mapping["yr_wk_num"] == "Yr_Wk_Num"
    assert "Loaded_At" not in mapping.values() and "comment" not in mapping.values()


def test_bom_quotes_and_spaces_are_stripped():
    assert normalize_header('\ufeff"TRANS_ID" ') == "trans_id"
    header = ["\ufeffTRANS_ID"] + [f" {c} " for c in SALES.column_names[1:]]
    assert map_columns(SALES, header, WHERE)["trans_id"] == "\ufeffTRANS_ID"


def test_missing_column_names_the_column_and_the_file():
    header = [c for c in SALES.column_names if c != "ship_cost"]
    with pytest.raises(LakeError) as info:
        map_columns(SALES, header, WHERE)
    assert "ship_cost" in str(info.value)
    assert WHERE in str(info.value)
    assert "sales" in str(info.value)


def test_several_missing_columns_are_all_named():
    with pytest.raises(LakeError) as info:
        map_columns(STORE, ["store_key"], WHERE)
    assert all(c in str(info.value) for c in STORE.column_names[1:])


def test_duplicate_contract_column_is_an_error():
    header = SALES.column_names + ["TRANS_DT"]
    with pytest.raises(LakeError, match="twice") as info:
        map_columns(SALES, header, WHERE)
    assert "trans_dt" in str(info.value) and WHERE in str(info.value)


def test_duplicate_extra_column_is_ignored():
    header = SALES.column_names + ["note", "NOTE"]
    assert list(map_columns(SALES, header, WHERE)) == SALES.column_names


def test_null_tokens_cover_snowflake_escaped_and_empty():
    assert set(NULL_TOKENS) == {"\\N", "\\\\N", ""}
