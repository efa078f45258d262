"""The same export tests over the three sources (duckdb, postgresql, snowflake), each holding the same generated
data (tests/source/conftest.py ``source_url_of``): identical raw files, manifests and Arrow tables; and the
same one-line failures for a missing table, a missing column, an incompatible type or a failed connection,
naming the URL with its password masked."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from retailflow.errors import SourceError
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.redact import redact_url
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.source.postgresql_source import schema_of
from retailflow.tables import ALL_TABLES, FACT_TABLES
from tests.conftest import DAY, EMPTY_DAY, SPEC
from tests.source import pgserver
from tests.source.conftest import PG_PASSWORD, SOURCE_PASSWORD

# One worker runs them all, next to the Snowflake module's tests: one fakesnow and one PostgreSQL server.
pytestmark = pytest.mark.xdist_group("fakesnow")

DAYS = [DAY, EMPTY_DAY, SPEC.start, SPEC.end]
VOLATILE = ("exported_at", "source")  # the manifest fields that legitimately differ between sources


def _export(url: str, folder: Path, days: list[dt.date]) -> Lake:
    src = open_source(url)
    try:
        lake = Lake(str(folder))
        export_days(src, lake, days)
    finally:
        src.close()
    return lake


def _partition(lake: Lake, day: dt.date) -> Path:
    return Path(lake.path(f"raw/dt={day.isoformat()}"))


def _raw_files(lake: Lake, day: dt.date) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(_partition(lake, day).glob("*.csv.gz"))}


def _manifest(lake: Lake, day: dt.date) -> dict:
    return json.loads((_partition(lake, day) / "_manifest.json").read_text())


@pytest.fixture(scope="session")
def reference(source_url_of, tmp_path_factory) -> Lake:
    """DAYS exported from the DuckDB source: what every source must produce."""
    return _export(source_url_of("duckdb"), tmp_path_factory.mktemp("reference") / "lake", DAYS)


# -- same data, same output ---------------------------------------------------------------------------


def test_exports_give_the_same_files_and_manifests(kind, any_source, reference, tmp_path):
    lake = _export(any_source, tmp_path / "lake", DAYS)
    for day in DAYS:
        files = _raw_files(lake, day)
        assert set(files) == {f"{t.name}.csv.gz" for t in ALL_TABLES}
        assert files == _raw_files(reference, day), day  # byte for byte, gzip included
        manifest, expected = _manifest(lake, day), _manifest(reference, day)
        assert set(manifest) == set(expected) == {"format", "dt", "exported_at", "source", "files"}
        assert {k: v for k, v in manifest.items() if k not in VOLATILE} == {
            k: v for k, v in expected.items() if k not in VOLATILE
        }
        assert manifest["source"] == redact_url(any_source)
        assert SOURCE_PASSWORD not in (_partition(lake, day) / "_manifest.json").read_text()
    assert _manifest(lake, DAY)["files"]["sales.csv.gz"]["rows"] > 0


def test_readers_yield_the_same_arrow_tables(kind, any_source, source_url_of):
    src, ref = open_source(any_source), open_source(source_url_of("duckdb"))
    try:
        for table in ALL_TABLES:
            if table.is_fact:
                got, want = src.read_day(table, DAY), ref.read_day(table, DAY)
            else:
                got, want = src.read_all(table), ref.read_all(table)
            assert isinstance(got, pa.RecordBatchReader)
            assert got.schema == want.schema == schema_of(table), table.name
            got_table, want_table = got.read_all(), want.read_all()
            assert got_table.num_rows > 0, table.name
            assert got_table.equals(want_table), table.name
    finally:
        src.close()
        ref.close()


def test_an_empty_day_gives_header_only_fact_files(kind, any_source, tmp_path):
    lake = _export(any_source, tmp_path / "lake", [EMPTY_DAY])
    files = _raw_files(lake, EMPTY_DAY)
    for table in FACT_TABLES:
        assert gzip.decompress(files[f"{table.name}.csv.gz"]) == (",".join(table.column_names).upper() + "\n").encode()
        assert _manifest(lake, EMPTY_DAY)["files"][f"{table.name}.csv.gz"]["rows"] == 0


# -- the contract check: one line, naming the table, the column and the URL ---------------------------


@dataclass
class Scratch:
    """A throwaway source of one kind with the five contract tables, to break with ``execute``."""

    url: str
    execute: Callable[[str], None]


@pytest.fixture
def scratch(kind, request, tmp_path) -> Scratch:
    """DuckDB: a copy of the session's file; PostgreSQL and Snowflake: a database of the test's own with
    the contract's (empty) tables, on the session's server."""
    name = "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    if kind == "duckdb":
        path = tmp_path / "copy.duckdb"
        shutil.copy(request.getfixturevalue("source_db"), path)

        def execute(sql: str) -> None:
            con = duckdb.connect(str(path))
            try:
                con.execute(sql)
            finally:
                con.close()

        return Scratch(url_of(path), execute)
    if kind == "postgresql":
        from retailflow.source import postgresql_source as pgs

        url = request.getfixturevalue("pg_server").create_database(name)
        url = url.replace(f"{pgserver.USER}@", f"{pgserver.USER}:{SOURCE_PASSWORD}@")

        def execute(sql: str) -> None:
            con = pgs.connect(url)
            try:
                with con.cursor() as cur:
                    cur.execute(sql)
                con.commit()
            finally:
                con.close()

        for table in ALL_TABLES:
            execute(pgs.create_table_sql(table))
        return Scratch(url, execute)
    from retailflow.source import snowflake_source as sfs

    url = request.getfixturevalue("sf_server").url(name.upper(), "PUBLIC", password=SOURCE_PASSWORD)

    def execute(sql: str) -> None:
        con = sfs._connect(url)
        try:
            con.cursor().execute(sql)
        finally:
            con.close()

    for table in ALL_TABLES:
        execute(sfs.create_table_sql(table))
    return Scratch(url, execute)


def _check_fails(url: str) -> str:
    """The one-line message of the contract check's SourceError, checked for the URL and the password."""
    src = open_source(url)
    try:
        with pytest.raises(SourceError) as info:
            src.check(ALL_TABLES)
    finally:
        src.close()
    text = str(info.value)
    assert "\n" not in text
    assert redact_url(url) in info.value.message
    assert SOURCE_PASSWORD not in text
    return info.value.message


