"""The five source tables: the fixed contract shared by the source database, the raw zone and the readers.

Names and types follow the real system's Snowflake DDL, lower-case. Types are written as SQL type names
that DuckDB and Spark SQL both understand (``engine_type`` maps the one exception, VARCHAR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Money and quantities as the source delivers them: Snowflake NUMBER(38,2). (Sums in the curated output
# have their own, narrower type: transform/schema.py SUM_DECIMAL.)
SOURCE_DECIMAL = "DECIMAL(38,2)"

# NULL in the raw zone: what the exporter writes (a Snowflake unload's default), and what readers accept.
NULL_TOKEN = "\\N"
NULL_TOKENS = (NULL_TOKEN, "\\\\N", "")  # also the escaped variant found in real unloads, and empty


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # INTEGER, BIGINT, DECIMAL(38,2), DATE, BOOLEAN, VARCHAR, DOUBLE

    @property
    def kind(self) -> str:
        """The family the validation rules care about: int, decimal, date, bool, double or text."""
        return {
            "INTEGER": "int",
            "BIGINT": "int",
            "DATE": "date",
            "BOOLEAN": "bool",
            "VARCHAR": "text",
            "DOUBLE": "double",
        }.get(self.type, "decimal" if self.type.startswith("DECIMAL") else "text")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    date_column: str | None = None  # fact tables: one raw partition per value of this column
    keys: tuple[str, ...] = ()  # columns that must not be NULL; a dimension's first key is its primary key

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_fact(self) -> bool:
        return self.date_column is not None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for item in re.split(r",(?![^()]*\))", spec):  # commas outside DECIMAL(38,2)
        name, _, type_ = item.strip().partition(" ")
        out.append(Column(name, type_.strip() or "VARCHAR"))
    return tuple(out)


SALES = Table(
    "sales",
    _cols(
        "trans_id BIGINT, prod_key INTEGER, store_key INTEGER, trans_dt DATE, trans_time INTEGER, "
        f"sales_qty {SOURCE_DECIMAL}, sales_price {SOURCE_DECIMAL}, sales_amt {SOURCE_DECIMAL}, discount {SOURCE_DECIMAL}, sales_cost {SOURCE_DECIMAL}, "
        f"sales_mgrn {SOURCE_DECIMAL}, ship_cost {SOURCE_DECIMAL}"
    ),
    date_column="trans_dt",
    keys=("trans_id", "prod_key", "store_key", "trans_dt"),
)

INVENTORY = Table(
    "inventory",
    _cols(
        f"cal_dt DATE, store_key INTEGER, prod_key INTEGER, inventory_on_hand_qty {SOURCE_DECIMAL}, "
        f"inventory_on_order_qty {SOURCE_DECIMAL}, out_of_stock_flg INTEGER, waste_qty {SOURCE_DECIMAL}, promotion_flg BOOLEAN, "
        "next_delivery_dt DATE"
    ),
    date_column="cal_dt",
    keys=("cal_dt", "store_key", "prod_key"),
)

STORE = Table(
    "store",
    _cols(
        "store_key INTEGER, store_num INTEGER, store_desc VARCHAR, addr VARCHAR, city VARCHAR, region VARCHAR, "
        "cntry_cd VARCHAR, cntry_nm VARCHAR, postal_zip_cd VARCHAR, prov_state_desc VARCHAR, "
        "prov_state_cd VARCHAR, store_type_cd VARCHAR, store_type_desc VARCHAR, frnchs_flg VARCHAR, "
        "store_size VARCHAR, market_key INTEGER, market_name VARCHAR, submarket_key INTEGER, "
        "submarket_name VARCHAR, latitude DOUBLE, longitude DOUBLE"
    ),
    keys=("store_key",),
)

PRODUCT = Table(
    "product",
    _cols(
        "prod_key INTEGER, prod_name VARCHAR, vol DOUBLE, wgt DOUBLE, brand_name VARCHAR, status_code INTEGER, "
        "status_code_name VARCHAR, category_key INTEGER, category_name VARCHAR, subcategory_key INTEGER, "
        "subcategory_name VARCHAR"
    ),
    keys=("prod_key",),
)

CALENDAR = Table(
    "calendar",
    _cols(
        "cal_dt DATE, cal_type_desc VARCHAR, day_of_wk_num INTEGER, day_of_wk_desc VARCHAR, yr_num INTEGER, "
        "wk_num INTEGER, yr_wk_num INTEGER, mnth_num INTEGER, yr_mnth_num INTEGER, qtr_num INTEGER, "
        "yr_qtr_num INTEGER"
    ),
    keys=("cal_dt",),
)

FACT_TABLES = (SALES, INVENTORY)
DIMENSION_TABLES = (STORE, PRODUCT, CALENDAR)
ALL_TABLES = FACT_TABLES + DIMENSION_TABLES
TABLES = {t.name: t for t in ALL_TABLES}


def engine_type(type_: str, dialect: str) -> str:
    """The type name in a dialect: Spark spells VARCHAR without a length as STRING."""
    if dialect == "spark" and type_ == "VARCHAR":
        return "STRING"
    return type_
