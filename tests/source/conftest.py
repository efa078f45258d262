"""The source servers, one each per test session (per xdist worker), shared by every source test module:
a real PostgreSQL (pgserver.py) and fakesnow's Snowflake server (fakesnowserver.py). Each skips, with the
reason, only when its binaries or venv are absent (CI has both).

``source_url_of(kind)`` gives a URL of each kind ("duckdb", "postgresql", "snowflake") holding the
session's generated data (``source_db``), loaded into the servers through ``load_into``; ``any_source``
is that URL, parametrized over the three kinds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner

from retailflow.cli import cli
from retailflow.source.duckdb_source import url_of
from retailflow.source.load import load_into
from tests.conftest import SPEC
from tests.source import fakesnowserver, pgserver

KINDS = ("duckdb", "postgresql", "snowflake")
# The servers accept any password (PostgreSQL's trust authentication, fakesnow): each travels through every
# path, and must show up nowhere.
PG_PASSWORD = "pw-s3cret-Xy7"
SF_PASSWORD = "fake-pw-7Qz!"
SOURCE_PASSWORD = "src-pw-Q9z!k"  # in the URLs of source_url_of
SOURCES_DB = "sources"  # the database source_url_of loads on each server


def _generate_args() -> list[str]:
    args = ["--from", SPEC.start.isoformat(), "--to", SPEC.end.isoformat(), "--stores", str(SPEC.stores)]
    return args + ["--products", str(SPEC.products), "--seed", str(SPEC.seed)]


# -- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server():
    if pgserver.bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (no initdb; CI installs Debian's postgresql package)")
    server = pgserver.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    """The session's PostgreSQL source: SPEC generated through the CLI, the same data as ``source_db``."""
    result = CliRunner().invoke(cli, ["generate", "--source", pg_server.url, *_generate_args()])
    assert result.exit_code == 0, result.output
    return pg_server.url


@pytest.fixture(scope="session")
def password_user(pg_server) -> str:
    """A role that must authenticate with PG_PASSWORD (scram-sha-256); returns a URL of it without the password."""
    pg_server.add_password_user("pwuser", PG_PASSWORD)
    return f"postgresql://pwuser@127.0.0.1:{pg_server.port}/{pgserver.DATABASE}"


# -- Snowflake (fakesnow) -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sf_server():
    pytest.importorskip("snowflake.connector")
    started = fakesnowserver.start()
    if started is None:
        pytest.skip("fakesnow's venv is missing: run `make fakesnow`")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def sf_url(sf_server) -> str:
    """RETAILFLOW.PUBLIC on the server, filled by `retailflow generate` with the session source's spec."""
    url = sf_server.url("RETAILFLOW", "PUBLIC")
    result = CliRunner().invoke(
        cli,
        ["generate", "--source", url, *_generate_args()],
        env={"SNOWFLAKE_PASSWORD": SF_PASSWORD},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "RETAILFLOW/PUBLIC" in result.output
    return url


# -- the three sources, same data ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def source_url_of(request, source_db) -> Callable[[str], str]:
    """``kind -> URL`` of a source holding ``source_db``'s data: the file itself for duckdb; for postgresql and
    snowflake the database ``sources`` on the session's server, loaded once with ``load_into`` (the URL
    carries SOURCE_PASSWORD, which the servers accept and no message may show)."""
    urls: dict[str, str] = {}

    def source_url(kind: str) -> str:
        if kind not in urls:
            if kind == "duckdb":
                urls[kind] = url_of(source_db)
            elif kind == "postgresql":
                server = request.getfixturevalue("pg_server")
                url = server.create_database(SOURCES_DB)
                urls[kind] = url.replace(f"{pgserver.USER}@", f"{pgserver.USER}:{SOURCE_PASSWORD}@")
                load_into(urls[kind], source_db)
            elif kind == "snowflake":
                server = request.getfixturevalue("sf_server")
                urls[kind] = server.url(SOURCES_DB.upper(), "PUBLIC", password=SOURCE_PASSWORD)
                load_into(urls[kind], source_db)
            else:
                raise ValueError(f"unknown source kind {kind!r}")
        return urls[kind]

    return source_url


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def any_source(kind, source_url_of) -> str:
    """The URL of a source of each kind holding the session's generated data."""
    return source_url_of(kind)
