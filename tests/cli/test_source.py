"""``retailflow generate`` (retailflow.cli.source)."""

from __future__ import annotations

import pytest

from retailflow.source.duckdb_source import url_of
from tests.cli.clitools import assert_one_line_error


def test_help(invoke):
    result = invoke("generate", "--help")
    assert result.exit_code == 0
    for word in ["--from", "--to", "--stores", "--products", "--seed", "--dense"]:
        assert word in result.output, word


def test_generate_needs_a_range(invoke, tmp_path):
    assert_one_line_error(invoke("generate", "--source", url_of(tmp_path / "s.duckdb")), "--from and --to")


def test_generate_rejects_too_many_stores(invoke, tmp_path):
    result = invoke(
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


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_generate_with_half_a_range(invoke, tmp_path, option):
    result = invoke("generate", "--source", url_of(tmp_path / "s.duckdb"), option, "2026-01-04")
    assert_one_line_error(result, "--from and --to")
