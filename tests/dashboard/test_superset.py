"""Superset for real: a small published lake, `server.up` on a free loopback port, the bundle imported, every
chart queried through the REST API, the headline figures against the catalog, the dashboard rendered in
headless Chromium, and a week published while Superset runs.

Needs .venv-superset (`make superset`, which `make test` runs first). Fiscal weeks: 202602 = 2026-01-04..10,
202603 = 2026-01-11..17 are published by the fixture; 202604 = 2026-01-18..24 by the refresh test.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from retailflow.config import Settings
from retailflow.dashboard import panels
from retailflow.dashboard.superset import server
from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG, build_bundle, chart_specs, dataset_specs
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.source.generate import GenerateSpec, generate
from retailflow.transform.runner import run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset")]

SPEC = GenerateSpec(dt.date(2026, 1, 4), dt.date(2026, 1, 24), stores=12, products=15, seed=11)
DAYS = [SPEC.start + dt.timedelta(days=n) for n in range(21)]
FIRST_WEEKS, NEW_WEEK = DAYS[:14], DAYS[14:]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Superset's prebuilt frontend always loads a telemetry pixel from this host; offline it fails to load.
# That is the only console error allowed, and only for that host.
TELEMETRY_HOST = "apachesuperset.gateway.scarf.sh"


class Pipeline:
    """A source database and a lake; publish(days) exports them and runs the pipeline (catalog included)."""

    def __init__(self, root: Path):
        self.root = root
        self.lake = str(root / "lake")
        self.source = root / "source.duckdb"
        generate(self.source, SPEC)

    def publish(self, days: list[dt.date]) -> list[int]:
        src = open_source(url_of(self.source))
        try:
            export_days(src, Lake(self.lake), days)
        finally:
            src.close()
        return [w.yr_wk_num for w in run(Settings(lake=self.lake), days=days).weeks]

    @property
    def catalog(self) -> Path:
        return server.catalog_file(self.lake)

    def query(self, sql: str, params: dict | None = None) -> dict:
        con = duckdb.connect(str(self.catalog), read_only=True)
        try:
            cursor = con.execute(sql, params or {})
            names = [d[0] for d in cursor.description]
            return dict(zip(names, cursor.fetchone(), strict=True))
        finally:
            con.close()

    def latest_week(self) -> int:
        return self.query("SELECT MAX(yr_wk_num) AS week FROM weekly_sales_inventory")["week"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    pipeline = Pipeline(tmp_path_factory.mktemp("superset"))
    assert pipeline.publish(FIRST_WEEKS) == [202602, 202603]
    return pipeline


@pytest.fixture(scope="module")
def superset(pipeline):
    """Superset serving the pipeline's lake; always stopped afterwards."""
    try:
        yield server.up(pipeline.lake, port=free_port(), password=secrets.token_urlsafe(12))
    finally:
        server.down(pipeline.lake)


@pytest.fixture(scope="module")
def api(superset) -> server.SupersetClient:
    return server.SupersetClient(superset.url, superset.username, superset.password).login()


@pytest.fixture(scope="module")
def charts(api) -> dict[str, dict]:
    """The dashboard's charts by uuid: id, slice_name, viz_type, uuid."""
    answer = api.get("/api/v1/chart/?q=(columns:!(id,uuid,slice_name,viz_type),page_size:100)")
    return {c["uuid"]: c for c in answer["result"]}


def chart_data(api, chart_id: int, filters: list[dict] | None = None) -> list[dict]:
    """The rows of a chart's saved query, with extra filters, through POST /api/v1/chart/data."""
    context = json.loads(api.get(f"/api/v1/chart/{chart_id}")["result"]["query_context"])
    for query in context["queries"]:
        query["filters"] = query.get("filters", []) + (filters or [])
    context["force"] = True
    (result,) = api.post("/api/v1/chart/data", context)["result"]
    assert not result.get("error"), result
    return result["data"]


