"""The curated output's one definition: each column's name, type and the SQL that computes it, together.
Both engines cast their final SELECT to these types, and the schema test compares the parquet files they
write, so Glue/Athena see one type per column.

Choices: keys, counts and week numbers INTEGER (parquet INT32); dates DATE; sums of the source's money
and quantity columns SUM_DECIMAL (exact to the cent, parquet INT64); ratios and the potential low-stock
impact (which divides) DOUBLE. ``yr_wk_num`` is the partition column: it is in the folder name
(yr_wk_num=YYYYWW), not in the files, as Hive, Glue and Athena expect.

Expressions read the plan's ``weekly_metrics`` step: ``w`` is the week's sums per store and product
(``weekly_sums``), ``k`` the week's calendar facts (``weeks``). docs/metrics.md defines each metric.
"""

from __future__ import annotations

from dataclasses import dataclass

from retailflow.tables import Column

# Sums of money and quantities in the output: exact to the cent, and parquet INT64 (18 digits).
SUM_DECIMAL = "DECIMAL(18,2)"

PARTITION_COLUMN = Column("yr_wk_num", "INTEGER")


@dataclass(frozen=True)
class OutputColumn(Column):
    expression: str = ""  # SQL over the weekly_metrics step's inputs (w, k); identical for every engine


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / CAST({denominator} AS DOUBLE)"


WEEKLY_COLUMNS: tuple[OutputColumn, ...] = (
    OutputColumn("yr_num", "INTEGER", "k.yr_num"),
    OutputColumn("wk_num", "INTEGER", "k.wk_num"),
    OutputColumn("week_start_dt", "DATE", "k.week_start_dt"),
    OutputColumn("week_end_dt", "DATE", "k.week_end_dt"),
    OutputColumn("store_key", "INTEGER", "w.store_key"),
    OutputColumn("prod_key", "INTEGER", "w.prod_key"),
    OutputColumn("total_sales_qty", SUM_DECIMAL, "w.total_sales_qty"),
    OutputColumn("total_sales_amt", SUM_DECIMAL, "w.total_sales_amt"),
    OutputColumn("avg_sales_price", "DOUBLE", _ratio("w.total_sales_amt", "NULLIF(w.total_sales_qty, 0)")),
    OutputColumn("total_cost", SUM_DECIMAL, "w.total_cost"),
    OutputColumn("eow_dt", "DATE", "w.eow_dt"),
    OutputColumn("eow_stock_on_hand_qty", SUM_DECIMAL, "w.eow_on_hand"),
    OutputColumn("eow_stock_on_order_qty", SUM_DECIMAL, "w.eow_on_order"),
    OutputColumn("no_stock_instances", "INTEGER", "w.no_stock_instances"),
    OutputColumn("low_stock_instances", "INTEGER", "w.low_stock_instances"),
    OutputColumn("total_low_stock_impact", "INTEGER", "w.no_stock_instances + w.low_stock_instances"),
    OutputColumn("potential_low_stock_impact", "DOUBLE", "w.potential_low_stock_impact"),
    OutputColumn("no_stock_impact", SUM_DECIMAL, "w.no_stock_impact"),
    OutputColumn("out_of_stock_pct", "DOUBLE", _ratio("w.no_stock_instances", "7")),
    OutputColumn("in_stock_pct", "DOUBLE", f"CAST(1 AS DOUBLE) - {_ratio('w.no_stock_instances', '7')}"),
    OutputColumn("weeks_of_supply", "DOUBLE", _ratio("w.eow_on_hand", "NULLIF(w.total_sales_qty, 0)")),
)

WEEKLY_COLUMN_NAMES = [c.name for c in WEEKLY_COLUMNS]
