from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from retailflow.errors import ExitCode
from retailflow.export import export_days
from retailflow.lake import layout
from retailflow.readiness.scan import (
    ALREADY_TRIGGERED,
    DEADLINE_MISSED,
    NOT_READY,
    READY,
    TRIGGERED,
    scan_day,
)
from retailflow.readiness.triggers import NoTrigger

NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 1, 6, 3, 0, tzinfo=NEW_YORK)  # the 03:00 scan of the day after DAY


class CountingTrigger:
    """A trigger that records, and counts how often it fired."""

    name = "counting"
    records = True

    def __init__(self):
        self.fired: list[tuple[dt.date, str]] = []

    def fire(self, day: dt.date, version: str) -> dict:
        self.fired.append((day, version))
        return {"run": len(self.fired)}


class FailingTrigger(CountingTrigger):
    def fire(self, day, version):
        super().fire(day, version)
        raise RuntimeError("the orchestrator is down")


def trigger_records(lake, day) -> list[str]:
    return sorted(lake.listdir(layout.triggers(day)))


# -- ready partitions ---------------------------------------------------------------------------------


def test_ready_partition_triggers_once_and_records_it(lake, day, exported):
    trigger = CountingTrigger()
    outcome = scan_day(lake, day, trigger, now=NOW)
    assert outcome.status == TRIGGERED
    assert outcome.exit_code == ExitCode.OK
    assert trigger.fired == [(day, exported.manifest_sha256)]
    assert outcome.details == {"run": 1}
    record = lake.read_json(layout.trigger_record(day, exported.manifest_sha256))
    assert record["date"] == day.isoformat()
    assert record["version"] == exported.manifest_sha256
    assert record["trigger"] == "counting"
    assert record["details"] == {"run": 1}
    assert dt.datetime.fromisoformat(record["triggered_at"]) == NOW


def test_record_lives_under_state_triggers(lake, day, exported):
    scan_day(lake, day, CountingTrigger(), now=NOW)
    path = Path(lake.path(f"_state/triggers/dt={day.isoformat()}/{exported.manifest_sha256}.json"))
    assert path.is_file()


def test_second_scan_does_not_fire_again(lake, day, exported):
    trigger = CountingTrigger()
    scan_day(lake, day, trigger, now=NOW)
    again = scan_day(lake, day, trigger, now=NOW + dt.timedelta(minutes=30))
    assert again.status == ALREADY_TRIGGERED
    assert again.exit_code == ExitCode.OK
    assert len(trigger.fired) == 1
    assert "unchanged" in again.message
    assert trigger_records(lake, day) == [f"{exported.manifest_sha256}.json"]


def test_reexport_triggers_again(lake, day, source, exported):
    trigger = CountingTrigger()
    scan_day(lake, day, trigger, now=NOW)
    (second,) = export_days(source, lake, [day])
    outcome = scan_day(lake, day, trigger, now=NOW)
    assert outcome.status == TRIGGERED
    assert [v for _, v in trigger.fired] == [exported.manifest_sha256, second.manifest_sha256]
    assert len(trigger_records(lake, day)) == 2


def test_trigger_none_reports_ready_and_records_nothing(lake, day, exported):
    outcome = scan_day(lake, day, NoTrigger(), now=NOW)
    assert outcome.status == READY
    assert outcome.exit_code == ExitCode.OK
    assert "nothing started" in outcome.message
    assert not lake.exists(layout.triggers(day))
    assert scan_day(lake, day, NoTrigger(), now=NOW).status == READY


def test_failing_trigger_records_nothing_so_the_next_scan_retries(lake, day, exported):
    with pytest.raises(RuntimeError, match="orchestrator"):
        scan_day(lake, day, FailingTrigger(), now=NOW)
    assert trigger_records(lake, day) == []
    trigger = CountingTrigger()
    assert scan_day(lake, day, trigger, now=NOW).status == TRIGGERED
    assert len(trigger.fired) == 1


def test_ready_after_the_deadline_still_triggers(lake, day, exported):
    late = NOW.replace(hour=9)
    assert scan_day(lake, day, CountingTrigger(), now=late, deadline=dt.time(4, 30)).status == TRIGGERED


# -- partitions that are not ready --------------------------------------------------------------------


def test_missing_day_is_not_ready(lake, day):
    trigger = CountingTrigger()
    outcome = scan_day(lake, day, trigger, now=NOW)
    assert outcome.status == NOT_READY
    assert outcome.exit_code == ExitCode.NOT_READY == 3
    assert "has not arrived yet" in outcome.message
    assert trigger.fired == []


def test_incomplete_day_lists_the_missing_files(lake, day, partition):
    for name in ("store.csv.gz", "calendar.csv.gz", layout.MANIFEST_NAME):
        (partition / name).unlink()
    trigger = CountingTrigger()
    outcome = scan_day(lake, day, trigger, now=NOW)
    assert outcome.status == NOT_READY and outcome.exit_code == 3
    assert "store.csv[.gz]" in outcome.message and "calendar.csv[.gz]" in outcome.message
    assert outcome.as_dict()["missing"] == ["store", "calendar"]
    assert trigger.fired == []


def test_corrupt_day_says_corrupt(lake, day, partition):
    with open(partition / "sales.csv.gz", "ab") as handle:
        handle.write(b"appended")
    trigger = CountingTrigger()
    outcome = scan_day(lake, day, trigger, now=NOW)
    assert outcome.status == NOT_READY
    assert "corrupt" in outcome.message and "sales.csv.gz" in outcome.message
    assert outcome.as_dict()["problems"]
    assert trigger.fired == []


def test_not_ready_after_the_deadline_is_missed(lake, day):
    outcome = scan_day(lake, day, CountingTrigger(), now=NOW.replace(hour=5), deadline=dt.time(4, 30))
    assert outcome.status == DEADLINE_MISSED
    assert outcome.exit_code == ExitCode.DEADLINE_MISSED == 4
    assert outcome.message.startswith("ALERT: past the 04:30 deadline")


def test_not_ready_at_the_deadline_minute_is_missed(lake, day):
    assert (
        scan_day(lake, day, CountingTrigger(), now=NOW.replace(hour=4, minute=30), deadline=dt.time(4, 30)).status
        == DEADLINE_MISSED
    )


def test_not_ready_before_the_deadline_is_just_not_ready(lake, day):
    outcome = scan_day(lake, day, CountingTrigger(), now=NOW.replace(hour=4, minute=29), deadline=dt.time(4, 30))
    assert outcome.status == NOT_READY and outcome.exit_code == 3


def test_outcome_as_dict_is_json(lake, day, exported):
    outcome = scan_day(lake, day, CountingTrigger(), now=NOW)
    doc = json.loads(json.dumps(outcome.as_dict()))
    assert doc["date"] == day.isoformat()
    assert doc["status"] == TRIGGERED
    assert doc["version"] == exported.manifest_sha256
    assert doc["exit_code"] == 0
    assert doc["missing"] == [] and doc["problems"] == []
    assert doc["details"] == {"run": 1}
