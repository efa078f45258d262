"""``retailflow dashboard`` (retailflow.cli.dashboard) and ``retailflow demo``'s checks (retailflow.cli.demo)."""

from __future__ import annotations

import pytest

from tests.cli.clitools import assert_one_line_error


@pytest.mark.parametrize(
    "command, words",
    [("dashboard", ["--lake", "--weeks", "--open", "index.html"]), ("demo", ["--workdir", "--weeks", "--end"])],
)
def test_help(invoke, command, words):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.output, word


def test_dashboard(published, invoke):
    result = invoke("dashboard", "--lake", published.url, "--weeks", "2")
    assert result.exit_code == 0, result.output
    page = published.root / "dashboard" / "index.html"
    assert f"✓ Dashboard written: {page}" in result.stderr and " MB)" in result.stderr
    assert page.stat().st_size > 0


def test_dashboard_needs_a_week(invoke):
    assert_one_line_error(invoke("dashboard", "--lake", "lake", "--weeks", "0"), "--weeks")


def test_demo_rejects_a_bad_end(invoke, tmp_path):
    result = invoke("demo", "--workdir", str(tmp_path / "demo"), "--end", "2026/01/17")
    assert_one_line_error(result, "--end", "'2026/01/17'")
    assert not (tmp_path / "demo").exists()
