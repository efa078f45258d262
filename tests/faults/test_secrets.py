"""Secrets: a password (or a secret query parameter) in a source or lake URL appears in no output, no
error, no traceback, no run report, no status, and no file under the lake. One helper redacts
(retailflow.redact), and every place a URL reaches a message or a file goes through it."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from retailflow.cli import cli
from retailflow.lake import Lake
from retailflow.lake import manifest as manifest_mod
from retailflow.redact import redact_text, redact_url
from retailflow.source import base as source_base
from retailflow.source.duckdb_source import DuckDBSource, url_of
from tests.cli.clitools import assert_one_line_error
from tests.faults.test_query_readonly import invoke

SECRET = "S3cr3tPASSWORD"
FIRST, LAST, DAY = "2026-01-04", "2026-01-10", "2026-01-05"


# -- the helper ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"snowflake://admin:{SECRET}@acct/db", "snowflake://admin:***@acct/db"),
        (f"snowflake://admin:{SECRET}@acct/db?warehouse=wh", "snowflake://admin:***@acct/db?warehouse=wh"),
        (f"postgresql://u:{SECRET}@host:5432/db", "postgresql://u:***@host:5432/db"),
        (f"ftp://admin:pa/ss{SECRET}@host/lake", "ftp://admin:***@host/lake"),  # an unencoded / in it
        (f"ftp://admin:p@{SECRET}@host/lake", "ftp://admin:***@host/lake"),  # an unencoded @ in it
        (f"x://h/db?user=me&password={SECRET}&role=r", "x://h/db?user=me&password=***&role=r"),
        (f"x://h/db?private_key={SECRET}&sas_token={SECRET}", "x://h/db?private_key=***&sas_token=***"),
        (
            f"https://acct.blob.core.windows.net/c?sv=1&sig={SECRET}",
            "https://acct.blob.core.windows.net/c?sv=1&sig=***",
        ),
        (f"s3://bucket/lake?secret_access_key={SECRET}#frag", "s3://bucket/lake?secret_access_key=***#frag"),
    ],
)
def test_redact_url_hides_the_password_and_secret_parameters(url, shown):
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)
    assert redact_url(shown) == shown  # idempotent


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/prefix",
        "abfs://container@account.dfs.core.windows.net/lake",  # container@account is no credential
        "s3://bucket/odd:name@x/lake",  # an "@" in the path
        "duckdb:///source.duckdb",
        "/local/lake",
        "memory://lake?region=us",
    ],
)
def test_redact_url_leaves_urls_without_secrets_alone(url):
    assert redact_url(url) == url


def test_redact_text_finds_every_url_in_a_message():
    text = f"No driver for 'snowflake://admin:{SECRET}@acct/db'; tried \"ftp://u:{SECRET}@h/x\" and s3://b/p."
    redacted = redact_text(text)
    assert SECRET not in redacted
    assert "'snowflake://admin:***@acct/db'" in redacted and "s3://b/p." in redacted


def test_the_manifest_records_the_source_redacted():
    source = f"snowflake://admin:{SECRET}@acct/db?token={SECRET}"
    doc = manifest_mod.build(dt.date(2026, 1, 5), {}, source, dt.datetime.now(dt.UTC))
    assert doc["source"] == "snowflake://admin:***@acct/db?token=***"


def test_a_lake_shows_its_url_redacted():
    lake = Lake(f"memory://rf-secret-lake?token={SECRET}")
    assert SECRET not in lake.url and SECRET not in repr(lake) and SECRET not in lake.uri("raw")


# -- source URLs through the CLI -----------------------------------------------------------------------


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "retailflow.toml"
    path.write_text("")
    return path


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        # A scheme without a driver (snowflake:// and postgresql:// have drivers now: their connection
        # failures are redacted in tests/source/test_sources.py, against local servers).
        (f"mysql://admin:{SECRET}@acct/db", "No source driver for 'mysql://admin:***@acct/db'"),
        (f"duckdb://admin:{SECRET}@/source.duckdb", "is not a duckdb URL"),
        (f"duckdb:///missing.duckdb?password={SECRET}", "missing.duckdb?password=*** does not exist"),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_a_source_url_with_a_password_is_never_printed(tmp_path, config, source, fragment, debug):
    args = ["export", "--lake", str(tmp_path / "lake"), "--source", source, "--date", DAY]
    result = invoke(*(["--debug"] if debug else []), *args, config=config)
    assert result.exit_code == 1
    assert SECRET not in result.output
    if not debug:
        assert_one_line_error(result, fragment)
    else:
        assert "Traceback" in result.stderr and fragment in result.stderr


def test_a_source_url_in_the_environment_is_never_printed(tmp_path, config):
    args = ["--config", str(config), "export", "--lake", str(tmp_path / "lake"), "--date", DAY]
    result = CliRunner().invoke(cli, args, env={"RETAILFLOW_SOURCE": f"mysql://admin:{SECRET}@acct/db"})
    assert_one_line_error(result, "mysql://admin:***@acct/db")
    assert SECRET not in result.output


def test_a_drivers_own_error_is_redacted_too(tmp_path, config, monkeypatch):
    """A third-party driver that quotes its URL in an exception: the CLI's last line of defence."""

    def failing(url: str):
        raise RuntimeError(f"login failed for {url}")

    monkeypatch.setitem(source_base._FACTORIES, "faildb", failing)
    result = invoke(
        "export",
        "--lake",
        str(tmp_path / "lake"),
        "--source",
        f"faildb://admin:{SECRET}@h/db",
        "--date",
        DAY,
        config=config,
    )
    assert result.exit_code == 70  # a bug in the driver, reported as such, but without the password
    assert "faildb://admin:***@h/db" in result.stderr and SECRET not in result.output


