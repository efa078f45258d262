"""The Databricks engine. No local Databricks API exists, so these check the request payloads: the
``runs/submit`` body the DAG's DatabricksSubmitRunOperator sends, and the standing job in deploy/databricks/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from retailflow.config import Settings
from retailflow.orchestration.databricks import job_definition, submit_payload
from tests.orchestration.dagrun import airflow_env

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "20260112T031500123456Z-abc123"


def test_a_compute_run_is_one_wheel_task_on_a_new_cluster_with_the_run_as_idempotency_token():
    settings = Settings(
        lake="s3://lake/retail", artifact_uri="s3://art/retailflow", spark_conf={"spark.sql.shuffle.partitions": "64"}
    )
    payload = submit_payload(settings, ["--lake", settings.lake, "--stage", "compute", "--run-id", RUN_ID], RUN_ID)
    [task] = payload["tasks"]
    assert payload["idempotency_token"] == RUN_ID  # a retried submission starts no second run
    assert task["python_wheel_task"] == {
        "package_name": "retailflow",
        "entry_point": "retailflow-spark",
        "parameters": ["--lake", "s3://lake/retail", "--stage", "compute", "--run-id", RUN_ID],
    }
    assert task["libraries"][0] == {"whl": "s3://art/retailflow/retailflow-0.1.0-py3-none-any.whl"}
    assert task["new_cluster"]["spark_conf"] == {"spark.sql.shuffle.partitions": "64"}
    json.dumps(payload)  # what the operator posts is plain JSON


def test_the_standing_job_in_deploy_is_the_generated_one():
    settings = Settings(lake="s3://my-bucket/retail", artifact_uri="/Volumes/main/retail/artifacts")
    assert json.loads((ROOT / "deploy" / "databricks" / "job.json").read_text()) == job_definition(settings)


def test_the_dags_databricks_operator_sends_that_payload_for_the_planned_run(tmp_path):
    script = r"""
import json
from airflow.dag_processing.dagbag import DagBag
task = DagBag().dags["retailflow_nightly"].task_dict["compute"]
print("RESULT " + json.dumps({"type": type(task).__name__, "json": task.json}))
"""
    env = airflow_env(
        tmp_path,
        RETAILFLOW_DAG_ENGINE="databricks",
        RETAILFLOW_LAKE="s3://lake/retail",
        RETAILFLOW_ARTIFACT_URI="s3://art/rf",
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")] or [done.stderr[-3000:]]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["type"] == "DatabricksSubmitRunOperator"
    ref = "{{ ti.xcom_pull(task_ids='plan')['run_id'] }}"  # rendered by Airflow when the task runs
    expected = submit_payload(
        Settings(lake="s3://lake/retail", artifact_uri="s3://art/rf"),
        ["--lake", "s3://lake/retail", "--stage", "compute", "--run-id", ref],
        ref,
    )
    assert result["json"] == expected
