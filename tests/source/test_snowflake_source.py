"""The Snowflake driver against fakesnow's server (real HTTP, the real connector, 127.0.0.1), filled by
``retailflow generate --source snowflake://...`` (its bulk path: Parquet, PUT, COPY INTO). Exports from
Snowflake must equal exports of the same day from the DuckDB source, byte for byte."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from retailflow.errors import SourceError
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.source import open_source
from retailflow.source.snowflake_source import SnowflakeSource, arrow_schema, parse_url
from retailflow.tables import ALL_TABLES, INVENTORY, SALES, STORE
from tests.conftest import DAY, EMPTY_DAY, SPEC
from tests.source.conftest import SF_PASSWORD

pytest.importorskip("snowflake.connector")
pytestmark = pytest.mark.xdist_group("fakesnow")

PASSWORD = SF_PASSWORD  # fakesnow accepts any password: this one must never show up anywhere

# sf_server and sf_url: tests/source/conftest.py


@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)


@pytest.fixture
def sf(sf_url, password_env):
    src = open_source(sf_url)
    yield src
    src.close()


def _files(lake: Lake, day: dt.date) -> dict[str, bytes]:
    folder = Path(lake.path(f"raw/dt={day.isoformat()}"))
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.csv.gz"))}


def _manifest(lake: Lake, day: dt.date) -> dict:
    return json.loads(Path(lake.path(f"raw/dt={day.isoformat()}/_manifest.json")).read_text())


# -- reading ------------------------------------------------------------------------------------------


def test_open_source_picks_the_snowflake_driver(sf):
    assert isinstance(sf, SnowflakeSource)
    sf.check(ALL_TABLES)


def test_read_day_streams_the_contract_schema(sf, source):
    reader = sf.read_day(SALES, DAY)
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema == arrow_schema(SALES)
    got = reader.read_all()
    assert got.num_rows > 0
    assert got.equals(source.read_day(SALES, DAY).read_all().cast(arrow_schema(SALES)))


def test_an_empty_day_is_an_empty_reader_with_the_contract_schema(sf):
    reader = sf.read_day(INVENTORY, EMPTY_DAY)
    assert reader.schema == arrow_schema(INVENTORY)
    assert reader.read_all().num_rows == 0


def test_read_all_returns_the_dimension(sf, source):
    assert sf.read_all(STORE).read_all().equals(source.read_all(STORE).read_all().cast(arrow_schema(STORE)))


def test_reads_in_parallel_threads_get_their_own_results(sf):
    days = [SPEC.start + dt.timedelta(days=i) for i in range(4)]
    barrier = threading.Barrier(len(days))

    def read(day: dt.date) -> set[dt.date]:
        seen = set()
        for _ in range(5):
            barrier.wait()
            seen |= set(sf.read_day(SALES, day).read_all().column("trans_dt").to_pylist())
        return seen

    with ThreadPoolExecutor(len(days)) as pool:
        assert list(pool.map(read, days)) == [{day} for day in days]


# -- exporting: the same files as from DuckDB ---------------------------------------------------------


def test_exporting_a_day_from_snowflake_equals_exporting_it_from_duckdb(sf, source, tmp_path):
    # Several days in parallel threads: each thread's reads must get their own results.
    days = [DAY, EMPTY_DAY, SPEC.start, SPEC.end]
    from_sf, from_duckdb = Lake(str(tmp_path / "sf")), Lake(str(tmp_path / "duckdb"))
    export_days(sf, from_sf, days)
    export_days(source, from_duckdb, days)
    for day in days:
        files = _files(from_sf, day)
        assert set(files) == {f"{t.name}.csv.gz" for t in ALL_TABLES}
        assert files == _files(from_duckdb, day)
        sf_counts = {n: e["rows"] for n, e in _manifest(from_sf, day)["files"].items()}
        assert sf_counts == {n: e["rows"] for n, e in _manifest(from_duckdb, day)["files"].items()}
    assert _manifest(from_sf, DAY)["files"]["sales.csv.gz"]["rows"] > 0


def test_an_empty_day_exports_header_only_fact_files(sf, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    export_days(sf, lake, [EMPTY_DAY])
    files = _files(lake, EMPTY_DAY)
    for table in (SALES, INVENTORY):
        assert files[f"{table.name}.csv.gz"] == (",".join(table.column_names).upper() + "\n").encode()
        assert _manifest(lake, EMPTY_DAY)["files"][f"{table.name}.csv.gz"]["rows"] == 0


# -- the contract check -------------------------------------------------------------------------------


def test_a_schema_without_the_tables_names_the_first_missing_one(sf_server, sf_url, password_env):
    src = open_source(sf_server.url("RETAILFLOW", "EMPTY_SCHEMA"))
    try:
        with pytest.raises(SourceError, match="has no table 'sales'") as info:
            src.check(ALL_TABLES)
        assert "retailflow generate" in info.value.hint
    finally:
        src.close()


def test_a_missing_column_is_named(sf_server, sf_url, password_env):
    from retailflow.source.snowflake_source import _connect, create_table_sql

    url = sf_server.url("RETAILFLOW", "PARTIAL")
    con = _connect(url)
    try:
        for table in ALL_TABLES:
            con.cursor().execute(create_table_sql(table))
        con.cursor().execute("ALTER TABLE INVENTORY DROP COLUMN WASTE_QTY")
    finally:
        con.close()
    src = open_source(url)
    try:
        with pytest.raises(SourceError, match="'inventory' lacks column\\(s\\) waste_qty"):
            src.check(ALL_TABLES)
    finally:
        src.close()


# -- secrets ------------------------------------------------------------------------------------------


def test_a_password_in_the_url_never_shows(sf_server, sf_url, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("SNOWFLAKE_PASSWORD", raising=False)
    caplog.set_level(logging.DEBUG)
    src = open_source(sf_server.url("RETAILFLOW", "PUBLIC", password=PASSWORD))
    lake = Lake(str(tmp_path / "lake"))
    try:
        export_days(src, lake, [DAY])
    finally:
        src.close()
    manifest = Path(lake.path(f"raw/dt={DAY.isoformat()}/_manifest.json")).read_text()
    assert "retailflow:***@fakesnow" in manifest and PASSWORD not in manifest

    missing = open_source(sf_server.url("RETAILFLOW", "NO_TABLES_HERE", password=PASSWORD))
    try:
        with pytest.raises(SourceError) as info:
            missing.check(ALL_TABLES)
    finally:
        missing.close()
    assert PASSWORD not in str(info.value) and "***" in str(info.value)
    with pytest.raises(SourceError) as bad:
        open_source(sf_server.url("RETAILFLOW", "PUBLIC", password=PASSWORD) + "&colour=blue")
    assert PASSWORD not in str(bad.value)
    assert PASSWORD not in caplog.text


def test_no_credentials_is_a_clear_error(sf_server, monkeypatch):
    for name in ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SourceError, match="No Snowflake credentials") as info:
        open_source(sf_server.url())
    assert "SNOWFLAKE_PASSWORD" in info.value.hint


# -- URLs and credentials (no server) -----------------------------------------------------------------


def test_url_parts():
    parsed = parse_url("snowflake://me@xy12345.eu-west-1/SALES_DB/RAW?warehouse=WH&role=READER")
    assert (parsed.user, parsed.account, parsed.database, parsed.schema) == (
        "me",
        "xy12345.eu-west-1",
        "SALES_DB",
        "RAW",
    )
    assert parsed.password is None
    assert parsed.params == {"warehouse": "WH", "role": "READER"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("snowflake://me@acct/DB", "does not name an account, a database and a schema"),
        ("snowflake://me:pw@acct/DB/S?wharehouse=X", "unknown parameter"),
        ("snowflake://me@acct/DB/S?port=http", "port must be a number"),
    ],
)
def test_bad_urls_are_rejected(url, message):
    with pytest.raises(SourceError, match=message) as info:
        parse_url(url)
    assert ":pw@" not in str(info.value)


def test_credentials_come_from_the_environment_or_a_key_file(monkeypatch, tmp_path):
    for name in ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    url = "snowflake://me@acct/DB/S?warehouse=WH"
    monkeypatch.setenv("RETAILFLOW_SNOWFLAKE_PASSWORD", "from-env")
    assert parse_url(url).connect_args()["password"] == "from-env"
    monkeypatch.delenv("RETAILFLOW_SNOWFLAKE_PASSWORD")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE", str(tmp_path / "key.p8"))
    args = parse_url(url).connect_args()
    assert args["private_key_file"] == str(tmp_path / "key.p8") and args["authenticator"] == "SNOWFLAKE_JWT"
    assert "password" not in args
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_FILE")
    args = parse_url("snowflake://me@acct/DB/S?private_key_file=/k/rsa.p8").connect_args()
    assert args["private_key_file"] == "/k/rsa.p8"
    args = parse_url("snowflake://acct/DB/S?connection_name=prod").connect_args()
    assert args["connection_name"] == "prod" and "password" not in args
    assert args["paramstyle"] == "qmark"  # parameters are bound by the server, never pasted into SQL
