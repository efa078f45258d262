"""The Superset process of one state folder: its virtualenv, its private files, its setup, start and stop.

Superset runs from its own virtualenv, ``.venv-superset`` (``make superset``): it cannot share the
pipeline's (it pins SQLAlchemy < 2 and an older pyarrow). This module never imports Superset; it runs
programs of that virtualenv, with the state folder as ``SUPERSET_HOME``:

- ``superset db upgrade``, ``superset init`` and ``superset run`` (the server, in its own process group);
- ``python -c ADMIN_SCRIPT``, which creates the admin user or resets its password through Superset's
  security manager. The password goes to it on stdin: no secret is ever in a command line (``ps``), in
  the environment of a child, or in the log.

The state folder (mode 0700, see ``server.state_dir``) holds ``superset_config.py`` (rewritten on every
start), ``secret_key`` and ``admin_password`` (made once, mode 0600), the SQLite metadata ``superset.db``,
``setup.done`` (the Superset version it was set up with), ``superset.pid``, ``server.json`` and
``superset.log`` (every command's output).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from retailflow import localproc
from retailflow.dashboard.superset.errors import SupersetError
from retailflow.localproc import port_free, write_private

__all__ = ["port_free", "write_private"]  # shared with the local Airflow (retailflow.localproc); used here too

HOST = localproc.HOST  # loopback only
USERNAME = "admin"
PASSWORD_ENV = "RETAILFLOW_SUPERSET_PASSWORD"
VENV_ENV = "RETAILFLOW_SUPERSET_VENV"  # another place for .venv-superset
VENV_NAME = ".venv-superset"

_children: dict[int, subprocess.Popen] = {}  # servers this process started: reaped by stop()


# -- the virtualenv -----------------------------------------------------------------------------------


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


def superset_version(venv: Path) -> str:
    found = sorted(venv.glob("lib/python*/site-packages/apache_superset-*.dist-info"))
    return found[-1].name.split("-")[1] if found else "unknown"


# -- state files --------------------------------------------------------------------------------------


def make_secret_key(state: Path) -> None:
    """The key Superset encrypts its metadata's secrets with: made once, then kept."""
    path = state / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48) + "\n")


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


# Appended for an S3 lake: the bundle's database is an in-memory DuckDB, and every new DuckDB connection
# attaches the lake's catalog read-only. httpfs is loaded by file path from the duckdb-extension-httpfs
# package of Superset's virtualenv (never downloaded); the S3 secret is TEMPORARY, made on each connection
# from this Superset process's AWS credential chain (boto3): no credentials in this file or the bundle.
S3_CONFIG = """
# -- The S3 lake's DuckDB catalog, attached on every new DuckDB connection --------------------------------
_RETAILFLOW_S3_CATALOG = {catalog!r}
_RETAILFLOW_S3_OPTIONS = {options!r}  # region, and for a non-AWS endpoint: endpoint, url_style, use_ssl


def _retailflow_attach_s3(dbapi_connection, connection_record):
    if not type(dbapi_connection).__module__.startswith("duckdb"):
        return  # Superset's own metadata database
    import boto3
    import duckdb
    import duckdb_extension_httpfs

    def lit(value):
        return "'" + str(value).replace("'", "''") + "'"

    extension = os.path.join(
        os.path.dirname(duckdb_extension_httpfs.__file__), "extensions", "v" + duckdb.__version__,
        "httpfs.duckdb_extension",
    )
    dbapi_connection.execute("LOAD " + lit(extension))
    parts = ["TYPE s3"]
    found = boto3.Session().get_credentials()
    if found is not None:
        frozen = found.get_frozen_credentials()
        parts += ["KEY_ID " + lit(frozen.access_key), "SECRET " + lit(frozen.secret_key)]
        if frozen.token:
            parts.append("SESSION_TOKEN " + lit(frozen.token))
    for key, value in _RETAILFLOW_S3_OPTIONS.items():
        parts.append(key.upper() + " " + (value if key == "use_ssl" else lit(value)))
    try:
        dbapi_connection.execute("CREATE OR REPLACE TEMPORARY SECRET retailflow_s3 (" + ", ".join(parts) + ")")
    except Exception as exc:  # the statement holds the credentials: never shown
        raise RuntimeError("DuckDB refused the S3 secret (" + type(exc).__name__ + ")") from None
    dbapi_connection.execute("ATTACH IF NOT EXISTS " + lit(_RETAILFLOW_S3_CATALOG) + " AS retailflow (READ_ONLY)")
    dbapi_connection.execute("USE retailflow")


from sqlalchemy import event as _event  # noqa: E402
from sqlalchemy.engine import Engine as _Engine  # noqa: E402

_event.listen(_Engine, "connect", _retailflow_attach_s3)
"""


