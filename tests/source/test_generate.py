from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

from retailflow.errors import RetailflowError
from retailflow.source.generate import GenerateSpec, generate
from retailflow.tables import INVENTORY, SALES

FACTS = (SALES, INVENTORY)


def attach(*paths):
    con = duckdb.connect()
    for i, path in enumerate(paths):
        con.execute(f"ATTACH '{path}' AS db{i} (READ_ONLY)")
    return con


def differences(con, table, a="db0", b="db1") -> int:
    """Rows in one database's table and not in the other's, both ways (multiset difference)."""
    return con.execute(
        f"""SELECT (SELECT count(*) FROM (SELECT * FROM {a}.{table} EXCEPT ALL SELECT * FROM {b}.{table}))
                 + (SELECT count(*) FROM (SELECT * FROM {b}.{table} EXCEPT ALL SELECT * FROM {a}.{table}))"""
    ).fetchone()[0]


def content_hash(con, db, table) -> str:
    """md5 of a table's full contents, rows in a fixed order."""
    return con.execute(
        f"SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM (SELECT * FROM {db}.{table}) t"
    ).fetchone()[0]


# -- determinism --------------------------------------------------------------------------------------


def test_same_spec_gives_identical_tables(tmp_path, spec):
    first, second = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    generate(first, spec)
    generate(second, spec)
    con = attach(first, second)
    for table in ("sales", "inventory", "store", "product", "calendar"):
        assert differences(con, table) == 0, table
    for table in FACTS:
        assert content_hash(con, "db0", table.name) == content_hash(con, "db1", table.name), table.name


def test_different_seed_gives_different_data(source_db, other_source_db):
    con = attach(source_db, other_source_db)
    for table in FACTS:
        assert differences(con, table.name) > 0, table.name
        assert content_hash(con, "db0", table.name) != content_hash(con, "db1", table.name), table.name


def test_result_counts_match_the_tables(tmp_path, spec):
    progress = []
    result = generate(tmp_path / "s.duckdb", spec, on_progress=progress.append)
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert result.sales_rows == con.execute("SELECT count(*) FROM sales").fetchone()[0] > 0
    assert result.inventory_rows == con.execute("SELECT count(*) FROM inventory").fetchone()[0] > 0
    con.close()
    assert sum(progress) == 14 and all(n > 0 for n in progress)  # every day reported once


def test_regenerating_a_subrange_replaces_only_that_range(tmp_path, spec):
    path = tmp_path / "s.duckdb"
    generate(path, spec)
    con = attach(path)
    before = {t.name: content_hash(con, "db0", t.name) for t in FACTS}
    con.close()
    sub = dataclasses.replace(spec, start=dt.date(2026, 1, 8), end=dt.date(2026, 1, 9))
    result = generate(path, sub)
    con = attach(path)
    # Same seed: the replaced days come back identical and the other days are untouched.
    assert {t.name: content_hash(con, "db0", t.name) for t in FACTS} == before
    assert (
        con.execute("SELECT count(*) FROM db0.sales WHERE trans_dt BETWEEN ? AND ?", [sub.start, sub.end]).fetchone()[0]
        == result.sales_rows
    )
    con.close()


# -- shape --------------------------------------------------------------------------------------------


def test_facts_cover_exactly_the_range(source_con, spec):
    for table in FACTS:
        lo, hi = source_con.execute(
            f"SELECT min({table.date_column}), max({table.date_column}) FROM {table.name}"
        ).fetchone()
        assert (lo, hi) == (spec.start, spec.end), table.name


def test_uses_the_requested_number_of_stores_and_products(source_con, spec):
    for table in FACTS:
        stores, products = source_con.execute(
            f"SELECT count(DISTINCT store_key), count(DISTINCT prod_key) FROM {table.name}"
        ).fetchone()
        assert (stores, products) == (spec.stores, spec.products), table.name


def test_several_transactions_per_store_product_day(source_con):
    multi = source_con.execute(
        "SELECT count(*) FROM (SELECT trans_dt, store_key, prod_key FROM sales GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    assert multi > 0
    assert (
        source_con.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM sales GROUP BY trans_dt, store_key, prod_key)"
        ).fetchone()[0]
        <= 5
    )


