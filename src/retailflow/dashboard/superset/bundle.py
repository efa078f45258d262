"""The Superset import bundle (a zip), generated from the one dashboard definition (panels.DASHBOARD).

    bundle = build_bundle("/abs/lake/catalog/retailflow.duckdb")   # bytes of a zip
    bundle = build_bundle(AthenaCatalog("retailflow", "us-east-1"))  # the same dashboard on Glue + Athena
    bundle = build_bundle(catalog_target(settings, "/abs/lake/catalog/retailflow.duckdb"))  # as `catalog` says

The target is the DuckDB catalog file, or (``catalog = "glue"``) the Glue database queried through Athena
with PyAthena's SQLAlchemy dialect (``awsathena+rest://``). For Athena the datasets' SQL, computed columns
and metrics are rendered from the same DuckDB text to Trino (catalog/dialects.py), and the datasets' schema
is the Glue database. Credentials are never in the bundle: Superset's process takes them from the standard
AWS chain (its role, profile or variables).

The zip is Superset's v1 export layout, under one root folder:

    metadata.yaml
    databases/retailflow.yaml                    the catalog, opened read-only (DuckDB allows many readers)
    datasets/retailflow/store_week_category.yaml virtual dataset: panels.cube_sql(), metrics from panels.METRICS
    datasets/retailflow/store_product_week.yaml  virtual dataset: panels.store_product_sql()
    datasets/retailflow/store_week_category_with_previous.yaml
                                                 virtual dataset: panels.cube_with_previous_sql(), the cube
                                                 with the week before's columns (prev_*); metrics: each
                                                 metric, prev_<metric> and change_<metric>
    charts/<panel>.yaml                          one chart per panel (one per headline figure for the KPI panel)
    dashboards/retailflow.yaml                   layout from the panels' widths, native filters from panels.FILTERS

It imports with ``superset import-dashboards -p FILE`` or the UI's dashboard import, and with
``POST /api/v1/assets/import/`` (what ``retailflow superset up`` uses: it overwrites every object). UUIDs are
uuid5 of the objects' names, so importing again replaces the same objects instead of adding copies. The
files are JSON, which is YAML too: the pipeline's own environment has no YAML library, and Superset's
loader (PyYAML) reads it. The function is pure: the same dashboard and path give the same bytes.

Chart types: kpi -> one ``big_number_total`` per metric, then a one-row ``table`` "Change against the week
before" over the with-previous dataset: one column per metric, its change_<metric> (relative change, or
percentage points for a percent; green when better, red when worse, as the HTML headline). Superset's own
period comparisons (the trendline Big Number, "Big Number with Time Period Comparison") compare time ranges
and cannot follow the week select filter, so the week before travels in the dataset instead.
line -> ``echarts_timeseries_line`` over the panel's date column; bar -> ``echarts_timeseries_bar`` with a
category x-axis; table -> ``table`` in raw mode (columns, order, row limit, the panel's row condition);
pie -> ``pie``; map -> ``country_map`` of the USA by state (ISO code ``'US-' || prov_state_cd``, a computed
column of the cube), coloured by the panel's first metric: it ships its own shapes, so it needs no map
tiles, tokens or network. Being additive, the metric re-aggregates exactly from stores to states.

Every chart also carries a saved query context (what Superset's chart-data API and reports run): the
dashboard itself builds its queries in the browser from the chart's form data.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from retailflow.dashboard import panels
from retailflow.dashboard.panels import DASHBOARD, Dashboard, Metric, Panel
from retailflow.tables import PRODUCT, STORE
from retailflow.transform.schema import PARTITION_COLUMN, WEEKLY_COLUMNS

VERSION = "1.0.0"  # Superset's import format version
ROOT = "retailflow_superset"  # the zip's root folder (Superset strips the first path element)
NAMESPACE = uuid.UUID("6f1d3c52-8f0e-5b7a-9a43-3c1c0e0f2a11")  # of every uuid5 below: never change it
DATABASE_NAME = "retailflow"
DASHBOARD_SLUG = "retailflow"
CUBE = "store_week_category"
STORE_PRODUCT = "store_product_week"
CUBE_PREVIOUS = "store_week_category_with_previous"
CHANGE = "change_"  # prefix of the change metrics of CUBE_PREVIOUS (panels.PREVIOUS for the week-before ones)
STATE_ISO = "state_iso"  # computed column of the cube for the country map: 'US-' || prov_state_cd
PLACEHOLDER_DATASOURCE = {"id": 0, "type": "table"}  # the importer fills in the real dataset id

NUMBER_FORMATS = {"money": "$,.2f", "price": "$,.2f", "percent": ".1%", "number": ",.2~f"}
CHANGE_FORMATS = {"relative": "+.1%", "points": "+.1f"}  # as template.html's renderKpi: +5.1%, +1.2 (pts)
LABELS = {  # column headers; metric columns and filter columns take their labels from panels.py
    "week_start_dt": "Week start",
    "store_key": "Store key",
    "city": "City",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "prod_key": "Product key",
    "prod_name": "Product",
    "total_sales_qty": "Units sold",
    "total_sales_amt": "Sales",
    "low_stock_instances": "Low-stock days",
    "weeks_of_supply": "Weeks of supply",
    "eow_stock_on_hand_qty": "End-of-week stock",
    "sales_qty": "Units",
    "no_stock_days": "No-stock days",
    "store_products": "Store products",
    STATE_ISO: "State (ISO 3166-2)",
}
HEIGHTS = {"kpi": 26, "change": 18, "line": 50, "bar": 50, "pie": 50, "table": 50, "map": 60}  # grid units of 8 px


def object_uuid(kind: str, name: str) -> str:
    """The stable UUID of a bundle object: the same name gives the same UUID on every build."""
    return str(uuid.uuid5(NAMESPACE, f"retailflow/{kind}/{name}"))


# -- datasets -----------------------------------------------------------------------------------------

_SOURCE_TYPES: dict[str, str] = {
    c.name: c.type for c in (*STORE.columns, *PRODUCT.columns, *WEEKLY_COLUMNS, PARTITION_COLUMN)
}


def _sum_type(source: str) -> str:
    """The type DuckDB gives SUM of a column of this type."""
    if source.startswith("DECIMAL"):
        return "DECIMAL(38," + source.rstrip(")").split(",")[1] + ")"
    return {"INTEGER": "HUGEINT", "BIGINT": "HUGEINT", "DOUBLE": "DOUBLE"}.get(source, "DOUBLE")


def _aggregate_type(expr: str) -> str:
    match = re.fullmatch(r"SUM\((\w+)\)", expr.strip())
    if match:
        return _sum_type(_SOURCE_TYPES.get(match.group(1), "DOUBLE"))
    if expr.strip().upper().startswith("COUNT("):
        return "BIGINT"
    return "DOUBLE"


def _select_list(sql: str) -> list[str]:
    """The column names of a plain ``SELECT a, b, c FROM t``."""
    match = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", sql, re.IGNORECASE | re.DOTALL)
    if not match:
        raise ValueError(f"Not a plain SELECT list: {sql[:80]!r}")
    return [item.strip().split()[-1] for item in match.group(1).split(",")]


@dataclass(frozen=True)
class DatasetMetric:
    name: str
    label: str
    expression: str
    d3format: str | None


def _metric(m: Metric) -> DatasetMetric:
    return DatasetMetric(m.name, m.label, m.sql(), NUMBER_FORMATS.get(m.format))


def _previous_metric(m: Metric) -> DatasetMetric:
    return DatasetMetric(
        panels.PREVIOUS + m.name, f"{m.label}, week before", m.sql(panels.PREVIOUS), NUMBER_FORMATS.get(m.format)
    )


def _change_metric(m: Metric) -> DatasetMetric:
    if m.change_in_points:
        label, d3format = f"{m.label} vs week before (pts)", CHANGE_FORMATS["points"]
    else:
        label, d3format = f"{m.label} vs week before", CHANGE_FORMATS["relative"]
    return DatasetMetric(CHANGE + m.name, label, m.change_sql(), d3format)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sql: str
    columns: tuple[tuple[str, str, str | None], ...]  # (name, type, expression or None)
    metrics: tuple[DatasetMetric, ...] = ()
    main_dttm_col: str = "week_start_dt"

    @property
    def uuid(self) -> str:
        return object_uuid("dataset", self.name)

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]


def dataset_specs(dashboard: Dashboard = DASHBOARD) -> dict[str, DatasetSpec]:
    """The datasets the panels read, by name: the cube, the store/product rows, and the cube with the week
    before (for the headline's changes)."""
    dimensions = [(name, _SOURCE_TYPES[name], None) for name in panels.CUBE_DIMENSIONS]
    additive = [(name, _aggregate_type(expr), None) for name, expr in panels.CUBE_COLUMNS.items()]
    previous = [(panels.PREVIOUS + name, type_, None) for name, type_, _ in additive]
    state_iso = (STATE_ISO, "VARCHAR", "'US-' || prov_state_cd")
    product_columns = [(name, _SOURCE_TYPES[name], None) for name in _select_list(panels.store_product_sql())]
    metrics = list(dashboard.metrics.values())
    return {
        CUBE: DatasetSpec(
            CUBE, panels.cube_sql(None), (*dimensions, *additive, state_iso), tuple(_metric(m) for m in metrics)
        ),
        STORE_PRODUCT: DatasetSpec(STORE_PRODUCT, panels.store_product_sql(), tuple(product_columns)),
        CUBE_PREVIOUS: DatasetSpec(
            CUBE_PREVIOUS,
            panels.cube_with_previous_sql(),
            (*dimensions, *additive, *previous, state_iso),
            tuple(
                [_metric(m) for m in metrics]
                + [_previous_metric(m) for m in metrics]
                + [_change_metric(m) for m in metrics]
            ),
        ),
    }


def _label(name: str, dashboard: Dashboard) -> str | None:
    filters = dict(dashboard.filters)
    if name in filters:
        return filters[name]
    if name in dashboard.metrics:
        return dashboard.metrics[name].label
    if name.startswith(panels.PREVIOUS) and name.removeprefix(panels.PREVIOUS) in panels.CUBE_COLUMNS:
        label = _label(name.removeprefix(panels.PREVIOUS), dashboard)
        return f"{label}, week before" if label else None
    return LABELS.get(name)


def _dataset_config(spec: DatasetSpec, dashboard: Dashboard, target: Any = None) -> dict[str, Any]:
    dialect = "athena" if isinstance(target, AthenaCatalog) else "duckdb"

    def sql(text: str | None) -> str | None:
        if dialect == "duckdb" or not text:
            return text
        from retailflow.catalog.dialects import render_expression  # sqlglot: the aws extra

        return render_expression(text, dialect)

    def query(text: str) -> str:
        if dialect == "duckdb":
            return text
        from retailflow.catalog.dialects import to_trino

        return to_trino(text)

    columns = [
        {
            "column_name": name,
            "verbose_name": _label(name, dashboard),
            "is_dttm": type_ in ("DATE", "TIMESTAMP"),
            "is_active": True,
            "type": type_,
            "advanced_data_type": None,
            "groupby": True,
            "filterable": True,
            "expression": sql(expression),
            "description": None,
            "python_date_format": None,
            "extra": {},
        }
        for name, type_, expression in spec.columns
    ]
    metrics = [
        {
            "metric_name": m.name,
            "verbose_name": m.label,
            "metric_type": None,
            "expression": sql(m.expression),
            "description": None,
            "d3format": m.d3format,
            "extra": {},
            "warning_text": None,
        }
        for m in spec.metrics
    ]
    return {
        "table_name": spec.name,
        "main_dttm_col": spec.main_dttm_col,
        "description": None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": target.database if dialect == "athena" else "main",
        "catalog": None,
        "sql": query(spec.sql),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": spec.uuid,
        "metrics": metrics,
        "columns": columns,
        "version": VERSION,
        "database_uuid": object_uuid("database", DATABASE_NAME),
    }


# -- charts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSpec:
    key: str  # unique: the panel id, or panel id + "." + metric for the headline figures
    panel: Panel
    title: str
    viz_type: str
    dataset: str
    params: dict[str, Any] = field(hash=False)
    query: dict[str, Any] = field(hash=False)  # the saved query context's query object
    width: int = 6
    height: int = 50

    @property
    def uuid(self) -> str:
        return object_uuid("chart", self.key)

    @property
    def metrics(self) -> list[str]:
        return [m for m in self.query.get("metrics", []) if isinstance(m, str)]


def _query(
    columns: list[Any], metrics: list[str], orderby: list[list[Any]], row_limit: int, where: str | None = None
) -> dict[str, Any]:
    return {
        "filters": [],
        "extras": {"having": "", "where": f"({where})" if where else ""},
        "applied_time_extras": {},
        "columns": columns,
        "metrics": metrics,
        "orderby": orderby,
        "annotation_layers": [],
        "row_limit": row_limit,
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }


def _sql_filter(where: str) -> dict[str, Any]:
    return {
        "expressionType": "SQL",
        "sqlExpression": where,
        "clause": "WHERE",
        "subject": None,
        "operator": None,
        "comparator": None,
        "isExtra": False,
        "isNew": False,
        "filterOptionName": "filter_" + uuid.uuid5(NAMESPACE, where).hex[:12],
    }


def _base_params(viz_type: str, adhoc_filters: list[dict] | None = None) -> dict[str, Any]:
    return {
        "viz_type": viz_type,
        "datasource": "0__table",
        "adhoc_filters": adhoc_filters or [],
        "extra_form_data": {},
        "dashboards": [],
    }


def _format(dashboard: Dashboard, metric: str) -> str:
    m = dashboard.metrics.get(metric)
    return NUMBER_FORMATS.get(m.format if m else "number", "SMART_NUMBER")


def _column_format(dashboard: Dashboard, column: str) -> str | None:
    """A table column's number format: its metric's, else by its type (None for text and dates)."""
    if column in dashboard.metrics:
        return _format(dashboard, column)
    source = _SOURCE_TYPES.get(column, "")
    if source in ("INTEGER", "BIGINT"):
        return ",d"
    if source == "DOUBLE":
        return ",.2f"
    return ",.2~f" if source.startswith("DECIMAL") else None


def _kpi_charts(panel: Panel, dashboard: Dashboard) -> list[ChartSpec]:
    width = max(1, panel.width // max(1, len(panel.metrics)))
    charts = []
    for name in panel.metrics:
        metric = dashboard.metrics[name]
        params = _base_params("big_number_total") | {
            "metric": name,
            "header_font_size": 0.3,
            "subheader_font_size": 0.125,
            "y_axis_format": _format(dashboard, name),
            "time_format": "smart_date",
            "subheader": "",
        }
        charts.append(
            ChartSpec(
                f"{panel.id}.{name}",
                panel,
                metric.label,
                "big_number_total",
                panel.dataset,
                params,
                _query([], [name], [], 1),
                width,
                HEIGHTS["kpi"],
            )
        )
    charts.append(_change_chart(panel, dashboard))
    return charts


def _better_when_up(metric: str) -> bool:
    """As template.html's renderKpi: an impact is a loss, so its rise is bad news."""
    return "impact" not in metric


def _change_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    """The headline's change against the week before: a one-row table, a column per headline metric, over
    the cube with the week before, so the native filters select both weeks' figures alike."""
    metrics = [CHANGE + name for name in panel.metrics]
    colours = []
    for name, metric in zip(panel.metrics, metrics, strict=True):
        good, bad = ("colorSuccess", "colorError") if _better_when_up(name) else ("colorError", "colorSuccess")
        for operator, colour in ((">", good), ("<", bad)):
            colours.append(
                {
                    "column": metric,
                    "operator": operator,
                    "targetValue": 0,
                    "colorScheme": colour,
                    "objectFormatting": "TEXT_COLOR",
                    "useGradient": False,
                }
            )
    params = _base_params("table") | {
        "query_mode": "aggregate",
        "groupby": [],
        "metrics": metrics,
        "all_columns": [],
        "percent_metrics": [],
        "order_by_cols": [],
        "order_desc": True,
        "row_limit": 10,  # one row comes back; a limit of 1 would flag "row limit reached"
        "server_pagination": False,
        "include_search": False,
        "show_cell_bars": False,
        "color_pn": False,
        "show_totals": False,
        "allow_render_html": False,
        "conditional_formatting": colours,
    }
    return ChartSpec(
        f"{panel.id}.change",
        panel,
        "Change against the week before",
        "table",
        CUBE_PREVIOUS,
        params,
        _query([], metrics, [], 10),
        panel.width,
        HEIGHTS["change"],
    )


def _time_axis(column: str) -> dict[str, Any]:
    return {
        "timeGrain": "P1D",
        "columnType": "BASE_AXIS",
        "sqlExpression": column,
        "label": column,
        "expressionType": "SQL",
    }


def _line_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    x_axis = panel.group_by[0]
    metrics = list(panel.metrics)
    params = _base_params("echarts_timeseries_line") | {
        "x_axis": x_axis,
        "time_grain_sqla": "P1D",
        "metrics": metrics,
        "groupby": [],
        "row_limit": 10000,
        "order_desc": True,
        "x_axis_sort_asc": True,
        "x_axis_time_format": "%b %d",
        "tooltipTimeFormat": "%Y-%m-%d",
        "rich_tooltip": True,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "top",
        "markerEnabled": True,
        "markerSize": 6,
        "seriesType": "line",
        "y_axis_format": _format(dashboard, metrics[0]),
        "truncateYAxis": False,
        "y_axis_bounds": [None, None],
        "comparison_type": "values",
        "annotation_layers": [],
        "only_total": True,
        "zoomable": False,
    }
    query = _query([_time_axis(x_axis)], metrics, [[metrics[0], False]], 10000)
    query["series_columns"] = []
    return ChartSpec(
        panel.id,
        panel,
        panel.title,
        "echarts_timeseries_line",
        panel.dataset,
        params,
        query,
        panel.width,
        HEIGHTS["line"],
    )


def _bar_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    x_axis = panel.group_by[0]
    metrics = list(panel.metrics)
    order = panel.order_by or metrics[0]
    limit = panel.limit or 1000
    params = _base_params("echarts_timeseries_bar") | {
        "x_axis": x_axis,
        "metrics": metrics,
        "groupby": [],
        "row_limit": limit,
        "order_desc": not panel.ascending,
        "timeseries_limit_metric": order if order in dashboard.metrics else None,
        "x_axis_sort": order if order in metrics else None,
        "x_axis_sort_asc": panel.ascending,
        "orientation": "vertical",
        "show_legend": len(metrics) > 1,
        "legendOrientation": "top",
        "rich_tooltip": True,
        "xAxisLabelRotation": 45,
        "y_axis_format": _format(dashboard, metrics[0]),
        "show_value": False,
        "truncateYAxis": False,
        "y_axis_bounds": [None, None],
        "annotation_layers": [],
        "comparison_type": "values",
        "only_total": True,
    }
    query = _query([x_axis], metrics, [[order, panel.ascending]], limit)
    query["series_columns"] = []
    return ChartSpec(
        panel.id,
        panel,
        panel.title,
        "echarts_timeseries_bar",
        panel.dataset,
        params,
        query,
        panel.width,
        HEIGHTS["bar"],
    )


def _pie_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    metric = panel.metrics[0]
    limit = panel.limit or 100
    params = _base_params("pie") | {
        "groupby": list(panel.group_by),
        "metric": metric,
        "row_limit": limit,
        "sort_by_metric": True,
        "number_format": _format(dashboard, metric),
        "show_legend": True,
        "show_labels": True,
        "label_type": "key_percent",
        "donut": True,
    }
    query = _query(list(panel.group_by), [metric], [[metric, False]], limit)
    return ChartSpec(panel.id, panel, panel.title, "pie", panel.dataset, params, query, panel.width, HEIGHTS["pie"])


def _table_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    columns = list(panel.columns)
    limit = panel.limit or 1000
    filters = [_sql_filter(panel.where)] if panel.where else []
    order = [[panel.order_by, panel.ascending]] if panel.order_by else []
    params = _base_params("table", filters) | {
        "query_mode": "raw",
        "all_columns": columns,
        "groupby": [],
        "metrics": [],
        "percent_metrics": [],
        "order_by_cols": [json.dumps(o) for o in order],
        "order_desc": not panel.ascending,
        "row_limit": limit,
        "server_pagination": False,
        "server_page_length": 10,
        "include_search": False,
        "show_cell_bars": True,
        "table_timestamp_format": "smart_date",
        "allow_render_html": False,
        "color_pn": False,
        "column_config": {
            c: {"d3NumberFormat": _column_format(dashboard, c)} for c in columns if _column_format(dashboard, c)
        },
    }
    query = _query(columns, [], order, limit, panel.where)
    return ChartSpec(panel.id, panel, panel.title, "table", panel.dataset, params, query, panel.width, HEIGHTS["table"])


def _map_chart(panel: Panel, dashboard: Dashboard) -> ChartSpec:
    metric = panel.metrics[0]
    label = dashboard.metrics[metric].label
    not_null = {
        "expressionType": "SIMPLE",
        "subject": "prov_state_cd",
        "operator": "IS NOT NULL",
        "comparator": None,
        "clause": "WHERE",
        "isExtra": False,
        "isNew": False,
        "filterOptionName": "filter_state_not_null",
    }
    params = _base_params("country_map", [not_null]) | {
        "select_country": "usa",
        "entity": STATE_ISO,
        "metric": metric,
        "number_format": _format(dashboard, metric),
        "linear_color_scheme": "schemeRdYlGn",
        "row_limit": 500,
    }
    query = _query([STATE_ISO], [metric], [[metric, False]], 500)
    query["filters"] = [{"col": "prov_state_cd", "op": "IS NOT NULL"}]
    return ChartSpec(
        panel.id, panel, f"{label} by state", "country_map", panel.dataset, params, query, panel.width, HEIGHTS["map"]
    )


_BUILDERS = {"line": _line_chart, "bar": _bar_chart, "pie": _pie_chart, "table": _table_chart, "map": _map_chart}


def chart_specs(dashboard: Dashboard = DASHBOARD) -> list[ChartSpec]:
    """Every chart of the dashboard, in layout order."""
    datasets = dataset_specs(dashboard)
    charts: list[ChartSpec] = []
    for panel in dashboard.panels:
        if panel.dataset not in datasets:
            raise ValueError(f"Panel {panel.id!r} reads unknown dataset {panel.dataset!r}.")
        if panel.chart == "kpi":
            charts += _kpi_charts(panel, dashboard)
        elif panel.chart in _BUILDERS:
            charts.append(_BUILDERS[panel.chart](panel, dashboard))
        else:
            raise ValueError(f"Panel {panel.id!r} has chart type {panel.chart!r}, which has no Superset chart.")
    return charts


def _chart_config(chart: ChartSpec, datasets: dict[str, DatasetSpec]) -> dict[str, Any]:
    query_context = {
        "datasource": dict(PLACEHOLDER_DATASOURCE),
        "force": False,
        "queries": [chart.query],
        "form_data": chart.params,
        "result_format": "json",
        "result_type": "full",
    }
    return {
        "slice_name": chart.title,
        "description": chart.panel.description or None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": chart.viz_type,
        "params": chart.params,
        "query_context": json.dumps(query_context, sort_keys=True),
        "cache_timeout": None,
        "uuid": chart.uuid,
        "version": VERSION,
        "dataset_uuid": datasets[chart.dataset].uuid,
    }


# -- dashboard ----------------------------------------------------------------------------------------


def _position(charts: list[ChartSpec], chart_ids: dict[str, int], title: str) -> dict[str, Any]:
    """Superset's layout tree: ROOT > GRID > ROW > CHART, charts packed into 12-column rows in order."""
    rows: list[list[ChartSpec]] = []
    used = 12
    for chart in charts:
        kpi = chart.panel.chart == "kpi"
        joins = (
            rows
            and used + chart.width <= 12
            and (rows[-1][-1].panel is chart.panel if kpi else rows[-1][-1].panel.chart != "kpi")
        )
        if joins:
            rows[-1].append(chart)
            used += chart.width
        else:
            rows.append([chart])
            used = chart.width
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": title}},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    for n, row in enumerate(rows, 1):
        row_id = f"ROW-{n}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_id = "CHART-" + re.sub(r"[^A-Za-z0-9_-]", "-", chart.key)
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": chart_ids[chart.key],
                    "uuid": chart.uuid,
                    "width": chart.width,
                    "height": chart.height,
                    "sliceName": chart.title,
                },
            }
    return position