def headline(api, charts, week: int) -> dict[str, float]:
    """The headline figures the dashboard's KPI charts show for a week."""
    figures = {}
    for spec in chart_specs():
        if spec.panel.chart == "kpi":
            (metric,) = spec.metrics
            (row,) = chart_data(api, charts[spec.uuid]["id"], [{"col": "yr_wk_num", "op": "==", "val": week}])
            figures[metric] = row[metric]
    return figures


def assert_same_figures(shown: dict[str, float], expected: dict) -> None:
    assert set(shown) == set(panels.HEADLINE)
    for name in panels.HEADLINE:
        assert math.isclose(float(shown[name]), float(expected[name]), rel_tol=1e-9, abs_tol=1e-9), name


# -- the bundle and the import -------------------------------------------------------------------------


def test_the_bundle_is_deterministic_and_complete(pipeline):
    bundle = build_bundle(pipeline.catalog)
    assert bundle == build_bundle(pipeline.catalog)
    names = zipfile.ZipFile(io.BytesIO(bundle)).namelist()
    assert len(names) == 2 + len(dataset_specs()) + len(chart_specs()) + 1
    database = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("retailflow_superset/databases/retailflow.yaml"))
    assert database["sqlalchemy_uri"] == f"duckdb:///{pipeline.catalog}"
    assert database["extra"]["engine_params"]["connect_args"] == {"read_only": True}
    assert database["allow_dml"] is False


