"""``retailflow scan`` (retailflow.cli.scan): its exit codes 0 / 3 / 4, JSON, ranges, and where --lake
comes from."""

from __future__ import annotations

import json

from tests.cli.clitools import assert_one_line_error


def test_help(invoke):
    result = invoke("scan", "--help")
    assert result.exit_code == 0
    for word in ["--lake", "--date", "--deadline", "--trigger", "--json", "Exit codes", "local", "none"]:
        assert word in result.output, word


def test_impossible_date(invoke):
    assert_one_line_error(invoke("scan", "--date", "2026-02-30", "--lake", "lake"), "Invalid --date")


def test_bad_now(invoke):
    assert_one_line_error(invoke("scan", "--date", "2026-01-05", "--now", "tomorrow-ish"), "--now")


def test_unknown_trigger_is_a_usage_error(invoke):
    assert invoke("scan", "--date", "2026-01-05", "--trigger", "lambda").exit_code == 2


def test_scan_of_a_missing_day_exits_3(invoke):
    result = invoke("scan", "--date", "2026-01-05", "--lake", "lake")
    assert result.exit_code == 3
    assert "has not arrived yet" in result.stderr


def test_scan_past_the_deadline_exits_4(invoke):
    result = invoke(
        "scan", "--date", "2026-01-05", "--lake", "lake", "--deadline", "04:30", "--now", "2026-01-06T05:00"
    )
    assert result.exit_code == 4
    assert "ALERT" in result.stderr


def test_scan_before_the_deadline_exits_3(invoke):
    result = invoke(
        "scan", "--date", "2026-01-05", "--lake", "lake", "--deadline", "04:30", "--now", "2026-01-06T04:00"
    )
    assert result.exit_code == 3


def test_scan_with_an_invalid_deadline(invoke):
    assert_one_line_error(invoke("scan", "--date", "2026-01-05", "--deadline", "4.30"), "HH:MM")


def test_scan_json_output(invoke):
    result = invoke("scan", "--date", "2026-01-05", "--lake", "lake", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "not_ready"


def test_scan_range_exits_with_the_worst_code(invoke, lake, day, exported):
    result = invoke("scan", "--from", day.isoformat(), "--to", "2026-01-06", "--lake", lake.url, "--trigger", "none")
    assert result.exit_code == 3
    assert "complete" in result.stderr and "has not arrived yet" in result.stderr


def test_lake_from_the_environment(invoke, lake, day, exported):
    result = invoke("scan", "--date", day.isoformat(), "--trigger", "none", env={"RETAILFLOW_LAKE": lake.url})
    assert result.exit_code == 0, result.output


def test_flag_beats_the_environment(invoke, lake, day, exported, tmp_path):
    result = invoke(
        "scan",
        "--date",
        day.isoformat(),
        "--trigger",
        "none",
        "--lake",
        lake.url,
        env={"RETAILFLOW_LAKE": str(tmp_path / "elsewhere")},
    )
    assert result.exit_code == 0, result.output