def _native_filters(
    dashboard: Dashboard, charts: list[ChartSpec], chart_ids: dict[str, int], datasets: dict[str, DatasetSpec]
) -> list[dict[str, Any]]:
    """One select filter per panels.FILTERS column. The week filter is single-choice, defaults to the latest
    week and leaves out the trend panels (all_weeks); the others are multi-choice and empty by default.
    Charts in scope are left for Superset to compute from ``scope`` (the importer renumbers its chart ids)."""
    filters = []
    week = dashboard.filters[0][0] if dashboard.filters else None
    for column, label in dashboard.filters:
        is_week = column == week
        excluded = sorted(chart_ids[c.key] for c in charts if is_week and c.panel.all_weeks)
        filters.append(
            {
                "id": f"NATIVE_FILTER-{column}",
                "name": label,
                "filterType": "filter_select",
                "type": "NATIVE_FILTER",
                "description": "",
                "cascadeParentIds": [],
                "targets": [{"column": {"name": column}, "datasetUuid": datasets[CUBE].uuid}],
                "controlValues": {
                    "enableEmptyFilter": is_week,
                    "defaultToFirstItem": is_week,
                    "multiSelect": not is_week,
                    "searchAllOptions": False,
                    "inverseSelection": False,
                    "sortAscending": not is_week,
                },
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                "requiredFirst": is_week,
                "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
            }
        )
    return filters


