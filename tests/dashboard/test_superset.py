"""Superset for real: a small published lake, `server.up` on a free loopback port, the bundle imported, every
chart queried through the REST API, the headline figures and their change against the week before against
the catalog (for all stores and for one), the dashboard rendered in headless Chromium (tests/dashboard/
browser.py), and a week published while Superset runs. The admin password is in no command line `up` runs and
not in the log, and `up` with a new one changes it while Superset runs.

Needs .venv-superset (`make superset`, which `make test` runs first). Fiscal weeks: 202602 = 2026-01-04..10,
202603 = 2026-01-11..17 are published by the fixture; 202604 = 2026-01-18..24 by the refresh test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import secrets
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from retailflow.config import Settings
from retailflow.dashboard import panels
from retailflow.dashboard.superset import process, server
from retailflow.dashboard.superset.bundle import (
    CHANGE,
    CUBE_PREVIOUS,
    DASHBOARD_SLUG,
    build_bundle,
    chart_specs,
    dataset_specs,
)
from retailflow.export import export_days
from retailflow.lake import Lake, layout
from retailflow.pipeline import run
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.source.generate import GenerateSpec, generate
from tests.dashboard.browser import chrome, close, screenshot, severe_console_messages

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset")]

SPEC = GenerateSpec(dt.date(2026, 1, 4), dt.date(2026, 1, 24), stores=12, products=15, seed=11)
DAYS = [SPEC.start + dt.timedelta(days=n) for n in range(21)]
FIRST_WEEKS, NEW_WEEK = DAYS[:14], DAYS[14:]
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
        return [w.yr_wk_num for w in run(Settings(lake=self.lake), days).weeks]

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

    def week_before(self, week: int) -> int:
        """The fiscal week that starts 7 days before this one."""
        return self.query(
            "SELECT DISTINCT yr_wk_num AS week FROM weekly_sales_inventory WHERE week_start_dt = "
            "(SELECT MIN(week_start_dt) FROM weekly_sales_inventory WHERE yr_wk_num = $week) - 7",
            {"week": week},
        )["week"]

    def headline(self, week: int, store_desc: str | None = None) -> dict:
        """panels.headline_sql() for a week, of one store (by name) or of all."""
        sql = panels.headline_sql()
        if store_desc is not None:
            sql = sql.replace(layout.WEEKLY_TABLE, panels.ENRICHED).replace(
                "WHERE yr_wk_num = $week", "WHERE yr_wk_num = $week AND store_desc = $store"
            )
            return self.query(sql, {"week": week, "store": store_desc})
        return self.query(sql, {"week": week})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    pipeline = Pipeline(tmp_path_factory.mktemp("superset"))
    assert pipeline.publish(FIRST_WEEKS) == [202602, 202603]
    return pipeline


@contextlib.contextmanager
def recording_commands() -> Iterator[list[list[str]]]:
    """The command line of every process started meanwhile (subprocess.run goes through Popen too)."""
    started: list[list[str]] = []

    class Recording(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            started.append([os.fsdecode(a) for a in ([args] if isinstance(args, (str, bytes)) else args)])
            super().__init__(args, *rest, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", Recording)
        yield started


def assert_not_in_commands(secret: str, started: list[list[str]]) -> None:
    assert started
    for argv in started:
        assert not any(secret in arg for arg in argv), argv[:2]


@pytest.fixture(scope="module")
def launch(pipeline) -> dict:
    """Superset serving the pipeline's lake, and the command lines `up` ran; always stopped afterwards."""
    try:
        with recording_commands() as started:
            info = server.up(pipeline.lake, port=free_port(), password=secrets.token_urlsafe(12))
        yield {"info": info, "started": started}
    finally:
        server.down(pipeline.lake)


@pytest.fixture(scope="module")
def superset(launch) -> server.ServerInfo:
    return launch["info"]


@pytest.fixture(scope="module")
def api(superset) -> server.SupersetClient:
    return server.SupersetClient(superset.url, superset.username, superset.password).login()


@pytest.fixture(scope="module")
def charts(api) -> dict[str, dict]:
    """The dashboard's charts by uuid: id, slice_name, viz_type, uuid."""
    answer = api.get("/api/v1/chart/?q=(columns:!(id,uuid,slice_name,viz_type),page_size:100)")
    return {c["uuid"]: c for c in answer["result"]}


