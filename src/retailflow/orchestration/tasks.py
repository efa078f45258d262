"""The nightly DAG's task bodies, free of Airflow: each takes the settings and a small JSON-able dict, and
returns one. They call the pipeline's stages; the stage records (planned, computed, checked, published)
travel through the lake (``_state/stages/<run id>/<stage>.json``), never through the orchestrator, so a
compute step on a cluster (spark-submit, EMR, Databricks) hands its result to the next task the same way
a task in the worker does.

    verify -> plan -> compute -> gate -> publish -> register -> refresh_dashboard
                                  (record_failure when any of them fails for good)

Data problems (the partition is not complete, a week fails its checks) raise NotReadyError or
DataQualityError: the DAG fails them at once, without retries; anything else is an infrastructure error
and is retried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from retailflow.config import Settings
from retailflow.errors import ConfigError, DataQualityError, NotReadyError
from retailflow.lake import layout
from retailflow.lake.lease import take_writer_lease
from retailflow.lake.rawzone import inspect_partition
from retailflow.lake.state import new_run_id
from retailflow.lake.storage import Lake, open_lake
from retailflow.pipeline import records, stages
from retailflow.pipeline.records import Checked, Computed, Planned, Published, Selection
from retailflow.transform.engine import Engine

T = TypeVar("T")
PLANNED, COMPUTED, CHECKED, PUBLISHED = "planned", "computed", "checked", "published"
_RUN_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")  # new_run_id's shape: run ids become lake paths


# -- which day ----------------------------------------------------------------------------------------


def day_of_run(conf: dict[str, Any] | None, scheduled_at: dt.datetime | None, timezone: str) -> dt.date:
    """The business day a DAG run processes: ``conf["date"]`` when triggered (the readiness scan sets it),
    else, for the safety-net schedule, the business day before the one the run was scheduled in."""
    text = (conf or {}).get("date")
    if text:
        try:
            return dt.date.fromisoformat(str(text))
        except ValueError:
            raise ConfigError(f"The DAG run's conf has date {text!r}, not a YYYY-MM-DD day.") from None
    if scheduled_at is None:
        raise ConfigError('A DAG run without a schedule needs conf {"date": "YYYY-MM-DD"}.')
    return scheduled_at.astimezone(ZoneInfo(timezone)).date() - dt.timedelta(days=1)


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ConfigError(f"{run_id!r} is not a retailflow run id.")
    return run_id


# -- the stage records in the lake ----------------------------------------------------------------------


def save_record(lake: Lake, run_id: str, stage: str, record: Any) -> None:
    lake.write_bytes(layout.stage_record(check_run_id(run_id), stage), records.to_json(record).encode())


def load_record(lake: Lake, run_id: str, stage: str, kind: type[T]) -> T | None:
    try:
        return records.from_json(kind, lake.read_bytes(layout.stage_record(check_run_id(run_id), stage)))
    except FileNotFoundError:
        return None


def _require(lake: Lake, run_id: str, stage: str, kind: type[T]) -> T:
    record = load_record(lake, run_id, stage, kind)
    if record is None:
        raise NotReadyError(
            f"Run {run_id} has no {stage} record in {lake.uri(layout.stage_records(run_id))}.",
            "The task before this one did not finish; clear the DAG run from its first task.",
        )
    return record


# -- the tasks -----------------------------------------------------------------------------------------


def verify(settings: Settings, day: dt.date, version: str | None = None) -> dict[str, Any]:
    """Fail fast, with the scan's reason, unless ``day``'s raw partition is complete."""
    lake = open_lake(settings)
    partition = inspect_partition(lake, day, allow_manifestless=settings.allow_manifestless)
    if not partition.complete:
        raise NotReadyError(partition.describe(), "Re-export the day; the readiness scan then triggers it again.")
    return {"day": day.isoformat(), "version": partition.version, "triggered_version": version}


def plan(settings: Settings, verified: dict[str, Any]) -> dict[str, Any]:
    """Plan the week of the verified day and record the plan in the lake; returns the run's reference."""
    lake = open_lake(settings)
    run_id = new_run_id()
    day = dt.date.fromisoformat(verified["day"])
    # The week so far: a later day of the week still being exported is left out (its scan triggers it).
    planned = stages.plan_weeks(settings, Selection.of([day]), lake=lake, run_id=run_id, through=day)
    blocked = [f"week {w.yr_wk_num}: {' '.join(w.errors)}" for w in planned.weeks if w.errors]
    if blocked:
        stages.write_report(settings, planned, error="; ".join(blocked), lake=lake)
        raise NotReadyError("; ".join(blocked))
    stages.claim_staging(lake, run_id)
    save_record(lake, run_id, PLANNED, planned)
    return {"run_id": run_id, "weeks": [w.yr_wk_num for w in planned.weeks]}