def _dashboard_config(dashboard: Dashboard, charts: list[ChartSpec], datasets: dict[str, DatasetSpec]) -> dict:
    chart_ids = {chart.key: n for n, chart in enumerate(charts, 1)}  # placeholders, renumbered on import
    metadata = {
        "native_filter_configuration": _native_filters(dashboard, charts, chart_ids, datasets),
        "chart_configuration": {},
        "global_chart_configuration": {},
        "cross_filters_enabled": False,
        "color_scheme": "",  # none: a dashboard scheme would turn the map's linear scale into categorical colours
        "label_colors": {},
        "shared_label_colors": [],
        "map_label_colors": {},
        "color_scheme_domain": [],
        "refresh_frequency": 0,
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "default_filters": "{}",
    }
    return {
        "dashboard_title": dashboard.title,
        "description": None,
        "css": "",
        "slug": DASHBOARD_SLUG,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": object_uuid("dashboard", DASHBOARD_SLUG),
        "position": _position(charts, chart_ids, dashboard.title),
        "metadata": metadata,
        "version": VERSION,
    }


# -- the zip ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AthenaCatalog:
    """The Glue database of the curated tables, queried through Athena (the settings' glue_database,
    aws_region, athena_workgroup, athena_output, aws_endpoint_url)."""

    database: str
    region: str
    workgroup: str = "primary"
    output: str = ""  # s3://... for results; empty: the workgroup's result location
    endpoint_url: str = ""  # another Athena API (tests: the local one)


