"""The nightly DAG, ``retailflow_nightly``, built from the settings (no copy per environment):

    verify -> plan -> compute -> gate -> publish -> register -> refresh_dashboard

The readiness scan triggers it with ``conf = {"date": ..., "manifest_version": ...}`` and a run id made of
both (so a second trigger of the same delivery is refused by Airflow itself); a schedule shortly after the
last scan is the safety net. ``dag_engine`` is the one setting that moves ``compute``: into the worker
(duckdb), to spark-submit (spark), to an EMR step on a cluster made for the run (emr, or a step on
``emr_cluster_id``) or to a Databricks run (databricks). The other tasks are light and run in the worker.

One run at a time (``max_active_runs=1``). Infrastructure errors are retried with backoff; a partition
that is not complete or a week that fails its checks fails the run at once (no retry), and the failure
is recorded in the run's report, where ``retailflow status`` shows it. A run not finished
``publish_within_min`` minutes after it was queued raises a deadline alert (also shown by status).

Importing this module does no work: ``build_dag`` does, when the DAG file calls it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retailflow.config import Settings, load_settings
from retailflow.errors import ConfigError, DataQualityError, NotReadyError
from retailflow.orchestration import tasks

DAG_ID = "retailflow_nightly"
RETRIES = 2
RETRY_DELAY = dt.timedelta(seconds=30)
_PLAN_REF = "{{ ti.xcom_pull(task_ids='plan')['run_id'] }}"  # the run id, as operators' templates see it


def build_dag(settings: Settings | None = None, *, dag_id: str = DAG_ID):
    """The DAG for ``settings`` (default: retailflow.toml and RETAILFLOW_*, as every command reads them)."""
    from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, Param, task
    from airflow.sdk.exceptions import AirflowFailException

    settings = settings or load_settings()

    def body(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """A data problem fails the task for good (no retry); anything else is retried."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return fn(*args, **kwargs)
            except (NotReadyError, DataQualityError, ConfigError) as exc:
                raise AirflowFailException(str(exc)) from exc

        return wrapper

    deadline = None
    if settings.publish_within_min > 0:
        deadline = DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(minutes=settings.publish_within_min),
            callback=AsyncCallback(deadline_missed),
        )

    with DAG(
        dag_id=dag_id,
        description="A day's raw partition -> its fiscal week's store x product metrics, published and catalogued.",
        schedule=_cron(settings),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,
        deadline=deadline,
        params={
            "date": Param(None, type=["null", "string"], description="The business day (YYYY-MM-DD)"),
            "manifest_version": Param(None, type=["null", "string"], description="The delivery's manifest hash"),
        },
        default_args={
            "retries": RETRIES,
            "retry_delay": RETRY_DELAY,
            "retry_exponential_backoff": True,
            "on_failure_callback": functools.partial(on_task_failure, settings),
        },
        tags=["retailflow"],
        doc_md=__doc__,
    ) as dag:

        @task
        def verify(**context: Any) -> dict[str, Any]:
            conf = context["dag_run"].conf or {}
            day = tasks.day_of_run(conf, context.get("logical_date"), settings.timezone)
            return body(tasks.verify)(settings, day, conf.get("manifest_version"))

        @task
        def plan(verified: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.plan)(settings, verified)

        @task
        def gate(ref: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.gate)(settings, ref)

        @task
        def publish(ref: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.publish)(settings, ref)

        @task
        def register(ref: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.register)(settings, ref)

        @task
        def refresh_dashboard(ref: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.refresh_dashboard)(settings, ref)

        planned = plan(verify())
        first, last = compute_tasks(settings, planned, body)
        planned >> first
        checked = gate(planned)  # the run id from plan; the computed record from the lake
        last >> checked
        refresh_dashboard(register(publish(checked)))
    return dag


