"""A local Apache Superset serving the retailflow dashboard over a lake's catalog.

    info = up("lake", port=8088)   # set up (once), start in the background, import the bundle
    status("lake")                 # running? where?
    down("lake")                   # stop it

Superset runs from its own virtualenv, ``.venv-superset`` (``make superset``): it cannot share the
pipeline's (it pins SQLAlchemy < 2 and an older pyarrow). This module never imports it; it drives its CLI
(``superset db upgrade``, ``fab create-admin``, ``init``, ``run``) and its REST API.

Everything Superset keeps lives in ``<lake>/_state/superset/`` (mode 0700): ``superset_config.py``
(rewritten on every ``up``), ``secret_key`` and ``admin_password`` (made once, mode 0600), the SQLite
metadata ``superset.db``, ``superset.pid``, ``server.json``, ``superset.log`` and the last imported
``bundle.zip``. The lake must be a local folder: the catalog is a DuckDB file Superset opens by path.

The catalog connection is read-only, and Superset opens a new connection for every query (NullPool, no
data cache), so the pipeline can rebuild the catalog (a new file renamed over the old one) while Superset
runs, and the next query reads the new one.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG, build_bundle
from retailflow.errors import RetailflowError
from retailflow.lake import Lake, layout

HOST = "127.0.0.1"  # loopback only
DEFAULT_PORT = 8088
USERNAME = "admin"
PASSWORD_ENV = "RETAILFLOW_SUPERSET_PASSWORD"
VENV_ENV = "RETAILFLOW_SUPERSET_VENV"  # another place for .venv-superset
VENV_NAME = ".venv-superset"
STATE = f"{layout.STATE}/superset"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0

_children: dict[int, subprocess.Popen] = {}  # servers this process started: reaped on down()


class SupersetError(RetailflowError):
    """Superset could not be set up, started, provisioned or stopped."""


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


def superset_venv() -> Path:
    """The virtualenv holding Superset: $RETAILFLOW_SUPERSET_VENV, else .venv-superset in the project
    (the checkout this package runs from) or in the current directory."""
    candidates = []
    if os.environ.get(VENV_ENV):
        candidates.append(Path(os.environ[VENV_ENV]))
    candidates += [Path(__file__).resolve().parents[4] / VENV_NAME, Path.cwd() / VENV_NAME]
    for venv in candidates:
        if (venv / "bin" / "superset").is_file():
            return venv
    raise SupersetError(
        f"Superset is not installed: no {VENV_NAME} with a superset command "
        f"(looked in {', '.join(str(c) for c in candidates)}).",
        f"Run `make superset` in the retailflow checkout (or point {VENV_ENV} at such a virtualenv).",
    )


def _local_lake(lake: str | os.PathLike | Lake) -> Lake:
    lake_obj = lake if isinstance(lake, Lake) else Lake(os.fspath(lake))
    if not lake_obj.is_local:
        raise SupersetError(
            f"Superset needs a lake in a local folder; {lake_obj.url} is not one.",
            "Its catalog is a DuckDB file Superset opens by path: run Superset where the lake is a folder.",
        )
    return lake_obj


def state_dir(lake: str | os.PathLike | Lake) -> Path:
    return Path(_local_lake(lake).path(STATE))


def catalog_file(lake: str | os.PathLike | Lake) -> Path:
    return Path(_local_lake(lake).path(layout.catalog()))


# -- state files --------------------------------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _secret_key(state: Path) -> None:
    path = state / "secret_key"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48) + "\n")


CONFIG_TEMPLATE = """\
# Written by `retailflow superset up` on every start: change retailflow, not this file.
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "secret_key"), encoding="utf-8") as _f:
    SECRET_KEY = _f.read().strip()  # made once, kept: it encrypts the metadata's secrets

DATA_DIR = _HERE
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(_HERE, "superset.db") + "?check_same_thread=false"

# The REST API takes a CSRF token (GET /api/v1/security/csrf_token/) with the session cookie.
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None

# No data cache: a query after the pipeline has refreshed the catalog reads the new data.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}

