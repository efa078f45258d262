"""``retailflow generate``: fill a DuckDB source with realistic sales and inventory.

Everything happens in DuckDB SQL, one statement per chunk of days, so 100M+ rows stream to disk at
engine speed with bounded memory. Randomness comes from ``hash(seed, salt, day, store, product, ...)``:
the same arguments give the same rows, whatever the parallelism.

Shape (from the real data set, see shared notes):
- sales: a store/product sells on about 88% of days, with 1-5 transactions; quantities 1-52, skewed
  small, one in ten with a decimal (2.4); cost 70-130% of the amount (so often above it); discount 0-0.1.
- inventory: sparse by default (one snapshot per store/product/fiscal week, on a random day), or one per
  day with ``dense``; on-hand 0-61 units; out_of_stock_flg 1 on about half the rows, even with stock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from retailflow.errors import RetailflowError
from retailflow.source.dims import create_table_sql, load_default_dims
from retailflow.tables import INVENTORY, SALES

MAX_STORES = 151
MAX_PRODUCTS = 1212
MAX_TRANSACTIONS = 5  # per store/product/day
SELL_PROBABILITY = 0.88  # about 12% of inventory days have no sales, as in the real set


@dataclass(frozen=True)
class GenerateSpec:
    start: dt.date
    end: dt.date
    stores: int = MAX_STORES
    products: int = 300
    seed: int = 42
    dense: bool = False
    chunk_days: int = 7

    def validate(self) -> None:
        if self.start > self.end:
            raise RetailflowError(f"The range is backwards: {self.start} is after {self.end}.", "Swap --from and --to.")
        if not 1 <= self.stores <= MAX_STORES:
            raise RetailflowError(f"--stores must be 1..{MAX_STORES} (the real store table), got {self.stores}.")
        if not 1 <= self.products <= MAX_PRODUCTS:
            raise RetailflowError(
                f"--products must be 1..{MAX_PRODUCTS} (distinct real products), got {self.products}."
            )


@dataclass(frozen=True)
class GenerateResult:
    sales_rows: int
    inventory_rows: int


def _u(seed: int, salt: str, *parts: str) -> str:
    """SQL for a uniform number in [0, 1) drawn from a hash: deterministic, no per-row Python."""
    return f"(hash({seed}, '{salt}', {', '.join(parts)}) % 1000003) / 1000003.0"


def _slices(hash_column: str) -> list[str]:
    """Four independent uniforms in [0, 1) from one 64-bit hash (16 bits each): one hash call, not four."""
    return [f"((({hash_column} >> {16 * i}) & 65535) / 65536.0)" for i in range(4)]


def _sales_sql(spec: GenerateSpec, first: dt.date, last: dt.date) -> str:
    s = spec.seed
    qdec, qty, qty2, price = _slices("h1")
    hasdisc, disc, cost, ship = _slices("h2")
    hour, minute, _, _ = _slices("h3")
    sells, ntx, _, _ = _slices("hp")
    # Quantities: 1-52 skewed small; about one in ten a decimal with one digit.
    qty_expr = f"CASE WHEN {qdec} < 0.1 THEN round(1 + {qty} * {qty2} * 30, 1) ELSE floor(1 + {qty} * {qty2} * 52) END"
    return f"""
INSERT INTO sales
WITH days AS (
    SELECT CAST(range AS DATE) AS day, CAST(range AS DATE) - DATE '2000-01-01' AS day_idx
    FROM range(DATE '{first}', DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 DAY)
), pairs AS (  -- the store/product/days that sell, and how many transactions they have
    SELECT d.day, d.day_idx, st.store_key, st.store_idx, p.prod_key, p.prod_idx, p.base_price,
           hash({s}, 'pair', d.day, st.store_key, p.prod_key) AS hp
    FROM days d, gen_stores st, gen_products p
), selling AS (
    SELECT *, CAST(1 + floor({ntx} * {MAX_TRANSACTIONS}) AS INTEGER) AS ntx FROM pairs WHERE {sells} < {SELL_PROBABILITY}
), expanded AS (
    SELECT *, CAST(unnest(range(1, ntx + 1)) AS INTEGER) AS tx FROM selling
), lines AS (
    SELECT *,
           hash({s}, 'tx1', day, store_key, prod_key, tx) AS h1,
           hash({s}, 'tx2', day, store_key, prod_key, tx) AS h2,
           hash({s}, 'tx3', day, store_key, prod_key, tx) AS h3
    FROM expanded
), priced AS (
    SELECT *,
        CAST({qty_expr} AS DECIMAL(38,2)) AS qty,
        CAST(round(base_price * (0.95 + 0.1 * {price}), 2) AS DECIMAL(38,2)) AS price,
        CAST(CASE WHEN {hasdisc} < 0.3 THEN round(0.1 * {disc}, 2) ELSE 0 END AS DECIMAL(38,2)) AS discount,
        0.7 + 0.6 * {cost} AS cost_ratio,
        CAST(round(5 * {ship}, 2) AS DECIMAL(38,2)) AS ship_cost,
        CAST(700 + floor({hour} * 14) * 100 + floor({minute} * 60) AS INTEGER) AS trans_time
    FROM lines
), amounts AS (
    SELECT *, CAST(round(qty * price * (1 - discount), 2) AS DECIMAL(38,2)) AS amt FROM priced
), costed AS (
    SELECT *, CAST(round(amt * cost_ratio, 2) AS DECIMAL(38,2)) AS cost FROM amounts
)
SELECT
    CAST(day_idx AS BIGINT) * 10000000000 + CAST(store_idx AS BIGINT) * 10000000 + prod_idx * 10 + tx AS trans_id,
    prod_key, store_key, day AS trans_dt, trans_time,
    qty AS sales_qty, price AS sales_price, amt AS sales_amt, discount,
    cost AS sales_cost, amt - cost AS sales_mgrn, ship_cost
