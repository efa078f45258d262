"""``retailflow query`` is read-only in fact: it writes nothing anywhere and reads nothing outside the lake's
curated/ and quarantine/ folders, whatever the SQL; every refusal is one line, exit 1. The named queries
and the dashboard still work, on a local lake and on an object-store lake (fsspec's memory filesystem
stands in for S3: the catalog reads through the lake's registered filesystem, as it does for s3://).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import fsspec
import pytest
from click.testing import CliRunner

from retailflow.catalog import open_catalog
from retailflow.catalog.named import NAMED_QUERIES
from retailflow.cli import cli
from retailflow.errors import RetailflowError
from retailflow.lake import Lake
from retailflow.source.duckdb_source import url_of
from tests.cli.clitools import assert_one_line_error

FIRST, LAST, DAY = "2026-01-04", "2026-01-10", "2026-01-05"


def invoke(*args: str, config: Path):
    """The CLI with no settings from the machine: an empty config file, no RETAILFLOW_* variables."""
    env = {name: None for name in os.environ if name.startswith("RETAILFLOW_")}
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env, catch_exceptions=False)


def publish(folder: Path, source_db: Path) -> tuple[str, Path]:
    """Export a fiscal week from the session's source into a new lake and publish it; (lake, config)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "retailflow.toml"
    config.write_text("")
    lake = str(folder / "lake")
    source = url_of(source_db)
    for args in (("export", "--source", source, "--from", FIRST, "--to", LAST), ("run", "--date", DAY)):
        result = invoke(*args, "--lake", lake, config=config)
        assert result.exit_code == 0, result.output
    return lake, config


@pytest.fixture(scope="module")
def published(tmp_path_factory, source_db) -> tuple[str, Path]:
    """A published local lake, shared by the module's tests (they only read it, or fail to write)."""
    return publish(tmp_path_factory.mktemp("readonly"), source_db)


@pytest.fixture(scope="module")
def memory_lake(published) -> str:
    """The same lake copied into fsspec's memory filesystem, its catalog rebuilt there (views over memory://)."""
    lake, config = published
    fs = fsspec.filesystem("memory")
    root = f"/rf-{uuid.uuid4().hex[:8]}/lake"
    local = Path(lake)
    for path in local.rglob("*"):
        if path.is_file() and "catalog" not in path.parts:
            fs.pipe_file(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())
    url = f"memory://{root.lstrip('/')}"
    result = invoke("catalog", "--lake", url, config=config)
    assert result.exit_code == 0, result.output
    yield url
    fs.rm(root.rsplit("/", 1)[0], recursive=True)


def query(published, sql: str):
    lake, config = published
    return invoke("query", "--lake", lake, sql, config=config)


# -- writing: refused before DuckDB runs it, and by DuckDB's sandbox besides ---------------------------


