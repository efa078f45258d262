"""The local Airflow (retailflow.orchestration.airflow_local, retailflow.localproc, ``retailflow airflow``).

Fast tests: the settings file for the DAG (TOML written, read back by load_settings), the private files and
their modes, the components' environment (no secret, no stray RETAILFLOW_*), stopping recorded processes
(never a reused pid; descendants that left their group), the CLI's one-line errors.

The live test (slow, one xdist group): a real Airflow 3.3 in a temporary home with a tiny DAG: healthy,
listening on 127.0.0.1 only, a token from passwords.json, a triggered run that succeeds (its task checks the
settings file reached it), ``up`` again a no-op, ``status``, ``down`` leaving no process behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retailflow import localproc
from retailflow.config import Settings, load_settings
from retailflow.orchestration import airflow_local
from tests.cli.clitools import assert_one_line_error, make_invoker

needs_airflow = pytest.mark.skipif(
    not (Path(sys.executable).parent / "airflow").is_file(), reason="the airflow extra is not installed"
)
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

TINY_DAG = '''\
"""A tiny DAG for the local Airflow's test: its task checks that the settings file reached it."""

import os

from airflow.sdk import dag, task


@dag(dag_id="retailflow_tiny", schedule=None, catchup=False)
def tiny():
    @task
    def check():
        from pathlib import Path

        from retailflow.config import load_settings

        assert not [k for k in os.environ if k.startswith("RETAILFLOW_") and k not in (
            "RETAILFLOW_CONFIG", "RETAILFLOW_AIRFLOW_INSTANCE")], sorted(os.environ)
        settings = load_settings()
        assert Path(settings.lake).is_absolute(), settings.lake
        assert settings.export_threads == 3, settings.export_threads
        return settings.lake

    check()


