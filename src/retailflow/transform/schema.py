"""The curated output's one schema definition. Both engines cast their final SELECT to it, and the
schema test compares the parquet files they write, so Glue/Athena see one type per column.

Choices: keys, counts and week numbers INTEGER (parquet INT32); dates DATE; sums of the source's
money and quantity columns DECIMAL(18,2) (exact to the cent, parquet INT64); ratios and the potential
low-stock impact (which divides) DOUBLE. ``yr_wk_num`` is the partition column: it is in the folder
name (yr_wk_num=YYYYWW), not in the files, as Hive, Glue and Athena expect.
"""

from __future__ import annotations

from retailflow.tables import Column

MONEY = "DECIMAL(18,2)"

PARTITION_COLUMN = Column("yr_wk_num", "INTEGER")

WEEKLY_COLUMNS: tuple[Column, ...] = (
    Column("yr_num", "INTEGER"),
    Column("wk_num", "INTEGER"),
    Column("week_start_dt", "DATE"),
    Column("week_end_dt", "DATE"),
    Column("store_key", "INTEGER"),
    Column("prod_key", "INTEGER"),
    Column("total_sales_qty", MONEY),
    Column("total_sales_amt", MONEY),
    Column("avg_sales_price", "DOUBLE"),
    Column("total_cost", MONEY),
    Column("eow_dt", "DATE"),
    Column("eow_stock_on_hand_qty", MONEY),
    Column("eow_stock_on_order_qty", MONEY),
    Column("no_stock_instances", "INTEGER"),
    Column("low_stock_instances", "INTEGER"),
    Column("total_low_stock_impact", "INTEGER"),
    Column("potential_low_stock_impact", "DOUBLE"),
    Column("no_stock_impact", MONEY),
    Column("out_of_stock_pct", "DOUBLE"),
    Column("in_stock_pct", "DOUBLE"),
    Column("weeks_of_supply", "DOUBLE"),
)

WEEKLY_COLUMN_NAMES = [c.name for c in WEEKLY_COLUMNS]

# Quarantined rows keep the fields exactly as delivered (text), so nothing is lost to a failed cast.
QUARANTINE_EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("partition_dt", "DATE"),
    Column("reason", "VARCHAR"),
)
