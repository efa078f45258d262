from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from retailflow.config import Settings
from retailflow.errors import ConfigError, DeadlineMissedError
from retailflow.lake import layout
from retailflow.readiness.handler import default_day, handler, run_scan
from retailflow.readiness.scan import DEADLINE_MISSED, NOT_READY, READY
from retailflow.readiness.triggers import LocalTrigger, NoTrigger, make_trigger

NEW_YORK = ZoneInfo("America/New_York")


# -- which day -----------------------------------------------------------------------------------------


def test_default_day_is_yesterday_in_new_york():
    now = dt.datetime(2026, 11, 22, 3, 0, tzinfo=NEW_YORK)
    assert default_day(Settings(), now) == dt.date(2026, 11, 21)


def test_default_day_uses_the_business_time_zone_not_utc():
    now = dt.datetime(2026, 11, 22, 2, 30, tzinfo=dt.UTC)  # still 2026-11-21 21:30 in New York
    assert default_day(Settings(), now) == dt.date(2026, 11, 20)


def test_default_day_follows_scan_days_back_and_timezone():
    now = dt.datetime(2026, 11, 22, 2, 30, tzinfo=dt.UTC)
    assert default_day(Settings(scan_days_back=0), now) == dt.date(2026, 11, 21)
    assert default_day(Settings(timezone="Europe/Berlin"), now) == dt.date(2026, 11, 21)


def test_run_scan_without_a_day_scans_the_default_day(tmp_path):
    settings = Settings(lake=str(tmp_path / "lake"), trigger="none")
    outcome = run_scan(settings, now=dt.datetime(2026, 1, 6, 8, 0, tzinfo=dt.UTC))  # 03:00 New York
    assert outcome.day == dt.date(2026, 1, 5)
    assert outcome.status == NOT_READY


# -- run_scan -----------------------------------------------------------------------------------------


def test_run_scan_with_trigger_none(lake, day, exported):
    outcome = run_scan(Settings(lake=lake.url, trigger="none"), day=day)
    assert outcome.status == READY
    assert not lake.exists(layout.triggers(day))


def test_run_scan_deadline_from_settings(lake, day):
    settings = Settings(lake=lake.url, trigger="none", deadline="04:30")
    late = dt.datetime(2026, 1, 6, 4, 45, tzinfo=NEW_YORK)
    early = dt.datetime(2026, 1, 6, 4, 15, tzinfo=NEW_YORK)
    assert run_scan(settings, day=day, now=late).status == DEADLINE_MISSED
    assert run_scan(settings, day=day, now=early).status == NOT_READY


def test_run_scan_compares_the_deadline_in_the_business_time_zone(lake, day):
    settings = Settings(lake=lake.url, trigger="none", deadline="04:30")
    utc_0930 = dt.datetime(2026, 1, 6, 9, 30, tzinfo=dt.UTC)  # 04:30 in New York (EST)
    utc_0929 = dt.datetime(2026, 1, 6, 9, 29, tzinfo=dt.UTC)
    assert run_scan(settings, day=day, now=utc_0930).status == DEADLINE_MISSED
    assert run_scan(settings, day=day, now=utc_0929).status == NOT_READY


def test_make_trigger():
    assert isinstance(make_trigger("none"), NoTrigger)
    assert isinstance(make_trigger("local", run_local=lambda d: {}), LocalTrigger)
    with pytest.raises(ConfigError, match="Unknown trigger"):
        make_trigger("cron")
    with pytest.raises(ConfigError, match="needs the settings"):
        make_trigger("airflow")
    assert make_trigger("airflow", settings=Settings(trigger="airflow")).name == "airflow"
    with pytest.raises(ConfigError):
        make_trigger("local")


# -- the Lambda handler -------------------------------------------------------------------------------


@pytest.fixture
def lambda_env(monkeypatch, tmp_path, lake):
    """The function's environment: settings from RETAILFLOW_* variables, no retailflow.toml around."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETAILFLOW_LAKE", lake.url)
    monkeypatch.setenv("RETAILFLOW_TRIGGER", "none")
    monkeypatch.setenv("RETAILFLOW_TIMEZONE", "America/New_York")
    return lake


def test_handler_returns_the_outcome_of_a_ready_day(lambda_env, day, exported):
    result = handler({"date": day.isoformat()}, None)
    assert result["status"] == READY
    assert result["date"] == day.isoformat()
    assert result["exit_code"] == 0
    assert result["version"] == exported.manifest_sha256


def test_handler_returns_not_ready_without_raising(lambda_env, day):
    result = handler({"date": day.isoformat()}, None)
    assert result["status"] == NOT_READY
    assert result["exit_code"] == 3
    assert result["missing"] == ["sales", "inventory", "store", "product", "calendar"]


def test_handler_raises_past_the_deadline(lambda_env, day):
    with pytest.raises(DeadlineMissedError, match="ALERT") as info:
        handler({"date": day.isoformat(), "deadline": "00:00"}, None)
    assert info.value.exit_code == 4


def test_handler_deadline_from_the_environment(lambda_env, monkeypatch, day):
    monkeypatch.setenv("RETAILFLOW_DEADLINE", "00:00")
    with pytest.raises(DeadlineMissedError):
        handler({"date": day.isoformat()}, None)


def test_handler_event_lake_overrides_the_environment(lambda_env, monkeypatch, tmp_path, day, exported):
    monkeypatch.setenv("RETAILFLOW_LAKE", str(tmp_path / "elsewhere"))
    assert handler({"date": day.isoformat()}, None)["status"] == NOT_READY
    assert handler({"date": day.isoformat(), "lake": lambda_env.url}, None)["status"] == READY


def test_handler_without_a_date_scans_the_default_day(lambda_env):
    result = handler({}, None)
    expected = default_day(Settings(), dt.datetime.now(dt.UTC))
    assert result["date"] in (expected.isoformat(), (expected - dt.timedelta(days=1)).isoformat())
    assert handler(None, None)["status"] == NOT_READY


def test_on_lambda_the_local_trigger_is_refused_in_one_line(lambda_env, monkeypatch, day):
    from retailflow.errors import ConfigError

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "retailflow-readiness")
    monkeypatch.setenv("RETAILFLOW_TRIGGER", "local")
    with pytest.raises(ConfigError, match="cannot run the pipeline in-process"):
        handler({"date": day.isoformat()}, None)