@dataclass(frozen=True)
class S3Catalog:
    """The DuckDB catalog of an S3 lake (``s3://bucket/prefix/catalog/retailflow.duckdb``). The bundle's
    database is then an in-memory DuckDB (``duckdb:///:memory:``): the Superset that runs it attaches this
    catalog read-only on every new connection (``process.S3_CONFIG``: httpfs by file path, a temporary S3
    secret from that process's AWS credential chain). No credentials in the bundle."""

    url: str


def catalog_target(settings: Any, duckdb_catalog: str | os.PathLike) -> str | os.PathLike | AthenaCatalog:
    """What the bundle targets, as the ``catalog`` setting says: the DuckDB catalog file, or Glue + Athena."""
    if getattr(settings, "catalog", "duckdb") != "glue":
        return duckdb_catalog
    region = settings.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    if not region:
        from retailflow.errors import ConfigError

        raise ConfigError("Superset on Athena needs the AWS region.", "Set aws_region (or AWS_REGION).")
    return AthenaCatalog(
        settings.glue_database, region, settings.athena_workgroup, settings.athena_output, settings.aws_endpoint_url
    )


def database_uri(catalog: str | os.PathLike | AthenaCatalog | S3Catalog) -> str:
    """duckdb:////abs/path/catalog/retailflow.duckdb, duckdb:///:memory: for an S3 lake's catalog, or for Athena
    awsathena+rest://@athena.REGION.amazonaws.com:443/DATABASE?work_group=...&s3_staging_dir=..."""
    if isinstance(catalog, AthenaCatalog):
        query = {"work_group": catalog.workgroup}
        if catalog.output:
            query["s3_staging_dir"] = catalog.output
        if catalog.endpoint_url:
            query["endpoint_url"] = catalog.endpoint_url
        host = f"athena.{catalog.region}.amazonaws.com:443"
        return f"awsathena+rest://@{host}/{quote(catalog.database, safe='')}?{urlencode(query)}"
    if isinstance(catalog, S3Catalog):
        return "duckdb:///:memory:"
    return "duckdb:///" + os.path.abspath(os.fspath(catalog))


