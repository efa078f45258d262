"""The self-contained HTML dashboard, in a real browser (headless Chromium), against SQL on the catalog."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from pathlib import Path

import duckdb
import pytest

from retailflow.config import Settings
from retailflow.dashboard.html import DASHBOARD_PATH, write_dashboard
from retailflow.dashboard.panels import DASHBOARD, HEADLINE, headline_sql
from retailflow.export import export_days
from retailflow.lake import Lake, layout
from retailflow.pipeline import run
from retailflow.source import open_source
from retailflow.source.generate import GenerateSpec, generate
from tests.dashboard.browser import chrome, close, screenshot, severe_console_messages

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """Three published weeks of generated data for 20 stores and 40 products."""
    root = tmp_path_factory.mktemp("dashboard")
    spec = GenerateSpec(dt.date(2026, 1, 4), dt.date(2026, 1, 24), stores=20, products=40, seed=11)
    generate(root / "source.duckdb", spec)
    lake = Lake(str(root / "lake"))
    source = open_source(f"duckdb:///{root / 'source.duckdb'}")
    export_days(source, lake, [spec.start + dt.timedelta(days=i) for i in range(21)], threads=1)
    source.close()
    run(Settings(lake=lake.url), None)
    write_dashboard(lake)
    return lake


def catalog_sql(lake: Lake, sql: str, params=None):
    con = duckdb.connect(lake.path(layout.catalog()), read_only=True)
    try:
        cursor = con.execute(sql, params or {})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        con.close()


def headline_where(lake: Lake, week: int, where: str = "true") -> dict:
    sql = (
        headline_sql()
        .replace(layout.WEEKLY_TABLE, "weekly_sales_inventory_enriched")
        .replace("WHERE yr_wk_num = $week", f"WHERE yr_wk_num = $week AND {where}")
    )
    return catalog_sql(lake, sql, {"week": week})[0]


@pytest.fixture(scope="module")
def page(lake):
    driver = chrome()
    driver.get("file://" + lake.path(DASHBOARD_PATH))
    deadline = time.time() + 30
    while time.time() < deadline and not driver.execute_script(
        "return window.__retailflowReady === true || window.__retailflowErrors.length > 0"
    ):
        time.sleep(0.1)
    yield driver
    close(driver)


def kpis(driver) -> dict[str, float | None]:
    out = {}
    for el in driver.find_elements("css selector", "#panel-headline .kpi"):
        value = el.get_attribute("data-value")
        out[el.get_attribute("data-metric")] = float(value) if value else None
    return out


def choose(driver, filter_id: str, visible_text: str | None = None, value: str | None = None) -> None:
    from selenium.webdriver.support.ui import Select

    before = driver.execute_script("return window.__retailflowRenders")
    select = Select(driver.find_element("id", f"filter-{filter_id}"))
    select.select_by_visible_text(visible_text) if visible_text is not None else select.select_by_value(value)
    deadline = time.time() + 10
    while time.time() < deadline and driver.execute_script("return window.__retailflowRenders") == before:
        time.sleep(0.05)


def assert_close(a, b, what):
    assert (a is None) == (b is None), what
    if a is not None:
        assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9), (what, a, b)


def test_every_panel_is_drawn_with_data_and_no_errors(page):
    assert page.execute_script("return window.__retailflowReady") is True
    assert page.execute_script("return window.__retailflowErrors") == []
    panels = page.find_elements("css selector", ".panel")
    assert [p.get_attribute("id") for p in panels] == [f"panel-{p.id}" for p in DASHBOARD.panels]
    for panel in panels:
        assert panel.get_attribute("data-state") == "ok", panel.get_attribute("id")
        assert int(panel.get_attribute("data-rows")) > 0
    for chart in page.find_elements("css selector", ".chart"):  # ECharts drew a canvas of real size
        canvas = chart.find_element("css selector", "canvas")
        assert canvas.size["width"] > 100 and canvas.size["height"] > 100
    assert "Data as of fiscal week 202604" in page.find_element("id", "asof").text
    screenshot(page, "dashboard.png")
    assert severe_console_messages(page) == []


def test_headline_figures_equal_sql_on_the_catalog(page, lake):
    shown = kpis(page)
    expected = catalog_sql(lake, headline_sql(), {"week": 202604})[0]
    assert set(shown) == set(HEADLINE)
    for name in HEADLINE:
        assert_close(shown[name], expected[name], name)


def test_filters_change_the_figures_to_what_sql_says(page, lake):
    store = catalog_sql(
        lake,
        "SELECT store_key, store_desc, city FROM store WHERE store_key IN "
        "(SELECT store_key FROM weekly_sales_inventory) ORDER BY store_key LIMIT 1",
    )[0]
    all_stores = kpis(page)
    choose(page, "store_desc", visible_text=f"{store['store_desc']} ({store['city']})")
    one_store = kpis(page)
    assert one_store["sales_amt"] < all_stores["sales_amt"]
    expected = headline_where(lake, 202604, f"store_key = {store['store_key']}")
    for name in HEADLINE:
        assert_close(one_store[name], expected[name], name)
    choose(page, "category_name", visible_text="category-2")
    expected = headline_where(lake, 202604, f"store_key = {store['store_key']} AND category_name = 'category-2'")
    assert_close(kpis(page)["sales_amt"], expected["sales_amt"], "sales_amt")
    assert page.find_element("id", "panel-sales_by_category").get_attribute("data-rows") == "1"
    choose(page, "yr_wk_num", value="0")  # the first week
    expected = headline_where(lake, 202602, f"store_key = {store['store_key']} AND category_name = 'category-2'")
    assert_close(kpis(page)["sales_amt"], expected["sales_amt"], "sales_amt")
    page.find_element("id", "filter-reset").click()
    assert_close(kpis(page)["sales_amt"], all_stores["sales_amt"], "reset")


def test_product_lists_are_exact_for_a_market(page, lake):
    """The page ships each cell's top 10; the top 10 of a whole market must still be exact."""
    page.find_element("id", "filter-reset").click()
    market = catalog_sql(
        lake,
        "SELECT market_name, COUNT(*) AS n FROM store WHERE store_key IN "
        "(SELECT store_key FROM weekly_sales_inventory) GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1",
    )[0]
    choose(page, "market_name", visible_text=market["market_name"])
    rows = page.find_elements("css selector", "#panel-top_products_low_stock tbody tr")
    shown = [tuple(td.text for td in r.find_elements("tag name", "td"))[:4] for r in rows]
    expected = catalog_sql(
        lake,
        f"""
        SELECT store_desc, prod_name, category_name, potential_low_stock_impact
        FROM weekly_sales_inventory_enriched
        WHERE yr_wk_num = 202604 AND market_name = '{market["market_name"]}' AND potential_low_stock_impact > 0
        ORDER BY potential_low_stock_impact DESC, prod_key LIMIT 10""",
    )
    assert len(shown) == len(expected) > 0
    for got, want in zip(shown, expected, strict=True):
        assert got[:3] == (want["store_desc"], want["prod_name"], want["category_name"])
        assert float(got[3].replace(",", "")) == pytest.approx(want["potential_low_stock_impact"], abs=0.006)


def test_the_page_is_self_contained_and_ships_aggregates(lake):
    html = Path(lake.path(DASHBOARD_PATH)).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no CDN, no remote asset
    assert "<link" not in html
    import base64
    import gzip
    import json

    payload = re.search(r'<script id="payload" type="application/octet-stream">([^<]+)</script>', html).group(1)
    data = json.loads(gzip.decompress(base64.b64decode(payload)))
    facts = catalog_sql(lake, "SELECT COUNT(*) AS n FROM weekly_sales_inventory")[0]["n"]
    assert len(data["cube"]["w"]) <= len(data["weeks"]) * len(data["stores"]) * len(data["categories"])
    assert len(data["cube"]["w"]) < facts  # aggregates, not the fact table
    assert data["asOf"]["week"] == 202604