# -- the whole flow with a password in the source URL: nothing in the lake or the output ---------------


def lake_text(lake: Path) -> str:
    """Every file under the lake as text (gzip files decompressed, parquet and DuckDB files as bytes)."""
    parts = []
    for path in sorted(p for p in lake.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        parts.append(data.decode("latin-1"))
    return "\n".join(parts)


def test_a_password_in_the_source_url_reaches_no_output_and_no_file(tmp_path, config, source_db, monkeypatch):
    secret_url = f"secretdb://admin:{SECRET}@acct/retail?token={SECRET}&warehouse=wh"

    def open_secret(url: str):
        source = DuckDBSource(url_of(source_db))
        source.url = url  # a driver keeps its URL, password and all
        return source

    monkeypatch.setitem(source_base._FACTORIES, "secretdb", open_secret)
    lake = tmp_path / "lake"
    outputs = []
    for args in (
        ("export", "--source", secret_url, "--from", FIRST, "--to", LAST),
        ("scan", "--date", DAY, "--trigger", "none"),
        ("scan", "--date", DAY, "--trigger", "none", "--json"),
        ("run", "--date", DAY),
        ("status",),
        ("query", "--named", "top_products"),
        ("query", "SELECT * FROM store LIMIT 1"),
        ("catalog",),
        ("dashboard",),
    ):
        result = invoke(*args, "--lake", str(lake), config=config)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert SECRET not in "\n".join(outputs)
    everything = lake_text(lake)
    assert SECRET not in everything
    assert "secretdb://***@acct/retail?token=***&warehouse=wh" in everything or (
        "secretdb://admin:***@acct/retail?token=***&warehouse=wh" in everything
    )  # the manifest records where the data came from, redacted
    state = lake_text(lake / "_state")
    assert state and SECRET not in state


# -- a password in the lake URL ------------------------------------------------------------------------

LAKE_COMMANDS = [
    ["export", "--date", DAY],
    ["scan", "--date", DAY],
    ["run", "--date", DAY],
    ["status"],
    ["query", "--named", "top_products"],
    ["query", "SELECT 1"],
    ["catalog"],
    ["dashboard"],
]


@pytest.mark.parametrize("args", LAKE_COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("debug", [False, True])
def test_a_password_in_the_lake_url_is_never_printed(config, source_db, args, debug):
    """An FTP lake with its password in the URL, on a port where nothing listens: the error names the
    lake, redacted."""
    lake = f"ftp://admin:{SECRET}@127.0.0.1:1/lake"
    extra = ["--source", url_of(source_db)] if args[0] == "export" else []
    result = invoke(*(["--debug"] if debug else []), *args, *extra, "--lake", lake, config=config)
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output
    if not debug:
        assert_one_line_error(result, "Cannot open the lake ftp://admin:***@127.0.0.1:1/lake")