# Native dashboard filters are always on in Superset 6; nothing else is needed.
FEATURE_FLAGS = {}
"""


def _write_config(state: Path) -> Path:
    path = state / "superset_config.py"
    _write_private(path, CONFIG_TEMPLATE)
    return path


def _password(state: Path, given: str | None) -> tuple[str, bool, bool]:
    """(password, shown: new to the user, changed: differs from the one Superset has)."""
    path = state / "admin_password"
    stored = path.read_text(encoding="utf-8").strip() if path.exists() else None
    wanted = given or os.environ.get(PASSWORD_ENV) or None
    if wanted is None and stored:
        return stored, False, False
    password = wanted or secrets.token_urlsafe(12)
    if password != stored:
        _write_private(path, password + "\n")
    return password, wanted is None or password != stored, stored is not None and password != stored


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


# -- processes ----------------------------------------------------------------------------------------


def _env(venv: Path, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(
        {
            "SUPERSET_CONFIG_PATH": str(state / "superset_config.py"),
            "SUPERSET_HOME": str(state),
            "FLASK_APP": "superset",
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("FLASK_DEBUG", None)
    return env


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def _superset(venv: Path, state: Path, log: Path, *args: str, timeout: float = 600) -> None:
    """Run one `superset ...` command to completion, its output appended to the log."""
    with open(log, "ab") as out:
        out.write(f"\n$ superset {args[0]} {args[1] if len(args) > 1 else ''}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                [str(venv / "bin" / "superset"), *args],
                env=_env(venv, state),
                cwd=state,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise SupersetError(f"`superset {args[0]}` took more than {timeout:.0f} s.", f"See {log}") from None
    if done.returncode != 0:
        raise SupersetError(
            f"`superset {args[0]}` failed (exit {done.returncode}):\n{_tail(log)}", f"The whole log: {log}"
        )


def _superset_version(venv: Path) -> str:
    found = sorted(venv.glob("lib/python*/site-packages/apache_superset-*.dist-info"))
    return found[-1].name.split("-")[1] if found else "unknown"


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited


def _is_our_server(pid: int, state: Path) -> bool:
    """The pid is alive and is a superset server of this state folder (not a recycled pid)."""
    if not _is_alive(pid):
        return False
    if pid in _children:
        return True
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (macOS): the command line has to do
        done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
        return "superset run" in done.stdout
    return b"superset" in cmdline and f"SUPERSET_HOME={state}".encode() in environ


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no obstacle
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(venv: Path, state: Path, log: Path, port: int) -> int:
    with open(log, "ab") as out:
        out.write(f"\n$ superset run -h {HOST} -p {port} --with-threads\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [str(venv / "bin" / "superset"), "run", "-h", HOST, "-p", str(port), "--with-threads"],
            env=_env(venv, state),
            cwd=state,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: down() stops it and anything it started
        )
    _children[proc.pid] = proc
    (state / "superset.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def _wait_healthy(pid: int, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_alive(pid):
            raise SupersetError(f"Superset exited while starting:\n{_tail(log)}", f"The whole log: {log}")
        if _healthy(url):
            return
        time.sleep(0.5)
    raise SupersetError(f"Superset did not answer {url}/health within {timeout:.0f} s.", f"See {log}")


def _stop(pid: int, timeout: float) -> None:
    """SIGTERM to the server's process group, SIGKILL after the timeout."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            child = _children.get(pid)
            if child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.2)
            if not _is_alive(pid):
                _children.pop(pid, None)
                return
            time.sleep(0.2)
    raise SupersetError(f"Superset (pid {pid}) did not stop.")


# -- REST ---------------------------------------------------------------------------------------------


class SupersetClient:
    """A minimal Superset REST client (standard library only): JWT login plus the CSRF token and session
    cookie that Superset's POST endpoints require."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 120):
        self.url = url.rstrip("/")
        self.username, self.password, self.timeout = username, password, timeout
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )
        self.token: str | None = None
        self.csrf: str | None = None

    def login(self) -> SupersetClient:
        answer = self.request(
            "POST",
            "/api/v1/security/login",
            {
                "username": self.username,
                "password": self.password,
                "provider": "db",
                "refresh": False,
            },
            auth=False,
        )
        self.token = answer["access_token"]
        self.csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        return self

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json", "Referer": self.url + "/"}
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method != "GET" and self.csrf:
            headers["X-CSRFToken"] = self.csrf
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:2000]
            raise SupersetError(f"Superset answered {exc.code} to {method} {path}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SupersetError(f"Superset at {self.url} did not answer {method} {path}: {exc}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def import_bundle(self, bundle: bytes) -> None:
        """POST /api/v1/assets/import/: imports the bundle, overwriting every object it names."""
        boundary = "retailflow-" + uuid.uuid4().hex
        data = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="bundle.zip"\r\n'
                "Content-Type: application/zip\r\n\r\n"
            ).encode()
            + bundle
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self.request(
            "POST", "/api/v1/assets/import/", data=data, content_type=f"multipart/form-data; boundary={boundary}"
        )


# -- the commands -------------------------------------------------------------------------------------


def _setup(venv: Path, state: Path, log: Path, password: str, changed: bool) -> None:
    """Metadata schema, admin user, roles: once per Superset version; the password again when it changed."""
    stamp = state / "setup.done"
    version = _superset_version(venv)
    if stamp.exists() and stamp.read_text().strip() == version:
        if changed:
            _superset(venv, state, log, "fab", "reset-password", "--username", USERNAME, "--password", password)
        return
    _superset(venv, state, log, "db", "upgrade")
    _superset(
        venv,
        state,
        log,
        "fab",
        "create-admin",
        "--username",
        USERNAME,
        "--firstname",
        "retailflow",
        "--lastname",
        "admin",
        "--email",
        "admin@retailflow.invalid",
        "--password",
        password,
    )
    if changed:  # create-admin leaves an existing user alone
        _superset(venv, state, log, "fab", "reset-password", "--username", USERNAME, "--password", password)
    _superset(venv, state, log, "init")
    stamp.write_text(version + "\n")


def provision(url: str, password: str, catalog: Path, state: Path | None = None) -> int:
    """Import the dashboard bundle for this catalog into the Superset at url; return the dashboard's id."""
    bundle = build_bundle(catalog)
    if state is not None:
        (state / "bundle.zip").write_bytes(bundle)
    client = SupersetClient(url, USERNAME, password).login()
    client.import_bundle(bundle)
    return client.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}")["result"]["id"]