def chart_data(api, chart_id: int, filters: list[dict] | None = None, metrics: list[str] | None = None) -> list[dict]:
    """The rows of a chart's saved query, with extra filters (what the native filters add) and other metrics
    of its dataset if given, through POST /api/v1/chart/data."""
    context = json.loads(api.get(f"/api/v1/chart/{chart_id}")["result"]["query_context"])
    for query in context["queries"]:
        query["filters"] = query.get("filters", []) + (filters or [])
        if metrics is not None:
            query["metrics"] = metrics
    context["force"] = True
    (result,) = api.post("/api/v1/chart/data", context)["result"]
    assert not result.get("error"), result
    return result["data"]


def week_filter(week: int) -> list[dict]:
    return [{"col": "yr_wk_num", "op": "==", "val": week}]


def headline(api, charts, week: int, filters: list[dict] = ()) -> dict[str, float]:
    """The headline figures the dashboard's Big Number charts show for a week."""
    figures = {}
    for spec in chart_specs():
        if spec.panel.chart == "kpi" and spec.viz_type == "big_number_total":
            (metric,) = spec.metrics
            (row,) = chart_data(api, charts[spec.uuid]["id"], week_filter(week) + list(filters))
            figures[metric] = row[metric]
    return figures


def change_chart():
    (spec,) = [s for s in chart_specs() if s.panel.chart == "kpi" and s.dataset == CUBE_PREVIOUS]
    return spec


def changes(api, charts, week: int, filters: list[dict] = ()) -> dict[str, float | None]:
    """What the headline's change chart shows for a week: {metric: change}."""
    (row,) = chart_data(api, charts[change_chart().uuid]["id"], week_filter(week) + list(filters))
    assert set(row) == {CHANGE + name for name in panels.HEADLINE}
    return {name: row[CHANGE + name] for name in panels.HEADLINE}


def both_weeks(api, charts, week: int, filters: list[dict] = ()) -> tuple[dict, dict]:
    """The headline metrics and their week-before twins (prev_<metric>) from the change chart's dataset."""
    previous = [panels.PREVIOUS + name for name in panels.HEADLINE]
    (row,) = chart_data(
        api, charts[change_chart().uuid]["id"], week_filter(week) + list(filters), [*panels.HEADLINE, *previous]
    )
    return {n: row[n] for n in panels.HEADLINE}, {n: row[panels.PREVIOUS + n] for n in panels.HEADLINE}


def expected_changes(now: dict, before: dict) -> dict[str, float]:
    """As the HTML headline shows them: percentage points for a percent, else the relative change."""
    out = {}
    for name in panels.HEADLINE:
        a, b = float(now[name]), float(before[name])
        out[name] = 100 * (a - b) if panels.METRICS[name].change_in_points else (a - b) / abs(b)
    return out


def assert_same_figures(shown: dict, expected: dict) -> None:
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


def test_the_change_against_the_week_before_is_the_catalogs(api, charts, pipeline):
    week = pipeline.latest_week()
    before_week = pipeline.week_before(week)
    assert (week, before_week) == (202603, 202602)
    now, before = pipeline.headline(week), pipeline.headline(before_week)
    shown_now, shown_before = both_weeks(api, charts, week)
    assert_same_figures(shown_now, now)
    assert_same_figures(shown_before, before)
    assert_same_figures(changes(api, charts, week), expected_changes(now, before))
    # The first published week has no week before: nothing to compare with.
    assert set(changes(api, charts, before_week).values()) == {None}


def test_a_store_filter_selects_that_stores_figures_in_both_weeks(api, charts, pipeline):
    week = pipeline.latest_week()
    before_week = pipeline.week_before(week)
    store = pipeline.query(
        f"SELECT store_desc FROM {panels.ENRICHED} WHERE yr_wk_num = $week AND store_desc IS NOT NULL "
        "GROUP BY 1 ORDER BY SUM(total_sales_amt) DESC LIMIT 1",
        {"week": week},
    )["store_desc"]
    now, before = pipeline.headline(week, store), pipeline.headline(before_week, store)
    assert 0 < now["sales_amt"] < pipeline.headline(week)["sales_amt"]
    only_store = [{"col": "store_desc", "op": "IN", "val": [store]}]
    shown_now, shown_before = both_weeks(api, charts, week, only_store)
    assert_same_figures(shown_now, now)
    assert_same_figures(shown_before, before)
    assert_same_figures(changes(api, charts, week, only_store), expected_changes(now, before))
    assert_same_figures(headline(api, charts, week, only_store), now)  # the Big Numbers follow the filter too


# -- secrets ------------------------------------------------------------------------------------------


