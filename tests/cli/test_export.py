"""``retailflow export`` (retailflow.cli.export), and the flow generate -> export -> scan through click."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from retailflow.lake import Lake
from retailflow.lake.rawzone import inspect_partition
from retailflow.source.duckdb_source import url_of
from tests.cli.clitools import assert_one_line_error


def test_help(invoke):
    result = invoke("export", "--help")
    assert result.exit_code == 0
    for word in ["--lake", "--source", "--date", "--from", "--to", "_manifest.json"]:
        assert word in result.output, word


def test_bad_date_format(invoke, source_url):
    result = invoke("export", "--date", "2026/01/05", "--source", source_url, "--lake", "lake")
    assert_one_line_error(result, "'2026/01/05'", "YYYY-MM-DD")
    assert not Path("lake").exists()


def test_from_after_to(invoke, source_url):
    result = invoke("export", "--from", "2026-01-10", "--to", "2026-01-04", "--source", source_url, "--lake", "lake")
    assert_one_line_error(result, "backwards")


def test_date_with_from(invoke, source_url):
    result = invoke(
        "export", "--date", "2026-01-05", "--from", "2026-01-04", "--to", "2026-01-06", "--source", source_url
    )
    assert_one_line_error(result, "not both")


def test_unwritable_lake(invoke, tmp_path, source_url):
    (tmp_path / "afile").write_text("x")
    result = invoke(
        "export", "--date", "2026-01-05", "--source", source_url, "--lake", str(tmp_path / "afile" / "lake")
    )
    assert_one_line_error(result, "afile")


def test_missing_source_hints_at_generate(invoke, tmp_path):
    result = invoke("export", "--date", "2026-01-05", "--source", url_of(tmp_path / "absent.duckdb"), "--lake", "lake")
    assert_one_line_error(result, "does not exist", "retailflow generate")


def test_export_one_day(invoke, tmp_path, source_url, day):
    result = invoke("export", "--source", source_url, "--lake", "lake", "--date", day.isoformat())
    assert result.exit_code == 0, result.output
    assert "Exported 1 day(s)" in result.stderr and str(tmp_path / "lake" / "raw") in result.stderr
    assert inspect_partition(Lake(str(tmp_path / "lake")), day).complete


def test_generate_export_scan(invoke, tmp_path):
    source = url_of(tmp_path / "src" / "source.duckdb")
    result = invoke(
        "generate",
        "--source",
        source,
        "--from",
        "2026-01-04",
        "--to",
        "2026-01-10",
        "--stores",
        "2",
        "--products",
        "3",
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "Generated" in result.stderr

    result = invoke("export", "--source", source, "--lake", "lake", "--from", "2026-01-04", "--to", "2026-01-05")
    assert result.exit_code == 0, result.output
    assert "Exported 2 day(s)" in result.stderr
    lake = Lake(str(tmp_path / "lake"))
    assert inspect_partition(lake, dt.date(2026, 1, 5)).complete

    result = invoke("scan", "--lake", "lake", "--date", "2026-01-05", "--trigger", "none", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "ready"
