"""``retailflow status`` (status.py): where each recent day is in the flow, after real exports, scans and the
runs the local trigger starts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.export import export_days
from retailflow.lake.state import load_reports
from retailflow.pipeline import RunFailed, run
from retailflow.readiness.handler import run_scan
from retailflow.readiness.scan import TRIGGERED
from retailflow.status import day_status, show_status

WEEK_202602 = date_range(dt.date(2026, 1, 4), dt.date(2026, 1, 6))  # the first three days of week 202602
MONDAY_202603 = dt.date(2026, 1, 12)


@pytest.fixture
def flowed(source, lake):
    """Days 2026-01-04..06 and 2026-01-12 exported; 2026-01-05 scanned with the local trigger, which ran
    (and published) week 202602."""
    export_days(source, lake, [*WEEK_202602, MONDAY_202603])
    outcome = run_scan(Settings(lake=lake.url, trigger="local"), day=dt.date(2026, 1, 5))
    assert outcome.status == TRIGGERED, outcome.message
    return outcome.details["run_id"]


def by_day(rows: list[dict]) -> dict[str, dict]:
    """Rows by day, without the scan time (checked in its own test)."""
    return {r["day"]: {k: v for k, v in r.items() if k not in ("day", "scanned_at")} for r in rows}


def test_exported_triggered_published(lake, flowed):
    run_id = flowed
    assert [r["run_id"] for r in load_reports(lake)] == [run_id]

    assert by_day(day_status(lake, 14)) == {
        "2026-01-04": {"exported": "complete", "scanned": "no", "triggered": "no", "published": run_id},
        "2026-01-05": {"exported": "complete", "scanned": "triggered", "triggered": "yes", "published": run_id},
        "2026-01-06": {"exported": "complete", "scanned": "no", "triggered": "no", "published": run_id},
        "2026-01-12": {"exported": "complete", "scanned": "no", "triggered": "no", "published": "no"},
    }


def test_a_second_scan_and_run_are_reflected(lake, flowed):
    outcome = run_scan(Settings(lake=lake.url, trigger="local"), day=MONDAY_202603)
    assert outcome.status == TRIGGERED
    second = outcome.details["run_id"]
    assert second != flowed

    rows = by_day(day_status(lake, 14))
    assert rows["2026-01-12"] == {
        "exported": "complete",
        "scanned": "triggered",
        "triggered": "yes",
        "published": second,
    }
    assert rows["2026-01-05"]["published"] == flowed  # its week was not rerun


def test_a_reexported_day_was_triggered_in_an_earlier_version(source, lake, flowed):
    export_days(source, lake, [dt.date(2026, 1, 5)])  # a new manifest: a new version of the day
    assert by_day(day_status(lake, 14))["2026-01-05"]["triggered"] == "earlier version"

    outcome = run_scan(Settings(lake=lake.url, trigger="local"), day=dt.date(2026, 1, 5))
    assert outcome.status == TRIGGERED
    row = by_day(day_status(lake, 14))["2026-01-05"]
    assert row == {
        "exported": "complete",
        "scanned": "triggered",
        "triggered": "yes",
        "published": outcome.details["run_id"],
    }


def test_incomplete_and_corrupt_partitions(lake, flowed):
    for name in ("_manifest.json", "sales.csv.gz"):  # an export caught mid-swap (docs/raw-zone.md)
        (Path(lake.path("raw/dt=2026-01-12")) / name).unlink()
    (Path(lake.path("raw/dt=2026-01-04")) / "inventory.csv.gz").unlink()  # gone, though its manifest lists it
    with open(Path(lake.path("raw/dt=2026-01-06")) / "store.csv.gz", "ab") as f:
        f.write(b"tampered")  # no longer the size its manifest records

    rows = by_day(day_status(lake, 14))
    assert rows["2026-01-12"]["exported"] == "incomplete"
    assert rows["2026-01-06"]["exported"] == "corrupt"
    assert rows["2026-01-04"]["exported"] == "corrupt"
    assert rows["2026-01-05"]["exported"] == "complete"


def test_a_failed_run_publishes_no_day(lake, flowed):
    (Path(lake.path("raw/dt=2026-01-12")) / "inventory.csv.gz").unlink()
    with pytest.raises(RunFailed, match="not published"):
        run(Settings(lake=lake.url), [MONDAY_202603])
    assert by_day(day_status(lake, 14))["2026-01-12"]["published"] == "no"
    assert load_reports(lake, limit=1)[0]["status"] == "failed"


def test_only_the_most_recent_days(lake, flowed):
    assert [r["day"] for r in day_status(lake, 2)] == ["2026-01-06", "2026-01-12"]


def test_a_day_exported_but_never_scanned(source, lake):
    export_days(source, lake, [dt.date(2026, 1, 5)])
    assert day_status(lake, 14) == [
        {
            "day": "2026-01-05",
            "exported": "complete",
            "scanned": "no",
            "scanned_at": "",
            "triggered": "no",
            "published": "no",
        }
    ]


# -- show_status ---------------------------------------------------------------------------------------


def test_show_status_without_runs_or_raw_data(lake, capsys):
    show_status(lake)
    out = capsys.readouterr().out
    assert "No runs yet." in out
    assert "No raw partitions yet." in out


def test_show_status_with_days_but_no_runs(source, lake, capsys):
    export_days(source, lake, [dt.date(2026, 1, 5)])
    show_status(lake)
    out = capsys.readouterr().out
    assert "No runs yet." in out
    assert "2026-01-05" in out and "complete" in out


def test_show_status_with_runs(lake, flowed, capsys):
    (report,) = load_reports(lake)
    show_status(lake, days=14, runs=5)
    out = capsys.readouterr().out
    assert flowed in out and "success" in out and "202602" in out
    read = sum(c["read"] for c in report["counts"])
    assert f"{read:,}" in out
    for day in ("2026-01-04", "2026-01-05", "2026-01-06", "2026-01-12"):
        assert day in out


def test_show_status_marks_failed_weeks(lake, flowed, capsys):
    (Path(lake.path("raw/dt=2026-01-12")) / "inventory.csv.gz").unlink()
    with pytest.raises(RunFailed):
        run(Settings(lake=lake.url), [MONDAY_202603])
    show_status(lake)
    out = capsys.readouterr().out
    assert "202603 ✗" in out and "failed" in out
    [why] = [line for line in out.splitlines() if line.startswith("Run ")]  # and why, in words
    assert "failed:" in why and "inventory" in why


def test_show_status_lists_late_orchestrated_runs(lake, flowed, capsys):
    from retailflow.orchestration.tasks import record_late

    record_late(Settings(lake=lake.url, publish_within_min=90), "retailflow__2026-01-05__abc", {"date": "2026-01-05"})
    show_status(lake)
    out = " ".join(capsys.readouterr().out.split())
    assert "Late (" in out and "retailflow__2026-01-05__abc was not finished 90 minutes after it was queued" in out


def test_the_latest_scan_is_shown_with_its_time_and_outcome(source, lake):
    export_days(source, lake, [dt.date(2026, 1, 5)])
    new_york = dt.timezone(dt.timedelta(hours=-5))
    settings = Settings(lake=lake.url, trigger="none")
    run_scan(settings, day=dt.date(2026, 1, 6), now=dt.datetime(2026, 1, 7, 3, 0, tzinfo=new_york))  # not there
    run_scan(settings, day=dt.date(2026, 1, 5), now=dt.datetime(2026, 1, 6, 3, 30, tzinfo=new_york))
    [row] = day_status(lake, 14)  # only days with a raw partition are listed
    assert (row["day"], row["scanned"], row["scanned_at"]) == ("2026-01-05", "ready", "2026-01-06T03:30:00-05:00")
    record = lake.read_json("_state/scans/dt=2026-01-06.json")
    assert record["status"] == "not_ready" and record["scanned_at"] == "2026-01-07T03:00:00-05:00"
