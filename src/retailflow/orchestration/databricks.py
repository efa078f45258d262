"""The pipeline on Databricks: the ``runs/submit`` payload of one compute step (Airflow's
``DatabricksSubmitRunOperator`` sends it) and the standing job's definition in deploy/databricks/job.json,
both from the one cluster and task below.

No local Databricks API exists, so tests check these payloads, not a run.
"""

from __future__ import annotations

from typing import Any

from retailflow.config import Settings

CLUSTER: dict[str, Any] = {
    "spark_version": "16.4.x-scala2.13",
    "node_type_id": "m6i.xlarge",
    "num_workers": 2,
    "spark_conf": {"spark.sql.shuffle.partitions": "200"},
}
ENTRY_POINT = "retailflow-spark"  # the console script of the wheel (retailflow.pipeline.spark_job)


def wheel_location(settings: Settings) -> str:
    """The wheel ``make spark-artifact`` built, under ``artifact_uri`` (a Unity Catalog volume or s3://)."""
    from retailflow import __version__

    base = (settings.artifact_uri or "/Volumes/main/retail/artifacts").rstrip("/")
    return f"{base}/retailflow-{__version__}-py3-none-any.whl"


def task(settings: Settings, parameters: list[str], task_key: str = "weekly_metrics") -> dict[str, Any]:
    """The wheel task running the driver with ``parameters``, with retailflow and s3fs installed."""
    return {
        "task_key": task_key,
        "python_wheel_task": {"package_name": "retailflow", "entry_point": ENTRY_POINT, "parameters": parameters},
        "libraries": [{"whl": wheel_location(settings)}, {"pypi": {"package": "s3fs"}}],
    }


def submit_payload(settings: Settings, parameters: list[str], run_id: str | None = None) -> dict[str, Any]:
    """``POST /api/2.2/jobs/runs/submit``: one run on a new cluster. ``run_id`` (retailflow's) becomes the
    idempotency token, so a retried submission of the same run starts no second cluster."""
    cluster = {**CLUSTER, "spark_conf": {**CLUSTER["spark_conf"], **settings.spark_conf}}
    payload: dict[str, Any] = {
        "run_name": "retailflow compute",
        "tasks": [{**task(settings, parameters), "new_cluster": cluster}],
    }
    if run_id is not None:
        payload["idempotency_token"] = run_id
    return payload


def job_definition(settings: Settings) -> dict[str, Any]:
    """``POST /api/2.2/jobs/create``: the standing job (deploy/databricks/job.json), a week per run."""
    return {
        "name": "retailflow weekly metrics",
        "tasks": [
            {
                **task(settings, ["--lake", settings.lake, "--date", "{{job.parameters.date}}"]),
                "job_cluster_key": "retailflow",
            }
        ],
        "parameters": [{"name": "date", "default": "2026-11-21"}],
        "job_clusters": [{"job_cluster_key": "retailflow", "new_cluster": CLUSTER}],
    }
