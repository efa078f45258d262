"""The dashboard, defined once as data. Both the HTML page and the Superset bundle are generated from it.

Everything a panel shows is a metric over one of two datasets, queried from the catalog:

- ``store_week_category``: one row per (week, store, product category), additive columns only (sums and
  counts), so any filter (week, store, market, state, category) re-aggregates exactly.
- ``store_product_week``: store x product rows of the weekly table, for the panels that list products.

A metric is a sum, or a ratio of sums, of additive columns: the same definition becomes SQL (Superset,
tests) and JavaScript (the HTML page), so the figures agree everywhere.

The headline also compares each figure with the week before. The HTML page does that itself from the cube;
Superset reads ``cube_with_previous_sql()``, the cube with each cell's figures of the week before beside
its own (``prev_<column>``), so its native filters (week, market, state, store, category) select the
current and the previous figures together. ``Metric.sql(PREVIOUS)`` and ``Metric.change_sql()`` are the
metrics over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retailflow.lake import layout

ENRICHED = "weekly_sales_inventory_enriched"

# Additive columns of store_week_category and how each is built from the weekly table.
CUBE_COLUMNS = {
    "sales_amt": "SUM(total_sales_amt)",
    "sales_qty": "SUM(total_sales_qty)",
    "cost": "SUM(total_cost)",
    "no_stock_impact": "SUM(no_stock_impact)",
    "potential_low_stock_impact": "SUM(potential_low_stock_impact)",
    "no_stock_days": "SUM(no_stock_instances)",
    "store_products": "COUNT(*)",
}
CUBE_DIMENSIONS = (
    "yr_wk_num",
    "week_start_dt",
    "store_key",
    "store_desc",
    "city",
    "prov_state_cd",
    "market_name",
    "latitude",
    "longitude",
    "category_name",
)
PREVIOUS = "prev_"  # prefix of the week-before columns of cube_with_previous_sql()


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    numerator: str  # an additive column
    denominator: str | None = None
    scale: float = 1.0  # ratio = numerator / (scale * denominator)
    complement: bool = False  # 1 - ratio
    format: str = "money"  # money | number | percent | price

    def sql(self, prefix: str = "") -> str:
        """The metric as an aggregate over the dataset's additive columns; over the week before with
        ``prefix=PREVIOUS`` (the ``prev_`` columns of cube_with_previous_sql())."""
        num = f"SUM({prefix}{self.numerator})"
        if self.denominator is None:
            return num
        den = f"SUM({prefix}{self.denominator})"
        if self.scale != 1:
            den = f"({self.scale} * {den})"
        ratio = f"CAST({num} AS DOUBLE) / NULLIF({den}, 0)"
        return f"(1 - {ratio})" if self.complement else ratio

    @property
    def change_in_points(self) -> bool:
        """A percent changes by percentage points; anything else by a relative change."""
        return self.format == "percent"

    def change_sql(self) -> str:
        """The change against the week before over cube_with_previous_sql(), as the HTML headline shows it:
        percentage points, 100 x (now - before), for a percent; else (now - before) / |before|, a fraction
        (0.05 = +5 %). NULL when the week before has no figure (or, for a relative change, 0)."""
        now, before = f"CAST({self.sql()} AS DOUBLE)", f"CAST({self.sql(PREVIOUS)} AS DOUBLE)"
        if self.change_in_points:
            return f"(100 * ({now} - {before}))"
        return f"(({now} - {before}) / ABS(NULLIF({before}, 0)))"

    def spec(self) -> dict:
        """The metric for the page's JavaScript, which evaluates it over filtered rows."""
        return {
            "name": self.name,
            "label": self.label,
            "num": self.numerator,
            "den": self.denominator,
            "scale": self.scale,
            "complement": self.complement,
            "format": self.format,
        }