def compute_tasks(settings: Settings, planned: Any, body: Callable):
    """The compute step on ``settings.dag_engine``: (first task, last task)."""
    from airflow.sdk import task

    engine = settings.dag_engine
    if engine == "duckdb":

        @task
        def compute(ref: dict[str, Any]) -> dict[str, Any]:
            return body(tasks.compute)(settings, ref)

        step = compute(planned)
        return step, step
    if engine == "spark":
        from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

        step = SparkSubmitOperator(
            task_id="compute",
            application=str(driver_path()),
            application_args=driver_args(settings),
            conf=dict(settings.spark_conf),
            name="retailflow-compute",
        )
        return step, step
    if engine == "emr":
        return emr_tasks(settings)
    if engine == "databricks":
        from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

        step = DatabricksSubmitRunOperator(task_id="compute", json=databricks_run(settings))
        return step, step
    raise ConfigError(f"Unknown dag_engine {engine!r}.")


def driver_path() -> Path:
    """The spark-submit driver shipped in the package (``make spark-artifact`` copies it to dist/). It sits
    alone in its folder: spark-submit puts a script's folder first on sys.path, and a package folder's
    modules (calendar.py) would shadow the standard library's."""
    return Path(__file__).parent / "driver" / "retailflow_spark_job.py"


def driver_args(settings: Settings, run_id: str = _PLAN_REF) -> list[str]:
    """The driver's arguments for the compute stage of the planned run (templated: the plan task's run id)."""
    return ["--lake", settings.lake, "--stage", "compute", "--run-id", run_id]


def emr_tasks(settings: Settings):
    """Create a cluster -> add the step -> wait for it -> terminate (also after a failure); or, with
    ``emr_cluster_id``, a step on that cluster."""
    from airflow.providers.amazon.aws.operators.emr import (
        EmrAddStepsOperator,
        EmrCreateJobFlowOperator,
        EmrTerminateJobFlowOperator,
    )
    from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
    from airflow.sdk import TriggerRule

    from retailflow.orchestration.emr import artifact_in, cluster_request, driver_step

    artifact = artifact_in(settings)
    create = None
    if settings.emr_cluster_id:
        cluster = settings.emr_cluster_id
    else:
        create = EmrCreateJobFlowOperator(
            task_id="create_cluster",
            job_flow_overrides=cluster_request(settings, artifact, name="retailflow nightly"),
            emr_conn_id=None,
            wait_for_completion=False,
        )
        cluster = create.output
    add = EmrAddStepsOperator(
        task_id="add_step",
        job_flow_id=cluster,
        steps=[driver_step(settings, artifact, driver_args(settings), name="retailflow compute {{ run_id }}")],
    )
    sense = EmrStepSensor(
        task_id="compute",
        job_flow_id=cluster,
        step_id="{{ ti.xcom_pull(task_ids='add_step')[0] }}",
        poke_interval=settings.emr_poll_s,
        timeout=6 * 3600,
        mode="reschedule",
    )
    add >> sense
    if create is None:
        return add, sense
    terminate = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster", job_flow_id=cluster, trigger_rule=TriggerRule.ALL_DONE
    )
    sense >> terminate
    return create, sense


def databricks_run(settings: Settings, run_id: str = _PLAN_REF) -> dict[str, Any]:
    """The ``runs/submit`` payload: the job of deploy/databricks/job.json, its task running the driver's
    compute stage for the planned run. (No local Databricks API exists: tests check this payload.)"""
    from retailflow.orchestration.databricks import submit_payload

    return submit_payload(settings, driver_args(settings, run_id), run_id=run_id)


def _cron(settings: Settings):
    if settings.dag_schedule.strip().lower() in ("", "none"):
        return None
    from airflow.timetables.trigger import CronTriggerTimetable

    return CronTriggerTimetable(settings.dag_schedule, timezone=settings.timezone)


def on_task_failure(settings: Settings, context: dict[str, Any]) -> None:
    """A task failed for good: record it in the run's report (``retailflow status`` shows it)."""
    ti = context["ti"]
    ref = ti.xcom_pull(task_ids="plan") if ti.task_id != "verify" else None
    error = context.get("exception")
    tasks.record_failure(settings, (ref or {}).get("run_id"), ti.task_id, str(error) if error else "failed")


async def deadline_missed(context: dict[str, Any], **_: Any) -> None:
    """The deadline alert (run by the triggerer): the DAG run is late; record it for ``retailflow status``."""
    import asyncio

    dag_run = context.get("dag_run") or {}  # the REST API's DAGRun, as JSON
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id") or "unknown"
    await asyncio.to_thread(tasks.record_late, load_settings(), str(run_id), dag_run.get("conf"))
