"""A local Apache Airflow for this lake: ``retailflow airflow up | down | status``.

    info = up(settings)            # set up (once), start the four components on 127.0.0.1, wait until healthy
    status(settings)               # which components run, where, which DAGs
    down(settings)                 # stop exactly what up started

This module never imports Airflow: it runs the ``airflow`` program of the virtualenv retailflow runs from
(beside ``sys.executable``; ``pip install 'retailflow[airflow]'``). The components, each in its own process
group with its output in ``<home>/logs/<component>.log``:

- ``airflow api-server -H 127.0.0.1 -p PORT`` (the UI, the REST API and the tasks' execution API);
- ``airflow scheduler --skip-serve-logs`` (LocalExecutor, parallelism 2), ``airflow dag-processor`` and
  ``airflow triggerer --skip-serve-logs``: nothing listens anywhere but the API server on 127.0.0.1.

Everything lives in the home folder, ``settings.airflow_home`` (made absolute, mode 0700):

- ``airflow.cfg`` (0600, rewritten on every start): the whole configuration, with the secrets the components
  share (JWT secret, API secret key, Fernet key; from ``secrets.json``, 0600, made once). The secrets are in
  no command line and no process environment; the non-secret settings are also passed as ``AIRFLOW__*``
  variables, so they win over anything else;
- ``passwords.json`` (0600, made once): ``{"admin": "<password>"}``, the simple auth manager's file;
- ``api.json`` (0600, while it runs: ``down`` removes it): ``{"url": "http://127.0.0.1:PORT", "username":
  "admin"}``: where a client (the airflow trigger) finds the API; with ``passwords.json`` it gets a token
  (``POST /auth/token``). ``port.json``: the port, taken again by the next start if it is free;
- ``retailflow.toml`` (0600, rewritten on every ``up``): the caller's settings, ``lake`` and ``airflow_home``
  made absolute. The components get ``RETAILFLOW_CONFIG`` pointing at it and no other ``RETAILFLOW_*``
  variable: the file is the DAG's one source of settings;
- ``pids.json``: each component's pid and start time (so a reused pid is never signalled), the port, the
  DAGs folder and this start's instance token (``RETAILFLOW_AIRFLOW_INSTANCE`` in every component's
  environment: how ``down`` finds a descendant that left its process group);
- ``airflow.db`` (SQLite metadata; ``airflow db migrate`` once per Airflow version, ``db.version``) and
  ``logs/``.

The DAGs folder is the package's ``retailflow/orchestration/dags``, or ``dags_folder`` /
``$RETAILFLOW_AIRFLOW_DAGS_FOLDER``. DAGs are not paused at creation: a triggered run of a paused DAG would
wait, silently, forever.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import datetime as dt
import io
import json
import math
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retailflow import localproc
from retailflow.errors import RetailflowError

if TYPE_CHECKING:
    from retailflow.config import Settings

HOST = localproc.HOST
USERNAME = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAGS_FOLDER_ENV = "RETAILFLOW_AIRFLOW_DAGS_FOLDER"
INSTANCE_ENV = "RETAILFLOW_AIRFLOW_INSTANCE"
START_TIMEOUT_S = 180.0
PARSE_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
MIGRATE_TIMEOUT_S = 300.0
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"

_ARGS = {
    "api-server": ["api-server", "-H", HOST, "-p", "{port}", "-w", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
_children: dict[int, subprocess.Popen] = {}  # components this process started: reaped when they exit


class AirflowLocalError(RetailflowError):
    """The local Airflow could not be set up, started, reached or stopped."""


@dataclass(frozen=True)
class AirflowInfo:
    url: str  # http://127.0.0.1:PORT
    username: str
    password_file: Path
    api_file: Path
    home: Path
    log_dir: Path
    dags_folder: Path
    pids: Mapping[str, int]
    dags: tuple[str, ...] = ()
    import_errors: tuple[str, ...] = ()  # files of the DAGs folder that failed to import
    already_running: bool = False
    seconds: float = 0.0  # how long up took


# -- places -------------------------------------------------------------------------------------------


def home_of(settings: Settings) -> Path:
    """The local Airflow's home folder: settings.airflow_home, absolute."""
    return Path(settings.airflow_home).expanduser().resolve()


def api_file(settings: Settings) -> Path:
    return home_of(settings) / "api.json"


def password_file(settings: Settings) -> Path:
    return home_of(settings) / "passwords.json"


