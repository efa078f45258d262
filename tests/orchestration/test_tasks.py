"""The DAG's task bodies (orchestration/tasks.py) without Airflow: which day a run is for, the run's records
in the lake, a day still being exported, and what a failure leaves behind."""

from __future__ import annotations

import datetime as dt

import pytest

from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.errors import ConfigError, DataQualityError, NotReadyError
from retailflow.export import export_days
from retailflow.lake import layout
from retailflow.lake.state import load_reports
from retailflow.orchestration import tasks

NEW_YORK = "America/New_York"


@pytest.mark.parametrize(
    ("conf", "scheduled", "expected"),
    [
        ({"date": "2026-01-05"}, None, dt.date(2026, 1, 5)),  # triggered: the scan says which day
        ({"date": "2026-01-05"}, dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), dt.date(2026, 1, 5)),
        (None, dt.datetime(2026, 1, 6, 9, 0, tzinfo=dt.UTC), dt.date(2026, 1, 5)),  # 04:00 New York: yesterday
        ({}, dt.datetime(2026, 1, 6, 3, 0, tzinfo=dt.UTC), dt.date(2026, 1, 4)),  # 22:00 the day before there
    ],
)
def test_the_day_of_a_run(conf, scheduled, expected):
    assert tasks.day_of_run(conf, scheduled, NEW_YORK) == expected


@pytest.mark.parametrize("conf", [{"date": "05/01/2026"}, {"date": "2026-13-01"}, {"date": "'; DROP TABLE x"}])
def test_a_bad_date_in_the_conf_is_one_clear_error(conf):
    with pytest.raises(ConfigError, match="not a YYYY-MM-DD day"):
        tasks.day_of_run(conf, None, NEW_YORK)


def test_a_manual_run_without_a_date_says_what_to_give():
    with pytest.raises(ConfigError, match='conf {"date": "YYYY-MM-DD"}'):
        tasks.day_of_run({}, None, NEW_YORK)


@pytest.mark.parametrize("run_id", ["../../etc", "20260105T000000000000Z-abc12/x", "", "x" * 40])
def test_run_ids_from_xcom_are_checked_before_they_become_paths(lake, run_id):
    with pytest.raises(ConfigError, match="not a retailflow run id"):
        tasks.load_record(lake, run_id, tasks.PLANNED, dict)


def test_a_later_day_still_being_exported_is_left_out_not_a_failure(source, lake):
    export_days(source, lake, date_range(dt.date(2026, 1, 4), dt.date(2026, 1, 7)))
    lake.write_json(layout.export_marker(dt.date(2026, 1, 7)), {"started_at": "now"})  # its export runs now
    settings = Settings(lake=lake.url)

    ref = tasks.plan(settings, tasks.verify(settings, dt.date(2026, 1, 5)))
    planned = tasks.load_record(lake, ref["run_id"], tasks.PLANNED, tasks.Planned)
    [week] = planned.weeks
    assert week.runnable and week.days == tuple(date_range(dt.date(2026, 1, 4), dt.date(2026, 1, 6)))

    with pytest.raises(NotReadyError, match="2026-01-07"):  # ... but the run of that day waits for it
        tasks.verify(settings, dt.date(2026, 1, 7))
    lake.write_json(layout.export_marker(dt.date(2026, 1, 5)), {"started_at": "now"})  # an earlier day
    with pytest.raises(NotReadyError, match="2026-01-05"):
        tasks.plan(settings, {"day": "2026-01-06"})


def test_a_failed_gate_leaves_a_report_that_says_why_and_no_staging(source, lake):
    export_days(source, lake, [dt.date(2026, 1, 5)])
    settings = Settings(lake=lake.url, quarantine_threshold=0.0)
    ref = tasks.compute(settings, tasks.plan(settings, tasks.verify(settings, dt.date(2026, 1, 5))))
    lake.write_bytes(layout.stage_record(ref["run_id"], tasks.COMPUTED), _with_a_bad_total(lake, ref["run_id"]))
    with pytest.raises(DataQualityError, match="Nothing of those weeks was published"):
        tasks.gate(settings, ref)
    path = tasks.record_failure(settings, ref["run_id"], "gate", "week 202602: the totals do not reconcile")
    [report] = load_reports(lake)
    assert path == layout.run_report(ref["run_id"]) and report["status"] == "failed"
    assert report["error"].startswith("task gate: week 202602")
    assert not lake.exists(layout.staging(ref["run_id"])) and not lake.exists(layout.stage_records(ref["run_id"]))
    assert not lake.exists("curated/weekly_sales_inventory")


def _with_a_bad_total(lake, run_id: str) -> bytes:
    """The computed record with one output total off by a cent: reconciliation must fail the week."""
    import json

    record = json.loads(lake.read_bytes(layout.stage_record(run_id, tasks.COMPUTED)))
    total = record["totals"][0]["output"]
    name = next(iter(total))
    total[name] = str(float(total[name]) + 0.01)
    return json.dumps(record).encode()


def test_a_failure_before_any_plan_records_nothing(lake):
    assert tasks.record_failure(Settings(lake=lake.url), None, "verify", "not ready") is None