def test_a_complete_copy_passes_the_check(scratch):
    src = open_source(scratch.url)
    try:
        src.check(ALL_TABLES)
    finally:
        src.close()


def test_a_missing_table_is_named(scratch):
    scratch.execute("DROP TABLE inventory")
    assert "has no table 'inventory'" in _check_fails(scratch.url)


def test_a_missing_column_is_named(scratch):
    scratch.execute("ALTER TABLE inventory DROP COLUMN waste_qty")
    assert "Source table 'inventory' lacks column(s) waste_qty" in _check_fails(scratch.url)


# (table, column, the type it gets instead, how each backend names that type)
BAD_TYPES = [
    ("sales", "sales_amt", "VARCHAR", {"duckdb": "VARCHAR", "postgresql": "character varying", "snowflake": "TEXT"}),
    ("inventory", "cal_dt", "VARCHAR", {"duckdb": "VARCHAR", "postgresql": "character varying", "snowflake": "TEXT"}),
    (
        "sales",
        "sales_qty",
        "DECIMAL(38,0)",
        {"duckdb": "DECIMAL(38,0)", "postgresql": "numeric(38,0)", "snowflake": "NUMBER(38,0)"},
    ),
    ("store", "latitude", "DATE", {"duckdb": "DATE", "postgresql": "date", "snowflake": "DATE"}),
]


def _retype(scratch: Scratch, table: str, column: str, type_: str) -> None:
    """The column dropped and added again with another type (the one spelling all three accept)."""
    scratch.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    scratch.execute(f"ALTER TABLE {table} ADD COLUMN {column} {type_}")


