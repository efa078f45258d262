"""``retailflow status`` (retailflow.cli.status)."""

from __future__ import annotations


def test_help(invoke):
    result = invoke("status", "--help")
    assert result.exit_code == 0
    for word in ["--lake", "--days", "--runs"]:
        assert word in result.output, word


# -- status --------------------------------------------------------------------------------------------


def test_status(published, invoke):
    result = invoke("status", "--lake", published.url)
    assert result.exit_code == 0, result.output
    assert "success" in result.stdout and "202602" in result.stdout
    assert "2026-01-05" in result.stdout and "2026-01-06" in result.stdout


def test_status_of_an_empty_lake(tmp_path, invoke):
    result = invoke("status", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "No runs yet." in result.stdout and "No raw partitions yet." in result.stdout
