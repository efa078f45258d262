"""The DuckDB fast path (plan.typed_fast) types every string exactly as the pattern path (plan.typed) does.

The fast path trusts DuckDB's cast when the text is the canonical form of what it casts to (a number that
casts back to the same text, a date of the form YYYY-MM-DD, a flag written true/false). These tests check
that trust on every string of a small alphabet (the plain characters, and what DuckDB's cast accepts but
the patterns do not: sign, exponent, separator, tab, hex) up to four or five characters, on values at the
edges of each type, for each numeric type of the fact tables, and on every one-character change of dates
and flags.
"""

from __future__ import annotations

import itertools

import duckdb
import pytest

from retailflow.tables import INVENTORY, SALES, Column, Table
from retailflow.transform.dialect import DUCKDB
from retailflow.transform.plan import typed, typed_fast, typed_select

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


def disagreements(column: Column, values: list[str]) -> list[tuple]:
    """The values ``typed`` and ``typed_fast`` type differently (NULL counts as a value)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest($values) AS x", {"values": values})
    return con.execute(
        f"SELECT x, exact, fast FROM (\n"
        f"  SELECT x, {typed(column, DUCKDB)} AS exact, {typed_fast(column, DUCKDB)} AS fast\n"
        f"  FROM (SELECT x, x AS {column.name} FROM v) a) b\n"
        "WHERE exact IS DISTINCT FROM fast"
    ).fetchall()


@pytest.mark.parametrize("kind,max_len", [("int", 5), ("decimal", 4)])
def test_fast_path_types_every_string_like_the_patterns(kind, max_len):
    values = strings(max_len)
    mismatches = [(c.type, *r) for c in numeric_columns(kind) for r in disagreements(c, values)]
    assert not mismatches, mismatches[:20]
    assert len(values) > 10_000  # the space it claims to cover


def one_character_changes(words: list[str], alphabet: str) -> list[str]:
    """Each word, and each word with one character replaced, inserted or removed."""
    out = set(words)
    for w in words:
        for i in range(len(w) + 1):
            out.add(w[:i] + w[i + 1 :])
            for ch in alphabet:
                out.add(w[:i] + ch + w[i:])
                out.add(w[:i] + ch + w[i + 1 :])
    return sorted(out)


@pytest.mark.parametrize("column", [SALES.column("trans_dt"), INVENTORY.column("promotion_flg")], ids=str)
def test_fast_path_types_dates_and_flags_like_the_patterns(column):
    words = (
        ["2026-01-05", "2024-02-29", "2026-02-29", "0000-01-01", "0001-01-01", "9999-12-31", "2026-13-01"]
        if column.kind == "date"
        else ["true", "false", "t", "f", "yes", "no", "1", "0", "TRUE", "False"]
    )
    values = one_character_changes(words, "0129-/ .+TtFfx\t")
    assert not disagreements(column, values)
    assert len(values) > 500


def test_non_canonical_text_takes_the_pattern_path():
    """'+5' casts in DuckDB but is not a number by the contract; ' 5' and '5.5' are numbers, though not
    in the form DuckDB writes them: all three are typed by the patterns, next to canonical values."""
    cols = tuple(c for c in SALES.columns if c.name in ("prod_key", "sales_qty", "sales_amt"))
    sql = typed_select(Table("sales", cols, date_column="trans_dt"), DUCKDB, keep_source=False)
    assert "TRY_CAST(prod_key AS INTEGER) AS VARCHAR) = prod_key" in sql  # the fast path was built
    raw = (
        "SELECT * FROM (VALUES ('7', '+5', '2.50'), (' 5', '5.5', '-0.74')) AS r(prod_key, sales_qty, sales_amt),"
        " (SELECT DATE '2026-01-05' AS partition_dt)"
    )
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw_sales AS {raw}")
    rows = con.execute(
        f"SELECT prod_key, CAST(sales_qty AS VARCHAR), CAST(sales_amt AS VARCHAR) FROM ({sql}) t"
    ).fetchall()
    assert sorted(rows) == [(5, "5.50", "-0.74"), (7, None, "2.50")]