@pytest.mark.parametrize(("table", "column", "type_", "shown"), BAD_TYPES, ids=[f"{t}.{c}" for t, c, *_ in BAD_TYPES])
def test_an_incompatible_type_is_named(kind, scratch, table, column, type_, shown):
    _retype(scratch, table, column, type_)
    message = _check_fails(scratch.url)
    expected = next(c.type for t in ALL_TABLES if t.name == table for c in t.columns if c.name == column)
    assert f"Source table '{table}' column '{column}' has type {shown[kind]}, expected {expected}" in message


@pytest.mark.parametrize(
    ("table", "column", "type_"),
    [("sales", "prod_key", "BIGINT"), ("sales", "sales_amt", "DECIMAL(18,4)"), ("product", "wgt", "REAL")],
)
def test_compatible_types_pass(scratch, table, column, type_):
    _retype(scratch, table, column, type_)
    src = open_source(scratch.url)
    try:
        src.check(ALL_TABLES)
    finally:
        src.close()


# -- connection failures: one line, the URL without its password --------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a server that hangs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


class _RejectingLogin(BaseHTTPRequestHandler):
    """Snowflake's answer to a login with wrong credentials (fakesnow accepts any)."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(
            {
                "data": None,
                "code": "390100",
                "message": "Incorrect username or password was specified.",
                "success": False,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def rejecting_login() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _RejectingLogin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _sf_url(port: int) -> str:
    timeouts = "login_timeout=2&socket_timeout=1"
    return (
        f"snowflake://retailflow:{SOURCE_PASSWORD}@acct/DB/PUBLIC?host=127.0.0.1&port={port}&protocol=http&{timeouts}"
    )


FAILURES = [
    ("duckdb", "unreachable", "does not exist"),
    ("duckdb", "not_a_database", "Cannot open source database"),
    ("postgresql", "unreachable", "Cannot connect to PostgreSQL"),
    ("postgresql", "auth", "password authentication failed"),
    ("postgresql", "timeout", "timeout expired"),
    ("snowflake", "unreachable", "Cannot connect to Snowflake"),
    ("snowflake", "auth", "Incorrect username or password"),
    ("snowflake", "timeout", "Cannot connect to Snowflake"),
]


@pytest.mark.parametrize(("kind", "failure", "says"), FAILURES, ids=[f"{k}-{f}" for k, f, _ in FAILURES])
def test_a_failed_connection_is_one_line_without_the_password(kind, failure, says, request, tmp_path, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    if kind == "duckdb":
        path = tmp_path / ("missing" if failure == "unreachable" else "garbage") / "source.duckdb"
        if failure == "not_a_database":
            path.parent.mkdir()
            path.write_bytes(b"not a database " * 100)
        url, shown = url_of(path), str(path)
    elif kind == "postgresql":
        port = {"unreachable": _free_port, "timeout": lambda: request.getfixturevalue("silent_port")}.get(failure)
        if failure == "auth":
            url = request.getfixturevalue("password_user").replace("pwuser@", f"pwuser:wrong-{PG_PASSWORD}@")
        else:
            url = f"postgresql://{pgserver.USER}:{SOURCE_PASSWORD}@127.0.0.1:{port()}/retailflow?connect_timeout=1"
        shown = redact_url(url)
    else:
        pytest.importorskip("snowflake.connector")
        port = {
            "unreachable": _free_port,
            "auth": lambda: request.getfixturevalue("rejecting_login"),
            "timeout": lambda: request.getfixturevalue("silent_port"),
        }[failure]()
        url = _sf_url(port)
        shown = redact_url(url)
    with pytest.raises(SourceError) as info:
        open_source(url).close()
    text = str(info.value)
    assert "\n" not in text
    assert says in info.value.message
    assert shown in info.value.message
    assert SOURCE_PASSWORD not in text and PG_PASSWORD not in text
