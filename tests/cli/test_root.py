"""The root command (retailflow.cli.root, .options): help, version, settings from file and environment,
one-line errors and --debug, and the installed ``retailflow`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retailflow.cli import cli
from tests.cli.clitools import assert_one_line_error

# -- help ---------------------------------------------------------------------------------------------


def test_group_help_explains_the_flow(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    for word in ("generate", "export", "scan", "demo", "retailflow.toml", "RETAILFLOW_"):
        assert word in result.output


def test_every_command_is_registered():
    assert sorted(cli.commands) == [
        "airflow",
        "catalog",
        "dashboard",
        "demo",
        "export",
        "generate",
        "query",
        "run",
        "scan",
        "status",
        "superset",
    ]


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_subcommand_has_help(invoke, command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert f" {command} [OPTIONS]" in result.output.splitlines()[0]
    summary = cli.commands[command].help.strip().split("\n\n")[0]  # the docstring's first paragraph
    assert " ".join(summary.split()) in " ".join(result.output.split())


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0 and "0.1.0" in result.output


def test_unknown_option_is_a_usage_error(invoke):
    assert invoke("export", "--bogus").exit_code == 2


# -- settings and errors ------------------------------------------------------------------------------


def test_bad_setting_in_the_environment(invoke):
    result = invoke("scan", "--date", "2026-01-05", env={"RETAILFLOW_GZIP_LEVEL": "fast"})
    assert_one_line_error(result, "RETAILFLOW_GZIP_LEVEL")


def test_unknown_setting_in_retailflow_toml(invoke, tmp_path):
    (tmp_path / "retailflow.toml").write_text('lakes = "typo"\n')
    assert_one_line_error(invoke("scan", "--date", "2026-01-05"), "lakes", "Valid settings")


def test_missing_config_file(invoke, tmp_path):
    assert_one_line_error(invoke("--config", str(tmp_path / "absent.toml"), "scan"), "does not exist")


def test_debug_shows_the_traceback(invoke):
    result = invoke("--debug", "export", "--date", "2026/01/05")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "RetailflowError" in result.stderr


def test_debug_from_the_environment(invoke):
    result = invoke("export", "--date", "2026/01/05", env={"RETAILFLOW_DEBUG": "1"})
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_an_unexpected_error_is_one_line_and_exit_70(invoke, monkeypatch):
    import retailflow.status

    def broken(*_args, **_kwargs):
        raise ValueError("[bold]not styled[/bold] [/x]")

    monkeypatch.setattr(retailflow.status, "show_status", broken)
    result = invoke("status", "--lake", "lake")
    assert result.exit_code == 70
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Unexpected error: ValueError: [bold]not styled[/bold] [/x]\n")
    assert "--debug" in result.stderr


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


def test_python_dash_m(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
    for module in ("retailflow", "retailflow.cli"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert "superset" in result.stdout
