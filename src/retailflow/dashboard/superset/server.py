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
the last imported ``bundle.zip``. On a local lake the catalog is a DuckDB file Superset opens by path.

On an S3 lake (``state_dir``) the state lives in ``$RETAILFLOW_SUPERSET_HOME/<bucket>-<hash of the lake URL>``
(default ``~/.retailflow/superset``), the bundle's database is an in-memory DuckDB, and the
``superset_config.py`` written by ``up`` attaches ``s3://.../catalog/retailflow.duckdb`` read-only on every
new DuckDB connection (``process.S3_CONFIG``: httpfs by path, a temporary S3 secret from the Superset
process's AWS credential chain; no credentials written anywhere).

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
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from retailflow.dashboard.superset import process
from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG, AthenaCatalog, S3Catalog, build_bundle, catalog_target
from retailflow.dashboard.superset.client import SupersetClient, import_dashboard
from retailflow.dashboard.superset.errors import SupersetError
from retailflow.dashboard.superset.process import HOST, PASSWORD_ENV, USERNAME, VENV_ENV, VENV_NAME, superset_venv
from retailflow.lake import Lake, layout

if TYPE_CHECKING:
    from retailflow.config import Settings

__all__ = [
    "DEFAULT_PORT",
    "HOME_ENV",
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
HOME_ENV = "RETAILFLOW_SUPERSET_HOME"  # where the Superset state of S3 lakes lives (default ~/.retailflow/superset)
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
    lake_obj = _lake(lake)
    if not lake_obj.is_local:
        raise SupersetError(
            f"This needs a lake in a local folder; {lake_obj.url} is not one.",
            "An S3 lake's catalog is read by Superset through `retailflow superset up` (it attaches it from S3).",
        )
    return lake_obj


def _lake(lake: str | os.PathLike | Lake) -> Lake:
    return lake if isinstance(lake, Lake) else Lake(os.fspath(lake))


def state_dir(lake: str | os.PathLike | Lake) -> Path:
    """``<lake>/_state/superset`` for a local lake. For an S3 lake (Superset's state cannot live in S3):
    ``$RETAILFLOW_SUPERSET_HOME/<bucket>-<hash of the lake URL>``, by default under ~/.retailflow/superset."""
    lake_obj = _lake(lake)
    if lake_obj.is_local:
        return Path(lake_obj.path(layout.superset_state()))
    protocols = lake_obj.fs.protocol if isinstance(lake_obj.fs.protocol, tuple) else (lake_obj.fs.protocol,)
    if not {"s3", "s3a"} & set(protocols):
        raise SupersetError(
            f"Superset needs a lake in a local folder or on S3; {lake_obj.url} is neither.",
            "Run Superset on a folder lake or an s3://bucket/prefix lake.",
        )
    base = Path(os.environ.get(HOME_ENV) or Path.home() / ".retailflow" / "superset")
    url = lake_obj.uri()
    bucket = urlsplit(url).netloc.rsplit("@", 1)[-1] or "lake"
    return base / f"{bucket}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def catalog_file(lake: str | os.PathLike | Lake) -> Path:
    return Path(_local_lake(lake).path(layout.catalog()))


# -- the commands -------------------------------------------------------------------------------------


def _target(settings: Settings | None, catalog: Path | S3Catalog) -> Path | AthenaCatalog | S3Catalog:
    """What the bundle targets: the DuckDB catalog file (an S3 lake's: attached from S3), or
    (``catalog = "glue"``) Glue + Athena."""
    return catalog if settings is None else catalog_target(settings, catalog)


def _catalog(lake_obj: Lake) -> Path | S3Catalog:
    """The DuckDB catalog: a local lake's file, or an S3 lake's s3:// URL."""
    if lake_obj.is_local:
        return Path(lake_obj.path(layout.catalog()))
    return S3Catalog(lake_obj.uri(layout.catalog()))


def _catalog_exists(lake_obj: Lake, catalog: Path | S3Catalog) -> bool:
    return lake_obj.exists(layout.catalog()) if isinstance(catalog, S3Catalog) else catalog.is_file()


def provision(
    url: str,
    password: str,
    catalog: Path | S3Catalog,
    state: Path | None = None,
    settings: Settings | None = None,
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
    lake_obj = _lake(lake)
    catalog = _catalog(lake_obj)
    target = _target(settings, catalog)
    if not isinstance(target, AthenaCatalog) and not _catalog_exists(lake_obj, catalog):
        raise SupersetError(
            f"The lake {lake_obj.url} has no catalog yet ({lake_obj.uri(layout.catalog())}).",
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
    if isinstance(target, S3Catalog):
        process.write_config(state, target.url, _s3_options(settings, lake_obj))
    else:
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


def _s3_options(settings: Settings | None, lake_obj: Lake) -> dict[str, str]:
    """DuckDB's S3 secret options (region, endpoint...; never credentials) as the settings say."""
    from retailflow.aws import duckdb_s3_options
    from retailflow.config import Settings

    return duckdb_s3_options(settings or Settings(lake=lake_obj.uri()))


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
