"""The postgresql:// source against a real PostgreSQL server (started in a temporary folder, see pgserver.py):
filled by ``retailflow generate``, exported day by day, compared with the DuckDB source holding the same data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from retailflow.cli import cli
from retailflow.errors import SourceError
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.source import open_source
from retailflow.source import postgresql_source as pgs
from retailflow.tables import ALL_TABLES, FACT_TABLES, PRODUCT, SALES
from tests.source import pgserver
from tests.source.conftest import PG_PASSWORD

PASSWORD = PG_PASSWORD  # trust authentication: the server accepts it, so it travels through every path

# pg_server, pg_url and password_user: tests/source/conftest.py


@pytest.fixture
def pg_source(pg_url):
    src = open_source(pg_url)
    yield src
    src.close()


@pytest.fixture
def fresh_db(pg_server, request) -> str:
    """An empty database of its own (for tests that create broken tables)."""
    return pg_server.create_database(f"t_{request.node.name.lower()[:40]}".replace("-", "_"))


def with_password(url: str) -> str:
    return url.replace(f"{pgserver.USER}@", f"{pgserver.USER}:{PASSWORD}@")


def export_files(source, lake_dir: Path, days) -> dict[str, bytes]:
    lake = Lake(str(lake_dir))
    export_days(source, lake, days)
    return {str(p.relative_to(lake_dir)): p.read_bytes() for p in sorted(lake_dir.rglob("*")) if p.is_file()}


# -- generate -----------------------------------------------------------------------------------------


def test_generate_fills_postgresql_with_the_same_rows_as_duckdb(pg_url, source_con):
    con = pgs.connect(pg_url)
    try:
        with con.cursor() as cur:
            for table in ALL_TABLES:
                cur.execute(f"SELECT count(*) FROM {table.name}")
                pg_rows = cur.fetchone()[0]
                duck_rows = source_con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
                assert pg_rows == duck_rows > 0, table.name
            cur.execute(
                "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_name = 'sales' AND column_name = 'sales_amt'"
            )
            assert cur.fetchone() == ("numeric", 38, 2)
    finally:
        con.close()


def test_generate_again_replaces_the_tables(pg_server, source_con):
    url = pg_server.create_database("regenerated")
    args = ["generate", "--source", url, "--from", "2026-01-04", "--to", "2026-01-05", "--stores", "2"]
    for _ in range(2):
        result = CliRunner().invoke(cli, [*args, "--products", "3"])
        assert result.exit_code == 0, result.output
    src = open_source(url)
    try:
        src.check(ALL_TABLES)
        first = src.read_all(PRODUCT).read_all()
        assert first.num_rows == source_con.execute("SELECT count(*) FROM product").fetchone()[0]
    finally:
        src.close()


def test_load_copies_every_table_in_one_transaction(pg_server, source_db, source_con, tmp_path):
    url = pg_server.create_database("loaded")
    calls = []
    pgs.load(url, source_db, on_progress=lambda: calls.append(1))
    assert len(calls) == len(ALL_TABLES)
    broken = tmp_path / "broken.duckdb"
    con = duckdb.connect(str(broken))
    con.execute("CREATE TABLE sales AS SELECT 1 AS trans_id")  # no other table: the load fails midway
    con.close()
    with pytest.raises(SourceError, match="Cannot read the generated tables"):
        pgs.load(url, broken)
    src = open_source(url)  # the failed load was rolled back: the first load's tables are all there
    try:
        src.check(ALL_TABLES)
        for table in ALL_TABLES[2:]:
            rows = source_con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
            assert src.read_all(table).read_all().num_rows == rows
    finally:
        src.close()


# -- reading ------------------------------------------------------------------------------------------


def test_open_source_picks_the_postgresql_driver(pg_source):
    assert isinstance(pg_source, pgs.PostgreSQLSource)
    pg_source.check(ALL_TABLES)


def test_readers_have_the_duckdb_sources_schema_and_rows(pg_source, source, day):
    for table in FACT_TABLES:
        pg_table = pg_source.read_day(table, day).read_all()
        duck_table = source.read_day(table, day).read_all()
        assert pg_table.schema == duck_table.schema
        assert pg_table.equals(duck_table), table.name
    for table in ALL_TABLES[2:]:
        assert pg_source.read_all(table).read_all().equals(source.read_all(table).read_all()), table.name


def test_reading_a_day_streams_in_batches(pg_source, source_con, day, monkeypatch):
    rows = source_con.execute("SELECT count(*) FROM sales WHERE trans_dt = ?", [day]).fetchone()[0]
    monkeypatch.setattr(pgs, "BATCH_ROWS", 10)
    reader = pg_source.read_day(SALES, day)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == rows > 30
    assert len(sizes) > 1 and max(sizes) <= 10  # one FETCH of BATCH_ROWS rows at a time, never the whole day


def test_an_unread_reader_is_closed_with_the_source(pg_url, day):
    src = open_source(pg_url)
    src.read_day(SALES, day)
    assert len(src._open) == 1
    src.close()
    assert not src._open


# -- export -------------------------------------------------------------------------------------------


def test_export_is_byte_identical_to_the_duckdb_sources(pg_source, source, day, empty_day, tmp_path):
    from_pg = export_files(pg_source, tmp_path / "pg", [day, empty_day])
    from_duckdb = export_files(source, tmp_path / "duck", [day, empty_day])
    assert from_pg.keys() == from_duckdb.keys()
    for name, data in from_duckdb.items():
        if name.endswith("_manifest.json"):  # differ in source URL and export time only
            pg_manifest, duck_manifest = json.loads(from_pg[name]), json.loads(data)
            assert pg_manifest["files"] == duck_manifest["files"]
            assert pg_manifest["source"] == pg_source.url
        else:
            assert from_pg[name] == data, name  # gzip written with mtime=0: whole files are identical
    sales = gzip.decompress(from_pg[f"raw/dt={day.isoformat()}/sales.csv.gz"]).decode()
    assert sales.count("\n") > 1


def test_an_empty_day_exports_header_only_files(pg_source, empty_day, tmp_path):
    files = export_files(pg_source, tmp_path / "lake", [empty_day])
    for table in FACT_TABLES:
        text = gzip.decompress(files[f"raw/dt={empty_day.isoformat()}/{table.name}.csv.gz"]).decode()
        assert text == ",".join(c.upper() for c in table.column_names) + "\n"
    manifest = json.loads(files[f"raw/dt={empty_day.isoformat()}/_manifest.json"])
    assert manifest["files"]["sales.csv.gz"]["rows"] == 0


# -- check --------------------------------------------------------------------------------------------


def _create_contract_tables(url: str, skip: str | None = None, drop: tuple[str, str] | None = None) -> None:
    con = pgs.connect(url)
    with con.cursor() as cur:
        for table in ALL_TABLES:
            if table.name != skip:
                cur.execute(pgs.create_table_sql(table))
        if drop:
            cur.execute(f"ALTER TABLE {drop[0]} DROP COLUMN {drop[1]}")
    con.commit()
    con.close()


def test_check_names_a_missing_table(fresh_db):
    _create_contract_tables(fresh_db, skip="inventory")
    src = open_source(fresh_db)
    try:
        with pytest.raises(SourceError, match="no table 'inventory'"):
            src.check(ALL_TABLES)
    finally:
        src.close()


def test_check_names_a_missing_column(fresh_db):
    _create_contract_tables(fresh_db, drop=("sales", "ship_cost"))
    src = open_source(fresh_db)
    try:
        with pytest.raises(SourceError) as info:
            src.check(ALL_TABLES)
        assert "'sales'" in str(info.value) and "ship_cost" in str(info.value)
    finally:
        src.close()


def test_check_of_an_empty_database_names_the_first_table(fresh_db):
    src = open_source(fresh_db)
    try:
        with pytest.raises(SourceError, match="no table 'sales'") as info:
            src.check(ALL_TABLES)
        assert "retailflow generate" in info.value.hint
    finally:
        src.close()


# -- passwords and connection errors ------------------------------------------------------------------


def test_a_password_never_reaches_the_lake(pg_url, day, tmp_path):
    url = with_password(pg_url)
    src = open_source(url)
    try:
        files = export_files(src, tmp_path / "lake", [day])
    finally:
        src.close()
    manifest = json.loads(files[f"raw/dt={day.isoformat()}/_manifest.json"])
    assert manifest["source"] == url.replace(PASSWORD, "***")
    assert not [name for name, data in files.items() if PASSWORD.encode() in data]


def test_the_export_command_never_shows_the_password(pg_url, day, tmp_path):
    url = with_password(pg_url)
    args = ["export", "--lake", str(tmp_path / "lake"), "--date", day.isoformat()]
    result = CliRunner().invoke(cli, args, env={"RETAILFLOW_SOURCE": url})
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    manifest = (tmp_path / "lake" / f"raw/dt={day.isoformat()}" / "_manifest.json").read_text()
    assert PASSWORD not in manifest and "retailflow:***@" in manifest


def test_a_connection_error_is_one_line_without_the_password(pg_server):
    url = f"postgresql://{pgserver.USER}:{PASSWORD}@127.0.0.1:{pgserver._free_port()}/retailflow"
    with pytest.raises(SourceError) as info:
        open_source(url)
    text = str(info.value)
    assert PASSWORD not in text and "***" in text
    assert "\n" not in text
    assert "Cannot connect to PostgreSQL" in info.value.message and "password" in info.value.hint


def test_an_unknown_database_is_a_source_error(pg_server):
    with pytest.raises(SourceError, match="nosuchdb") as info:
        open_source(with_password(pg_server.url.rsplit("/", 1)[0] + "/nosuchdb"))
    assert PASSWORD not in str(info.value)


def test_generate_into_an_unreachable_server_is_one_line_without_the_password():
    url = f"postgresql://{pgserver.USER}:{PASSWORD}@127.0.0.1:{pgserver._free_port()}/retailflow"
    result = CliRunner().invoke(
        cli, ["generate", "--from", "2026-01-04", "--to", "2026-01-04", "--stores", "1"], env={"RETAILFLOW_SOURCE": url}
    )
    assert result.exit_code == 1, result.output
    assert PASSWORD not in result.output
    assert "Cannot connect to PostgreSQL" in result.output


def test_a_password_in_the_url_authenticates(password_user, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    open_source(password_user.replace("pwuser@", f"pwuser:{PASSWORD}@")).close()


def test_the_password_may_come_from_libpq_environment(password_user, monkeypatch):
    """libpq reads PGPASSWORD (and ~/.pgpass) itself: the URL needs no password."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    open_source(password_user).close()


def test_a_wrong_password_is_one_line_without_the_password(password_user, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    wrong = "wrong-" + PASSWORD
    with pytest.raises(SourceError) as info:
        open_source(password_user.replace("pwuser@", f"pwuser:{wrong}@"))
    text = str(info.value)
    assert wrong not in text and PASSWORD not in text and "\n" not in text
    assert "password authentication failed" in text


def test_a_non_postgresql_url_is_rejected():
    with pytest.raises(SourceError, match="not a PostgreSQL URL"):
        pgs.libpq_url("mysql://u@h/db")
    assert pgs.libpq_url("postgresql+adbc://u@h/db") == "postgresql://u@h/db"
