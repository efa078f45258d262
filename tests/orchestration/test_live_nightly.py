"""The orchestrated flow live, as an operator runs it: ``retailflow airflow up`` (the real Airflow, the
package's DAG folder), a day exported, ``retailflow scan`` with the airflow trigger -> the DAG run succeeds
through the REST API and publishes the week; a second scan starts no second run; the deadline alert is
recorded; ``retailflow airflow down`` leaves no process behind. The Airflow host is an instance of the
local EC2 API, stopped: the scan wakes it first (the live Airflow standing in for the instance's), and
``stop_if_idle`` puts it back to sleep once no run is active."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retailflow import localproc
from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.export import export_days
from retailflow.lake.state import load_reports
from retailflow.orchestration import airflow_local
from retailflow.readiness.wake import stop_if_idle
from tests.orchestration.test_airflow_local import _processes_mentioning, needs_airflow, needs_proc
from tests.readiness.test_wake import launch

RETAILFLOW = str(Path(sys.executable).with_name("retailflow"))
DAY = dt.date(2026, 1, 5)


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RETAILFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _state(aws, instance_id: str) -> str:
    [reservation] = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservation["Instances"][0]["State"]["Name"]


def _wait_for_run(url: str, bearer: str, run_id: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        state = airflow_local.api(url, f"/api/v2/dags/retailflow_nightly/dagRuns/{run_id}", bearer)["state"]
        if state in ("success", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(1)


@needs_airflow
@needs_proc
@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_a_scan_triggers_the_nightly_dag_once_and_it_publishes_the_week(source, lake, tmp_path, aws):
    export_days(source, lake, date_range(dt.date(2026, 1, 4), dt.date(2026, 1, 10)))  # week 202602, manifests
    host = launch(aws, stopped=True)  # the Airflow host, asleep outside the nightly window
    home = tmp_path / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAILFLOW_", "AIRFLOW", "PYTEST_"))}
    env |= aws.env | {
        "RETAILFLOW_AIRFLOW_WAKE_INSTANCE": host,
        "RETAILFLOW_LAKE": lake.url,
        "RETAILFLOW_AIRFLOW_HOME": str(home),
        "RETAILFLOW_TRIGGER": "airflow",
        "RETAILFLOW_DAG_SCHEDULE": "none",
        "RETAILFLOW_PUBLISH_WITHIN_MIN": "0.05",  # 3 s: the run is late on purpose, to see the alert
    }
    try:
        up = _cli("airflow", "up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "retailflow_nightly" in up.stdout
        url = json.loads((home / "api.json").read_text())["url"]
        bearer = airflow_local.token(url, airflow_local.read_password(home))

        first = _cli("scan", "--date", DAY.isoformat(), "--json", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        outcome = json.loads(first.stdout)
        assert outcome["status"] == "triggered", outcome
        trigger = outcome["details"]
        assert trigger["dag_run_id"].startswith(f"retailflow__{DAY}__") and trigger["state"] == "queued"
        assert _state(aws, host) == "running"  # woken before the trigger

        state = _wait_for_run(url, bearer, trigger["dag_run_id"])
        assert state == "success", airflow_local.tail(home / "logs" / "scheduler.log", 60)
        assert Path(lake.path("curated/weekly_sales_inventory/yr_wk_num=202602/part-0.parquet")).is_file()
        [report] = load_reports(lake)
        assert report["status"] == "success"

        second = _cli("scan", "--date", DAY.isoformat(), "--json", env=env)
        assert second.returncode == 0 and json.loads(second.stdout)["status"] == "already_triggered"
        runs = airflow_local.api(url, "/api/v2/dags/retailflow_nightly/dagRuns", bearer)
        assert runs["total_entries"] == 1  # one delivery, one DAG run

        alerts = Path(lake.path("_state/alerts"))
        deadline = time.monotonic() + 90  # the triggerer runs the deadline callback
        while not list(alerts.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(1)
        [alert] = [json.loads(p.read_text()) for p in alerts.glob("*.json")]
        assert alert["dag_run_id"] == trigger["dag_run_id"] and alert["date"] == DAY.isoformat()
        status = _cli("status", env=env)
        assert "Late (" in status.stdout

        settings = Settings(lake=lake.url, airflow_home=str(home), airflow_wake_instance=host)
        assert stop_if_idle(settings)["stopped"] and _state(aws, host) in ("stopping", "stopped")

        pids = set(airflow_local.instance_pids(home))
        down = _cli("airflow", "down", env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not any(localproc.is_alive(p) for p in pids)
        assert _processes_mentioning(str(home)) == []
    finally:
        _cli("airflow", "down", env=env)