def test_the_dashboard_and_every_chart_are_imported(api, charts):
    dashboard = api.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}")["result"]
    assert dashboard["dashboard_title"] == panels.DASHBOARD.title
    specs = chart_specs()
    assert {s.uuid for s in specs} <= set(charts)
    on_dashboard = {c["id"] for c in api.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}/charts")["result"]}
    assert on_dashboard == {charts[s.uuid]["id"] for s in specs}
    assert {charts[s.uuid]["viz_type"] for s in specs} >= {"big_number_total", "echarts_timeseries_line", "table"}

    # Every chart is placed on the grid, under its real id.
    placed = {
        item["meta"]["uuid"]: item["meta"]["chartId"]
        for item in json.loads(dashboard["position_json"]).values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    assert placed == {s.uuid: charts[s.uuid]["id"] for s in specs}

    # The native filters, the week filter leaving the trends out.
    filters = json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    assert [f["name"] for f in filters] == [label for _, label in panels.FILTERS]
    assert [f["targets"][0]["column"]["name"] for f in filters] == [column for column, _ in panels.FILTERS]
    trends = {charts[s.uuid]["id"] for s in specs if s.panel.all_weeks}
    assert trends and set(filters[0]["scope"]["excluded"]) == trends


def test_every_chart_returns_rows(api, charts):
    for spec in chart_specs():
        chart_id = charts[spec.uuid]["id"]
        (result,) = api.get(f"/api/v1/chart/{chart_id}/data/")["result"]
        assert not result.get("error"), (spec.key, result.get("error"))
        assert result["rowcount"] > 0, spec.key
        if spec.panel.limit:
            assert result["rowcount"] <= spec.panel.limit, spec.key


def test_the_headline_figures_are_the_catalogs(api, charts, pipeline):
    week = pipeline.latest_week()
    expected = pipeline.query(panels.headline_sql(), {"week": week})
    assert expected["sales_amt"] > 0
    assert_same_figures(headline(api, charts, week), expected)


# -- the dashboard in a browser ------------------------------------------------------------------------


def chrome():
    """Debian's headless Chromium through Selenium; a skip only outside CI when it is not installed."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run installs them)")
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="retailflow-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1600,2400",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options), profile
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise


# Per chart on the page: its type, whether it shows rendered content, is still loading, or shows an error.
CHART_STATES_JS = """
const states = {};
for (const el of document.querySelectorAll('[data-test-chart-id]')) {
  const viz = el.getAttribute('data-test-viz-type') || '';
  const holder = el.closest('[data-test="dashboard-component-chart-holder"]') || el;
  const header = el.querySelector('.header-line');
  let rendered;
  if (viz.startsWith('big_number')) rendered = !!header && header.textContent.trim().length > 0;
  else if (viz.startsWith('echarts')) rendered = !!el.querySelector('[_echarts_instance_] canvas, [_echarts_instance_] svg');
  else if (viz === 'table') rendered = el.querySelectorAll('table tbody tr').length > 0;
  else if (viz === 'country_map') rendered = Array.from(el.querySelectorAll('path')).some(
      p => p.style.fill && !['none', 'rgb(255, 255, 255)'].includes(p.style.fill));
  else rendered = !!el.querySelector('canvas, svg, table');
  states[el.getAttribute('data-test-chart-id')] = {
    viz: viz, rendered: rendered, header: header ? header.textContent.trim() : null,
    loading: !!holder.querySelector('.loading, [data-test="loading-indicator"]'),
    error: !!holder.querySelector('.ant-alert-error, .alert-danger, [role="alert"]'),
    text: holder.innerText.slice(0, 300),
  };
}
return states;
"""


def test_the_dashboard_renders_in_a_browser(superset, charts, pipeline):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, profile = chrome()
    try:
        driver.get(f"{superset.url}/login/")
        WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "username")))
        driver.find_element(By.ID, "username").send_keys(superset.username)
        driver.find_element(By.ID, "password").send_keys(superset.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)

        driver.get(superset.dashboard_url)
        expected = {str(charts[s.uuid]["id"]) for s in chart_specs()}

        def settled(d):
            states = d.execute_script(CHART_STATES_JS)
            done = set(states) == expected and all(
                s["error"] or (s["rendered"] and not s["loading"]) for s in states.values()
            )
            return states if done else False

        try:
            states = WebDriverWait(driver, 120, poll_frequency=1).until(settled)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "superset-dashboard-timeout.png"))
            raise AssertionError(f"charts did not render: {driver.execute_script(CHART_STATES_JS)}") from None
        time.sleep(1)  # let the last animation frame paint before the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "superset-dashboard.png"))

        failed = {k: v["text"] for k, v in states.items() if v["error"]}
        assert not failed, failed
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "Unexpected error" not in page
        assert not driver.find_elements(By.CSS_SELECTOR, ".ant-alert-error, .alert-danger")

        # The week filter defaults to the latest week: the Sales figure is that week's.
        sales_chart = next(s for s in chart_specs() if s.panel.chart == "kpi" and s.metrics == ["sales_amt"])
        week = pipeline.latest_week()
        sales = pipeline.query(panels.headline_sql(), {"week": week})["sales_amt"]
        assert states[str(charts[sales_chart.uuid]["id"])]["header"] == f"${sales:,.2f}"

        severe = [
            e["message"]
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and TELEMETRY_HOST not in e["message"]
        ]
        assert not severe, severe
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- refreshing the lake while Superset runs -----------------------------------------------------------


def test_a_week_published_while_superset_runs_is_queried(api, charts, pipeline):
    trend = next(s for s in chart_specs() if s.panel.all_weeks)
    weeks_before = {row["week_start_dt"] for row in chart_data(api, charts[trend.uuid]["id"])}
    assert len(weeks_before) == 2

    assert pipeline.publish(NEW_WEEK) == [202604]  # rebuilds the catalog: a new file renamed over the old

    weeks_after = {row["week_start_dt"] for row in chart_data(api, charts[trend.uuid]["id"])}
    assert len(weeks_after) == 3 and weeks_before < weeks_after
    assert pipeline.latest_week() == 202604
    expected = pipeline.query(panels.headline_sql(), {"week": 202604})
    assert_same_figures(headline(api, charts, 202604), expected)
    assert server.status(pipeline.lake)["running"]