def write_config(state: Path, s3_catalog: str | None = None, s3_options: dict[str, str] | None = None) -> Path:
    """superset_config.py; for an S3 lake (``s3_catalog``: the catalog's s3:// URL) with the attach hook."""
    path = state / "superset_config.py"
    text = CONFIG_TEMPLATE
    if s3_catalog:
        text += S3_CONFIG.format(catalog=s3_catalog, options=dict(s3_options or {}))
    write_private(path, text)
    return path


def admin_password(state: Path, given: str | None) -> tuple[str, bool, bool]:
    """(password, shown: new to the user, changed: differs from the one Superset has).

    The password is ``given``, else $RETAILFLOW_SUPERSET_PASSWORD, else the stored one, else a new random
    one; stored in ``admin_password`` (0600) when it differs from the stored one."""
    path = state / "admin_password"
    stored = path.read_text(encoding="utf-8").strip() if path.exists() else None
    wanted = given or os.environ.get(PASSWORD_ENV) or None
    if wanted is None and stored:
        return stored, False, False
    password = wanted or secrets.token_urlsafe(12)
    if password != stored:
        write_private(path, password + "\n")
    return password, wanted is None or password != stored, stored is not None and password != stored


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log (empty if there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


# -- setup: commands run to completion ----------------------------------------------------------------


def superset_env(venv: Path, state: Path) -> dict[str, str]:
    """The environment of every Superset child: this one's, pointed at the state folder and the
    virtualenv, without the admin password variable."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FLASK_DEBUG", PASSWORD_ENV)
    env = {k: v for k, v in os.environ.items() if k not in drop}
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
    return env


def _run(venv: Path, state: Path, log: Path, argv: list[str], what: str, timeout: float, stdin: str | None) -> None:
    """Run a program of the virtualenv to completion, its output appended to the log under ``$ what``;
    ``stdin`` (if any) is written to its standard input, and nowhere else."""
    feed: dict[str, Any] = {"input": stdin.encode()} if stdin is not None else {"stdin": subprocess.DEVNULL}
    with open(log, "ab") as out:
        out.write(f"\n$ {what}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                argv,
                env=superset_env(venv, state),
                cwd=state,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
                **feed,
            )
        except subprocess.TimeoutExpired:
            raise SupersetError(f"`{what}` took more than {timeout:.0f} s.", f"See {log}") from None
    if done.returncode != 0:
        raise SupersetError(f"`{what}` failed (exit {done.returncode}):\n{tail(log)}", f"The whole log: {log}")


def run_superset(venv: Path, state: Path, log: Path, *args: str, timeout: float = 600) -> None:
    """Run one `superset ...` command to completion, its output appended to the log."""
    what = " ".join(["superset", *args[:2]])
    _run(venv, state, log, [str(venv / "bin" / "superset"), *args], what, timeout, None)


# Run by the virtualenv's python with the state folder's environment; the password is all of stdin.
ADMIN_SCRIPT = """\
import sys

from superset.app import create_app

username, first_name, last_name, email, mode = sys.argv[1:]
password = sys.stdin.read()
if not password:
    sys.exit("No password on stdin.")
app = create_app()
with app.app_context():
    sm = app.appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        role = sm.find_role(sm.auth_role_admin)
        if role is None or not sm.add_user(username, first_name, last_name, email, role, password=password):
            sys.exit(f"Could not create the admin user {username}.")
        print(f"Created the admin user {username}.")
    elif mode == "reset":
        sm.reset_password(user.id, password)
        print(f"Changed the password of {username}.")
    else:
        print(f"The user {username} exists: kept as it is.")
"""


def admin_command(venv: Path, reset: bool) -> list[str]:
    """The command line that sets up the admin user (the password is not in it: it goes on stdin)."""
    names = [USERNAME, "retailflow", "admin", "admin@retailflow.invalid"]
    return [str(venv / "bin" / "python"), "-c", ADMIN_SCRIPT, *names, "reset" if reset else "keep"]


def set_admin(venv: Path, state: Path, log: Path, password: str, reset: bool, timeout: float = 600) -> None:
    """Create the admin user with this password if there is none; else change its password if ``reset``."""
    what = f"superset admin user {USERNAME}: {'create or reset password' if reset else 'create'} (password on stdin)"
    _run(venv, state, log, admin_command(venv, reset), what, timeout, password)


def setup(venv: Path, state: Path, log: Path, password: str, changed: bool) -> None:
    """Metadata schema, admin user, roles: once per Superset version; the password again when it changed."""
    stamp = state / "setup.done"
    version = superset_version(venv)
    if stamp.exists() and stamp.read_text().strip() == version:
        if changed:
            set_admin(venv, state, log, password, reset=True)
        return
    run_superset(venv, state, log, "db", "upgrade")
    set_admin(venv, state, log, password, reset=changed)  # an existing user keeps its password unless changed
    run_superset(venv, state, log, "init")
    stamp.write_text(version + "\n")


# -- the server: start, health, stop ------------------------------------------------------------------


def is_alive(pid: int) -> bool:
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


def is_our_server(pid: int, state: Path) -> bool:
    """The pid is alive and is a superset server of this state folder (not a recycled pid)."""
    if not is_alive(pid):
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


def healthy(url: str) -> bool:
    """GET url/health answers 200."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(venv: Path, state: Path, log: Path, port: int) -> int:
    """Start `superset run` on HOST:port in the background (output to the log); write superset.pid."""
    with open(log, "ab") as out:
        out.write(f"\n$ superset run -h {HOST} -p {port} --with-threads\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [str(venv / "bin" / "superset"), "run", "-h", HOST, "-p", str(port), "--with-threads"],
            env=superset_env(venv, state),
            cwd=state,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() stops it and anything it started
        )
    _children[proc.pid] = proc
    (state / "superset.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def record(state: Path, pid: int, port: int, url: str) -> None:
    """server.json: where the started server answers."""
    (state / "server.json").write_text(json.dumps({"pid": pid, "port": port, "url": url}) + "\n")


def wait_healthy(pid: int, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise SupersetError(f"Superset exited while starting:\n{tail(log)}", f"The whole log: {log}")
        if healthy(url):
            return
        time.sleep(0.5)
    raise SupersetError(f"Superset did not answer {url}/health within {timeout:.0f} s.", f"See {log}")


def stop(pid: int, timeout: float) -> None:
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
            if not is_alive(pid):
                _children.pop(pid, None)
                return
            time.sleep(0.2)
    raise SupersetError(f"Superset (pid {pid}) did not stop.")


def running(state: Path) -> dict[str, Any] | None:
    """The server of this state folder, if it runs: {pid, port, url}."""
    server = _read_json(state / "server.json")
    pid_file = state / "superset.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    if not is_our_server(pid, state):
        return None
    server = server or {}
    return {"pid": pid, "port": server.get("port"), "url": server.get("url")}


def forget(state: Path) -> None:
    """Remove superset.pid and server.json: no server of this state folder runs."""
    for name in ("superset.pid", "server.json"):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()
