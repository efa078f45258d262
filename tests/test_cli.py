from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retailflow.cli import cli
from retailflow.lake import Lake
from retailflow.lake.rawzone import inspect_partition
from retailflow.source.duckdb_source import url_of
from tests.clitools import assert_one_line_error, make_invoker


@pytest.fixture
def run(tmp_path, monkeypatch):
    return make_invoker(tmp_path, monkeypatch)


# -- help ---------------------------------------------------------------------------------------------


def test_group_help_explains_the_flow(run):
    result = run("--help")
    assert result.exit_code == 0
    for word in ("generate", "export", "scan", "demo", "retailflow.toml", "RETAILFLOW_"):
        assert word in result.output


@pytest.mark.parametrize(
    "command, words",
    [
        ("generate", ["--from", "--to", "--stores", "--products", "--seed", "--dense"]),
        ("export", ["--lake", "--source", "--date", "--from", "--to", "_manifest.json"]),
        ("scan", ["--lake", "--date", "--deadline", "--trigger", "--json", "Exit codes"]),
        ("demo", ["--workdir", "--weeks", "--end"]),
    ],
)
def test_subcommand_help(run, command, words):
    result = run(command, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.output, word


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_subcommand_has_help(run, command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert f" {command} [OPTIONS]" in result.output.splitlines()[0]
    summary = cli.commands[command].help.strip().split("\n\n")[0]  # the docstring's first paragraph
    assert " ".join(summary.split()) in " ".join(result.output.split())


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and "0.1.0" in result.output


def test_unknown_option_is_a_usage_error(run):
    assert run("export", "--bogus").exit_code == 2


# -- errors: one line, exit 1 -------------------------------------------------------------------------


def test_bad_date_format(run, source_url):
    result = run("export", "--date", "2026/01/05", "--source", source_url, "--lake", "lake")
    assert_one_line_error(result, "'2026/01/05'", "YYYY-MM-DD")
    assert not Path("lake").exists()


def test_impossible_date(run):
    assert_one_line_error(run("scan", "--date", "2026-02-30", "--lake", "lake"), "Invalid --date")


def test_from_after_to(run, source_url):
    result = run("export", "--from", "2026-01-10", "--to", "2026-01-04", "--source", source_url, "--lake", "lake")
    assert_one_line_error(result, "backwards")


def test_date_with_from(run, source_url):
    result = run("export", "--date", "2026-01-05", "--from", "2026-01-04", "--to", "2026-01-06", "--source", source_url)
    assert_one_line_error(result, "not both")


def test_unwritable_lake(run, tmp_path, source_url):
    (tmp_path / "afile").write_text("x")
    result = run("export", "--date", "2026-01-05", "--source", source_url, "--lake", str(tmp_path / "afile" / "lake"))
    assert_one_line_error(result, "afile")


def test_missing_source_hints_at_generate(run, tmp_path):
    result = run("export", "--date", "2026-01-05", "--source", url_of(tmp_path / "absent.duckdb"), "--lake", "lake")
    assert_one_line_error(result, "does not exist", "retailflow generate")


def test_generate_needs_a_range(run, tmp_path):
    assert_one_line_error(run("generate", "--source", url_of(tmp_path / "s.duckdb")), "--from and --to")


def test_generate_rejects_too_many_stores(run, tmp_path):
    result = run(
        "generate",
        "--source",
        url_of(tmp_path / "s.duckdb"),
        "--from",
        "2026-01-04",
        "--to",
        "2026-01-04",
        "--stores",
        "500",
    )
    assert_one_line_error(result, "--stores")


def test_bad_setting_in_the_environment(run):
    result = run("scan", "--date", "2026-01-05", env={"RETAILFLOW_GZIP_LEVEL": "fast"})
    assert_one_line_error(result, "RETAILFLOW_GZIP_LEVEL")


def test_unknown_setting_in_retailflow_toml(run, tmp_path):
    (tmp_path / "retailflow.toml").write_text('lakes = "typo"\n')
    assert_one_line_error(run("scan", "--date", "2026-01-05"), "lakes", "Valid settings")


def test_missing_config_file(run, tmp_path):
    assert_one_line_error(run("--config", str(tmp_path / "absent.toml"), "scan"), "does not exist")


def test_bad_now(run):
    assert_one_line_error(run("scan", "--date", "2026-01-05", "--now", "tomorrow-ish"), "--now")


def test_debug_shows_the_traceback(run):
    result = run("--debug", "export", "--date", "2026/01/05")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "RetailflowError" in result.stderr


def test_debug_from_the_environment(run):
    result = run("export", "--date", "2026/01/05", env={"RETAILFLOW_DEBUG": "1"})
    assert result.exit_code == 1 and "Traceback" in result.stderr


# -- scan exit codes ----------------------------------------------------------------------------------


def test_scan_of_a_missing_day_exits_3(run):
    result = run("scan", "--date", "2026-01-05", "--lake", "lake")
    assert result.exit_code == 3
    assert "has not arrived yet" in result.stderr


def test_scan_past_the_deadline_exits_4(run):
    result = run("scan", "--date", "2026-01-05", "--lake", "lake", "--deadline", "04:30", "--now", "2026-01-06T05:00")
    assert result.exit_code == 4
    assert "ALERT" in result.stderr


def test_scan_before_the_deadline_exits_3(run):
    result = run("scan", "--date", "2026-01-05", "--lake", "lake", "--deadline", "04:30", "--now", "2026-01-06T04:00")
    assert result.exit_code == 3


def test_scan_with_an_invalid_deadline(run):
    assert_one_line_error(run("scan", "--date", "2026-01-05", "--deadline", "4.30"), "HH:MM")


def test_scan_json_output(run):
    result = run("scan", "--date", "2026-01-05", "--lake", "lake", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "not_ready"


def test_scan_range_exits_with_the_worst_code(run, lake, day, exported):
    result = run("scan", "--from", day.isoformat(), "--to", "2026-01-06", "--lake", lake.url, "--trigger", "none")
    assert result.exit_code == 3
    assert "complete" in result.stderr and "has not arrived yet" in result.stderr


def test_lake_from_the_environment(run, lake, day, exported):
    result = run("scan", "--date", day.isoformat(), "--trigger", "none", env={"RETAILFLOW_LAKE": lake.url})
    assert result.exit_code == 0, result.output


def test_flag_beats_the_environment(run, lake, day, exported, tmp_path):
    result = run(
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


# -- the whole flow -----------------------------------------------------------------------------------


def test_generate_export_scan(run, tmp_path):
    source = url_of(tmp_path / "src" / "source.duckdb")
    result = run(
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

    result = run("export", "--source", source, "--lake", "lake", "--from", "2026-01-04", "--to", "2026-01-05")
    assert result.exit_code == 0, result.output
    assert "Exported 2 day(s)" in result.stderr
    lake = Lake(str(tmp_path / "lake"))
    assert inspect_partition(lake, dt.date(2026, 1, 5)).complete

    result = run("scan", "--lake", "lake", "--date", "2026-01-05", "--trigger", "none", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "ready"


# -- the installed command ----------------------------------------------------------------------------


def retailflow_command() -> str:
    found = Path(sys.executable).with_name("retailflow")
    return str(found) if found.exists() else (shutil.which("retailflow") or pytest.skip("retailflow is not installed"))


def test_installed_command_exit_codes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
    command = retailflow_command()
    missing = subprocess.run(
        [command, "scan", "--date", "2026-01-05", "--lake", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert missing.returncode == 3, missing.stderr
    bad = subprocess.run(
        [command, "scan", "--date", "2026/01/05"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: ") and "Traceback" not in bad.stderr
