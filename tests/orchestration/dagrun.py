"""Runs of the nightly DAG with Airflow's ``dag.test()``, each in a fresh process with its own AIRFLOW_HOME
(Airflow reads its configuration once, at import): the real scheduler-less executor of Airflow, the real
operators, the task bodies calling retailflow's stages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import retailflow.orchestration

DAGS_FOLDER = Path(retailflow.orchestration.__file__).parent / "dags"

SCRIPT = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
assert not bag.import_errors, bag.import_errors
run = bag.dags["retailflow_nightly"].test(run_conf=json.loads(sys.argv[1]))
tis = {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in run.get_task_instances()}
print("RESULT " + json.dumps({"state": str(run.state), "tasks": tis}))
"""


@dataclass
class DagRun:
    state: str
    tasks: dict[str, dict]
    log: str


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """A child's environment: Airflow in ``home`` (SQLite), no examples, no RETAILFLOW_* of this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAILFLOW_", "AIRFLOW", "PYTEST_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        SPARK_LOCAL_IP="127.0.0.1",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        RETAILFLOW_DAG_SCHEDULE="none",  # triggered runs only: nothing to catch up
        RETAILFLOW_EMR_POLL_S="1",
        RETAILFLOW_PUBLISH_WITHIN_MIN="0",  # dag.test() of Airflow 3.3.2 fails on any DeadlineAlert (it needs a DAG serialized by the dag-processor): the live test covers the alert
    )
    env.update(extra)
    return env


def migrate(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def run_dag(home: Path, conf: dict, **env: str) -> DagRun:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(conf)],
        env=airflow_env(home, **env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = done.stdout + done.stderr
    (home / "dag-test.log").write_text(log)  # the whole log, for a failing test's reader
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, log[-5000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    return DagRun(result["state"], result["tasks"], log)
