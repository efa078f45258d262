"""A local Apache Superset serving the retailflow dashboard over a lake's catalog.

    info = up("lake", port=8088)   # set up (once), start in the background, import the bundle
    status("lake")                 # running? where?
    down("lake")                   # stop it

This module only puts the steps together: process.py sets up, starts and stops the Superset process from
its own virtualenv (``.venv-superset``, ``make superset``) and keeps its private files; client.py talks to
its REST API and imports the dashboard bundle (bundle.py). Their names the CLI and the tests use are
importable from here too.

Everything Superset keeps lives in ``<lake>/_state/superset/`` (``layout.superset_state()``, mode 0700):
``superset_config.py`` (rewritten on every ``up``), ``secret_key`` and ``admin_password`` (made once,
mode 0600), the SQLite metadata ``superset.db``, ``superset.pid``, ``server.json``, ``superset.log`` and
the last imported ``bundle.zip``. The lake must be a local folder: Superset's state lives in it, and the
catalog is a DuckDB file Superset opens by path.

With ``catalog = "glue"`` in the settings given to ``up``/``provision``, the bundle targets the Glue
database through Athena instead (``bundle.catalog_target``: PyAthena's ``awsathena+rest://`` URL with the
region, workgroup, result location and any ``aws_endpoint_url``; no credentials: the Superset process takes
them from the standard AWS chain of its environment), and no DuckDB catalog file is needed.

The catalog connection is read-only, and Superset opens a new connection for every query (NullPool, no
data cache), so the pipeline can rebuild the catalog (a new file renamed over the old one) while Superset
runs, and the next query reads the new one.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retailflow.dashboard.superset import process
from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG, AthenaCatalog, build_bundle, catalog_target
from retailflow.dashboard.superset.client import SupersetClient, import_dashboard
from retailflow.dashboard.superset.errors import SupersetError
from retailflow.dashboard.superset.process import HOST, PASSWORD_ENV, USERNAME, VENV_ENV, VENV_NAME, superset_venv
from retailflow.lake import Lake, layout

if TYPE_CHECKING:
    from retailflow.config import Settings

__all__ = [
    "DEFAULT_PORT",
    "HOST",
    "PASSWORD_ENV",
    "START_TIMEOUT_S",
    "STATE",
    "STOP_TIMEOUT_S",
    "USERNAME",
    "VENV_ENV",
    "VENV_NAME",
    "ServerInfo",
    "SupersetClient",
    "SupersetError",
    "catalog_file",
    "down",
    "provision",
    "state_dir",
    "status",
    "superset_venv",
    "up",
]

DEFAULT_PORT = 8088
STATE = layout.superset_state()
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ServerInfo:
    url: str  # http://127.0.0.1:PORT
    dashboard_url: str
    username: str
    password: str
    password_file: Path
    new_password: bool  # generated (or changed) by this call: show it once
    pid: int
    state_dir: Path
    log_file: Path
    already_running: bool = False


# -- places -------------------------------------------------------------------------------------------


def _local_lake(lake: str | os.PathLike | Lake) -> Lake:
    lake_obj = lake if isinstance(lake, Lake) else Lake(os.fspath(lake))
    if not lake_obj.is_local:
        raise SupersetError(
            f"Superset needs a lake in a local folder; {lake_obj.url} is not one.",
            "Superset keeps its state in the lake, and opens a DuckDB catalog by path: run Superset where the "
            "lake is a folder (on Glue + Athena, `superset bundle` writes a bundle for any Superset).",
        )
    return lake_obj


def state_dir(lake: str | os.PathLike | Lake) -> Path:
    return Path(_local_lake(lake).path(layout.superset_state()))


def catalog_file(lake: str | os.PathLike | Lake) -> Path:
    return Path(_local_lake(lake).path(layout.catalog()))


# -- the commands -------------------------------------------------------------------------------------


def _target(settings: Settings | None, catalog: Path) -> Path | AthenaCatalog:
    """What the bundle targets: the DuckDB catalog file, or (``catalog = "glue"``) Glue + Athena."""
    return catalog if settings is None else catalog_target(settings, catalog)


def provision(
    url: str, password: str, catalog: Path, state: Path | None = None, settings: Settings | None = None
) -> int:
    """Import the dashboard bundle into the Superset at url; return the dashboard's id. The bundle targets
    the DuckDB catalog file, or the Glue database through Athena if the settings say ``catalog = "glue"``."""
    bundle = build_bundle(_target(settings, catalog))
    if state is not None:
        (state / "bundle.zip").write_bytes(bundle)
    return import_dashboard(url, USERNAME, password, bundle)


def up(
    lake: str | os.PathLike | Lake,
    port: int = DEFAULT_PORT,
    password: str | None = None,
    timeout: float = START_TIMEOUT_S,
    settings: Settings | None = None,
) -> ServerInfo:
    """Set up Superset for this lake (first time only), start it on 127.0.0.1:port and import the dashboard.

    The admin password is, in order: ``password``, $RETAILFLOW_SUPERSET_PASSWORD, the one stored in the
    state folder, or a new random one (stored there, mode 0600). If this lake's Superset already runs on
    that port, the dashboard is imported again and nothing else happens. The dashboard reads the DuckDB
    catalog, or the Glue database through Athena if the ``settings`` say ``catalog = "glue"`` (the AWS
    credentials then come from this process's environment, which Superset inherits).
    """
    lake_obj = _local_lake(lake)
    catalog = catalog_file(lake_obj)
    if not isinstance(_target(settings, catalog), AthenaCatalog) and not catalog.is_file():
        raise SupersetError(
            f"The lake {lake_obj.url} has no catalog yet ({catalog}).",
            "Publish a week first: `retailflow run --lake ...`.",
        )
    venv = superset_venv()
    state = state_dir(lake_obj)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    log = state / "superset.log"
    url = f"http://{HOST}:{port}"

    running = process.running(state)
    if running is not None:
        if running["port"] != port:
            raise SupersetError(
                f"This lake's Superset already runs at {running['url']}.",
                "Use that, or stop it first: `retailflow superset down --lake ...`.",
            )
        pw, shown, changed = process.admin_password(state, password)
        if changed:
            process.set_admin(venv, state, log, pw, reset=True)
        provision(url, pw, catalog, state, settings)
        return _info(url, pw, shown, running["pid"], state, log, already_running=True)

    if not process.port_free(port):
        raise SupersetError(f"Port {port} on {HOST} is in use.", "Choose another with --port.")
    process.make_secret_key(state)
    process.write_config(state)
    pw, shown, changed = process.admin_password(state, password)
    process.setup(venv, state, log, pw, changed)
    pid = process.start(venv, state, log, port)
    try:
        process.wait_healthy(pid, url, log, timeout)
        process.record(state, pid, port, url)
        provision(url, pw, catalog, state, settings)
    except BaseException:
        with contextlib.suppress(Exception):
            process.stop(pid, STOP_TIMEOUT_S)
        process.forget(state)
        raise
    return _info(url, pw, shown, pid, state, log)


def _info(
    url: str, password: str, shown: bool, pid: int, state: Path, log: Path, already_running: bool = False
) -> ServerInfo:
    return ServerInfo(
        url=url,
        dashboard_url=f"{url}/superset/dashboard/{DASHBOARD_SLUG}/",
        username=USERNAME,
        password=password,
        password_file=state / "admin_password",
        new_password=shown,
        pid=pid,
        state_dir=state,
        log_file=log,
        already_running=already_running,
    )


def down(lake: str | os.PathLike | Lake, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop this lake's Superset (SIGTERM, then SIGKILL after the timeout). False if it was not running."""
    state = state_dir(lake)
    running = process.running(state)
    if running is not None:
        process.stop(running["pid"], timeout)
    process.forget(state)
    return running is not None


def status(lake: str | os.PathLike | Lake) -> dict[str, Any]:
    """{running, pid, url, dashboard_url, healthy, state_dir}."""
    state = state_dir(lake)
    running = process.running(state) if state.exists() else None
    url = running["url"] if running else None
    return {
        "running": running is not None,
        "pid": running["pid"] if running else None,
        "url": url,
        "dashboard_url": f"{url}/superset/dashboard/{DASHBOARD_SLUG}/" if url else None,
        "healthy": bool(url) and process.healthy(url),
        "state_dir": str(state),
    }
