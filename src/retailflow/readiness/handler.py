"""The readiness check as an AWS Lambda function (run by EventBridge at 03:00 and 03:30 New York time).

``handler(event, context)`` runs unchanged on Lambda's Python runtime: its settings come from the
environment (``RETAILFLOW_LAKE=s3://...``, ``RETAILFLOW_TRIGGER``, ``RETAILFLOW_DEADLINE``, ...), and the
event may carry ``{"date": "YYYY-MM-DD"}`` (default: the business day that just ended in
``RETAILFLOW_TIMEZONE``) and ``{"deadline": "HH:MM"}``. A missed deadline raises, so the function's
Errors metric (and any alarm on it) fires; the other outcomes are returned as a dict. Overlapping
invocations (a retry, two schedules) trigger a partition once: the scan claims it first (scan.py);
``RETAILFLOW_ALLOW_MANIFESTLESS=true`` accepts outside producers' partitions without a manifest.
In production the trigger is ``airflow`` (readiness/airflow_trigger.py), which wakes a stopped Airflow host
first when ``RETAILFLOW_AIRFLOW_WAKE_INSTANCE`` is set; the event ``{"action": "stop_if_idle"}`` (a schedule
of its own) stops that host again when Airflow has no active DAG run (readiness/wake.py).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from zoneinfo import ZoneInfo

from retailflow.config import Settings, load_settings
from retailflow.dates import parse_date
from retailflow.errors import ConfigError, DeadlineMissedError
from retailflow.lake.storage import Lake, open_lake
from retailflow.readiness.scan import DEADLINE_MISSED, ScanOutcome, scan_day
from retailflow.readiness.triggers import make_trigger


def default_day(settings: Settings, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=settings.scan_days_back)


def run_scan(
    settings: Settings, day: dt.date | None = None, now: dt.datetime | None = None, lake: Lake | None = None
) -> ScanOutcome:
    """The scan with everything resolved from settings: what both the CLI and the Lambda call."""
    zone = ZoneInfo(settings.timezone)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    day = day or default_day(settings, now)
    lake = lake or open_lake(settings)
    trigger = make_trigger(settings.trigger, run_local=_local_runner(settings, lake), settings=settings)
    return scan_day(
        lake,
        day,
        trigger,
        now=now,
        deadline=settings.deadline,
        allow_manifestless=settings.allow_manifestless,
        claim_ttl_s=settings.lease_ttl_s,
    )


def _local_runner(settings: Settings, lake: Lake):
    def run(day: dt.date) -> dict[str, Any]:
        from retailflow.pipeline import run_for_trigger  # heavy imports only when a run starts

        return run_for_trigger(settings, day, lake=lake)

    return run


def handler(event: dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
    event = event or {}
    settings = load_settings(flags={"deadline": event.get("deadline"), "lake": event.get("lake")})
    if event.get("action") == "stop_if_idle":
        from retailflow.readiness.wake import stop_if_idle

        return stop_if_idle(settings)
    if settings.trigger == "local" and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # The Lambda zip carries the scan, not the pipeline: a run belongs to the orchestrator or a cluster.
        raise ConfigError(
            "The readiness Lambda cannot run the pipeline in-process (trigger 'local').",
            "Set RETAILFLOW_TRIGGER to airflow (a DAG run) or none (report only).",
        )
    day = parse_date(event["date"]) if event.get("date") else None
    outcome = run_scan(settings, day=day)
    if outcome.status == DEADLINE_MISSED:
        raise DeadlineMissedError(outcome.message)
    return outcome.as_dict()