tiny()
'''


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# -- the settings file --------------------------------------------------------------------------------


def test_settings_toml_round_trips_through_load_settings(tmp_path):
    settings = Settings(
        lake="s3://bucket/prefix",
        source='duckdb:///we "ird"\\path\tname é.duckdb',
        deadline=dt.time(4, 30),
        allow_manifestless=True,
        quarantine_threshold=0.025,
        lease_wait_s=0.0,
        export_threads=5,
        spark_conf={"spark.executor.memory": "4g", "spark.sql.shuffle.partitions": "8", 'odd "key"': "a=b"},
        dag_engine="emr",
        dag_schedule="",
        airflow_url="",
    )
    path = tmp_path / "retailflow.toml"
    path.write_text(airflow_local.settings_toml(settings), encoding="utf-8")
    assert load_settings(config_file=path, environ={}) == settings
    assert 'deadline = "04:30"' in path.read_text()


def test_settings_toml_of_the_defaults_round_trips(tmp_path):
    path = tmp_path / "retailflow.toml"
    path.write_text(airflow_local.settings_toml(Settings()), encoding="utf-8")
    assert load_settings(config_file=path, environ={}) == Settings()
    assert Settings().deadline is None
    assert not [line for line in path.read_text().splitlines() if line.startswith("deadline ")]  # None: left out


def test_the_dag_gets_an_absolute_lake_and_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "af"
    home.mkdir()
    path = airflow_local.write_settings(Settings(lake="lake", airflow_home="af"), home)
    assert mode(path) == 0o600
    read = load_settings(config_file=path, environ={})
    assert read.lake == str(tmp_path / "lake") and read.airflow_home == str(home)
    assert read.source == f"duckdb:///{tmp_path / 'source.duckdb'}"  # the default duckdb:///source.duckdb
    kept = airflow_local.dag_settings(Settings(lake="s3://b/p", source="duckdb:////abs/s.duckdb"))
    assert (kept.lake, kept.source) == ("s3://b/p", "duckdb:////abs/s.duckdb")


# -- private files and the environment ----------------------------------------------------------------


def test_private_files_and_modes(tmp_path):
    home = localproc.private_dir(tmp_path / "a" / "home")
    assert mode(home) == 0o700
    pw_file = airflow_local.ensure_password(home)
    assert mode(pw_file) == 0o600
    password = json.loads(pw_file.read_text())["admin"]
    assert len(password) >= 16
    assert airflow_local.ensure_password(home) == pw_file and airflow_local.read_password(home) == password  # once

    config = airflow_local.airflow_config(home, tmp_path / "dags", 8793)
    cfg = airflow_local.write_airflow_cfg(home, config)
    assert mode(cfg) == 0o600 and mode(home / "secrets.json") == 0o600
    shared = json.loads((home / "secrets.json").read_text())
    text = cfg.read_text()
    for value in shared.values():
        assert value in text
    airflow_local.write_airflow_cfg(home, config)
    assert json.loads((home / "secrets.json").read_text()) == shared  # made once, kept
    assert "8793/execution/" in text and "LocalExecutor" in text


def test_the_components_environment_has_no_secret_and_no_stray_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAILFLOW_LAKE", "/elsewhere")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", "/elsewhere")
    monkeypatch.setenv("AIRFLOW_HOME", "/elsewhere")
    home = localproc.private_dir(tmp_path / "home")
    airflow_local.ensure_password(home)
    config = airflow_local.airflow_config(home, tmp_path / "dags", 8793)
    airflow_local.write_airflow_cfg(home, config)
    env = airflow_local.component_env(home, config, "token")
    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8793/execution/"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"
    assert env["RETAILFLOW_CONFIG"] == str(home / "retailflow.toml")
    assert "RETAILFLOW_LAKE" not in env
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    values = " ".join(f"{k}={v}" for k, v in env.items())
    secrets = [*json.loads((home / "secrets.json").read_text()).values(), airflow_local.read_password(home)]
    for secret in secrets:
        assert secret not in values


# -- processes ----------------------------------------------------------------------------------------


@needs_proc
def test_a_reused_pid_is_never_signalled():
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        started = localproc.start_time(proc.pid)
        assert localproc.same_process(proc.pid, started)
        assert not localproc.same_process(proc.pid, started - 1)  # recorded earlier: another process
        assert not localproc.signal_group(proc.pid, started - 1, signal.SIGTERM)
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert not localproc.same_process(proc.pid, started)


@needs_proc
def test_stop_all_stops_groups_and_descendants_that_left_them(tmp_path):
    marker = ("RETAILFLOW_TEST_MARKER", f"m{os.getpid()}{time.monotonic_ns()}")
    env = {**os.environ, marker[0]: marker[1]}
    # A leader that ignores SIGTERM (like a LocalExecutor worker may) and a child in its own session.
    script = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 10
    while len(localproc.pids_with_env(*marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(localproc.pids_with_env(*marker)) == 2
    began = time.monotonic()
    localproc.stop_all([(leader.pid, localproc.start_time(leader.pid))], marker=marker, timeout=1.0, reap=leader.poll)
    assert time.monotonic() - began < 8
    assert leader.poll() is not None
    assert localproc.pids_with_env(*marker) == []


def test_in_flight_files_are_named_as_in_the_lake():
    from retailflow.lake import layout

    assert localproc.TMP_PREFIX == layout.TMP_PREFIX


def test_free_port_is_free():
    port = localproc.free_port()
    assert localproc.port_free(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not localproc.port_free(port)


# -- the CLI without a running Airflow ----------------------------------------------------------------


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    return make_invoker(tmp_path, monkeypatch)


def test_status_and_down_when_nothing_runs(invoke, tmp_path):
    result = invoke("airflow", "status", "--home", str(tmp_path / "af"))
    assert result.exit_code == 0 and "not running" in result.output
    result = invoke("airflow", "down", "--home", str(tmp_path / "af"))
    assert result.exit_code == 0 and "was not running" in result.output


def test_up_without_a_dags_folder_is_one_line(invoke, tmp_path):
    result = invoke(
        "airflow", "up", "--home", str(tmp_path / "af"), env={airflow_local.DAGS_FOLDER_ENV: str(tmp_path / "nope")}
    )
    assert_one_line_error(result, "DAGs folder", "nope")


# -- live ---------------------------------------------------------------------------------------------


def _listeners(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by these processes (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            if width == 8:
                text = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
            else:
                raw = bytes.fromhex(address)
                text = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            found.append((text, int(port, 16)))
    return found


def _pss_bytes(pid: int) -> int:
    """The process's proportional set size (shared pages split among their users), 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _processes_mentioning(text: str) -> list[int]:
    """Live processes (of this user) with the text in their command line or environment."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            blob = Path(f"/proc/{entry}/cmdline").read_bytes() + Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in blob and localproc.is_alive(int(entry)):
            found.append(int(entry))
    return found


@needs_airflow
@needs_proc
@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_live_up_trigger_status_down(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    invoke = make_invoker(tmp_path, monkeypatch)
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "tiny_dag.py").write_text(TINY_DAG)
    home = tmp_path / "af"
    settings = Settings(lake="lake", airflow_home=str(home), export_threads=3)
    env = {"RETAILFLOW_EXPORT_THREADS": "3", "RETAILFLOW_LAKE": "lake"}  # reach the DAG through retailflow.toml
    try:
        began = time.monotonic()
        result = invoke("airflow", "up", "--home", str(home), "--dags-folder", str(dags_folder), env=env)
        seconds = time.monotonic() - began
        assert result.exit_code == 0, result.output
        password = airflow_local.read_password(home)
        assert password not in result.output
        api = json.loads((home / "api.json").read_text())
        url = api["url"]
        assert api["username"] == "admin" and url.startswith("http://127.0.0.1:")
        assert url in result.output and "retailflow_tiny" in result.output
        for name in ("api.json", "passwords.json", "airflow.cfg", "secrets.json", "retailflow.toml", "pids.json"):
            assert mode(home / name) == 0o600, name
        assert mode(home) == 0o700

        assert airflow_local.is_healthy(airflow_local.health(url))
        pids = set(airflow_local.instance_pids(home))
        components = json.loads((home / "pids.json").read_text())["components"]
        assert len(pids) >= 4
        listeners = _listeners(pids)
        assert listeners and all(address == "127.0.0.1" for address, _ in listeners), listeners
        secrets = [password, *json.loads((home / "secrets.json").read_text()).values()]
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            for secret in secrets:
                assert secret not in cmdline and secret not in environ, pid
        memory = localproc.rss_bytes(pids)
        shared = sum(_pss_bytes(pid) for pid in pids)
        print(
            f"\nlocal Airflow: up in {seconds:.1f} s, {len(pids)} processes, {memory / 2**20:.0f} MiB resident "
            f"({shared / 2**20:.0f} MiB proportional set size)"
        )

        bearer = airflow_local.token(url, password)
        run = airflow_local.api(
            url, "/api/v2/dags/retailflow_tiny/dagRuns", bearer, "POST", {"logical_date": None, "conf": {}}
        )
        run_id = run["dag_run_id"]
        deadline = time.monotonic() + 180
        while True:
            state = airflow_local.api(url, f"/api/v2/dags/retailflow_tiny/dagRuns/{run_id}", bearer)["state"]
            if state in ("success", "failed") or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state == "success", (state, airflow_local.tail(home / "logs" / "scheduler.log", 40))

        again = invoke("airflow", "up", "--home", str(home), "--dags-folder", str(dags_folder), env=env)
        assert again.exit_code == 0, again.output
        assert "already running" in again.output and password not in again.output
        assert json.loads((home / "pids.json").read_text())["components"] == components  # nothing restarted
        info = airflow_local.up(settings, dags_folder=dags_folder)
        assert info.already_running and info.url == url

        shown = invoke("airflow", "up", "--home", str(home), "--dags-folder", str(dags_folder), "--show-password")
        assert password in shown.output

        status = invoke("airflow", "status", "--home", str(home))
        assert status.exit_code == 0 and "runs (healthy)" in status.output and "retailflow_tiny" in status.output
        assert airflow_local.status(settings)["running"]

        stopped = invoke("airflow", "down", "--home", str(home))
        assert stopped.exit_code == 0 and "Airflow stopped" in stopped.output
        assert not any(localproc.is_alive(p) for p in pids | set(airflow_local.instance_pids(home)))
        assert _processes_mentioning(str(home)) == []
        assert not (home / "pids.json").exists() and not (home / "api.json").exists()  # no stale address
        status = invoke("airflow", "status", "--home", str(home))
        assert "not running" in status.output
        assert not airflow_local.status(settings)["running"]
    finally:
        airflow_local.down(settings)