def default_dags_folder() -> Path:
    """The package's DAG folder (retailflow/orchestration/dags)."""
    import retailflow.orchestration

    return Path(retailflow.orchestration.__file__).resolve().parent / "dags"


def dags_folder_of(dags_folder: str | os.PathLike | None = None) -> Path:
    chosen = dags_folder or os.environ.get(DAGS_FOLDER_ENV) or default_dags_folder()
    return Path(chosen).expanduser().resolve()


def airflow_program() -> Path:
    """The ``airflow`` program of the virtualenv retailflow runs from."""
    program = Path(sys.executable).parent / "airflow"
    if not program.is_file():
        raise AirflowLocalError(
            f"Airflow is not installed beside {sys.executable} (no {program}).",
            "Install it: pip install 'retailflow[airflow]' (or make install).",
        )
    return program


def airflow_version() -> str:
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- the settings file for the DAG --------------------------------------------------------------------


def _toml_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.time):
        return _toml_string(value.strftime("%H:%M"))
    return _toml_string(str(value))


def settings_toml(settings: Settings) -> str:
    """Every field of the settings as a TOML document that ``load_settings(config_file=...)`` reads back
    to equal settings: text, numbers and booleans as such, times as "HH:MM", mappings as tables, None left
    out (the field's default is None)."""
    lines = ["# Written by `retailflow airflow up`: the settings of the local Airflow's DAG runs.", ""]
    tables = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((field.name, value))
            continue
        lines.append(f"{field.name} = {_toml_value(value)}")
    for name, table in tables:
        lines += ["", f"[{name}]"]
        lines += [f"{_toml_string(str(k))} = {_toml_value(str(v))}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _absolute_url(value: str) -> str:
    """A local path made absolute; a URL (scheme://...) as it is."""
    if not value or "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def _absolute_source(url: str) -> str:
    """A DuckDB source with a relative path (duckdb:///rel.duckdb) made absolute (duckdb:////abs.duckdb)."""
    prefix = "duckdb:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url[len(prefix) :].strip():
        return prefix + str(Path(url[len(prefix) :]).expanduser().resolve())
    return _absolute_url(url)


def dag_settings(settings: Settings) -> Settings:
    """The settings the DAG runs with: the caller's, with the lake, a DuckDB source's file and the Airflow
    home absolute (the components do not run in the caller's folder)."""
    return dataclasses.replace(
        settings,
        lake=_absolute_url(settings.lake),
        source=_absolute_source(settings.source),
        airflow_home=str(home_of(settings)),
    )


def write_settings(settings: Settings, home: Path) -> Path:
    path = home / "retailflow.toml"
    localproc.write_private(path, settings_toml(dag_settings(settings)))
    return path


# -- private files ------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _secrets(home: Path) -> dict[str, str]:
    """The secrets every component shares, made once (secrets.json, 0600)."""
    import base64

    path = home / "secrets.json"
    stored = _read_json(path) or {}
    wanted = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "api_secret_key": lambda: secrets.token_urlsafe(48),
        "fernet_key": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    if all(isinstance(stored.get(k), str) and stored[k] for k in wanted):
        return stored
    made = {k: stored.get(k) or make() for k, make in wanted.items()}
    localproc.write_private(path, json.dumps(made, indent=2) + "\n")
    return made


def ensure_password(home: Path) -> Path:
    """passwords.json ({"admin": password}, 0600), made once with a random password."""
    path = home / "passwords.json"
    stored = _read_json(path)
    if stored and isinstance(stored.get(USERNAME), str) and stored[USERNAME]:
        path.chmod(0o600)
        return path
    localproc.write_private(path, json.dumps({USERNAME: secrets.token_urlsafe(16)}) + "\n")
    return path


def read_password(home: Path) -> str:
    stored = _read_json(home / "passwords.json")
    if not stored or not stored.get(USERNAME):
        raise AirflowLocalError(f"No admin password in {home / 'passwords.json'}.", "Run `retailflow airflow up`.")
    return str(stored[USERNAME])


def airflow_config(home: Path, dags_folder: Path, port: int) -> dict[str, dict[str, str]]:
    """The non-secret configuration: {section: {key: value}}."""
    url = f"http://{HOST}:{port}"
    return {
        "core": {
            "dags_folder": str(dags_folder),
            "executor": "LocalExecutor",
            "parallelism": "2",
            "max_active_tasks_per_dag": "2",
            "load_examples": "False",
            "dags_are_paused_at_creation": "False",
            "execution_api_server_url": f"{url}/execution/",
            "auth_manager": SIMPLE_AUTH_MANAGER,
            "simple_auth_manager_users": f"{USERNAME}:admin",
            "simple_auth_manager_all_admins": "False",
            "simple_auth_manager_passwords_file": str(home / "passwords.json"),
        },
        "database": {"sql_alchemy_conn": f"sqlite:///{home / 'airflow.db'}"},
        "api": {"host": HOST, "port": str(port), "base_url": url, "workers": "1", "expose_config": "False"},
        "dag_processor": {"refresh_interval": "15", "min_file_process_interval": "30", "parsing_processes": "1"},
        "scheduler": {"enable_health_check": "False"},
        "logging": {"base_log_folder": str(home / "logs")},
    }


def write_airflow_cfg(home: Path, config: Mapping[str, Mapping[str, str]]) -> Path:
    """airflow.cfg (0600): the configuration and the shared secrets."""
    shared = _secrets(home)
    parser = configparser.ConfigParser(interpolation=None)
    full = {section: dict(options) for section, options in config.items()}
    full.setdefault("core", {})["fernet_key"] = shared["fernet_key"]
    full.setdefault("api", {})["secret_key"] = shared["api_secret_key"]
    full.setdefault("api_auth", {})["jwt_secret"] = shared["jwt_secret"]
    for section, options in full.items():
        parser[section] = options
    text = io.StringIO()
    text.write("# Written by `retailflow airflow up` on every start: change retailflow, not this file.\n")
    parser.write(text)
    path = home / "airflow.cfg"
    localproc.write_private(path, text.getvalue())
    return path


def component_env(home: Path, config: Mapping[str, Mapping[str, str]], instance: str) -> dict[str, str]:
    """The environment of every Airflow command: the caller's without its AIRFLOW_* and RETAILFLOW_*
    variables, plus the home, the configuration (no secret: those are in airflow.cfg only), the DAG's
    settings file and the virtualenv's bin first on PATH."""
    drop_prefixes = ("AIRFLOW_", "AIRFLOW__", "RETAILFLOW_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k != "PYTHONHOME"}
    bin_dir = Path(sys.executable).parent
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            "RETAILFLOW_CONFIG": str(home / "retailflow.toml"),
            INSTANCE_ENV: instance,
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(bin_dir.parent),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for section, options in config.items():
        for key, value in options.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    return env


# -- setup --------------------------------------------------------------------------------------------


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def migrate(home: Path, env: Mapping[str, str]) -> bool:
    """``airflow db migrate`` unless the metadata is set up for this Airflow version. True if it ran."""
    stamp = home / "db.version"
    version = airflow_version()
    if (home / "airflow.db").exists() and stamp.exists() and stamp.read_text().strip() == version:
        return False
    log = home / "logs" / "db-migrate.log"
    with open(log, "ab") as out:
        out.write(b"\n$ airflow db migrate\n")
        out.flush()
        try:
            done = subprocess.run(
                [str(airflow_program()), "db", "migrate"],
                env=dict(env),
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=MIGRATE_TIMEOUT_S,
                start_new_session=True,
                umask=0o077,
            )
        except subprocess.TimeoutExpired:
            raise AirflowLocalError(
                f"`airflow db migrate` took more than {MIGRATE_TIMEOUT_S:.0f} s.", f"See {log}"
            ) from None
    if done.returncode != 0:
        raise AirflowLocalError(f"`airflow db migrate` failed (exit {done.returncode}):\n{tail(log)}", f"See {log}")
    stamp.write_text(version + "\n")
    return True


# -- components ---------------------------------------------------------------------------------------


def _reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            _children.pop(pid, None)


def _start(component: str, home: Path, env: Mapping[str, str], port: int) -> dict[str, Any]:
    argv = [str(airflow_program()), *(a.format(port=port) for a in _ARGS[component])]
    log = home / "logs" / f"{component}.log"
    with open(log, "ab") as out:
        out.write(f"\n$ airflow {' '.join(argv[1:])}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: down stops it and what it forked
            umask=0o077,  # the metadata database and the task logs: readable by the owner only
        )
    _children[proc.pid] = proc
    return {"pid": proc.pid, "start": localproc.start_time(proc.pid)}


def _record(home: Path, record: Mapping[str, Any]) -> None:
    localproc.write_private(home / "pids.json", json.dumps(record, indent=2) + "\n")


def _running(home: Path) -> tuple[dict[str, Any] | None, dict[str, int | None]]:
    """(pids.json, {component: pid if it still runs else None})."""
    record = _read_json(home / "pids.json")
    alive: dict[str, int | None] = dict.fromkeys(COMPONENTS)
    if record is None:
        return None, alive
    _reap()
    for name, entry in (record.get("components") or {}).items():
        try:
            pid, started = int(entry["pid"]), entry.get("start")
        except (KeyError, TypeError, ValueError):
            continue
        if localproc.same_process(pid, started):
            alive[name] = pid
    return record, alive


def _stop(home: Path, record: Mapping[str, Any] | None, timeout: float) -> None:
    if record is None:
        return
    groups = []
    for entry in (record.get("components") or {}).values():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            groups.append((int(entry["pid"]), entry.get("start")))
    instance = record.get("instance")
    marker = (INSTANCE_ENV, str(instance)) if instance else None
    try:
        localproc.stop_all(groups, marker=marker, timeout=timeout, reap=_reap)
    except OSError as exc:
        raise AirflowLocalError(f"The local Airflow did not stop: {exc}.", f"Home: {home}") from None


def _forget(home: Path) -> None:
    for name in ("pids.json", "api.json"):  # no API: a trigger says "start it", not "connection refused"
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def instance_pids(home: Path) -> list[int]:
    """Every live process of the current start: the components, their descendants, and any process carrying
    this start's instance token in its environment."""
    record, alive = _running(home)
    if record is None:
        return []
    found = {pid for pid in alive.values() if pid}
    found |= {pid for pid, _ in localproc.descendants(found)}
    if record.get("instance"):
        found |= set(localproc.pids_with_env(INSTANCE_ENV, str(record["instance"])))
    return sorted(found)


# -- the REST API -------------------------------------------------------------------------------------


def _request(url: str, method: str = "GET", body: Any = None, token: str | None = None, timeout: float = 10):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with opener.open(request, timeout=timeout) as response:
        text = response.read()
    return json.loads(text) if text else None


def health(url: str) -> dict[str, Any] | None:
    """GET /api/v2/monitor/health (no login needed), None if it does not answer."""
    try:
        return _request(f"{url}/api/v2/monitor/health", timeout=5)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def is_healthy(report: Mapping[str, Any] | None) -> bool:
    if not report:
        return False
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((report.get(p) or {}).get("status") == "healthy" for p in parts if p in report) and all(
        p in report for p in parts[:2]
    )


def token(url: str, password: str, username: str = USERNAME) -> str:
    """A JWT for the REST API (POST /auth/token)."""
    try:
        answer = _request(f"{url}/auth/token", "POST", {"username": username, "password": password})
    except urllib.error.HTTPError as exc:
        raise AirflowLocalError(f"Airflow at {url} refused the login of {username} (HTTP {exc.code}).") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AirflowLocalError(f"Airflow at {url} does not answer: {exc}.") from None
    return str(answer["access_token"])


def api(url: str, path: str, bearer: str, method: str = "GET", body: Any = None) -> Any:
    """A call of the REST API (path like /api/v2/dags)."""
    try:
        return _request(f"{url}{path}", method, body, bearer)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise AirflowLocalError(f"Airflow answered HTTP {exc.code} to {method} {path}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AirflowLocalError(f"Airflow at {url} does not answer: {exc}.") from None


def dags(url: str, bearer: str) -> list[dict[str, Any]]:
    return list((api(url, "/api/v2/dags?limit=1000", bearer) or {}).get("dags") or [])


def import_errors(url: str, bearer: str) -> list[dict[str, Any]]:
    return list((api(url, "/api/v2/importErrors?limit=1000", bearer) or {}).get("import_errors") or [])


def dag_files(folder: Path) -> set[str]:
    """The files of the DAGs folder Airflow parses (relative paths): .py files that mention both "airflow"
    and "dag" (Airflow's safe mode) and define a DAG."""
    found = set()
    for path in folder.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        lower = text.lower()
        if "airflow" in lower and "dag" in lower and ("DAG(" in text or "@dag" in text):
            found.add(path.relative_to(folder).as_posix())
    return found


def _parsed(url: str, bearer: str, folder: Path) -> tuple[list[str], list[str], set[str]]:
    """(DAG ids, files that failed to import, files not parsed yet)."""
    listed = dags(url, bearer)
    errors = import_errors(url, bearer)
    seen = set()
    for dag in listed:
        fileloc = dag.get("relative_fileloc") or dag.get("fileloc") or ""
        seen.add(_relative(fileloc, folder))
    failed = sorted({_relative(e.get("filename") or "", folder) for e in errors})
    waiting = dag_files(folder) - seen - set(failed)
    return sorted(d["dag_id"] for d in listed), failed, waiting


def _relative(fileloc: str, folder: Path) -> str:
    with contextlib.suppress(ValueError):
        return Path(fileloc).relative_to(folder).as_posix()
    return fileloc


# -- the commands -------------------------------------------------------------------------------------


def _wait(
    home: Path,
    url: str,
    pids: Mapping[str, int],
    folder: Path,
    timeout: float,
    parse_timeout: float,
    step: Callable[[str], None],
) -> tuple[list[str], list[str]]:
    """Until healthy, then until the DAGs folder is parsed: (DAG ids, import errors)."""
    record, _ = _running(home)
    started = {n: (e or {}).get("start") for n, e in ((record or {}).get("components") or {}).items()}
    deadline = time.monotonic() + timeout

    def check_alive() -> None:
        _reap()
        for name, pid in pids.items():
            if not localproc.same_process(pid, started.get(name)):
                log = home / "logs" / f"{name}.log"
                raise AirflowLocalError(f"airflow {name} exited while starting:\n{tail(log)}", f"See {log}")

    step("waiting for Airflow to be healthy")
    while True:
        check_alive()
        if is_healthy(health(url)):
            break
        if time.monotonic() > deadline:
            raise AirflowLocalError(
                f"Airflow at {url} was not healthy within {timeout:.0f} s: {health(url)}.",
                f"See the logs in {home / 'logs'}",
            )
        time.sleep(1)
    step("warming up the execution API")
    # The API server builds the tasks' execution API on its first call (some 15 s of CPU, during which it
    # answers nothing): better here than in the first triggered run, whose caller would time out.
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        _request(f"{url}/execution/health", timeout=max(5.0, deadline - time.monotonic()))
    step("waiting for the DAGs folder to be parsed")
    bearer = token(url, read_password(home))
    parse_deadline = time.monotonic() + parse_timeout
    while True:
        check_alive()
        ids, failed, waiting = _parsed(url, bearer, folder)
        if not waiting:
            return ids, failed
        if time.monotonic() > parse_deadline:
            raise AirflowLocalError(
                f"Airflow has not parsed {', '.join(sorted(waiting))} of {folder} within {parse_timeout:.0f} s.",
                f"See {home / 'logs' / 'dag-processor.log'}",
            )
        time.sleep(1)


def up(
    settings: Settings,
    dags_folder: str | os.PathLike | None = None,
    port: int | None = None,
    timeout: float = START_TIMEOUT_S,
    parse_timeout: float = PARSE_TIMEOUT_S,
    on_step: Callable[[str], None] | None = None,
) -> AirflowInfo:
    """Start the local Airflow (set up on first use) and wait until it is healthy and has parsed the DAGs
    folder. Already running and healthy: nothing is started (the settings file is rewritten: the next task
    reads it). ``port``: default the previous start's if free, else any free port of 127.0.0.1."""
    began = time.monotonic()
    step = on_step or (lambda _message: None)
    home = localproc.private_dir(home_of(settings))
    localproc.private_dir(home / "logs")
    folder = dags_folder_of(dags_folder)
    if not folder.is_dir():
        raise AirflowLocalError(
            f"The DAGs folder {folder} does not exist.", f"Point --dags-folder or ${DAGS_FOLDER_ENV} at one."
        )
    program = airflow_program()
    ensure_password(home)
    write_settings(settings, home)

    record, alive = _running(home)
    if record is not None and all(alive.values()):
        if Path(record.get("dags_folder", "")) != folder:
            raise AirflowLocalError(
                f"The local Airflow in {home} already runs with the DAGs folder {record.get('dags_folder')}.",
                "Stop it first: `retailflow airflow down`.",
            )
        if port is not None and port != record.get("port"):
            raise AirflowLocalError(
                f"The local Airflow in {home} already runs at {record.get('url')}.",
                "Use that, or stop it first: `retailflow airflow down`.",
            )
        url = str(record["url"])
        pids = {k: int(v) for k, v in alive.items() if v}
        ids, failed = _wait(home, url, pids, folder, timeout, parse_timeout, step)
        return _info(settings, home, url, folder, pids, ids, failed, True, time.monotonic() - began)
    if record is not None:  # some component died: stop the rest, start afresh
        step("stopping what is left of the previous start")
        _stop(home, record, STOP_TIMEOUT_S)
        _forget(home)

    if port is None:
        previous = (_read_json(home / "port.json") or {}).get("port")
        previous_port = previous if isinstance(previous, int) and 0 < previous < 65536 else None
        port = previous_port if previous_port and localproc.port_free(previous_port) else localproc.free_port()
    elif not localproc.port_free(port):
        raise AirflowLocalError(f"Port {port} on {HOST} is in use.", "Choose another with --port.")
    url = f"http://{HOST}:{port}"
    config = airflow_config(home, folder, port)
    write_airflow_cfg(home, config)
    instance = secrets.token_hex(8)
    env = component_env(home, config, instance)
    # dag_engine = "spark" submits to this machine's Spark (the settings' master) through spark_default.
    env["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps({"conn_type": "spark", "host": settings.spark_master})
    if not program.is_file():  # pragma: no cover - checked above
        raise AirflowLocalError(f"No {program}.")
    step("setting up the metadata database (first start: a few seconds)")
    migrate(home, env)

    record = {"instance": instance, "url": url, "port": port, "dags_folder": str(folder), "components": {}}
    localproc.write_private(home / "api.json", json.dumps({"url": url, "username": USERNAME}) + "\n")
    (home / "port.json").write_text(json.dumps({"port": port}) + "\n")  # the next start's, if still free
    try:
        step("starting " + ", ".join(COMPONENTS))
        for component in COMPONENTS:
            record["components"][component] = _start(component, home, env, port)
            _record(home, record)
        pids = {name: entry["pid"] for name, entry in record["components"].items()}
        ids, failed = _wait(home, url, pids, folder, timeout, parse_timeout, step)
    except BaseException:
        with contextlib.suppress(Exception):
            _stop(home, record, STOP_TIMEOUT_S)
        _forget(home)
        raise
    return _info(settings, home, url, folder, pids, ids, failed, False, time.monotonic() - began)


def _info(settings, home, url, folder, pids, ids, failed, already, seconds) -> AirflowInfo:
    return AirflowInfo(
        url=url,
        username=USERNAME,
        password_file=home / "passwords.json",
        api_file=home / "api.json",
        home=home,
        log_dir=home / "logs",
        dags_folder=folder,
        pids=dict(pids),
        dags=tuple(ids),
        import_errors=tuple(failed),
        already_running=already,
        seconds=seconds,
    )


def down(settings: Settings, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop the processes the last ``up`` started (SIGTERM to each component's process group, SIGKILL after
    the timeout; also any descendant of theirs that left its group) and remove pids.json. A pid reused by
    another process is never signalled. Returns the components that were running."""
    home = home_of(settings)
    record, alive = _running(home)
    if record is None:
        return []
    _stop(home, record, timeout)
    _forget(home)
    return [name for name, pid in alive.items() if pid]


def status(settings: Settings) -> dict[str, Any]:
    """{home, running (all components), components: {name: pid or None}, url, healthy, health, dags (ids,
    when the API answers), paused (ids), import_errors (files)}."""
    home = home_of(settings)
    record, alive = _running(home)
    result: dict[str, Any] = {
        "home": str(home),
        "running": record is not None and all(alive.values()),
        "components": alive,
        "url": (record or {}).get("url") if record else None,
        "dags_folder": (record or {}).get("dags_folder") if record else None,
        "healthy": False,
        "health": None,
        "dags": None,
        "paused": None,
        "import_errors": None,
    }
    url = result["url"]
    if url and any(alive.values()):
        result["health"] = health(url)
        result["healthy"] = is_healthy(result["health"])
        if result["health"] is not None:
            with contextlib.suppress(AirflowLocalError, KeyError, TypeError):
                bearer = token(url, read_password(home))
                listed = dags(url, bearer)
                result["dags"] = sorted(d["dag_id"] for d in listed)
                result["paused"] = sorted(d["dag_id"] for d in listed if d.get("is_paused"))
                result["import_errors"] = sorted(e.get("filename", "") for e in import_errors(url, bearer))
    return result