def writes(tmp: Path, lake: str) -> dict[str, tuple[str, Path | None]]:
    """SQL that would write, and the file it would create (None: nothing to look for)."""
    outside, inside = tmp / "stolen.csv", Path(lake) / "curated" / "planted.csv"
    return {
        "COPY TO outside the lake": (f"COPY (SELECT 1) TO '{outside}'", outside),
        "COPY TO inside curated": (f"COPY (SELECT 1) TO '{inside}'", inside),
        "COPY a table out": (f"COPY weekly_sales_inventory TO '{outside}'", outside),
        "EXPORT DATABASE": (f"EXPORT DATABASE '{tmp / 'export'}'", tmp / "export"),
        "ATTACH a new database": (f"ATTACH '{tmp / 'new.duckdb'}' AS other", tmp / "new.duckdb"),
        "INSTALL an extension": ("INSTALL httpfs", None),
        "LOAD an extension": ("LOAD httpfs", None),
        "SET external access back on": ("SET enable_external_access = true", None),
        "SET the allowed directories": ("SET allowed_directories = ['/']", None),
        "RESET the lock": ("RESET lock_configuration", None),
        "CREATE a table": ("CREATE TABLE scratch AS SELECT 1 AS x", None),
        "EXPLAIN ANALYZE runs its COPY": (f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{inside}'", inside),
        "a second statement": (f"SELECT 1; COPY (SELECT 1) TO '{outside}'", outside),
        "COPY through query()": (f"SELECT * FROM query('COPY (SELECT 1) TO ''{outside}''')", outside),
    }


WRITE_CASES = list(writes(Path("/x"), "/x"))


@pytest.mark.parametrize("case", WRITE_CASES)
def test_writing_is_refused_with_one_line(published, tmp_path, case):
    sql, target = writes(tmp_path, published[0])[case]
    result = query(published, sql)
    assert_one_line_error(result)
    assert "Traceback" not in result.output
    assert target is None or not target.exists()


# -- reading outside the lake's published folders ------------------------------------------------------


def reads(lake: str) -> dict[str, str]:
    raw = f"{lake}/raw/dt={DAY}/sales.csv.gz"
    return {
        "read_csv /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
        "read_text /etc/passwd": "SELECT content FROM read_text('/etc/passwd')",
        "read_blob /etc/passwd": "SELECT content FROM read_blob('/etc/passwd')",
        "sniff_csv /etc/passwd": "SELECT * FROM sniff_csv('/etc/passwd')",
        "a glob outside": "SELECT * FROM glob('/etc/*')",
        "a glob of the whole lake": f"SELECT * FROM glob('{lake}/**')",
        "the raw zone": f"SELECT * FROM read_csv('{raw}')",
        "the run reports": f"SELECT content FROM read_text('{lake}/_state/runs/*.json')",
        "climbing out of curated": f"SELECT * FROM read_csv('{lake}/curated/../raw/dt={DAY}/sales.csv.gz')",
        "a prefix look-alike": f"SELECT * FROM glob('{lake}/curated_evil/*')",
        "the network": "SELECT * FROM read_csv('https://example.com/x.csv')",
    }


READ_CASES = list(reads("/x"))


@pytest.mark.parametrize("case", READ_CASES)
def test_reading_outside_the_published_folders_is_refused(published, case):
    result = query(published, reads(published[0])[case])
    assert_one_line_error(result, "The query was refused")
    assert "root:" not in result.output  # not a line of /etc/passwd


def test_a_symbolic_link_out_of_curated_is_named(published, tmp_path, source_db):
    lake, config = publish(tmp_path / "linked", source_db)
    store = Path(lake) / "curated" / "store"
    store.rename(tmp_path / "store-elsewhere")
    store.symlink_to(tmp_path / "store-elsewhere")
    result = invoke("query", "--lake", lake, "--named", "top_stores", config=config)
    assert_one_line_error(result, "curated/store is a symbolic link")


# -- what still works ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMED_QUERIES))
def test_every_named_query_still_works(published, name):
    lake, config = published
    result = invoke("query", "--lake", lake, "--named", name, "--format", "csv", config=config)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) >= 2, result.stdout  # a header and rows


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) AS n FROM weekly_sales_inventory",
        "FROM store LIMIT 1",
        "WITH w AS (SELECT * FROM weekly_sales_inventory) SELECT COUNT(*) FROM w",
        "DESCRIBE weekly_sales_inventory",
        "SUMMARIZE product",
        "SELECT COUNT(*) FROM glob('{lake}/curated/**')",  # inside the published folders: allowed
    ],
)
def test_reading_sql_still_works(published, sql):
    result = query(published, sql.format(lake=published[0]))
    assert result.exit_code == 0, result.output


def test_tables_and_the_dashboard_still_work(published):
    lake, config = published
    assert invoke("query", "--lake", lake, "--tables", config=config).exit_code == 0
    result = invoke("dashboard", "--lake", lake, config=config)
    assert result.exit_code == 0, result.output
    assert (Path(lake) / "dashboard" / "index.html").stat().st_size > 100_000


def test_the_connection_itself_is_confined_and_locked(published, tmp_path):
    """Below the statement check, DuckDB's own sandbox holds: open_catalog's connection cannot write,
    read outside, or change its settings back."""
    lake = Lake(published[0])
    target = tmp_path / "x.csv"
    for sql in (f"COPY (SELECT 1) TO '{target}'", "SELECT * FROM read_text('/etc/passwd')"):
        with pytest.raises(RetailflowError, match="refused"):
            with open_catalog(lake) as con:
                con.execute(sql)
    with open_catalog(lake) as con:
        for setting in ("enable_external_access = true", "lock_configuration = false", "allowed_directories = ['/']"):
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(f"SET {setting}")
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
        assert con.execute("SELECT COUNT(*) FROM weekly_sales_inventory").fetchone()[0] > 0
    assert not target.exists()


# -- an object-store lake: the registered filesystem is allowed only under curated/ and quarantine/ -----


def test_an_object_store_lake_reads_through_its_filesystem(memory_lake, published):
    _, config = published
    for name in ("top_products", "weekly_trend"):
        result = invoke("query", "--lake", memory_lake, "--named", name, "--format", "csv", config=config)
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) >= 2
    result = invoke("dashboard", "--lake", memory_lake, config=config)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('{lake}/raw/dt=2026-01-05/sales.csv.gz')",
        "SELECT * FROM read_csv('{lake}/curated/../raw/dt=2026-01-05/sales.csv.gz')",
        "SELECT content FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO '{lake}/curated/planted.csv'",
    ],
)
def test_an_object_store_lake_is_confined_too(memory_lake, published, sql):
    _, config = published
    result = invoke("query", "--lake", memory_lake, sql.format(lake=memory_lake), config=config)
    assert_one_line_error(result)
    assert not fsspec.filesystem("memory").exists(memory_lake.split("://", 1)[1] + "/curated/planted.csv")
