"""The DuckDB fast path (plan.typed_fast) types every string exactly as the pattern path (plan.typed) does.

The fast path trusts DuckDB's cast when a row's numbers hold only digits, '-', '.' and spaces. These
tests check that trust on every string of a small alphabet (the plain characters, and what DuckDB's cast
accepts but the patterns do not: sign, exponent, separator, tab, hex) up to four or five characters, and
on values at the edges of each type, for each numeric type of the fact tables.
"""

from __future__ import annotations

import itertools

import duckdb
import pytest

from retailflow.tables import INVENTORY, SALES, Column, Table
from retailflow.transform.dialect import DUCKDB
from retailflow.transform.plan import plain_flags, typed, typed_fast, typed_select

ALPHABET = ["0", "1", "9", "-", ".", " ", "+", "e", "_", "\t", "x"]
EDGES = [
    "9223372036854775807",
    "9223372036854775808",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9999999999999999.99",
    "12345678901234567.5",
    "99999999999999999999.99",
    "1" * 40,
    "1.005",
    "0.125",
    "-0.005",
    " 12.50 ",
    "\uff11",  # a full-width digit
    "",
]


def strings(max_len: int) -> list[str]:
    out = list(EDGES)
    for n in range(1, max_len + 1):
        out += ["".join(p) for p in itertools.product(ALPHABET, repeat=n)]
    return out


def numeric_columns(kind: str) -> list[Column]:
    """One fact column of each type of this kind (INTEGER, BIGINT; DECIMAL(38,2))."""
    by_type = {c.type: c for c in (*SALES.columns, *INVENTORY.columns) if c.kind == kind}
    return list(by_type.values())


@pytest.mark.parametrize("kind,max_len", [("int", 5), ("decimal", 4)])
def test_fast_path_types_every_string_like_the_patterns(kind, max_len):
    values = strings(max_len)
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest($values) AS x", {"values": values})
    mismatches = []
    for column in numeric_columns(kind):
        one = Table("sales", (column,))
        flags = ", ".join(plain_flags(one, DUCKDB))
        rows = con.execute(
            f"SELECT x, exact, fast FROM (\n"
            f"  SELECT x, {typed(column, DUCKDB)} AS exact, {typed_fast(column, DUCKDB)} AS fast\n"
            f"  FROM (SELECT x, x AS {column.name}, {flags} FROM (SELECT x, x AS {column.name} FROM v) a) b) c\n"
            "WHERE exact IS DISTINCT FROM fast"
        ).fetchall()
        mismatches += [(column.type, *r) for r in rows]
    assert not mismatches, mismatches[:20]
    assert len(values) > 10_000  # the space it claims to cover


def test_one_odd_number_sends_its_whole_row_down_the_pattern_path():
    """'+5' casts in DuckDB but is not a number by the contract: its row's numbers take the pattern path."""
    cols = tuple(c for c in SALES.columns if c.name in ("prod_key", "sales_qty", "sales_amt"))
    sql = typed_select(Table("sales", cols, date_column="trans_dt"), DUCKDB, keep_source=False)
    raw = "SELECT '7' AS prod_key, '+5' AS sales_qty, '2.50' AS sales_amt, DATE '2026-01-05' AS partition_dt"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw_sales AS {raw}")
    assert "plain_decimal" in sql  # the fast path was built
    prod_key, qty, amt = con.execute(f"SELECT prod_key, sales_qty, sales_amt FROM ({sql}) t").fetchone()
    assert (prod_key, qty, str(amt)) == (7, None, "2.50")