def test_some_quantities_are_decimal(source_con):
    decimal, whole = source_con.execute(
        "SELECT count(*) FILTER (sales_qty <> floor(sales_qty)), count(*) FILTER (sales_qty = floor(sales_qty)) FROM sales"
    ).fetchone()
    assert decimal > 0 and whole > decimal


def test_some_sales_cost_more_than_they_bring(source_con):
    above, below = source_con.execute(
        "SELECT count(*) FILTER (sales_cost > sales_amt), count(*) FILTER (sales_cost < sales_amt) FROM sales"
    ).fetchone()
    assert above > 0 and below > 0


def test_margin_is_amount_minus_cost(source_con):
    assert (
        source_con.execute("SELECT count(*) FROM sales WHERE sales_mgrn <> sales_amt - sales_cost").fetchone()[0] == 0
    )


def test_sparse_inventory_is_one_row_per_fiscal_week_store_product(source_con, spec):
    counts = source_con.execute(
        """SELECT c.yr_wk_num, i.store_key, i.prod_key, count(*) AS n
           FROM inventory i JOIN calendar c ON c.cal_dt = i.cal_dt GROUP BY ALL"""
    ).fetchall()
    weeks = ((spec.end - spec.start).days + 1) // 7
    assert {n for *_, n in counts} == {1}
    assert len(counts) == weeks * spec.stores * spec.products


def test_dense_inventory_is_one_row_per_day_store_product(tmp_path, spec):
    path = tmp_path / "dense.duckdb"
    generate(path, dataclasses.replace(spec, dense=True))
    con = duckdb.connect(str(path), read_only=True)
    rows, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (cal_dt, store_key, prod_key)) FROM inventory"
    ).fetchone()
    days = (spec.end - spec.start).days + 1
    assert rows == distinct == days * spec.stores * spec.products


def test_out_of_stock_flag_on_about_half_the_rows(source_con):
    share = source_con.execute("SELECT avg(out_of_stock_flg) FROM inventory").fetchone()[0]
    assert 0.35 <= share <= 0.65


def test_some_inventory_days_have_no_sales(source_con):
    without_sales = source_con.execute(
        """SELECT count(*) FROM inventory i WHERE NOT EXISTS (
               SELECT 1 FROM sales s
               WHERE s.trans_dt = i.cal_dt AND s.store_key = i.store_key AND s.prod_key = i.prod_key)"""
    ).fetchone()[0]
    assert without_sales > 0


def test_trans_id_is_unique(source_con):
    rows, distinct = source_con.execute("SELECT count(*), count(DISTINCT trans_id) FROM sales").fetchone()
    assert rows == distinct > 0


def test_fact_keys_are_never_null(source_con):
    for table in FACTS:
        nulls = " OR ".join(f"{k} IS NULL" for k in table.keys)
        assert source_con.execute(f"SELECT count(*) FROM {table.name} WHERE {nulls}").fetchone()[0] == 0


def test_product_table_keeps_the_real_duplicated_keys(source_con):
    duplicated = source_con.execute(
        "SELECT prod_key, count(*) FROM product GROUP BY prod_key HAVING count(*) > 1 ORDER BY prod_key"
    ).fetchall()
    assert duplicated == [(72479, 2), (481924, 2), (861428, 2)]
    assert source_con.execute("SELECT count(*), count(DISTINCT prod_key) FROM product").fetchone() == (1215, 1212)


def test_store_table_is_the_real_one(source_con):
    assert source_con.execute("SELECT count(*), count(region) FROM store").fetchone() == (151, 0)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"stores": 0}, "--stores"),
        ({"stores": 152}, "--stores"),
        ({"products": 0}, "--products"),
        ({"products": 1213}, "--products"),
        ({"start": dt.date(2026, 2, 1)}, "backwards"),
    ],
)
def test_invalid_spec_rejected(tmp_path, spec, changes, match):
    with pytest.raises(RetailflowError, match=match):
        generate(tmp_path / "s.duckdb", dataclasses.replace(spec, **changes))
    assert not (tmp_path / "s.duckdb").exists()


def test_spec_at_the_limits_is_valid(spec):
    GenerateSpec(spec.start, spec.end, stores=151, products=1212).validate()
    GenerateSpec(spec.start, spec.start, stores=1, products=1).validate()