METRICS = {
    m.name: m
    for m in [
        Metric("sales_amt", "Sales", "sales_amt"),
        Metric("units", "Units", "sales_qty", format="number"),
        Metric("avg_price", "Average price", "sales_amt", "sales_qty", format="price"),
        # Mean of in_stock_pct over store/product rows = 1 - no-stock days / (7 x rows): additive parts.
        Metric(
            "in_stock_pct",
            "In-stock %",
            "no_stock_days",
            "store_products",
            scale=7.0,
            complement=True,
            format="percent",
        ),
        Metric("no_stock_impact", "No-stock impact", "no_stock_impact"),
        Metric("potential_low_stock_impact", "Potential low-stock impact", "potential_low_stock_impact"),
        Metric("cost", "Cost", "cost"),
    ]
}


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    chart: str  # kpi | line | bar | map | table | pie
    metrics: tuple[str, ...]  # from METRICS; table panels list columns instead
    dataset: str = "store_week_category"
    group_by: tuple[str, ...] = ()
    order_by: str | None = None  # a metric or column; descending unless ascending
    ascending: bool = False
    limit: int | None = None
    all_weeks: bool = False  # ignores the week filter (trends)
    where: str | None = None  # a row condition, SQL
    columns: tuple[str, ...] = ()  # table panels: the columns listed
    description: str = ""
    width: int = 6  # of 12 grid columns


HEADLINE = ("sales_amt", "units", "avg_price", "in_stock_pct", "no_stock_impact", "potential_low_stock_impact")

PANELS: tuple[Panel, ...] = (
    Panel(
        "headline",
        "This week",
        "kpi",
        HEADLINE,
        width=12,
        description="The selected week, and the change against the week before.",
    ),
    Panel(
        "trend_sales",
        "Sales and cost by week",
        "line",
        ("sales_amt", "cost"),
        group_by=("week_start_dt",),
        all_weeks=True,
    ),
    Panel(
        "trend_impact",
        "Stock-out and low-stock impact by week",
        "line",
        ("no_stock_impact", "potential_low_stock_impact"),
        group_by=("week_start_dt",),
        all_weeks=True,
    ),
    Panel(
        "top_stores_no_stock",
        "Stores with the largest no-stock impact",
        "bar",
        ("no_stock_impact",),
        group_by=("store_desc",),
        order_by="no_stock_impact",
        limit=10,
        description="Sales on out-of-stock days.",
    ),
    Panel(
        "top_products_low_stock",
        "Products with the largest potential low-stock impact",
        "table",
        (),
        dataset="store_product_week",
        order_by="potential_low_stock_impact",
        limit=10,
        where="potential_low_stock_impact > 0",
        columns=("store_desc", "prod_name", "category_name", "potential_low_stock_impact", "low_stock_instances"),
        description="Store products whose daily sales ran past their stock's value.",
    ),
    Panel(
        "store_map",
        "Stores by in-stock %",
        "map",
        ("in_stock_pct", "sales_amt"),
        group_by=("store_key", "store_desc", "latitude", "longitude"),
        width=12,
    ),
    Panel(
        "products_at_risk",
        "Products most at risk: least weeks of supply",
        "table",
        (),
        dataset="store_product_week",
        order_by="weeks_of_supply",
        ascending=True,
        limit=10,
        where="total_sales_qty > 0 AND weeks_of_supply IS NOT NULL",
        columns=(
            "store_desc",
            "prod_name",
            "category_name",
            "weeks_of_supply",
            "eow_stock_on_hand_qty",
            "total_sales_qty",
        ),
        description="Among store products that sold this week.",
    ),
    Panel(
        "sales_by_category",
        "Sales by product category",
        "bar",
        ("sales_amt",),
        group_by=("category_name",),
        order_by="sales_amt",
    ),
)

# How columns are titled wherever a panel lists them.
COLUMN_LABELS = {
    "store_desc": "Store",
    "prod_name": "Product",
    "category_name": "Category",
    "potential_low_stock_impact": "Potential low-stock impact",
    "low_stock_instances": "Low-stock days",
    "weeks_of_supply": "Weeks of supply",
    "eow_stock_on_hand_qty": "Stock at end of week",
    "total_sales_qty": "Units sold",
}

FILTERS = (
    ("yr_wk_num", "Week"),
    ("market_name", "Market"),
    ("prov_state_cd", "State"),
    ("store_desc", "Store"),
    ("category_name", "Category"),
)


