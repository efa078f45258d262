from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from retailflow.errors import SourceError
from retailflow.source import open_source
from retailflow.source.base import scheme_of
from retailflow.source.dims import create_table_sql
from retailflow.source.duckdb_source import DuckDBSource, path_of, url_of
from retailflow.tables import ALL_TABLES, INVENTORY, PRODUCT, SALES


def make_db(path: Path, skip_table: str | None = None, drop_column: tuple[str, str] | None = None) -> Path:
    """A DuckDB file with the contract's (empty) tables, minus a table or a column."""
    con = duckdb.connect(str(path))
    for table in ALL_TABLES:
        if table.name == skip_table:
            continue
        con.execute(create_table_sql(table))
        if drop_column and drop_column[0] == table.name:
            con.execute(f"ALTER TABLE {table.name} DROP COLUMN {drop_column[1]}")
    con.close()
    return path


# -- URLs ---------------------------------------------------------------------------------------------


def test_three_slashes_is_a_relative_path():
    assert path_of("duckdb:///data/source.duckdb") == Path("data/source.duckdb")


def test_four_slashes_is_an_absolute_path():
    assert path_of("duckdb:////srv/data/source.duckdb") == Path("/srv/data/source.duckdb")


def test_a_bare_path_is_a_path():
    assert path_of("source.duckdb") == Path("source.duckdb")
    assert scheme_of("source.duckdb") == "duckdb"


@pytest.mark.parametrize("path", [Path("/srv/data/source.duckdb"), Path("rel/source.duckdb")])
def test_url_of_round_trips(path):
    assert path_of(url_of(path)) == path


def test_url_of_absolute_path_has_four_slashes():
    assert url_of(Path("/srv/x.duckdb")) == "duckdb:////srv/x.duckdb"


def test_url_without_a_file_rejected():
    with pytest.raises(SourceError, match="names no file"):
        path_of("duckdb:///")


def test_unknown_scheme_rejected():
    with pytest.raises(SourceError, match="No source driver") as info:
        open_source("mysql://user@host/db")
    assert "duckdb" in str(info.value)


def test_missing_file_has_a_hint_to_generate(tmp_path):
    with pytest.raises(SourceError) as info:
        open_source(url_of(tmp_path / "absent.duckdb"))
    assert "does not exist" in info.value.message
    assert "retailflow generate" in info.value.hint


def test_relative_url_resolves_against_the_working_directory(tmp_path, monkeypatch):
    make_db(tmp_path / "here.duckdb")
    monkeypatch.chdir(tmp_path)
    src = open_source("duckdb:///here.duckdb")
    try:
        src.check(ALL_TABLES)
    finally:
        src.close()


# -- check --------------------------------------------------------------------------------------------


def test_check_passes_on_a_complete_source(source):
    source.check(ALL_TABLES)


def test_check_names_a_missing_table(tmp_path):
    src = DuckDBSource(url_of(make_db(tmp_path / "s.duckdb", skip_table="inventory")))
    try:
        with pytest.raises(SourceError, match="no table 'inventory'"):
            src.check(ALL_TABLES)
    finally:
        src.close()


def test_check_names_a_missing_column(tmp_path):
    src = DuckDBSource(url_of(make_db(tmp_path / "s.duckdb", drop_column=("sales", "ship_cost"))))
    try:
        with pytest.raises(SourceError) as info:
            src.check(ALL_TABLES)
        assert "'sales'" in str(info.value) and "ship_cost" in str(info.value)
    finally:
        src.close()


def test_check_ignores_column_name_case(tmp_path):
    path = make_db(tmp_path / "s.duckdb", skip_table="product")
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE PRODUCT (" + ", ".join(f'"{c.name.upper()}" {c.type}' for c in PRODUCT.columns) + ")")
    con.close()
    src = DuckDBSource(url_of(path))
    try:
        src.check(ALL_TABLES)
    finally:
        src.close()


# -- reading ------------------------------------------------------------------------------------------


def test_read_day_returns_only_that_days_rows(source, source_con, day):
    table = source.read_day(SALES, day).read_all()
    expected = source_con.execute("SELECT count(*) FROM sales WHERE trans_dt = ?", [day]).fetchone()[0]
    assert table.num_rows == expected > 0
    assert set(table.column("trans_dt").to_pylist()) == {day}


def test_read_day_columns_are_in_contract_order(source, day):
    for contract in (SALES, INVENTORY):
        assert source.read_day(contract, day).schema.names == contract.column_names


def test_read_day_is_sorted(source, day):
    ids = source.read_day(SALES, day).read_all().column("trans_id").to_pylist()
    assert ids == sorted(ids)


def test_read_day_of_a_day_without_facts_is_empty(source, empty_day):
    assert source.read_day(SALES, empty_day).read_all().num_rows == 0


def test_read_day_reorders_a_source_with_other_column_order(tmp_path):
    path = make_db(tmp_path / "s.duckdb", skip_table="inventory")
    con = duckdb.connect(str(path))
    cols = list(reversed(INVENTORY.columns))
    con.execute("CREATE TABLE inventory (" + ", ".join(f"{c.name} {c.type}" for c in cols) + ")")
    con.execute(
        "INSERT INTO inventory BY NAME SELECT DATE '2026-01-05' AS cal_dt, 1 AS store_key, 2 AS prod_key, "
        "3 AS inventory_on_hand_qty, 0 AS inventory_on_order_qty, 0 AS out_of_stock_flg, 0 AS waste_qty, "
        "false AS promotion_flg, DATE '2026-01-07' AS next_delivery_dt"
    )
    con.close()
    src = DuckDBSource(url_of(path))
    try:
        table = src.read_day(INVENTORY, dt.date(2026, 1, 5)).read_all()
    finally:
        src.close()
    assert table.schema.names == INVENTORY.column_names
    assert table.to_pylist()[0]["store_key"] == 1


def test_read_all_returns_the_full_snapshot(source):
    table = source.read_all(PRODUCT).read_all()
    assert table.schema.names == PRODUCT.column_names
    assert table.num_rows == 1215
