"""``retailflow run`` (retailflow.cli.run) over tiny hand-written lakes (tests/cli/conftest.py). Results go
to stdout, messages to stderr; errors are one ``Error:`` line, exit 1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.cli.clitools import assert_one_line_error
from tests.cli.tinylake import fill
from tests.transform.lakebuilder import LakeBuilder, sale, weekly_rows


def test_help(invoke):
    result = invoke("run", "--help")
    assert result.exit_code == 0
    for word in [
        "--lake",
        "--date",
        "--from",
        "--to",
        "--all",
        "--engine",
        "--quarantine-threshold",
        "duckdb",
        "spark",
    ]:
        assert word in result.output, word


def test_unknown_engine_is_a_usage_error(raw_lake, invoke):
    assert invoke("run", "--lake", raw_lake.url, "--all", "--engine", "polars").exit_code == 2


@pytest.mark.parametrize("conf", ["spark.x", "=1"])
def test_a_bad_spark_conf(raw_lake, invoke, conf):
    result = invoke("run", "--lake", raw_lake.url, "--all", "--spark-conf", conf)
    assert_one_line_error(result, repr(conf), "key=value")
    assert not (raw_lake.root / "curated").exists()


def test_run_a_date_publishes_its_week(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url, "--date", "2026-01-05")

    assert result.exit_code == 0, result.output
    success = [line for line in result.stderr.splitlines() if line.startswith("✓")]
    assert len(success) == 1
    assert "Published week(s) 202602: 4 fact rows read, 0 quarantined" in success[0]
    assert "! The product table has 3 extra row(s)" in result.stderr  # the known duplicated product keys
    assert raw_lake.week_file(202602).exists()
    assert sum(r["total_sales_amt"] for r in weekly_rows(raw_lake)) == Decimal("150.00")
    assert result.stdout == ""


def test_run_a_range_and_all(raw_lake, invoke):
    # 2026-01-11 is in week 202603, which has no raw partition: that week fails, 202602 is still published.
    result = invoke("run", "--lake", raw_lake.url, "--from", "2026-01-10", "--to", "2026-01-11")
    assert_one_line_error(result, "1 of 2 week(s) not published", "week 202603", "no raw partition")
    assert raw_lake.week_file(202602).exists() and not raw_lake.week_file(202603).exists()

    raw_lake.day("2026-01-11", sales=[sale(9, 248, 5889, "2026-01-11", 1, "1.00", "1.00")])
    result = invoke("run", "--lake", raw_lake.url, "--all")
    assert result.exit_code == 0, result.output
    assert "Published week(s) 202602, 202603: 5 fact rows read" in result.stderr
    assert raw_lake.week_file(202603).exists()


def test_run_without_a_selection(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url)
    assert_one_line_error(result, "--date")
    assert len(result.stderr.strip().splitlines()) == 2  # the message, then the hint
    assert not (raw_lake.root / "curated").exists()


def test_run_without_a_selection_mentions_all(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url)
    assert_one_line_error(result, "--all")


def test_run_all_with_a_date(raw_lake, invoke):
    result = invoke("run", "--lake", raw_lake.url, "--all", "--date", "2026-01-05")
    assert_one_line_error(result, "--all", "not both")
    assert not (raw_lake.root / "curated").exists()


def test_run_over_the_quarantine_threshold(tmp_path, invoke, outside_producer):
    lake = fill(LakeBuilder(tmp_path / "lake"), bad=2)  # 2 of 4 sales rows of 2026-01-05

    result = invoke("run", "--lake", lake.url, "--date", "2026-01-05")

    assert_one_line_error(
        result,
        "2026-01-05",
        "sales",
        "50.0%",
        "quarantine/dt=2026-01-05/sales.parquet",
        "re-export",
        "quarantine_threshold",
    )
    assert "✓" not in result.stderr
    assert not lake.week_file(202602).exists()

    result = invoke("run", "--lake", lake.url, "--date", "2026-01-05", "--quarantine-threshold", "0.5")
    assert result.exit_code == 0, result.output
    assert "2 quarantined" in result.stderr


def test_run_on_an_empty_lake(tmp_path, invoke):
    assert_one_line_error(invoke("run", "--lake", str(tmp_path / "lake"), "--all"), "retailflow export")


def test_run_debug_shows_the_traceback(tmp_path, invoke):
    result = invoke("--debug", "run", "--lake", str(tmp_path / "lake"), "--all")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_flags_reach_the_pipeline(raw_lake, invoke, monkeypatch):
    """--spark-conf items are added to those of the settings; one Lake is built and handed to the run."""
    import retailflow.pipeline
    from retailflow.lake import Lake
    from retailflow.pipeline import Selection

    calls = []

    def fake_run(settings, selection, *, lake, on_progress):
        calls.append((settings, selection, lake))
        raise retailflow.pipeline.RunFailed("stopped here.")

    monkeypatch.setattr(retailflow.pipeline, "run", fake_run)
    result = invoke(
        "run",
        "--lake",
        raw_lake.url,
        "--date",
        "2026-01-05",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--spark-conf",
        "b=3",
        "--spark-conf",
        "c=4",
        env={"RETAILFLOW_SPARK_CONF": "a=1,b=2"},
    )
    assert_one_line_error(result, "stopped here.")
    [(settings, selection, lake)] = calls
    assert settings.engine == "spark" and settings.spark_master == "local[2]"
    assert settings.spark_conf == {"a": "1", "b": "3", "c": "4"}
    assert selection == Selection.from_flags("2026-01-05", None, None, False)
    assert isinstance(lake, Lake) and lake.url == Lake(raw_lake.url).url