def test_the_admin_password_is_in_no_command_line_and_no_log(launch):
    info, started = launch["info"], launch["started"]
    commands = [(Path(argv[0]).name, *argv[1:3]) for argv in started]
    assert ("superset", "db", "upgrade") in commands and ("superset", "init") in commands
    assert ("python", "-c", process.ADMIN_SCRIPT) in commands  # the admin user: its password on stdin
    assert ("superset", "run", "-h") in commands
    assert not any(name == "superset" and arg == "fab" for name, arg, *_ in commands)
    assert_not_in_commands(info.password, started)
    assert info.password not in info.log_file.read_text()
    assert info.password.encode() not in Path(f"/proc/{info.pid}/cmdline").read_bytes()
    assert info.password.encode() not in Path(f"/proc/{info.pid}/environ").read_bytes()
    assert info.password_file.read_text() == info.password + "\n"


# -- the dashboard in a browser ------------------------------------------------------------------------


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
    cells: viz === 'table' ? Array.from(el.querySelectorAll('table tbody tr:first-child td'))
      .map(td => td.innerText.trim()) : null,
  };
}
return states;
"""


def test_the_dashboard_renders_in_a_browser(superset, charts, pipeline):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chrome(1600, 2400)
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
            screenshot(driver, "superset-dashboard-timeout.png")
            raise AssertionError(f"charts did not render: {driver.execute_script(CHART_STATES_JS)}") from None
        time.sleep(1)  # let the last animation frame paint before the screenshot
        screenshot(driver, "superset-dashboard.png")

        failed = {k: v["text"] for k, v in states.items() if v["error"]}
        assert not failed, failed
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "Unexpected error" not in page
        assert not driver.find_elements(By.CSS_SELECTOR, ".ant-alert-error, .alert-danger")

        # The week filter defaults to the latest week: the Sales figure is that week's.
        sales_chart = next(s for s in chart_specs() if s.panel.chart == "kpi" and s.metrics == ["sales_amt"])
        week = pipeline.latest_week()
        now = pipeline.headline(week)
        assert states[str(charts[sales_chart.uuid]["id"])]["header"] == f"${now['sales_amt']:,.2f}"

        # Under the figures, their change against the week before, each as the HTML headline shows it.
        change = expected_changes(now, pipeline.headline(pipeline.week_before(week)))
        shown = states[str(charts[change_chart().uuid]["id"])]["cells"]
        assert shown == [
            f"{change[n]:+.1f}" if panels.METRICS[n].change_in_points else f"{change[n]:+.1%}" for n in panels.HEADLINE
        ]

        assert not severe_console_messages(driver, ignore=(TELEMETRY_HOST,))
    finally:
        close(driver)


# -- refreshing the lake while Superset runs -----------------------------------------------------------


def test_a_week_published_while_superset_runs_is_queried(api, charts, pipeline):
    trend = next(s for s in chart_specs() if s.panel.all_weeks)
    weeks_before = {row["week_start_dt"] for row in chart_data(api, charts[trend.uuid]["id"])}
    assert len(weeks_before) == 2

    assert pipeline.publish(NEW_WEEK) == [202604]  # rebuilds the catalog: a new file renamed over the old

    weeks_after = {row["week_start_dt"] for row in chart_data(api, charts[trend.uuid]["id"])}
    assert len(weeks_after) == 3 and weeks_before < weeks_after
    assert pipeline.latest_week() == 202604
    expected = pipeline.headline(202604)
    assert_same_figures(headline(api, charts, 202604), expected)
    assert_same_figures(changes(api, charts, 202604), expected_changes(expected, pipeline.headline(202603)))
    assert server.status(pipeline.lake)["running"]


# -- a new admin password while Superset runs -----------------------------------------------------------


def login_fails(url: str, password: str) -> bool:
    try:
        server.SupersetClient(url, server.USERNAME, password).login()
    except server.SupersetError as exc:
        assert "401" in str(exc)
        return True
    return False


def test_a_new_password_replaces_the_old_one_without_a_restart(superset, pipeline):
    new = secrets.token_urlsafe(12)
    try:
        with recording_commands() as started:
            info = server.up(pipeline.lake, port=int(superset.url.rsplit(":", 1)[1]), password=new)
        assert info.already_running and info.new_password and info.pid == superset.pid
        assert [(Path(argv[0]).name, argv[1]) for argv in started] == [("python", "-c")]
        assert_not_in_commands(new, started)
        assert new not in superset.log_file.read_text()
        assert server.SupersetClient(superset.url, superset.username, new).login().token
        assert login_fails(superset.url, superset.password)
    finally:  # the other tests' password again
        server.up(pipeline.lake, port=int(superset.url.rsplit(":", 1)[1]), password=superset.password)
    assert server.SupersetClient(superset.url, superset.username, superset.password).login().token
    assert login_fails(superset.url, new)
