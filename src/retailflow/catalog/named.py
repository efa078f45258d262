"""The business's standing questions, as named queries over the catalog (``retailflow query --named``).

Each takes ``$limit`` and most take ``$week`` (a yr_wk_num; default: the latest published week).
They are written once, in DuckDB's SQL; ``sql_for(query, "athena")`` renders them for Athena (Trino) with
sqlglot (catalog/dialects.py), parameters as pyathena's ``%(name)s``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str


_W = "weekly_sales_inventory_enriched"

NAMED_QUERIES: dict[str, NamedQuery] = {
    q.name: q
    for q in [
        NamedQuery(
            "top_products",
            "Products with the highest sales amount in the week.",
            f"""SELECT prod_key, prod_name, category_name, SUM(total_sales_amt) AS sales_amt,
       SUM(total_sales_qty) AS units, SUM(total_sales_amt) / NULLIF(SUM(total_sales_qty), 0) AS avg_price
FROM {_W} WHERE yr_wk_num = $week
GROUP BY prod_key, prod_name, category_name ORDER BY sales_amt DESC, prod_key LIMIT $limit""",
        ),
        NamedQuery(
            "top_stores",
            "Stores with the highest sales amount in the week.",
            f"""SELECT store_key, store_desc, city, prov_state_cd, SUM(total_sales_amt) AS sales_amt,
       SUM(total_sales_qty) AS units
FROM {_W} WHERE yr_wk_num = $week
GROUP BY store_key, store_desc, city, prov_state_cd ORDER BY sales_amt DESC, store_key LIMIT $limit""",
        ),
        NamedQuery(
            "stores_no_stock_impact",
            "Stores losing the most sales on out-of-stock days (no_stock_impact) in the week.",
            f"""SELECT store_key, store_desc, city, SUM(no_stock_impact) AS no_stock_impact,
       SUM(no_stock_instances) AS no_stock_days, SUM(total_sales_amt) AS sales_amt
FROM {_W} WHERE yr_wk_num = $week
GROUP BY store_key, store_desc, city ORDER BY no_stock_impact DESC, store_key LIMIT $limit""",
        ),
        NamedQuery(
            "products_low_stock_impact",
            "Products with the largest potential low-stock impact (sales beyond the stock's value) in the week.",
            f"""SELECT prod_key, prod_name, category_name, SUM(potential_low_stock_impact) AS potential_low_stock_impact,
       SUM(low_stock_instances) AS low_stock_days, SUM(total_sales_amt) AS sales_amt
FROM {_W} WHERE yr_wk_num = $week
GROUP BY prod_key, prod_name, category_name ORDER BY potential_low_stock_impact DESC, prod_key LIMIT $limit""",
        ),
        NamedQuery(
            "lowest_in_stock",
            "Stores with the lowest in-stock rate in the week (mean in_stock_pct over their products).",
            f"""SELECT store_key, store_desc, city, AVG(in_stock_pct) AS in_stock_pct,
       SUM(no_stock_instances) AS no_stock_days, COUNT(*) AS products
FROM {_W} WHERE yr_wk_num = $week
GROUP BY store_key, store_desc, city ORDER BY in_stock_pct ASC, store_key LIMIT $limit""",
        ),
        NamedQuery(
            "least_weeks_of_supply",
            "Store/products that sold in the week with the least stock left (weeks_of_supply).",
            f"""SELECT store_key, store_desc, prod_key, prod_name, weeks_of_supply, eow_stock_on_hand_qty,
       total_sales_qty, eow_dt
FROM {_W} WHERE yr_wk_num = $week AND total_sales_qty > 0 AND weeks_of_supply IS NOT NULL
ORDER BY weeks_of_supply ASC, store_key, prod_key LIMIT $limit""",
        ),
        NamedQuery(
            "weekly_trend",
            "Sales, cost and stock-out losses per week, newest first (takes no week).",
            f"""SELECT yr_wk_num, MIN(week_start_dt) AS week_start_dt, SUM(total_sales_amt) AS sales_amt,
       SUM(total_cost) AS cost, SUM(no_stock_impact) AS no_stock_impact,
       SUM(potential_low_stock_impact) AS potential_low_stock_impact
FROM {_W} GROUP BY yr_wk_num ORDER BY yr_wk_num DESC LIMIT $limit""",
        ),
    ]
}


def parameters_for(query: NamedQuery, week: int | None, limit: int) -> dict[str, object]:
    """Only the parameters the query uses (DuckDB rejects extra ones)."""
    params: dict[str, object] = {"limit": limit}
    if "$week" in query.sql:
        params["week"] = week
    return params


def sql_for(query: NamedQuery, dialect: str) -> str:
    """The query's SQL in ``dialect`` (duckdb: as written; athena: rendered for Trino by sqlglot)."""
    from retailflow.catalog.dialects import render

    return render(query.sql, dialect)