def up(
    lake: str | os.PathLike | Lake,
    port: int = DEFAULT_PORT,
    password: str | None = None,
    timeout: float = START_TIMEOUT_S,
) -> ServerInfo:
    """Set up Superset for this lake (first time only), start it on 127.0.0.1:port and import the dashboard.

    The admin password is, in order: ``password``, $RETAILFLOW_SUPERSET_PASSWORD, the one stored in the
    state folder, or a new random one (stored there, mode 0600). If this lake's Superset already runs on
    that port, the dashboard is imported again and nothing else happens.
    """
    lake_obj = _local_lake(lake)
    catalog = catalog_file(lake_obj)
    if not catalog.is_file():
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

    running = _running(state)
    if running is not None:
        if running["port"] != port:
            raise SupersetError(
                f"This lake's Superset already runs at {running['url']}.",
                "Use that, or stop it first: `retailflow superset down --lake ...`.",
            )
        pw, shown, changed = _password(state, password)
        if changed:
            _superset(venv, state, log, "fab", "reset-password", "--username", USERNAME, "--password", pw)
        provision(url, pw, catalog, state)
        return _info(url, pw, shown, running["pid"], state, log, already_running=True)

    if not _port_free(port):
        raise SupersetError(f"Port {port} on {HOST} is in use.", "Choose another with --port.")
    _secret_key(state)
    _write_config(state)
    pw, shown, changed = _password(state, password)
    _setup(venv, state, log, pw, changed)
    pid = _start(venv, state, log, port)
    try:
        _wait_healthy(pid, url, log, timeout)
        (state / "server.json").write_text(json.dumps({"pid": pid, "port": port, "url": url}) + "\n")
        provision(url, pw, catalog, state)
    except BaseException:
        with contextlib.suppress(Exception):
            _stop(pid, STOP_TIMEOUT_S)
        _forget(state)
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


def _running(state: Path) -> dict[str, Any] | None:
    """The server of this state folder, if it runs: {pid, port, url}."""
    server = _read_json(state / "server.json")
    pid_file = state / "superset.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    if not _is_our_server(pid, state):
        return None
    server = server or {}
    return {"pid": pid, "port": server.get("port"), "url": server.get("url")}


def _forget(state: Path) -> None:
    for name in ("superset.pid", "server.json"):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()


def down(lake: str | os.PathLike | Lake, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop this lake's Superset (SIGTERM, then SIGKILL after the timeout). False if it was not running."""
    state = state_dir(lake)
    running = _running(state)
    if running is not None:
        _stop(running["pid"], timeout)
    _forget(state)
    return running is not None


def status(lake: str | os.PathLike | Lake) -> dict[str, Any]:
    """{running, pid, url, dashboard_url, healthy, state_dir}."""
    state = state_dir(lake)
    running = _running(state) if state.exists() else None
    url = running["url"] if running else None
    return {
        "running": running is not None,
        "pid": running["pid"] if running else None,
        "url": url,
        "dashboard_url": f"{url}/superset/dashboard/{DASHBOARD_SLUG}/" if url else None,
        "healthy": bool(url) and _healthy(url),
        "state_dir": str(state),
    }
