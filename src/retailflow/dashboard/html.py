"""``retailflow dashboard``: one self-contained HTML file, ``<lake>/dashboard/index.html``.

Every script, style, map outline and the data are inlined, so the page opens offline from a file or an
email attachment. The data is gzipped and base64-encoded, and the browser unpacks it with
DecompressionStream.
"""

from __future__ import annotations

import base64
import gzip
from importlib import resources

from retailflow.dashboard.data import DEFAULT_WEEKS, build_payload_json
from retailflow.dashboard.panels import DASHBOARD, Dashboard
from retailflow.lake import layout
from retailflow.lake.storage import Lake

DASHBOARD_PATH = layout.dashboard()


def _asset(name: str) -> str:
    return (resources.files("retailflow.dashboard") / name).read_text(encoding="utf-8")


def _inline_script(code: str) -> str:
    """Script text that cannot close its own <script> element early."""
    return code.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def render_html(lake: Lake, weeks: int = DEFAULT_WEEKS, dashboard: Dashboard = DASHBOARD) -> bytes:
    payload = base64.b64encode(gzip.compress(build_payload_json(lake, weeks, dashboard).encode(), 6, mtime=0))
    page = _asset("template.html")
    replacements = {
        "/*__ECHARTS__*/": _inline_script(_asset("vendor/echarts.min.js")),
        "/*__TOPOJSON__*/": _inline_script(_asset("vendor/topojson-client.min.js")),
        "__US_STATES__": _inline_script(_asset("vendor/us-states-10m.json")),
        "__PAYLOAD__": payload.decode("ascii"),
        "__TITLE__": dashboard.title,
    }
    for marker, value in replacements.items():
        page = page.replace(marker, value)
    return page.encode("utf-8")


def write_dashboard(lake: Lake, weeks: int = DEFAULT_WEEKS) -> str:
    """Render and write the page atomically; return its lake-relative path."""
    lake.write_bytes(DASHBOARD_PATH, render_html(lake, weeks))
    return DASHBOARD_PATH