def _database_config(catalog: str | os.PathLike | AthenaCatalog | S3Catalog) -> dict[str, Any]:
    if isinstance(catalog, AthenaCatalog):
        # Athena reads the tables where they lie; nothing to open read-only. Queries run in the workgroup.
        extra = {
            "engine_params": {},
            "metadata_params": {},
            "metadata_cache_timeout": {},
            "schemas_allowed_for_csv_upload": [],
            "allows_virtual_table_explore": True,
        }
        return {**_database_config_base(catalog), "extra": extra}
    if isinstance(catalog, S3Catalog):
        # An in-memory database (it cannot be read-only); the S3 catalog is attached READ_ONLY into it.
        base = _database_config_base(catalog)
        return {**base, "extra": {**base["extra"], "engine_params": {}}}
    return _database_config_base(catalog)


def _database_config_base(catalog: str | os.PathLike | AthenaCatalog | S3Catalog) -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": database_uri(catalog),
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_csv_upload": False,
        "impersonate_user": False,
        # Read-only: DuckDB allows many read-only processes, or one writer. The pipeline never writes this
        # file in place (it renames a new one over it); Superset opens a new connection per query (NullPool),
        # so the next query reads the new catalog.
        "extra": {
            "engine_params": {"connect_args": {"read_only": True}},
            "metadata_params": {},
            "metadata_cache_timeout": {},
            "schemas_allowed_for_csv_upload": [],
            "allows_virtual_table_explore": True,
        },
        "uuid": object_uuid("database", DATABASE_NAME),
        "version": VERSION,
    }


