"""The query connection's confinement (catalog/query.py): one SELECT statement, DuckDB's sandbox limited to
the lake's curated/ and quarantine/ folders, configuration locked. On a one-view catalog built by hand."""

from __future__ import annotations

import duckdb
import pytest

from retailflow.catalog import build_catalog, open_catalog, run_query
from retailflow.catalog.query import readable_roots
from retailflow.errors import RetailflowError
from retailflow.lake import Lake


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    lake.makedirs("curated/store")
    duckdb.connect().execute(f"COPY (SELECT 1 AS store_key) TO '{lake.path('curated/store/part-0.parquet')}'")
    build_catalog(lake)
    return lake


def test_the_readable_roots_are_curated_and_quarantine():
    assert readable_roots(Lake("/data/lake")) == ["/data/lake/curated/", "/data/lake/quarantine/"]
    assert readable_roots(Lake("memory://bucket/lake")) == [
        "memory://bucket/lake/curated/",
        "memory://bucket/lake/quarantine/",
    ]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("COPY store TO '/tmp/x.csv'", "COPY statements are refused"),
        ("ATTACH ':memory:' AS m", "ATTACH statements are refused"),
        ("SET threads = 1", "SET statements are refused"),
        ("INSTALL httpfs", "LOAD statements are refused"),
        ("EXPLAIN SELECT 1", "EXPLAIN statements are refused"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("  ;  ", "empty"),
    ],
)
def test_only_one_select_runs(lake, sql, fragment):
    with pytest.raises(RetailflowError, match=fragment) as failed:
        run_query(lake, sql)
    assert "\n" not in failed.value.message


def test_a_select_reads_the_published_tables(lake):
    assert run_query(lake, "SELECT store_key FROM store") == (["store_key"], [(1,)])
    assert run_query(lake, "DESCRIBE store")[1][0][0] == "store_key"


def test_files_outside_the_published_folders_are_refused(lake, tmp_path):
    (tmp_path / "secret.csv").write_text("a\n1\n")
    # (DuckDB always lets a connection read its own database file: the catalog, views only, is no secret.)
    for path in (tmp_path / "secret.csv", lake.path("_state"), lake.path("raw")):
        with pytest.raises(RetailflowError, match="The query was refused"):
            run_query(lake, f"SELECT * FROM read_text('{path}/*')")


def test_the_configuration_is_locked(lake):
    with open_catalog(lake) as con:
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "autoload_known_extensions": "false",
        }
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