FROM costed
"""


def _inventory_sql(spec: GenerateSpec, first: dt.date, last: dt.date) -> str:
    s = spec.seed
    onhand, onorder, oos, promo = _slices("h1")
    waste, waste2, delivery, _ = _slices("h2")
    # Sparse: each store/product has one snapshot per fiscal week, on a day picked by a hash of the week.
    snapshot_day = (
        ""
        if spec.dense
        else (f"AND dayofweek(d.day) = hash({s}, 'invday', d.week_start, st.store_key, p.prod_key) % 7")
    )
    return f"""
INSERT INTO inventory
WITH days AS (
    SELECT CAST(range AS DATE) AS day, CAST(range AS DATE) - CAST(dayofweek(CAST(range AS DATE)) AS INTEGER) AS week_start
    FROM range(DATE '{first}', DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 DAY)
), rows AS (
    SELECT d.day, st.store_key, p.prod_key,
           hash({s}, 'inv1', d.day, st.store_key, p.prod_key) AS h1,
           hash({s}, 'inv2', d.day, st.store_key, p.prod_key) AS h2
    FROM days d, gen_stores st, gen_products p
    WHERE true {snapshot_day}
)
SELECT
    day AS cal_dt, store_key, prod_key,
    CAST(floor({onhand} * 62) AS DECIMAL(38,2)) AS inventory_on_hand_qty,
    CAST(floor({onorder} * 4) * 25 AS DECIMAL(38,2)) AS inventory_on_order_qty,
    CAST({oos} < 0.5 AS INTEGER) AS out_of_stock_flg,
    CAST(floor({waste} * {waste2} * 6) AS DECIMAL(38,2)) AS waste_qty,
    {promo} < 0.1 AS promotion_flg,
    day + CAST(1 + floor({delivery} * 7) AS INTEGER) AS next_delivery_dt
FROM rows
"""


def generate(db_path: Path, spec: GenerateSpec, on_progress: Callable[[int], None] | None = None) -> GenerateResult:
    """Create or extend the source database: dims replaced, facts of [start, end] replaced.

    ``on_progress(n)`` is called after each chunk with the number of days it generated."""
    spec.validate()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db_path))
    except duckdb.Error as exc:
        raise RetailflowError(f"Cannot open {db_path} for writing: {exc}") from None
    try:
        load_default_dims(con, calendar_until=spec.end)
        for table in (SALES, INVENTORY):
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table.name]
            ).fetchone()[0]
            if not exists:
                con.execute(create_table_sql(table).replace("CREATE OR REPLACE TABLE", "CREATE TABLE"))
            con.execute(f"DELETE FROM {table.name} WHERE {table.date_column} BETWEEN ? AND ?", [spec.start, spec.end])
        # The stores and products to draw from: a seeded sample of the real dims (distinct product keys).
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE gen_stores AS
                SELECT store_key, CAST(row_number() OVER (ORDER BY store_key) AS INTEGER) AS store_idx
                FROM (SELECT store_key FROM store ORDER BY hash({spec.seed}, 'store', store_key) LIMIT {spec.stores})"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE gen_products AS
                SELECT prod_key, CAST(row_number() OVER (ORDER BY prod_key) AS INTEGER) AS prod_idx,
                       round(2 + {_u(spec.seed, "base", "prod_key")} * 48, 2) AS base_price
                FROM (SELECT DISTINCT prod_key FROM product)
                ORDER BY hash({spec.seed}, 'product', prod_key) LIMIT {spec.products}"""
        )
        first = spec.start
        while first <= spec.end:
            last = min(first + dt.timedelta(days=spec.chunk_days - 1), spec.end)
            con.execute("BEGIN")
            con.execute(_sales_sql(spec, first, last))
            con.execute(_inventory_sql(spec, first, last))
            con.execute("COMMIT")
            if on_progress:
                on_progress((last - first).days + 1)  # days just finished
            first = last + dt.timedelta(days=1)
        sales, inventory = (
            con.execute(
                f"SELECT count(*) FROM {t.name} WHERE {t.date_column} BETWEEN ? AND ?", [spec.start, spec.end]
            ).fetchone()[0]
            for t in (SALES, INVENTORY)
        )
        con.execute("CHECKPOINT")
        return GenerateResult(sales_rows=sales, inventory_rows=inventory)
    finally:
        con.close()
