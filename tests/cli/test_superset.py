"""``retailflow superset`` (retailflow.cli.superset) without Superset itself: help, status, bundle, and
its errors (Superset for real is tests/dashboard/test_superset.py)."""

from __future__ import annotations

import zipfile

import pytest

from tests.cli.clitools import assert_one_line_error


@pytest.mark.parametrize("command", ["up", "down", "status", "bundle"])
def test_help(invoke, command):
    result = invoke("superset", command, "--help")
    assert result.exit_code == 0
    assert f" superset {command} [OPTIONS]" in result.output.splitlines()[0]
    assert "--lake" in result.output


def test_group_help(invoke):
    result = invoke("superset", "--help")
    assert result.exit_code == 0
    for word in ("up", "down", "status", "bundle", "make superset"):
        assert word in result.output


def test_status_when_not_running(invoke, tmp_path):
    result = invoke("superset", "status", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Superset is not running.\n"


def test_down_when_not_running(invoke, tmp_path):
    result = invoke("superset", "down", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "Superset was not running." in result.stderr


def test_bundle(published, invoke, tmp_path):
    out = tmp_path / "out" / "bundle.zip"
    result = invoke("superset", "bundle", "--lake", published.url, "-o", str(out))
    assert result.exit_code == 0, result.output
    catalog = published.root / "catalog" / "retailflow.duckdb"
    assert f"✓ Wrote {out} (for the catalog {catalog})." in result.stderr
    assert zipfile.is_zipfile(out)


def test_bundle_before_a_publish_warns(invoke, tmp_path):
    out = tmp_path / "bundle.zip"
    result = invoke("superset", "bundle", "--lake", str(tmp_path / "[bold]lake"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"! {tmp_path / '[bold]lake'}" in result.stderr and "does not exist yet" in result.stderr
    assert zipfile.is_zipfile(out)


def test_superset_needs_a_local_lake(invoke):
    assert_one_line_error(invoke("superset", "status", "--lake", "memory://[/x]/lake"), "local folder", "[/x]")


def test_up_without_a_catalog(invoke, tmp_path):
    assert_one_line_error(invoke("superset", "up", "--lake", str(tmp_path / "lake")), "no catalog yet")
