"""The HTML dashboard's data: aggregates, never the fact table.

From the catalog, for the most recent ``weeks`` weeks:
- the cube (panels.cube_sql): one row per week x store x category, additive columns only;
- for each list panel, the top ``limit`` store/products of every week x store x category cell. The top N
  of any union of cells (a market, a state, all stores, all categories) lies within the union of the
  cells' top N, so the page ranks any filter combination exactly.
Dimensions are dictionary-encoded (rows carry indexes) and the JSON is produced by DuckDB itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from retailflow.catalog.query import open_catalog
from retailflow.dashboard.panels import CUBE_COLUMNS, DASHBOARD, Dashboard, cube_sql, store_product_sql
from retailflow.errors import RetailflowError
from retailflow.lake.state import load_reports
from retailflow.lake.storage import Lake

DEFAULT_WEEKS = 13  # a quarter: what a weekly business review looks at


def _json(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    value = con.execute(sql).fetchone()[0]
    return value if value is not None else "[]"


def build_payload_json(lake: Lake, weeks: int = DEFAULT_WEEKS, dashboard: Dashboard = DASHBOARD) -> str:
    """The page's data as one JSON document (text)."""
    with open_catalog(lake) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "weekly_sales_inventory_enriched" not in tables:
            raise RetailflowError("The catalog has no published weeks yet.", "Run `retailflow run` first.")
        con.execute(f"CREATE TEMP TABLE cube AS {cube_sql(weeks)}")
        con.execute("""CREATE TEMP TABLE dim_week AS
            SELECT yr_wk_num, MIN(week_start_dt) AS week_start_dt,
                   CAST(ROW_NUMBER() OVER (ORDER BY yr_wk_num) - 1 AS INTEGER) AS i
            FROM cube GROUP BY yr_wk_num""")
        con.execute("""CREATE TEMP TABLE dim_store AS
            SELECT *, CAST(ROW_NUMBER() OVER (ORDER BY store_key) - 1 AS INTEGER) AS i FROM (
              SELECT DISTINCT store_key, store_desc, city, prov_state_cd, market_name, latitude, longitude FROM cube)""")
        con.execute("""CREATE TEMP TABLE dim_category AS
            SELECT category_name, CAST(ROW_NUMBER() OVER (ORDER BY category_name) - 1 AS INTEGER) AS i
            FROM (SELECT DISTINCT category_name FROM cube)""")
        measures = ", ".join(f"'{c}': list(CAST(x.{c} AS DOUBLE) ORDER BY w.i, s.i, k.i)" for c in CUBE_COLUMNS)
        parts = {
            "weeks": _json(
                con,
                "SELECT to_json(list({'yr_wk_num': yr_wk_num, 'start': CAST(week_start_dt AS VARCHAR)} "
                "ORDER BY i)) FROM dim_week",
            ),
            "stores": _json(
                con,
                "SELECT to_json(list({'key': store_key, 'desc': store_desc, 'city': city, "
                "'state': prov_state_cd, 'market': market_name, 'lat': latitude, 'lon': longitude} "
                "ORDER BY i)) FROM dim_store",
            ),
            "categories": _json(con, "SELECT to_json(list(category_name ORDER BY i)) FROM dim_category"),
            "cube": _json(
                con,
                f"""SELECT to_json({{'w': list(w.i ORDER BY w.i, s.i, k.i), 's': list(s.i ORDER BY w.i, s.i, k.i),
                                    'c': list(k.i ORDER BY w.i, s.i, k.i), {measures}}})
                                FROM cube x JOIN dim_week w USING (yr_wk_num) JOIN dim_store s USING (store_key)
                                LEFT JOIN dim_category k ON k.category_name IS NOT DISTINCT FROM x.category_name""",
            ),
        }
        lists = {}
        list_panels = [p for p in dashboard.panels if p.dataset == "store_product_week"]
        for panel in list_panels:
            order = f"{panel.order_by} {'ASC' if panel.ascending else 'DESC'}, prod_key"
            con.execute(f"""CREATE TEMP TABLE list_{panel.id} AS
                SELECT * FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY yr_wk_num, store_key, category_name ORDER BY {order}) AS rn
                    FROM ({store_product_sql()}) p
                    WHERE {panel.where or "true"} AND yr_wk_num IN (SELECT yr_wk_num FROM dim_week)) r
                WHERE rn <= {int(panel.limit or 10)}""")
        if list_panels:
            union = " UNION ".join(f"SELECT prod_key, prod_name FROM list_{p.id}" for p in list_panels)
            con.execute(f"""CREATE TEMP TABLE dim_product AS
                SELECT prod_key, prod_name, CAST(ROW_NUMBER() OVER (ORDER BY prod_key) - 1 AS INTEGER) AS i
                FROM ({union}) u""")
            parts["products"] = _json(con, "SELECT to_json(list(prod_name ORDER BY i)) FROM dim_product")
        for panel in list_panels:
            cols = [c for c in panel.columns if c not in ("store_desc", "category_name", "prod_name")]
            key = "w.i, s.i, r.prod_key"
            # Lists are for display: 4 decimals are plenty. The exact figures come from the cube.
            values = ", ".join(f"'{c}': list(round(CAST({c} AS DOUBLE), 4) ORDER BY {key})" for c in cols)
            lists[panel.id] = _json(
                con,
                f"""
                SELECT to_json({{'w': list(w.i ORDER BY {key}), 's': list(s.i ORDER BY {key}),
                                 'c': list(k.i ORDER BY {key}), 'p': list(d.i ORDER BY {key}), {values}}})
                FROM list_{panel.id} r JOIN dim_week w USING (yr_wk_num) JOIN dim_store s USING (store_key)
                JOIN dim_product d USING (prod_key)
                LEFT JOIN dim_category k ON k.category_name IS NOT DISTINCT FROM r.category_name""",
            )
    as_of = _as_of(lake)
    import json

    spec = {
        "title": dashboard.title,
        "metrics": {name: m.spec() for name, m in dashboard.metrics.items()},
        "panels": [_panel_spec(p) for p in dashboard.panels],
        "filters": [{"column": c, "label": label} for c, label in dashboard.filters],
        "columnLabels": dashboard.column_labels,
    }
    body = ",".join(f'"{k}":{v}' for k, v in parts.items())
    list_body = ",".join(f'"{k}":{v}' for k, v in lists.items())
    return "{" + body + ',"lists":{' + list_body + '},"asOf":' + json.dumps(as_of) + ',"spec":' + json.dumps(spec) + "}"


def _panel_spec(panel) -> dict[str, Any]:
    return {
        "id": panel.id,
        "title": panel.title,
        "chart": panel.chart,
        "metrics": list(panel.metrics),
        "dataset": panel.dataset,
        "groupBy": list(panel.group_by),
        "orderBy": panel.order_by,
        "ascending": panel.ascending,
        "limit": panel.limit,
        "allWeeks": panel.all_weeks,
        "columns": list(panel.columns),
        "description": panel.description,
        "width": panel.width,
    }


def _as_of(lake: Lake) -> dict[str, Any]:
    """The last published week and the run that published it."""
    for report in load_reports(lake, limit=50):
        published = [w["yr_wk_num"] for w in report.get("weeks", []) if w.get("status") == "published"]
        if published:
            return {
                "week": max(published),
                "run_id": report["run_id"],
                "finished_at": report.get("finished_at"),
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
    return {
        "week": None,
        "run_id": None,
        "finished_at": None,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