def compute(settings: Settings, ref: dict[str, Any], *, engine: Engine | None = None) -> dict[str, Any]:
    """The engine work of a planned run (in the worker, or in the cluster's driver: spark_job --stage)."""
    lake = open_lake(settings)
    planned = _require(lake, ref["run_id"], PLANNED, Planned)
    computed = stages.compute(settings, planned, lake=lake, engine=engine)
    save_record(lake, ref["run_id"], COMPUTED, computed)
    return dict(ref)


def gate(settings: Settings, ref: dict[str, Any]) -> dict[str, Any]:
    """The data-quality gate: every week passes its checks, or nothing of the run is published."""
    lake = open_lake(settings)
    checked = stages.check(settings, _require(lake, ref["run_id"], COMPUTED, Computed))
    save_record(lake, ref["run_id"], CHECKED, checked)
    if checked.failing:
        raise DataQualityError(
            "; ".join(f"week {w}: {' '.join(r)}" for w, r in checked.failing.items()),
            f"Nothing of those weeks was published. The run report: {lake.uri(layout.run_report(ref['run_id']))}.",
        )
    return dict(ref)


def publish(settings: Settings, ref: dict[str, Any]) -> dict[str, Any]:
    """Replace the checked weeks in the curated zone, under the lake's writer lease (one writer at a time)."""
    lake = open_lake(settings)
    checked = _require(lake, ref["run_id"], CHECKED, Checked)
    writer = take_writer_lease(
        lake,
        f"an orchestrated publish of run {ref['run_id']}",
        ttl_s=settings.lease_ttl_s,
        wait_s=settings.lease_wait_s,
    )
    try:
        with writer.keep_alive():
            published = stages.publish(settings, checked, lake=lake)
    finally:
        writer.release({"run_id": ref["run_id"]})
    lake.remove(layout.staging_owner(ref["run_id"]))  # publishing removed the staging it owned
    save_record(lake, ref["run_id"], PUBLISHED, published)
    return {**ref, "outputs": len(published.outputs)}


def register(settings: Settings, ref: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the catalog (DuckDB; and Glue with catalog = "glue") over what is published."""
    return {**ref, "catalog": stages.refresh_catalog(settings)}


def refresh_dashboard(settings: Settings, ref: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the HTML dashboard, then the run's report (``retailflow status`` shows it) and tidy up."""
    from retailflow.dashboard.html import write_dashboard

    lake = open_lake(settings)
    page = write_dashboard(lake)
    planned = _require(lake, ref["run_id"], PLANNED, Planned)
    published = _require(lake, ref["run_id"], PUBLISHED, Published)
    report = stages.write_report(settings, planned, [published], lake=lake)
    lake.remove(layout.stage_records(ref["run_id"]), recursive=True)
    return {**ref, "dashboard": lake.uri(page), "status": report.status, "report": layout.run_report(report.run_id)}


def record_failure(settings: Settings, run_id: str | None, task: str, error: str) -> str | None:
    """What a task that failed for good leaves behind: the run's report saying why (``retailflow status``),
    and no staging. Returns the report's lake path (None when the run never got as far as a plan)."""
    if not run_id:
        return None
    lake = open_lake(settings)
    planned = load_record(lake, run_id, PLANNED, Planned)
    if planned is None:
        return None
    result = next(
        (
            r
            for stage, kind in ((PUBLISHED, Published), (CHECKED, Checked), (COMPUTED, Computed))
            if (r := load_record(lake, run_id, stage, kind)) is not None
        ),
        None,
    )
    stages.write_report(settings, planned, [result] if result else [], error=f"task {task}: {error}", lake=lake)
    with contextlib.suppress(Exception):
        lake.remove(layout.staging(run_id), recursive=True)
        lake.remove(layout.staging_owner(run_id))
    lake.remove(layout.stage_records(run_id), recursive=True)
    return layout.run_report(run_id)


def record_late(settings: Settings, dag_run_id: str, conf: dict[str, Any] | None) -> str:
    """The deadline alert: this DAG run was not finished ``publish_within_min`` after it was queued."""
    lake = open_lake(settings)
    now = dt.datetime.now(dt.UTC)
    name = re.sub(r"[^A-Za-z0-9_.:+~-]", "_", dag_run_id)[:200]  # a file name, whatever Airflow's run id holds
    path = f"{layout.alerts()}/{name}.json"
    lake.write_json(
        path,
        {
            "dag_run_id": dag_run_id,
            "date": (conf or {}).get("date"),
            "late_at": now.isoformat(timespec="seconds"),
            "message": f"DAG run {dag_run_id} was not finished {settings.publish_within_min:g} minutes after it "
            "was queued: the week may be published late.",
        },
    )
    return path