def cube_sql(weeks: int | None = None) -> str:
    """store_week_category: the additive cube behind every store- and category-level panel."""
    cols = ",\n       ".join(f"{expr} AS {name}" for name, expr in CUBE_COLUMNS.items())
    dims = ", ".join(CUBE_DIMENSIONS)
    recent = (
        (
            f"WHERE yr_wk_num IN (SELECT DISTINCT yr_wk_num FROM {layout.WEEKLY_TABLE} "
            f"ORDER BY yr_wk_num DESC LIMIT {int(weeks)})"
        )
        if weeks
        else ""
    )
    return f"SELECT {dims},\n       {cols}\nFROM {ENRICHED}\n{recent}\nGROUP BY {dims}"


def cube_with_previous_sql() -> str:
    """store_week_category_with_previous: the cube (all weeks), each cell with its own figures of the week
    before (week_start_dt - 7 days) as ``prev_<column>``.

    The cells of a week are those of that week and of the week before, so a store/category that sold only
    the week before still counts in the comparison: its current columns are NULL there, as are the
    ``prev_`` columns of a cell new this week, and of every cell when the week before is not published.
    SUM skips NULLs, so every metric re-aggregates over any filter exactly as over the cube."""
    cell = ", ".join(f"c.{d}" for d in CUBE_DIMENSIONS if d not in ("yr_wk_num", "week_start_dt"))
    now = ",\n       ".join(f"cur.{name}" for name in CUBE_COLUMNS)
    before = ",\n       ".join(f"prev.{name} AS {PREVIOUS}{name}" for name in CUBE_COLUMNS)

    def same_cell(alias: str, week_start: str) -> str:
        return (
            f"{alias}.week_start_dt = {week_start} AND {alias}.store_key = g.store_key "
            f"AND {alias}.category_name IS NOT DISTINCT FROM g.category_name"
        )

    return (
        f"WITH cube AS (\n{cube_sql(None)}\n),\n"
        "weeks AS (SELECT DISTINCT yr_wk_num, week_start_dt FROM cube),\n"
        "grid AS (  -- the cells of each week, and of the week before it\n"
        f"  SELECT c.yr_wk_num, c.week_start_dt, {cell} FROM cube c\n"
        f"  UNION SELECT w.yr_wk_num, w.week_start_dt, {cell}\n"
        "  FROM cube c JOIN weeks w ON w.week_start_dt = c.week_start_dt + 7\n"
        ")\n"
        f"SELECT {', '.join(f'g.{d}' for d in CUBE_DIMENSIONS)},\n"
        f"       {now},\n"
        f"       {before}\n"
        "FROM grid g\n"
        f"LEFT JOIN cube cur ON {same_cell('cur', 'g.week_start_dt')}\n"
        f"LEFT JOIN cube prev ON {same_cell('prev', 'g.week_start_dt - 7')}"
    )


def store_product_sql() -> str:
    """store_product_week: the weekly rows with the names the product panels show."""
    return (
        f"SELECT yr_wk_num, week_start_dt, store_key, store_desc, city, prov_state_cd, market_name, "
        f"prod_key, prod_name, category_name, total_sales_qty, total_sales_amt, potential_low_stock_impact, "
        f"low_stock_instances, weeks_of_supply, eow_stock_on_hand_qty FROM {ENRICHED}"
    )


def headline_sql() -> str:
    """The headline figures of one week ($week) straight from the weekly table: what the dashboards must show."""
    return (
        "SELECT SUM(total_sales_amt) AS sales_amt, SUM(total_sales_qty) AS units,\n"
        "       CAST(SUM(total_sales_amt) AS DOUBLE) / NULLIF(SUM(total_sales_qty), 0) AS avg_price,\n"
        "       AVG(in_stock_pct) AS in_stock_pct, SUM(no_stock_impact) AS no_stock_impact,\n"
        "       SUM(potential_low_stock_impact) AS potential_low_stock_impact\n"
        f"FROM {layout.WEEKLY_TABLE} WHERE yr_wk_num = $week"
    )


@dataclass
class Dashboard:
    title: str = "retailflow: weekly sales and inventory"
    panels: tuple[Panel, ...] = PANELS
    metrics: dict[str, Metric] = field(default_factory=lambda: dict(METRICS))
    column_labels: dict[str, str] = field(default_factory=lambda: dict(COLUMN_LABELS))
    filters: tuple[tuple[str, str], ...] = FILTERS


DASHBOARD = Dashboard()