def bundle_files(
    catalog: str | os.PathLike | AthenaCatalog | S3Catalog, dashboard: Dashboard = DASHBOARD
) -> dict[str, dict[str, Any]]:
    """Every file of the bundle (path inside the root folder -> its content), before serialization."""
    datasets = dataset_specs(dashboard)
    charts = chart_specs(dashboard)
    files: dict[str, dict[str, Any]] = {
        "metadata.yaml": {"version": VERSION},
        f"databases/{DATABASE_NAME}.yaml": _database_config(catalog),
    }
    for spec in datasets.values():
        files[f"datasets/{DATABASE_NAME}/{spec.name}.yaml"] = _dataset_config(spec, dashboard, catalog)
    for chart in charts:
        files[f"charts/{chart.key.replace('.', '_')}.yaml"] = _chart_config(chart, datasets)
    files[f"dashboards/{DASHBOARD_SLUG}.yaml"] = _dashboard_config(dashboard, charts, datasets)
    return files


def build_bundle(catalog: str | os.PathLike | AthenaCatalog | S3Catalog, dashboard: Dashboard = DASHBOARD) -> bytes:
    """The import bundle (zip bytes) for the catalog at this path (made absolute), or for Glue + Athena."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in bundle_files(catalog, dashboard).items():
            info = zipfile.ZipInfo(posixpath.join(ROOT, name), date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, json.dumps(content, indent=2, sort_keys=True) + "\n")
    return out.getvalue()
